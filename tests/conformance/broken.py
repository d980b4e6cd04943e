"""Deliberately broken variants of our partner listener, built by wrapping its ASGI app in tests only.

Each wrapper breaks one requirement of docs/protocol.md; the kit must fail the
cases that cover it. Nothing here is reachable from production code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode

from cryptography.hazmat.primitives.serialization import Encoding
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.trust.canonical import canonicalize
from gateway.trust.jws import RECEIPT_TYP, b64url_decode, b64url_encode, sign_compact
from gateway.trust.keys import SigningKey

Rewrite = Callable[[Scope, int, bytes], tuple[int, bytes]]


def rewrite_responses(app: ASGIApp, applies: Callable[[Scope], bool], rewrite: Rewrite) -> ASGIApp:
    """Wrap ``app``: the responses to requests ``applies`` selects are buffered and rewritten."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not applies(scope):
            await app(scope, receive, send)
            return
        start: dict[str, Message] = {}
        chunks: list[bytes] = []

        async def buffer(message: Message) -> None:
            if message["type"] == "http.response.start":
                start["message"] = message
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            status, body = rewrite(scope, start["message"]["status"], b"".join(chunks))
            headers = [(k, v) for k, v in start["message"]["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start["message"], "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await app(scope, receive, buffer)

    return wrapped


def _posts_records(scope: Scope) -> bool:
    return scope["method"] == "POST" and str(scope["path"]).endswith("/v1/exchange/records")


def unsigned_receipts(app: ASGIApp) -> ASGIApp:
    """Receipts whose signature is not the receiver's: the last signature byte is flipped."""

    def rewrite(_scope: Scope, status: int, body: bytes) -> tuple[int, bytes]:
        if status not in (200, 201):
            return status, body
        header, payload, signature = body.decode().split(".")
        raw = bytearray(b64url_decode(signature))
        raw[-1] ^= 0x01
        return status, f"{header}.{payload}.{b64url_encode(bytes(raw))}".encode()

    return rewrite_responses(app, _posts_records, rewrite)


def wrong_reason_codes(key: SigningKey) -> Callable[[ASGIApp], ASGIApp]:
    """Rejected receipts, properly signed, that always give the reason code ``untrusted``."""

    def wrap(app: ASGIApp) -> ASGIApp:
        def rewrite(_scope: Scope, status: int, body: bytes) -> tuple[int, bytes]:
            if status not in (200, 201):
                return status, body
            document = json.loads(b64url_decode(body.decode().split(".")[1]))
            if document.get("verdict") != "rejected":
                return status, body
            document["reason_code"] = "untrusted"
            return status, sign_compact(canonicalize(document), key, RECEIPT_TYP).encode()

        return rewrite_responses(app, _posts_records, rewrite)

    return wrap


def replay_answered_201(app: ASGIApp) -> ASGIApp:
    """A replay of the same bytes is answered 201, as if it were new."""
    return rewrite_responses(app, _posts_records, lambda _s, status, body: (201 if status == 200 else status, body))


def any_partner_is(pem_of_party: bytes, *, also_without: bool = False) -> Callable[[ASGIApp], ASGIApp]:
    """Every client certificate is taken for one party's: another party's connection is accepted as it.

    ``also_without``: a connection without a certificate too (with a handshake
    that does not require one).
    """
    from cryptography import x509

    pem = x509.load_pem_x509_certificate(pem_of_party).public_bytes(Encoding.PEM).decode()

    def wrap(app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            tls = scope.get("extensions", {}).get("tls")
            if scope["type"] == "http" and tls and (tls.get("client_cert_chain") or also_without):
                scope = {**scope, "extensions": {**scope["extensions"], "tls": {**tls, "client_cert_chain": [pem]}}}
            await app(scope, receive, send)

        return wrapped

    return wrap


_SIZE_PARAMETERS = {"/v1/exchange/proofs/inclusion": "tree_size", "/v1/exchange/proofs/consistency": "second"}


def proofs_for_smaller_tree(app: ASGIApp) -> ASGIApp:
    """Proofs computed for the tree one entry smaller than asked, labelled with the size asked for."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        name = _SIZE_PARAMETERS.get(str(scope.get("path", ""))) if scope["type"] == "http" else None
        if name is None:
            await app(scope, receive, send)
            return
        query = dict(parse_qsl(scope["query_string"].decode()))
        asked = query.get(name, "")
        if asked.isdigit() and int(asked) > 2:
            query[name] = str(int(asked) - 1)
        inner = {**scope, "query_string": urlencode(query).encode()}

        def relabel(_scope: Scope, status: int, body: bytes) -> tuple[int, bytes]:
            if status != 200 or not asked.isdigit():
                return status, body
            document = json.loads(body)
            document[name] = int(asked)
            return status, json.dumps(document).encode()

        await rewrite_responses(app, lambda _s: True, relabel)(inner, receive, send)

    return wrapped
