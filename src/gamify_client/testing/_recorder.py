"""The log of requests the backend received, so tests can count and inspect them."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the backend saw it, and how it was answered.

    ``status`` is None when no response was sent (a dropped or refused connection);
    ``faulted`` tells whether a fault rule applied to it.
    """

    method: str
    path: str
    query: str
    status: int | None
    time: datetime
    faulted: bool = False


DEFAULT_REQUEST_LOG_LIMIT = 100_000
"""How many requests a log keeps unless told otherwise."""


_Entry = tuple[str, str, str, int | None, datetime, bool]
"""A recorded request as the log holds it: a tuple of atomic values, cheaper to make than a
:class:`RecordedRequest` and not tracked by the garbage collector."""


class RequestLog:
    """The requests served through :meth:`GamifyBackend.transport` or ``serve()``, in order:
    the newest ``limit`` of them (every one with ``limit=None``), so that a server that runs for
    days does not grow by every request it answered (nor does the garbage collector's work)."""

    def __init__(self, limit: int | None = DEFAULT_REQUEST_LOG_LIMIT) -> None:
        if limit is not None and limit < 1:
            raise ValueError("limit must be at least 1, or None to keep every request")
        self._lock = threading.Lock()
        self._entries: deque[_Entry] = deque(maxlen=limit)

    @property
    def limit(self) -> int | None:
        """How many of the newest requests the log keeps (None: all)."""
        return self._entries.maxlen

    def record(
        self,
        method: str,
        path: str,
        query: str,
        status: int | None,
        time: datetime,
        faulted: bool = False,
    ) -> None:
        """Record one request (the backend does this for each request it answers); what
        :meth:`append` does with a :class:`RecordedRequest` made of these values."""
        with self._lock:
            self._entries.append((method, path, query, status, time, faulted))

    def append(self, entry: RecordedRequest) -> None:
        """Record ``entry``."""
        self.record(entry.method, entry.path, entry.query, entry.status, entry.time, entry.faulted)

    def clear(self) -> None:
        """Forget every recorded request."""
        with self._lock:
            self._entries.clear()

    def snapshot(self) -> list[RecordedRequest]:
        """The recorded requests so far, oldest first."""
        with self._lock:
            entries = list(self._entries)
        return [RecordedRequest(*entry) for entry in entries]

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """How many recorded requests have this method and path (either may be left out)."""
        return sum(
            1
            for entry in self.snapshot()
            if (method is None or entry.method == method.upper())
            and (path is None or entry.path == path)
        )

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __iter__(self) -> Iterator[RecordedRequest]:
        return iter(self.snapshot())

    def __getitem__(self, index: int) -> RecordedRequest:
        with self._lock:
            entry = self._entries[index]
        return RecordedRequest(*entry)
