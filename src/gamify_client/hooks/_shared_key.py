"""One key's shared state in a client's registry (TanStack Query's ``Query``): the one
refresh-manager subscription, the one poll timer and the one fetch of the key, whatever the
number of queries observing it.

Its fields are read and written under the registry's lock; the methods that take the lock
themselves say so, and the others expect it held.
"""

from __future__ import annotations

import itertools
import math
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from .._logging import logger
from ..keys import Key, format_key
from ._observer import QueryObserver, announce

if TYPE_CHECKING:
    from ._registry import QueryRegistry

__all__ = ["Cancellable", "SharedKey"]

_member_tokens = itertools.count()


class Cancellable(Protocol):
    """A queued fetch or a timer: a task or a scheduler's handle."""

    def cancel(self) -> object: ...


class _Member(weakref.ref["QueryObserver[Any]"]):
    """One query observing the key: a weak reference to it (call it to get the query, or
    None once collected), with what the key's timer needs to know of it (kept here so that
    adding, removing or enabling a query costs the same with 10 members or 10,000)."""

    __slots__ = ("background", "enabled", "interval")

    def __init__(self, query: QueryObserver[Any]) -> None:
        # The reference itself is made by ``weakref.ref.__new__``, from the same argument.
        self.enabled = query._enabled
        self.interval = query._settings.refetch_interval
        self.background = query._settings.refetch_in_background


def _wall_time(age: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=max(0.0, age))


class SharedKey:
    """A key's data, fetch state and poll timer, and the queries observing it (held weakly).

    Subscribes to the key in the refresh manager when made; :meth:`release` lets go.
    """

    __slots__ = (
        "busy",
        "data",
        "data_version",
        "enabled_count",
        "error",
        "event_refetch_at",
        "fetch",
        "hiding",
        "intervals",
        "key",
        "members",
        "poll",
        "poll_base",
        "poll_due",
        "poll_fetch",
        "queued",
        "refetch_after",
        "registry",
        "released",
        "settled_at",
        "unsubscribe",
        "updated_wall",
    )

    def __init__(self, registry: QueryRegistry, key: Key, fetch: Callable[[], Any]) -> None:
        self.registry = registry
        self.key = key
        self.fetch = fetch
        self.members: dict[int, _Member] = {}
        self.enabled_count = 0
        # How many enabled members poll at each (interval, in background) setting.
        self.intervals: Counter[tuple[float, bool]] = Counter()
        self.data: Any = None
        self.data_version = 0
        self.updated_wall: datetime | None = None
        self.error: Exception | None = None
        self.busy = 0
        self.queued: Cancellable | None = None
        # An invalidated key is being refetched: queries without keep_previous_data show nothing.
        self.hiding = False
        # Invalidated while a fetch ran, which may have stored its result already.
        self.refetch_after = False
        self.settled_at: float | None = None
        self.event_refetch_at = -math.inf
        self.poll: Cancellable | None = None
        self.poll_due: float | None = None
        # Polls keep their rhythm: the next is due an interval after the last one fired, not
        # after its answer came, so a 20 ms round trip does not stretch every period.
        self.poll_fetch = False
        self.poll_base: float | None = None
        self.released = False
        manager = registry.manager
        # Invalidations come through the registry's own listener, all of a write's at once.
        self.unsubscribe = manager.subscribe(
            key, registry.at_home(self._apply_data), invalidations=False
        )
        entry = manager.peek(key)
        if entry is not None and entry.updated_at is not None:
            self.data, self.data_version = entry.data, 1
            self.settled_at = entry.updated_at
            self.updated_wall = _wall_time(registry.clock() - entry.updated_at)

    @property
    def fetching(self) -> bool:
        return self.busy > 0 or self.queued is not None

    # Members

    def add(self, query: QueryObserver[Any]) -> int:
        """Hold ``query`` weakly as an observer of the key; returns the token to remove it by."""
        token = next(_member_tokens)
        member = self.members[token] = _Member(query)
        self._count(member, 1)
        return token

    def remove(self, token: int) -> bool:
        """Let go of the member ``token``; False if it was gone already."""
        member = self.members.pop(token, None)
        if member is None:
            return False
        self._count(member, -1)
        return True

    def set_member_enabled(self, token: int, enabled: bool) -> None:
        member = self.members.get(token)
        if member is not None and member.enabled != enabled:
            self._count(member, -1)
            member.enabled = enabled
            self._count(member, 1)

    def _count(self, member: _Member, step: int) -> None:
        if not member.enabled:
            return
        self.enabled_count += step
        if member.interval is not None:
            setting = (member.interval, member.background)
            self.intervals[setting] += step
            if not self.intervals[setting]:
                del self.intervals[setting]

    def live_members(self) -> list[QueryObserver[Any]]:
        return [query for member in self.members.values() if (query := member()) is not None]

    def has_enabled(self) -> bool:
        return self.enabled_count > 0

    def update_views(self) -> list[QueryObserver[Any]]:
        """Recompute every member's view; returns those that changed, to announce.

        A write's patch reaches its observers through here. The view of a query that shows
        the key's data as it is (no ``select``) is the same for all of them, so it is worked
        out once here and each such query only takes it; the others select for themselves.
        """
        changed: list[QueryObserver[Any]] = []
        add = changed.append
        fetching = self.busy > 0 or self.queued is not None
        error, wall = self.error, self.updated_wall
        kept = self.data
        hidden = None if self.hiding and fetching else kept
        kept_loading = kept is None and fetching
        hidden_loading = hidden is None and fetching
        for member in self.members.values():
            query = member()
            if query is None:
                continue
            if not query._direct:
                if query._update_view(self):
                    add(query)
                continue
            query.last_updated = wall
            if query._keeps_previous:
                data, loading = kept, kept_loading
            else:
                data, loading = hidden, hidden_loading
            # ``loading`` is a bool on both sides: identity compares it.
            if data is query.data and loading is query.loading and error is query.error:
                continue
            query.data, query.loading, query.error = data, loading, error
            query._version += 1
            add(query)
        return changed

    def release(self) -> None:
        """Stop the key's timer and queued fetch and let go of its subscription and members."""
        self.released = True
        for handle in (self.poll, self.queued):
            if handle is not None:
                handle.cancel()
        self.poll = self.queued = None
        self.members.clear()
        self.unsubscribe()

    # Freshness

    def is_stale(self, stale_time: float) -> bool:
        entry = self.registry.manager.peek(self.key)
        if entry is None or entry.updated_at is None or entry.is_invalidated:
            return True
        return self.registry.clock() - entry.updated_at >= stale_time

    def owes_refetch(self) -> bool:
        """Invalidated, or a fetch was owed while the network was down."""
        entry = self.registry.manager.peek(self.key)
        return entry is not None and (entry.is_invalidated or entry.fetch_status == "paused")

    def _is_invalidated(self) -> bool:
        entry = self.registry.manager.peek(self.key)
        return entry is not None and entry.is_invalidated

    def _apply_data(self, data: Any) -> None:
        """New data stored in the manager; takes the lock."""
        with self.registry.lock:
            if self.released:
                return
            self.data = data
            self.data_version += 1
            self.updated_wall = datetime.now(UTC)
            self.settled_at = self.registry.clock()
            if not self.poll_fetch:
                self.poll_base = None
            self.hiding = False
            changed = self.update_views()
        announce(changed)

    def refetch_invalidated(self) -> None:
        """The key was invalidated: refetch it, or once the fetch that runs has ended."""
        self.hiding = True
        if self.busy:
            self.refetch_after = True
        else:
            self.launch()

    # Fetching: launch queues, claim / begin start, the fetch_outcome block ends

    def fetch_if_stale(self, stale_time: float) -> None:
        if self.registry.online.online and not self.fetching and self.is_stale(stale_time):
            self.launch()

    def launch(self) -> None:
        """Queue a background fetch, unless one runs or is queued already."""
        if not self.released and not self.fetching:
            self.queued = self.registry.start_fetch(self)

    def claim(self) -> bool:
        """Turn the queued background fetch into a running one; False if it was dropped.
        Takes the lock."""
        with self.registry.lock:
            if self.queued is None or self.released:
                return False
            self.queued = None
            self.busy += 1
            return True

    def begin(self) -> None:
        """A fetch asked for now; it takes over a queued one, so the key is fetched once.
        Takes the lock."""
        with self.registry.lock:
            if self.queued is not None:
                self.queued.cancel()
                self.queued = None
            self.busy += 1
            changed = self.update_views()
        announce(changed)

    @contextmanager
    def fetch_outcome(self) -> Iterator[None]:
        """Wraps the refresh of a claimed or begun fetch and records how it ended, raising its
        error again. Takes the lock at the end."""
        try:
            yield
        except BaseException as error:
            self._finish(error)
            raise
        self._finish(None)

    @contextmanager
    def background_failure_logged(self) -> Iterator[None]:
        """Wraps a background fetch: its error is kept in the queries' ``error`` and nobody is
        waiting to be told, so it is logged, not raised."""
        try:
            yield
        except Exception as error:
            logger.debug("background fetch of %s failed: %r", format_key(self.key), error)

    def _finish(self, error: BaseException | None) -> None:
        registry = self.registry
        with registry.lock:
            self.busy -= 1
            if not self.poll_fetch:
                # A fetch that was not a poll's starts the period anew from its answer.
                self.poll_base = None
            self.poll_fetch = False
            if error is None:
                entry = registry.manager.peek(self.key)
                stored_at = None if entry is None else entry.updated_at
                self.settled_at = registry.clock() if stored_at is None else stored_at
                self.error = None
                self.updated_wall = datetime.now(UTC)
            elif isinstance(error, Exception):
                self.settled_at = registry.clock()
                self.error = error
            if not self.fetching and self.refetch_after:
                self.refetch_after = False
                # The manager refetches a key invalidated during its fetch, unless the fetch had
                # already landed; then the key is still invalidated and it is fetched here.
                if error is None and registry.online.online and self._is_invalidated():
                    self.launch()
            if not self.fetching:
                self.hiding = False
            changed = self.update_views()
            if not self.released:
                self.schedule_poll()
        announce(changed)

    # Polling: one timer, at the shortest interval the key's queries want right now

    def _poll_interval(self) -> float | None:
        if not self.registry.online.online:
            return None
        focused = self.registry.focus.focused
        return min(
            (interval for interval, background in self.intervals if focused or background),
            default=None,
        )

    def schedule_poll(self) -> None:
        """Set, move or cancel the poll timer to match the members and the flags."""
        interval = self._poll_interval()
        if interval is None:
            if self.poll is not None:
                self.poll.cancel()
            self.poll = self.poll_due = None
            return
        now = self.registry.clock()
        due = max(now, self._poll_start(now) + interval)
        if self.poll is not None and self.poll_due == due:
            return
        if self.poll is not None:
            self.poll.cancel()
        self.poll = self.registry.call_later(due - now, self._on_poll_due)
        self.poll_due = due

    def _poll_start(self, now: float) -> float:
        """Where the current poll period started: the last poll, while its fetch's data is
        the newest; else when the data settled."""
        if self.poll_base is not None:
            return self.poll_base
        return now if self.settled_at is None else self.settled_at

    def _on_poll_due(self) -> None:
        with self.registry.lock:
            if self.released:
                return
            self.poll = self.poll_due = None
            interval = self._poll_interval()
            if interval is None or self.fetching:
                # Paused, or a fetch is running and reschedules the poll when it ends.
                return
            now = self.registry.clock()
            if self.settled_at is not None and now < self._poll_start(now) + interval:
                self.schedule_poll()
                return
            self.launch()
            self.poll_fetch = True
            self.poll_base = now
            changed = self.update_views()
        announce(changed)
