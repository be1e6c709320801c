"""Running an ASGI app with uvicorn on a loopback socket, in a daemon thread.

The server defends itself against clients that hold connections without using them: a
connection must deliver a whole request head within ``request_head_timeout`` seconds of opening
(or of the previous answer), so a socket that never sends a byte, or trickles its headers a
byte at a time (slowloris), is closed; an idle keep-alive connection is closed after
``keep_alive_timeout``; a request body must arrive within ``body_timeout`` (408 otherwise, see
``_asgi``); and beyond ``max_connections`` open connections a new one is closed at once, so
the process never runs out of file descriptors. uvicorn has the keep-alive timeout and the
header size limit; the rest is :class:`GuardedH11Protocol`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import resource
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

_INSTALL_HINT = "pip install 'gamify-client[server]'"
_POLL_SECONDS = 0.005


def default_max_connections() -> int:
    """Half the process's file descriptor limit, between 64 and 1024: room for the
    database, the logs and the sockets a server opens itself."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1024
    return max(64, min(1024, soft // 2))


@dataclass(frozen=True)
class ServerLimits:
    """How long a connection may stay without a request, and how many may be open."""

    request_head_timeout: float = 5.0
    """Seconds for a request's line and headers to arrive, from the connection's opening or
    the previous answer."""
    keep_alive_timeout: int = 5
    """Seconds an idle keep-alive connection stays open."""
    body_timeout: float = 30.0
    """Seconds for a whole request body to arrive."""
    max_connections: int = field(default_factory=default_max_connections)
    """Open connections beyond which a new one is closed at once."""
    max_head_bytes: int = 16 * 1024
    """The largest request head (line and headers)."""


def _import_uvicorn() -> Any:
    try:
        import uvicorn
    except ImportError as err:
        raise ImportError(
            f"serving the reference backend over a socket needs uvicorn: {_INSTALL_HINT}"
        ) from err
    return uvicorn


def _with_head_guard(base: Any, limits: ServerLimits, still_in_head: Callable[[Any], bool]) -> Any:
    """``base`` (one of uvicorn's HTTP protocols) closing a connection whose request head is
    not complete within ``limits.request_head_timeout`` of its opening or of the last answer
    (an idle socket, a trickled head), and any connection beyond ``limits.max_connections``.
    ``still_in_head(protocol)`` says, when the deadline comes, whether the head is still due."""

    class HeadGuarded(base):  # type: ignore[misc]
        _head_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                transport.close()
                return
            self._arm_head_deadline()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_head_deadline()
            super().connection_lost(exc)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm_head_deadline()

        def _arm_head_deadline(self) -> None:
            self._disarm_head_deadline()
            self._head_deadline = self.loop.call_later(
                limits.request_head_timeout, self._head_timed_out
            )

        def _disarm_head_deadline(self) -> None:
            if self._head_deadline is not None:
                self._head_deadline.cancel()
                self._head_deadline = None

        def _head_timed_out(self) -> None:
            self._head_deadline = None
            if still_in_head(self) and not self.transport.is_closing():
                self.transport.close()

    return HeadGuarded


def guarded_protocol(limits: ServerLimits) -> type[asyncio.Protocol]:
    """uvicorn's fastest HTTP protocol here (httptools when it is installed, else h11) with
    :class:`ServerLimits`' head deadline and connection cap."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return _guarded_h11(limits)
    # httptools says when a head is complete: the deadline is disarmed then, so it only ever
    # fires on a head still due.
    guarded = _with_head_guard(HttpToolsProtocol, limits, lambda _protocol: True)

    class GuardedHttpToolsProtocol(guarded):  # type: ignore[misc,valid-type]
        def on_headers_complete(self) -> None:
            self._disarm_head_deadline()
            super().on_headers_complete()

    return cast("type[asyncio.Protocol]", GuardedHttpToolsProtocol)


def _guarded_h11(limits: ServerLimits) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with the head deadline and the connection cap."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    def still_in_head(protocol: Any) -> bool:
        return bool(
            protocol.conn.their_state is h11.IDLE
            and (protocol.cycle is None or protocol.cycle.response_complete)
        )

    return cast("type[asyncio.Protocol]", _with_head_guard(H11Protocol, limits, still_in_head))


@contextmanager
def serve_app(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 10.0,
    limits: ServerLimits | None = None,
) -> Iterator[str]:
    """Serve ``app`` until the block ends; yields the base URL once connections are accepted.

    It runs on uvicorn's fastest stack here: httptools and uvloop when they are installed.

    ``port=0`` picks a free port. ``limits`` bound what a connection may hold (see
    :class:`ServerLimits`). On exit the server stops taking requests, finishes those in
    flight (up to 5 s) and its thread ends.
    """
    uvicorn = _import_uvicorn()
    limits = limits or ServerLimits()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only turns Nagle off (TCP_NODELAY) on accepted sockets
    # whose protocol says TCP, and with Nagle on every keep-alive response waits ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_level="warning",
            access_log=False,
            server_header=False,
            # No app served here reads the client's address, so uvicorn's middleware that
            # rewrites it from X-Forwarded-For would only cost every request its call.
            proxy_headers=False,
            timeout_graceful_shutdown=5,
            http=guarded_protocol(limits),
            # uvloop when it is installed (the ``server`` extra brings it where it builds): its
            # loop and transports cost a fraction of asyncio's per request.
            loop="uvloop" if _has_uvloop() else "asyncio",
            timeout_keep_alive=limits.keep_alive_timeout,
            h11_max_incomplete_event_size=limits.max_head_bytes,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="gamify-backend", daemon=True
        )
        thread.start()
        try:
            _wait_until_started(server, thread, startup_timeout)
            bound_port = sock.getsockname()[1]
            shown_host = f"[{host}]" if family == socket.AF_INET6 else host
            yield f"http://{shown_host}:{bound_port}"
        finally:
            server.should_exit = True
            thread.join(timeout=startup_timeout)
    finally:
        sock.close()


def _has_uvloop() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def _wait_until_started(server: Any, thread: threading.Thread, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the backend server stopped while starting")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the backend server did not start within {timeout} s")
        time.sleep(_POLL_SECONDS)
