"""Live queries: objects that hold one kind of data, keep it fresh by themselves and call you
back when it changes (the seed's ``useDashboardData`` hooks, TanStack Query's ``QueryObserver``).

A client's queries on one cache key form a group inside the client's hub. The group holds the
one refresh-manager subscription, the one poll timer and the fetch state of the key; its queries
are observers with their own options, held weakly. So a thousand queries on ten keys cost ten
subscriptions, ten timers and, on focus, ten requests; and a query that is closed or collected
leaves nothing behind.

The two flavours share every decision (:class:`_Hub`, :class:`_QueryCore`); only the waiting
differs: the sync hub runs its background fetches and timers on the client's scheduler thread,
the async hub on its event loop, where every change of an async query happens.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Protocol, Self, TypedDict, TypeVar, Unpack

from ._core import BaseClient, Call
from ._logging import logger
from .config import ClientConfig, ConfigError
from .focus import FocusManager, OnlineManager
from .keys import CacheKey, Key, format_key, key_starts_with
from .models import Batch, BatchProgressReport, Dashboard, Task, UserBatchProgress
from .refresh import DataRefreshManager
from .resources.batches import list_batches
from .resources.progress import get_batch_progress, get_dashboard, get_user_progress
from .resources.tasks import list_tasks
from .timers import AsyncScheduler, Scheduler

if TYPE_CHECKING:
    # typing.TypeVar takes a default only from Python 3.13. Without ``select`` a query holds
    # the fetched type; with it, whatever ``select`` returns.
    from typing_extensions import TypeVar as DefaultingTypeVar

    DashboardView = DefaultingTypeVar("DashboardView", default=Dashboard)
    BatchReportView = DefaultingTypeVar("BatchReportView", default=BatchProgressReport)
    UserProgressView = DefaultingTypeVar("UserProgressView", default=UserBatchProgress)
    TasksView = DefaultingTypeVar("TasksView", default=list[Task])
    BatchesView = DefaultingTypeVar("BatchesView", default=list[Batch])

__all__ = [
    "AsyncQueriesMixin",
    "AsyncQuery",
    "Dispatch",
    "QueriesMixin",
    "Query",
    "QueryOptions",
]

T = TypeVar("T")
AQ = TypeVar("AQ", bound="AsyncQuery[Any]")

Dispatch = Callable[[Callable[[], None]], object]
"""Runs a callback where the application wants it, e.g. ``lambda fn: root.after(0, fn)``."""

_tokens = itertools.count()
_condition_lock = threading.Lock()


class QueryOptions(TypedDict, total=False):
    """The keyword options of every ``use_*`` method; durations are seconds.

    - ``refetch_interval``: poll period (default: the config's ``user_refresh_interval``, or
      ``admin_refresh_interval`` for a batch's progress); None turns polling off.
    - ``stale_time``: how long fetched data counts as fresh for mount, focus and reconnect
      refetches (default: the poll period, or the config's ``cache_ttl`` without polling).
    - ``refetch_on_focus`` / ``refetch_on_reconnect``: refetch stale data when the window
      regains focus / the network comes back (default True).
    - ``enabled``: False keeps the query from fetching by itself (default True).
    - ``keep_previous_data``: False shows no data while invalidated data is refetched, as the
      seed's hooks do (default True: the old data stays until the new arrives).
    - ``refetch_in_background``: keep polling while the window is unfocused (default False).
    - ``dispatch``: how subscriber callbacks are run (default: called directly).
    """

    refetch_interval: float | None
    stale_time: float
    refetch_on_focus: bool
    refetch_on_reconnect: bool
    enabled: bool
    keep_previous_data: bool
    refetch_in_background: bool
    dispatch: Dispatch


@dataclass(frozen=True, slots=True)
class _Settings:
    """One query's resolved options (``enabled`` aside, which can change)."""

    refetch_interval: float | None
    stale_time: float
    refetch_on_focus: bool
    refetch_on_reconnect: bool
    keep_previous_data: bool
    refetch_in_background: bool
    dispatch: Dispatch | None


def _resolve(
    options: QueryOptions, default_interval: float | None, config: ClientConfig
) -> tuple[_Settings, bool]:
    unknown = set(options) - QueryOptions.__optional_keys__
    if unknown:
        raise TypeError(f"unknown query options: {', '.join(sorted(unknown))}")
    interval = options.get("refetch_interval", default_interval or None)
    if interval is not None and not (math.isfinite(interval) and interval > 0):
        raise ConfigError(
            f"refetch_interval must be a positive number of seconds or None, got {interval!r}"
        )
    stale_time = options.get("stale_time", interval if interval is not None else config.cache_ttl)
    if math.isnan(stale_time) or stale_time < 0:
        raise ConfigError(f"stale_time must be a number of seconds >= 0, got {stale_time!r}")
    settings = _Settings(
        refetch_interval=interval,
        stale_time=stale_time,
        refetch_on_focus=options.get("refetch_on_focus", True),
        refetch_on_reconnect=options.get("refetch_on_reconnect", True),
        keep_previous_data=options.get("keep_previous_data", True),
        refetch_in_background=options.get("refetch_in_background", False),
        dispatch=options.get("dispatch"),
    )
    return settings, options.get("enabled", True)


def _identity(data: Any) -> Any:
    return data


def _differs(old: Any, new: Any) -> bool:
    if old is new:
        return False
    try:
        return bool(old != new)
    except Exception:
        return True


def _wall_time(age: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=max(0.0, age))


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class _Cancellable(Protocol):
    def cancel(self) -> object: ...


class _Group:
    """One key's shared state in a hub; read and written under the hub's lock."""

    __slots__ = (
        "busy",
        "data",
        "data_version",
        "error",
        "event_refetch_at",
        "fetch",
        "hiding",
        "key",
        "members",
        "poll",
        "poll_due",
        "queued",
        "refetch_after",
        "released",
        "settled_at",
        "unsubscribe",
        "updated_wall",
    )

    def __init__(self, key: Key, fetch: Callable[[], Any]) -> None:
        self.key = key
        self.fetch = fetch
        self.members: dict[int, weakref.ref[_QueryCore[Any]]] = {}
        self.unsubscribe: Callable[[], None] = lambda: None
        self.data: Any = None
        self.data_version = 0
        self.updated_wall: datetime | None = None
        self.error: Exception | None = None
        self.busy = 0
        self.queued: _Cancellable | None = None
        # An invalidated key is being refetched: queries without keep_previous_data show nothing.
        self.hiding = False
        # Invalidated while a fetch ran, which may have stored its result already.
        self.refetch_after = False
        self.settled_at: float | None = None
        self.event_refetch_at = -math.inf
        self.poll: _Cancellable | None = None
        self.poll_due: float | None = None
        self.released = False

    @property
    def fetching(self) -> bool:
        return self.busy > 0 or self.queued is not None


class _Hub:
    """A client's live queries, grouped by key, and every rule about when a key is fetched.

    Flavours provide where things run (:meth:`_call_soon`, :meth:`_call_soon_threadsafe`,
    :meth:`_call_later`, :meth:`_start_fetch`); everything else is decided here.
    """

    def __init__(
        self,
        *,
        manager: DataRefreshManager,
        focus: FocusManager,
        online: OnlineManager,
        clock: Callable[[], float],
        focus_throttle: float,
    ) -> None:
        self.manager = manager
        self._focus = focus
        self._online = online
        self._clock = clock
        self._throttle = focus_throttle
        self._lock = threading.Lock()
        self._groups: dict[Key, _Group] = {}
        self._stop_listening: list[Callable[[], None]] = []
        self._closed = False

    # Where things run

    def _call_soon(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` in the hub's home (inline when the caller is there)."""
        raise NotImplementedError

    def _call_soon_threadsafe(self, fn: Callable[[], None]) -> None:
        """Queue ``fn`` for the hub's home without taking any lock (finalizers call this)."""
        raise NotImplementedError

    def _call_later(self, delay: float, fn: Callable[[], None]) -> _Cancellable:
        raise NotImplementedError

    def _start_fetch(self, group: _Group) -> _Cancellable:
        """Queue a background fetch of ``group`` that begins with :meth:`_claim`."""
        raise NotImplementedError

    # Queries come and go

    def attach(self, query: _QueryCore[Any], fetch: Callable[[], Any]) -> tuple[_Group, int]:
        """Register a new query (from its home) and start its first fetch if it needs one."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the client is closed; its queries cannot be created")
            group = self._groups.get(query.key)
            if group is None:
                group = self._open_group(query.key, fetch)
            token = next(_tokens)
            group.members[token] = weakref.ref(query)
            if query._enabled:
                self._fetch_if_stale(group, query._settings.stale_time)
            query._update_view(group)
            self._schedule_poll(group)
        return group, token

    def detach(self, group: _Group, token: int) -> None:
        """Unregister a query (it was closed)."""
        self._call_soon(partial(self._detach, group, token))

    def detach_collected(self, group: _Group, token: int) -> None:
        """Unregister a query that was garbage-collected. Runs as a weakref finalizer, maybe in
        the middle of code that holds a lock, so the work is queued, never done here."""
        self._call_soon_threadsafe(partial(self._detach, group, token))

    def set_enabled(self, query: _QueryCore[Any], enabled: bool) -> None:
        self._call_soon(partial(self._set_enabled, query, enabled))

    def close(self) -> None:
        """Close every query and let go of the manager and the focus and online managers."""
        with self._lock:
            self._closed = True
            queries = [
                query
                for group in self._groups.values()
                for ref in group.members.values()
                if (query := ref()) is not None
            ]
        for query in queries:
            query.close()
        with self._lock:
            for group in tuple(self._groups.values()):
                self._release(group)

    def _is_invalidated(self, group: _Group) -> bool:
        entry = self.manager.peek(group.key)
        return entry is not None and entry.is_invalidated

    def is_stale(self, group: _Group, stale_time: float) -> bool:
        entry = self.manager.peek(group.key)
        if entry is None or entry.updated_at is None or entry.is_invalidated:
            return True
        return self._clock() - entry.updated_at >= stale_time

    def _open_group(self, key: Key, fetch: Callable[[], Any]) -> _Group:
        group = _Group(key, fetch)
        group.unsubscribe = self.manager.subscribe(key, partial(self._on_data, group))
        entry = self.manager.peek(key)
        if entry is not None and entry.updated_at is not None:
            group.data, group.data_version = entry.data, 1
            group.settled_at = entry.updated_at
            group.updated_wall = _wall_time(self._clock() - entry.updated_at)
        if not self._groups:
            self._listen()
        self._groups[key] = group
        return group

    def _listen(self) -> None:
        """Start hearing invalidations and focus and online changes (with the first group)."""
        self._stop_listening = [
            self.manager.on_invalidate(self._on_invalidate),
            self._focus.subscribe(self._on_focus),
            self._online.subscribe(self._on_online),
        ]

    def _detach(self, group: _Group, token: int) -> None:
        with self._lock:
            if group.members.pop(token, None) is None:
                return
            if group.members:
                self._schedule_poll(group)
            else:
                self._release(group)

    def _release(self, group: _Group) -> None:
        group.released = True
        for handle in (group.poll, group.queued):
            if handle is not None:
                handle.cancel()
        group.poll = group.queued = None
        group.members.clear()
        group.unsubscribe()
        if self._groups.get(group.key) is group:
            del self._groups[group.key]
        if not self._groups:
            for stop in self._stop_listening:
                stop()
            self._stop_listening = []

    def _set_enabled(self, query: _QueryCore[Any], enabled: bool) -> None:
        with self._lock:
            group = query._group
            if query._enabled == enabled or group.released:
                query._enabled = enabled
                return
            query._enabled = enabled
            if enabled:
                self._fetch_if_stale(group, query._settings.stale_time)
            self._schedule_poll(group)
            changed = self._update_views(group)
        _announce(changed)

    # What happens to a key

    def _on_data(self, group: _Group, data: Any) -> None:
        self._call_soon(partial(self._apply_data, group, data))

    def _apply_data(self, group: _Group, data: Any) -> None:
        with self._lock:
            if group.released:
                return
            group.data = data
            group.data_version += 1
            group.updated_wall = datetime.now(UTC)
            group.settled_at = self._clock()
            group.hiding = False
            changed = self._update_views(group)
        _announce(changed)

    def _on_invalidate(self, key: Key) -> None:
        self._call_soon(partial(self._apply_invalidation, key))

    def _apply_invalidation(self, key: Key) -> None:
        changed: list[_QueryCore[Any]] = []
        with self._lock:
            if not self._online.online:
                return
            for group in tuple(self._groups.values()):
                if key_starts_with(group.key, key) and self._has_enabled(group):
                    group.hiding = True
                    if group.busy:
                        group.refetch_after = True
                    else:
                        self._launch(group)
                    changed += self._update_views(group)
        _announce(changed)

    def _on_focus(self, _focused: bool) -> None:
        self._call_soon(partial(self._apply_flags, refetch_on_focus=True))

    def _on_online(self, _online: bool) -> None:
        self._call_soon(partial(self._apply_flags, refetch_on_focus=False))

    def _apply_flags(self, *, refetch_on_focus: bool) -> None:
        """A focus or online change: pause or resume polling; on regaining focus (or the
        network), refetch the stale keys whose queries ask for it, once per throttle window."""
        changed: list[_QueryCore[Any]] = []
        with self._lock:
            for group in self._groups.values():
                self._schedule_poll(group)
            regained = self._focus.focused if refetch_on_focus else self._online.online
            if regained and self._online.online:
                now = self._clock()
                for group in tuple(self._groups.values()):
                    if group.fetching or now - group.event_refetch_at < self._throttle:
                        continue
                    stale_times = [
                        query._settings.stale_time
                        for query in self._live_members(group)
                        if query._enabled
                        and (
                            query._settings.refetch_on_focus
                            if refetch_on_focus
                            else query._settings.refetch_on_reconnect
                        )
                    ]
                    if stale_times and self.is_stale(group, min(stale_times)):
                        group.event_refetch_at = now
                        self._launch(group)
                        changed += self._update_views(group)
        _announce(changed)

    # Fetching: _launch queues, _claim / _begin start, _finish ends; the flavours call the fetch

    def _fetch_if_stale(self, group: _Group, stale_time: float) -> None:
        if self._online.online and not group.fetching and self.is_stale(group, stale_time):
            self._launch(group)

    def _launch(self, group: _Group) -> None:
        if not group.released and not group.fetching:
            group.queued = self._start_fetch(group)

    def _claim(self, group: _Group) -> bool:
        """Turn the queued background fetch into a running one; False if it was dropped."""
        with self._lock:
            if group.queued is None or group.released:
                return False
            group.queued = None
            group.busy += 1
            return True

    def _begin(self, group: _Group) -> None:
        """A fetch asked for now; it takes over a queued one, so the key is fetched once."""
        with self._lock:
            if group.queued is not None:
                group.queued.cancel()
                group.queued = None
            group.busy += 1
            changed = self._update_views(group)
        _announce(changed)

    def _finish(self, group: _Group, error: BaseException | None) -> None:
        with self._lock:
            group.busy -= 1
            if error is None:
                entry = self.manager.peek(group.key)
                stored_at = None if entry is None else entry.updated_at
                group.settled_at = self._clock() if stored_at is None else stored_at
                group.error = None
                group.updated_wall = datetime.now(UTC)
            elif isinstance(error, Exception):
                group.settled_at = self._clock()
                group.error = error
            if not group.fetching and group.refetch_after:
                group.refetch_after = False
                # The manager refetches a key invalidated during its fetch, unless the fetch had
                # already landed; then the key is still invalidated and it is fetched here.
                if error is None and self._online.online and self._is_invalidated(group):
                    self._launch(group)
            if not group.fetching:
                group.hiding = False
            changed = self._update_views(group)
            if not group.released:
                self._schedule_poll(group)
        _announce(changed)

    # Polling: one timer per key, at the shortest interval its queries want right now

    def _poll_interval(self, group: _Group) -> float | None:
        if not self._online.online:
            return None
        focused = self._focus.focused
        intervals = [
            interval
            for query in self._live_members(group)
            if (interval := query._settings.refetch_interval) is not None
            and query._enabled
            and (focused or query._settings.refetch_in_background)
        ]
        return min(intervals, default=None)

    def _schedule_poll(self, group: _Group) -> None:
        interval = self._poll_interval(group)
        if interval is None:
            if group.poll is not None:
                group.poll.cancel()
            group.poll = group.poll_due = None
            return
        now = self._clock()
        due = max(now, (now if group.settled_at is None else group.settled_at) + interval)
        if group.poll is not None and group.poll_due == due:
            return
        if group.poll is not None:
            group.poll.cancel()
        group.poll = self._call_later(due - now, partial(self._on_poll_due, group))
        group.poll_due = due

    def _on_poll_due(self, group: _Group) -> None:
        with self._lock:
            if group.released:
                return
            group.poll = group.poll_due = None
            interval = self._poll_interval(group)
            if interval is None or group.fetching:
                # Paused, or a fetch is running and reschedules the poll when it ends.
                return
            if group.settled_at is not None and self._clock() < group.settled_at + interval:
                self._schedule_poll(group)
                return
            self._launch(group)
            changed = self._update_views(group)
        _announce(changed)

    # Helpers that run under the lock

    def _live_members(self, group: _Group) -> list[_QueryCore[Any]]:
        return [query for ref in group.members.values() if (query := ref()) is not None]

    def _has_enabled(self, group: _Group) -> bool:
        return any(query._enabled for query in self._live_members(group))

    def _update_views(self, group: _Group) -> list[_QueryCore[Any]]:
        return [query for query in self._live_members(group) if query._update_view(group)]


def _announce(changed: list[_QueryCore[Any]]) -> None:
    for query in changed:
        query._announce()


class _SyncHub(_Hub):
    """Background fetches and timers on the client's scheduler thread."""

    def __init__(
        self,
        *,
        scheduler: Scheduler,
        send: Callable[[Call[Any]], Any],
        manager: DataRefreshManager,
        focus: FocusManager,
        online: OnlineManager,
        focus_throttle: float,
    ) -> None:
        super().__init__(
            manager=manager,
            focus=focus,
            online=online,
            clock=scheduler.clock,
            focus_throttle=focus_throttle,
        )
        self.scheduler = scheduler
        self.send = send

    def _call_soon(self, fn: Callable[[], None]) -> None:
        fn()

    def _call_soon_threadsafe(self, fn: Callable[[], None]) -> None:
        self.scheduler.call_soon_threadsafe(fn)

    def _call_later(self, delay: float, fn: Callable[[], None]) -> _Cancellable:
        return self.scheduler.call_later(delay, fn)

    def _listen(self) -> None:
        # A collected query's release is handed to the thread, which must therefore be running.
        self.scheduler.start()
        super()._listen()

    def _start_fetch(self, group: _Group) -> _Cancellable:
        return self.scheduler.call_later(0, partial(self._run_queued, group))

    def _run_queued(self, group: _Group) -> None:
        if not self._claim(group):
            return
        try:
            self._fetch_claimed(group)
        except Exception as error:
            # Kept in the queries' ``error``; nobody is waiting here to be told.
            logger.debug("background fetch of %s failed: %r", format_key(group.key), error)

    def fetch(self, group: _Group) -> Any:
        """Fetch the key now (joining a fetch in flight) and return its data."""
        self._begin(group)
        return self._fetch_claimed(group)

    def _fetch_claimed(self, group: _Group) -> Any:
        try:
            value = self.manager.refresh(group.key, group.fetch)
        except BaseException as error:
            self._finish(group, error)
            raise
        self._finish(group, None)
        return value


class _AsyncHub(_Hub):
    """Background fetches as tasks and timers as one task, on one event loop.

    Changes that arrive from other threads (a sync client sharing the manager, a focus event
    from a UI thread) are handed to the loop in arrival order, so an async query only ever
    changes on its loop.
    """

    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop,
        scheduler: AsyncScheduler,
        send: Callable[[Call[Any]], Awaitable[Any]],
        manager: DataRefreshManager,
        focus: FocusManager,
        online: OnlineManager,
        focus_throttle: float,
    ) -> None:
        super().__init__(
            manager=manager,
            focus=focus,
            online=online,
            clock=scheduler.clock,
            focus_throttle=focus_throttle,
        )
        self.loop = loop
        self.scheduler = scheduler
        self.send = send
        self._tasks: set[asyncio.Task[None]] = set()
        self._handoff_lock = threading.Lock()
        self._handed_off = 0

    def _call_soon(self, fn: Callable[[], None]) -> None:
        with self._handoff_lock:
            # Inline only when nothing handed off earlier is still waiting: order is kept.
            inline = self._handed_off == 0 and _running_loop() is self.loop
            if not inline:
                self._handed_off += 1
        if inline:
            fn()
            return
        try:
            self.loop.call_soon_threadsafe(self._run_handed_off, fn)
        except RuntimeError:
            # The loop is closed: nothing else will ever run there.
            with self._handoff_lock:
                self._handed_off -= 1
            fn()

    def _run_handed_off(self, fn: Callable[[], None]) -> None:
        with self._handoff_lock:
            self._handed_off -= 1
        fn()

    def _call_soon_threadsafe(self, fn: Callable[[], None]) -> None:
        try:
            self.loop.call_soon_threadsafe(fn)
        except RuntimeError:
            logger.debug("a query was collected after its event loop closed")

    def _call_later(self, delay: float, fn: Callable[[], None]) -> _Cancellable:
        return self.scheduler.call_later(delay, fn)

    def _start_fetch(self, group: _Group) -> _Cancellable:
        task = self.loop.create_task(self._run_queued(group))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run_queued(self, group: _Group) -> None:
        if not self._claim(group):
            return
        try:
            await self._fetch_claimed(group)
        except Exception as error:
            logger.debug("background fetch of %s failed: %r", format_key(group.key), error)

    async def fetch(self, group: _Group) -> Any:
        """Fetch the key now (joining a fetch in flight) and return its data."""
        self._begin(group)
        return await self._fetch_claimed(group)

    async def _fetch_claimed(self, group: _Group) -> Any:
        try:
            value = await self.manager.refresh_async(group.key, group.fetch)
        except BaseException as error:
            self._finish(group, error)
            raise
        self._finish(group, None)
        return value

    def close(self) -> None:
        super().close()
        for task in tuple(self._tasks):
            task.cancel()


class _QueryCore(Generic[T]):
    """What both query flavours share: the view of the key, subscribers and the lifecycle.

    ``data``, ``loading``, ``error``, ``last_updated`` and ``key`` are plain attributes, so
    reading them costs what reading any attribute costs; treat them as read-only.
    """

    __slots__ = (
        "__weakref__",
        "_closed",
        "_enabled",
        "_finalizer",
        "_group",
        "_hub",
        "_select",
        "_select_error",
        "_selected",
        "_selected_version",
        "_settings",
        "_subscribers",
        "_token",
        "_version",
        "data",
        "error",
        "key",
        "last_updated",
        "loading",
    )

    data: T | None
    """The (selected) data, or None before the first fetch lands."""
    loading: bool
    """True while there is no data to show and a fetch of the key runs or is queued."""
    error: Exception | None
    """The error of the key's last fetch (or of ``select``); None once a fetch succeeds."""
    last_updated: datetime | None
    """When the key's data was last stored or confirmed by a fetch (UTC)."""
    key: Key
    """The cache key the query observes."""

    def __init__(
        self,
        hub: _Hub,
        key: Key,
        fetch: Callable[[], Any],
        settings: _Settings,
        select: Callable[[Any], T],
        enabled: bool,
    ) -> None:
        self.key = key
        self.data = None
        self.loading = False
        self.error = None
        self.last_updated = None
        self._hub = hub
        self._settings = settings
        self._select = select
        self._selected: T | None = None
        self._selected_version = 0
        self._select_error: Exception | None = None
        self._enabled = enabled
        self._subscribers: dict[int, Callable[[Any], object]] = {}
        self._closed = False
        self._version = 0
        self._group, self._token = hub.attach(self, fetch)
        self._finalizer = weakref.finalize(self, hub.detach_collected, self._group, self._token)
        self._finalizer.atexit = False

    @property
    def is_stale(self) -> bool:
        """Whether the data is missing, invalidated or older than ``stale_time``."""
        return self._hub.is_stale(self._group, self._settings.stale_time)

    @property
    def fetching(self) -> bool:
        """Whether a fetch of the key runs or is queued (read it; it calls nobody back)."""
        return self._group.fetching

    @property
    def enabled(self) -> bool:
        """Whether the query fetches by itself; setting it True fetches stale data at once."""
        return self._enabled

    @enabled.setter
    def enabled(self, enabled: bool) -> None:
        self._hub.set_enabled(self, bool(enabled))

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def subscribe(self, callback: Callable[[Self], object]) -> Callable[[], None]:
        """Call ``callback(query)`` (through ``dispatch``) after each change of ``data``,
        ``loading`` or ``error``; returns an idempotent unsubscribe. A callback that raises is
        logged. No callback runs once it is unsubscribed or the query is closed."""
        token = next(_tokens)
        subscribers = self._subscribers
        subscribers[token] = callback

        def unsubscribe() -> None:
            subscribers.pop(token, None)

        # It holds the subscribers, not the query, so keeping it does not keep the query alive.
        return unsubscribe

    def invalidate(self) -> None:
        """Mark the key stale everywhere; active queries on it (this one included) refetch."""
        self._hub.manager.invalidate(self.key)

    def close(self) -> None:
        """Stop observing: no more fetches, polls or callbacks for this query. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._subscribers.clear()
        if self._finalizer.detach() is not None:
            self._hub.detach(self._group, self._token)
        self._wake()

    def _update_view(self, group: _Group) -> bool:
        """Recompute what the query shows from its group (under the hub's lock); True if
        ``data``, ``loading`` or ``error`` changed."""
        if group.data_version != self._selected_version:
            self._selected_version = group.data_version
            try:
                self._selected = self._select(group.data)
                self._select_error = None
            except Exception as select_error:
                logger.exception("select of the query on %s raised", format_key(self.key))
                self._select_error = select_error
        hidden = group.hiding and group.fetching and not self._settings.keep_previous_data
        data = None if hidden else self._selected
        error = group.error if group.error is not None else self._select_error
        loading = data is None and group.fetching
        self.last_updated = group.updated_wall
        # The manager already compared the raw data, so only a select result needs comparing.
        data_changed = data is not self.data and (
            self._select is _identity or _differs(self.data, data)
        )
        if not data_changed and loading == self.loading and error is self.error:
            return False
        if data_changed:
            self.data = data
        self.loading = loading
        self.error = error
        self._version += 1
        return True

    def _announce(self) -> None:
        if self._closed:
            return
        dispatch = self._settings.dispatch
        for token in tuple(self._subscribers):
            call = partial(self._run_subscriber, token)
            if dispatch is None:
                call()
                continue
            try:
                dispatch(call)
            except Exception:
                logger.exception(
                    "dispatch of a callback of the query on %s raised", format_key(self.key)
                )
        self._wake()

    def _run_subscriber(self, token: int) -> None:
        callback = None if self._closed else self._subscribers.get(token)
        if callback is None:
            return
        try:
            callback(self)
        except Exception:
            logger.exception("a subscriber of the query on %s raised", format_key(self.key))

    def _wake(self) -> None:
        """Wake whoever waits for a change (flavour-specific)."""
        raise NotImplementedError

    def _ready(self, predicate: Callable[[Self], bool] | None) -> bool:
        """Whether a ``wait_for`` is over; raises when it never will be."""
        self._check_open()
        if predicate is not None:
            return bool(predicate(self))
        if self.data is not None:
            return True
        if self.error is not None and not self.loading:
            raise self.error
        return False

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"the query on {format_key(self.key)} is closed")

    def __repr__(self) -> str:
        state = "loading" if self.loading else "error" if self.error else "ready"
        return f"{type(self).__name__}({format_key(self.key)!r}, {state}, closed={self._closed})"


class Query(_QueryCore[T]):
    """A live query of the blocking client (see :class:`QueryOptions` for its options).

    >>> with client.use_dashboard_data() as dashboard:
    ...     dashboard.wait_for(timeout=5)
    ...     print(dashboard.data.overall_stats.user_total_xp)
    """

    __slots__ = ("_condition",)

    _hub: _SyncHub

    def __init__(
        self,
        hub: _SyncHub,
        key: Key,
        fetch: Callable[[], Any],
        settings: _Settings,
        select: Callable[[Any], T],
        enabled: bool,
    ) -> None:
        self._condition: threading.Condition | None = None
        super().__init__(hub, key, fetch, settings, select, enabled)

    def refresh(self) -> T:
        """Fetch now (joining a fetch of the key in flight) and return the (selected) data.
        Raises the fetch's typed error, which ``error`` keeps too."""
        self._check_open()
        return self._select(self._hub.fetch(self._group))

    def wait_for(
        self, predicate: Callable[[Self], bool] | None = None, timeout: float | None = 10.0
    ) -> Self:
        """Block until the query has data (or ``predicate(query)`` holds) and return it.

        Without a predicate, raises the query's error when its fetch failed and there is no
        data. Raises TimeoutError after ``timeout`` seconds (None: no limit), and RuntimeError
        on the scheduler thread, which must stay free to fetch.
        """
        if self._hub.scheduler.is_current_thread():
            raise RuntimeError("wait_for would block the scheduler thread that runs the fetch")
        deadline = None if timeout is None else time.monotonic() + timeout
        with _condition_lock:
            # Made on first use, under a lock, so that two first waiters share one condition.
            condition = self._condition
            if condition is None:
                condition = self._condition = threading.Condition()
        with condition:
            while not self._ready(predicate):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(
                        f"the query on {format_key(self.key)} was not ready after {timeout} s"
                    )
                condition.wait(remaining)
        return self

    def _wake(self) -> None:
        condition = self._condition
        if condition is not None:
            with condition:
                condition.notify_all()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncQuery(_QueryCore[T]):
    """A live query of the asyncio client; it lives on the loop it was created on.

    >>> async with aclient.use_tasks_data() as tasks:
    ...     async for _ in tasks.updates():
    ...         print(len(tasks.data or []))
    """

    __slots__ = ("_loop", "_waiters")

    _hub: _AsyncHub

    def __init__(
        self,
        hub: _AsyncHub,
        key: Key,
        fetch: Callable[[], Any],
        settings: _Settings,
        select: Callable[[Any], T],
        enabled: bool,
    ) -> None:
        self._loop = hub.loop
        self._waiters: list[asyncio.Future[None]] = []
        super().__init__(hub, key, fetch, settings, select, enabled)

    async def refresh(self) -> T:
        """Fetch now (joining a fetch of the key in flight) and return the (selected) data.
        Raises the fetch's typed error, which ``error`` keeps too."""
        self._check_open()
        return self._select(await self._hub.fetch(self._group))

    async def wait_for(
        self,
        predicate: Callable[[Self], bool] | None = None,
        # The sync signature, mirrored; the wait runs under asyncio.timeout.
        timeout: float | None = 10.0,  # noqa: ASYNC109
    ) -> Self:
        """Wait until the query has data (or ``predicate(query)`` holds) and return it.

        Without a predicate, raises the query's error when its fetch failed and there is no
        data. Raises TimeoutError after ``timeout`` seconds (None: no limit).
        """
        async with asyncio.timeout(timeout):
            while not self._ready(predicate):
                await self._next_change()
        return self

    def updates(self) -> AsyncIterator[Self]:
        """Yield the query once per change after this call; ends when the query closes.

        A slow consumer is never handed the same change twice and loses none: changes that
        happen while it is busy are coalesced into one yield showing the latest state.
        """
        return _Updates(self)

    async def _next_change(self) -> None:
        future: asyncio.Future[None] = self._loop.create_future()
        self._waiters.append(future)
        try:
            await future
        finally:
            self._waiters.remove(future)

    def _wake(self) -> None:
        if not self._waiters:
            return
        if _running_loop() is self._loop:
            self._release_waiters()
        else:
            try:
                self._loop.call_soon_threadsafe(self._release_waiters)
            except RuntimeError:
                logger.debug("a query changed after its event loop closed")

    def _release_waiters(self) -> None:
        for future in self._waiters:
            if not future.done():
                future.set_result(None)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class _Updates(Generic[AQ]):
    """The iterator behind :meth:`AsyncQuery.updates`: it remembers the last version yielded."""

    def __init__(self, query: AQ) -> None:
        self._query = query
        self._seen = query._version

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> AQ:
        query = self._query
        while query._version == self._seen:
            if query._closed:
                raise StopAsyncIteration
            await query._next_change()
        if query._closed:
            raise StopAsyncIteration
        self._seen = query._version
        return query


class _LiveQueries(BaseClient):
    """The focus and online managers of a client and the defaults its queries start from."""

    focus: FocusManager
    """Whether the application's window has focus (``client.focus.subscribe(cb)``)."""
    online: OnlineManager
    """Whether the network is up (``client.online.subscribe(cb)``)."""

    def set_focused(self, focused: bool) -> None:
        """Tell the client whether its window has focus: polling pauses without it (unless
        ``refetch_in_background``) and stale queries refetch when it comes back."""
        self.focus.set_focused(focused)

    def set_online(self, online: bool) -> None:
        """Tell the client whether the network is up: polling and refetches pause offline and
        stale queries refetch when it comes back."""
        self.online.set_online(online)

    def _query_settings(self, options: QueryOptions, *, admin: bool) -> tuple[_Settings, bool]:
        config = self.config
        interval = config.admin_refresh_interval if admin else config.user_refresh_interval
        return _resolve(options, interval, config)


class QueriesMixin(_LiveQueries):
    """The ``use_*`` methods of :class:`~gamify_client.GamifyClient`."""

    scheduler: Scheduler
    _query_hub: _SyncHub

    def _init_queries(self, send: Callable[[Call[Any]], Any]) -> None:
        """Set up the focus and online managers and the hub, on ``self.scheduler``."""
        self.focus = FocusManager()
        self.online = OnlineManager()
        self._query_hub = _SyncHub(
            scheduler=self.scheduler,
            send=send,
            manager=self.refresh_manager,
            focus=self.focus,
            online=self.online,
            focus_throttle=self.config.focus_throttle,
        )

    def _close_queries(self) -> None:
        self._query_hub.close()

    def _open(
        self,
        key: Key,
        call: Call[Any],
        select: Callable[[Any], Any] | None,
        options: QueryOptions,
        *,
        admin: bool = False,
    ) -> Query[Any]:
        settings, enabled = self._query_settings(options, admin=admin)
        hub = self._query_hub
        fetch = partial(hub.send, call)
        return Query(hub, key, fetch, settings, select or _identity, enabled)

    def use_dashboard_data(
        self,
        *,
        select: Callable[[Dashboard], DashboardView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> Query[DashboardView]:
        """The logged-in user's dashboard, live (key ``(dashboard, user_id)``)."""
        key = (CacheKey.DASHBOARD, self.user_id)
        return self._open(key, get_dashboard(), select, options)

    def use_batch_progress_data(
        self,
        batch_id: str,
        *,
        select: Callable[[BatchProgressReport], BatchReportView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> Query[BatchReportView]:
        """A batch and every student's progress in it, live (admin data: polled every
        ``admin_refresh_interval``)."""
        key = (CacheKey.BATCH_PROGRESS, batch_id)
        return self._open(key, get_batch_progress(batch_id), select, options, admin=True)

    def use_user_progress_data(
        self,
        user_id: str,
        batch_id: str,
        *,
        select: Callable[[UserBatchProgress], UserProgressView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> Query[UserProgressView]:
        """One user's progress in one batch, live."""
        key = (CacheKey.USER_PROGRESS, user_id, batch_id)
        return self._open(key, get_user_progress(user_id, batch_id), select, options)

    def use_tasks_data(
        self,
        *,
        select: Callable[[list[Task]], TasksView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> Query[TasksView]:
        """Every task, live."""
        return self._open(CacheKey.TASKS, list_tasks(), select, options)

    def use_batches_data(
        self,
        *,
        select: Callable[[list[Batch]], BatchesView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> Query[BatchesView]:
        """The batches the logged-in user may see, live (key ``(batches, user_id)``)."""
        key = (CacheKey.BATCHES, self.user_id)
        return self._open(key, list_batches(), select, options)


class AsyncQueriesMixin(_LiveQueries):
    """The ``use_*`` methods of :class:`~gamify_client.AsyncGamifyClient`. Create queries
    inside a running event loop; a client's queries live on one loop at a time."""

    scheduler: AsyncScheduler
    _query_hub: _AsyncHub | None
    _query_send: Callable[[Call[Any]], Awaitable[Any]]
    _queries_closed: bool

    def _init_queries(self, send: Callable[[Call[Any]], Awaitable[Any]]) -> None:
        """Set up the focus and online managers; the hub comes with the first query."""
        self.focus = FocusManager()
        self.online = OnlineManager()
        self._query_hub = None
        self._query_send = send
        self._queries_closed = False

    def _close_queries(self) -> None:
        self._queries_closed = True
        if self._query_hub is not None:
            self._query_hub.close()

    def _hub_for_running_loop(self) -> _AsyncHub:
        loop = _running_loop()
        if loop is None:
            raise RuntimeError("create the async client's queries inside a running event loop")
        if self._queries_closed:
            raise RuntimeError("the client is closed; its queries cannot be created")
        hub = self._query_hub
        if hub is not None and hub.loop is loop:
            return hub
        if hub is not None:
            if hub.loop.is_running():
                raise RuntimeError("this client's queries already live on another event loop")
            hub.close()
        hub = self._query_hub = _AsyncHub(
            loop=loop,
            scheduler=self.scheduler,
            send=self._query_send,
            manager=self.refresh_manager,
            focus=self.focus,
            online=self.online,
            focus_throttle=self.config.focus_throttle,
        )
        return hub

    def _open(
        self,
        key: Key,
        call: Call[Any],
        select: Callable[[Any], Any] | None,
        options: QueryOptions,
        *,
        admin: bool = False,
    ) -> AsyncQuery[Any]:
        settings, enabled = self._query_settings(options, admin=admin)
        hub = self._hub_for_running_loop()
        fetch = partial(hub.send, call)
        return AsyncQuery(hub, key, fetch, settings, select or _identity, enabled)

    def use_dashboard_data(
        self,
        *,
        select: Callable[[Dashboard], DashboardView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> AsyncQuery[DashboardView]:
        """The logged-in user's dashboard, live (key ``(dashboard, user_id)``)."""
        key = (CacheKey.DASHBOARD, self.user_id)
        return self._open(key, get_dashboard(), select, options)

    def use_batch_progress_data(
        self,
        batch_id: str,
        *,
        select: Callable[[BatchProgressReport], BatchReportView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> AsyncQuery[BatchReportView]:
        """A batch and every student's progress in it, live (admin data: polled every
        ``admin_refresh_interval``)."""
        key = (CacheKey.BATCH_PROGRESS, batch_id)
        return self._open(key, get_batch_progress(batch_id), select, options, admin=True)

    def use_user_progress_data(
        self,
        user_id: str,
        batch_id: str,
        *,
        select: Callable[[UserBatchProgress], UserProgressView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> AsyncQuery[UserProgressView]:
        """One user's progress in one batch, live."""
        key = (CacheKey.USER_PROGRESS, user_id, batch_id)
        return self._open(key, get_user_progress(user_id, batch_id), select, options)

    def use_tasks_data(
        self,
        *,
        select: Callable[[list[Task]], TasksView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> AsyncQuery[TasksView]:
        """Every task, live."""
        return self._open(CacheKey.TASKS, list_tasks(), select, options)

    def use_batches_data(
        self,
        *,
        select: Callable[[list[Batch]], BatchesView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> AsyncQuery[BatchesView]:
        """The batches the logged-in user may see, live (key ``(batches, user_id)``)."""
        key = (CacheKey.BATCHES, self.user_id)
        return self._open(key, list_batches(), select, options)
