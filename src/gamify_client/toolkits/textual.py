"""Live queries in a Textual application: queries bound to widgets' reactive attributes and
closed with the widget or screen.

Textual runs on an asyncio loop, so the asynchronous client fits it: open its queries on the
app's loop (in ``on_mount``) and every callback runs there, where the widgets live, with no
``dispatch``. :class:`LiveQueries` is a mixin for a widget, a screen or the app:
``self.bind_query(query, "attribute")`` sets a reactive attribute to the query's data now and
after every change (Textual then calls ``watch_<attribute>`` or recomposes), and every query
bound so is closed when the node is unmounted.

    class XP(LiveQueries, Static):
        xp: reactive[int | None] = reactive(None)

        def on_mount(self) -> None:
            client = self.app.client                      # an AsyncGamifyClient
            self.bind_query(client.use_dashboard_data(select=lambda d: d.user_profile.total_xp),
                            "xp")

        def watch_xp(self, xp: int | None) -> None:
            self.update("Loading..." if xp is None else f"XP {xp}")

With the blocking :class:`~gamify_client.GamifyClient`, set ``client.dispatch =
app_thread_dispatch(app)`` once: its callbacks then reach the app's thread.

Needs the ``textual`` extra (``pip install gamify-client[textual]``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from textual.app import App
from textual.dom import DOMNode

from ..hooks import AsyncQuery, Dispatch, Query

__all__ = ["LiveQueries", "app_thread_dispatch"]

T = TypeVar("T")


class LiveQueries(DOMNode):
    """A mixin for widgets, screens and apps that binds live queries to reactive attributes
    and closes them when the node is unmounted. Put it before the widget class:
    ``class Board(LiveQueries, DataTable)``."""

    _bound_queries: list[AsyncQuery[Any] | Query[Any]]

    def bind_query(
        self, query: AsyncQuery[T] | Query[T], attribute: str
    ) -> AsyncQuery[T] | Query[T]:
        """Set ``self.<attribute>`` (a reactive) to ``query.data`` now and after each change, and
        close the query when this node is unmounted. Returns the query, which the node keeps."""
        if not hasattr(self, "_bound_queries"):
            self._bound_queries = []
        self._bound_queries.append(query)

        def changed(changed_query: AsyncQuery[T] | Query[T]) -> None:
            if self.is_attached:
                setattr(self, attribute, changed_query.data)

        query.subscribe(changed)
        setattr(self, attribute, query.data)
        return query

    @property
    def bound_queries(self) -> tuple[AsyncQuery[Any] | Query[Any], ...]:
        """The queries bound to this node and not yet closed with it."""
        return tuple(getattr(self, "_bound_queries", ()))

    def _on_unmount(self) -> None:
        # Textual calls this handler of the mixin's own class, whatever the subclasses define.
        for query in self.bound_queries:
            query.close()
        self._bound_queries = []


def app_thread_dispatch(app: App[Any]) -> Dispatch:
    """A ``dispatch`` for the blocking client's queries that runs each callback on ``app``'s
    thread: ``app.call_from_thread`` from other threads, and directly on the app's own thread
    (where ``call_from_thread`` raises: a write made there calls back there). Call it on the
    app's thread, e.g. in ``on_mount``."""
    app_thread = threading.get_ident()

    def dispatch(callback: Callable[[], None]) -> None:
        if threading.get_ident() == app_thread:
            callback()
        else:
            app.call_from_thread(callback)

    return dispatch
