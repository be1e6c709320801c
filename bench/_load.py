"""A load generator that is not the bottleneck: raw keep-alive sockets, pre-built request bytes.

``N`` connections each keep one request in flight (no pipelining: a connection sends its next
request only once the whole answer to the previous one has arrived), on one event loop
(uvloop when installed). The only work per request is one ``write`` of bytes made beforehand
and counting the answer's bytes against its ``Content-Length``, so one core of this process
drives many times the requests a Python web app answers; :attr:`LoadResult.cpu_s` says how
much of its own CPU the run took, which bounds what it could drive.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

RequestSource = Callable[[], bytes | None]
"""Gives the next request's bytes, or None when there are no more to send."""

_HEAD_END = b"\r\n\r\n"
_STALL_SECONDS = 30.0


class ServerAnswerError(RuntimeError):
    """The server answered something a benchmark cannot count: an error status, a body of
    unknown length, or a closed connection."""


def http_request(method: str, path: str, host: str, headers: dict[str, str], body: bytes) -> bytes:
    """One HTTP/1.1 request as bytes, keep-alive, with its ``Content-Length`` when it has a body."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise ServerAnswerError(f"an answer without Content-Length: {head[:200]!r}")


class _Connection(asyncio.Protocol):
    """One keep-alive connection that sends a request, reads its whole answer, and repeats."""

    def __init__(self, run: _Run) -> None:
        self._run = run
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._body_left: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not derive from asyncio's classes, though they act alike.
        self._transport = cast("asyncio.Transport", transport)

    def send_next(self) -> None:
        request = self._run.next_request()
        if request is None:
            self._run.connection_done()
            return
        assert self._transport is not None
        self._transport.write(request)

    def data_received(self, data: bytes) -> None:
        if self._body_left is None:
            self._buffer += data
            end = self._buffer.find(_HEAD_END)
            if end < 0:
                return
            head = bytes(self._buffer[:end])
            status = int(head[9:12])
            if not 200 <= status < 300:
                self._run.fail(ServerAnswerError(f"the server answered {head[:200]!r}"))
                return
            self._body_left = _content_length(head) - (len(self._buffer) - end - len(_HEAD_END))
            self._buffer.clear()
        else:
            self._body_left -= len(data)
        if self._body_left <= 0:
            self._body_left = None
            self._run.answered()
            self.send_next()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._run.finished.done():
            self._run.fail(ServerAnswerError(f"the server closed a connection ({exc})"))


class _Run:
    """The shared state of one load run: the source, the counts and the deadline."""

    def __init__(self, source: RequestSource, connections: int) -> None:
        self.loop = asyncio.get_running_loop()
        self.finished: asyncio.Future[None] = self.loop.create_future()
        self._source = source
        self.deadline = float("inf")
        """No request is sent after this ``perf_counter`` time."""
        self._open = connections
        self.completed = 0
        self.last_answer = time.perf_counter()

    def next_request(self) -> bytes | None:
        if time.perf_counter() >= self.deadline:
            return None
        return self._source()

    def answered(self) -> None:
        self.completed += 1
        self.last_answer = time.perf_counter()

    def connection_done(self) -> None:
        self._open -= 1
        if self._open == 0 and not self.finished.done():
            self.finished.set_result(None)

    def fail(self, error: Exception) -> None:
        if not self.finished.done():
            self.finished.set_exception(error)


@dataclass(frozen=True)
class LoadResult:
    """What one run did: answers received, wall seconds, and the CPU seconds this process used."""

    requests: int
    elapsed_s: float
    cpu_s: float

    @property
    def per_s(self) -> float:
        """Answers per second."""
        return self.requests / self.elapsed_s

    @property
    def generator_capacity_per_s(self) -> float:
        """Requests per second this generator could drive with a whole core to itself."""
        return self.requests / self.cpu_s if self.cpu_s else float("inf")


async def _drive(
    host: str, port: int, source: RequestSource, in_flight: int, seconds: float
) -> LoadResult:
    loop = asyncio.get_running_loop()
    run = _Run(source, in_flight)
    connections: list[_Connection] = []
    for _ in range(in_flight):
        _, connection = await asyncio.wait_for(
            loop.create_connection(lambda: _Connection(run), host, port), _STALL_SECONDS
        )
        connections.append(connection)
    cpu_started = time.process_time()
    started = time.perf_counter()
    run.deadline = started + seconds
    for connection in connections:
        connection.send_next()
    try:
        # A server that stops answering ends the run with an error instead of hanging it.
        await asyncio.wait_for(run.finished, seconds + _STALL_SECONDS)
    finally:
        for connection in connections:
            connection.close()
    return LoadResult(run.completed, run.last_answer - started, time.process_time() - cpu_started)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def run_load(
    host: str, port: int, source: RequestSource, *, in_flight: int, seconds: float
) -> LoadResult:
    """Keep ``in_flight`` requests from ``source`` in flight on as many connections for at most
    ``seconds`` (or until ``source`` runs out); raises :class:`ServerAnswerError` if any answer
    is not a success."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(_drive(host, port, source, in_flight, seconds))
