"""Running an ASGI app with uvicorn on a loopback socket, in a daemon thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_INSTALL_HINT = "pip install 'gamify-client[server]'"
_POLL_SECONDS = 0.005


def _import_uvicorn() -> Any:
    try:
        import uvicorn
    except ImportError as err:
        raise ImportError(
            f"serving the reference backend over a socket needs uvicorn: {_INSTALL_HINT}"
        ) from err
    return uvicorn


@contextmanager
def serve_app(
    app: Any, host: str = "127.0.0.1", port: int = 0, startup_timeout: float = 10.0
) -> Iterator[str]:
    """Serve ``app`` until the block ends; yields the base URL once connections are accepted.

    ``port=0`` picks a free port. On exit the server stops taking requests, finishes
    those in flight (up to 5 s) and its thread ends.
    """
    uvicorn = _import_uvicorn()
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
            timeout_graceful_shutdown=5,
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


def _wait_until_started(server: Any, thread: threading.Thread, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the backend server stopped while starting")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the backend server did not start within {timeout} s")
        time.sleep(_POLL_SECONDS)
