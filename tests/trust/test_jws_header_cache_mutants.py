"""parse_compact's cache of decoded headers (9124fe8, 6ea4c8b): which headers it copies, which it decodes afresh.

A header whose members are strings and lists of strings is taken from the
cache and copied; anything else is decoded afresh and returned as decoded.
"""

from __future__ import annotations

import pytest

from gateway.trust import jws
from gateway.trust.errors import MalformedJWSError
from tests.trust import forge


@pytest.mark.parametrize(
    ("member", "plain"),
    [("text", True), (["a", "b"], True), ([], True), (["a", 1], False), (1, False), ({"a": "b"}, False), (None, False)],
)
def test_plain_members_are_strings_and_lists_of_strings(member: object, plain: bool) -> None:
    assert jws._plain_member(member) is plain


def test_a_header_with_an_object_member_is_returned_as_decoded() -> None:
    header = {"alg": "ES256", "typ": jws.RECORD_TYP, "cty": {"a": "b"}}
    token = forge.compact(header, b"{}", None) + "c2ln"
    parsed = jws.parse_compact(token, jws.RECORD_TYP)
    assert parsed.header == header


def test_a_header_that_is_not_json_is_refused_with_the_parsers_detail() -> None:
    with pytest.raises(MalformedJWSError) as raised:
        jws.parse_compact(f"{forge.b64url(b'{')}.e30.c2ln", jws.RECORD_TYP)
    assert raised.value.detail.startswith("protected header is not JSON: ")
