"""The exception a receive policy raises to reject a verified record (with a receipt reason code)."""

from __future__ import annotations


class PolicyRefusal(Exception):
    """A verified record that this node's rules refuse; carries the receipt reason code."""

    def __init__(self, reason_code: str, detail: str) -> None:
        super().__init__(detail)
        self.reason_code = reason_code
        self.detail = detail
