"""What every link to other processes shares: applying their writes here, once each, and
waiting between reconnects.

:class:`RemoteApplier` turns a message into the same patches, invalidations and event the writer
applied (``RealtimeSync.after_mutation(..., remote=True)``, so it is never announced again),
skips the link's own messages and any message id it has seen, logs and skips what it cannot
read, and invalidates every active key when messages may have been missed. :class:`Backoff`
spaces out reconnect attempts.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from .._logging import logger
from ..keys import Key
from ..realtime import WriteLink
from ..refresh import DataRefreshManager
from ..resources import ALL_WRITES
from ._messages import MalformedMessage, MutationMessage

__all__ = ["Backoff", "Delivery", "RemoteApplier", "RemoteStats", "SeenIds"]


class Delivery(StrEnum):
    """What became of one received message."""

    APPLIED = "applied"
    OWN = "own"
    DUPLICATE = "duplicate"
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class RemoteStats:
    """Counts of received messages by what became of them."""

    applied: int = 0
    own: int = 0
    duplicates: int = 0
    malformed: int = 0


class SeenIds:
    """A bounded set of message ids: the ``capacity`` newest are remembered.

    A set answers "seen?" and a queue says which id to forget: cheaper than an ordered
    mapping, and every message of a deployment passes here."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._ids: set[str] = set()
        self._order: deque[str] = deque()

    def add(self, message_id: str) -> bool:
        """Remember ``message_id``; False when it was already remembered."""
        ids = self._ids
        if message_id in ids:
            return False
        ids.add(message_id)
        order = self._order
        order.append(message_id)
        if len(order) > self._capacity:
            ids.discard(order.popleft())
        return True

    def __len__(self) -> int:
        return len(self._ids)


class RemoteApplier:
    """Applies the writes of other processes to one client's cache and events.

    ``origin`` is the id of the link this applier serves: messages carrying it are the
    link's own and are skipped, as are those ``is_own`` recognises. ``seen_capacity`` bounds
    the remembered message ids. Thread-safe; ``where`` names the link in log lines.
    """

    def __init__(
        self,
        link: WriteLink,
        manager: DataRefreshManager,
        *,
        origin: str,
        where: str,
        seen_capacity: int = 10_000,
        is_own: Callable[[MutationMessage], bool] | None = None,
    ) -> None:
        self.origin = origin
        self._is_own = is_own
        self._link = link
        self._manager = manager
        self._where = where
        self._seen = SeenIds(seen_capacity)
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(Delivery, 0)

    def apply_raw(self, raw: bytes | str) -> Delivery:
        """Decode and apply one message; a malformed one is logged and skipped."""
        try:
            message = MutationMessage.decode(raw)
        except MalformedMessage as err:
            return self._malformed(err)
        return self.apply(message)

    def receive(self, raw: bytes | str) -> None:
        """Apply one message as it came off the link; nothing it does stops the listener."""
        try:
            self.apply_raw(raw)
        except Exception:
            self._failed()

    def receive_message(self, message: MutationMessage) -> None:
        """:meth:`receive` for a message the link decoded already."""
        try:
            self.apply(message)
        except Exception:
            self._failed()

    def _failed(self) -> None:
        logger.exception("applying a message from %s failed", self._where)

    def apply(self, message: MutationMessage) -> Delivery:
        """Apply one message unless it is the link's own, already seen, or unreadable."""
        if message.origin == self.origin or (self._is_own is not None and self._is_own(message)):
            return self._count(Delivery.OWN)
        with self._lock:
            fresh = self._seen.add(message.id)
        if not fresh:
            return self._count(Delivery.DUPLICATE)
        try:
            result = message.result()
        except MalformedMessage as err:
            return self._malformed(err)
        self._link.apply_remote_write(ALL_WRITES[message.mutation], message.request, result)
        logger.debug("applied %s %s from %s", message.mutation, message.id, self._where)
        return self._count(Delivery.APPLIED)

    def invalidate_active(self) -> list[Key]:
        """Invalidate every key someone observes (after messages may have been missed), so
        that active queries refetch; returns the keys."""
        keys = self._manager.active_keys()
        for key in keys:
            self._manager.invalidate(key)
        return keys

    def resync(self, reason: str) -> list[Key]:
        """:meth:`invalidate_active` after ``reason`` (a reconnect, a reset) may have lost
        messages; logs it and returns the keys."""
        keys = self.invalidate_active()
        logger.info("%s; invalidated %d active key(s)", reason, len(keys))
        return keys

    def stats(self) -> RemoteStats:
        """The counts so far."""
        with self._lock:
            counts = dict(self._counts)
        return RemoteStats(
            applied=counts[Delivery.APPLIED],
            own=counts[Delivery.OWN],
            duplicates=counts[Delivery.DUPLICATE],
            malformed=counts[Delivery.MALFORMED],
        )

    def _malformed(self, err: MalformedMessage) -> Delivery:
        logger.warning("skipped a malformed message from %s: %s", self._where, err)
        return self._count(Delivery.MALFORMED)

    def _count(self, delivery: Delivery) -> Delivery:
        with self._lock:
            self._counts[delivery] += 1
        return delivery


class Backoff:
    """Delays between reconnect attempts: ``initial`` doubling up to ``maximum``, each drawn
    between half the ceiling and the ceiling, so that many processes that lost the same
    server do not come back in step."""

    def __init__(
        self,
        initial: float = 0.05,
        maximum: float = 5.0,
        *,
        random_fraction: Callable[[], float] = random.random,
    ) -> None:
        if initial <= 0 or maximum < initial:
            raise ValueError("backoff needs 0 < initial <= maximum")
        self._initial = initial
        self._maximum = maximum
        self._random = random_fraction
        self._attempt = 0

    def next_delay(self) -> float:
        """The wait before the next attempt; each call doubles the ceiling."""
        ceiling = min(self._maximum, self._initial * 2.0 ** min(self._attempt, 60))
        self._attempt += 1
        return ceiling / 2 + self._random() * ceiling / 2

    def reset(self) -> None:
        """Start again from ``initial`` (after a successful connection)."""
        self._attempt = 0
