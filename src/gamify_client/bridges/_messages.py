"""The wire format shared by the Redis bridge and server push: one JSON message per write.

A message names the write (``mutation`` and the ids its ``request`` named), says what it means
(the ``event`` and the invalidated ``keys``, as text, for readers that are not this SDK), and
carries ``realTimeData`` and the whole response ``body``. A receiver rebuilds the
:class:`~gamify_client.MutationResult` from the body with the same parser the writer used, so it
applies the same rule: the same patches, invalidations and event.

.. code-block:: json

    {"v": 1, "id": "9f0c...", "origin": "b3e1...", "mutation": "tasks.submit",
     "request": {"task_id": "...", "user_id": "..."}, "event": "taskCompleted",
     "keys": ["dashboard:<user>", "tasks", "..."], "realTimeData": {...}, "body": {...}}
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import ValidationError
from pydantic_core import CoreSchema, SchemaValidator, core_schema, from_json, to_json
from pydantic_core.core_schema import DataclassField

from .._links import EVENTS_PATH
from .._parsing import MutationPayload
from ..errors import GamifyError
from ..keys import format_key
from ..models import MutationResult
from ..realtime import WRITES, AppliedMutation, MutationContext
from ..resources import ALL_WRITES

__all__ = [
    "EVENTS_PATH",
    "WIRE_VERSION",
    "MalformedMessage",
    "MutationMessage",
    "message_for_write",
    "new_message_id",
    "result_from_body",
]

WIRE_VERSION = 1


class MalformedMessage(ValueError):
    """A message that is not JSON, lacks a field, names an unknown write or carries a body
    that its write's parser rejects."""


def new_message_id() -> str:
    """A fresh, unique message id."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class MutationMessage:
    """One write, as it travels between processes."""

    id: str
    origin: str | None
    mutation: str
    request: Mapping[str, Any]
    event: str
    keys: tuple[str, ...]
    real_time: Any
    body: Any

    @classmethod
    def from_applied(
        cls, applied: AppliedMutation, *, origin: str, message_id: str | None = None
    ) -> MutationMessage:
        """The message announcing a write this process made and applied."""
        result = applied.result
        return cls(
            id=message_id or new_message_id(),
            origin=origin,
            mutation=applied.mutation,
            request=dict(applied.request),
            event=str(applied.event),
            keys=tuple(format_key(key) for key in applied.keys),
            real_time=_real_time_of(result),
            body=result.body,
        )

    def to_wire(self) -> dict[str, Any]:
        """The message as a JSON-ready mapping."""
        return {
            "v": WIRE_VERSION,
            "id": self.id,
            "origin": self.origin,
            "mutation": self.mutation,
            "request": dict(self.request),
            "event": self.event,
            "keys": list(self.keys),
            "realTimeData": self.real_time,
            "body": self.body,
        }

    def encode(self) -> bytes:
        """The message as compact UTF-8 JSON."""
        # pydantic's writer: the same bytes as ``json.dumps`` with compact separators, in a
        # fifth of the time, on the way from every write to every other process.
        return to_json(self.to_wire())

    @classmethod
    def decode(cls, raw: bytes | str) -> MutationMessage:
        """Read a message; raises :class:`MalformedMessage` for anything else."""
        try:
            # pydantic's reader: about twice as fast as json.loads on a message, which every
            # process of a deployment decodes for every write.
            data = from_json(raw)
        except (ValueError, TypeError) as err:
            raise MalformedMessage(f"not JSON: {err}") from None
        return cls.from_wire(data)

    @classmethod
    def from_wire(cls, data: Any) -> MutationMessage:
        """Read a decoded message; raises :class:`MalformedMessage` for anything else."""
        if not isinstance(data, Mapping):
            raise MalformedMessage(f"expected a JSON object, got {type(data).__name__}")
        if data.get("v") != WIRE_VERSION:
            raise MalformedMessage(f"unsupported version {data.get('v')!r}")
        try:
            # Every field checked and the message made in one pass at C speed: every process
            # reads every message.
            message: MutationMessage = _READER.validate_python(
                data if type(data) is dict else dict(data)
            )
        except ValidationError as err:
            raise _refusal(data, err) from None
        if message.mutation not in ALL_WRITES:
            raise MalformedMessage(f"unknown mutation {message.mutation!r}")
        return message

    def result(self) -> MutationResult[Any]:
        """The write's result, rebuilt from the body; raises :class:`MalformedMessage` when
        the body is not what the write returns."""
        return result_from_body(self.mutation, self.body)


def _field(
    name: str, schema: CoreSchema, *, default: Any = ..., alias: str | None = None
) -> DataclassField:
    if default is not ...:
        schema = core_schema.with_default_schema(schema, default=default)
    return core_schema.dataclass_field(name, schema, validation_alias=alias)


_TEXT = core_schema.str_schema(strict=True)
_ANY = core_schema.any_schema()
_MESSAGE_FIELDS = [
    # In the order of the refusals below: the first field that fails names the fault.
    _field("id", core_schema.str_schema(min_length=1, strict=True)),
    _field("mutation", _TEXT),
    _field("event", _TEXT),
    _field("origin", core_schema.nullable_schema(_TEXT), default=None),
    _field("request", core_schema.dict_schema(_TEXT, _ANY)),
    _field("keys", core_schema.tuple_schema([_TEXT], variadic_item_index=0), default=()),
    _field("real_time", _ANY, default=None, alias="realTimeData"),
    _field("body", _ANY, default=None),
]
_READER = SchemaValidator(
    core_schema.dataclass_schema(
        MutationMessage,
        core_schema.dataclass_args_schema("MutationMessage", _MESSAGE_FIELDS),
        [field["name"] for field in _MESSAGE_FIELDS],
        slots=True,
        frozen=True,
    )
)
"""Makes a :class:`MutationMessage` of a decoded message's fields, checking their types (the
version is checked before); other fields are ignored."""

_REFUSALS = {
    "id": "the message has no id",
    "event": "the message has no event",
    "origin": "the origin must be a string or null",
    "request": "the request must be an object",
    "keys": "the keys must be a list of strings",
}


def _refusal(data: Mapping[str, Any], err: ValidationError) -> MalformedMessage:
    """What is wrong with a message, from the first field that failed."""
    location = err.errors(include_url=False)[0]["loc"]
    field = location[0] if location else ""
    if field == "mutation":
        return MalformedMessage(f"unknown mutation {data.get('mutation')!r}")
    return MalformedMessage(_REFUSALS.get(str(field), f"the message is malformed: {err}"))


def result_from_body(mutation: str, body: Any) -> MutationResult[Any]:
    """Parse a write's response ``body`` as the client parsed it when it made the write.
    Raises :class:`MalformedMessage` for an unknown write or a body its parser rejects."""
    write = ALL_WRITES.get(mutation)
    if write is None:
        raise MalformedMessage(f"unknown mutation {mutation!r}")
    parse = write.parse
    try:
        if isinstance(parse, MutationPayload):
            # Straight from the decoded body: encoding it again into a response, only for the
            # parser to decode it once more, cost more than the rest of applying a write.
            return parse.from_body(body)
        return parse(httpx.Response(200, json=body))
    except (GamifyError, TypeError, ValueError) as err:
        raise MalformedMessage(f"the body is not a {mutation} answer: {err}") from None


def message_for_write(
    mutation: str,
    request: Mapping[str, Any],
    body: Any,
    *,
    message_id: str,
    origin: str | None,
) -> MutationMessage:
    """The message for a write seen by the server: the event and keys are those the client's
    rule computes for it. Raises :class:`MalformedMessage` when the body cannot be read."""
    result = result_from_body(mutation, body)
    rule = WRITES[mutation].rule
    context = MutationContext(mutation, request, result)
    return MutationMessage(
        id=message_id,
        origin=origin,
        mutation=mutation,
        request=dict(request),
        event=str(rule.event),
        keys=tuple(format_key(key) for key in rule.invalidates(context)),
        real_time=_real_time_of(result),
        body=body,
    )


def _real_time_of(result: MutationResult[Any]) -> Any:
    body = result.body
    return body.get("realTimeData") if isinstance(body, Mapping) else None
