"""Errors of the record lifecycle."""

from __future__ import annotations

from gateway.errors import ConflictError, GatewayError


class NotOriginatorError(GatewayError):
    slug = "not-originator"
    title = "Only the originator may do this"
    status = 403


class NotHeldError(GatewayError):
    slug = "record-not-held"
    title = "This node holds no such record"
    status = 404


class AlreadySupersededError(ConflictError):
    slug = "already-superseded"
    title = "The record was already corrected"


class RecordWithdrawnError(ConflictError):
    slug = "record-withdrawn"
    title = "The record was retracted or its body deleted"


class OnwardSharingForbiddenError(GatewayError):
    slug = "onward-sharing-forbidden"
    title = "The terms forbid sharing this record onward"
    status = 403


class OnwardConsentMissingError(GatewayError):
    slug = "onward-consent-missing"
    title = "No consent of the originator to share this record onward"
    status = 403


class WrongRecordTypeError(GatewayError):
    slug = "wrong-record-type"
    title = "The record is not of the type this operation answers"
    status = 409
