"""Endpoints are written once, as builders that describe a call without doing I/O; the sync
and async resources are generated from them, so the two clients cannot drift apart.

A builder ``def get(task_id: str) -> Call[Task]`` becomes ``Tasks.get(self, task_id) -> Task``
through :func:`sync_endpoint` and ``AsyncTasks.get(self, task_id) -> Awaitable[Task]`` through
:func:`async_endpoint`, with the builder's signature and docstring.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar
from urllib.parse import quote

from .._call import Call

__all__ = [
    "AsyncResource",
    "SyncResource",
    "async_endpoint",
    "body",
    "segment",
    "sync_endpoint",
    "wire_time",
]

T = TypeVar("T")
P = ParamSpec("P")


class SyncSender(Protocol):
    def _request(self, call: Call[T]) -> T: ...


class AsyncSender(Protocol):
    async def _request(self, call: Call[T]) -> T: ...


class SyncResource:
    """A group of endpoints on the sync client."""

    def __init__(self, client: SyncSender) -> None:
        self._client = client

    def _request(self, call: Call[T]) -> T:
        return self._client._request(call)


class AsyncResource:
    """A group of endpoints on the async client."""

    def __init__(self, client: AsyncSender) -> None:
        self._client = client

    async def _request(self, call: Call[T]) -> T:
        return await self._client._request(call)


def _as_method(method: Callable[..., Any], build: Callable[..., Any], returns: str) -> None:
    signature = inspect.signature(build)
    self_parameter = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    method.__name__ = build.__name__
    method.__qualname__ = build.__qualname__
    method.__doc__ = build.__doc__
    method.__wrapped_builder__ = build  # type: ignore[attr-defined]
    method.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[self_parameter, *signature.parameters.values()], return_annotation=returns
    )


def _result_name(build: Callable[..., Any]) -> str:
    annotation = inspect.signature(build).return_annotation
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return text[len("Call[") : -1] if text.startswith("Call[") else text


def sync_endpoint(build: Callable[P, Call[T]]) -> Callable[Concatenate[SyncSender, P], T]:
    """The sync method for an endpoint builder: build the call, send it, return the result.
    It serves a resource and the client itself alike: anything with ``_request``."""

    def method(self: SyncSender, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._request(build(*args, **kwargs))

    _as_method(method, build, _result_name(build))
    return method


def async_endpoint(
    build: Callable[P, Call[T]],
) -> Callable[Concatenate[AsyncSender, P], Awaitable[T]]:
    """The async method for an endpoint builder: build the call, await it, return the result.
    It serves a resource and the client itself alike: anything with ``_request``."""

    async def method(self: AsyncSender, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._request(build(*args, **kwargs))

    _as_method(method, build, f"Awaitable[{_result_name(build)}]")
    return method


def segment(value: object) -> str:
    """An id as one URL path segment, so that it cannot reach another route."""
    text = str(value)
    if not text:
        raise ValueError("an id must not be empty")
    if text in {".", ".."}:
        # URL normalisation would remove a dot segment and so reach the parent route.
        return text.replace(".", "%2E")
    return quote(text, safe="")


def wire_time(value: datetime | str) -> str:
    """A time as the wire writes it (ISO-8601, milliseconds, ``Z``)."""
    if isinstance(value, str):
        return value
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def body(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON body without the fields the caller left out (None)."""
    return {name: value for name, value in fields.items() if value is not None}
