"""Errors of the records domain."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.errors import ConflictError, GatewayError, NotFoundError


class RecordNotFoundError(NotFoundError):
    slug = "record-not-found"
    title = "Record not found"


class OriginatorMismatchError(GatewayError):
    slug = "originator-party"
    title = "Originator party is not this node's party"
    status = 422


class IdempotencyKeyReusedError(ConflictError):
    slug = "idempotency-key-reused"
    title = "Idempotency-Key already used for a different request"
    status = 422


class NotAcknowledgeableError(GatewayError):
    slug = "not-acknowledgeable"
    title = "Record cannot be acknowledged"
    status = 409


class LifecycleEndpointRequiredError(GatewayError):
    slug = "lifecycle-operation-required"
    title = "Lifecycle records are issued through their own operation"
    status = 422


class RecordIdAmbiguousError(ConflictError):
    """Several originators hold records under one id here; the caller must name the originator."""

    slug = "record-id-ambiguous"
    title = "Record id held by more than one originator"
    hint = "repeat the request with ?originator=<party code>"

    def __init__(self, record_id: str, originators: Iterable[str]) -> None:
        parties = sorted(set(originators))
        super().__init__(f"record id {record_id} is held here from originators {', '.join(parties)}")
        self.extra = {"record_id": record_id, "originators": parties}


class RecordIdInUseError(GatewayError):
    slug = "record-id-in-use"
    title = "Record id already in use at this node"
    status = 422
    hint = "leave record_id out of the draft: the node mints a fresh UUIDv7"
