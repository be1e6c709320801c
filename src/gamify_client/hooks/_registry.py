"""A client's live queries, by key, and how they react to invalidations, focus and the network.

The registry keeps one :class:`SharedKey` per observed key and listens to the refresh
manager's invalidations and to the focus and online managers only while it has one. Its
flavours decide where things run: the sync one on the client's scheduler thread, the async
one on its event loop.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from functools import partial
from typing import Any, TypedDict, Unpack

from ..focus import FocusManager, OnlineManager
from ..keys import Key
from ..refresh import DataRefreshManager
from ._observer import QueryObserver, announce
from ._shared_key import Cancellable, SharedKey

__all__ = ["ClientParts", "QueryRegistry"]


class ClientParts(TypedDict):
    """What a registry takes from its client, whichever the flavour."""

    manager: DataRefreshManager
    focus: FocusManager
    online: OnlineManager
    focus_throttle: float


class QueryRegistry:
    """A client's queries grouped by key, and every rule about when a key is fetched.

    Flavours provide where things run (:meth:`call_soon`, :meth:`call_soon_threadsafe`,
    :meth:`call_later`, :meth:`start_fetch`); everything else is decided here and in
    :class:`SharedKey`, under :attr:`lock`.
    """

    def __init__(self, *, clock: Callable[[], float], **parts: Unpack[ClientParts]) -> None:
        self.manager = parts["manager"]
        self.focus = parts["focus"]
        self.online = parts["online"]
        self.clock = clock
        self.lock = threading.Lock()
        self._throttle = parts["focus_throttle"]
        self._keys: dict[Key, SharedKey] = {}
        # Queries keyed by who asks, and how to find their key again when the token changes.
        self._followers: weakref.WeakKeyDictionary[
            QueryObserver[Any], Callable[[], tuple[Key, Callable[[], Any]]]
        ] = weakref.WeakKeyDictionary()
        self._stop_listening: list[Callable[[], None]] = []
        self._closed = False

    # Where things run

    def call_soon(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` in the registry's home (inline when the caller is there)."""
        raise NotImplementedError

    def call_soon_threadsafe(self, fn: Callable[[], None]) -> None:
        """Queue ``fn`` for the registry's home without taking any lock (finalizers call this)."""
        raise NotImplementedError

    def call_later(self, delay: float, fn: Callable[[], None]) -> Cancellable:
        raise NotImplementedError

    def at_home(self, fn: Callable[[Any], None]) -> Callable[[Any], None]:
        """``fn`` made to run in the registry's home (through :meth:`call_soon`) whichever
        thread calls it: what a key's data reaches its queries through."""
        return partial(self._call_soon_with, fn)

    def _call_soon_with(self, fn: Callable[[Any], None], argument: Any) -> None:
        self.call_soon(partial(fn, argument))

    def start_fetch(self, shared: SharedKey) -> Cancellable:
        """Queue a background fetch of the key that begins with :meth:`SharedKey.claim`."""
        raise NotImplementedError

    # Queries come and go

    def attach(self, query: QueryObserver[Any], fetch: Callable[[], Any]) -> tuple[SharedKey, int]:
        """Register a new query (from its home) and start its first fetch if it needs one."""
        with self.lock:
            if self._closed:
                raise RuntimeError("the client is closed; its queries cannot be created")
            shared = self._keys.get(query.key)
            if shared is None:
                shared = self._open_key(query.key, fetch)
            token = shared.add(query)
            if query._enabled:
                shared.fetch_if_stale(query._settings.stale_time)
            query._update_view(shared)
            shared.schedule_poll()
        return shared, token

    def detach(self, shared: SharedKey, token: int) -> None:
        """Unregister a query (it was closed)."""
        self.call_soon(partial(self._detach, shared, token))

    def detach_collected(self, shared: SharedKey, token: int) -> None:
        """Unregister a query that was garbage-collected. Runs as a weakref finalizer, maybe in
        the middle of code that holds a lock, so the work is queued, never done here."""
        self.call_soon_threadsafe(partial(self._detach, shared, token))

    def follow(
        self, query: QueryObserver[Any], where: Callable[[], tuple[Key, Callable[[], Any]]]
    ) -> None:
        """Move ``query`` to ``where()``'s key whenever :meth:`follow_identity` is called."""
        with self.lock:
            self._followers[query] = where

    def follow_identity(self) -> None:
        """The client's token changed: move each user-keyed query to its new user's key."""
        with self.lock:
            moves = [(query, where()) for query, where in list(self._followers.items())]
        for query, (key, fetch) in moves:
            if key != query.key:
                self.call_soon(partial(self._move, query, key, fetch))

    def _move(self, query: QueryObserver[Any], key: Key, fetch: Callable[[], Any]) -> None:
        if query.closed or query.key == key:
            return
        if not query._detach_for_move():
            return
        self._detach(query._shared, query._token)
        query.key = key
        query._attach()
        announce([query])

    def set_enabled(self, query: QueryObserver[Any], enabled: bool) -> None:
        self.call_soon(partial(self._set_enabled, query, enabled))

    def close(self) -> None:
        """Close every query and let go of the manager and the focus and online managers."""
        with self.lock:
            self._closed = True
            queries = [query for shared in self._keys.values() for query in shared.live_members()]
        for query in queries:
            query.close()
        with self.lock:
            for shared in tuple(self._keys.values()):
                self._release(shared)

    def _open_key(self, key: Key, fetch: Callable[[], Any]) -> SharedKey:
        shared = SharedKey(self, key, fetch)
        if not self._keys:
            self._listen()
        self._keys[key] = shared
        return shared

    def _listen(self) -> None:
        """Start hearing invalidations and focus and online changes (with the first key)."""
        self._stop_listening = [
            self.manager.on_invalidate_keys(self._on_invalidate),
            self.focus.subscribe(self._on_focus),
            self.online.subscribe(self._on_online),
        ]

    def _detach(self, shared: SharedKey, token: int) -> None:
        with self.lock:
            if not shared.remove(token):
                return
            if shared.members:
                shared.schedule_poll()
            else:
                self._release(shared)

    def _release(self, shared: SharedKey) -> None:
        shared.release()
        if self._keys.get(shared.key) is shared:
            del self._keys[shared.key]
        if not self._keys:
            for stop in self._stop_listening:
                stop()
            self._stop_listening = []

    def _set_enabled(self, query: QueryObserver[Any], enabled: bool) -> None:
        with self.lock:
            shared = query._shared
            if query._enabled == enabled or shared.released:
                query._enabled = enabled
                return
            query._enabled = enabled
            shared.set_member_enabled(query._token, enabled)
            if enabled:
                shared.fetch_if_stale(query._settings.stale_time)
            shared.schedule_poll()
            changed = shared.update_views()
        announce(changed)

    # What happens to the keys

    def _on_invalidate(self, keys: list[Key]) -> None:
        self.call_soon(partial(self._apply_invalidation, keys))

    def _apply_invalidation(self, keys: list[Key]) -> None:
        # The manager names every key it invalidated, so each is one lookup: the cost follows
        # the keys invalidated, not the keys observed.
        changed: list[QueryObserver[Any]] = []
        with self.lock:
            online = self.online.online
            for key in keys:
                shared = self._keys.get(key)
                if shared is None or not shared.has_enabled():
                    continue
                if not online:
                    # Owed, not dropped: the reconnect refetches it.
                    self.manager.pause(key)
                    continue
                shared.refetch_invalidated()
                changed += shared.update_views()
        announce(changed)

    def _on_focus(self, _focused: bool) -> None:
        self.call_soon(partial(self._apply_flags, refetch_on_focus=True))

    def _on_online(self, _online: bool) -> None:
        self.call_soon(partial(self._apply_flags, refetch_on_focus=False))

    def _apply_flags(self, *, refetch_on_focus: bool) -> None:
        """A focus or online change: pause or resume polling; on regaining focus (or the
        network), refetch the stale keys whose queries ask for it, once per throttle window."""
        changed: list[QueryObserver[Any]] = []
        with self.lock:
            for shared in self._keys.values():
                shared.schedule_poll()
            regained = self.focus.focused if refetch_on_focus else self.online.online
            if regained and self.online.online:
                now = self.clock()
                for shared in tuple(self._keys.values()):
                    if shared.fetching or not shared.has_enabled():
                        continue
                    if not refetch_on_focus and shared.owes_refetch():
                        # Invalidated while offline: always refetched on reconnect, which is
                        # never throttled like focus.
                        shared.event_refetch_at = now
                        shared.launch()
                        changed += shared.update_views()
                        continue
                    if refetch_on_focus and now - shared.event_refetch_at < self._throttle:
                        continue
                    stale_times = [
                        query._settings.stale_time
                        for query in shared.live_members()
                        if query._enabled
                        and (
                            query._settings.refetch_on_focus
                            if refetch_on_focus
                            else query._settings.refetch_on_reconnect
                        )
                    ]
                    if stale_times and shared.is_stale(min(stale_times)):
                        shared.event_refetch_at = now
                        shared.launch()
                        changed += shared.update_views()
        announce(changed)
