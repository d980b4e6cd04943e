"""A fourth party joins by a terms amendment every party signs; until then its flows are not live.

Costa Rica (CR), a transit country, is admitted into the trust bundle by PA
(a signed admission) and named in version 2 of the example terms with
``joined_in: 2`` and two flag flows with PA. Before the last founding party
signed v2, a CR flag to PA is refused by the terms at the sender and at the
receiver; once everyone signed, it goes out and is accepted.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.records.schemas import Record
from gateway.records.signing import build_record, sign_record, verify_record
from gateway.terms.document import dump_terms, parse_terms, sign_terms
from gateway.terms.errors import TermsFileError, TermsViolationError
from gateway.terms.registry import TermsRegistry
from gateway.trust.bundle import TrustBundle
from gateway.trust.bundle_update import admit_party, sign_admission, verify_admission
from gateway.trust.keys import SigningKey
from gateway.trust.pki import PartyFiles, init_party
from tests.support import mou_terms
from tests.support.mou_terms import PARTIES, example_document, incoming_body, ref_of
from tests.support.pki import TestPKI
from tests.test_cli_offline import gateway_cli

CR_AGENCY = "Dirección General de Migración y Extranjería"
FLAG_FLOW = {
    "record_types": ["criminal_network_flag"],
    "purposes": ["criminal_network_disruption"],
    "offence_categories": ["drug_trafficking", "migrant_smuggling"],
    "minimum_handling": "H2",
}


@pytest.fixture(scope="module")
def cr(tmp_path_factory: pytest.TempPathFactory) -> PartyFiles:
    return init_party("CR", tmp_path_factory.mktemp("cr") / "cr")


def cr_key(cr: PartyFiles) -> SigningKey:
    return SigningKey.from_files(cr.signing_key, cr.signing_cert)


@pytest.fixture(scope="module")
def admitted(pki: TestPKI, cr: PartyFiles) -> TrustBundle:
    """The test PKI's bundle with CR admitted by PA's signed admission."""
    at = mou_terms.now()
    (entry,) = TrustBundle.load(cr.bundle_entry).parties.values()
    admission = verify_admission(sign_admission(entry, "PA", pki.signing_key("PA"), at), pki.bundle(), at)
    return admit_party(pki.bundle(), admission)


def amendment(pki: TestPKI, cr: PartyFiles, out: Path, signers: Iterable[str]) -> Path:
    """Version 2 of the example terms admitting CR, signed by ``signers``."""
    document: dict[str, Any] = copy.deepcopy(example_document())
    document["version"] = 2
    document["parties"].append({"code": "CR", "authority": CR_AGENCY, "joined_in": 2})
    document["flows"] += [
        {"id": "cr-flags-to-pa", "from": "CR", "to": ["PA"], **FLAG_FLOW},
        {"id": "pa-flags-to-cr", "from": "PA", "to": ["CR"], **FLAG_FLOW},
    ]
    document["signatures"] = []
    terms = parse_terms(document, str(out))
    keys = {**{party: pki.signing_key(party) for party in PARTIES}, "CR": cr_key(cr)}
    for party in signers:
        terms = sign_terms(terms, party, keys[party])
    dump_terms(terms, out)
    return out


def cr_flag_draft() -> dict[str, Any]:
    document = mou_terms.draft("criminal_network_flag", "CO", ["PA"])
    document["originator"] = {"party": "CR", "agency": CR_AGENCY, "officer_ref": "CR-LIAISON-01"}
    return document


def cr_flag_received(cr: PartyFiles, bundle: TrustBundle, terms: dict[str, Any], at: datetime) -> Record:
    """A CR flag to PA signed under ``terms`` past every sender check, as PA verifies it."""
    signed = sign_record(build_record({**cr_flag_draft(), "terms": terms}, at), cr_key(cr))
    return verify_record(signed.jws, bundle, at).payload


def test_a_partially_signed_amendment_leaves_the_newcomers_flows_not_live(
    pki: TestPKI, cr: PartyFiles, admitted: TrustBundle, tmp_path: Path
) -> None:
    at = mou_terms.now()
    v2 = amendment(pki, cr, tmp_path / "v2.yaml", signers=("CR", "PA", "CO"))  # US has not signed yet
    registry = TermsRegistry.load([pki.terms_path, v2], admitted, at)
    (version2,) = [v for v in registry.versions if v.terms.version == 2]
    assert {f.id for f in version2.terms.flows if not version2.flow_live(f)} >= {"cr-flags-to-pa", "pa-flags-to-cr"}

    # at CR, the sender: the flow between CR and PA, both of which signed, waits for US
    with pytest.raises(TermsViolationError, match=r"flow cr-flags-to-pa .* no valid signature of US") as refused:
        registry.prepare_outgoing(cr_flag_draft(), at)
    assert refused.value.rule_code == "flow_not_signed"

    # at PA, the receiver: a CR flag forced out under v2 is refused the same way
    arrived = cr_flag_received(cr, admitted, ref_of(v2), at)
    with pytest.raises(TermsViolationError, match="no valid signature of US") as rejected:
        registry.check_incoming(arrived, incoming_body(arrived), "PA", at)
    assert rejected.value.rule_code == "flow_not_signed"

    # the rule is the admission's only: PA→CO, signed by both, already goes out under v2
    to_co = registry.prepare_outgoing(mou_terms.draft("criminal_network_flag", "PA", ["CO"]), at)
    assert to_co.terms.model_dump() == ref_of(v2)


def test_a_fully_signed_amendment_makes_the_newcomers_flows_live(
    pki: TestPKI, cr: PartyFiles, admitted: TrustBundle, tmp_path: Path
) -> None:
    at = mou_terms.now()
    v2 = amendment(pki, cr, tmp_path / "v2.yaml", signers=("CR", "PA", "CO", "US"))
    registry = TermsRegistry.load([pki.terms_path, v2], admitted, at)

    sent = registry.prepare_outgoing(cr_flag_draft(), at)
    assert sent.terms.model_dump() == ref_of(v2)
    assert sent.originator.party == "CR"

    arrived = cr_flag_received(cr, admitted, ref_of(v2), at)
    registry.check_incoming(arrived, incoming_body(arrived), "PA", at)  # accepted: no exception


def test_terms_alone_do_not_admit_a_party_the_bundle_does_not_hold(
    pki: TestPKI, cr: PartyFiles, tmp_path: Path
) -> None:
    # Everyone signed v2, but CR's CA never entered this node's bundle: CR's signature cannot be checked.
    at = mou_terms.now()
    v2 = amendment(pki, cr, tmp_path / "v2.yaml", signers=("CR", "PA", "CO", "US"))
    registry = TermsRegistry.load([pki.terms_path, v2], pki.bundle(), at)
    (version2,) = [v for v in registry.versions if v.terms.version == 2]
    assert not version2.signed_by("CR")
    with pytest.raises(TermsViolationError, match="no valid signature of CR") as refused:
        registry.prepare_outgoing(cr_flag_draft(), at)
    assert refused.value.rule_code == "flow_not_signed"


def test_a_party_cannot_have_joined_in_a_later_version(pki: TestPKI) -> None:
    document = copy.deepcopy(example_document())
    document["parties"].append({"code": "CR", "authority": CR_AGENCY, "joined_in": 2})
    with pytest.raises(TermsFileError, match=r"parties joined in a later version than 1: \['CR'\]"):
        parse_terms(document, "v1-with-cr.yaml")


def test_founding_parties_keep_the_digest_they_signed(pki: TestPKI) -> None:
    # joined_in is omitted when unset, so terms signed before it existed verify unchanged.
    assert "joined_in" not in pki.terms_path.read_text("utf-8")
    registry = TermsRegistry.load([pki.terms_path], pki.bundle(), mou_terms.now())
    assert all(registry.versions[0].signed_by(party) for party in PARTIES)


def test_terms_check_shows_the_newcomers_flows_not_live_until_everyone_signed(
    pki: TestPKI, cr: PartyFiles, admitted: TrustBundle, tmp_path: Path
) -> None:
    bundle = tmp_path / "admitted.json"
    bundle.write_text(admitted.to_json(), "utf-8")
    partial = amendment(pki, cr, tmp_path / "partial.yaml", signers=("CR", "PA", "CO"))
    full = amendment(pki, cr, tmp_path / "full.yaml", signers=("CR", "PA", "CO", "US"))

    def live(path: Path) -> dict[str, bool]:
        run = gateway_cli("terms", "check", path, "--trust", bundle, "--output", "json")
        assert run.code == 0, run.stderr
        return {flow["flow"]: flow["live"] for flow in json.loads(run.stdout)["flows"]}

    before, after = live(partial), live(full)
    assert (before["cr-flags-to-pa"], before["pa-flags-to-cr"], before["pa-flags-to-co"]) == (False, False, True)
    assert all(after.values())
