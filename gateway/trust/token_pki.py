"""Record-signing certificates for keys generated in a PKCS#11 token (``pki init|rotate --pkcs11``).

The key pair is generated in the token (non-extractable); the party CA, which
stays a file of the development PKI, certifies its public key. The TLS key
stays a PEM file: Python's ``ssl`` module loads keys from files only (an
OpenSSL provider for PKCS#11 would be needed to serve TLS from a token).
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.trust.errors import PKIError
from gateway.trust.keys import load_certificates, load_private_key
from gateway.trust.pki import PartyFiles, init_party, issue_certificate
from gateway.trust.token_keys import generate_token_key


def _party_of(ca_cert: x509.Certificate) -> str:
    countries = ca_cert.subject.get_attributes_for_oid(x509.NameOID.COUNTRY_NAME)
    if not countries:
        raise PKIError("CA certificate has no country (party) attribute")
    return str(countries[0].value)


def issue_token_signing_certificate(
    ca_dir: Path, uri: str, module: Path | None, pin: str, out_cert: Path, *, days: int = 825
) -> x509.Certificate:
    """Generate a P-256 key in the token at ``uri`` and write its signing certificate to ``out_cert``.

    Raises PKIError (TokenError) when the token cannot be used or already holds that key.
    """
    files = PartyFiles(ca_dir)
    ca_cert = load_certificates(files.ca_cert)[0]
    ca_key = load_private_key(files.ca_key)
    key = generate_token_key(uri, module, pin)
    try:
        cert = issue_certificate(_party_of(ca_cert), "signing", key, ca_cert, ca_key, days=days)
    finally:
        key.token_session.close()
    out_cert.parent.mkdir(parents=True, exist_ok=True)
    out_cert.write_bytes(cert.public_bytes(Encoding.PEM))
    return cert


def init_party_with_token(
    party: str, out: Path, uri: str, module: Path | None, pin: str, *, hosts: tuple[str, ...] = ()
) -> PartyFiles:
    """``pki init --pkcs11``: the development PKI of ``init_party`` with the signing key in the token.

    No ``signing.key`` file is left behind. Raises PKIError before writing
    anything when ``out`` already holds a CA.
    """
    files = PartyFiles(out)
    if files.ca_key.exists():
        raise PKIError(f"{files.ca_key} already exists", hint="choose another --out directory")
    files = init_party(party, out, hosts=hosts)
    files.signing_key.unlink()
    files.signing_cert.unlink()
    try:
        issue_token_signing_certificate(out, uri, module, pin, files.signing_cert)
    except PKIError:
        # A half-made directory would pass for a party PKI without a signing key.
        for path in (files.ca_key, files.ca_cert, files.tls_key, files.tls_cert, files.crl, files.bundle_entry):
            path.unlink(missing_ok=True)
        raise
    return files
