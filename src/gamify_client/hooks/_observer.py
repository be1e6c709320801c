"""One query's view of its key (TanStack Query's ``QueryObserver``): the data it shows, its
subscribers and its lifecycle, shared by both flavours; only waiting for a change differs."""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from .._changes import differs
from .._logging import logger
from ..keys import Key, format_key
from ._options import Dispatch, Settings

if TYPE_CHECKING:
    from ._registry import QueryRegistry
    from ._shared_key import SharedKey

__all__ = ["QueryObserver", "announce", "identity"]

T = TypeVar("T")

_subscriber_tokens = itertools.count()


def identity(data: Any) -> Any:
    """The ``select`` of a query that shows the fetched data as it is."""
    return data


# Up to this many callbacks, a query's snapshot is remade when one subscribes or leaves (a
# few tuple slots), so that a write finds it ready; beyond, it is made by the next change.
_EAGER_SNAPSHOT = 32


class _Subscribers:
    """A query's callbacks by token, and a snapshot of them: announcing walks the snapshot
    without copying it, and checks a token again only when the callbacks changed during the
    walk. The snapshot is remade when the callbacks change (see ``_EAGER_SNAPSHOT``), off the
    path of a write, which then only reads it."""

    __slots__ = ("by_token", "current")

    def __init__(self) -> None:
        self.by_token: dict[int, Callable[[Any], object]] = {}
        # The snapshot, or None when the callbacks changed since it was made.
        self.current: tuple[tuple[int, Callable[[Any], object]], ...] | None = ()

    def snapshot(self) -> tuple[tuple[int, Callable[[Any], object]], ...]:
        """The callbacks as they are now, by token, in subscription order."""
        snapshot = self.current
        if snapshot is None:
            snapshot = self.current = tuple(self.by_token.items())
        return snapshot

    def add(self, callback: Callable[[Any], object]) -> int:
        token = next(_subscriber_tokens)
        self.by_token[token] = callback
        self._changed()
        return token

    def remove(self, token: int) -> None:
        if self.by_token.pop(token, None) is not None:
            self._changed()

    def clear(self) -> None:
        self.by_token.clear()
        self.current = None

    def _changed(self) -> None:
        # A new tuple, never the walked one changed: a walk tells a change by identity.
        by_token = self.by_token
        self.current = tuple(by_token.items()) if len(by_token) <= _EAGER_SNAPSHOT else None


class QueryObserver(Generic[T]):
    """What both query flavours share: the view of the key, subscribers and the lifecycle.

    ``data``, ``loading``, ``error``, ``last_updated`` and ``key`` are plain attributes, so
    reading them costs what reading any attribute costs; treat them as read-only.
    """

    __slots__ = (
        "__weakref__",
        "_closed",
        "_direct",
        "_dispatch",
        "_enabled",
        "_fetch",
        "_finalizer",
        "_keeps_previous",
        "_registry",
        "_select",
        "_select_error",
        "_selected",
        "_selected_version",
        "_settings",
        "_shared",
        "_subscribers",
        "_token",
        "_version",
        "_waiting",
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
    _waiting: Any
    # Truthy while someone waits for a change (a count or the waiters, by flavour): a change
    # wakes nobody otherwise, which ``announce`` checks without calling ``_wake``.

    def __init__(
        self,
        registry: QueryRegistry,
        key: Key,
        fetch: Callable[[], Any],
        settings: Settings,
        select: Callable[[Any], T],
        enabled: bool,
    ) -> None:
        self.key = key
        self.data = None
        self.loading = False
        self.error = None
        self.last_updated = None
        self._registry = registry
        self._settings = settings
        self._dispatch = settings.dispatch
        self._select = select
        # Most queries show their key's data as it is: their view is then the key's data, with
        # nothing to select or to keep (see ``SharedKey.update_views``).
        self._direct = select is identity
        self._keeps_previous = settings.keep_previous_data
        self._selected: T | None = None
        self._selected_version = 0
        self._select_error: Exception | None = None
        self._enabled = enabled
        self._subscribers = _Subscribers()
        self._closed = False
        self._version = 0
        self._fetch = fetch
        # Before attaching: from then on another thread may announce a change to the query.
        self._init_waiting()
        self._attach()

    def _attach(self, fetch: Callable[[], Any] | None = None) -> None:
        """Observe ``self.key`` (made or moved there), with a finalizer that lets go of it."""
        registry = self._registry
        if fetch is not None:
            self._fetch = fetch
        # A moved query must select again from its new key's data, whatever its version.
        self._selected_version = -1
        self._shared, self._token = registry.attach(self, self._fetch)
        self._finalizer = weakref.finalize(
            self, registry.detach_collected, self._shared, self._token
        )
        self._finalizer.atexit = False

    def _detach_for_move(self) -> bool:
        """Let go of the finalizer before a move; False if the query is gone already."""
        return self._finalizer.detach() is not None

    @property
    def is_stale(self) -> bool:
        """Whether the data is missing, invalidated or older than ``stale_time``."""
        return self._shared.is_stale(self._settings.stale_time)

    @property
    def is_optimistic(self) -> bool:
        """Whether the key's data shows a write the server has not confirmed yet (an
        optimistic update, see :mod:`gamify_client.optimistic`)."""
        entry = self._registry.manager.peek(self.key)
        return entry is not None and entry.optimistic

    @property
    def fetching(self) -> bool:
        """Whether a fetch of the key runs or is queued (read it; it calls nobody back)."""
        return self._shared.fetching

    @property
    def enabled(self) -> bool:
        """Whether the query fetches by itself; setting it True fetches stale data at once."""
        return self._enabled

    @enabled.setter
    def enabled(self, enabled: bool) -> None:
        self._registry.set_enabled(self, bool(enabled))

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def subscribe(self, callback: Callable[[Self], object]) -> Callable[[], None]:
        """Call ``callback(query)`` (through ``dispatch``) after each change of ``data``,
        ``loading`` or ``error``; returns an idempotent unsubscribe. A callback that raises is
        logged. No callback runs once it is unsubscribed or the query is closed."""
        subscribers = self._subscribers
        token = subscribers.add(callback)

        def unsubscribe() -> None:
            subscribers.remove(token)

        # It holds the subscribers, not the query, so keeping it does not keep the query alive.
        return unsubscribe

    def invalidate(self) -> None:
        """Mark the key stale everywhere; active queries on it (this one included) refetch."""
        self._registry.manager.invalidate(self.key)

    def close(self) -> None:
        """Stop observing: no more fetches, polls or callbacks for this query. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._subscribers.clear()
        if self._finalizer.detach() is not None:
            self._registry.detach(self._shared, self._token)
        self._wake()

    def _update_view(self, shared: SharedKey) -> bool:
        """Recompute what the query shows from its key's state (under the registry's lock);
        True if ``data``, ``loading`` or ``error`` changed."""
        if self._direct:
            selected, select_error = shared.data, None
        else:
            version = shared.data_version
            if version != self._selected_version:
                self._selected_version = version
                try:
                    self._selected = self._select(shared.data)
                    self._select_error = None
                except Exception as raised:
                    logger.exception("select of the query on %s raised", format_key(self.key))
                    self._select_error = raised
            selected, select_error = self._selected, self._select_error
        fetching = shared.busy > 0 or shared.queued is not None
        hidden = shared.hiding and fetching and not self._keeps_previous
        data = None if hidden else selected
        error = shared.error if shared.error is not None else select_error
        loading = data is None and fetching
        self.last_updated = shared.updated_wall
        # The manager already compared the raw data, so only a select result needs comparing.
        data_changed = data is not self.data and (self._direct or differs(self.data, data))
        if not data_changed and loading == self.loading and error is self.error:
            return False
        if data_changed:
            self.data = data
        self.loading = loading
        self.error = error
        self._version += 1
        return True

    def _dispatch_subscribers(self, dispatch: Dispatch) -> None:
        """Hand each subscriber's call to ``dispatch``; the call checks again, when it runs,
        that the subscriber and the query are still there."""
        for token, _ in self._subscribers.snapshot():
            try:
                dispatch(partial(self._run_subscriber, token))
            except Exception:
                logger.exception(
                    "dispatch of a callback of the query on %s raised", format_key(self.key)
                )

    def _run_subscriber(self, token: int) -> None:
        callback = None if self._closed else self._subscribers.by_token.get(token)
        if callback is None:
            return
        try:
            callback(self)
        except Exception:
            logger.exception("a subscriber of the query on %s raised", format_key(self.key))

    def _init_waiting(self) -> None:
        """Set up what waiting for a change needs (flavour-specific)."""
        raise NotImplementedError

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


def announce(changed: list[QueryObserver[Any]]) -> None:
    """Tell the queries whose view changed; called once the registry's lock is released.

    A write's patch reaches every observer of the keys it touches through here, so the
    common case (callbacks run here and now, no ``dispatch``) is written out in this loop.
    """
    for query in changed:
        if query._closed:
            continue
        dispatch = query._dispatch
        if dispatch is not None:
            query._dispatch_subscribers(dispatch)
            if query._waiting:
                query._wake()
            continue
        subscribers = query._subscribers
        snapshot = subscribers.current
        if snapshot is None:
            snapshot = subscribers.snapshot()
        for token, callback in snapshot:
            # One that unsubscribed, or a close, during an earlier callback is not called.
            if subscribers.current is not snapshot and (
                query._closed or token not in subscribers.by_token
            ):
                continue
            try:
                callback(query)
            except Exception:
                logger.exception("a subscriber of the query on %s raised", format_key(query.key))
        if query._waiting:
            query._wake()
