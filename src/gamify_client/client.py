"""The two clients: :class:`GamifyClient` (blocking) and :class:`AsyncGamifyClient` (asyncio).

They share everything but sending (see ``_core.BaseClient``): settings, request building,
retry rules, parsing and the real-time rules applied after each write.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from tenacity import AsyncRetrying, Retrying

from ._async_http import async_http_client
from ._core import (
    BaseClient,
    Call,
    DeadlineStream,
    connection_error,
    decoding_error,
    mark_retries,
    may_have_applied,
    resolve_settings,
    unexpected_error,
)
from ._links import AsyncLinksMixin, LinksMixin
from ._logging import log_request, log_response, logger
from ._loops import running_loop
from .config import ClientConfig, HttpBackend
from .errors import ClientClosedError, GamifyError
from .events import EventManager
from .hooks import AsyncQueriesMixin, Dispatch, QueriesMixin
from .outbox import AsyncOutbox, Outbox, open_outbox, queueable
from .realtime import RealtimeSync
from .refresh import DataRefreshManager
from .resources import (
    Analytics,
    AsyncAnalytics,
    AsyncBatches,
    AsyncCategories,
    AsyncFeedback,
    AsyncProgress,
    AsyncSurveys,
    AsyncTasks,
    AsyncUsers,
    Batches,
    Categories,
    Feedback,
    Progress,
    Surveys,
    Tasks,
    Users,
)
from .resources._base import async_endpoint, sync_endpoint
from .resources.users import login_user, register_user
from .timers import AsyncScheduler, Scheduler

__all__ = ["AsyncGamifyClient", "GamifyClient"]

T = TypeVar("T")


class GamifyClient(QueriesMixin, LinksMixin, BaseClient):
    """A blocking client for the Gamify backend.

    Every argument falls back to its ``GAMIFY_*`` environment variable, then to the default
    (``http://localhost:3001``, no token, 10 s timeout, 2 retries). Pass ``http_client`` to
    use your own ``httpx.Client`` (it is then yours to close), and ``refresh_manager`` /
    ``events`` to share one cache and one event bus between several clients. ``scheduler``
    runs the client's timers and background fetches (a ``Scheduler(clock=..., threaded=False)``
    lets a test drive them; the default cache then uses its clock too). ``dispatch`` is how the
    callbacks of its queries run when a ``use_*`` method is given none, e.g. on a UI thread
    (also settable later as ``client.dispatch``). ``offline`` is a SQLite file: with it every
    write is kept in its outbox before it is sent, and one made offline raises
    :class:`~gamify_client.outbox.WriteQueued` and is replayed later (``client.outbox``);
    ``persist_cache=True`` also keeps the cache's server data there and shows it, stale, when
    the same user's client starts again. ``optimistic=True`` shows each write's predicted
    effect to observers before its answer (queued writes always show theirs). See
    :mod:`gamify_client.outbox`, :mod:`gamify_client.optimistic` and
    :mod:`gamify_client.persist`.

    >>> with GamifyClient(base_url="http://localhost:3001") as client:
    ...     client.login(email="admin@example.com", password="secret")
    ...     tasks = client.tasks.list()
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        token: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        http_client: httpx.Client | None = None,
        default_headers: Mapping[str, str] | None = None,
        config: ClientConfig | None = None,
        refresh_manager: DataRefreshManager | None = None,
        events: EventManager | None = None,
        scheduler: Scheduler | None = None,
        dispatch: Dispatch | None = None,
        optimistic: bool | None = None,
        offline: str | os.PathLike[str] | None = None,
        persist_cache: bool | None = None,
    ) -> None:
        settings = resolve_settings(
            config,
            base_url=base_url,
            token=token,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            optimistic=optimistic,
            offline=offline,
            persist_cache=persist_cache,
        )
        self._owns_scheduler = scheduler is None
        self.scheduler = scheduler or Scheduler()
        super().__init__(
            config=settings,
            refresh_manager=refresh_manager,
            events=events,
            clock=scheduler.clock if scheduler is not None else None,
            schedule=self.scheduler.call_later,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=settings.timeout)
        self._closing = threading.Event()
        self._sleep: Callable[[float], None] = self._pause
        self._realtime = RealtimeSync(
            self.refresh_manager, self.events, settings, self.scheduler.call_later
        )
        self.tasks = Tasks(self)
        self.categories = Categories(self)
        self.batches = Batches(self)
        self.progress = Progress(self)
        self.users = Users(self)
        self.feedback = Feedback(self)
        self.analytics = Analytics(self)
        self.surveys = Surveys(self)
        self.dispatch = dispatch
        self._init_queries(self._request)
        self.outbox: Outbox | None = None
        self._stop_outbox: Callable[[], None] | None = None
        core = open_outbox(settings.offline, self.events, self._realtime.after_mutation)
        if core is not None:
            self.outbox = Outbox(core, self, self._send)
            _follow_reconnects(self)
            self._replay_when_online(self.online.online)

    login = sync_endpoint(login_user)
    register = sync_endpoint(register_user)

    def with_options(self, **changes: Any) -> GamifyClient:
        """A client with some settings changed (``token=``, ``timeout=``, ``max_retries=``,
        ...; ``token=None`` gives a client without one), sharing this one's connection pool,
        cache, events, default ``dispatch``, scheduler (so it starts no thread of its own),
        focus and online managers, and real-time sync: a write through the copy reaches the
        bridges and push listeners attached to this client. Closing the copy closes its
        queries only."""
        settings, shared_outbox = self._copy_settings(changes)
        copy = GamifyClient(
            config=settings,
            http_client=self._http,
            refresh_manager=self.refresh_manager,
            events=self.events,
            scheduler=self.scheduler,
            dispatch=self.dispatch,
        )
        _share_with(copy, self, shared_outbox)
        return copy

    def _request(self, call: Call[T]) -> T:
        if self.outbox is not None and queueable(call):
            return self.outbox.send_or_queue(
                call, online=self.online.online, optimistic=self._config.optimistic
            )
        return self._send(call, predict=True)

    def _identity_changed(self) -> None:
        super()._identity_changed()
        if self.outbox is not None:
            # Logged in as someone (else): their queued writes go now, as at a start.
            self._replay_when_online(self.online.online)

    def _replay_when_online(self, online: bool) -> None:
        """Back online (or starting online): replay the outbox on a background worker."""
        if online and not self._closing.is_set():
            self.scheduler.submit(self._replay_quietly)

    def _replay_quietly(self) -> None:
        if self.outbox is None or self._closing.is_set():
            return
        try:
            self.outbox.replay()
        except Exception:
            logger.exception("replaying the outbox failed; its writes stay queued")

    def _send(self, call: Call[T], predict: bool = False) -> T:
        """Send one call now, with the retry rules, and settle its answer. ``predict`` is True
        for a write method's own call, which shows its prediction when the client is
        ``optimistic``; the outbox sends with it False, as it shows a queued write's itself."""
        with self._realtime.sending(call.mutation), self._optimistic_call(call, predict):
            try:
                response = self._send_once(call, 1)
            except GamifyError as error:
                applied = [may_have_applied(error)]
                try:
                    response = self._retry(call, error, applied)
                except GamifyError as final:
                    known = self._already_deleted(call, any(applied[:-1]), final)
                    if known is None:
                        raise
                    return known
            return self._settle(call, response)

    def _retry(
        self, call: Call[Any], first_error: GamifyError, applied: list[bool]
    ) -> httpx.Response:
        """The remaining attempts; ``applied`` gets, for each failed one, whether it may
        have been applied."""
        plan = self._retry_plan(call, first_error)
        if plan is None:
            raise first_error
        self._sleep(self._first_retry_delay(first_error))
        retrying = Retrying(sleep=self._sleep, **plan)
        try:
            for attempt in retrying:
                with attempt:
                    try:
                        return self._send_once(call, attempt.retry_state.attempt_number + 1)
                    except GamifyError as error:
                        applied.append(may_have_applied(error))
                        raise
        except GamifyError as error:
            mark_retries(error, retrying.statistics.get("attempt_number", 0) + 1)
            raise
        raise AssertionError("tenacity ended without an outcome")

    def _pause(self, seconds: float) -> None:
        """The wait before a retry; it ends at once when the client closes."""
        self._closing.wait(seconds)

    def _send_once(self, call: Call[Any], attempt: int) -> httpx.Response:
        """One attempt, bounded as a whole by the client's timeout: a server that trickles
        its answer cannot stretch it. A closed client sends nothing more."""
        if self._closing.is_set() or self._http.is_closed:
            raise ClientClosedError(f"the client is closed; {call.method} {call.path} was not sent")
        try:
            request = self._build_request(self._http, call)
        except (httpx.InvalidURL, UnicodeError, ValueError, TypeError) as exc:
            raise unexpected_error(exc, None) from exc
        log_request(request, attempt)
        deadline = time.monotonic() + self._config.timeout
        try:
            response = self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise connection_error(exc, request) from exc
        except (httpx.HTTPError, httpx.StreamError) as exc:
            raise unexpected_error(exc, request) from exc
        try:
            response.stream = DeadlineStream(response.stream, deadline, request, stop=self._closing)
            response.read()
        except httpx.TransportError as exc:
            raise connection_error(exc, request) from exc
        except httpx.DecodingError as exc:
            raise decoding_error(exc, response) from exc
        except (httpx.HTTPError, httpx.StreamError) as exc:
            raise unexpected_error(exc, request) from exc
        finally:
            response.close()
        log_response(response)
        return self._check(response)

    def close(self) -> None:
        """Close the client's bridges, push listeners and queries, stop its timers and close
        the connection pool (unless it was passed in as ``http_client``). A background fetch
        still running (a live query's, on the scheduler thread) is cut off: nothing the
        client started outlives this call."""
        self._closing.set()
        self._close_links()
        self._close_queries()
        self._close_persisted_cache()
        if self._owns_http:
            _abort_in_flight(self._http)
        if self._owns_scheduler:
            self.scheduler.close()
        if self._owns_http:
            self._http.close()
        if self._stop_outbox is not None and self.outbox is not None:
            self._stop_outbox()
            self.outbox.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


_Client = TypeVar("_Client", "GamifyClient", "AsyncGamifyClient")


def _share_with(copy: _Client, parent: _Client, shared_outbox: bool) -> None:
    """What a ``with_options`` copy takes from its parent: the real-time sync, the focus and
    online managers and, unless it names another file, the outbox."""
    copy._realtime = parent._realtime
    copy._share_managers(parent)
    if shared_outbox and parent.outbox is not None:
        copy._config = dataclasses.replace(copy._config, offline=parent._config.offline)
        copy.outbox = parent.outbox.for_client(copy, copy._send)
    elif copy.outbox is not None:
        _follow_reconnects(copy)


def _follow_reconnects(client: GamifyClient | AsyncGamifyClient) -> None:
    """Replay the client's own outbox each time its online manager goes back online; again
    after ``with_options`` gave a copy its parent's manager."""
    if client._stop_outbox is not None:
        client._stop_outbox()
    client._stop_outbox = client.online.subscribe(client._replay_when_online)


def _abort_in_flight(http: httpx.Client) -> None:
    """Shut down the sockets of the pool's connections, which wakes a thread blocked reading
    an answer on one (closing a socket alone does not)."""
    pool = getattr(getattr(http, "_transport", None), "_pool", None)
    for connection in list(getattr(pool, "connections", ())):
        inner = getattr(connection, "_connection", None)
        stream = getattr(inner, "_network_stream", None)
        with suppress(Exception):
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                sock.shutdown(socket.SHUT_RDWR)


class AsyncGamifyClient(AsyncQueriesMixin, AsyncLinksMixin, BaseClient):
    """The asyncio client: the same names as :class:`GamifyClient`, awaited.

    ``scheduler`` runs the periodic refreshes of its queries, from one task on the loop (an
    ``AsyncScheduler(clock=..., autorun=False)`` lets a test drive them; the default cache then
    uses its clock too). ``dispatch`` is the default ``dispatch`` of its queries, and
    ``optimistic``, ``offline`` (its outbox and persisted cache) and ``persist_cache`` work,
    as for :class:`GamifyClient`.
    ``http_backend="aiohttp"`` (or ``GAMIFY_HTTP_BACKEND=aiohttp``) sends through aiohttp
    instead of httpx's own transport, which keeps the client fast with many calls in flight;
    it needs the ``aiohttp`` extra. An ``http_client`` you pass wins.

    >>> async with AsyncGamifyClient(base_url="http://localhost:3001") as client:
    ...     await client.login(email="admin@example.com", password="secret")
    ...     tasks = await client.tasks.list()
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        token: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        http_client: httpx.AsyncClient | None = None,
        default_headers: Mapping[str, str] | None = None,
        config: ClientConfig | None = None,
        refresh_manager: DataRefreshManager | None = None,
        events: EventManager | None = None,
        scheduler: AsyncScheduler | None = None,
        dispatch: Dispatch | None = None,
        optimistic: bool | None = None,
        offline: str | os.PathLike[str] | None = None,
        persist_cache: bool | None = None,
        http_backend: HttpBackend | None = None,
    ) -> None:
        settings = resolve_settings(
            config,
            base_url=base_url,
            token=token,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            optimistic=optimistic,
            offline=offline,
            persist_cache=persist_cache,
        ).replace(http_backend=http_backend)
        self._owns_scheduler = scheduler is None
        self.scheduler = scheduler or AsyncScheduler()
        super().__init__(
            config=settings,
            refresh_manager=refresh_manager,
            events=events,
            clock=scheduler.clock if scheduler is not None else None,
            schedule=self.scheduler.call_later,
        )
        self._owns_http = http_client is None
        self._http = http_client or async_http_client(settings)
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self._closed = False
        self._realtime = RealtimeSync(
            self.refresh_manager, self.events, settings, self.scheduler.call_later
        )
        self.tasks = AsyncTasks(self)
        self.categories = AsyncCategories(self)
        self.batches = AsyncBatches(self)
        self.progress = AsyncProgress(self)
        self.users = AsyncUsers(self)
        self.feedback = AsyncFeedback(self)
        self.analytics = AsyncAnalytics(self)
        self.surveys = AsyncSurveys(self)
        self.dispatch = dispatch
        self._init_queries(self._request)
        self.outbox: AsyncOutbox | None = None
        self._stop_outbox: Callable[[], None] | None = None
        self._replays: set[asyncio.Task[None]] = set()
        self._replays_started = False
        core = open_outbox(settings.offline, self.events, self._realtime.after_mutation)
        if core is not None:
            self.outbox = AsyncOutbox(core, self, self._send)
            _follow_reconnects(self)
            self._replay_when_online(self.online.online)

    login = async_endpoint(login_user)
    register = async_endpoint(register_user)

    def with_options(self, **changes: Any) -> AsyncGamifyClient:
        """A client with some settings changed (``token=None`` gives a client without one),
        sharing this one's connection pool, cache, events, default ``dispatch``, scheduler,
        focus and online managers, and real-time sync (so its writes reach this client's
        bridges). Closing the copy closes its queries only."""
        settings, shared_outbox = self._copy_settings(changes)
        copy = AsyncGamifyClient(
            config=settings,
            http_client=self._http,
            refresh_manager=self.refresh_manager,
            events=self.events,
            scheduler=self.scheduler,
            dispatch=self.dispatch,
        )
        _share_with(copy, self, shared_outbox)
        return copy

    async def _request(self, call: Call[T]) -> T:
        if self.outbox is not None and queueable(call):
            return await self.outbox.send_or_queue(
                call, online=self.online.online, optimistic=self._config.optimistic
            )
        return await self._send(call, predict=True)

    def _identity_changed(self) -> None:
        super()._identity_changed()
        if self.outbox is not None:
            # Logged in as someone (else): their queued writes go now, as at a start.
            self._replay_when_online(self.online.online)

    def _replay_when_online(self, online: bool) -> None:
        """Back online (or starting online: made inside a running loop, or entered with
        ``async with``): replay the outbox in a task. Without a running loop in this thread,
        the replay waits for the next write or for ``await client.outbox.replay()``."""
        loop = running_loop()
        if online and loop is not None and not self._closed:
            self._replays_started = True
            task = loop.create_task(self._replay_quietly())
            self._replays.add(task)
            task.add_done_callback(self._replays.discard)

    async def _replay_quietly(self) -> None:
        if self.outbox is None or self._closed:
            return
        try:
            await self.outbox.replay()
        except Exception:
            logger.exception("replaying the outbox failed; its writes stay queued")

    async def _send(self, call: Call[T], predict: bool = False) -> T:
        """Send one call now, with the retry rules, and settle its answer. ``predict`` is True
        for a write method's own call, which shows its prediction when the client is
        ``optimistic``; the outbox sends with it False, as it shows a queued write's itself."""
        with self._realtime.sending(call.mutation), self._optimistic_call(call, predict):
            try:
                response = await self._send_once(call, 1)
            except GamifyError as error:
                applied = [may_have_applied(error)]
                try:
                    response = await self._retry(call, error, applied)
                except GamifyError as final:
                    known = self._already_deleted(call, any(applied[:-1]), final)
                    if known is None:
                        raise
                    return known
            return self._settle(call, response)

    async def _retry(
        self, call: Call[Any], first_error: GamifyError, applied: list[bool]
    ) -> httpx.Response:
        plan = self._retry_plan(call, first_error)
        if plan is None:
            raise first_error
        await self._sleep(self._first_retry_delay(first_error))
        retrying = AsyncRetrying(sleep=self._sleep, **plan)
        try:
            async for attempt in retrying:
                with attempt:
                    try:
                        return await self._send_once(call, attempt.retry_state.attempt_number + 1)
                    except GamifyError as error:
                        applied.append(may_have_applied(error))
                        raise
        except GamifyError as error:
            mark_retries(error, retrying.statistics.get("attempt_number", 0) + 1)
            raise
        raise AssertionError("tenacity ended without an outcome")

    async def _send_once(self, call: Call[Any], attempt: int) -> httpx.Response:
        """One attempt, bounded as a whole by the client's timeout. A closed client sends
        nothing more."""
        if self._closed or self._http.is_closed:
            raise ClientClosedError(f"the client is closed; {call.method} {call.path} was not sent")
        try:
            request = self._build_request(self._http, call)
        except (httpx.InvalidURL, UnicodeError, ValueError, TypeError) as exc:
            raise unexpected_error(exc, None) from exc
        log_request(request, attempt)
        response: httpx.Response | None = None
        try:
            async with asyncio.timeout(self._config.timeout):
                response = await self._http.send(request, stream=True)
                await response.aread()
        except TimeoutError as exc:
            raise connection_error(
                httpx.ReadTimeout("the answer did not arrive within the timeout"), request
            ) from exc
        except httpx.TransportError as exc:
            raise connection_error(exc, request) from exc
        except httpx.DecodingError as exc:
            if response is None:
                raise unexpected_error(exc, request) from exc
            raise decoding_error(exc, response) from exc
        except (httpx.HTTPError, httpx.StreamError) as exc:
            raise unexpected_error(exc, request) from exc
        finally:
            if response is not None:
                await response.aclose()
        log_response(response)
        return self._check(response)

    async def close(self) -> None:
        """Close the client's bridges, push listeners and queries, stop its timers and close
        the connection pool (unless it was passed in as ``http_client``)."""
        self._closed = True
        for task in list(self._replays):
            task.cancel()
        await asyncio.gather(*self._replays, return_exceptions=True)
        await self._close_links()
        self._close_queries()
        self._close_persisted_cache()
        if self._owns_scheduler:
            self.scheduler.close()
        if self._owns_http:
            await self._http.aclose()
        if self._stop_outbox is not None and self.outbox is not None:
            self._stop_outbox()
            self.outbox.close()

    aclose = close

    async def __aenter__(self) -> Self:
        if self.outbox is not None and not self._replays_started:
            # Made outside a loop: the replay a client starts with begins here.
            self._replay_when_online(self.online.online)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
