"""``gateway demo`` with one flight, run inside the test suite.

The expected figures follow gateway/demo/scenario.py, flight 1 (with flags):

- PA sends the manifest (to CO, US), CO acknowledges it (to PA), PA sends the
  removal confirmation (to CO, US), PA flags the smuggler (to US), US flags an
  associate (to PA);
- a PA flag altered in transit is posted straight to CO, which stores it as
  rejected (bad_signature) and answers a signed negative receipt;
- PA refuses a flag about a minor and US one outside its flow: nothing is
  stored or sent for either;
- lifecycle: CO reports a discrepancy on the manifest (to PA), PA corrects the
  manifest (to CO, US) and answers the report (to CO); CO and US acknowledge
  applying the correction (to PA); PA retracts its flag (to US), US
  acknowledges (to PA); PA asks US's consent to share US's flag with CO (to
  US), US grants it (to PA), PA forwards the flag with the consent (to CO).
- then Costa Rica (CR) joins the running federation: PA's signed admission
  puts its CA in every node's bundle, the terms amendment is refused for CR
  until every party signed it, the nodes restart with the new configuration;
  CR flags a facilitator (to PA) and PA answers with a linked flag (to CR).

The bilateral run (PA, CO) plays the same flight with CO as the only partner:
no US, no onward sharing.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import select

from gateway.db import make_engine, make_sessionmaker, transaction
from gateway.demo.runner import run_demo
from gateway.demo.scenario import ScenarioError
from gateway.oversight.rendering import csv_text, html_document
from gateway.oversight.service import OversightReport, build_report
from gateway.records.models import StoredRecord
from gateway.trust.bundle import TrustBundle

PARTIES_WITH_CR = ("PA", "CO", "US", "CR")

EXPECTED = {
    # party: (sent, received, rejected, deliveries by status)
    # PA: manifest, confirmation and correction to 2 each, flag, retraction and request to US,
    # discrepancy response to CO, the US flag forwarded onward to CO; after CR joined, a flag to CR
    "PA": (8, 8, 0, {"delivered": 12}),
    "CO": (3, 5, 1, {"delivered": 3}),  # acknowledgement, discrepancy report, application ack → PA
    "US": (4, 6, 0, {"delivered": 4}),  # flag, two application acks, consent → PA
    "CR": (1, 1, 0, {"delivered": 1}),  # its flag to PA; PA's answering flag
}
BILATERAL = {
    # PA: manifest, confirmation, flag, correction, retraction, discrepancy response → CO
    "PA": (6, 5, 0, {"delivered": 6}),
    # CO: acknowledgement, flag, discrepancy report, two application acks → PA; the altered flag rejected
    "CO": (5, 6, 1, {"delivered": 5}),
}


def stored(workdir: Path, party: str) -> list[tuple[str, str, str, str | None, str, str | None]]:
    """Every record row of a demo node: (direction, type, verification, reason, status, peer).

    A record that failed verification has no trusted type: it shows as "-". An
    outgoing record a partner answered shows its status as "acknowledged by CO".
    """
    engine = make_engine(f"sqlite:///{workdir / party.lower() / 'gateway.sqlite3'}")
    try:
        with transaction(make_sessionmaker(engine)) as session:
            rows = session.execute(
                select(
                    StoredRecord.direction,
                    StoredRecord.record_type,
                    StoredRecord.verification,
                    StoredRecord.verification_reason,
                    StoredRecord.status,
                    StoredRecord.answered_by,
                    StoredRecord.peer_party,
                )
            ).all()
        return [(str(d), t or "-", str(v), r, f"{s} by {a}" if a else str(s), p) for d, t, v, r, s, a, p in rows]
    finally:
        engine.dispose()


def test_demo_with_one_flight_and_a_fourth_party_joining(tmp_path: Path) -> None:
    output = io.StringIO()

    summaries = run_demo(Console(file=output, width=200), flights=1, workdir=tmp_path, parties=PARTIES_WITH_CR)

    by_party = {s.party: (s.sent, s.received, s.rejected, s.deliveries) for s in summaries}
    assert by_party == EXPECTED
    assert [s.party for s in summaries] == ["PA", "CO", "US", "CR"]
    for summary in summaries:
        assert summary.receipts == sum(summary.deliveries.values())
        assert summary.deliveries.get("pending", 0) == summary.deliveries.get("dead", 0) == 0

    text = output.getvalue()
    assert "1 flight(s), 34 people" in text
    assert "altered record: CO answered a signed rejected receipt (bad_signature)" in text
    assert "refused at the sender: PA refused a flag about a minor (422 " in text
    assert "US refused a flag outside the terms (offence_not_allowed" in text

    pa, co, us, cr = (stored(tmp_path, party) for party in PARTIES_WITH_CR)
    assert Counter((d, t) for d, t, *_ in pa) == Counter(
        {
            ("out", "removal_manifest"): 1,
            ("out", "removal_confirmation"): 1,
            ("out", "criminal_network_flag"): 2,  # to US, and to CR after it joined
            ("out", "correction"): 1,
            ("out", "discrepancy_response"): 1,
            ("out", "retraction"): 1,
            ("out", "onward_sharing_request"): 1,
            ("in", "acknowledgement"): 1,
            ("in", "criminal_network_flag"): 2,  # from US, and from CR
            ("in", "discrepancy_report"): 1,
            ("in", "application_acknowledgement"): 3,
            ("in", "onward_sharing_consent"): 1,
        }
    )
    manifest_status = next(s for d, t, _v, _r, s, _p in pa if (d, t) == ("out", "removal_manifest"))
    assert manifest_status == "acknowledged by CO"
    assert sorted((t, v, r, s, p) for d, t, v, r, s, p in co if d == "in") == [
        ("-", "invalid", "bad_signature", "failed_verification", "PA"),
        ("correction", "valid", None, "new", "PA"),
        ("criminal_network_flag", "valid", None, "new", "PA"),  # US's flag, forwarded by PA with consent
        ("discrepancy_response", "valid", None, "new", "PA"),
        ("removal_confirmation", "valid", None, "new", "PA"),
        ("removal_manifest", "valid", None, "acknowledged", "PA"),
    ]
    assert sorted((t, p) for d, t, _v, _r, _s, p in us if d == "in") == [
        ("correction", "PA"),
        ("criminal_network_flag", "PA"),
        ("onward_sharing_request", "PA"),
        ("removal_confirmation", "PA"),
        ("removal_manifest", "PA"),
        ("retraction", "PA"),
    ]
    # Nothing refused at a sender was stored anywhere: the minor, the environmental-crime flag,
    # and CR's flag before every party signed the amendment. Sent: PA→US, US→PA, CR→PA, PA→CR.
    flags_sent = [row for rows in (pa, co, us, cr) for row in rows if row[:2] == ("out", "criminal_network_flag")]
    assert len(flags_sent) == 4
    assert sorted((d, t, v, s, p) for d, t, v, _r, s, p in cr) == [
        ("in", "criminal_network_flag", "valid", "new", "PA"),
        ("out", "criminal_network_flag", "valid", "sent", None),
    ]
    assert "applied by CO and US" in text
    assert "US deleted the body and acknowledged" in text
    assert "PA shared the US flag onward with CO" in text

    # CR joined by configuration: an admission in every node's bundle and an amendment all signed.
    assert "CR: PKI made; admitted by PA's signed admission into every node's trust bundle (4 parties)" in text
    assert (
        "before every party signed the amendment, CR→PA is refused: flow_not_signed: flow cr-flags-to-pa of "
        "pa-co-us-removal-mou v2 is not live: no valid signature of CO, US" in text
    )
    assert "terms pa-co-us-removal-mou v2 signed by every party: PA, CO, US, CR" in text
    assert "CR flagged a smuggling facilitator to PA; PA answered with a linked flag" in text
    for party in PARTIES_WITH_CR:
        bundle = TrustBundle.load(tmp_path / party.lower() / "trust-bundle.json")
        assert sorted(bundle.parties) == ["CO", "CR", "PA", "US"]
    table = text[text.index("MOU Gateway demo") :]
    assert [line.split()[1] for line in table.splitlines() if line.startswith("│ ")][:4] == ["PA", "CO", "US", "CR"]

    # The oversight report of each node states the scenario's known counts, without personal data.
    reports = {party: report_of(tmp_path, party) for party in ("PA", "CO", "US")}
    pa_report, co_report, us_report = reports["PA"], reports["CO"], reports["US"]
    # PA's 12 deliveries: 11 of its own records, and US's flag forwarded onward (counted as a notice)
    assert sum(s.delivered for s in pa_report.sent) == 11
    assert [(n.direction, n.party, n.count) for n in pa_report.notices if n.notice == "onward_forward"] == [
        ("out", "CO", 1)
    ]
    assert {(s.recipient, s.record_type): s.delivered for s in pa_report.sent if s.record_type == "correction"} == {
        ("CO", "correction"): 1,
        ("US", "correction"): 1,
    }
    assert (pa_report.corrections_issued, pa_report.retractions_issued) == (1, 1)
    assert sorted((i.record_type, i.recipient, i.applied) for i in pa_report.instructions_issued) == [
        ("correction", "CO", 1),
        ("correction", "US", 1),
        ("retraction", "US", 1),
    ]
    assert [(d.reason, d.direction, d.count) for d in pa_report.deletions] == [("retraction", "out", 1)]
    assert [(d.reason, d.direction, d.count) for d in us_report.deletions] == [("retraction", "in", 1)]
    assert [(r.reason, r.count) for r in co_report.rejections if r.direction == "in"] == [("bad_signature", 1)]
    assert sum(r.accepted for r in co_report.received) == 5
    assert sum(r.accepted for r in us_report.received) == 6
    rendered = csv_text(pa_report) + html_document(pa_report) + csv_text(co_report) + csv_text(us_report)
    for personal in ("F001-P34", "Hurtado", "1979-02-11", "LIAISON"):
        assert personal not in rendered


def test_bilateral_demo(tmp_path: Path) -> None:
    """A PA-CO deployment: the example terms narrowed to the two, CO the only partner."""
    output = io.StringIO()

    summaries = run_demo(Console(file=output, width=200), flights=1, workdir=tmp_path, parties=["PA", "CO"])

    assert {s.party: (s.sent, s.received, s.rejected, s.deliveries) for s in summaries} == BILATERAL
    text = output.getvalue()
    assert "terms pa-co-removal-mou v1 signed by CO, PA" in text
    assert "manifests to CO, CO acknowledgements, removal confirmations; PA↔CO criminal-network flags" in text
    assert "applied by CO (F001-P34)" in text
    assert "onward sharing: none in a bilateral deployment (there is no third party)" in text
    assert "altered record: CO answered a signed rejected receipt (bad_signature)" in text
    assert "CO refused a flag outside the terms (handling_too_permissive" in text
    assert sorted(TrustBundle.load(tmp_path / "pa" / "trust-bundle.json").parties) == ["CO", "PA"]
    assert not (tmp_path / "us").exists()
    assert sorted((d, t, p) for d, t, _v, _r, _s, p in stored(tmp_path, "CO") if t == "criminal_network_flag") == [
        ("in", "criminal_network_flag", "PA"),
        ("out", "criminal_network_flag", None),
    ]


@pytest.mark.parametrize(
    ("parties", "message"),
    [
        (["PA", "co"], "'co' is not a party code"),
        (["PA", "CO", "CRI"], "'CRI' is not a party code"),
        (["PA", "CO", "PA"], "a party is named twice"),
        (["PA", "US"], r"needs PA \(removing state\) and CO \(destination state\)"),
    ],
)
def test_demo_refuses_a_party_list_it_cannot_run(tmp_path: Path, parties: list[str], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        run_demo(Console(file=io.StringIO()), workdir=tmp_path / "demo", parties=parties)
    assert not (tmp_path / "demo").exists()  # refused before any key was made


def report_of(workdir: Path, party: str) -> OversightReport:
    engine = make_engine(f"sqlite:///{workdir / party.lower() / 'gateway.sqlite3'}")
    now = datetime.now(UTC)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            return build_report(session, _Clock(party, now), now - timedelta(days=1), now + timedelta(days=1))
    finally:
        engine.dispose()


@dataclass(frozen=True)
class _Clock:
    party: str
    at: datetime

    def now(self) -> datetime:
        return self.at
