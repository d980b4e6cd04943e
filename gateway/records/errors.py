"""Errors of the records domain."""

from __future__ import annotations

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
