"""Exact behaviour of party codes (parties.py) that surviving mutmut mutants showed untested.

A refusal names the code as given (elided past 12 characters), what it was
meant to be, and the parties the bundle holds; PartyCode carries its pattern
into pydantic's JSON Schema.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError, create_model

from gateway.trust.bundle import PartyTrust, TrustBundle
from gateway.trust.errors import UnknownPartyError
from gateway.trust.parties import PARTY_CODE_PATTERN, PartyCode, require_known_parties, require_known_party
from tests.trust import minting

HINT = "a party joins through a signed trust update and a terms amendment every party signs"


@pytest.fixture(scope="module")
def bundle() -> TrustBundle:
    return TrustBundle(
        {"PA": PartyTrust("PA", (minting.root("PA").cert,)), "CO": PartyTrust("CO", (minting.root("CO").cert,))}
    )


def refusal(bundle: TrustBundle, code: object, what: str = "party") -> UnknownPartyError:
    with pytest.raises(UnknownPartyError) as caught:
        require_known_party(bundle, code, what=what)
    return caught.value


def test_a_held_party_is_returned(bundle: TrustBundle) -> None:
    assert require_known_party(bundle, "PA") == "PA"
    assert require_known_parties(bundle, ["CO", "PA"], what="recipient") == ["CO", "PA"]


@pytest.mark.parametrize(
    ("code", "shown"),
    [
        ("CR", "'CR'"),
        ("pa", "'pa'"),
        (42, "42"),
        (None, "None"),
        ("ABCDEFGHIJKL", "'ABCDEFGHIJKL'"),  # 12 characters: shown whole
        ("ABCDEFGHIJKLM", "'ABCDEFGHIJKL…'"),  # 13: elided after 12
    ],
)
def test_an_unknown_code_is_refused_exactly(bundle: TrustBundle, code: object, shown: str) -> None:
    error = refusal(bundle, code, what="recipient")
    assert error.detail == f"recipient {shown} is not a party of this federation; the trust bundle holds CO, PA"
    assert error.hint == HINT


def test_the_refusal_says_party_by_default_and_names_no_party_for_an_empty_bundle() -> None:
    with pytest.raises(UnknownPartyError) as caught:
        require_known_party(TrustBundle({}), "PA")
    assert caught.value.detail == "party 'PA' is not a party of this federation; the trust bundle holds no party"
    with pytest.raises(UnknownPartyError) as caught:
        require_known_parties(TrustBundle({}), ["CO"])
    assert caught.value.detail == "party 'CO' is not a party of this federation; the trust bundle holds no party"


def test_require_known_parties_refuses_the_first_unknown_code(bundle: TrustBundle) -> None:
    with pytest.raises(UnknownPartyError) as caught:
        require_known_parties(bundle, ["PA", "US", "CR"], what="third party")
    assert caught.value.detail == ("third party 'US' is not a party of this federation; the trust bundle holds CO, PA")


def test_party_code_carries_its_pattern_into_pydantic() -> None:
    # The model is built here, not at import: pydantic asks PartyCode for its schema when the class is made.
    flag = create_model("Flag", originator=(PartyCode, ...))
    assert flag.model_json_schema()["properties"]["originator"] == {
        "pattern": PARTY_CODE_PATTERN,
        "title": "Originator",
        "type": "string",
    }
    assert flag(originator="CR").originator == "CR"  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match="String should match pattern"):
        flag(originator="cr")
