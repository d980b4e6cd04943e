"""Names of audit events: ``domain:subject:action``."""

from __future__ import annotations

from enum import StrEnum


class AuditEvent(StrEnum):
    RECORD_CREATED = "records:record:created"
    RECORD_VIEWED = "records:record:viewed"
    RECORD_ACKNOWLEDGED = "records:record:acknowledged"
    RECORD_SENT = "exchange:record:sent"
    RECORD_RECEIVED = "exchange:record:received"
    RECORD_REJECTED = "exchange:record:rejected"
    RECORD_REFUSED = "records:record:refused"
    DELIVERY_FAILED = "exchange:delivery:failed"
    DELIVERY_DEAD = "exchange:delivery:dead"
    DELIVERY_REJECTED = "exchange:delivery:rejected"
    DELIVERY_RETRIED = "exchange:delivery:retried"
    RECORD_CORRECTED = "records:record:corrected"
    RECORD_SUPERSEDED = "records:record:superseded"
    RECORD_RETRACTED = "records:record:retracted"
    RECORD_CONTESTED = "records:record:contested"
    DISCREPANCY_ANSWERED = "records:discrepancy:answered"
    BODY_DELETED = "records:body:deleted"
    # The standing check found the record suspect (its signing key compromised before the receipt);
    # subject: the record id, as for views and acknowledgements.
    RECORD_SUSPECTED = "records:record:suspected"
    LEGAL_HOLD_PLACED = "records:hold:placed"
    LEGAL_HOLD_RELEASED = "records:hold:released"
    ONWARD_REQUESTED = "records:onward:requested"
    ONWARD_CONSENTED = "records:onward:consented"
    ONWARD_REFUSED = "records:onward:refused"
    ONWARD_FORWARDED = "records:onward:forwarded"
    DELIVERY_CANCELLED = "exchange:delivery:cancelled"
    TERMS_SIGNED = "terms:terms:signed"
    CLIENT_CREATED = "clients:client:created"
    CLIENT_AGENCY_SET = "clients:client:agency_set"
    OFFICER_CREATED = "console:officer:created"
    OFFICER_SIGNED_IN = "console:officer:signed_in"  # subject: signin:<method>:<provider subject or name>
    SUSPECT_NOTICE_DISMISSED = "console:notice:dismissed"  # subject: the suspect record's id; actor: the officer
    KEY_ADDED = "trust:key:added"
    KEY_REVOKED = "trust:key:revoked"
    CHECKPOINT_SIGNED = "ledger:checkpoint:signed"
    CHECKPOINT_WITNESSED = "ledger:checkpoint:witnessed"
    CHECKPOINT_FORK = "ledger:checkpoint:fork"
