"""The quick canonical-payload check decides exactly as its definition does.

``check_canonical`` (step 8 of verification) used to be, literally,
``canonicalize(parse_strict(x)) == x``. ``parse_canonical`` reaches the same
verdict without the duplicate-key hook and the tree walk on the common path;
these properties compare the two on canonical texts, near misses (other key
order, escapes, whitespace, duplicate keys, number spellings), floats,
non-ASCII and non-BMP keys, lone surrogates and arbitrary bytes.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gateway.trust.canonical import canonicalize, parse_canonical, parse_strict
from gateway.trust.errors import CanonicalizationError, MalformedJWSError, SchemaViolationError
from gateway.trust.jws import RECORD_TYP, parse_compact
from gateway.trust.verify import check_canonical
from tests.trust import forge

SAFE_INTEGER = 2**53 - 1
# Keys that sort differently by UTF-16 code units (RFC 8785) and by code points (Python).
TRICKY_KEYS = ["\U0001f600", "\U00010000", "\ufb33", "\ue000", "\uffff", "\u20ac", "é", "a", "", "A"]

keys = st.text(max_size=6) | st.sampled_from(TRICKY_KEYS)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-SAFE_INTEGER, max_value=SAFE_INTEGER)
    | st.integers()  # beyond 2**53 as well: read back as doubles
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.sampled_from(TRICKY_KEYS)
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=20,
)


def spellings(value: Any) -> list[bytes]:
    """The canonical text of ``value`` (when it has one) and texts that are nearly it."""
    texts: list[bytes] = []
    with contextlib.suppress(CanonicalizationError):
        texts.append(canonicalize(value))
    texts += [
        json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass"),
        json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii"),
        json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass"),
        json.dumps(value, sort_keys=True, ensure_ascii=False).encode("utf-8", "surrogatepass"),
    ]
    return texts


def with_duplicates(text: bytes) -> list[bytes]:
    """``text`` as both values of a repeated key, at the top and nested: canonical but for the repeat."""
    member = b'{"k":' + text + b',"k":' + text + b"}"
    return [member, b"[" + text + b"," + member + b"]"]


def reference(data: bytes) -> tuple[str, Any]:
    """What the definition says: ("ok", value), ("not-canonical", None) or ("error", detail)."""
    try:
        value = parse_strict(data)
        canonical = canonicalize(value) == data
    except CanonicalizationError as exc:
        return "error", exc.detail
    return ("ok", value) if canonical else ("not-canonical", None)


def quick(data: bytes) -> tuple[str, Any]:
    try:
        value, canonical = parse_canonical(data)
    except CanonicalizationError as exc:
        return "error", exc.detail
    return ("ok", value) if canonical else ("not-canonical", None)


def same(left: Any, right: Any) -> bool:
    # json.dumps tells -0.0 from 0.0 and 1 from 1.0 and True, which == does not.
    return bool(json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True))


def assert_equivalent(data: bytes) -> None:
    expected, got = reference(data), quick(data)
    assert got[0] == expected[0], data
    if expected[0] == "ok":
        assert same(got[1], expected[1]), data
    else:
        assert got[1] == expected[1], data
    # check_canonical is the same verdict as a verification error.
    if expected[0] == "ok":
        assert same(check_canonical(data), expected[1])
    elif expected[0] == "error":
        with pytest.raises(SchemaViolationError, match="payload is not canonical JSON"):
            check_canonical(data)
    else:
        with pytest.raises(SchemaViolationError, match="not in RFC 8785 canonical form"):
            check_canonical(data)


@settings(max_examples=500, deadline=None, database=None)
@given(values)
def test_quick_check_agrees_on_spellings_of_a_value(value: Any) -> None:
    for text in spellings(value):
        for variant in [text, *with_duplicates(text)]:
            assert_equivalent(variant)


@settings(max_examples=300, deadline=None, database=None)
@given(st.binary(max_size=64) | st.text(max_size=32).map(lambda t: t.encode("utf-8", "surrogatepass")))
@example(b'{"a":1,"a":1}')
@example(b'{"a":{"b":1,"b":1}}')
@example(b'[{"\\ud800":1}]')
@example(b'["\\udc00"]')
@example(b'{"\\ud83d\\ude00":1,"\\ufb33":2}')
@example('{"\U0001f600":1,"\ufb33":2}'.encode())
@example('{"\ufb33":2,"\U0001f600":1}'.encode())
@example(b"9007199254740993")
@example(b"9007199254740992")
@example(b"[1e21,1E2,-0,0.0,1.0,1.5]")
@example(b"[" + b"7" * 5000 + b"]")
@example(b'{"n":NaN}')
@example(b"[1e400]")
@example(b'"\xed\xa0\x80"')
def test_quick_check_agrees_on_arbitrary_bytes(data: bytes) -> None:
    assert_equivalent(data)


@pytest.mark.parametrize(
    "data",
    [
        '{"\U0001f600":1,"\ufb33":2}'.encode(),  # UTF-16 order: the non-BMP key (D83D...) sorts first
        b"[1.5,1e+21,-0.5]",
        '{"é":"\U0001f600"}'.encode(),
        b'{"a":[true,false,null,"\\u0000\\n"]}',
    ],
)
def test_canonical_texts_are_accepted(data: bytes) -> None:
    assert canonicalize(parse_strict(data)) == data  # premise
    assert parse_canonical(data) == (parse_strict(data), True)


@pytest.mark.parametrize(
    ("data", "verdict"),
    [
        ('{"\ufb33":2,"\U0001f600":1}'.encode(), "not-canonical"),  # code-point order
        (b'{"\\ud83d\\ude00":1}', "not-canonical"),  # escaped non-BMP key
        (b'{"a":1,"a":1}', "error"),
        (b'{"z":{"b":1,"b":1}}', "error"),
        (b'["\\ud800"]', "error"),  # lone surrogate: JCS cannot write it
        (b"9007199254740993", "not-canonical"),  # read as the double 2**53
    ],
)
def test_near_misses_are_refused_like_the_definition(data: bytes, verdict: str) -> None:
    assert quick(data)[0] == verdict
    assert_equivalent(data)


def test_an_integer_too_long_for_int_is_a_refusal_not_a_crash() -> None:
    # Python's int() raises a bare ValueError beyond 4300 digits; such a literal
    # is beyond 2**53 anyway, so it reads as a double (here: out of range).
    huge = b"1" * 5000
    with pytest.raises(CanonicalizationError, match=r"number 1{16}\.\.\. \(5000 characters\) is out of the IEEE 754"):
        parse_strict(b"[" + huge + b"]")
    with pytest.raises(SchemaViolationError, match="payload is not canonical JSON"):
        check_canonical(b'{"n":' + huge + b"}")
    header = forge.b64url(b'{"alg":' + huge + b',"typ":"mou-record+jws"}')
    with pytest.raises(MalformedJWSError, match="protected header is not JSON"):
        parse_compact(f"{header}.e30.c2ln", expected_typ=RECORD_TYP)
    # 300 digits is a finite double, as it was.
    assert parse_strict(b"1" * 300) == float("1" * 300)
    assert_equivalent(b"[" + b"9" * 300 + b"]")
