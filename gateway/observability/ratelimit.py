"""Per-minute rate limits: a token bucket per partner (partner listener) and per API client.

The buckets live in the memory of one process. A party running N ``serve``
processes behind a load balancer therefore allows up to N times the
configured rate in total; set the per-process figure with that in mind.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from gateway.clients.errors import InvalidToken
from gateway.clients.service import principal_for_token
from gateway.node import Node

Clock = Callable[[], float]


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBucketLimiter:
    """Allows ``per_minute`` requests per key in a burst, refilled at ``per_minute``/60 per second."""

    def __init__(self, per_minute: int, *, clock: Clock = time.monotonic, max_keys: int = 50_000) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.capacity = float(per_minute)
        self.refill_per_second = per_minute / 60.0
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """Take one request from ``key``'s bucket: return 0.0, or the seconds until one is allowed."""
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self.max_keys:
                    self._prune(now)
                bucket = self._buckets[key] = _Bucket(self.capacity, now)
            else:
                elapsed = max(0.0, now - bucket.updated)
                bucket.tokens = min(self.capacity, bucket.tokens + elapsed * self.refill_per_second)
                bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.refill_per_second

    def _prune(self, now: float) -> None:
        # Full buckets carry no state worth keeping; drop them, then the longest idle.
        refill_time = self.capacity / self.refill_per_second
        for key in [k for k, b in self._buckets.items() if now - b.updated >= refill_time]:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:
            oldest = sorted(self._buckets, key=lambda k: self._buckets[k].updated)
            for key in oldest[: len(oldest) // 2 or 1]:
                del self._buckets[key]


class ClientIdentities:
    """Which API client a bearer token belongs to, remembered per token (LRU, in memory).

    Only the rate limiter uses this; authorization still checks every token
    in the route. An unknown or expired token maps to None (the caller is then
    limited by address).
    """

    def __init__(self, node: Node, max_entries: int = 10_000) -> None:
        self.node = node
        self.max_entries = max_entries
        self._known: OrderedDict[str, str | None] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _digest(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()

    def cached(self, token: str) -> tuple[bool, str | None]:
        """Return (known, client_id) without touching the database."""
        digest = self._digest(token)
        with self._lock:
            if digest in self._known:
                self._known.move_to_end(digest)
                return True, self._known[digest]
        return False, None

    def resolve(self, token: str) -> str | None:
        """Return the client id of ``token`` (None when invalid), looking it up once (blocking)."""
        known, client_id = self.cached(token)
        if known:
            return client_id
        try:
            with self.node.transaction() as session:
                client_id = principal_for_token(session, token, self.node.now()).client_id
        except InvalidToken:
            client_id = None
        with self._lock:
            self._known[self._digest(token)] = client_id
            while len(self._known) > self.max_entries:
                self._known.popitem(last=False)
        return client_id


def bearer_token(authorization: str | None) -> str | None:
    """Return the token of an ``Authorization: Bearer`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None
