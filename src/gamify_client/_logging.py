"""The ``gamify_client`` logger, debug switch and redaction of secrets."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

import httpx

logger = logging.getLogger("gamify_client")

_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_REDACTED = "[redacted]"


def enable_debug_logging() -> None:
    """Send the SDK's debug lines to stderr (what ``GAMIFY_DEBUG=1`` does). Idempotent."""
    logger.setLevel(logging.DEBUG)
    if not any(getattr(h, "_gamify_debug", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        handler._gamify_debug = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


def safe_url(url: httpx.URL | str) -> str:
    """``url`` fit to show: without its user name and password (``http://alice:pw@host``)."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except httpx.InvalidURL:
        return re.sub(r"//[^/@]*@", "//[redacted]@", str(url))
    if not parsed.userinfo:
        return str(parsed)
    return str(parsed.copy_with(userinfo=b"")).replace("://", "://[redacted]@", 1)


def redacted_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers safe to log: the token and cookies are replaced."""
    return {
        name: (_REDACTED if name.lower() in _SECRET_HEADERS else value) for name, value in headers
    }


def log_request(request: httpx.Request, attempt: int) -> None:
    """One debug line per request attempt, secrets redacted."""
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "request %s %s attempt=%d headers=%s",
            request.method,
            safe_url(request.url),
            attempt,
            redacted_headers(request.headers.multi_items()),
        )


def log_response(response: httpx.Response) -> None:
    """One debug line per response (after its body was read)."""
    if logger.isEnabledFor(logging.DEBUG):
        try:
            took = f"{response.elapsed.total_seconds() * 1000:.1f} ms"
        except RuntimeError:
            # A transport that answers in-process (MockTransport) sets no elapsed time.
            took = "an unknown time"
        logger.debug(
            "response %s %s status=%d in %s",
            response.request.method,
            safe_url(response.request.url),
            response.status_code,
            took,
        )
