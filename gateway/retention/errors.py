"""Errors of retention and legal holds (the record-not-held case is the lifecycle's NotHeldError)."""

from __future__ import annotations

from gateway.errors import ConflictError, GatewayError


class LegalHoldReasonError(GatewayError):
    slug = "legal-hold-reason-required"
    title = "A legal hold needs a reason"
    status = 422
    hint = "give the case or order the hold serves (1 to 500 characters)"


class LegalHoldExistsError(ConflictError):
    slug = "legal-hold-exists"
    title = "The record is already under a legal hold"
    hint = "release the hold first to place it again with another reason"


class NoLegalHoldError(ConflictError):
    slug = "no-legal-hold"
    title = "The record is not under a legal hold"
