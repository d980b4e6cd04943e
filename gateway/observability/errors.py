"""Errors of the operations layer."""

from __future__ import annotations

import math

from gateway.errors import GatewayError


class RateLimitedError(GatewayError):
    """A partner or API client sent more requests than its per-minute allowance.

    ``headers`` carries ``Retry-After`` (whole seconds); the problem handler
    sends it with the 429 answer.
    """

    slug = "rate-limited"
    title = "Too many requests"
    status = 429
    hint = "wait for the number of seconds in Retry-After, then send again"

    def __init__(self, detail: str, *, retry_after_seconds: float) -> None:
        super().__init__(detail)
        self.retry_after = max(1, math.ceil(retry_after_seconds))
        self.headers = {"Retry-After": str(self.retry_after)}
