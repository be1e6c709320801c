"""What both clients share: settings, request building, error mapping and the retry rules.
Only sending differs between :class:`GamifyClient` and :class:`AsyncGamifyClient`."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpx
from tenacity import RetryCallState, retry_if_exception, stop_after_attempt

from ._call import Call
from ._logging import enable_debug_logging, logger
from ._parsing import status_error
from ._retry import RetryPolicy
from .config import ClientConfig
from .errors import APIConnectionError, APITimeoutError, GamifyError
from .events import EventManager
from .models import LoginResult
from .realtime import RealtimeSync
from .refresh import DataRefreshManager

__all__ = [
    "BaseClient",
    "Call",
    "connection_error",
    "mark_retries",
    "resolve_settings",
    "token_user_id",
]

T = TypeVar("T")

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def resolve_settings(
    config: ClientConfig | None,
    *,
    base_url: str | None,
    token: str | None,
    timeout: float | None,
    max_retries: int | None,
    default_headers: Mapping[str, str] | None,
) -> ClientConfig:
    """A client's settings: its keyword arguments over ``config`` (or the environment)."""
    return (config or ClientConfig.from_env()).replace(
        base_url=base_url,
        token=token,
        timeout=timeout,
        max_retries=max_retries,
        default_headers=default_headers,
    )


def connection_error(exc: httpx.TransportError, request: httpx.Request) -> APIConnectionError:
    """Our error for a transport failure; it records whether the request may have been sent."""
    sent = not isinstance(exc, _NOT_SENT)
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    where = f"{request.method} {request.url}"
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(
            f"request timed out ({detail}) for {where}", request=request, request_sent=sent
        )
    return APIConnectionError(
        f"connection error ({detail}) for {where}", request=request, request_sent=sent
    )


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

    def __init__(
        self,
        *,
        config: ClientConfig,
        refresh_manager: DataRefreshManager | None,
        events: EventManager | None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._apply_config(config)
        self.refresh_manager = refresh_manager or DataRefreshManager(
            ttl=config.cache_ttl, gc_time=config.gc_time, clock=clock or time.monotonic
        )
        self.events = events or EventManager()
        if config.debug:
            enable_debug_logging()

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
        self._config = dataclasses.replace(self._config, token=value)
        self._set_auth_headers(value)

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
            self._config.base_url + call.path,
            params=call.params,
            json=call.json,
            files=call.files,
            data=call.data,
            headers=self._auth_headers,
            timeout=self._config.timeout,
        )

    def _retry_plan(self, method: str, first_error: GamifyError) -> dict[str, Any] | None:
        """How to retry after the first attempt failed with ``first_error``: tenacity's
        options for the remaining attempts, or None when the error is final.

        The first attempt runs outside tenacity, so a call that succeeds at once (nearly
        every call) pays nothing for the retry machinery.
        """
        policy = self._retry_policy
        if policy.max_retries == 0 or not policy.should_retry(method, first_error):
            return None
        return {
            "stop": stop_after_attempt(policy.max_retries),
            "wait": lambda state: policy.delay(state.attempt_number + 1, _outcome_error(state)),
            "retry": retry_if_exception(lambda error: policy.should_retry(method, error)),
            "reraise": True,
            "before_sleep": _log_retry,
        }

    def _first_retry_delay(self, first_error: GamifyError) -> float:
        delay = self._retry_policy.delay(1, first_error)
        logger.info("retrying after %s (attempt 1), waiting %.2f s", first_error, delay)
        return delay

    def _settle(self, call: Call[T], response: httpx.Response) -> T:
        """The parsed result of a successful answer, after what it means for the client: a
        login's token kept, a write's real-time rule applied."""
        result = call.parse(response)
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
        return f"{type(self).__name__}(base_url={self._config.base_url!r})"


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
