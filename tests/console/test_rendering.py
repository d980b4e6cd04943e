"""Labels and formatting: every label a template asks for exists in English and Spanish."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from gateway.console.i18n import LABELS, pick_language, translator
from gateway.console.rendering import TEMPLATES_DIR, build_templates, when
from gateway.ledger.events import AuditEvent
from gateway.records.bodies import (
    AckDecision,
    ActionRequested,
    FlagBasis,
    GroundsCategory,
    HandoverStatus,
    RemovalMeasure,
    SubjectStatus,
)
from gateway.records.identity import DocumentType, OffenceCategory
from gateway.records.schemas import Handling, RecordType

LITERAL_KEY = re.compile(r"""\bt\(\s*["']([a-z_.-]+)["']\s*\)""")


def test_every_literal_label_of_the_templates_is_translated() -> None:
    used = {
        key for template in TEMPLATES_DIR.glob("*.html") for key in LITERAL_KEY.findall(template.read_text("utf-8"))
    }
    assert len(used) > 100
    assert sorted(used - LABELS.keys()) == []


@pytest.mark.parametrize(
    ("prefix", "values"),
    [
        ("type.", [t.value for t in RecordType]),
        ("event.", [e.value for e in AuditEvent]),
        ("offence.", [c.value for c in OffenceCategory]),
        ("handling.", [h.value for h in Handling]),
        ("subject_status.", [s.value for s in SubjectStatus]),
        ("basis.", [b.value for b in FlagBasis]),
        ("action_requested.", [a.value for a in ActionRequested]),
        ("grounds.", [g.value for g in GroundsCategory]),
        ("measure.", [m.value for m in RemovalMeasure]),
        ("handover.", [h.value for h in HandoverStatus]),
        ("document.", [d.value for d in DocumentType]),
        ("decision.", [d.value for d in AckDecision]),
        ("reliability.", ["A", "B", "C", "X"]),
        ("accuracy.", ["1", "2", "3", "4"]),
        ("status.", ["new", "acknowledged", "queried", "rejected", "invalid", "sent"]),
        ("delivery.", ["pending", "delivered", "rejected", "dead"]),
        ("role.", ["viewer", "reviewer", "admin"]),
    ],
)
def test_every_domain_value_has_a_label(prefix: str, values: list[str]) -> None:
    missing = [value for value in values if prefix + value not in LABELS]
    assert missing == []


def test_spanish_and_english_labels() -> None:
    english, spanish = translator("en"), translator("es")
    assert english("nav.inbox") == "Inbox"
    assert spanish("nav.inbox") == "Bandeja de entrada"
    assert spanish("verification.invalid") == "INVÁLIDO"
    assert spanish("no.such.key") == "no.such.key"
    assert all(en and es for en, es in LABELS.values())


@pytest.mark.parametrize(
    ("query", "cookie", "accept", "expected"),
    [
        ("es", None, None, "es"),
        (None, "es", "en-GB", "es"),
        ("en", "es", "es-PA", "en"),
        (None, None, "es-CO,es;q=0.9", "es"),
        ("fr", "xx", "fr-FR", "en"),
    ],
)
def test_language_choice(query: str | None, cookie: str | None, accept: str | None, expected: str) -> None:
    assert pick_language(query, cookie, accept) == expected


def test_times_are_shown_in_utc_to_the_second() -> None:
    assert when("2026-11-25T18:48:25.627770Z") == "2026-11-25 18:48:25 UTC"
    assert when(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02 03:04:05 UTC"
    assert when("1977-08-23") == "1977-08-23"
    assert when(None) == "—"


def test_templates_autoescape() -> None:
    environment = build_templates().env
    rendered = environment.from_string("{{ value }}").render(value="<script>x</script>")
    assert rendered == "&lt;script&gt;x&lt;/script&gt;"
    assert environment.get_template("macros.html") is not None
