"""Mongo-style ids and timestamps, as the real service writes them."""

from __future__ import annotations

import itertools
import re
import secrets
from datetime import UTC, datetime
from typing import TypeGuard

_OBJECT_ID = re.compile(r"^[0-9a-fA-F]{24}$")


def is_object_id(value: object) -> TypeGuard[str]:
    """True for a 24-hex-digit string, the only id form Mongoose casts without an error."""
    return isinstance(value, str) and _OBJECT_ID.match(value) is not None


class ObjectIdFactory:
    """Makes ObjectId-like ids: 4 bytes of seconds, 5 random bytes, a 3-byte counter.

    Ids made in one second sort in creation order, like Mongo's; the counter is safe to
    advance from several threads.
    """

    def __init__(self) -> None:
        self._process_part = secrets.token_hex(5)
        self._counter = itertools.count(secrets.randbelow(0xFFFFFF))

    def new(self, at: datetime) -> str:
        """A fresh id stamped with the time ``at``."""
        seconds = int(at.timestamp()) & 0xFFFFFFFF
        count = next(self._counter) & 0xFFFFFF
        return f"{seconds:08x}{self._process_part}{count:06x}"


_ISO = "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ"


def iso(at: datetime) -> str:
    """``at`` as the service writes dates: UTC, milliseconds and ``Z``."""
    # Every request stamps its answer: %-formatting the fields costs a third of
    # ``isoformat`` and the text replacement it needs.
    if at.tzinfo is not UTC:
        at = at.astimezone(UTC)
    return _ISO % (at.year, at.month, at.day, at.hour, at.minute, at.second, at.microsecond // 1000)


def parse_iso(text: str) -> datetime:
    """The aware datetime of a timestamp written by :func:`iso`."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
