"""When a failed request is tried again, and after how long. No I/O: both clients drive it
through tenacity.

A repeat must never duplicate a write. GET, PUT and DELETE are retried on connection errors,
timeouts, 429 and 502-504. Any other method (POST, PATCH) is retried only when the request
never reached the server, because the real service can write and then answer 500
(CONTRACT.md, defect 1). No other 4xx is retried.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx
from tenacity import RetryCallState

from .errors import APIConnectionError, APIStatusError, GamifyError

__all__ = ["RETRYABLE_METHODS", "RETRYABLE_STATUSES", "RetryPolicy", "parse_retry_after"]

RETRYABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
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


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The retry rules of one client: which errors to retry and the full-jitter backoff."""

    max_retries: int
    backoff: float
    backoff_max: float
    retry_after_max: float

    def should_retry(self, method: str, error: BaseException) -> bool:
        """Whether ``error``, met by a ``method`` request, may be retried."""
        if not isinstance(error, GamifyError):
            return False
        idempotent = method in RETRYABLE_METHODS
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
