"""The record page as a response: shown after a GET, and again with the error when an action fails.

Both ``api`` (answers) and ``lifecycle_api`` (lifecycle actions) render it, so
an action refused by the domain shows its reason on the record itself
instead of an error page.
"""

from __future__ import annotations

import re
from typing import Final

from fastapi import Request
from fastapi.responses import HTMLResponse

from gateway.console import review
from gateway.console.errors import PageNotFound
from gateway.console.lifecycle import DISCREPANCY_CATEGORIES, DONE, RETRACTION_REASONS, SUBSTANTIVE
from gateway.console.rendering import render
from gateway.console.schemas import OfficerPrincipal
from gateway.errors import GatewayError
from gateway.node import Node
from gateway.records import repository as records

DONE_NOTICES: Final = (*review.DECISIONS, *DONE)
# Received types the answer form (acknowledge / query / reject) is about; lifecycle notices have their own.
ANSWERED_TYPES: Final = (*sorted(SUBSTANTIVE), "acknowledgement")


_RECORD_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def record_pk_for(node: Node, value: str) -> int:
    """Return the primary key of the record a path names: its number here, or its record id.

    An officer pastes the record id a partner or an agency system quoted; when
    this node holds several rows under it (a refused copy and the accepted
    one), the accepted copy is shown. Raises PageNotFound quoting the whole id.
    """
    if value.isdigit() and len(value) <= 12:
        return int(value)
    record_id = value.strip().lower()
    if _RECORD_ID.fullmatch(record_id):
        with node.transaction() as session:
            rows = records.by_record_id(session, record_id)
        if rows:
            return next((r.pk for r in rows if r.accepted_record_id), rows[0].pk)
        raise PageNotFound(f"no record {record_id} at this node")
    raise PageNotFound(f"no record {value[:80]!r} at this node (give its record id or number)")


def pk_of(value: str, what: str = "record") -> int:
    """Return the primary key in a path segment; raises PageNotFound for anything but a short number."""
    if not value.isdigit() or len(value) > 12:
        raise PageNotFound(f"no {what} {value[:20]!r} at this node")
    return int(value)


def record_response(
    request: Request,
    node: Node,
    officer: OfficerPrincipal,
    record_pk: int,
    *,
    done: str | None = None,
    error: GatewayError | None = None,
) -> HTMLResponse:
    """Render the record page (a ledger view event); with ``error``, show why the action failed.

    The status is the error's (a 4xx) when there is one. Raises PageNotFound.
    """
    with node.transaction() as session:
        page = review.view_record(session, node, officer, record_pk)
    status = 200
    if error is not None:
        status = error.status if 400 <= error.status < 500 else 409
    return render(
        request,
        "record.html",
        {
            "section": "inbox" if page.view.stored.direction == "in" else "outbox",
            "view": page.view,
            "timeline": page.timeline,
            "actor_names": page.actor_names,
            "answers": page.answers,
            "partner_answers": page.partner_answers,
            "answerable": page.answerable,
            "raw_claimed": page.raw_claimed,
            "lifecycle": page.lifecycle,
            "answered_types": ANSWERED_TYPES,
            "retraction_reasons": RETRACTION_REASONS,
            "discrepancy_categories": DISCREPANCY_CATEGORIES,
            "done": done if done in DONE_NOTICES else None,
            "error": error,
        },
        officer=officer,
        status_code=status,
    )
