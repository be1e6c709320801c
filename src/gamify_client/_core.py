"""What both clients share: settings, request building, error mapping and the retry rules.
Only sending differs between :class:`GamifyClient` and :class:`AsyncGamifyClient`."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, TypeVar

import httpx
from tenacity import RetryCallState, retry_if_exception, stop_after_attempt

from ._call import Call
from ._logging import enable_debug_logging, logger, safe_url
from ._parsing import status_error
from ._retry import RetryPolicy
from ._urls import parsed_url
from .config import ClientConfig
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    GamifyError,
    NotFoundError,
    ResponseValidationError,
)
from .events import EventManager
from .keys import Key
from .models import LoginResult, MutationResult
from .optimistic import OptimisticUpdate, begin_optimistic
from .persist import PersistedCache
from .realtime import MutationListener, RealtimeSync, Schedule, Write
from .refresh import DataRefreshManager

__all__ = [
    "BaseClient",
    "Call",
    "DeadlineStream",
    "connection_error",
    "decoding_error",
    "mark_retries",
    "may_have_applied",
    "resolve_settings",
    "token_user_id",
    "unexpected_error",
]

T = TypeVar("T")

_NO_PREDICTION: AbstractContextManager[None] = nullcontext()

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def resolve_settings(
    config: ClientConfig | None,
    *,
    base_url: str | None,
    token: str | None,
    timeout: float | None,
    max_retries: int | None,
    default_headers: Mapping[str, str] | None,
    **options: Any,
) -> ClientConfig:
    """A client's settings: its keyword arguments over ``config`` (or the environment);
    ``options`` are more settings by name (None leaves one as it is)."""
    if options.get("offline") is not None:
        options["offline"] = os.fspath(options["offline"])  # a pathlib.Path is welcome too
    return (config or ClientConfig.from_env()).replace(
        base_url=base_url,
        token=token,
        timeout=timeout,
        max_retries=max_retries,
        default_headers=default_headers,
        **options,
    )


def connection_error(exc: httpx.TransportError, request: httpx.Request) -> APIConnectionError:
    """Our error for a transport failure; it records whether the request may have been sent."""
    sent = not isinstance(exc, _NOT_SENT)
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    where = f"{request.method} {safe_url(request.url)}"
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(
            f"request timed out ({detail}) for {where}", request=request, request_sent=sent
        )
    return APIConnectionError(
        f"connection error ({detail}) for {where}", request=request, request_sent=sent
    )


def unexpected_error(exc: Exception, request: httpx.Request | None) -> GamifyError:
    """Our error for any other failure of httpx: an answer whose ``Content-Encoding`` cannot
    be decoded, a URL or header httpx refuses, too many redirects."""
    where = f" for {request.method} {safe_url(request.url)}" if request is not None else ""
    return GamifyError(f"the request failed ({type(exc).__name__}: {exc}){where}")


def decoding_error(exc: Exception, response: httpx.Response) -> ResponseValidationError:
    """Our error for an answer whose body cannot be decoded (a bad ``Content-Encoding``)."""
    return ResponseValidationError(
        f"the body could not be decoded ({type(exc).__name__}: {exc})", response=response
    )


def may_have_applied(error: GamifyError) -> bool:
    """Whether the attempt that failed with ``error`` may have been applied by the server:
    its answer was lost, or a 5xx came back (the real service writes, then answers 500)."""
    if isinstance(error, APIConnectionError):
        return error.request_sent
    return isinstance(error, APIStatusError) and error.status_code >= 500


class DeadlineStream(httpx.SyncByteStream):
    """A response body that must arrive by ``deadline`` (``time.monotonic()``), however
    slowly a server trickles it: each read is bounded by the client's timeout, this bounds
    their sum. Reading also stops once ``stop`` is set (the client closed)."""

    def __init__(
        self,
        stream: Any,
        deadline: float,
        request: httpx.Request,
        *,
        stop: threading.Event | None = None,
    ) -> None:
        self._stream = stream
        self._deadline = deadline
        self._request = request
        self._stop = stop

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            if self._stop is not None and self._stop.is_set():
                raise httpx.ReadError("the client was closed", request=self._request)
            if time.monotonic() > self._deadline:
                raise httpx.ReadTimeout(
                    "the answer did not arrive within the timeout", request=self._request
                )
            yield chunk

    def close(self) -> None:
        self._stream.close()


def _outcome_error(state: RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome is not None else None


def _log_retry(state: RetryCallState) -> None:
    wait = state.next_action.sleep if state.next_action is not None else 0.0
    logger.info(
        "retrying after %s (attempt %d), waiting %.2f s",
        _outcome_error(state),
        state.attempt_number + 1,
        wait,
    )


class BaseClient:
    """Settings, token, shared cache and events, and the I/O-free halves of a request."""

    _config: ClientConfig
    _retry_policy: RetryPolicy
    _realtime: RealtimeSync
    _auth_headers: dict[str, str]
    _persisted: PersistedCache | None = None

    def __init__(
        self,
        *,
        config: ClientConfig,
        refresh_manager: DataRefreshManager | None,
        events: EventManager | None,
        clock: Callable[[], float] | None = None,
        schedule: Schedule | None = None,
    ) -> None:
        self._apply_config(config)
        self.refresh_manager = refresh_manager or DataRefreshManager(
            ttl=config.cache_ttl, gc_time=config.gc_time, clock=clock or time.monotonic
        )
        self.events = events or EventManager()
        if config.debug:
            enable_debug_logging()
        if config.persist_cache and config.offline and schedule is not None:
            self._persisted = PersistedCache(
                config.offline, self.refresh_manager, self.user_id, schedule=schedule
            )

    def _apply_config(self, config: ClientConfig) -> None:
        self._config = config
        self._retry_policy = RetryPolicy(
            max_retries=config.max_retries,
            backoff=config.retry_backoff,
            backoff_max=config.retry_backoff_max,
            retry_after_max=config.retry_after_max,
        )
        self._set_auth_headers(config.token)

    def _set_auth_headers(self, token: str | None) -> None:
        headers = dict(self._config.default_headers)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._auth_headers = headers

    @property
    def config(self) -> ClientConfig:
        """The client's settings."""
        return self._config

    @property
    def base_url(self) -> str:
        """The backend's root URL, e.g. ``http://localhost:3001``."""
        return self._config.base_url

    @property
    def token(self) -> str | None:
        """The JWT sent as ``Authorization: Bearer``; set by :meth:`login` or assigned."""
        return self._config.token

    @token.setter
    def token(self, value: str | None) -> None:
        before = self.user_id
        self._config = dataclasses.replace(self._config, token=value)
        self._set_auth_headers(value)
        if self.user_id != before:
            if self._persisted is not None:
                self._persisted.switch(self.user_id)
            self._identity_changed()

    @property
    def auth_headers(self) -> dict[str, str]:
        """The headers every request of this client carries (its default headers and the
        token's ``Authorization``), for a link to the same backend made outside the client.
        A copy: changing it changes nothing."""
        return dict(self._auth_headers)

    def on_mutation(self, listener: MutationListener) -> Callable[[], None]:
        """Call ``listener`` after each write this client (or a ``with_options`` copy of it)
        made and applied, with the :class:`~gamify_client.realtime.AppliedMutation`: what a
        bridge to other processes publishes. Returns an idempotent unsubscribe."""
        return self._realtime.subscribe(listener)

    def apply_remote_write(
        self, write: Write[Any], request: Mapping[str, Any], result: Any
    ) -> list[Key]:
        """Apply a write another process made (its rule's patches, invalidations and event),
        without announcing it to :meth:`on_mutation` listeners again; returns the keys it
        invalidated."""
        return self._realtime.after_mutation(write, request, result, remote=True)

    @property
    def writes_in_flight(self) -> int:
        """How many writes of this client (and its ``with_options`` copies) are being sent or
        settled right now."""
        return self._realtime.writes_in_flight

    def _copy_settings(self, changes: Mapping[str, Any]) -> tuple[ClientConfig, bool]:
        """For ``with_options``: the settings to build the copy with, and whether it shares
        this client's outbox. It does unless ``changes`` name another file; it is then built
        without one (a second connection, replaying on its own), and given this one's."""
        # The persisted cache stays with the client that opened it.
        settings = self._config.with_changes(**{"persist_cache": False, **changes})
        shares = settings.offline is not None and "offline" not in changes
        return (dataclasses.replace(settings, offline=None) if shares else settings), shares

    def _optimistic_begin(self, call: Call[Any]) -> OptimisticUpdate | None:
        """Show the predicted effect of the write ``call`` to observers now, marked optimistic;
        the handle that settles it (``settle(result)``, after the answer was applied) or takes
        it back (``rollback(error)``), or None when nothing was shown (no prediction for the
        write, or no data cached for the keys it changes). The outbox calls it for a queued
        write; :meth:`_optimistic_call` for an online one of an ``optimistic`` client."""
        return begin_optimistic(call, self.refresh_manager, self.events, viewer=self.user_id)

    def _optimistic_call(self, call: Call[Any], predict: bool) -> AbstractContextManager[None]:
        """Wraps sending a call: when ``predict``, the call is a write and the client is
        ``optimistic``, the prediction shows before the request leaves, goes once the answer
        was applied, and is rolled back when the call raises. Any other call gets a shared
        context that does nothing: it is on the path of every GET."""
        if predict and call.mutation is not None and self._config.optimistic:
            return self._predicting(call)
        return _NO_PREDICTION

    @contextmanager
    def _predicting(self, call: Call[Any]) -> Iterator[None]:
        update = self._optimistic_begin(call)
        if update is None:
            yield
            return
        try:
            yield
        except BaseException as error:
            update.rollback(error)
            raise
        update.settle()

    @property
    def persisted_cache(self) -> PersistedCache | None:
        """The persisted cache (``persist_cache=True``), or None."""
        return self._persisted

    def _close_persisted_cache(self) -> None:
        if self._persisted is not None:
            self._persisted.close()

    def _identity_changed(self) -> None:
        """The token now names another user (or none): data keyed by who asks follows it.
        The live queries override this; the base client keys nothing by user."""

    @property
    def user_id(self) -> str | None:
        """The id of the token's user (read from the JWT's ``id`` claim, not verified), used
        to key data that depends on who asks, such as the dashboard."""
        return token_user_id(self._config.token)

    @property
    def max_retries(self) -> int:
        """How many times a retryable failure is retried."""
        return self._config.max_retries

    def _build_request(
        self, http: httpx.Client | httpx.AsyncClient, call: Call[Any]
    ) -> httpx.Request:
        return http.build_request(
            call.method,
            parsed_url(self._config.base_url + call.path),
            params=call.params,
            json=call.json,
            files=call.files,
            data=call.data,
            headers={**self._auth_headers, **call.headers} if call.headers else self._auth_headers,
            timeout=self._config.timeout,
        )

    def _retry_plan(self, call: Call[Any], first_error: GamifyError) -> dict[str, Any] | None:
        """How to retry after the first attempt failed with ``first_error``: tenacity's
        options for the remaining attempts, or None when the error is final.

        The first attempt runs outside tenacity, so a call that succeeds at once (nearly
        every call) pays nothing for the retry machinery.
        """
        policy = self._retry_policy
        if policy.max_retries == 0 or not policy.should_retry(call, first_error):
            return None
        return {
            "stop": stop_after_attempt(policy.max_retries),
            "wait": lambda state: policy.delay(state.attempt_number + 1, _outcome_error(state)),
            "retry": retry_if_exception(lambda error: policy.should_retry(call, error)),
            "reraise": True,
            "before_sleep": _log_retry,
        }

    def _first_retry_delay(self, first_error: GamifyError) -> float:
        delay = self._retry_policy.delay(1, first_error)
        logger.info("retrying after %s (attempt 1), waiting %.2f s", first_error, delay)
        return delay

    def _already_deleted(self, call: Call[T], maybe_applied: bool, error: GamifyError) -> T | None:
        """A DELETE that found nothing on a retry, after an earlier attempt may have been
        applied, has succeeded: its result, with ``data`` None (the client never saw the
        deleted document), after the write's rule was applied; None for any other error."""
        if not (
            call.method == "DELETE"
            and call.mutation is not None
            and maybe_applied
            and isinstance(error, NotFoundError)
        ):
            return None
        logger.info(
            "%s found nothing after an earlier attempt may have deleted it: taken as done",
            call.path,
        )
        result: Any = MutationResult(
            data=None, message="Deleted by an earlier attempt whose answer was lost", body=None
        )
        self._realtime.after_mutation(call.mutation, call.context, result)
        known: T = result
        return known

    def _settle(self, call: Call[T], response: httpx.Response) -> T:
        """The parsed result of a successful answer, after what it means for the client: a
        login's token kept, a write's real-time rule applied."""
        try:
            result = call.parse(response)
        except RecursionError:
            raise ResponseValidationError(
                "the body nests too deeply to be read", response=response
            ) from None
        if call.keeps_token and isinstance(result, LoginResult):
            self.token = result.token
        if call.mutation is not None:
            self._realtime.after_mutation(call.mutation, call.context, result)
        return result

    def _check(self, response: httpx.Response) -> httpx.Response:
        if response.status_code >= 400:
            raise status_error(response)
        return response

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={safe_url(self._config.base_url)!r})"


def token_user_id(token: str | None) -> str | None:
    """The ``id`` claim of a JWT, or None when there is no readable one."""
    if not token or token.count(".") != 2:
        return None
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error):
        return None
    user_id = claims.get("id") if isinstance(claims, dict) else None
    return user_id if isinstance(user_id, str) else None


def mark_retries(error: GamifyError, attempts: int) -> None:
    """Record on ``error`` how many retries preceded it."""
    error.retries = max(0, attempts - 1)
