"""Answers of read routes, kept while nothing they were made from can have changed.

The dashboard a learner's frontend polls is the same bytes from one write to the next, except
for the time it is stamped with (``lastUpdated``); making it costs a hundred document reads.
:class:`AnswerCache` keeps such an answer with the request's timestamp cut out, and serves it
again, stamped with the new request's time, while

- no transaction has committed a write since (:attr:`DocumentStore.generation`): every write of
  the backend goes through the store, so an unchanged generation means unchanged documents;
- the same defects are switched on (:attr:`Defects.version`), since they change what handlers
  answer;
- the request is the same route, parameters, query and caller (user and role), on the same day
  of the backend's clock, since streaks count days.

Only routes whose answer depends on nothing else, and carries the request's timestamp at most
where the route puts it, are marked :attr:`Route.cached`. An answer is kept only when the
timestamp appears in it exactly once (a stored document stamped in the same millisecond would
make it ambiguous) and the handler wrote nothing. Checking an entry costs the same whatever the
store or the cache holds.

A client that polls sends the same request again and again: the same path, query string and
headers (its token among them). :meth:`AnswerCache.repeat` finds the kept answer by those
exact values, before any of the route's work (body parsing, route lookup, the token check,
the parameters): the same request meets the same route, caller and checks, and what could
change their outcome is what the kept answer is checked against anyway (writes, which also
restrict accounts; defects, which also change guards and routes; the day), plus the expiry of
the token it carries.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any

from ._defects import Defects
from ._express import BackendResponse, cors_headers
from ._ids import iso

if TYPE_CHECKING:
    from ._routing import Context, Route

_Pairs = tuple[tuple[str, str], ...]
_AnswerKey = tuple[str, str, _Pairs, _Pairs, str | None, str | None, object]
"""Method, pattern, parameters, query, caller's id and role, the day."""
RequestKey = tuple[str, str, _Pairs]
"""A ``GET`` without a body as it came: path, raw query string, headers (names in lower case)."""


@dataclass(frozen=True)
class _Kept:
    """One answer with its timestamp cut out, and the state it was made from."""

    generation: int
    defects: Defects
    defects_version: int
    status: int
    headers: list[tuple[str, str]]
    pieces: tuple[bytes, ...]
    """The body around the timestamp: one piece without it, two around it."""
    last_stamped: list[tuple[str, bytes]] = field(default_factory=list, compare=False)
    """The body last stamped and its timestamp: requests a millisecond apart share the bytes
    (at thousands of polls a second, several do) instead of copying the body again."""

    def holds(self, generation: int, defects: Defects) -> bool:
        """Whether the answer still holds with the store at ``generation`` and ``defects``."""
        return (
            self.generation == generation
            and self.defects is defects
            and self.defects_version == defects.version
        )

    def body(self, timestamp: str) -> bytes:
        """The answer's body stamped with ``timestamp``."""
        if len(self.pieces) == 1:
            return self.pieces[0]
        last = self.last_stamped
        if last and last[0][0] == timestamp:
            return last[0][1]
        body = _stamp(timestamp).join(self.pieces)
        last[:] = [(timestamp, body)]
        return body

    def response(self, timestamp: str) -> BackendResponse:
        # A copy of the header list: the caller may extend it (CORS).
        return BackendResponse(self.status, list(self.headers), self.body(timestamp))


def _stamp(timestamp: str) -> bytes:
    """The timestamp as it appears in a JSON answer (ISO text needs no escapes)."""
    return b'"' + timestamp.encode("ascii") + b'"'


@dataclass(frozen=True, slots=True)
class _Repeat:
    """A kept answer as one exact request meets it: on which day, until when its token lives
    (None: the request carried no live token), and with the headers the request's CORS check
    puts first (its ``Origin`` is part of the request)."""

    kept: _Kept
    day: object
    expires: int | None
    headers: list[tuple[str, str]]

    def response(self, timestamp: str) -> BackendResponse:
        return BackendResponse(self.kept.status, list(self.headers), self.kept.body(timestamp))


def _day(now: datetime) -> tuple[object, tzinfo | None, object]:
    # UTC's offset never changes: no need to ask it on every request.
    return now.date(), now.tzinfo, None if now.tzinfo is UTC else now.utcoffset()


class AnswerCache:
    """The newest ``size`` answers of cached routes (see the module's docstring). Used inside
    the store's transaction, whose lock serialises every use."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._kept: OrderedDict[_AnswerKey, _Kept] = OrderedDict()
        self._repeats: OrderedDict[RequestKey, _Repeat] = OrderedDict()
        """The same answers by the exact request that met them last, as many."""

    def __len__(self) -> int:
        return len(self._kept)

    def answer(
        self,
        route: Route,
        ctx: Context,
        handler: Callable[[Context], BackendResponse],
        request: RequestKey | None = None,
    ) -> BackendResponse:
        """``handler(ctx)``'s answer: the kept one, stamped with ``ctx``'s time, while it holds.
        ``request`` names the request exactly, for :meth:`repeat` (None: it is not to be found
        that way)."""
        claims = ctx.claims
        day = _day(ctx.now)
        key: _AnswerKey = (
            route.method,
            route.pattern,
            tuple(ctx.params.items()),
            tuple(ctx.query.items()),
            None if claims is None else claims.user_id,
            None if claims is None else claims.designation,
            day,
        )
        store, defects = ctx.state.store, ctx.state.defects
        generation = store.generation
        kept = self._kept.get(key)
        if kept is not None and kept.holds(generation, defects):
            response = kept.response(ctx.timestamp)
        else:
            response = handler(ctx)
            pieces = tuple(response.body.split(_stamp(ctx.timestamp)))
            if response.status != 200 or len(pieces) > 2 or store.has_pending_writes:
                return response
            headers = list(response.headers)
            kept = _Kept(generation, defects, defects.version, response.status, headers, pieces)
            _keep(self._kept, key, kept, self._size)
        if request is not None:
            expires = None if claims is None else claims.expires
            headers = cors_headers(ctx.headers) + kept.headers
            _keep(self._repeats, request, _Repeat(kept, day, expires, headers), self._size)
        return response

    def repeat(
        self, request: RequestKey, now: datetime, generation: int, defects: Defects
    ) -> BackendResponse | None:
        """The answer :meth:`answer` kept for exactly ``request``, stamped with ``now`` and with
        its CORS headers, while it holds at ``now`` with the store at ``generation`` and
        ``defects`` (see the module's docstring); else None."""
        repeat = self._repeats.get(request)
        if (
            repeat is None
            or not repeat.kept.holds(generation, defects)
            or repeat.day != _day(now)
            or (repeat.expires is not None and now.timestamp() >= repeat.expires)
        ):
            return None
        return repeat.response(iso(now))


def _keep(entries: OrderedDict[Any, Any], key: object, value: object, size: int) -> None:
    """Put ``value`` last in ``entries`` and drop the oldest beyond ``size``."""
    entries[key] = value
    entries.move_to_end(key)
    if len(entries) > size:
        entries.popitem(last=False)
