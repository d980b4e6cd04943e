"""RFC 8785 JSON Canonicalization Scheme (JCS) and strict JSON parsing.

Canonicalization is delegated to the ``rfc8785`` package (Trail of Bits,
maintained, exact ECMAScript number serialization and UTF-16 key ordering);
this module adds the strict parser the gateway needs on input: no duplicate
keys, no NaN/Infinity, valid UTF-8 only.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import rfc8785

from gateway.trust.errors import CanonicalizationError

JSONValue = Any  # JSON has no precise static type; callers validate with pydantic.


_MAX_EXACT_INT = 2**53 - 1


def _simple(value: JSONValue) -> bool:
    """True when RFC 8785 and sorted, compact ``json.dumps`` give the same bytes for ``value``.

    They differ only for floats (ECMAScript number formatting), integers beyond
    2^53 (which JCS refuses) and keys outside the Basic Multilingual Plane
    (JCS sorts by UTF-16 code units, Python by code points); string escaping
    is the same (RFC 8785 §3.2.2.2 and Python both emit \\b \\t \\n \\f \\r
    and lowercase \\u00xx for other controls, nothing else escaped).
    """
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, int):
        return -_MAX_EXACT_INT <= value <= _MAX_EXACT_INT
    if isinstance(value, dict):
        return all(
            isinstance(key, str) and (key.isascii() or max(key) <= "\uffff") and _simple(child)
            for key, child in value.items()
        )
    if isinstance(value, list):
        return all(_simple(child) for child in value)
    return False  # floats and anything else: the reference implementation decides


def canonicalize(value: JSONValue) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of ``value``.

    Records hold no floats, so the common case is served by the C JSON encoder
    (several times faster than the pure-Python ``rfc8785`` package, and
    equal byte for byte — see ``_simple`` and its tests); everything else goes
    through ``rfc8785``.

    Raises CanonicalizationError for values JSON cannot represent exactly
    (NaN, infinities, integers beyond IEEE 754 double precision, non-str keys).
    """
    if _simple(value):
        try:
            return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: let the reference implementation report it
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise CanonicalizationError(str(exc)) from exc


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise CanonicalizationError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> None:
    raise CanonicalizationError(f"{name} is not valid JSON")


# JSON numbers are IEEE 754 doubles (RFC 8785 3.2.2.3): the canonical form of a
# double >= 2**53 is an integer literal ("9007199254740992", "1e+21" only from
# 1e21 up), so such literals must read back as floats, not as Python ints that
# canonicalize() refuses.
_SAFE_INTEGER = 2**53 - 1


def _parse_int(text: str) -> int | float:
    value = int(text)
    return value if -_SAFE_INTEGER <= value <= _SAFE_INTEGER else _parse_float(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # e.g. 1e400: JSON has no infinity
        raise CanonicalizationError(f"number {text} is out of the IEEE 754 double range")
    return value


def parse_strict(data: bytes | str) -> JSONValue:
    """Parse JSON strictly: UTF-8 only, no duplicate keys, no NaN/Infinity.

    Returns the parsed value; raises CanonicalizationError on anything else.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(
            text,
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
            parse_int=_parse_int,
            parse_float=_parse_float,
        )
    except UnicodeDecodeError as exc:
        raise CanonicalizationError("input is not valid UTF-8") from exc
    except RecursionError as exc:
        raise CanonicalizationError("JSON nested too deeply") from exc
    except json.JSONDecodeError as exc:
        raise CanonicalizationError(f"invalid JSON: {exc.msg} at position {exc.pos}") from exc


def sha256_hex(data: bytes) -> str:
    """Return the lowercase hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()
