"""Exact behaviour of canonical.py that surviving mutmut mutants showed untested.

An out-of-range number is named in full up to 32 characters and elided beyond,
so the refusal stays one readable line whatever the sender wrote.
"""

from __future__ import annotations

import json
import re

import pytest
import rfc8785

from gateway.trust.canonical import canonicalize, parse_canonical, parse_strict
from gateway.trust.errors import CanonicalizationError


def refusal(literal: str) -> str:
    with pytest.raises(CanonicalizationError) as caught:
        parse_strict(f"[{literal}]")
    return caught.value.detail


def test_a_short_out_of_range_number_is_named_in_full() -> None:
    assert refusal("1e400") == "number 1e400 is out of the IEEE 754 double range"
    assert refusal("-1e400") == "number -1e400 is out of the IEEE 754 double range"


def test_an_out_of_range_number_of_32_characters_is_named_in_full() -> None:
    literal = "1" + "0" * 27 + "e400"
    assert len(literal) == 32
    assert refusal(literal) == f"number {literal} is out of the IEEE 754 double range"


def test_an_out_of_range_number_of_33_characters_is_elided() -> None:
    literal = "1" + "0" * 28 + "e400"
    assert len(literal) == 33
    assert refusal(literal) == f"number {literal[:16]}... (33 characters) is out of the IEEE 754 double range"
    assert re.fullmatch(r"number 10{15}\.\.\. \(33 characters\) is out of the IEEE 754 double range", refusal(literal))


# -- parse_canonical: the quick check never calls a non-canonical text canonical ----------


@pytest.mark.parametrize("data", [b"[1.0]", b"[1.0,1]", b'{"a":1,"b":1.0}', b"[1,1.0,1]"])
def test_a_float_spelled_as_python_writes_it_is_not_canonical(data: bytes) -> None:
    # 1.0 is Python's spelling; the canonical one (ECMAScript) is 1. An integer read after
    # the float must not make the quick check forget it saw one.
    value, canonical = parse_canonical(data)
    assert canonical is False
    assert value == parse_strict(data)


def test_non_bmp_keys_in_code_point_order_are_not_canonical_with_every_utf8_lead_byte() -> None:
    # One key per 4-byte UTF-8 lead byte (F0..F4) and one from U+E000-U+FFFF: RFC 8785 sorts
    # the non-BMP keys (UTF-16 surrogates D800-DBFF) before U+FB33; Python sorts them after.
    keys = ["\ufb33", "\U0001f600", "\U00040000", "\U00080000", "\U000c0000", "\U00100000"]
    code_point_order = json.dumps(dict.fromkeys(keys, 1), separators=(",", ":"), ensure_ascii=False).encode()
    assert {lead for lead in (b"\xf0", b"\xf1", b"\xf2", b"\xf3", b"\xf4") if lead in code_point_order} == {
        b"\xf0",
        b"\xf1",
        b"\xf2",
        b"\xf3",
        b"\xf4",
    }
    assert parse_canonical(code_point_order)[1] is False
    utf16_order = canonicalize(dict.fromkeys(keys, 1))
    assert utf16_order.startswith('{"\U0001f600":1'.encode())
    assert parse_canonical(utf16_order) == (dict.fromkeys(keys, 1), True)


def test_a_non_bmp_key_in_code_point_order_is_not_canonical() -> None:
    assert parse_canonical('{"\ufb33":2,"\U0001f600":1}'.encode())[1] is False
    assert parse_canonical('{"\U0001f600":1,"\ufb33":2}'.encode())[1] is True


def test_an_integer_beyond_double_precision_reads_as_a_double_and_is_not_canonical() -> None:
    value, canonical = parse_canonical(b"[9007199254740993]")
    assert value == [9007199254740992.0]
    assert isinstance(value[0], float)
    assert canonical is False


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_parse_canonical_refuses_non_finite_constants(constant: str) -> None:
    with pytest.raises(CanonicalizationError) as caught:
        parse_canonical(f"[{constant}]".encode())
    assert caught.value.detail == f"{constant} is not valid JSON"


# -- parse_strict: exact refusals and the integer/double boundary ----------------------------


def test_a_duplicate_key_is_named() -> None:
    with pytest.raises(CanonicalizationError) as caught:
        parse_strict(b'{"a":1,"b":2,"c":3,"b":4}')
    assert caught.value.detail == "duplicate key 'b'"


def test_invalid_utf8_refusal_is_exact() -> None:
    with pytest.raises(CanonicalizationError) as caught:
        parse_strict(b'{"a":"\xff"}')
    assert caught.value.detail == "input is not valid UTF-8"


def test_deep_nesting_refusal_is_exact() -> None:
    with pytest.raises(CanonicalizationError) as caught:
        parse_strict("[" * 100_000 + "]" * 100_000)
    assert caught.value.detail == "JSON nested too deeply"


def test_invalid_json_refusal_names_the_problem_and_position() -> None:
    with pytest.raises(CanonicalizationError) as caught:
        parse_strict('{"a": }')
    assert caught.value.detail == "invalid JSON: Expecting value at position 6"


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("0", 0),
        ("-1", -1),
        ("1000000000000000", 10**15),  # 16 digits, exact
        ("9007199254740991", 2**53 - 1),
        ("-9007199254740991", -(2**53 - 1)),
    ],
)
def test_integers_within_double_precision_read_as_int(literal: str, expected: int) -> None:
    value = parse_strict(literal)
    assert value == expected
    assert type(value) is int


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("9007199254740992", 2.0**53),  # 16 digits, one beyond 2**53 - 1
        ("-9007199254740992", -(2.0**53)),
        ("12345678901234567", 12345678901234568.0),  # 17 digits
    ],
)
def test_integers_beyond_double_precision_read_as_float(literal: str, expected: float) -> None:
    value = parse_strict(literal)
    assert value == expected
    assert type(value) is float


# -- canonicalize: keys and refusals ---------------------------------------------------------


def test_an_empty_key_canonicalizes() -> None:
    assert canonicalize({"": 1, "a": 2}) == b'{"":1,"a":2}'
    assert canonicalize({"é": "x", "": 0}) == '{"":0,"é":"x"}'.encode()


@pytest.mark.parametrize("value", [2**53, -(2**53), float("nan"), {1: "a"}])
def test_canonicalize_refusal_carries_the_reference_implementations_reason(value: object) -> None:
    with pytest.raises((rfc8785.CanonicalizationError, TypeError, ValueError)) as reference:
        rfc8785.dumps(value)  # type: ignore[arg-type]
    with pytest.raises(CanonicalizationError) as caught:
        canonicalize(value)
    assert caught.value.detail == str(reference.value)
    assert caught.value.detail != ""
