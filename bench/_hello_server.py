"""A hello-world ASGI app on the reference server's own stack, as a process of its own.

``python -m bench._hello_server`` serves it the way ``gamify serve`` serves the backend (the same
``serve_app``: the same uvicorn HTTP protocol, event loop and limits) and prints ``gamify
serve``'s ready line with its base URL. What it answers costs nothing, so its rate is the
ceiling of any app on this stack.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from gamify_client.cli import READY_PREFIX
from gamify_client.testing._server import serve_app

_BODY = b'{"message":"Hello, world"}'
_HEADERS = [
    (b"content-type", b"application/json; charset=utf-8"),
    (b"content-length", str(len(_BODY)).encode()),
]


async def hello_app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
) -> None:
    """Answers every HTTP request with the same small JSON body."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _BODY})


def main() -> None:
    """Serve :func:`hello_app` on a free loopback port until the process is stopped."""
    with serve_app(hello_app) as base_url:
        print(f"{READY_PREFIX}{base_url}", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
