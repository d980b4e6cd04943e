"""The agency listener's request-body guard: a size limit and strict JSON, before any route runs.

FastAPI reads a whole body and parses it with ``json.loads`` (duplicate keys:
last one wins). The partner listener reads bodies itself
(``edge.read_body`` and ``trust.canonical.parse_strict``); the agency
listener has many routes, so one pure ASGI middleware does the same for all of
them: it reads at most ``limit`` bytes (refusing a larger declared
Content-Length without reading, and a chunked body as soon as it passes the
limit), refuses duplicate keys in a JSON body, then replays the body to the app.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import GatewayError
from gateway.problems import send_problem

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class BodyTooLarge(GatewayError):
    slug = "payload-too-large"  # the partner listener's type for the same refusal
    title = "Payload too large"
    status = 413
    hint = "send a smaller body"


class DuplicateJsonKey(GatewayError):
    slug = "duplicate-json-key"
    title = "Duplicate JSON key"
    status = 400
    hint = "send each member of a JSON object once"


class _Duplicate(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Duplicate(key)
            seen.add(key)
    return result


def duplicate_key(body: bytes) -> str | None:
    """Return the first key repeated within one JSON object of ``body``, or None.

    Any other defect (not JSON, not UTF-8, too deep) is left to the route's own
    validation, which answers it as before.
    """
    try:
        json.loads(body, object_pairs_hook=_refuse_duplicates)
    except _Duplicate as exc:
        return exc.key
    except (ValueError, RecursionError):
        return None
    return None


def _is_json(content_type: str | None) -> bool:
    # FastAPI parses a body without a content type as JSON too.
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class BodyGuardMiddleware:
    """Refuse bodies over ``limit`` bytes (413) and JSON with repeated keys (400), as problem+json."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send, BodyTooLarge(self._too_large(f"{int(declared)} bytes")))
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, receive, send, BodyTooLarge(self._too_large("the body")))
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        if body and _is_json(headers.get("content-type")):
            key = duplicate_key(body)
            if key is not None:
                shown = key if len(key) <= 64 else key[:64] + "..."
                await self._refuse(scope, receive, send, DuplicateJsonKey(f"the key {shown!r} appears twice"))
                return
        await self.app(scope, _replay(body, receive), send)

    def _too_large(self, what: str) -> str:
        return f"{what} exceeds the agency listener's {self.limit}-byte limit (agency_body_limit_bytes)"

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, error: GatewayError) -> None:
        # The rest of a refused body is not read: the connection cannot be reused.
        headers = {"Connection": "close"} if isinstance(error, BodyTooLarge) else None
        await send_problem(scope, receive, send, error, headers)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # http.disconnect, when the client goes

    return replay
