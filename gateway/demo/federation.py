"""Which parties the demo runs, the terms they start under, and how a newcomer joins.

The founding parties are those of the example terms (deploy/terms) that were
asked for; the terms are narrowed to them (a bilateral PA-CO deployment keeps
the PA-CO flows). Any other party joins the running federation the way a
real one would, by configuration only:

1. it makes its own PKI;
2. PA admits it with a signed admission, which every node verifies against
   the trust it holds for PA and writes into its own trust bundle;
3. a terms amendment names it (``joined_in``) with flag flows to and from PA;
   until every party has signed it, the newcomer's flows are not live (the
   demo shows the refusal), then the last founders sign;
4. every node restarts on its database with the new bundle and terms, and
   the newcomer's node starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.demo import synthetic
from gateway.demo.cluster import DemoNode, install_bundle, node_bundle, start_nodes, stop_nodes
from gateway.demo.scenario import ScenarioError
from gateway.terms.document import (
    EXAMPLE_TERMS,
    dump_terms,
    leading_comments,
    load_terms,
    parse_terms,
    sign_terms,
    terms_for_parties,
    terms_json,
)
from gateway.terms.errors import TermsViolationError
from gateway.terms.registry import TermsRegistry
from gateway.terms.schemas import Terms
from gateway.trust.bundle import PartyTrust, TrustBundle
from gateway.trust.bundle_update import admit_party, sign_admission, verify_admission
from gateway.trust.keys import SigningKey
from gateway.trust.parties import is_party_code
from gateway.trust.pki import PartyFiles, init_party

SPONSOR = "PA"  # the party that vouches for newcomers: the removing state, which works with transit countries
FLAG_FLOW: dict[str, Any] = {
    "record_types": ["criminal_network_flag"],
    "purposes": ["criminal_network_disruption"],
    "offence_categories": ["drug_trafficking", "migrant_smuggling"],
    "minimum_handling": "H2",
}


@dataclass(frozen=True)
class Federation:
    founders: tuple[str, ...]
    joiners: tuple[str, ...]

    @property
    def parties(self) -> tuple[str, ...]:
        return self.founders + self.joiners


def plan(parties: Sequence[str]) -> Federation:
    """Return the founders (parties of the example terms) and the joiners among ``parties``.

    Raises ScenarioError for a code that is not a party code, a repeated one,
    or a list without PA and CO (the removing and the destination state).
    """
    codes = [code.strip() for code in parties]
    for code in codes:
        if not is_party_code(code):
            raise ScenarioError(f"{code!r} is not a party code (two capital letters, ISO 3166-1 alpha-2)")
    if len(set(codes)) != len(codes):
        raise ScenarioError(f"a party is named twice in {','.join(codes)}")
    if not {SPONSOR, "CO"} <= set(codes):
        raise ScenarioError("the removal-flight scenario needs PA (removing state) and CO (destination state)")
    example = load_terms(EXAMPLE_TERMS).party_codes()
    founders = tuple(code for code in codes if code in example)
    return Federation(founders, tuple(code for code in codes if code not in example))


def founding_terms(federation: Federation, out: Path, keys: dict[str, SigningKey]) -> Terms:
    """Write the terms the founders start under, signed by each of them, to ``out``; return them."""
    terms = load_terms(EXAMPLE_TERMS)
    header = leading_comments(EXAMPLE_TERMS)
    if set(federation.founders) != set(terms.party_codes()):
        terms_id = "-".join(p.lower() for p in federation.founders) + "-removal-mou"
        terms = terms_for_parties(terms, list(federation.founders), terms_id)
        header = f"# The example terms narrowed to {', '.join(federation.founders)} by `gateway demo`.\n"
    for party in federation.founders:
        terms = sign_terms(terms, party, keys[party])
    out.parent.mkdir(parents=True, exist_ok=True)
    dump_terms(terms, out, header=header)
    return terms


def amendment(current: Terms, joiners: Sequence[str]) -> Terms:
    """Return the next version of ``current`` admitting ``joiners``, with flag flows to and from PA (unsigned)."""
    document = terms_json(current)
    version = current.version + 1
    document["version"] = version
    document["parties"] += [
        {"code": party, "authority": synthetic.agency_of(party), "joined_in": version} for party in joiners
    ]
    for party in joiners:
        document["flows"] += [
            {"id": f"{party.lower()}-flags-to-pa", "from": party, "to": [SPONSOR], **FLAG_FLOW},
            {"id": f"pa-flags-to-{party.lower()}", "from": SPONSOR, "to": [party], **FLAG_FLOW},
        ]
    return parse_terms(document, f"amendment v{version}")


def join(
    workdir: Path,
    nodes: dict[str, DemoNode],
    files: dict[str, PartyFiles],
    federation: Federation,
    founding: Path,
) -> tuple[dict[str, DemoNode], list[str]]:
    """Admit the joiners into the running federation; return the restarted nodes and lines to print.

    ``nodes`` are stopped and replaced by the returned ones (founders on their
    databases, joiners new). Raises ScenarioError when a step is refused that
    should pass, or passes what should be refused.
    """
    now = datetime.now(UTC)
    lines: list[str] = []
    for party in federation.joiners:
        files[party] = init_party(party, workdir / "pki" / party.lower())
    keys = {party: SigningKey.from_files(f.signing_key, f.signing_cert) for party, f in files.items()}
    # 2. PA admits each newcomer; every founder's node checks the admission against its own bundle.
    admissions = [sign_admission(_entry(files[party]), SPONSOR, keys[SPONSOR], now) for party in federation.joiners]
    for party in federation.founders:
        bundle = TrustBundle.load(node_bundle(workdir, party))
        for signed in admissions:
            bundle = admit_party(bundle, verify_admission(signed, bundle, now))
        install_bundle(workdir, party, bundle)
    for party in federation.joiners:  # the newcomer receives the federation's bundle from its sponsor
        install_bundle(workdir, party, TrustBundle.load(node_bundle(workdir, SPONSOR)))
    admitted = TrustBundle.load(node_bundle(workdir, SPONSOR))
    lines.append(
        f"{', '.join(federation.joiners)}: PKI made; admitted by {SPONSOR}'s signed admission into every "
        f"node's trust bundle ({len(admitted.parties)} parties)"
    )
    # 3. The amendment: the newcomers and PA sign first; their flows must not be live yet.
    v1 = load_terms(founding)
    terms = amendment(v1, federation.joiners)
    amended = founding.with_name(f"{terms.terms_id}-v{terms.version}.yaml")
    early = (*federation.joiners, SPONSOR)
    for party in early:
        terms = sign_terms(terms, party, keys[party])
    dump_terms(terms, amended)
    lines.append(_not_live_yet(founding, amended, admitted, federation.joiners[0], now))
    for party in federation.founders:
        if party not in early:
            terms = sign_terms(terms, party, keys[party])
    dump_terms(terms, amended)
    lines.append(f"terms {terms.terms_id} v{terms.version} signed by every party: {', '.join(federation.parties)}")
    # 4. Restart with the new configuration; the newcomers' nodes start.
    stop_nodes(nodes)
    restarted = start_nodes(workdir, {p: files[p] for p in federation.parties}, [founding, amended], previous=nodes)
    return restarted, lines


def _entry(files: PartyFiles) -> PartyTrust:
    (entry,) = TrustBundle.load(files.bundle_entry).parties.values()
    return entry


def _not_live_yet(founding: Path, amended: Path, bundle: TrustBundle, joiner: str, at: datetime) -> str:
    """Check, with the registry every node runs, that the joiner's flag is refused before all signed."""
    registry = TermsRegistry.load([founding, amended], bundle, at)
    subject = {"family_names": "Prueba", "given_names": "Antes", "nationality": "NIC", "date_of_birth": "1980-01-01"}
    draft = synthetic.flag(joiner, [SPONSOR], subject, None, [], at)
    try:
        registry.prepare_outgoing(draft, at)
    except TermsViolationError as exc:
        return f"before every party signed the amendment, {joiner}→{SPONSOR} is refused: {exc.rule_code}: {exc.detail}"
    raise ScenarioError(f"a {joiner} flag went out before every party signed the amendment")
