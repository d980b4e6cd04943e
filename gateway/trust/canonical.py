"""RFC 8785 JSON Canonicalization Scheme (JCS) and strict JSON parsing.

Canonicalization is delegated to the ``rfc8785`` package (Trail of Bits,
maintained, exact ECMAScript number serialization and UTF-16 key ordering);
this module adds the strict parser the gateway needs on input: no duplicate
keys, no NaN/Infinity, valid UTF-8 only, and ``parse_canonical``, the
verifier's check that a received payload is already in canonical form.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
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
    # Iterative: a recursive walk with all() and generators cost as much as the encoding.
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, (str, bool)) or item is None:
            continue
        if isinstance(item, int):
            if not -_MAX_EXACT_INT <= item <= _MAX_EXACT_INT:
                return False
        elif isinstance(item, dict):
            for key in item:
                if not (isinstance(key, str) and (key.isascii() or max(key) <= "\uffff")):
                    return False
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        else:
            return False  # floats and anything else: the reference implementation decides
    return True


# What json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
# builds on every call; an encoder holds no state between calls.
_SORTED_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _dumps_sorted(value: JSONValue) -> bytes:
    return _SORTED_ENCODER.encode(value).encode("utf-8")


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
            return _dumps_sorted(value)
        except UnicodeEncodeError:
            pass  # a lone surrogate: let the reference implementation report it
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise CanonicalizationError(str(exc)) from exc


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)  # in C; only a shorter dict means a duplicate
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise CanonicalizationError(f"duplicate key {key!r}")
            seen.add(key)
    return result


def _reject_constant(name: str) -> None:
    raise CanonicalizationError(f"{name} is not valid JSON")


# JSON numbers are IEEE 754 doubles (RFC 8785 3.2.2.3): the canonical form of a
# double >= 2**53 is an integer literal ("9007199254740992", "1e+21" only from
# 1e21 up), so such literals must read back as floats, not as Python ints that
# canonicalize() refuses.
_SAFE_INTEGER = 2**53 - 1


def _parse_int(text: str) -> int | float:
    # More than 16 digits is beyond 2**53 - 1 (JSON has no leading zeros). Going
    # straight to float() also keeps a huge literal away from int(), which raises
    # a bare ValueError beyond 4300 digits.
    if len(text.lstrip("-")) > 16:
        return _parse_float(text)
    value = int(text)
    return value if -_SAFE_INTEGER <= value <= _SAFE_INTEGER else _parse_float(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # e.g. 1e400: JSON has no infinity
        shown = text if len(text) <= 32 else f"{text[:16]}... ({len(text)} characters)"
        raise CanonicalizationError(f"number {shown} is out of the IEEE 754 double range")
    return value


def parse_strict(data: bytes | str) -> JSONValue:
    """Parse JSON strictly: UTF-8 only, no duplicate keys, no NaN/Infinity.

    Returns the parsed value; raises CanonicalizationError on anything else.
    """
    return _loads(data, _parse_int, _parse_float)


def _loads(
    data: bytes | str, parse_int: Callable[[str], int | float], parse_float: Callable[[str], float]
) -> JSONValue:
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(
            text,
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
            parse_int=parse_int,
            parse_float=parse_float,
        )
    except UnicodeDecodeError as exc:
        raise CanonicalizationError("input is not valid UTF-8") from exc
    except RecursionError as exc:
        raise CanonicalizationError("JSON nested too deeply") from exc
    except json.JSONDecodeError as exc:
        raise CanonicalizationError(f"invalid JSON: {exc.msg} at position {exc.pos}") from exc


# Lead bytes of 4-byte UTF-8 sequences: the only way a character outside the
# Basic Multilingual Plane appears raw in valid UTF-8.
_NON_BMP_LEADS = (b"\xf0", b"\xf1", b"\xf2", b"\xf3", b"\xf4")


def parse_canonical(data: bytes) -> tuple[JSONValue, bool]:
    """Parse ``data`` strictly and tell whether it is the RFC 8785 form of its value.

    Returns ``(parse_strict(data), canonicalize(parse_strict(data)) == data)``,
    faster. Raises CanonicalizationError like parse_strict, or like canonicalize
    for a value JCS cannot write.
    """
    proven = _proven_canonical(data)
    if proven is not None:
        return proven[0], True
    # Not shown canonical the quick way: decide as the definition says, which
    # also names the first problem (a duplicate key, a lone surrogate, ...).
    value = parse_strict(data)
    return value, canonicalize(value) == data


def _proven_canonical(data: bytes) -> tuple[JSONValue] | None:
    """Return ``(value,)`` when ``data`` is certainly canonical; None when undecided.

    Skips the two costs of the definition: the duplicate-key hook (a canonical
    text cannot repeat a key, since it equals the serialization of a dict) and
    canonicalize()'s walk over the tree (``_simple``), replaced by noting
    floats while parsing.
    """
    floats_seen = False

    def parse_int(text: str) -> int | float:
        nonlocal floats_seen
        value = _parse_int(text)
        floats_seen = floats_seen or isinstance(value, float)
        return value

    def parse_float(text: str) -> float:
        nonlocal floats_seen
        floats_seen = True
        return _parse_float(text)

    try:
        value = json.loads(
            data.decode("utf-8"), parse_constant=_reject_constant, parse_int=parse_int, parse_float=parse_float
        )
        # Without floats every int is exact (see _parse_int), so ``_simple(value)``
        # can only fail on a key outside the BMP. With no raw non-BMP character
        # in ``data`` such a key came from \uXXXX escapes, which json.dumps
        # writes raw, so its output cannot equal ``data``. In every other case
        # canonicalize() is exactly this json.dumps.
        non_bmp = not data.isascii() and any(lead in data for lead in _NON_BMP_LEADS)
        canonical = canonicalize(value) if floats_seen or non_bmp else _dumps_sorted(value)
    except (ValueError, RecursionError, CanonicalizationError):  # JSON, UTF-8 and encoding errors
        return None
    return (value,) if canonical == data else None


def sha256_hex(data: bytes) -> str:
    """Return the lowercase hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()
