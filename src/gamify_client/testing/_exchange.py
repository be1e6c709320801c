"""One request's way through faults, the handler and the request log, without I/O.

A shell (the in-process transport, the ASGI app) calls :meth:`ExchangeRunner.begin`,
waits ``ticket.latency`` its own way (``time.sleep`` or ``asyncio.sleep``), then calls
:meth:`ExchangeRunner.finish` and turns the :class:`Outcome` into a response, a dropped
connection or a refused one. The waiting is the only part the shells write twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from http import HTTPStatus
from typing import Literal, NamedTuple

from ._express import BackendResponse, encode_json
from ._faults import FaultRule, Faults
from ._recorder import RequestLog

RequestHandler = Callable[[str, str, str, Mapping[str, str], bytes], BackendResponse]
"""Method, path, query string, headers (names in lower case) and body to the answer."""


class Ticket(NamedTuple):
    """A request that has been looked at for faults and not yet answered (a named tuple, as
    :class:`Outcome`: every request makes one, and a frozen dataclass costs several times more
    to make)."""

    method: str
    path: str
    query: str
    fault: FaultRule | None
    started: datetime

    @property
    def latency(self) -> float:
        """Seconds the shell must wait before finishing the request."""
        return (self.fault.latency or 0.0) if self.fault else 0.0


class Outcome(NamedTuple):
    """How to end a request: send ``response``, or drop or refuse the connection."""

    response: BackendResponse | None
    failure: Literal["drop", "refuse"] | None = None


class ExchangeRunner:
    """Applies the fault rules around the handler and records every request."""

    def __init__(
        self,
        handler: RequestHandler,
        faults: Faults,
        log: RequestLog,
        clock: Callable[[], datetime],
    ) -> None:
        self._handler = handler
        self._faults = faults
        self._log = log
        self._clock = clock

    def begin(self, method: str, path: str, query: str) -> Ticket:
        """Take the fault rule (if any) that applies to this request."""
        method = method.upper()
        return Ticket(method, path, query, self._faults.take(method, path), self._clock())

    def finish(self, ticket: Ticket, headers: Mapping[str, str], body: bytes) -> Outcome:
        """Handle the request as its fault says, record it, and say how to end it. ``headers``
        has its names in lower case."""
        fault = ticket.fault
        response = None
        if fault is None or fault.handles_request:
            response = self._handler(ticket.method, ticket.path, ticket.query, headers, body)
        outcome = _apply(fault, response)
        status = outcome.response.status if outcome.response else None
        self._log.record(
            ticket.method, ticket.path, ticket.query, status, ticket.started, fault is not None
        )
        return outcome


def _apply(fault: FaultRule | None, response: BackendResponse | None) -> Outcome:
    if fault is None:
        assert response is not None
        return Outcome(response)
    if fault.refuse:
        return Outcome(None, "refuse")
    if fault.drop:
        return Outcome(None, "drop")
    if fault.status is not None:
        response = _fault_response(fault, fault.status)
    assert response is not None
    if fault.malformed and response.body:
        response = response._replace(body=response.body[: len(response.body) // 2])
    return Outcome(response)


def _fault_response(fault: FaultRule, status: int) -> BackendResponse:
    if isinstance(fault.body, bytes):
        body = fault.body
    elif fault.body is None:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Injected fault"
        body = encode_json({"message": phrase})
    else:
        body = encode_json(fault.body)
    headers = [("Content-Type", "application/json; charset=utf-8")]
    if fault.retry_after is not None:
        seconds = fault.retry_after
        headers.append(
            ("Retry-After", str(int(seconds)) if seconds == int(seconds) else str(seconds))
        )
    return BackendResponse(status, headers, body)
