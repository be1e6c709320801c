"""``GamifyBackend``: the reference backend, its state and the ways to reach it."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from types import TracebackType

import httpx

from ._asgi import BackendASGIApp
from ._auth import issue_token
from ._defects import Defect, Defects
from ._events_stream import EventStream, LiveStreams
from ._exchange import ExchangeRunner
from ._express import BackendResponse
from ._faults import Faults
from ._idempotency import IdempotencyKeys
from ._ids import ObjectIdFactory
from ._recorder import DEFAULT_REQUEST_LOG_LIMIT, RequestLog
from ._routes import ROUTE_TABLE
from ._routing import BackendState, ClockError, dispatch
from ._seed import DemoData, seed_demo
from ._server import ServerLimits, serve_app
from ._store import Collection, DocumentStore
from ._transport import BackendTransport

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, in UTC: the default clock."""
    return datetime.now(UTC)


class GamifyBackend:
    """The Gamify service's whole contract, in-process, on SQLite, with its defects fixed.

    ``db`` is ``":memory:"`` (the default) or a file path that keeps the data. ``clock``
    returns the aware "now" every write is stamped with (tests move it to cross days).
    ``defects`` switches on copies of the real service's defects. ``secret`` signs the
    tokens (random by default; give one to keep tokens valid across restarts of a file DB).
    ``event_history`` is how many writes :attr:`event_stream` keeps for clients that resume
    ``GET /api/events`` (server push, which the real service does not have). ``debug`` opens
    the real service's debug route (``GET /api/batch-progress/test/:userId``).
    ``request_log_limit`` is how many of the newest requests :attr:`requests` keeps (None: all).

    Reach it in-process with :meth:`transport`, over ASGI with :meth:`asgi_app`, or over a
    real socket with :meth:`serve`; all share the data, :attr:`faults`, :attr:`requests`
    and :attr:`defects`.
    """

    def __init__(
        self,
        db: str | os.PathLike[str] = ":memory:",
        *,
        clock: Clock | None = None,
        defects: Iterable[Defect] = (),
        secret: bytes | None = None,
        event_history: int = 1000,
        debug: bool = False,
        request_log_limit: int | None = DEFAULT_REQUEST_LOG_LIMIT,
    ) -> None:
        self._clock = clock or utc_now
        self.defects = Defects(defects)
        self.faults = Faults()
        self.requests = RequestLog(request_log_limit)
        self.idempotency = IdempotencyKeys()
        self._store = DocumentStore(os.fspath(db))
        self._state = BackendState(
            store=self._store,
            clock=self._now,
            ids=ObjectIdFactory(),
            secret=secret if secret is not None else secrets.token_bytes(32),
            defects=self.defects,
            event_stream=EventStream(event_history),
            debug=debug,
        )
        self._runner = ExchangeRunner(self._handle_lowered, self.faults, self.requests, self._now)

    def _now(self) -> datetime:
        now = self._clock()
        # Asked twice by every request: UTC, the default clock's zone, needs no offset check.
        if now.tzinfo is not UTC and (now.tzinfo is None or now.utcoffset() is None):
            raise ClockError("the backend's clock must return an aware datetime")
        return now

    def handle(
        self,
        method: str,
        path: str,
        query: str = "",
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> BackendResponse:
        """Answer one request, without I/O, faults or recording: the backend's core.

        ``query`` is the raw query string (``"taskId=...&userId=..."``), ``headers`` any
        mapping (names in any case). Returns ``(status, headers, body)``. A write that
        carries an ``Idempotency-Key`` it has seen gets the first answer again
        (:attr:`idempotency`).
        """
        # Header names are matched in lower case, as Express does; lowered once here for the
        # key check and the routes alike.
        lowered = {name.lower(): value for name, value in (headers or {}).items()}
        return self._handle_lowered(method, path, query, lowered, body)

    def _handle_lowered(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> BackendResponse:
        """:meth:`handle` for ``headers`` whose names are in lower case already, as both shells
        (the transport and the ASGI app) hand them over: no copy to lower them again."""
        return self.idempotency.answer(
            method,
            path,
            headers,
            body,
            partial(dispatch, self._state, ROUTE_TABLE, method, path, query, headers, body),
        )

    @property
    def event_stream(self) -> EventStream:
        """Every successful write as a numbered event: what ``GET /api/events`` pushes."""
        return self._state.event_stream

    def transport(self) -> httpx.MockTransport:
        """An in-process transport for ``httpx.Client`` or ``httpx.AsyncClient``."""
        return BackendTransport(self._runner)

    def asgi_app(self) -> BackendASGIApp:
        """The backend as an ASGI application (for uvicorn or any ASGI server)."""
        return BackendASGIApp(self._runner, LiveStreams(self._state.event_stream))

    @contextmanager
    def serve(
        self, host: str = "127.0.0.1", port: int = 0, limits: ServerLimits | None = None
    ) -> Iterator[str]:
        """Serve over a real socket while the block runs; yields the base URL.

        Needs the ``server`` extra (uvicorn). ``port=0`` picks a free port. ``limits`` bound
        what a connection may hold (defaults: :class:`ServerLimits`).
        """
        limits = limits or ServerLimits()
        app = self.asgi_app()
        app.body_timeout = limits.body_timeout
        with serve_app(app, host, port, limits=limits) as base_url:
            try:
                yield base_url
            finally:
                # Open event streams would hold the server's graceful shutdown for seconds.
                app.close_streams()

    def seed_demo(self) -> DemoData:
        """Add a superadmin, an admin, a mentor, three enrolled users, a batch, categories
        and tasks; returns their ids and credentials. Raises ``SeedError`` if they exist.

        The data goes through the routes with every defect off, whatever :attr:`defects` says.
        """
        # The demo's superadmin signs up as the real service lets anyone; the fixed backend
        # refuses that signup (``open_superadmin_signup``) to everyone else.
        without_defects = replace(self._state, defects=Defects(["open_superadmin_signup"]))
        return seed_demo(partial(dispatch, without_defects, ROUTE_TABLE))

    def token_for(self, user_id: str) -> str:
        """A valid token for ``user_id``, as its login would give (no password needed)."""
        with self._store.transaction():
            user = self._store.get(Collection.USERS, user_id)
        if user is None:
            raise KeyError(user_id)
        return issue_token(user_id, user["designation"], secret=self._state.secret, now=self._now())

    def close(self) -> None:
        """Close the database and remove the uploaded files."""
        self._store.close()
        self._state.uploads.close()

    def __enter__(self) -> GamifyBackend:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
