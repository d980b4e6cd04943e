"""Errors of the partner exchange API."""

from __future__ import annotations

from gateway.errors import ConflictError, GatewayError


class RecordConflictError(ConflictError):
    slug = "record-id-conflict"
    title = "Record id already received with other bytes"


class UnsupportedMediaTypeError(GatewayError):
    slug = "unsupported-media-type"
    title = "Unsupported media type"
    status = 415


class PayloadTooLargeError(GatewayError):
    slug = "payload-too-large"
    title = "Payload too large"
    status = 413


class BatchTooLargeError(GatewayError):
    slug = "batch-too-large"
    title = "Too many records in one batch"
    status = 413


class MalformedBatchError(GatewayError):
    slug = "malformed-batch"
    title = "Malformed batch"
    status = 400


class PeerCertificateRequiredError(GatewayError):
    slug = "peer-certificate-required"
    title = "A partner client certificate is required"
    status = 403


class PeerCertificateRefusedError(PeerCertificateRequiredError):
    """The TLS client certificate chains to a partner CA but fails path validation or its purpose."""

    slug = "peer-certificate-refused"
    title = "The partner client certificate is refused"


class DeliveryNotFoundError(GatewayError):
    slug = "delivery-not-found"
    title = "Delivery not found"
    status = 404
