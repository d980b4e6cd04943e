"""The one error hierarchy of the gateway.

Every error the gateway raises on purpose is a :class:`GatewayError`. Each
subclass carries a stable problem ``type`` slug, a title and an HTTP status, so
a single handler turns any of them into RFC 9457 ``application/problem+json``
and the CLI into a one-line message with a hint of what to do.
"""

from __future__ import annotations

from typing import ClassVar

PROBLEM_BASE = "https://mou-gateway.example/problems/"


class GatewayError(Exception):
    """Base of every deliberate gateway error."""

    slug: ClassVar[str] = "gateway-error"
    title: ClassVar[str] = "Gateway error"
    status: ClassVar[int] = 400
    hint: str = ""  # class default; an instance may carry its own

    def __init__(self, detail: str, *, hint: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if hint is not None:
            self.hint = hint

    @classmethod
    def type_uri(cls) -> str:
        """Return the stable problem type URI of this error class."""
        return PROBLEM_BASE + cls.slug

    def cli_message(self) -> str:
        """Return the one-line message the CLI prints (what is wrong, what to do)."""
        message = f"{self.title}: {self.detail}"
        return f"{message} — {self.hint}" if self.hint else message


class ConfigurationError(GatewayError):
    slug = "configuration"
    title = "Configuration error"
    status = 500
    hint = "check the GATEWAY_* environment variables or the --config file"


class InputError(GatewayError):
    """Input from a user or a file that cannot be used as given."""

    slug = "invalid-input"
    title = "Invalid input"
    status = 400


class NotFoundError(GatewayError):
    slug = "not-found"
    title = "Not found"
    status = 404


class ConflictError(GatewayError):
    slug = "conflict"
    title = "Conflict"
    status = 409
