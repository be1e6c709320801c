"""The async client's aiohttp transport (``http_backend="aiohttp"``, the ``aiohttp`` extra).

httpx's own async transport slows down as more calls are in flight (encode/httpx#3215);
aiohttp's connection pool does not. ``httpx-aiohttp`` puts aiohttp under an
``httpx.AsyncClient``, so the client keeps building, sending and reading httpx objects.

Its error mapping is not ours to rely on: it turns every ``aiohttp.ClientConnectionError``
(a server that hung up after the request was written, a reset while reading) into
``httpx.ConnectTimeout``, which would tell the retry rules the request never left and let a
write that may have been applied be sent again. It also lets some aiohttp errors through
unmapped. :class:`ClassifiedTransport` maps aiohttp's errors again from the original one,
so "was the request sent?" has the same answer on both transports.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from .config import MissingExtraError

__all__ = ["INSTALL_HINT", "ClassifiedTransport", "aiohttp_transport"]

INSTALL_HINT = "pip install 'gamify-client[aiohttp]'"


def aiohttp_transport() -> httpx.AsyncBaseTransport:
    """A transport that sends through aiohttp; a :class:`MissingExtraError` naming the pip
    command when the extra is not installed."""
    try:
        import aiohttp
        from httpx_aiohttp import AiohttpTransport
    except ImportError as err:
        raise MissingExtraError(
            f"http_backend='aiohttp' needs the aiohttp extra: {INSTALL_HINT} ({err})"
        ) from err
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
    ssl_context = httpx.create_ssl_context()

    def session() -> aiohttp.ClientSession:
        # Made on the first request, inside the running loop. aiohttp's session has a cookie
        # jar of its own; it gets none, as the httpx client around it (see _async_http).
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections or 0,
            keepalive_timeout=limits.keepalive_expiry,
            ssl=ssl_context,
        )
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    return ClassifiedTransport(AiohttpTransport(limits=limits, client=session))


def _classified(exc: BaseException, request: httpx.Request | None) -> httpx.TransportError | None:
    """The httpx error that says what an aiohttp failure (``exc`` or the error it was made
    from) means for a retry, or None when it is no aiohttp failure."""
    import aiohttp

    cause = exc if isinstance(exc, aiohttp.ClientError) else exc.__cause__
    if not isinstance(cause, aiohttp.ClientError):
        return None
    message = f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__
    kind: type[httpx.TransportError]
    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        # No connection in time (including the wait for a free one): nothing was sent.
        kind = httpx.ConnectTimeout
    elif isinstance(cause, aiohttp.ClientConnectorError):
        # Refused, unresolvable, TLS handshake failed: nothing was sent.
        kind = httpx.ConnectError
    elif isinstance(cause, aiohttp.ServerTimeoutError):
        kind = httpx.ReadTimeout
    elif isinstance(cause, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        kind = httpx.UnsupportedProtocol
    elif isinstance(cause, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError):
        # The connection broke after the request went out: it may have been applied.
        kind = httpx.ReadError
    else:
        # A malformed answer (bad status line or headers).
        kind = httpx.RemoteProtocolError
    return kind(message, request=request)


class _ClassifiedStream(httpx.AsyncByteStream):
    """A response body whose aiohttp failures are mapped as :func:`_classified` says."""

    def __init__(self, stream: httpx.AsyncByteStream, request: httpx.Request) -> None:
        self._stream = stream
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except Exception as exc:
            mapped = _classified(exc, self._request)
            if mapped is None:
                raise
            raise mapped from exc

    async def aclose(self) -> None:
        await self._stream.aclose()


class ClassifiedTransport(httpx.AsyncBaseTransport):
    """Wraps an aiohttp transport so that its failures are classified as httpx's own
    transport classifies them (connect errors: not sent; anything later: may have been)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self._inner.handle_async_request(request)
        except Exception as exc:
            mapped = _classified(exc, request)
            if mapped is None:
                raise
            raise mapped from exc
        if isinstance(response.stream, httpx.AsyncByteStream):
            response.stream = _ClassifiedStream(response.stream, request)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
