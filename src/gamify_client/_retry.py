"""When a failed request is tried again, and after how long. No I/O: both clients drive it
through tenacity.

A repeat must never duplicate a write, and the HTTP method is no guide to that (the real
service's ``PUT /api/task/start/:id`` counts every call). So the decision follows the endpoint:

- a read (GET, HEAD, OPTIONS) is retried on connection errors, timeouts, 429 and 502-504;
- a write whose :class:`~gamify_client.realtime.Write` is ``repeatable`` (CONTRACT.md says
  sending it again changes nothing more) is retried like a read;
- any other write (and a write without a ``Write``, such as login or register) is retried only
  when the request never left (the connection was never made), since the real service can
  write and then answer 500 or lose the answer (CONTRACT.md, defect 1).

No other 4xx is retried.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from tenacity import RetryCallState

from ._call import Call
from .errors import APIConnectionError, APIStatusError, GamifyError

__all__ = [
    "READ_METHODS",
    "RETRYABLE_STATUSES",
    "RetryPolicy",
    "may_repeat",
    "parse_retry_after",
]

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


def parse_retry_after(headers: httpx.Headers, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def may_repeat(call: Call[Any]) -> bool:
    """Whether ``call`` may be sent again after it may have reached the server: a read, or a
    write whose ``Write`` is ``repeatable``."""
    if call.method.upper() in READ_METHODS and call.mutation is None:
        return True
    return call.mutation is not None and call.mutation.repeatable


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The retry rules of one client: which errors to retry and the full-jitter backoff."""

    max_retries: int
    backoff: float
    backoff_max: float
    retry_after_max: float

    def should_retry(self, call: Call[Any], error: BaseException) -> bool:
        """Whether ``error``, met by ``call``, may be retried."""
        if not isinstance(error, GamifyError):
            return False
        idempotent = may_repeat(call)
        if isinstance(error, APIConnectionError):
            return idempotent or not error.request_sent
        if isinstance(error, APIStatusError):
            return idempotent and error.status_code in RETRYABLE_STATUSES
        return False

    def delay(self, retry_number: int, error: BaseException | None) -> float:
        """Seconds to wait before retry ``retry_number`` (1 for the first retry)."""
        if isinstance(error, APIStatusError):
            advised = parse_retry_after(error.response.headers)
            if advised is not None and advised <= self.retry_after_max:
                return advised
        ceiling = min(self.backoff_max, self.backoff * (2 ** (retry_number - 1)))
        return random.uniform(0.0, ceiling)

    def wait(self, state: RetryCallState) -> float:
        """tenacity's ``wait`` hook."""
        error = state.outcome.exception() if state.outcome is not None else None
        return self.delay(state.attempt_number, error)
