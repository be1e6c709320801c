"""The async client's aiohttp transport (``http_backend="aiohttp"``, the ``aiohttp`` extra).

httpx's own async transport slows down as more calls are in flight (encode/httpx#3215);
aiohttp's connection pool does not. :class:`AiohttpTransport` is ``httpx-aiohttp``'s
transport (its session factory, limits and closing) with the request path made for the
client's calls, which read every answer whole. Importing this module needs the extra;
``_async_http`` imports it only when the aiohttp backend is chosen.

What it does differently from ``httpx-aiohttp``, and why:

- The body is read in one piece inside the transport and handed to httpx as one chunk:
  ``httpx-aiohttp`` streams it through three wrapped iterators in 16 KiB pieces, which cost
  more CPU per call than the SDK's own code.
- aiohttp gets the connect timeouts, not the read timeout: the client bounds each whole call
  itself, and aiohttp would move its read timer again on every packet.
- aiohttp's errors are classified here by "was the request sent?", as httpx's own transport
  answers it. ``httpx-aiohttp`` turns every ``aiohttp.ClientConnectionError`` (a server that
  hung up after the request was written, a reset while reading) into ``httpx.ConnectTimeout``,
  which would tell the retry rules the request never left and let a write that may have been
  applied be sent again.
"""

from __future__ import annotations

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport as _HttpxAiohttpTransport
from multidict import CIMultiDict

__all__ = ["POOL_LIMITS", "AiohttpTransport", "classified"]

# aiohttp's default per-host limit is none, so this caps the whole pool: 100 calls in flight
# to the service never wait for a connection, and each keeps its connection between calls.
POOL_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100)

# What an answer's ``http_version`` is: aiohttp speaks HTTP/1.1 only.
_HTTP_1_1 = b"HTTP/1.1"


def _new_session() -> aiohttp.ClientSession:
    """The pool's aiohttp session, made on the first request, inside the running loop.

    It keeps no cookie, as the httpx client around it (see ``_async_http``), and decompresses
    nothing: httpx decodes the body, so a broken ``Content-Encoding`` is a decoding error with
    the answer at hand.
    """
    connector = aiohttp.TCPConnector(
        limit=POOL_LIMITS.max_connections or 0,
        keepalive_timeout=POOL_LIMITS.keepalive_expiry,
        ssl=httpx.create_ssl_context(),
    )
    return aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False
    )


def classified(exc: BaseException, request: httpx.Request | None) -> httpx.TransportError | None:
    """The httpx error that says what an aiohttp failure (``exc`` or the error it was made
    from) means for a retry, or None when it is no aiohttp failure."""
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


def _request_body(request: httpx.Request) -> bytes | httpx.AsyncByteStream | None:
    """What aiohttp sends as the body: the bytes when httpx has them, else the stream (an
    upload), whose length or chunking aiohttp then states itself."""
    try:
        return request.content or None
    except httpx.RequestNotRead:
        request.headers.pop("transfer-encoding", None)
        assert isinstance(request.stream, httpx.AsyncByteStream)
        return request.stream


class AiohttpTransport(_HttpxAiohttpTransport):
    """``httpx-aiohttp``'s transport that reads each answer whole and classifies aiohttp's
    failures by whether the request was sent (see the module's docstring)."""

    def __init__(self) -> None:
        super().__init__(limits=POOL_LIMITS, client=_new_session)

    def _session(self) -> aiohttp.ClientSession:
        if not isinstance(self.client, aiohttp.ClientSession):
            self.client = self.get_client()
        return self.client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and read its answer whole; aiohttp's failures as httpx's."""
        timeout = request.extensions.get("timeout", {})
        try:
            async with self._session().request(
                request.method,
                str(request.url),
                headers=CIMultiDict(request.headers.multi_items()),
                data=_request_body(request),
                allow_redirects=False,
                compress=False,
                timeout=aiohttp.ClientTimeout(
                    total=None, connect=timeout.get("pool"), sock_connect=timeout.get("connect")
                ),
                server_hostname=request.extensions.get("sni_hostname"),
            ) as answer:
                body = await answer.read()
        except Exception as exc:
            mapped = classified(exc, request)
            if mapped is None:
                raise
            raise mapped from exc
        extensions = {"http_version": _HTTP_1_1}
        if answer.reason:
            extensions["reason_phrase"] = answer.reason.encode()
        response = httpx.Response(
            answer.status,
            headers=answer.raw_headers,
            stream=httpx.ByteStream(body),
            request=request,
            extensions=extensions,
        )
        if "content-encoding" not in response.headers:
            # Nothing to decode, so reading cannot fail: read now, in one synchronous step,
            # and the client's ``aread`` finds the content there. An encoded body is left
            # to ``aread``, where a broken one is a decoding error with the answer at hand.
            response.read()
        return response
