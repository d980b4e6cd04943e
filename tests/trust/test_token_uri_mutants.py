"""Exact behaviour of TokenURI.with_object (token_uri.py) that surviving mutmut mutants showed untested.

Rotation names a new key in the same token: every path attribute but object=
and id= is kept in order, the query is kept verbatim (even when it holds a
"?"), and the new label is percent-encoded whole, "/" included.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.trust.errors import PKIError
from gateway.trust.token_uri import parse_pkcs11_uri


@pytest.mark.parametrize(
    ("text", "rotated"),
    [
        ("pkcs11:token=PA;object=signing-2026", "pkcs11:token=PA;object=signing%202027"),
        (
            "pkcs11:object=signing-2026;token=PA?module-path=/m.so",
            "pkcs11:token=PA;object=signing%202027?module-path=/m.so",
        ),
        ("pkcs11:token=PA;id=%01%02;object=signing-2026", "pkcs11:token=PA;object=signing%202027"),
        (
            "pkcs11:token=PA;object=signing-2026?module-path=/opt/hsm?v2/lib.so",
            "pkcs11:token=PA;object=signing%202027?module-path=/opt/hsm?v2/lib.so",
        ),
    ],
)
def test_with_object_keeps_the_token_and_query_and_drops_object_and_id(text: str, rotated: str) -> None:
    uri = parse_pkcs11_uri(text).with_object("signing 2027")
    assert uri.text == rotated
    assert (uri.token, uri.object, uri.id) == ("PA", "signing 2027", None)


def test_with_object_keeps_a_module_path_holding_a_question_mark() -> None:
    uri = parse_pkcs11_uri("pkcs11:token=PA;object=a?module-path=/opt/hsm?v2/lib.so").with_object("b")
    assert uri.module_path == Path("/opt/hsm?v2/lib.so")


def test_with_object_percent_encodes_a_slash_in_the_label() -> None:
    uri = parse_pkcs11_uri("pkcs11:token=PA;object=a").with_object("2027/signing")
    assert (uri.text, uri.object) == ("pkcs11:token=PA;object=2027%2Fsigning", "2027/signing")


# -- parsing ------------------------------------------------------------------------


def test_every_selector_is_read_and_decoded() -> None:
    uri = parse_pkcs11_uri(
        "pkcs11:serial=0A1B;;object=a=b;type=private;x-vendor=1?module-path=/m.so&pin-source=file:/run/pin&x-note=2"
    )
    assert (uri.token, uri.serial, uri.object, uri.id, uri.module_path, uri.pin_source) == (
        None,
        "0A1B",
        "a=b",
        None,
        Path("/m.so"),
        Path("/run/pin"),
    )
    by_id = parse_pkcs11_uri("pkcs11:token=PA;id=%01")
    assert (by_id.token, by_id.object, by_id.id, by_id.serial, by_id.module_path, by_id.pin_source) == (
        "PA",
        None,
        b"\x01",
        None,
        None,
        None,
    )
    assert parse_pkcs11_uri("pkcs11:token=PA;object=b?pin-source=/run/pin").pin_source == Path("/run/pin")


@pytest.mark.parametrize(
    ("text", "detail", "hint"),
    [
        (
            "token=a;object=b",
            "'token=a;object=b' is not a PKCS#11 URI",
            "write it as pkcs11:token=LABEL;object=KEY-LABEL",
        ),
        ("pkcs11:object=b", "PKCS#11 URI 'pkcs11:object=b' names no token", "add token=LABEL (or serial=…)"),
        ("pkcs11:token=a", "PKCS#11 URI 'pkcs11:token=a' names no key", "add object=KEY-LABEL (or id=…)"),
        (
            "pkcs11:token=a;object=b?pin-value=1234",
            "a PKCS#11 URI must not carry the PIN (pin-value)",
            "put the PIN in GATEWAY_PKCS11_PIN or a file named by GATEWAY_PKCS11_PIN_FILE",
        ),
        ("pkcs11:token=a;object", "PKCS#11 URI 'pkcs11:token=a;object': path attribute 'object' is not name=value", ""),
        (
            "pkcs11:token=a;object=b?novalue",
            "PKCS#11 URI 'pkcs11:token=a;object=b?novalue': query attribute 'novalue' is not name=value",
            "",
        ),
        (
            "pkcs11:token=a;object=b?x-a=1&x-a=2",
            "PKCS#11 URI 'pkcs11:token=a;object=b?x-a=1&x-a=2': query attribute 'x-a' is repeated",
            "",
        ),
        (
            "pkcs11:token=a;object=b?colour=red",
            "PKCS#11 URI 'pkcs11:token=a;object=b?colour=red': unknown query attribute 'colour'",
            "",
        ),
        ("pkcs11:token=%FF;object=b", "PKCS#11 URI 'pkcs11:token=%FF;object=b': token is not UTF-8", ""),
        (  # a lone surrogate (from a badly decoded file or argument) cannot even be percent-decoded
            "pkcs11:token=\udcff;object=b",
            "PKCS#11 URI 'pkcs11:token=\\udcff;object=b': token is not percent-encoded correctly",
            "",
        ),
    ],
)
def test_each_malformed_uri_is_refused_with_its_detail_and_hint(text: str, detail: str, hint: str) -> None:
    with pytest.raises(PKIError) as caught:
        parse_pkcs11_uri(text)
    assert (caught.value.detail, caught.value.hint) == (detail, hint)
