"""Request bodies as the real service's parsers read them: JSON, URL-encoded and multipart.

The JSON parser is as strict as ``express.json()``: only an object or an array, UTF-8, no
``NaN`` or ``Infinity`` (nor a number too large to be finite), and, beyond Express, no lone
surrogate and no nesting deeper than :data:`MAX_JSON_DEPTH`: what the backend stores it must be
able to send back as valid JSON. Bodies are limited as Express limits them: 100 kB for JSON and
URL-encoded bodies (``express.json()``'s default), :data:`MULTIPART_LIMIT` for a multipart
upload.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

MAX_JSON_DEPTH = 64
"""The deepest nesting of arrays and objects a JSON body may have."""

JSON_LIMIT = 100 * 1024
"""The largest JSON or URL-encoded body, in bytes (``express.json()``'s ``100kb``)."""

MULTIPART_LIMIT = 10 * 1024 * 1024
"""The largest multipart body (a file submission), in bytes."""

_SAFE_INTEGER = 2**53 - 1


class MalformedBodyError(ValueError):
    """The body claims to be JSON but ``express.json()`` would reject it."""


class BodyTooLargeError(ValueError):
    """The body is larger than its content type's limit (:func:`body_limit`)."""


def body_limit(content_type: str) -> int:
    """The largest body accepted with ``content_type``, in bytes."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return MULTIPART_LIMIT if media_type == "multipart/form-data" else JSON_LIMIT


@dataclass(frozen=True)
class UploadedFile:
    """One file part of a multipart body."""

    field_name: str
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class ParsedBody:
    """The body's fields (``req.body``) and its uploaded files (``req.file``)."""

    fields: dict[str, Any] = field(default_factory=dict)
    files: tuple[UploadedFile, ...] = ()


def parse_body(content_type: str, body: bytes) -> ParsedBody:
    """Parse ``body`` by its content type; an unknown type or an empty body gives no fields.
    Raises :class:`BodyTooLargeError` over the type's limit and :class:`MalformedBodyError`
    for JSON that ``express.json()`` (or :data:`MAX_JSON_DEPTH`) refuses."""
    if not body:
        # Most requests (every read) have none: no type to look at.
        return ParsedBody()
    if len(body) > body_limit(content_type):
        raise BodyTooLargeError(f"the body has {len(body)} bytes")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        return ParsedBody(_parse_json(body))
    if media_type == "application/x-www-form-urlencoded":
        return ParsedBody(dict(parse_qsl(body.decode("utf-8", "replace"))))
    if media_type == "multipart/form-data":
        return _parse_multipart(content_type, body)
    return ParsedBody()


def _parse_json(body: bytes) -> dict[str, Any]:
    try:
        text = body.decode("utf-8").strip()
    except UnicodeDecodeError as err:
        raise MalformedBodyError("the body is not UTF-8") from err
    if not text:
        return {}
    # express.json() is strict: only an object or an array is a body.
    if text[0] not in "{[":
        raise MalformedBodyError("JSON body must be an object or an array")
    try:
        value = _DECODER.decode(text)
    except (ValueError, RecursionError) as err:
        raise MalformedBodyError(str(err)) from err
    _check_tree(value)
    return value if isinstance(value, dict) else {}


def _refuse_constant(name: str) -> Any:
    raise MalformedBodyError(f"{name} is not JSON")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise MalformedBodyError(f"{text[:20]} is not a finite number")
    return number


def _js_integer(text: str) -> int | float:
    # JSON.parse reads every number as a double: an integer beyond 2**53 loses its precision.
    number = int(text)
    return number if abs(number) <= _SAFE_INTEGER else _finite(text)


# Made once: ``json.loads`` with hooks builds a new decoder on every call.
_DECODER = json.JSONDecoder(
    parse_constant=_refuse_constant, parse_float=_finite, parse_int=_js_integer
)


def _check_tree(value: Any) -> None:
    """Refuse nesting deeper than MAX_JSON_DEPTH and strings with a lone surrogate."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            _check_text(item)
            continue
        if not isinstance(item, (dict, list)):
            continue
        if depth > MAX_JSON_DEPTH:
            raise MalformedBodyError(f"the body nests deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, dict):
            for key, child in item.items():
                _check_text(key)
                pending.append((child, depth + 1))
        else:
            pending.extend((child, depth + 1) for child in item)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise MalformedBodyError("a string holds a lone surrogate") from err


def _parse_multipart(content_type: str, body: bytes) -> ParsedBody:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    fields: dict[str, Any] = {}
    files: list[UploadedFile] = []
    if not message.is_multipart():
        return ParsedBody()
    for part in message.iter_parts():
        if not isinstance(part, Message):
            continue
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is None:
            fields[name] = content.decode("utf-8", "replace")
        else:
            files.append(UploadedFile(name, filename, part.get_content_type(), content))
    return ParsedBody(fields, tuple(files))
