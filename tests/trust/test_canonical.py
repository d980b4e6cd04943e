"""RFC 8785 (JCS) canonicalization and the strict JSON parser, against the RFC's own vectors."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.trust.canonical import canonicalize, parse_strict, sha256_hex
from gateway.trust.errors import CanonicalizationError

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def load_vectors(name: str) -> Any:
    return json.loads((VECTORS / name).read_text("utf-8"))


SAMPLE = load_vectors("rfc8785_sample_object.json")
NUMBERS = load_vectors("rfc8785_number_serialization.json")
ORDERING = load_vectors("rfc8785_utf16_key_ordering.json")


def double(ieee754_hex: str) -> float:
    value: float = struct.unpack(">d", bytes.fromhex(ieee754_hex))[0]
    return value


# -- RFC 8785 vectors ------------------------------------------------------------


def test_sample_object_canonicalizes_to_the_rfc_output() -> None:
    canonical = canonicalize(parse_strict(SAMPLE["input"]))
    assert canonical == SAMPLE["canonical"].encode("utf-8")
    assert canonical.hex() == SAMPLE["canonical_utf8_hex"]


def test_sample_object_is_a_fixed_point() -> None:
    canonical = SAMPLE["canonical"].encode("utf-8")
    assert canonicalize(parse_strict(canonical)) == canonical


@pytest.mark.parametrize("vector", NUMBERS["appendix_b"], ids=[v["ieee754_hex"] for v in NUMBERS["appendix_b"]])
def test_appendix_b_double_serializes_as_ecmascript(vector: dict[str, str]) -> None:
    value = double(vector["ieee754_hex"])
    # Premise: the expected text reads back as exactly this double.
    assert float(vector["canonical"]) == value
    assert canonicalize(value) == vector["canonical"].encode("ascii")


@pytest.mark.parametrize("vector", NUMBERS["appendix_b"], ids=[v["ieee754_hex"] for v in NUMBERS["appendix_b"]])
def test_appendix_b_text_is_already_canonical(vector: dict[str, str]) -> None:
    # What a verifier does with a received payload: parse, re-canonicalize, compare.
    text = vector["canonical"].encode("ascii")
    assert canonicalize(parse_strict(text)) == text
    assert canonicalize(parse_strict(b"[" + text + b"]")) == b"[" + text + b"]"


@pytest.mark.parametrize("vector", NUMBERS["rejected"], ids=[v["ieee754_hex"] for v in NUMBERS["rejected"]])
def test_non_finite_double_is_refused(vector: dict[str, str]) -> None:
    value = double(vector["ieee754_hex"])
    assert not math.isfinite(value)
    with pytest.raises(CanonicalizationError, match="not representable in JCS"):
        canonicalize({"n": value})


@pytest.mark.parametrize("vector", NUMBERS["json_literals"], ids=[v["input"] for v in NUMBERS["json_literals"]])
def test_json_number_literal_canonical_form(vector: dict[str, str]) -> None:
    assert canonicalize(parse_strict(vector["input"])) == vector["canonical"].encode("ascii")


@pytest.mark.parametrize("case", ORDERING["cases"], ids=[c["name"] for c in ORDERING["cases"]])
def test_members_sorted_by_utf16_code_units(case: dict[str, Any]) -> None:
    canonical = canonicalize(parse_strict(case["input"]))
    assert canonical == case["canonical"].encode("utf-8")
    # json.loads keeps member order, so the values show the sort order directly.
    assert list(json.loads(canonical).values()) == case["values_in_canonical_order"]


def test_utf16_order_differs_from_code_point_order() -> None:
    # The point of the vector: U+1F600 is after U+FB33 by code point but before it
    # in UTF-16 (0xD83D < 0xFB33). A code-point sort would pass the other keys.
    document = {"\ufb33": 1, "\U0001f600": 2}
    assert canonicalize(document) == '{"\U0001f600":2,"\ufb33":1}'.encode()
    assert sorted(document) == ["\ufb33", "\U0001f600"]


def test_integers_beyond_double_precision_are_refused() -> None:
    assert canonicalize(2**53 - 1) == b"9007199254740991"
    with pytest.raises(CanonicalizationError, match="exceeds safe integer domain"):
        canonicalize({"n": 2**53 + 1})


def test_lone_surrogate_is_refused() -> None:
    with pytest.raises(CanonicalizationError, match="non-UTF-8"):
        canonicalize({"s": "\ud800"})


def test_non_string_key_is_refused() -> None:
    with pytest.raises(CanonicalizationError):
        canonicalize({1: "one"})


def test_sha256_hex_of_canonical_bytes() -> None:
    assert sha256_hex(canonicalize({"b": 1, "a": 2})) == sha256_hex(b'{"a":2,"b":1}')
    assert sha256_hex(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


# -- round trip ------------------------------------------------------------------

SAFE_INTEGER = 2**53 - 1
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-SAFE_INTEGER, max_value=SAFE_INTEGER)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, database=None)
@given(json_values)
def test_canonical_form_is_a_fixed_point(value: Any) -> None:
    canonical = canonicalize(value)
    assert canonicalize(parse_strict(canonical)) == canonical


@settings(max_examples=300, deadline=None, database=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_canonical_float_reads_back_as_the_same_double(value: float) -> None:
    parsed = parse_strict(canonicalize(value))
    assert parsed == value  # -0.0 == 0 too: JCS writes both as "0"


@settings(max_examples=100, deadline=None, database=None)
@given(st.dictionaries(st.text(max_size=8), st.integers(-1000, 1000), min_size=2))
def test_member_order_does_not_change_the_canonical_form(value: dict[str, int]) -> None:
    reversed_order = dict(reversed(list(value.items())))
    assert canonicalize(reversed_order) == canonicalize(value)


# -- strict parsing --------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        b'{"a": 1, "a": 2}',
        b'{"outer": {"k": true, "k": false}}',
        b'[{"x": 1}, {"y": 1, "y": 1}]',
    ],
)
def test_parse_strict_rejects_duplicate_keys(text: bytes) -> None:
    with pytest.raises(CanonicalizationError, match="duplicate key"):
        parse_strict(text)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_parse_strict_rejects_non_finite_constants(constant: str) -> None:
    with pytest.raises(CanonicalizationError, match=f"{constant} is not valid JSON"):
        parse_strict(f'{{"n": {constant}}}')


@pytest.mark.parametrize("literal", ["1e400", "-1e400"])
def test_parse_strict_rejects_numbers_that_overflow_to_infinity(literal: str) -> None:
    with pytest.raises(CanonicalizationError, match="out of the IEEE 754 double range"):
        parse_strict(f"[{literal}]")


@pytest.mark.parametrize(
    "data",
    [b'{"a": "\xff"}', b'{"a": "\xc3\x28"}', b'"\xed\xa0\x80"', "é".encode("latin-1")],
    ids=["0xff", "bad-continuation", "encoded-surrogate", "latin-1"],
)
def test_parse_strict_rejects_invalid_utf8(data: bytes) -> None:
    with pytest.raises(CanonicalizationError, match="not valid UTF-8"):
        parse_strict(data)


@pytest.mark.parametrize("text", ['{"a": 1,}', "{'a': 1}", "", '{"a": 1} x'])
def test_parse_strict_rejects_invalid_json(text: str) -> None:
    with pytest.raises(CanonicalizationError, match="invalid JSON"):
        parse_strict(text)


def test_parse_strict_rejects_deep_nesting() -> None:
    with pytest.raises(CanonicalizationError, match="nested too deeply"):
        parse_strict("[" * 100_000 + "]" * 100_000)


def test_parse_strict_reads_an_imprecise_integer_as_a_double() -> None:
    # 2**53 + 1 is not a double; read as one it is 2**53, whose canonical text
    # differs from the input, so a verifier reports the payload as not canonical.
    value = parse_strict(b"9007199254740993")
    assert value == 2.0**53
    assert canonicalize(value) != b"9007199254740993"
    assert parse_strict(b"9007199254740991") == 2**53 - 1
    assert isinstance(parse_strict(b"9007199254740991"), int)


float_free_scalars = st.none() | st.booleans() | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1) | st.text()
float_free_values = st.recursive(
    float_free_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None, database=None)
@given(float_free_values)
def test_fast_path_equals_the_reference_implementation(value: object) -> None:
    # canonicalize() serves float-free values with the C JSON encoder; it must
    # give exactly what the rfc8785 package gives (or both must refuse).
    import rfc8785

    try:
        expected = rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError, ValueError):
        with pytest.raises(CanonicalizationError):
            canonicalize(value)
        return
    assert canonicalize(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        {"\U0001f600": 1, "\ufb33": 2, "\u20ac": 3},  # UTF-16 order differs from code points
        {"a": 2**53},  # beyond exact doubles: JCS refuses
        {"a": [1.5, 1e21, -0.0]},
        {"ctrl": '\x00\x1f\x7f\u2028\b\t\n\f\r"\\'},
    ],
)
def test_fast_path_edge_cases_match_the_reference(value: object) -> None:
    import rfc8785

    try:
        expected = rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, ValueError):
        with pytest.raises(CanonicalizationError):
            canonicalize(value)
        return
    assert canonicalize(value) == expected
