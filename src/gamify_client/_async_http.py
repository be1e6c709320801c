"""The async client's own connection pool: an ``httpx.AsyncClient`` on the transport that
``http_backend`` names, without a cookie jar, that parses each distinct URL once.

The client authenticates with its ``Authorization`` header and the service sets no cookie
(CONTRACT.md, Authentication). A kept cookie could only do harm there: the real service reads
an ``authToken`` cookie before the header, so a stale one would win over the client's token.
Keeping none also saves httpx's cookie bookkeeping on every answer, a fifth of the client's
CPU time per call.
"""

from __future__ import annotations

from typing import Any

import httpx

from ._urls import PARSED_URLS_KEPT, parsed_url
from .config import ClientConfig, MissingExtraError

__all__ = ["AIOHTTP_INSTALL_HINT", "PARSED_URLS_KEPT", "PoolClient", "async_http_client"]

AIOHTTP_INSTALL_HINT = "pip install 'gamify-client[aiohttp]'"


class _NoCookies(httpx.Cookies):
    """A jar that never keeps what an answer sets."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class PoolClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` that keeps no cookie from its answers (cookies given to it
    are still sent) and parses a URL string it saw recently only once."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._given_cookies = _NoCookies(options.get("cookies"))

    @property
    def cookies(self) -> httpx.Cookies:
        return self._given_cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        self._given_cookies = _NoCookies(cookies)

    def build_request(self, method: str, url: httpx.URL | str, **options: Any) -> httpx.Request:
        """httpx's request, with ``url`` parsed once per distinct string."""
        return super().build_request(
            method, parsed_url(url) if isinstance(url, str) else url, **options
        )


def _aiohttp_transport() -> httpx.AsyncBaseTransport:
    """The aiohttp transport; a :class:`MissingExtraError` naming the pip command when the
    extra is not installed."""
    try:
        import aiohttp  # noqa: F401
        import httpx_aiohttp  # noqa: F401
    except ImportError as err:
        raise MissingExtraError(
            f"http_backend='aiohttp' needs the aiohttp extra: {AIOHTTP_INSTALL_HINT} ({err})"
        ) from err
    from ._aiohttp import AiohttpTransport

    return AiohttpTransport()


def async_http_client(settings: ClientConfig) -> httpx.AsyncClient:
    """The async client's own pool, on the transport ``settings.http_backend`` names."""
    transport = _aiohttp_transport() if settings.http_backend == "aiohttp" else None
    return PoolClient(timeout=settings.timeout, transport=transport)
