"""Focus and online managers: two flags a frontend sets from its window and network events,
and that live queries listen to (TanStack Query's ``focusManager`` and ``onlineManager``).

Both start True: a client that is never told otherwise polls and refetches as if its window
had focus and its network were up.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from functools import partial

from ._logging import logger

__all__ = ["FocusManager", "OnlineManager", "StateListener"]

StateListener = Callable[[bool], object]
"""Called with the new value each time the flag changes."""


class _Flag:
    """A thread-safe boolean whose listeners hear each change once, outside the lock."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._value = True
        self._lock = threading.Lock()
        self._listeners: dict[int, StateListener] = {}
        self._tokens = itertools.count()

    def subscribe(self, listener: StateListener) -> Callable[[], None]:
        """Call ``listener(value)`` on each change; returns an idempotent unsubscribe."""
        with self._lock:
            token = next(self._tokens)
            self._listeners[token] = listener
        return partial(self._unsubscribe, token)

    def listener_count(self) -> int:
        """How many listeners are subscribed."""
        with self._lock:
            return len(self._listeners)

    def _unsubscribe(self, token: int) -> None:
        with self._lock:
            self._listeners.pop(token, None)

    def _set(self, value: bool) -> None:
        with self._lock:
            if self._value == value:
                return
            self._value = value
            listeners = tuple(self._listeners.values())
        for listener in listeners:
            try:
                listener(value)
            except Exception:
                logger.exception("a %s listener raised", self._name)


class FocusManager(_Flag):
    """Whether the application's window has focus.

    Wire it to your toolkit's events, e.g. for Tk::

        root.bind("<FocusIn>", lambda _e: client.set_focused(True))
        root.bind("<FocusOut>", lambda _e: client.set_focused(False))
    """

    def __init__(self) -> None:
        super().__init__("focus")

    @property
    def focused(self) -> bool:
        """True unless :meth:`set_focused` said otherwise."""
        return self._value

    def set_focused(self, focused: bool) -> None:
        """Record a focus change; listeners run only when the value changes."""
        self._set(bool(focused))


class OnlineManager(_Flag):
    """Whether the network is reachable, as the application knows it."""

    def __init__(self) -> None:
        super().__init__("online")

    @property
    def online(self) -> bool:
        """True unless :meth:`set_online` said otherwise."""
        return self._value

    def set_online(self, online: bool) -> None:
        """Record a connectivity change; listeners run only when the value changes."""
        self._set(bool(online))
