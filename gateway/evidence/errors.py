"""Errors of evidence bundles: each names the part of the bundle that failed."""

from __future__ import annotations

from gateway.errors import GatewayError


class EvidenceError(GatewayError):
    """An evidence bundle, or one of its parts, that does not prove what it claims."""

    slug = "evidence-refused"
    title = "Evidence refused"
    status = 422

    def __init__(self, part: str, detail: str, *, hint: str | None = None) -> None:
        super().__init__(f"{part}: {detail}", hint=hint)
        self.part = part


class EvidenceNotFoundError(GatewayError):
    """No record (or no receipt of it) to export."""

    slug = "evidence-not-found"
    title = "Nothing to export"
    status = 404
