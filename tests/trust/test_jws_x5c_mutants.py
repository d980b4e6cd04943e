"""x5c entries: one whose extensions cannot be parsed is refused when decoded; only those up to 8 KiB are cached.

cryptography parses extensions on first use; _x5c_certificate touches them so
that such a certificate is a malformed x5c entry, not an error deep in a later
step. The hostile property tests met this case only by chance (a flipped DER
byte), so a mutant skipping the touch survived one mutation run.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtensionOID, ObjectIdentifier

from gateway.trust import jws
from gateway.trust.errors import MalformedJWSError
from tests.trust.minting import name, root


def certificate_with(extension: x509.ExtensionType) -> x509.Certificate:
    anchor = root("PA")
    start = datetime.now(UTC) - timedelta(minutes=5)
    return (
        x509.CertificateBuilder()
        .subject_name(name("PA", "leaf"))
        .issuer_name(anchor.cert.subject)
        .public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=30))
        .add_extension(extension, critical=True)
        .sign(anchor.key, hashes.SHA256())
    )


def entry_of(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(Encoding.DER)).decode("ascii")


def test_a_certificate_with_an_unparsable_extension_is_a_malformed_x5c_entry() -> None:
    garbage = x509.UnrecognizedExtension(ExtensionOID.BASIC_CONSTRAINTS, b"\x04\x00")  # an OCTET STRING, no SEQUENCE
    leaf = certificate_with(garbage)
    entry = entry_of(leaf)
    with pytest.raises(MalformedJWSError) as raised:
        jws._x5c_certificate(entry)
    assert raised.value.detail.startswith("x5c entry is not a base64 DER certificate (")


def test_only_entries_up_to_8_kib_are_cached() -> None:
    # test_jws_hostile's large-certificate test compares the cache's size, which
    # stays at 256 once a long run has filled it; here the cache starts empty.
    large = certificate_with(x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.55555.2"), b"x" * 7000))
    small = certificate_with(x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.55555.2"), b"x"))
    large_entry, small_entry = entry_of(large), entry_of(small)
    assert len(large_entry) > 8 * 1024
    assert len(small_entry) <= 8 * 1024
    jws._cached_certificate.cache_clear()
    for _ in range(2):
        assert jws.x5c_chain(parsed_with([large_entry])) == [large]
    assert jws._cached_certificate.cache_info().currsize == 0
    assert jws.x5c_chain(parsed_with([small_entry, large_entry])) == [small, large]
    assert jws._cached_certificate.cache_info().currsize == 1


def parsed_with(x5c: list[str]) -> jws.ParsedJWS:
    return jws.ParsedJWS(header={"x5c": x5c}, payload=b"", signing_input=b"", signature=b"", compact="")
