"""Request bodies as the real service's parsers read them: JSON, URL-encoded and multipart."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl


class MalformedBodyError(ValueError):
    """The body claims to be JSON but ``express.json()`` would reject it."""


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
    """Parse ``body`` by its content type; an unknown type or an empty body gives no fields."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        return ParsedBody(_parse_json(body))
    if media_type == "application/x-www-form-urlencoded":
        return ParsedBody(dict(parse_qsl(body.decode("utf-8", "replace"))))
    if media_type == "multipart/form-data":
        return _parse_multipart(content_type, body)
    return ParsedBody()


def _parse_json(body: bytes) -> dict[str, Any]:
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return {}
    # express.json() is strict: only an object or an array is a body.
    if text[0] not in "{[":
        raise MalformedBodyError("JSON body must be an object or an array")
    try:
        value = json.loads(text)
    except ValueError as err:
        raise MalformedBodyError(str(err)) from err
    return value if isinstance(value, dict) else {}


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
