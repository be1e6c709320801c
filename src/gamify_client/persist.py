"""The persisted cache: the server data a client held, kept in its offline SQLite file, so that
a client of the same user that starts again shows it at once (marked stale) and refetches.

TanStack Query's persisted query client is the model. Rows are keyed by (user id, cache key),
the user being the token's: a client never loads another user's rows, and on login or logout
it keeps the old user's rows and loads the new user's. A row holds the JSON of the model and
the model's type name, and is validated again when loaded; a row that no longer validates is
skipped. Writes go behind: a stored key is only noted, and the rows are written in one
transaction a moment later from the client's timer (off the event loop, for an async client)
and when it closes, never on the caller's thread. Optimistic changes are never written: only
what the server said.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from . import models
from ._logging import logger
from ._loops import running_loop
from .keys import CacheKey, Key, format_key, key_parts
from .refresh import DataRefreshManager

__all__ = ["PersistedCache"]

Schedule = Callable[[float, Callable[[], None]], object]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS gamify_cache (
    user_id TEXT NOT NULL,
    cache_key TEXT NOT NULL,
    model TEXT NOT NULL,
    data TEXT NOT NULL,
    saved_at REAL NOT NULL,
    PRIMARY KEY (user_id, cache_key)
)
"""

_LIST = "list:"


def _encode_key(key: Key) -> str:
    return json.dumps([part if part is None else str(part) for part in key_parts(key)])


def _decode_key(text: str) -> Key | None:
    parts = json.loads(text)
    if not isinstance(parts, list) or not parts:
        return None
    family = CacheKey(parts[0])
    return family if len(parts) == 1 else (family, *parts[1:])


def _encode_data(data: Any) -> tuple[str, str] | None:
    """The model's type name and JSON, or None for data that is not models (not kept)."""
    if isinstance(data, BaseModel):
        return type(data).__name__, data.model_dump_json(by_alias=True)
    if isinstance(data, list) and data and all(isinstance(item, BaseModel) for item in data):
        kind = type(data[0])
        if all(type(item) is kind for item in data):
            dumped = [item.model_dump(mode="json", by_alias=True) for item in data]
            return _LIST + kind.__name__, json.dumps(dumped)
    return None


def _decode_data(model: str, text: str) -> Any:
    name = model.removeprefix(_LIST)
    kind = getattr(models, name, None)
    if not (isinstance(kind, type) and issubclass(kind, BaseModel)):
        raise ValueError(f"unknown model {name!r}")
    if model.startswith(_LIST):
        return [kind.model_validate(item) for item in json.loads(text)]
    return kind.model_validate_json(text)


class PersistedCache:
    """A cache's server data kept in the SQLite file ``path``, for the user ``user_id``.

    Made by a client with ``persist_cache=True``: it loads the user's rows into ``manager``
    (each key that has no data yet), then notes every key the manager stores and writes them
    behind, ``delay`` seconds later, through ``schedule`` (the client's timer).
    """

    def __init__(
        self,
        path: str,
        manager: DataRefreshManager,
        user_id: str | None,
        *,
        schedule: Schedule,
        delay: float = 0.5,
    ) -> None:
        self._manager = manager
        self._schedule = schedule
        self._delay = delay
        self._lock = threading.Lock()
        # Guards the pending keys; taken inside the manager's lock, never the other way round.
        self._pending_lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        self._user_id: str | None = None
        # The keys stored since the last write, each with the user it belongs to.
        self._dirty: dict[tuple[str, Key], None] = {}
        self._flush_due = False
        self._loading = False
        self._closed = False
        self._unsubscribe = manager.on_store(self._note)
        self.switch(user_id)

    @property
    def user_id(self) -> str | None:
        """The user whose rows are loaded and written (None: nothing is)."""
        return self._user_id

    def switch(self, user_id: str | None) -> int:
        """Write what is pending for the current user, then load ``user_id``'s rows; returns
        how many keys were given kept data."""
        self.flush()
        self._user_id = user_id
        return 0 if user_id is None else self._load(user_id)

    def _load(self, user_id: str) -> int:
        with self._lock:
            rows = self._db.execute(
                "SELECT cache_key, model, data FROM gamify_cache WHERE user_id = ?", (user_id,)
            ).fetchall()
        restored = 0
        self._loading = True
        try:
            for cache_key, model, text in rows:
                try:
                    key = _decode_key(cache_key)
                    data = _decode_data(model, text)
                except ValueError as error:
                    logger.warning("a persisted cache row could not be read (%s); skipped", error)
                    continue
                if key is not None and self._manager.restore(key, data):
                    restored += 1
        finally:
            self._loading = False
        logger.debug("restored %d persisted cache entries", restored)
        return restored

    def _note(self, key: Key) -> None:
        # Under the manager's lock: record the key, and ask once for a write later.
        user_id = self._user_id
        if self._loading or self._closed or user_id is None:
            return
        with self._pending_lock:
            self._dirty[(user_id, key)] = None
            if self._flush_due:
                return
            self._flush_due = True
        try:
            self._schedule(self._delay, self._flush_later)
        except RuntimeError:
            # An async client's timer needs its loop: without one, the next store or the
            # client's close writes the rows.
            with self._pending_lock:
                self._flush_due = False

    def _flush_later(self) -> None:
        loop = running_loop()
        if loop is None:
            self.flush()
        else:
            # An async client's timer runs on its loop: the file is written off it.
            loop.run_in_executor(None, self.flush)

    def flush(self) -> int:
        """Write the keys stored since the last write now; returns how many rows were
        written. A failure is logged and the keys are tried again at the next write."""
        with self._pending_lock:
            self._flush_due = False
            dirty, self._dirty = self._dirty, {}
        with self._lock:
            if not dirty or self._closed:
                return 0
            rows = []
            for user_id, key in dirty:
                try:
                    encoded = _encode_data(self._manager.server_data(key))
                except (ValueError, TypeError) as error:
                    # Data that cannot be written as JSON is not kept; the rest is.
                    logger.warning("%s could not be persisted (%s)", format_key(key), error)
                    continue
                if encoded is not None:
                    rows.append((user_id, _encode_key(key), *encoded, time.time()))
            try:
                with self._db:
                    self._db.execute("BEGIN")
                    self._db.executemany(
                        "INSERT OR REPLACE INTO gamify_cache VALUES (?, ?, ?, ?, ?)", rows
                    )
            except sqlite3.Error:
                logger.exception("writing %d persisted cache rows failed", len(rows))
                with self._pending_lock:
                    self._dirty.update(dirty)
                return 0
        if rows:
            logger.debug("persisted %d cache entries", len(rows))
        return len(rows)

    def forget(self, user_id: str, key: Key | None = None) -> None:
        """Delete ``user_id``'s rows (only ``key``'s, if given)."""
        with self._lock:
            if key is None:
                self._db.execute("DELETE FROM gamify_cache WHERE user_id = ?", (user_id,))
            else:
                self._db.execute(
                    "DELETE FROM gamify_cache WHERE user_id = ? AND cache_key = ?",
                    (user_id, _encode_key(key)),
                )

    def close(self) -> None:
        """Write what is pending, stop noting keys and close the file. Idempotent."""
        if self._closed:
            return
        self.flush()
        self._unsubscribe()
        with self._lock:
            self._closed = True
            self._db.close()

    def __repr__(self) -> str:
        return f"PersistedCache(user={self._user_id!r}, pending={len(self._dirty)})"
