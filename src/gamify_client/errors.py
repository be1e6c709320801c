"""The SDK's exception tree.

Every failure a call can meet is one of these, so a caller can catch exactly what it can act on:
``GamifyError`` at the root, connection trouble under ``APIConnectionError``, an answer with a
non-2xx status under ``APIStatusError`` (one class per status a caller handles differently), and a
2xx answer whose body is not what the contract promises as ``ResponseValidationError``.
"""

from __future__ import annotations

from typing import Any, Literal

import httpx

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConflictError",
    "GamifyError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseValidationError",
    "UnprocessableEntityError",
    "status_error_for",
]


class GamifyError(Exception):
    """Base of every error the SDK raises.

    ``retries`` is how many times the call was retried before this error was final.
    """

    message: str
    retries: int

    def __init__(self, message: str, *, retries: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.retries = retries


class ClientClosedError(GamifyError):
    """The client was closed: it sends nothing more. Make a new client (or do the work before
    ``close()``)."""


class APIConnectionError(GamifyError):
    """The request got no HTTP answer: the server was unreachable or the connection broke.

    ``request_sent`` tells whether the request may have reached the server; when it is False
    (the connection was never made) a retry cannot duplicate a write.
    """

    def __init__(
        self,
        message: str = "Connection error.",
        *,
        request: httpx.Request | None = None,
        request_sent: bool = True,
        retries: int = 0,
    ) -> None:
        super().__init__(message, retries=retries)
        self.request = request
        self.request_sent = request_sent


class APITimeoutError(APIConnectionError):
    """The server did not answer within the client's ``timeout``."""

    def __init__(
        self,
        message: str = "Request timed out.",
        *,
        request: httpx.Request | None = None,
        request_sent: bool = True,
        retries: int = 0,
    ) -> None:
        super().__init__(message, request=request, request_sent=request_sent, retries=retries)


class APIStatusError(GamifyError):
    """The server answered with a non-2xx status.

    ``message`` comes from the body's ``message`` (or ``error``) field, ``body`` is the parsed
    JSON body (or the text, for an HTML error page) and ``response`` the raw ``httpx.Response``.
    """

    status_code: int

    def __init__(
        self, message: str, *, response: httpx.Response, body: object, retries: int = 0
    ) -> None:
        super().__init__(message, retries=retries)
        self.response = response
        self.body = body
        self.status_code = response.status_code

    @property
    def request(self) -> httpx.Request:
        """The request that got this answer."""
        return self.response.request

    def __str__(self) -> str:
        return f"{self.status_code}: {self.message}"


class BadRequestError(APIStatusError):
    """400: the server refused the input (a missing field, a task already submitted, ...)."""

    status_code: Literal[400] = 400


class AuthenticationError(APIStatusError):
    """401: no token was sent to a route that needs one; call ``login()`` first."""

    status_code: Literal[401] = 401


class PermissionDeniedError(APIStatusError):
    """403: the token is invalid or expired, or the role may not do this."""

    status_code: Literal[403] = 403


class NotFoundError(APIStatusError):
    """404: no such document, or no such route (the body is then Express's HTML page)."""

    status_code: Literal[404] = 404


class ConflictError(APIStatusError):
    """409: the write conflicts with the current state."""

    status_code: Literal[409] = 409


class UnprocessableEntityError(APIStatusError):
    """422: the input was well-formed but invalid."""

    status_code: Literal[422] = 422


class RateLimitError(APIStatusError):
    """429: too many requests; ``retry_after`` holds the server's advice in seconds, if any."""

    status_code: Literal[429] = 429

    @property
    def retry_after(self) -> float | None:
        """The ``Retry-After`` header in seconds, when it is a number."""
        value = self.response.headers.get("retry-after")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None


class InternalServerError(APIStatusError):
    """5xx: the server failed. A POST that got this may still have written (see CONTRACT.md)."""


class ResponseValidationError(GamifyError):
    """A 2xx answer whose body is not what the contract says (not JSON, wrong shape,
    ``success: false``, missing fields)."""

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response,
        body: object = None,
        errors: list[Any] | None = None,
        retries: int = 0,
    ) -> None:
        super().__init__(message, retries=retries)
        self.response = response
        self.body = body
        self.errors = errors or []
        self.status_code = response.status_code

    def __str__(self) -> str:
        return f"{self.message} (status {self.status_code})"


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_for(status_code: int) -> type[APIStatusError]:
    """The error class for a non-2xx status."""
    if status_code >= 500:
        return InternalServerError
    return _STATUS_ERRORS.get(status_code, APIStatusError)
