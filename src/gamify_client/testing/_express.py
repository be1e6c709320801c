"""What Express and its middleware add to every answer: JSON encoding, error pages, CORS.

The real service is an Express app with ``cors({origin: [...], credentials: true})`` in
front of its routers; clients (and browsers) see these details, so the reference backend
reproduces them byte for byte where it matters.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any, NamedTuple

from . import _json

ALLOWED_ORIGINS = frozenset(
    {
        "http://localhost:5173",
        "http://localhost:3000",
        "http://127.0.0.1:5173",
        "http://127.0.0.1:3000",
    }
)
_PREFLIGHT_METHODS = "GET,HEAD,PUT,PATCH,POST,DELETE"
_JSON_TYPE = "application/json; charset=utf-8"
_HTML_TYPE = "text/html; charset=utf-8"


class BackendResponse(NamedTuple):
    """One answer of the backend: status, header pairs and the raw body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


class EncodedJson(bytes):
    """A JSON body that keeps the value it was encoded from (:attr:`payload`), so that the
    backend's own readers of an answer (the event stream) need not decode it again."""

    payload: Any


def encode_json(payload: Any) -> bytes:
    """``payload`` as ``JSON.stringify`` writes it: compact, UTF-8."""
    body = EncodedJson(_json.encode(payload))
    body.payload = payload
    return body


def decoded_json(body: bytes) -> Any:
    """The value of the JSON ``body``: the one it was encoded from, when it was made here and
    nobody has changed it since (the caller only reads it)."""
    if isinstance(body, EncodedJson):
        return body.payload
    return _json.decode(body)


def json_response(status: int, payload: Any) -> BackendResponse:
    """``res.status(status).json(payload)``."""
    return BackendResponse(
        status, [("X-Powered-By", "Express"), ("Content-Type", _JSON_TYPE)], encode_json(payload)
    )


def text_response(status: int, text: str) -> BackendResponse:
    """``res.status(status).send(text)``: Express sends a string as HTML."""
    return BackendResponse(
        status, [("X-Powered-By", "Express"), ("Content-Type", _HTML_TYPE)], text.encode()
    )


def _error_page(status: int, message: str) -> BackendResponse:
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>Error</title>\n</head>\n<body>\n<pre>{escape(message, quote=False)}</pre>\n"
        "</body>\n</html>\n"
    )
    return BackendResponse(
        status,
        [
            ("X-Powered-By", "Express"),
            ("Content-Security-Policy", "default-src 'none'"),
            ("X-Content-Type-Options", "nosniff"),
            ("Content-Type", _HTML_TYPE),
        ],
        page.encode(),
    )


def not_found_page(method: str, path: str) -> BackendResponse:
    """Express's final handler for a route nobody serves: 404 ``Cannot GET /path``."""
    return _error_page(404, f"Cannot {method} {path}")


def server_error_page(message: str) -> BackendResponse:
    """Express's final handler for an error thrown outside a handler's ``try``: 500 HTML."""
    return _error_page(500, message)


def bad_request_page() -> BackendResponse:
    """Express's error page for a body that ``express.json()`` cannot parse."""
    return _error_page(400, "Bad Request")


def payload_too_large_page() -> BackendResponse:
    """Express's error page for a body over the parser's limit."""
    return _error_page(413, "PayloadTooLargeError: request entity too large")


def with_cors(response: BackendResponse, headers: Mapping[str, str]) -> BackendResponse:
    """``response`` with the headers ``cors`` adds to a non-preflight answer."""
    return BackendResponse(response.status, cors_headers(headers) + response.headers, response.body)


def preflight_response(headers: Mapping[str, str]) -> BackendResponse:
    """The ``cors`` middleware's answer to an ``OPTIONS`` request: 204, no body."""
    cors = cors_headers(headers)
    cors.append(("Access-Control-Allow-Methods", _PREFLIGHT_METHODS))
    requested = headers.get("access-control-request-headers")
    if requested:
        cors.append(("Access-Control-Allow-Headers", requested))
        cors.append(("Vary", "Access-Control-Request-Headers"))
    return BackendResponse(204, [("X-Powered-By", "Express"), *cors, ("Content-Length", "0")], b"")


def cors_headers(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """The headers ``cors`` puts before a non-preflight answer to a request with ``headers``."""
    origin = headers.get("origin")
    cors: list[tuple[str, str]] = []
    if origin in ALLOWED_ORIGINS:
        cors.append(("Access-Control-Allow-Origin", origin))
    cors.append(("Vary", "Origin"))
    cors.append(("Access-Control-Allow-Credentials", "true"))
    return cors
