"""Live queries in a NiceGUI application: the async client on NiceGUI's loop, queries that
update the elements of every connected browser tab, closed when the tab's page goes away.

NiceGUI serves each browser tab its own page (a ``nicegui.Client``) from one asyncio loop.
:func:`attach` ties an :class:`~gamify_client.AsyncGamifyClient` to that loop: it starts the
client's push listener when the app starts and closes the client when the app shuts down.
In a page function (which NiceGUI runs on its loop), :func:`bind_query` paints elements from a
query now and after every change, and closes the query when the tab's page is deleted, i.e.
when the tab was closed or lost its connection for longer than the page's
``reconnect_timeout``. Each tab opens its own queries; the queries of all tabs on one key share
one cache entry, one fetch and one poll timer, so a write reaches every tab at once.

    client = AsyncGamifyClient(base_url=..., token=...)
    attach(client)

    @ui.page("/")
    def index() -> None:
        xp = ui.label()
        bind_query(client.use_dashboard_data(select=lambda d: d.overall_stats.user_total_xp),
                   lambda q: xp.set_text(str(q.data)))

Needs the ``nicegui`` extra (``pip install gamify-client[nicegui]``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from nicegui import Client, app, context

from ..client import AsyncGamifyClient
from ..hooks import AsyncQuery

__all__ = ["attach", "bind_query", "page_queries"]

T = TypeVar("T")

_PAGE_QUERIES: dict[str, list[AsyncQuery[Any]]] = {}


def attach(
    client: AsyncGamifyClient,
    *,
    listen: bool = True,
    on_ready: Callable[[], object] | None = None,
) -> None:
    """Run ``client`` on NiceGUI's loop: with ``listen``, apply the writes the backend pushes
    from app start (other clients' writes then reach every tab at once; without push the
    queries poll), and close the client at app shutdown. ``on_ready`` runs on the loop once the
    client listens. Call it before ``ui.run()``."""

    async def start() -> None:
        if listen:
            await client.listen()
        if on_ready is not None:
            on_ready()

    app.on_startup(start)
    app.on_shutdown(client.close)


def bind_query(
    query: AsyncQuery[T],
    paint: Callable[[AsyncQuery[T]], object],
    *,
    page: Client | None = None,
) -> AsyncQuery[T]:
    """Call ``paint(query)`` now and after every change of ``query`` (on NiceGUI's loop, so it
    may update elements directly), and close the query when ``page`` (by default the page being
    built) is deleted. The page keeps the query until then. Returns the query."""
    owner = page if page is not None else context.client
    queries = _PAGE_QUERIES.get(owner.id)
    if queries is None:
        queries = _PAGE_QUERIES[owner.id] = []
        owner.on_delete(lambda: _close_page_queries(owner.id))
    queries.append(query)
    query.subscribe(paint)
    paint(query)
    return query


def page_queries(page: Client | None = None) -> tuple[AsyncQuery[Any], ...]:
    """The queries bound to ``page`` (by default the current one) and not yet closed with it."""
    owner = page if page is not None else context.client
    return tuple(_PAGE_QUERIES.get(owner.id, ()))


def _close_page_queries(page_id: str) -> None:
    for query in _PAGE_QUERIES.pop(page_id, ()):
        query.close()
