"""validate_path against ``openssl verify`` on generated chains (hypothesis).

Each example is a chain root → 0..2 intermediates → leaf in which hypothesis
varies what a forger or a careless CA would vary: the intermediates' CA flag
(or no basicConstraints at all), keyUsage with or without keyCertSign (or
none), pathLenConstraint on every CA, the leaf's EKU (serverAuth, clientAuth,
none, id-kp-documentSigning), a certificate expired or not yet valid at the
validation time, and an issuer name that does not chain. The node's verdict
for Purpose.TLS_SERVER / TLS_CLIENT must equal ``openssl verify -purpose
sslserver|sslclient -attime T`` on the same files, except for the intended
differences in :func:`expected_by_node`, which map openssl's verdict onto the
node's rule instead of skipping the example.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.trust.bundle import PartyTrust, TrustBundle
from gateway.trust.errors import TrustError
from gateway.trust.path import DOCUMENT_SIGNING, Purpose, validate_path

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="the openssl binary is not installed")

AT = datetime(2031, 6, 1, 12, 0, tzinfo=UTC)  # the validation time, far from any window edge
_PURPOSES = {"sslserver": Purpose.TLS_SERVER, "sslclient": Purpose.TLS_CLIENT}
_EKUS = {
    "serverAuth": ExtendedKeyUsageOID.SERVER_AUTH,
    "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "documentSigning": DOCUMENT_SIGNING,
    "none": None,
}
_VALIDITY = {  # (notBefore, notAfter) relative to AT
    "valid": (timedelta(days=-30), timedelta(days=30)),
    "expired": (timedelta(days=-60), timedelta(days=-1)),
    "not-yet-valid": (timedelta(days=1), timedelta(days=60)),
}


@dataclass(frozen=True)
class CASpec:
    basic_constraints: bool | None  # CA:TRUE, CA:FALSE, or no extension (None)
    key_cert_sign: bool | None  # keyUsage with/without keyCertSign, or no keyUsage (None)
    path_length: int | None
    validity: str


@dataclass(frozen=True)
class ChainSpec:
    root_path_length: int | None
    root_validity: str
    intermediates: tuple[CASpec, ...]  # from the root down
    leaf_eku: str
    leaf_validity: str
    purpose: str
    misnamed: int | None  # index (0 = leaf, 1.. = intermediates from the leaf up) whose issuer name is wrong


# Mostly valid windows: a chain with one bad link per few examples, so that the
# other variations are seen on otherwise acceptable chains too.
_validity = st.sampled_from(["valid"] * 10 + ["expired", "not-yet-valid"])
_path_length = st.sampled_from([None, None, None, 0, 1, 2])
_ca_spec = st.builds(
    CASpec,
    basic_constraints=st.sampled_from([True] * 8 + [False, None]),
    key_cert_sign=st.sampled_from([True] * 8 + [False, None]),
    path_length=_path_length,
    validity=_validity,
)


@st.composite
def chains(draw: st.DrawFn) -> ChainSpec:
    intermediates = tuple(draw(st.lists(_ca_spec, max_size=2)))
    misnamed = draw(st.sampled_from([None] * 8 + list(range(len(intermediates) + 1))))
    purpose = draw(st.sampled_from(list(_PURPOSES)))
    fitting = "serverAuth" if purpose == "sslserver" else "clientAuth"
    return ChainSpec(
        root_path_length=draw(_path_length),
        root_validity=draw(_validity),
        intermediates=intermediates,
        leaf_eku=draw(st.sampled_from([fitting] * 4 + list(_EKUS))),  # half the leaves fit the purpose
        leaf_validity=draw(_validity),
        purpose=purpose,
        misnamed=misnamed,
    )


@cache
def _keys() -> tuple[ec.EllipticCurvePrivateKey, ...]:
    # P-256, made once per session: root, two intermediates, leaf.
    return tuple(ec.generate_private_key(ec.SECP256R1()) for _ in range(4))


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.COUNTRY_NAME, "PA"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )


def _usage(*, key_cert_sign: bool, digital_signature: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=key_cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _certificate(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    validity: str,
    extensions: list[tuple[x509.ExtensionType, bool]],
) -> x509.Certificate:
    not_before, not_after = _VALIDITY[validity]
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(AT + not_before)
        .not_valid_after(AT + not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key, hashes.SHA256())


def build(spec: ChainSpec) -> tuple[x509.Certificate, list[x509.Certificate], x509.Certificate]:
    """Return (root, intermediates from the leaf up, leaf) for ``spec``."""
    root_key, *ica_keys, leaf_key = _keys()
    root_name = _name("root")
    root = _certificate(
        root_name,
        root_key,
        root_name,
        root_key,
        spec.root_validity,
        [
            (x509.BasicConstraints(ca=True, path_length=spec.root_path_length), True),
            (_usage(key_cert_sign=True, digital_signature=False), True),
        ],
    )
    issuer_name, issuer_key = root_name, root_key
    issued: list[x509.Certificate] = []
    for depth, ica in enumerate(spec.intermediates):
        extensions: list[tuple[x509.ExtensionType, bool]] = []
        if ica.basic_constraints is not None:
            path_length = ica.path_length if ica.basic_constraints else None
            extensions.append((x509.BasicConstraints(ca=ica.basic_constraints, path_length=path_length), True))
        if ica.key_cert_sign is not None:
            extensions.append((_usage(key_cert_sign=ica.key_cert_sign, digital_signature=True), True))
        name = _name(f"intermediate {depth}")
        index = len(spec.intermediates) - depth  # position counted from the leaf
        claimed = _name("someone else") if spec.misnamed == index else issuer_name
        issued.append(_certificate(name, ica_keys[depth], claimed, issuer_key, ica.validity, extensions))
        issuer_name, issuer_key = name, ica_keys[depth]
    leaf_extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (_usage(key_cert_sign=False, digital_signature=True), True),
    ]
    eku = _EKUS[spec.leaf_eku]
    if eku is not None:
        leaf_extensions.append((x509.ExtendedKeyUsage([eku]), False))
    claimed = _name("someone else") if spec.misnamed == 0 else issuer_name
    leaf = _certificate(_name("leaf"), leaf_key, claimed, issuer_key, spec.leaf_validity, leaf_extensions)
    return root, issued[::-1], leaf


def openssl_accepts(
    root: x509.Certificate, intermediates: list[x509.Certificate], leaf: x509.Certificate, purpose: str
) -> bool:
    assert OPENSSL is not None
    with tempfile.TemporaryDirectory() as folder:
        files = Path(folder)
        (files / "root.pem").write_bytes(root.public_bytes(Encoding.PEM))
        (files / "leaf.pem").write_bytes(leaf.public_bytes(Encoding.PEM))
        command = [OPENSSL, "verify", "-purpose", purpose, "-attime", str(int(AT.timestamp()))]
        command += ["-CAfile", str(files / "root.pem")]
        if intermediates:
            (files / "ints.pem").write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in intermediates))
            command += ["-untrusted", str(files / "ints.pem")]
        result = subprocess.run([*command, str(files / "leaf.pem")], capture_output=True, timeout=30, check=False)
    return result.returncode == 0


def node_accepts(
    root: x509.Certificate, intermediates: list[x509.Certificate], leaf: x509.Certificate, purpose: str
) -> bool:
    bundle = TrustBundle({"PA": PartyTrust("PA", (root,))})
    try:
        validate_path(leaf, intermediates, bundle, AT, _PURPOSES[purpose])
    except TrustError:
        return False
    return True


def expected_by_node(spec: ChainSpec, openssl_verdict: bool) -> bool:
    """Return the node's expected verdict given openssl's, with the intended differences.

    1. A leaf without extended key usage: openssl's sslserver/sslclient
       purposes accept it (RFC 5280: no EKU means any purpose); the node
       requires the purpose's EKU (key separation: a record-signing
       certificate must not open TLS connections), so it refuses.
    2. A CA certificate without keyUsage: openssl accepts it as an issuer
       (RFC 5280 6.1 does not require the extension); the node's reference
       check (cryptography's CA policy) refuses it, as RFC 5280 4.2.1.3 says
       conforming CAs MUST include keyUsage. The node's own PKI always does.
    """
    if spec.leaf_eku == "none":
        return False
    if any(ica.key_cert_sign is None for ica in spec.intermediates):
        return False
    return openssl_verdict


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=chains())
def test_node_agrees_with_openssl_verify(spec: ChainSpec) -> None:
    root, intermediates, leaf = build(spec)
    openssl_verdict = openssl_accepts(root, intermediates, leaf, spec.purpose)
    assert node_accepts(root, intermediates, leaf, spec.purpose) == expected_by_node(spec, openssl_verdict), (
        f"openssl {'accepts' if openssl_verdict else 'refuses'} {spec}"
    )


def test_the_generator_reaches_both_verdicts() -> None:
    """A differential test is only meaningful if openssl accepts some chains: pin one of each."""
    good = ChainSpec(None, "valid", (CASpec(True, True, 0, "valid"),), "serverAuth", "valid", "sslserver", None)
    root, intermediates, leaf = build(good)
    assert openssl_accepts(root, intermediates, leaf, "sslserver")
    assert node_accepts(root, intermediates, leaf, "sslserver")
    bad = ChainSpec(0, "valid", (CASpec(True, True, None, "valid"),), "serverAuth", "valid", "sslserver", None)
    root, intermediates, leaf = build(bad)  # the root's pathLen 0 forbids the intermediate
    assert not openssl_accepts(root, intermediates, leaf, "sslserver")
    assert not node_accepts(root, intermediates, leaf, "sslserver")
