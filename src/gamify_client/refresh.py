"""The refresh manager: the keyed cache that both clients share.

Each key has one entry: its stored data, a generation that every write or invalidation bumps, its
observers and at most one fetch in flight. Every caller of ``refresh`` or ``refresh_async`` for a
key shares that one fetch, and a fetch that started before a newer write or an invalidation never
overwrites the newer state. Whether data is fresh is read off its entry (stored, not invalidated
since, younger than ``ttl``), so a hit is one lookup under the lock and an invalidation only
flips the entry's flag.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from threading import Lock
from typing import Any, Literal, Protocol, TypeVar, cast

from ._changes import differs
from ._loops import running_loop
from .keys import Key, format_key, key_parts, key_starts_with

__all__ = [
    "INVALIDATED",
    "CacheEntry",
    "CacheStats",
    "DataRefreshManager",
    "FetchStatus",
    "Invalidated",
    "Layer",
    "Status",
]

logger = logging.getLogger("gamify_client")

T = TypeVar("T")

Status = Literal["pending", "success", "error"]
"""Whether a key has data: ``pending`` before any, ``success`` once stored, ``error`` when its
last fetch failed (the older data, if any, is kept)."""
FetchStatus = Literal["idle", "fetching", "paused"]
"""Whether a key is being fetched: ``paused`` means a fetch is owed but waits for the network."""


class Invalidated:
    """What a subscriber of a key is called with when the key was invalidated rather than given
    new data (the seed's ``invalidate(key)`` notifies too): code that refetches on a
    notification refetches, and code that shows data keeps what it shows."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "INVALIDATED"


INVALIDATED = Invalidated()
"""The one :class:`Invalidated` value: ``if data is INVALIDATED: refetch()``."""


class Layer(Protocol):
    """A change shown over a key's server data before the server confirmed it (an optimistic
    update): observers see every layer of the key applied in order over the server's data."""

    def apply(self, base: Any) -> Any:
        """The server's data ``base`` with this change on top (a new object)."""
        ...

    def conflicts(self, base: Any) -> bool:
        """Whether fetched server data ``base`` contradicts this change: it is then dropped."""
        ...

    def dropped(self, key: Key) -> None:
        """Called, outside the manager's lock, after a conflict dropped the layer from ``key``."""
        ...


# How many times in a row a fetch is repeated because its key was invalidated while it ran: a
# bound, so that a key invalidated faster than it can be fetched cannot keep its callers waiting.
_MAX_REFETCHES = 3


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counters since the manager was made (or last cleared), and its current size.

    ``fetches`` counts refreshes that started a fetch, ``deduplicated_fetches`` those that joined
    one already in flight (so the two add up to the number of refreshes), ``refetches`` the extra
    fetch calls made because an invalidation superseded a fetch in flight, and ``invalidations``
    the keys marked invalidated (one call can mark several).
    """

    hits: int
    misses: int
    fetches: int
    deduplicated_fetches: int
    invalidations: int
    entries: int
    observers: int
    refetches: int


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """A snapshot of one key's state; ``updated_at`` is None until data is stored."""

    key: Key
    data: Any
    updated_at: float | None
    generation: int
    is_stale: bool
    is_invalidated: bool
    fetching: bool
    observers: int
    status: Status = "pending"
    fetch_status: FetchStatus = "idle"
    error: Exception | None = None
    optimistic: bool = False
    """Whether ``data`` shows writes the server has not confirmed yet (optimistic layers, see
    :meth:`DataRefreshManager.add_layer`)."""


class _Entry:
    """One key's live state; read and written only under the manager's lock."""

    __slots__ = (
        "base",
        "data",
        "delivering",
        "error",
        "fetch_status",
        "flight",
        "generation",
        "hears_invalidations",
        "invalidated",
        "key",
        "layers",
        "observers",
        "pending",
        "status",
        "updated_at",
    )

    def __init__(self, key: Key) -> None:
        self.key = key
        self.data: Any = None
        self.updated_at: float | None = None
        self.generation = 0
        self.invalidated = False
        self.status: Status = "pending"
        self.fetch_status: FetchStatus = "idle"
        self.error: Exception | None = None
        self.observers: dict[int, Callable[[Any], None]] = {}
        # The tokens of the observers that asked to hear invalidations.
        self.hears_invalidations: set[int] = set()
        self.flight: _Flight | None = None
        self.pending: deque[Any] = deque()
        self.delivering = False
        # With optimistic layers, ``data`` is what observers see and ``base`` the server's data
        # under the layers; without, ``base`` is unused.
        self.base: Any = None
        self.layers: list[Layer] = []

    # Every change of the key's state goes through one of these transitions (TanStack Query's
    # reducer), so that each can be read in one place.

    def stored(self, data: Any, now: float, *, fresh: bool) -> None:
        """New data (a fetch, ``set`` or ``update``), in a new generation; with optimistic
        layers it is their new base and they are shown over it."""
        if self.layers:
            self.base = data
            data = self.view()
        self.data = data
        self.updated_at = now
        self.generation += 1
        self.invalidated = not fresh
        self.status = "success"
        self.error = None

    def view(self) -> Any:
        """The base with every layer applied in order."""
        data = self.base
        for layer in self.layers:
            data = layer.apply(data)
        return data

    def server_data(self) -> Any:
        return self.base if self.layers else self.data

    def invalidate(self) -> None:
        """Stale from now on; a fetch in flight for the older generation fetches again."""
        self.invalidated = True
        self.generation += 1

    def fetching(self, flight: _Flight) -> None:
        self.flight = flight
        self.fetch_status = "fetching"

    def landed(self, error: Exception | None) -> None:
        """The fetch ended; with an error the older data stays and ``status`` says so."""
        self.flight = None
        self.fetch_status = "idle"
        if error is not None:
            self.status = "error"
            self.error = error

    def paused(self) -> None:
        """A fetch is owed but the network is down."""
        if self.flight is None:
            self.fetch_status = "paused"


class _Flight:
    """The one fetch in flight for a key, and the future that every caller waits on."""

    __slots__ = ("entry", "future", "generation", "loop", "refetches", "task")

    def __init__(self, entry: _Entry, loop: asyncio.AbstractEventLoop | None) -> None:
        self.entry = entry
        self.generation = entry.generation
        self.future: Future[Any] = Future()
        # A running future cannot be cancelled, so a waiter that gives up (an async caller
        # being cancelled cancels its wrapped future) never cancels the fetch the others share.
        self.future.set_running_or_notify_cancel()
        self.loop = loop
        # The loop holds tasks weakly: this reference keeps an async fetch alive until it lands.
        self.task: asyncio.Task[None] | None = None
        self.refetches = 0


class DataRefreshManager:
    """A keyed cache with observers, invalidation and one in-flight fetch per key.

    ``ttl`` is how long, in seconds, a stored value stays fresh: after it ``get`` misses and
    ``is_stale`` is True, though the data is still kept for the observers. ``gc_time`` is how long
    an entry nobody observes is kept after its last observer left or its last write. ``maxsize``
    bounds the entries: when it is reached, the entry idle longest is dropped first (observed or
    fetching entries are never dropped). ``clock`` is the time source, injectable for tests.

    Every method is thread-safe; callbacks are never called while the lock is held.
    """

    def __init__(
        self,
        *,
        ttl: float = 300.0,
        gc_time: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        maxsize: int = 10_000,
    ) -> None:
        if ttl < 0 or gc_time < 0:
            raise ValueError("ttl and gc_time must not be negative")
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self._gc_time = gc_time
        self._clock = clock
        self._maxsize = maxsize
        self._lock = Lock()
        self._ttl = ttl
        self._entries: dict[Key, _Entry] = {}
        # The keys of each family (a key's first part), so that invalidating a family or a scope
        # looks only at that family's keys, never at everything the cache holds.
        self._families: dict[object, dict[Key, None]] = {}
        # Keys with neither observers nor a fetch, oldest first: the gc sweep reads only the front.
        self._idle: OrderedDict[Key, float] = OrderedDict()
        self._invalidation_listeners: dict[int, tuple[Callable[[Any], None], bool]] = {}
        self._store_listeners: dict[int, Callable[[Key], None]] = {}
        self._tokens = itertools.count()
        self._reset_counters()

    def _reset_counters(self) -> None:
        self._hits = 0
        self._misses = 0
        self._fetches = 0
        self._deduplicated = 0
        self._refetches = 0
        self._invalidations = 0

    # Reads

    def get(self, key: Key, default: Any = None) -> Any:
        """The key's fresh value, or ``default`` when it has none (never stored, expired or
        invalidated). Counts a hit or a miss."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or not self._is_fresh(entry):
                self._misses += 1
                return default
            self._hits += 1
            return entry.data

    def is_stale(self, key: Key) -> bool:
        """Whether ``get`` would miss: no data, data older than ``ttl``, or invalidated."""
        with self._lock:
            entry = self._entries.get(key)
            return entry is None or not self._is_fresh(entry)

    def peek(self, key: Key) -> CacheEntry | None:
        """A snapshot of the key's entry, stale data included, or None if there is no entry.
        Counts neither a hit nor a miss."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            return CacheEntry(
                key=key,
                data=entry.data,
                updated_at=entry.updated_at,
                generation=entry.generation,
                is_stale=not self._is_fresh(entry),
                is_invalidated=entry.invalidated,
                fetching=entry.flight is not None,
                observers=len(entry.observers),
                status=entry.status,
                fetch_status=entry.fetch_status,
                error=entry.error,
                optimistic=bool(entry.layers),
            )

    def active_keys(self, prefix: Key | None = None) -> list[Key]:
        """The keys with at least one observer, optionally only those under ``prefix``."""
        with self._lock:
            keys = self._entries if prefix is None else self._keys_under(prefix)
            return [key for key in keys if self._entries[key].observers]

    def stats(self) -> CacheStats:
        """The counters and the current number of entries and observers."""
        with self._lock:
            self._collect_idle(self._clock())
            return CacheStats(
                hits=self._hits,
                misses=self._misses,
                fetches=self._fetches,
                deduplicated_fetches=self._deduplicated,
                invalidations=self._invalidations,
                entries=len(self._entries),
                observers=sum(len(entry.observers) for entry in self._entries.values()),
                refetches=self._refetches,
            )

    # Observers

    def subscribe(
        self, key: Key, callback: Callable[[Any], None], *, invalidations: bool = True
    ) -> Callable[[], None]:
        """Observe ``key``: ``callback`` gets the new data each time it changes (by a refresh,
        ``set``, ``update`` or ``notify``), and :data:`INVALIDATED` each time the key is
        invalidated (unless ``invalidations=False``), in the order of the changes. Returns an
        idempotent unsubscribe. A callback already being delivered to may still run once
        after it.
        """
        with self._lock:
            entry = self._entry_for(key, self._clock())
            token = next(self._tokens)
            entry.observers[token] = callback
            if invalidations:
                entry.hears_invalidations.add(token)
            self._idle.pop(key, None)
        return partial(self._unsubscribe, entry, token)

    def _unsubscribe(self, entry: _Entry, token: int) -> None:
        with self._lock:
            entry.hears_invalidations.discard(token)
            if entry.observers.pop(token, None) is not None and not entry.observers:
                self._mark_idle(entry, self._clock())

    def on_invalidate(self, listener: Callable[[Key], None]) -> Callable[[], None]:
        """Call ``listener`` with each key that an ``invalidate`` marks (after the marking, so a
        refetch it starts is not superseded). Returns an idempotent unsubscribe."""
        return self._add_invalidation_listener(listener, batched=False)

    def on_invalidate_keys(self, listener: Callable[[list[Key]], None]) -> Callable[[], None]:
        """Like :meth:`on_invalidate`, but ``listener`` gets every key one ``invalidate``
        marked at once, in one list. Returns an idempotent unsubscribe."""
        return self._add_invalidation_listener(listener, batched=True)

    def _add_invalidation_listener(
        self, listener: Callable[[Any], None], *, batched: bool
    ) -> Callable[[], None]:
        with self._lock:
            token = next(self._tokens)
            self._invalidation_listeners[token] = (listener, batched)
        return partial(self._remove_invalidation_listener, token)

    def _remove_invalidation_listener(self, token: int) -> None:
        with self._lock:
            self._invalidation_listeners.pop(token, None)

    def on_store(self, listener: Callable[[Key], None]) -> Callable[[], None]:
        """Call ``listener`` with each key that gets new server data (a fetch, ``set``,
        ``update`` or ``restore``); returns an idempotent unsubscribe. It runs under the
        manager's lock, so it must only note the key (a write-behind store reads the data
        later): no I/O, no call back into the manager."""
        with self._lock:
            token = next(self._tokens)
            self._store_listeners[token] = listener
        return partial(self._remove_store_listener, token)

    def _remove_store_listener(self, token: int) -> None:
        with self._lock:
            self._store_listeners.pop(token, None)

    def restore(self, key: Key, data: Any) -> bool:
        """Give a key with no data yet ``data`` kept from an earlier run (a persisted cache),
        stale and invalidated, so it is shown at once and fetched again; False when the key
        has data already (newer than what was kept)."""
        with self._lock:
            now = self._clock()
            entry = self._entry_for(key, now)
            if entry.updated_at is not None:
                return False
            start = self._store(entry, data, now, fresh=False)
        if start:
            self._deliver(entry)
        return True

    # Writes

    def notify(self, key: Key, data: Any) -> None:
        """Call the key's subscribers with ``data`` without storing it."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or not entry.observers or not self._enqueue(entry, data):
                return
        self._deliver(entry)

    def set(self, key: Key, data: Any) -> None:
        """Store ``data`` as the key's fresh value, in a new generation, so that a fetch in
        flight cannot overwrite it; subscribers are called only if the data changed (``!=``)."""
        with self._lock:
            now = self._clock()
            entry = self._entry_for(key, now)
            start = self._store(entry, data, now, fresh=True)
        if start:
            self._deliver(entry)

    def update(
        self,
        key: Key,
        fn: Callable[[Any], Any],
        *,
        compare: bool = True,
        cached_only: bool = False,
    ) -> Any:
        """Atomically replace the key's data with ``fn(current)`` (``current`` is None when there
        is none; under optimistic layers it is the server's data, which ``fn`` changes) and
        return what is stored. Returning the current value, or an equal one, is a
        no-op. ``fn`` runs outside the lock and again if the key changed meanwhile, so keep it
        pure and return a new object rather than mutating the current one. An invalidated key
        stays invalidated.

        ``compare=False`` promises that ``fn`` returns ``current`` itself whenever it changes
        nothing (the write rules' patches do): any other object is then stored as a change
        without comparing the two, which saves the comparison on every remote write.

        ``cached_only=True`` leaves a key that holds no data alone (``fn`` is not called and
        None is returned): a write's patch has nothing to patch there, and most of the keys a
        write names are cached by nobody.
        """
        while True:
            with self._lock:
                entry = self._entries.get(key)
                if cached_only and (entry is None or entry.updated_at is None):
                    return None
                generation = -1 if entry is None else entry.generation
                current = None if entry is None else entry.server_data()
            data = fn(current)
            # A real change differs early (a patch changes the first fields it meets), so this
            # costs little; only an equal answer is compared whole, and then nobody is called.
            if data is current or (compare and not differs(current, data)):
                return current
            with self._lock:
                now = self._clock()
                self._collect_idle(now)
                entry = self._entries.get(key)
                if (-1 if entry is None else entry.generation) == generation:
                    entry = entry or self._new_entry(key)
                    start = self._store(
                        entry, data, now, fresh=not entry.invalidated, compare=False
                    )
                    break
        if start:
            self._deliver(entry)
        return data

    def invalidate(self, key: Key) -> list[Key]:
        """Mark every key equal to or under ``key`` invalidated (stale, in a new generation, so a
        fetch in flight for it fetches again instead of storing), tell its subscribers
        (:data:`INVALIDATED`) and the invalidation listeners, and return the keys. Keys that are
        only observed count too. The cost grows with the keys of ``key``'s family, not with
        everything the cache holds."""
        return self.invalidate_keys((key,))

    def invalidate_keys(self, prefixes: Iterable[Key]) -> list[Key]:
        """:meth:`invalidate` each of ``prefixes`` in order, under one hold of the lock, and tell
        the listeners once: a batched listener (:meth:`on_invalidate_keys`) gets every key
        marked in one list. Returns the keys marked, in order (a key under two of the prefixes
        is marked, told and listed twice, as two calls of :meth:`invalidate` would). A prefix
        that is not a key (unhashable, empty) raises before anything is marked."""
        to_deliver: list[_Entry] = []
        with self._lock:
            self._collect_idle(self._clock())
            keys = [stored for prefix in prefixes for stored in self._keys_under(prefix)]
            for stored in keys:
                entry = self._entries[stored]
                entry.invalidate()
                if entry.hears_invalidations and self._enqueue(entry, INVALIDATED):
                    to_deliver.append(entry)
            self._invalidations += len(keys)
            listeners = tuple(self._invalidation_listeners.values())
        for entry in to_deliver:
            self._deliver(entry)
        if logger.isEnabledFor(logging.DEBUG):
            for stored in keys:
                _debug("invalidated %s", stored)
        for listener, batched in listeners:
            if batched:
                try:
                    listener(keys)
                except Exception:
                    logger.exception("an invalidation listener raised; the others still run")
                continue
            for stored in keys:
                try:
                    listener(stored)
                except Exception:
                    logger.exception("invalidation listener for %s raised", format_key(stored))
        return keys

    # Optimistic layers: changes shown over a key's server data until the write is confirmed.
    # A fetch, ``set`` or ``update`` replaces the data under the layers, so a change that
    # arrives meanwhile stays when a layer goes; the cost is the layers of the one key.

    def server_data(self, key: Key, default: Any = None) -> Any:
        """The key's data without its optimistic layers (what the server last said), or
        ``default`` when it has none."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.updated_at is None:
                return default
            return entry.server_data()

    def add_layer(self, key: Key, layer: Layer) -> bool:
        """Show ``layer`` over the key's data, after its other layers, and tell its subscribers;
        False (and nothing done) when the key has no data to change."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.updated_at is None:
                return False
            before = entry.data
            if not entry.layers:
                entry.base = entry.data
            entry.layers.append(layer)
            # A layer is added because it changes what the key shows: no need to compare.
            start = self._show(entry, before, changed=True)
        if start:
            self._deliver(entry)
        return True

    def remove_layer(self, key: Key, layer: Layer, *, keep: bool = False) -> None:
        """Stop showing ``layer``. ``keep=True`` folds it into the server data instead (its
        write succeeded but its answer did not patch this key: the refetch its rule asks for
        replaces it), so the key shows the same; otherwise the key shows its server data with
        the remaining layers, whatever arrived meanwhile included."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or layer not in entry.layers:
                return
            before = entry.data
            entry.layers.remove(layer)
            if keep:
                entry.base = layer.apply(entry.base)
            # The last layer gone, the data is no longer optimistic: observers that show the
            # mark are told even when the server's data equals the prediction.
            start = self._show(entry, before, changed=not entry.layers)
        if start:
            self._deliver(entry)

    def _show(self, entry: _Entry, before: Any, *, changed: bool = False) -> bool:
        """Recompute what the key shows from its server data and layers, under the lock; True
        when the caller must deliver the change from ``before`` (``changed``: known to differ)."""
        if entry.layers:
            entry.data = entry.view()
        else:
            entry.data, entry.base = entry.base, None
        if not entry.observers or not (changed or differs(before, entry.data)):
            return False
        return self._enqueue(entry, entry.data)

    def _drop_conflicts(self, entry: _Entry, fetched: Any) -> list[Layer]:
        """The layers that fetched server data contradicts, taken off the key."""
        dropped = [layer for layer in entry.layers if layer.conflicts(fetched)]
        for layer in dropped:
            entry.layers.remove(layer)
        if not entry.layers:
            entry.data, entry.base = entry.base, None
        return dropped

    def pause(self, key: Key) -> None:
        """Record that ``key`` owes a fetch that waits for the network (``fetch_status``
        ``paused``); the next fetch clears it."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.paused()

    # Fetches: the decisions live in _lead_or_join, _settle and _fail; the two shells below
    # differ only in how they call the fetch and wait for it.

    def refresh(self, key: Key, fetch: Callable[[], T]) -> T:
        """Fetch the key now, or join the fetch already in flight (whoever started it), and
        return the result. The result is stored and subscribers are called if it changed. If the
        key is invalidated during the fetch, it is fetched again and every caller gets the new
        result; if it is ``set`` or updated, the fetch result is dropped and every caller gets the
        newer data. A fetch that raises raises in every caller and leaves the stored data as is.
        Raises RuntimeError instead of blocking the running event loop on its own fetch.
        """
        flight, leading = self._lead_or_join(key, leader_loop=None, blocked_loop=running_loop())
        if leading:
            self._fly(flight, fetch)
        return cast(T, flight.future.result())

    async def refresh_async(self, key: Key, fetch: Callable[[], Awaitable[T]]) -> T:
        """``refresh`` for coroutine fetches: the same rules and the same fetch in flight, without
        blocking the loop. The fetch runs in its own task, so cancelling one caller never cancels
        the fetch the others wait on."""
        loop = asyncio.get_running_loop()
        flight, leading = self._lead_or_join(key, leader_loop=loop, blocked_loop=None)
        if leading:
            flight.task = loop.create_task(self._fly_async(flight, fetch))
            flight.task.add_done_callback(partial(self._fail_if_abandoned, flight))
        return cast(T, await asyncio.wrap_future(flight.future))

    def _fly(self, flight: _Flight, fetch: Callable[[], Any]) -> None:
        while True:
            try:
                value = fetch()
            except BaseException as error:
                self._fail(flight, error)
                if isinstance(error, Exception):
                    return
                raise
            if not self._settle(flight, value):
                return

    async def _fly_async(self, flight: _Flight, fetch: Callable[[], Awaitable[Any]]) -> None:
        while True:
            try:
                value = await fetch()
            except Exception as error:
                self._fail(flight, error)
                return
            if not self._settle(flight, value):
                return

    def _fail_if_abandoned(self, flight: _Flight, task: asyncio.Task[None]) -> None:
        # A fetch task cancelled before or during its fetch must still release its waiters.
        if not flight.future.done():
            self._fail(flight, asyncio.CancelledError() if task.cancelled() else task.exception())

    def _lead_or_join(
        self,
        key: Key,
        *,
        leader_loop: asyncio.AbstractEventLoop | None,
        blocked_loop: asyncio.AbstractEventLoop | None,
    ) -> tuple[_Flight, bool]:
        with self._lock:
            entry = self._entry_for(key, self._clock())
            flight = entry.flight
            if flight is not None:
                if flight.loop is not None and flight.loop is blocked_loop:
                    raise RuntimeError(
                        f"refresh({format_key(key)}) would block the event loop that runs its "
                        "fetch; await refresh_async() instead"
                    )
                self._deduplicated += 1
                return flight, False
            flight = _Flight(entry, leader_loop)
            entry.fetching(flight)
            self._fetches += 1
        _debug("fetching %s", key)
        return flight, True

    def _settle(self, flight: _Flight, value: Any) -> bool:
        """Apply a fetch result; True when the key must be fetched again first."""
        entry = flight.entry
        start = False
        dropped: list[Layer] = []
        with self._lock:
            now = self._clock()
            if entry.generation == flight.generation:
                if entry.layers:
                    dropped = self._drop_conflicts(entry, value)
                start = self._store(entry, value, now, fresh=True)
            elif entry.invalidated and flight.refetches < _MAX_REFETCHES:
                flight.refetches += 1
                flight.generation = entry.generation
                self._refetches += 1
                return True
            elif not entry.invalidated:
                value = entry.data
            self._land(entry, now)
        try:
            if start:
                self._deliver(entry)
            for layer in dropped:
                layer.dropped(entry.key)
        finally:
            flight.future.set_result(value)
        return False

    def _fail(self, flight: _Flight, error: BaseException | None) -> None:
        if not isinstance(error, Exception):
            interrupted = RuntimeError(f"the fetch of {format_key(flight.entry.key)} was stopped")
            interrupted.__cause__ = error
            error = interrupted
        with self._lock:
            self._land(flight.entry, self._clock(), error)
        _debug("fetch failed for %s", flight.entry.key)
        flight.future.set_exception(error)

    def _land(self, entry: _Entry, now: float, error: Exception | None = None) -> None:
        entry.landed(error)
        if not entry.observers:
            self._mark_idle(entry, now)

    # Housekeeping

    def collect_garbage(self) -> int:
        """Drop the entries nobody has observed for ``gc_time`` (nor written meanwhile) and that
        are not being fetched; return how many were dropped. Also done lazily by other calls."""
        with self._lock:
            before = len(self._entries)
            self._collect_idle(self._clock())
            return before - len(self._entries)

    def clear(self) -> None:
        """Forget all stored data and reset the counters. Observers, invalidation listeners and
        fetches in flight are kept; the observed keys become invalidated, so a fetch that started
        before the clear fetches again rather than storing old data."""
        with self._lock:
            for key, entry in list(self._entries.items()):
                entry.layers.clear()
                entry.base = None
                if entry.observers or entry.flight is not None:
                    entry.data = None
                    entry.updated_at = None
                    entry.status = "pending"
                    entry.invalidate()
                else:
                    self._remove(key)
            self._idle.clear()
            self._reset_counters()

    # Helpers that run under the lock

    def _entry_for(self, key: Key, now: float) -> _Entry:
        self._collect_idle(now)
        return self._entries.get(key) or self._new_entry(key)

    def _new_entry(self, key: Key) -> _Entry:
        if len(self._entries) >= self._maxsize:
            self._evict_idle()
        entry = self._entries[key] = _Entry(key)
        self._families.setdefault(key_parts(key)[0], {})[key] = None
        return entry

    def _remove(self, key: Key) -> None:
        del self._entries[key]
        family = key_parts(key)[0]
        members = self._families.get(family)
        if members is not None:
            members.pop(key, None)
            if not members:
                del self._families[family]

    def _keys_under(self, prefix: Key) -> list[Key]:
        """The stored keys equal to or under ``prefix``, found through its family."""
        parts = key_parts(prefix)
        family = self._families.get(parts[0], {})
        if len(parts) == 1:
            return list(family)
        return [key for key in family if key_starts_with(key, prefix)]

    def _store(
        self, entry: _Entry, data: Any, now: float, *, fresh: bool, compare: bool = True
    ) -> bool:
        """Write data in a new generation; True when this call must deliver the change
        (``compare=False``: whatever it is, since the caller knows it is new)."""
        first, layered, before = entry.updated_at is None, bool(entry.layers), entry.data
        entry.stored(data, now, fresh=fresh)
        # Under layers, what observers see may not change even though the server data did.
        data = entry.data
        changed = first or (differs(before, data) if compare or layered else True)
        for listener in self._store_listeners.values():
            try:
                listener(entry.key)
            except Exception:
                logger.exception("a store listener raised for %s", format_key(entry.key))
        if not entry.observers:
            self._mark_idle(entry, now)
            return False
        return changed and self._enqueue(entry, data)

    def _is_fresh(self, entry: _Entry) -> bool:
        stored_at = entry.updated_at
        return (
            stored_at is not None
            and not entry.invalidated
            and self._clock() - stored_at < self._ttl
        )

    def _mark_idle(self, entry: _Entry, now: float) -> None:
        self._idle[entry.key] = now
        self._idle.move_to_end(entry.key)

    def _collect_idle(self, now: float) -> None:
        idle = self._idle
        horizon = now - self._gc_time
        while idle:
            key, since = next(iter(idle.items()))
            if since > horizon:
                return
            del idle[key]
            self._drop_if_unused(key)

    def _evict_idle(self) -> None:
        while self._idle:
            key, _ = self._idle.popitem(last=False)
            if self._drop_if_unused(key):
                return

    def _drop_if_unused(self, key: Key) -> bool:
        # A fetching entry leaves the idle list here and rejoins it when its fetch lands.
        entry = self._entries.get(key)
        if entry is None or entry.observers or entry.flight is not None:
            return False
        self._remove(key)
        return True

    def _enqueue(self, entry: _Entry, data: Any) -> bool:
        """Queue a change for the subscribers; True when the caller must deliver the queue."""
        entry.pending.append(data)
        if entry.delivering:
            return False
        entry.delivering = True
        return True

    # Delivery runs without the lock, one deliverer per key at a time, so subscribers see the
    # changes of a key in the order they were made even when threads race to make them.

    def _deliver(self, entry: _Entry) -> None:
        try:
            while True:
                with self._lock:
                    if not entry.pending:
                        entry.delivering = False
                        return
                    data = entry.pending.popleft()
                    if data is INVALIDATED:
                        hearing = entry.hears_invalidations
                        callbacks = tuple(
                            callback
                            for token, callback in entry.observers.items()
                            if token in hearing
                        )
                    else:
                        callbacks = tuple(entry.observers.values())
                for callback in callbacks:
                    try:
                        callback(data)
                    except Exception:
                        logger.exception("subscriber of %s raised", format_key(entry.key))
        except BaseException:
            with self._lock:
                entry.delivering = False
            raise


def _debug(message: str, key: Key) -> None:
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(message, format_key(key))
