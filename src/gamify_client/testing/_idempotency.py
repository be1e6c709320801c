"""``Idempotency-Key`` support for the reference backend: a write sent again with the same key
gets the first answer again and is not applied twice (Stripe's rules, which the real service
does not have: it ignores the header).

- The first request with a key is handled and its answer (whatever the status) is kept.
- A later request with the same key and the same method, path and body gets that answer
  again, marked ``Idempotent-Replayed: true``; the handler does not run.
- The same key with another method, path or body is a client bug: 422, nothing applied.
- Keys are kept for ``ttl`` seconds and at most ``capacity`` of them (oldest dropped first),
  so the table stays bounded however long the server runs.

Every answer to a request that carried a key echoes it back (``Idempotency-Key``): that is how
a client learns that this server honours keys. Reads (GET, HEAD, OPTIONS) are never stored.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ._express import BackendResponse, encode_json

__all__ = ["IdempotencyKeys"]

_HEADER = "idempotency-key"
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class _Kept:
    fingerprint: str
    response: BackendResponse
    stored_at: float


class IdempotencyKeys:
    """The keys the backend has seen and their first answers. ``enabled = False`` makes the
    backend ignore the header, as the real service does."""

    def __init__(
        self,
        *,
        ttl: float = 24 * 3600.0,
        capacity: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = True
        self.ttl = ttl
        self.capacity = capacity
        self._clock = clock
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        # One lock for the whole exchange: two requests with one key must not both reach the
        # handler. The handler itself is synchronous and quick, so holding it is cheap.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._kept)

    def answer(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        handle: Callable[[], BackendResponse],
    ) -> BackendResponse:
        """The answer to one request: ``handle()``'s, or the stored one for a repeated key.
        ``headers`` has its names in lower case, as the backend passes them."""
        key = _header(headers) if self.enabled else None
        if key is None:
            return handle()
        if method.upper() in _READS:
            return _echo(handle(), key)
        fingerprint = _fingerprint(method, path, body)
        with self._lock:
            self._expire()
            kept = self._kept.get(key)
            if kept is not None:
                if kept.fingerprint != fingerprint:
                    return _echo(_mismatch(), key)
                return _echo(kept.response, key, replayed=True)
            response = handle()
            self._kept[key] = _Kept(fingerprint, response, self._clock())
            while len(self._kept) > self.capacity:
                self._kept.popitem(last=False)
        return _echo(response, key)

    def _expire(self) -> None:
        # Entries are in insertion order, so the expired ones are at the front: the cost is the
        # number that expire, not the number kept.
        horizon = self._clock() - self.ttl
        while self._kept:
            oldest = next(iter(self._kept.values()))
            if oldest.stored_at > horizon:
                return
            self._kept.popitem(last=False)


def _header(headers: Mapping[str, str]) -> str | None:
    return headers.get(_HEADER, "").strip() or None


def _fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256(body).hexdigest()
    return f"{method.upper()} {path} {digest}"


def _mismatch() -> BackendResponse:
    body = encode_json(
        {"message": "Idempotency-Key was already used with another request (method, path or body)"}
    )
    return BackendResponse(422, [("Content-Type", "application/json; charset=utf-8")], body)


def _echo(response: BackendResponse, key: str, *, replayed: bool = False) -> BackendResponse:
    headers = [*response.headers, ("Idempotency-Key", key)]
    if replayed:
        headers.append(("Idempotent-Replayed", "true"))
    return response._replace(headers=headers)
