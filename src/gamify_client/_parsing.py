"""Turning HTTP answers into typed values or typed errors, without any I/O.

The real service answers in three shapes (a bare document or array, a named payload such as
``{success, task}``, and the envelope ``{success, data}``); :class:`Payload` takes all three.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx
from pydantic import TypeAdapter, ValidationError
from pydantic_core import CoreSchema, ErrorDetails, SchemaValidator, core_schema

from .errors import APIStatusError, ResponseValidationError, status_error_for
from .models import MutationResult, RealTimeData

__all__ = ["MutationPayload", "Payload", "decode_json", "status_error"]

T = TypeVar("T")

_REAL_TIME_OR_NONE = TypeAdapter(RealTimeData | None)
_ENVELOPE_KEY = "data"


def decode_json(response: httpx.Response) -> Any:
    """The body as JSON, or a ResponseValidationError naming what came instead."""
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):
        kind = response.headers.get("content-type", "no content type")
        raise ResponseValidationError(
            f"expected a JSON body, got {kind}: {response.text[:200]!r}",
            response=response,
            body=response.text,
        ) from None


def status_error(response: httpx.Response) -> APIStatusError:
    """The typed error for a non-2xx answer, with the body's ``message`` or ``error``."""
    try:
        body: Any = json.loads(response.content)
    except (ValueError, RecursionError):
        body = response.text
    message: str | None = None
    if isinstance(body, Mapping):
        for field in ("message", "error"):
            value = body.get(field)
            if isinstance(value, str) and value:
                message = value
                break
            if isinstance(value, Mapping) and isinstance(value.get("message"), str):
                message = value["message"]
                break
    if message is None:
        message = response.reason_phrase or f"HTTP {response.status_code}"
        if isinstance(body, str) and body.strip():
            message = f"{message}: {_text_excerpt(body)}"
    return status_error_for(response.status_code)(message, response=response, body=body)


def _text_excerpt(text: str) -> str:
    """The readable part of an HTML error page (Express's ``<pre>Cannot GET /x</pre>``)."""
    start = text.find("<pre>")
    end = text.find("</pre>", start)
    if start != -1 and end != -1:
        return text[start + 5 : end].strip()
    return text.strip()[:200]


def _refuse_unsuccessful(body: Any, response: httpx.Response) -> None:
    if isinstance(body, Mapping) and body.get("success") is False:
        message = body.get("message") or body.get("error") or "the server reported success: false"
        raise ResponseValidationError(str(message), response=response, body=body)


def _invalid(
    response: httpx.Response, body: Any, what: str, err: ValidationError
) -> ResponseValidationError:
    return _invalid_errors(response, body, what, err.errors(include_url=False))


def _invalid_errors(
    response: httpx.Response, body: Any, what: str, errors: list[ErrorDetails]
) -> ResponseValidationError:
    return ResponseValidationError(
        f"the body is not a valid {what}: {len(errors)} error(s), first: {_first_error(errors)}",
        response=response,
        body=body,
        errors=list(errors),
    )


def _first_error(errors: list[ErrorDetails]) -> str:
    first = errors[0]
    location = ".".join(str(part) for part in first["loc"]) or "body"
    return f"{location}: {first['msg']}"


# What the errors of a body read from a message (not from an HTTP answer) name as their
# response: made once, since a remote write is parsed on every message a link receives.
_DECODED_ELSEWHERE = httpx.Response(200)

_MISS = object()
_MEMO_URLS = 256


class _LastParse:
    """The last body a parser saw for each URL (so for each cache key: two batches' progress
    never evict each other) and what it made of it; the newest ``_MEMO_URLS`` URLs are kept."""

    __slots__ = ("entries", "lock")

    def __init__(self) -> None:
        self.entries: OrderedDict[str, tuple[bytes, Any]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, url: str, content: bytes) -> Any:
        """The result made of ``content`` at ``url``, or ``_MISS``. A different body drops the
        URL's entry at once, so the old result (unless its caller still holds it) is freed
        before the new one is built: polling fresh data never holds two results per URL."""
        with self.lock:
            entry = self.entries.get(url)
            if entry is not None and entry[0] == content:
                self.entries.move_to_end(url)
                return entry[1]
            stale = self.entries.pop(url, None)
        # ``stale`` is released on return, outside the lock.
        del stale
        return _MISS

    def put(self, url: str, content: bytes, result: Any) -> None:
        with self.lock:
            self.entries[url] = (content, result)
            self.entries.move_to_end(url)
            if len(self.entries) > _MEMO_URLS:
                self.entries.popitem(last=False)


def _url_of(response: httpx.Response) -> str:
    try:
        return str(response.request.url)
    except RuntimeError:
        # A response built without a request (a body rebuilt from a message).
        return ""


@dataclass(frozen=True, slots=True)
class Payload(Generic[T]):
    """Parses the payload of a 2xx answer into ``T``.

    ``keys`` are the names the payload may sit under in a named-payload answer
    (``("task",)``); the envelope's ``data`` and the bare value are accepted too, since the
    real service and its versions differ here. ``bare`` says the route's usual answer is the
    bare value, which is then validated straight from the bytes first.

    An answer whose body is byte for byte the last one this parser saw gives back the same
    result objects without validating again (structural sharing, as TanStack Query does it):
    polling unchanged data costs next to nothing, and observers see the very same objects, so
    "nothing changed" is an identity check. The models are immutable, so sharing is safe.
    """

    adapter: TypeAdapter[T]
    what: str
    keys: tuple[str, ...] = ()
    bare: bool = False
    _last: _LastParse = field(default_factory=_LastParse, compare=False, repr=False)

    def __call__(self, response: httpx.Response) -> T:
        content, url = response.content, _url_of(response)
        shared = self._last.get(url, content)
        if shared is not _MISS:
            result: T = shared
            return result
        result = self._parse(response)
        self._last.put(url, content, result)
        return result

    def _parse(self, response: httpx.Response) -> T:
        if self.bare:
            # The common case (a bare array or document) is validated straight from bytes,
            # which costs less than json.loads followed by validation.
            try:
                return self.adapter.validate_json(response.content)
            except ValidationError:
                pass
        body = decode_json(response)
        return self.from_body(body, response)

    def from_body(self, body: Any, response: httpx.Response) -> T:
        """The payload of an already decoded body."""
        _refuse_unsuccessful(body, response)
        value = self.select(body)
        try:
            return self.adapter.validate_python(value)
        except ValidationError as err:
            raise _invalid(response, body, self.what, err) from None

    def select(self, body: Any) -> Any:
        """The part of ``body`` that holds the payload."""
        if isinstance(body, Mapping):
            for key in (*self.keys, _ENVELOPE_KEY):
                if key in body:
                    return body[key]
        return body


@dataclass(frozen=True, slots=True)
class MutationPayload(Generic[T]):
    """Parses a mutation's answer into a :class:`MutationResult`: the payload, the message
    and the parsed ``realTimeData``.

    The payload and ``realTimeData`` are validated together, in one pass of one validator
    (built on first use): every process of a deployment parses every write's answer, its own
    from HTTP and the others' from their messages."""

    payload: Payload[T]
    _answer: list[SchemaValidator] = field(
        default_factory=list, init=False, compare=False, repr=False
    )

    def __call__(self, response: httpx.Response) -> MutationResult[T]:
        return self.from_body(decode_json(response), response)

    def from_body(
        self, body: Any, response: httpx.Response = _DECODED_ELSEWHERE
    ) -> MutationResult[T]:
        """The result of an already decoded answer: what another process's message carries.
        ``response`` is only named by the errors; without one they name a bare 200."""
        _refuse_unsuccessful(body, response)
        message: str | None = None
        raw_real_time: Any = None
        if isinstance(body, Mapping):
            raw_message = body.get("message")
            message = raw_message if isinstance(raw_message, str) else None
            raw_real_time = body.get("realTimeData")
        try:
            data, real_time = self._validator().validate_python(
                (self.payload.select(body), raw_real_time)
            )
        except ValidationError as err:
            raise self._invalid(response, body, err) from None
        return MutationResult(data=data, message=message, real_time=real_time, body=body)

    def _validator(self) -> SchemaValidator:
        # Built on first use, not at import: the SDK knows dozens of writes and a process uses
        # a few. Two threads may both build it; either result is the same validator.
        if not self._answer:
            self._answer.append(_pair_validator(self.payload.adapter, _REAL_TIME_OR_NONE))
        return self._answer[0]

    def _invalid(
        self, response: httpx.Response, body: Any, err: ValidationError
    ) -> ResponseValidationError:
        """The error of the first part that failed (the payload before ``realTimeData``),
        its locations relative to that part, as if it had been validated alone."""
        errors = err.errors(include_url=False)
        part = min(error["loc"][0] for error in errors)
        what = self.payload.what if part == 0 else "realTimeData"
        own = [
            ErrorDetails(**{**error, "loc": error["loc"][1:]})
            for error in errors
            if error["loc"][0] == part
        ]
        return _invalid_errors(response, body, what, own)


def _pair_validator(first: TypeAdapter[Any], second: TypeAdapter[Any]) -> SchemaValidator:
    """A validator of ``(first's type, second's type)`` pairs. The adapters' schemas share
    definitions (the models both embed), which a validator must hold only once."""
    items: list[CoreSchema] = []
    definitions: dict[str, CoreSchema] = {}
    for adapter in (first, second):
        schema = adapter.core_schema
        if schema["type"] == "definitions":
            definitions.update((str(d.get("ref")), d) for d in schema["definitions"])
            schema = schema["schema"]
        items.append(schema)
    pair = core_schema.tuple_schema(items)
    if not definitions:
        return SchemaValidator(pair)
    return SchemaValidator(core_schema.definitions_schema(pair, list(definitions.values())))
