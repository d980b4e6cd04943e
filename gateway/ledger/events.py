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
    TERMS_SIGNED = "terms:terms:signed"
    CLIENT_CREATED = "clients:client:created"
    OFFICER_CREATED = "console:officer:created"
    KEY_ADDED = "trust:key:added"
    KEY_REVOKED = "trust:key:revoked"
    CHECKPOINT_SIGNED = "ledger:checkpoint:signed"
    CHECKPOINT_WITNESSED = "ledger:checkpoint:witnessed"
    CHECKPOINT_FORK = "ledger:checkpoint:fork"
