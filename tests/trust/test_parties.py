"""Party codes come from configuration: the shape is fixed (ISO 3166-1 alpha-2), membership is the bundle's.

A fourth party enters the bundle through a signed admission from a party
already in it (gateway.trust.bundle_update); each negative test is a way a
stranger or a careless sponsor could try to slip a CA in.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import BaseModel, ValidationError

from gateway.records.signing import build_record, sign_record, verify_record
from gateway.trust.bundle import PartyTrust, TrustBundle
from gateway.trust.bundle_update import (
    admit_party,
    sign_admission,
    sign_trust_update,
    verify_admission,
)
from gateway.trust.errors import (
    AdmissionError,
    CAClaimedByOtherPartyError,
    MalformedJWSError,
    PartyMismatchError,
    UnknownPartyError,
    UntrustedChainError,
)
from gateway.trust.keys import SigningKey
from gateway.trust.parties import PARTY_CODE_PATTERN, PartyCode, is_party_code, require_known_party
from gateway.trust.pki import PartyFiles, init_party
from tests.support.mou_terms import draft
from tests.support.pki import TestPKI


def now() -> datetime:
    # Taken per call, not at import: the newcomer's certificates are issued when its fixture runs,
    # which in a long session is well after this module was collected.
    return datetime.now(UTC)


class _Named(BaseModel):
    party: PartyCode
    recipients: list[PartyCode]


# -- the PartyCode type ------------------------------------------------------------


@pytest.mark.parametrize("code", ["PA", "CO", "US", "CR", "MX", "ZZ"])
def test_any_two_capital_letters_are_a_party_code(code: str) -> None:
    assert is_party_code(code)
    assert _Named(party=code, recipients=[code]).party == code


@pytest.mark.parametrize("code", ["pa", "Pa", "PAN", "P", "", "P1", " PA", "PA\n", "ÁB", 7, None])
def test_anything_else_is_not(code: object) -> None:
    assert not is_party_code(code)
    with pytest.raises(ValidationError):
        _Named.model_validate({"party": code, "recipients": []})


def test_the_json_schema_carries_the_pattern_not_a_list_of_parties() -> None:
    schema = _Named.model_json_schema()
    assert schema["properties"]["party"] == {"pattern": PARTY_CODE_PATTERN, "title": "Party", "type": "string"}
    assert schema["properties"]["recipients"]["items"] == {"pattern": PARTY_CODE_PATTERN, "type": "string"}
    assert "enum" not in str(schema)


def test_a_party_is_known_when_the_bundle_holds_it(pki: TestPKI) -> None:
    assert require_known_party(pki.bundle(), "CO") == "CO"


@pytest.mark.parametrize("code", ["CR", "cr", "PAN", 3])
def test_a_party_the_bundle_does_not_hold_is_unknown(pki: TestPKI, code: object) -> None:
    with pytest.raises(
        UnknownPartyError, match=r"is not a party of this federation; the trust bundle holds CO, PA, US"
    ):
        require_known_party(pki.bundle(), code, what="recipient")
    assert UnknownPartyError.type_uri().endswith("/problems/unknown-party")
    assert UnknownPartyError.status == 422


# -- admission of a fourth party ----------------------------------------------------


@pytest.fixture(scope="module")
def cr(tmp_path_factory: pytest.TempPathFactory) -> PartyFiles:
    return init_party("CR", tmp_path_factory.mktemp("cr") / "cr")


def entry_of(files: PartyFiles) -> PartyTrust:
    (entry,) = TrustBundle.load(files.bundle_entry).parties.values()
    return entry


def key_of(files: PartyFiles) -> SigningKey:
    return SigningKey.from_files(files.signing_key, files.signing_cert)


def cr_flag(cr: PartyFiles) -> str:
    document = draft("criminal_network_flag", "CO", ["PA"], terms={"id": "t", "version": 1, "sha256": "0" * 64})
    document["originator"] = {"party": "CR", "agency": "Migración Costa Rica", "officer_ref": "CR-LIAISON-01"}
    return sign_record(build_record(document, now()), key_of(cr)).jws


def test_a_party_admits_a_newcomer_whose_records_then_verify(pki: TestPKI, cr: PartyFiles) -> None:
    bundle = pki.bundle()
    with pytest.raises(UntrustedChainError):
        verify_record(cr_flag(cr), bundle, now())

    admission = verify_admission(sign_admission(entry_of(cr), "PA", pki.signing_key("PA"), now()), bundle, now())
    assert (admission.sponsor, admission.party) == ("PA", "CR")
    admitted = admit_party(bundle, admission)

    assert sorted(admitted.parties) == ["CO", "CR", "PA", "US"]
    assert verify_record(cr_flag(cr), admitted, now()).signer_party == "CR"
    assert admit_party(admitted, admission) is admitted  # adopting it again changes nothing


def test_a_newcomer_cannot_admit_itself(pki: TestPKI, cr: PartyFiles) -> None:
    # Signed by its own key: nothing in the bundle speaks for it yet.
    with pytest.raises(UntrustedChainError):
        verify_admission(sign_admission(entry_of(cr), "CR", key_of(cr), now()), pki.bundle(), now())


def test_a_party_cannot_admit_in_another_partys_name(pki: TestPKI, cr: PartyFiles) -> None:
    with pytest.raises(PartyMismatchError):
        verify_admission(sign_admission(entry_of(cr), "CO", pki.signing_key("PA"), now()), pki.bundle(), now())


def test_a_party_cannot_admit_itself_again(pki: TestPKI) -> None:
    own = pki.bundle().parties["PA"]
    with pytest.raises(AdmissionError, match="PA cannot admit itself"):
        verify_admission(sign_admission(own, "PA", pki.signing_key("PA"), now()), pki.bundle(), now())


def test_an_admission_cannot_replace_a_held_partys_entry(pki: TestPKI, cr: PartyFiles) -> None:
    # PA vouching for "CO" with CR's CA would hand CO's name to a stranger.
    bundle = pki.bundle()
    hijack = PartyTrust("CO", entry_of(cr).cas)
    admission = verify_admission(sign_admission(hijack, "PA", pki.signing_key("PA"), now()), bundle, now())
    with pytest.raises(AdmissionError, match="CO is already a party") as refused:
        admit_party(bundle, admission)
    assert refused.value.hint.startswith("adopt CO's trust update instead")


def test_an_admission_cannot_claim_another_partys_ca(pki: TestPKI) -> None:
    bundle = pki.bundle()
    stolen = PartyTrust("CR", bundle.parties["US"].cas)
    admission = verify_admission(sign_admission(stolen, "PA", pki.signing_key("PA"), now()), bundle, now())
    with pytest.raises(CAClaimedByOtherPartyError, match="which belongs to US"):
        admit_party(bundle, admission)


def test_a_trust_update_is_not_an_admission(pki: TestPKI) -> None:
    # Same signer, same payload shape, other typ: a party's own update cannot be replayed as an admission.
    update = sign_trust_update(pki.bundle().parties["PA"], pki.signing_key("PA"), now())
    with pytest.raises(MalformedJWSError, match="typ"):
        verify_admission(update, pki.bundle(), now())
