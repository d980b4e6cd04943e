"""An x5c certificate whose extensions cannot be parsed is refused when the entry is decoded.

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
from cryptography.x509.oid import ExtensionOID

from gateway.trust import jws
from gateway.trust.errors import MalformedJWSError
from tests.trust.minting import name, root


def test_a_certificate_with_an_unparsable_extension_is_a_malformed_x5c_entry() -> None:
    anchor = root("PA")
    start = datetime.now(UTC) - timedelta(minutes=5)
    garbage = x509.UnrecognizedExtension(ExtensionOID.BASIC_CONSTRAINTS, b"\x04\x00")  # an OCTET STRING, no SEQUENCE
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name("PA", "leaf"))
        .issuer_name(anchor.cert.subject)
        .public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=30))
        .add_extension(garbage, critical=True)
        .sign(anchor.key, hashes.SHA256())
    )
    entry = base64.b64encode(leaf.public_bytes(Encoding.DER)).decode("ascii")
    with pytest.raises(MalformedJWSError) as raised:
        jws._x5c_certificate(entry)
    assert raised.value.detail.startswith("x5c entry is not a base64 DER certificate (")
