"""Structured logs: one JSON object per line, with the correlation id of the request or delivery.

The correlation id lives in a context variable. The agency and partner
listeners set it for each request (the id they answer in ``X-Correlation-ID``);
the delivery worker sets a fresh one per delivery and sends it to the partner,
so one id follows a record across both nodes' logs.

Every handler installed here redacts JWS, PEM/DER and credentials (see
:mod:`gateway.observability.redaction`); extra fields must be scalars, so a
record body passed by mistake as ``extra=`` is dropped, never written.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal, TextIO

from gateway.observability.redaction import redact

LogFormat = Literal["json", "text"]

correlation_id_var: ContextVar[str | None] = ContextVar("gateway_correlation_id", default=None)

_MAX_FIELD_CHARS = 2000
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s"
# Attributes every LogRecord has; anything else on a record came in through ``extra=``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "correlation_id",
    "color_message",
    "taskName",
}


def current_correlation_id() -> str | None:
    """Return the correlation id of the request or delivery being handled, if any."""
    return correlation_id_var.get()


def begin_delivery() -> str:
    """Start a delivery's log context: return a fresh correlation id, set for this thread."""
    value = uuid.uuid4().hex
    correlation_id_var.set(value)
    return value


def end_delivery() -> None:
    """Leave the delivery's log context (later lines of the worker carry no id)."""
    correlation_id_var.set(None)


class CorrelationIdFilter(logging.Filter):
    """Puts the current correlation id on every record (unless the caller gave one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "correlation_id", None):
            record.correlation_id = correlation_id_var.get()
        return True


class RedactingFilter(logging.Filter):
    """Rewrites each record's message and traceback with JWS, PEM and credentials redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True  # a broken format string; the handler reports it as such
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def _scalar(value: object) -> str | int | float | bool | None:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact(value)[:_MAX_FIELD_CHARS]
    # Structured values could be a record body or a key: never serialized.
    return f"<{type(value).__name__} omitted>"


def _timestamp(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, correlation_id, scalar extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "correlation_id": getattr(record, "correlation_id", None) or correlation_id_var.get(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and key not in entry and not key.startswith("_"):
                entry[key] = _scalar(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = redact(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """Human-readable lines (``log_format = "text"``), redacted like the JSON ones."""

    def __init__(self) -> None:
        super().__init__(_TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "correlation_id"):
            record.correlation_id = correlation_id_var.get()
        return redact(super().format(record))


def log_handler(log_format: LogFormat, stream: TextIO | None = None) -> logging.Handler:
    """Return a stream handler with the gateway's formatter, correlation and redaction filters."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(CorrelationIdFilter())
    handler.addFilter(RedactingFilter())
    return handler


def configure_logging(level: str, log_format: LogFormat = "json", stream: TextIO | None = None) -> logging.Handler:
    """Send every log record of the process to one redacting handler; returns that handler.

    Replaces the root logger's handlers (``gateway serve`` and ``gateway
    worker`` own their process) and sets its level.
    """
    handler = log_handler(log_format, stream)
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request at INFO; deliveries and witnessing have their own lines.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(level if level == "DEBUG" else "WARNING")
    logging.captureWarnings(True)
    return handler
