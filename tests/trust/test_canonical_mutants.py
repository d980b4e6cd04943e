"""Exact behaviour of canonical.py that surviving mutmut mutants showed untested.

An out-of-range number is named in full up to 32 characters and elided beyond,
so the refusal stays one readable line whatever the sender wrote.
"""

from __future__ import annotations

import re

import pytest

from gateway.trust.canonical import parse_strict
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
