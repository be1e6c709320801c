"""A loopback uvicorn server, in its own process, answering ``GET /api/task/all`` with a fixed
list of 20 tasks shaped like the real service's (populated category and batch)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def twenty_tasks() -> list[dict[str, Any]]:
    """20 tasks as ``GET /api/task/all`` returns them."""
    batch = {"_id": "6650f0c2a1b2c3d4e5f60001", "name": "Backend Bootcamp"}
    category = {
        "_id": "6650f0c2a1b2c3d4e5f60002",
        "name": "APIs",
        "emoji": "🔌",
        "color": "#3366ff",
        "batch": batch["_id"],
    }
    return [
        {
            "_id": f"6650f0c2a1b2c3d4e5f6{index:04x}",
            "name": f"Task {index}",
            "description": "Build a small service and document it.",
            "details": "Use the framework of your choice; include tests.",
            "difficulty": "Medium",
            "category": category,
            "batch": batch,
            "type": "Mini-project",
            "points": 100,
            "badge": "builder",
            "resources": ["https://example.com/guide"],
            "dueDate": "2026-12-01T00:00:00.000Z",
            "submissionTypes": ["Link", "Text Entry"],
            "assignedTo": ["6650f0c2a1b2c3d4e5f6aaaa"],
            "completedBy": [],
            "completedCount": 3,
            "inProgressCount": 5,
            "createdAt": "2026-11-01T10:00:00.000Z",
            "updatedAt": "2026-11-02T10:00:00.000Z",
            "__v": 0,
        }
        for index in range(20)
    ]


_SERVER = """
import itertools, json, sys, uvicorn
body = sys.stdin.buffer.read()
changing = sys.argv[2] == "changing"
counter = itertools.count()
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    answer = body.replace(b"Task 0", b"Task %d" % next(counter)) if changing else body
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json; charset=utf-8")]})
    await send({"type": "http.response.body", "body": answer})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="error", access_log=False)
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def fixed_server(*, changing: bool = False) -> Iterator[str]:
    """Start the server process; yields its base URL and stops it afterwards. With
    ``changing`` every answer differs from the one before (the first task's name counts up)."""
    port = _free_port()
    mode = "changing" if changing else "fixed"
    command = [sys.executable, "-c", _SERVER, str(port), mode]
    process = subprocess.Popen(command, stdin=subprocess.PIPE)
    assert process.stdin is not None
    process.stdin.write(json.dumps(twenty_tasks()).encode())
    process.stdin.close()
    deadline = time.monotonic() + 20
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the benchmark server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
