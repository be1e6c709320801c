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
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from ._defects import Defects
from ._express import BackendResponse

if TYPE_CHECKING:
    from ._routing import Context, Route

_Pairs = tuple[tuple[str, str], ...]
_AnswerKey = tuple[str, str, _Pairs, _Pairs, str | None, str | None, object]
"""Method, pattern, parameters, query, caller's id and role, the day."""


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

    def response(self, timestamp: str) -> BackendResponse:
        body = self.pieces[0] if len(self.pieces) == 1 else _stamp(timestamp).join(self.pieces)
        # A copy of the header list: the caller may extend it (CORS).
        return BackendResponse(self.status, list(self.headers), body)


def _stamp(timestamp: str) -> bytes:
    """The timestamp as it appears in a JSON answer (ISO text needs no escapes)."""
    return b'"' + timestamp.encode("ascii") + b'"'


def _day(now: datetime) -> tuple[object, tzinfo | None, object]:
    return now.date(), now.tzinfo, now.utcoffset()


class AnswerCache:
    """The newest ``size`` answers of cached routes (see the module's docstring). Used inside
    the store's transaction, whose lock serialises every use."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._kept: OrderedDict[_AnswerKey, _Kept] = OrderedDict()

    def __len__(self) -> int:
        return len(self._kept)

    def answer(
        self, route: Route, ctx: Context, handler: Callable[[Context], BackendResponse]
    ) -> BackendResponse:
        """``handler(ctx)``'s answer: the kept one, stamped with ``ctx``'s time, while it holds."""
        claims = ctx.claims
        key: _AnswerKey = (
            route.method,
            route.pattern,
            tuple(ctx.params.items()),
            tuple(ctx.query.items()),
            None if claims is None else claims.user_id,
            None if claims is None else claims.designation,
            _day(ctx.now),
        )
        store, defects = ctx.state.store, ctx.state.defects
        generation, defects_version = store.generation, defects.version
        kept = self._kept.get(key)
        if (
            kept is not None
            and kept.generation == generation
            and kept.defects is defects
            and kept.defects_version == defects_version
        ):
            return kept.response(ctx.timestamp)
        response = handler(ctx)
        pieces = tuple(response.body.split(_stamp(ctx.timestamp)))
        if response.status == 200 and len(pieces) <= 2 and not store.has_pending_writes:
            self._kept[key] = _Kept(
                generation,
                defects,
                defects_version,
                response.status,
                list(response.headers),
                pieces,
            )
            self._kept.move_to_end(key)
            if len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return response
