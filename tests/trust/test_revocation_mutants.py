"""A CRL whose issuer's keyUsage lacks cRLSign leaves revocation unknown (RFC 5280 6.3.3 (f)).

Surviving mutants of gateway/trust/revocation.py showed this refusal untested.
Each case differs from its control only in the issuer's keyUsage.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID

from gateway.trust.bundle import PartyTrust, TrustBundle
from gateway.trust.errors import RevocationUnknownError
from gateway.trust.path import Purpose, validate_path
from gateway.trust.revocation import check_crl_usable
from tests.trust.minting import CA_USAGE, UNKNOWN_OID, Authority, _usage, mint, name


def moment() -> datetime:
    # Read at each use: a module-level constant is older than certificates minted later in a long run.
    return datetime.now(UTC)


CERT_SIGN_ONLY = _usage(key_cert_sign=True)


def authority(key_usage: x509.KeyUsage | None) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = name("PA", "PA CRL issuer")
    return Authority(mint(subject, key.public_key(), subject, key, ca=True, key_usage=key_usage), key)


def empty_crl(issuer: Authority, *extensions: tuple[x509.ExtensionType, bool]) -> x509.CertificateRevocationList:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(moment() - timedelta(minutes=5))
        .next_update(moment() + timedelta(days=1))
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer.key, hashes.SHA256())


def test_crl_of_an_issuer_without_crl_sign_is_revocation_unknown() -> None:
    issuer = authority(CERT_SIGN_ONLY)
    leaf = issuer.issue(name("PA", "leaf"), ec.generate_private_key(ec.SECP256R1()).public_key())
    bundle = TrustBundle({"PA": PartyTrust("PA", (issuer.cert,), (empty_crl(issuer),))})
    with pytest.raises(RevocationUnknownError) as raised:
        validate_path(leaf, [], bundle, moment(), Purpose.DOCUMENT_SIGNING)
    assert raised.value.reason == "revocation_unknown"
    assert raised.value.detail == "the CRL of CN=PA CRL issuer,C=PA is signed by a key without the cRLSign usage"


def test_control_crl_of_an_issuer_with_crl_sign_is_used() -> None:
    issuer = authority(CA_USAGE)
    leaf = issuer.issue(name("PA", "leaf"), ec.generate_private_key(ec.SECP256R1()).public_key())
    bundle = TrustBundle({"PA": PartyTrust("PA", (issuer.cert,), (empty_crl(issuer),))})
    assert validate_path(leaf, [], bundle, moment(), Purpose.DOCUMENT_SIGNING).chain == (leaf, issuer.cert)


def test_control_issuer_without_key_usage_may_sign_its_crl() -> None:
    """No keyUsage extension means no restriction (RFC 5280 4.2.1.3)."""
    issuer = authority(None)
    check_crl_usable(empty_crl(issuer), issuer.cert)


def test_crl_with_critical_extensions_the_node_does_not_process() -> None:
    issuer = authority(CA_USAGE)
    crl = empty_crl(
        issuer,
        (x509.DeltaCRLIndicator(7), True),
        (x509.UnrecognizedExtension(UNKNOWN_OID, b"\x05\x00"), True),
        (x509.CRLNumber(8), False),
    )
    with pytest.raises(RevocationUnknownError) as raised:
        check_crl_usable(crl, issuer.cert)
    assert raised.value.detail == (
        "the CRL of CN=PA CRL issuer,C=PA carries critical extension(s) 2.5.29.27, 1.3.6.1.4.1.99999.7.1 "
        "that this node does not process"
    )
    check_crl_usable(empty_crl(issuer, (x509.CRLNumber(8), False)), issuer.cert)  # the control: none critical


def test_crl_with_malformed_extensions() -> None:
    issuer = authority(CA_USAGE)
    garbage = x509.UnrecognizedExtension(ExtensionOID.CRL_NUMBER, b"\x04\x00")  # an OCTET STRING, no INTEGER
    with pytest.raises(RevocationUnknownError) as raised:
        check_crl_usable(empty_crl(issuer, (garbage, False)), issuer.cert)
    assert raised.value.detail == "the CRL of CN=PA CRL issuer,C=PA has malformed extensions"
