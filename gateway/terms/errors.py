"""Errors of the terms domain. ``reason_code`` is what a signed rejected receipt carries."""

from __future__ import annotations

from typing import ClassVar

from gateway.errors import GatewayError


class TermsFileError(GatewayError):
    slug = "terms-file"
    title = "Terms file invalid"
    status = 500
    hint = "check the terms YAML against schemas/terms.schema.json"


class TermsSignatureError(GatewayError):
    slug = "terms-signature"
    title = "Terms signature invalid"
    status = 422


class TermsViolationError(GatewayError):
    """A record the terms in force do not allow; names the rule."""

    slug = "terms-violation"
    title = "Not allowed by the MOU terms"
    status = 422
    reason_code: ClassVar[str] = "terms_violation"

    def __init__(self, reason_code: str, detail: str, *, rule: str | None = None) -> None:
        super().__init__(detail)
        self.rule_code = reason_code
        self.rule = rule or reason_code
        self.extra = {"rule": self.rule, "reason_code": reason_code}
