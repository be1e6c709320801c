"""One endpoint call, described without I/O: what the resources build and the clients send."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import httpx

if TYPE_CHECKING:
    from .realtime import Write

__all__ = ["Call"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One endpoint call, described without I/O: the request to send, how to parse the
    answer and, for a write, which real-time rule applies (``mutation``) with the ids the
    request named (``context``)."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Mapping[str, Any] | None = None
    json: Any = None
    files: Any = None
    data: Mapping[str, Any] | None = None
    mutation: Write[Any] | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    keeps_token: bool = False
    """A login: the client keeps the answer's token and sends it from then on."""
    headers: Mapping[str, str] | None = None
    """Headers of this call only, over the client's (an outbox write's ``Idempotency-Key``)."""
