"""Removing signed records, keys and credentials from text before it is logged.

The gateway never logs record bodies on purpose; these patterns are the net
under that rule, for text that reaches a log line by accident (an exception
message quoting a request, a partner's error answer, a misused ``%s``).
"""

from __future__ import annotations

import re

REDACTED_JWS = "[REDACTED JWS]"
REDACTED_PEM = "[REDACTED PEM]"
REDACTED_DER = "[REDACTED DER]"
REDACTED = "[REDACTED]"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # PEM blocks (keys, certificates, CRLs), also when cut off before their END line.
    (
        re.compile(r"-----BEGIN [A-Z0-9 ]{1,40}-----(?:.*?-----END [A-Z0-9 ]{1,40}-----|.*\Z)", re.DOTALL),
        REDACTED_PEM,
    ),
    # A compact JWS or JWT, or its header/payload alone: base64url of a JSON object
    # starts with "eyJ" ('{"'). Detached JWS (empty payload) included.
    (re.compile(r"eyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){0,2}"), REDACTED_JWS),
    # Unarmoured DER in base64 (x5c entries, keys pasted without PEM lines).
    (re.compile(r"MI[A-Za-z0-9+/]{60,}={0,2}"), REDACTED_DER),
    # HTTP credentials.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + REDACTED),
    # key=value credentials in forms, URLs and messages.
    (
        re.compile(r"(?i)\b(client_secret|password|passwd|secret|access_token|token)=([^&\s\"',;]+)"),
        r"\1=" + REDACTED,
    ),
    # Passwords inside database URLs: scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]+):[^@\s/]+@"), r"\1:" + REDACTED + "@"),
)


def redact(text: str) -> str:
    """Return ``text`` with anything looking like a JWS, PEM/DER block or credential replaced."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
