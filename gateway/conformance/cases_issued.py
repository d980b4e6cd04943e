"""Cases that need certificates of the kit's own party the CA must issue (``--ca-key``).

With the private key of the kit's party CA (a test PKI's), the kit issues an
expired record-signing certificate, an expired TLS client certificate and a
chain through an end entity, and checks the target refuses each. Without it
these cases are skipped.
"""

from __future__ import annotations

from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.conformance.cases_records import expect_rejected, record_document
from gateway.conformance.cases_transport import refused
from gateway.conformance.registry import CaseSkipped, case
from gateway.conformance.target import Identity, Target
from gateway.trust.keys import PrivateKey, SigningKey, generate_private_key, thumbprint, write_private_key
from gateway.trust.pki import issue_certificate


def _ca(target: Target) -> tuple[x509.Certificate, PrivateKey]:
    if target.ca_key is None:
        raise CaseSkipped("needs --ca-key: the private key of the kit's party CA, to issue test certificates")
    own = target.bundle.party(target.party)
    wanted = thumbprint(target.ca_key.public_key())
    for ca in own.cas if own is not None else ():
        if thumbprint(ca.public_key()) == wanted:  # type: ignore[arg-type]
            return ca, target.ca_key
    raise CaseSkipped(f"--ca-key belongs to no CA of {target.party} in the bundle")


def _expired(target: Target, kind: str) -> tuple[x509.Certificate, PrivateKey]:
    ca, ca_key = _ca(target)
    key = generate_private_key("ec-p256")
    start = target.now() - timedelta(days=10)
    return issue_certificate(target.party, kind, key, ca, ca_key, not_before=start, days=9), key  # type: ignore[arg-type]


@case("RCP-31", "a record signed with an expired certificate is rejected: certificate_expired")
def certificate_expired(target: Target) -> None:
    cert, key = _expired(target, "signing")
    signer = SigningKey(key, (cert,))
    expect_rejected(
        target, target.sign(record_document(target, "criminal_network_flag"), signer), "certificate_expired"
    )


@case("RCP-30", "a record whose chain passes through an end-entity certificate is rejected: issuer_not_ca")
def issuer_not_ca(target: Target) -> None:
    ca, ca_key = _ca(target)
    middle_key = generate_private_key("ec-p256")
    middle = issue_certificate(target.party, "signing", middle_key, ca, ca_key, common_name="not a CA")
    leaf_key = generate_private_key("ec-p256")
    leaf = issue_certificate(target.party, "signing", leaf_key, middle, middle_key)
    signer = SigningKey(leaf_key, (leaf, middle))
    expect_rejected(target, target.sign(record_document(target, "criminal_network_flag"), signer), "issuer_not_ca")


@case("TLS-09", "an expired client certificate of a partner CA is refused (handshake, or 403 peer-certificate-refused)")
def expired_client_certificate(target: Target) -> None:
    cert, key = _expired(target, "tls")
    directory = target.workdir / "expired-tls"
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "tls.pem", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(Encoding.PEM))
    write_private_key(key_path, key)
    refused(target, Identity(cert_path, key_path), ("peer-certificate-refused", "peer-certificate-required"))
