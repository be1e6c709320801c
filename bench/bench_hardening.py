"""What a hostile or broken peer costs: idle sockets against the server, a frozen Redis
against a write.

- ``backend_idle_sockets_closed_s``: seconds until ``gamify serve``, run as its own process
  with a 256-descriptor limit, has closed 300 sockets that never send a byte (then it still
  answers). Target: at most 10.
- ``write_with_frozen_redis_ms``: the duration of one write (``tasks.edit``) by a client with
  the Redis bridge attached while ``redis-server`` is stopped (SIGSTOP). Target: at most the
  client's timeout (2,000 ms here). Skipped when ``redis-server`` is not installed.
"""

from __future__ import annotations

import resource
import selectors
import socket
import subprocess
import sys
import time

import httpx
from tests._redis_server import RedisServer, redis_server_binary

from gamify_client import GamifyClient
from gamify_client.bridges.redis import RedisBridge
from gamify_client.cli import READY_PREFIX
from gamify_client.testing import GamifyBackend

IDLE_SOCKETS = 300
SERVER_DESCRIPTORS = 256
CLIENT_TIMEOUT = 2.0


def _limit_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (SERVER_DESCRIPTORS, SERVER_DESCRIPTORS))


def _start_server() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "gamify_client", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        preexec_fn=_limit_descriptors,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(READY_PREFIX):
            return process, line[len(READY_PREFIX) :].split()[0]
    raise RuntimeError("gamify serve did not start")


def _idle_sockets_closed_s() -> float:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    process, base_url = _start_server()
    url = httpx.URL(base_url)
    sockets: list[socket.socket] = []
    try:
        started = time.monotonic()
        selector = selectors.DefaultSelector()
        for _ in range(IDLE_SOCKETS):
            sock = socket.create_connection((url.host, url.port), timeout=5)
            sock.setblocking(False)
            sockets.append(sock)
            selector.register(sock, selectors.EVENT_READ)
        open_count = len(sockets)
        while open_count and time.monotonic() - started < 60:
            for key, _ in selector.select(timeout=1):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(1024)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    selector.unregister(sock)
                    open_count -= 1
        took = time.monotonic() - started
        assert httpx.get(f"{base_url}/", timeout=5).status_code == 200
        return took if open_count == 0 else float("inf")
    finally:
        for sock in sockets:
            sock.close()
        process.terminate()
        process.wait(timeout=10)


def _write_with_frozen_redis_ms() -> float | None:
    if redis_server_binary() is None:
        return None
    with GamifyBackend() as backend, RedisServer() as server:
        seed = backend.seed_demo()
        client = GamifyClient(
            base_url="http://gamify.bench",
            token=backend.token_for(seed.admin.id),
            timeout=CLIENT_TIMEOUT,
            http_client=httpx.Client(transport=backend.transport()),
        )
        with client, RedisBridge(client, url=server.url, channel="gamify:bench:frozen") as bridge:
            bridge.wait_connected(5)
            client.tasks.edit(seed.task_ids[0], details="warm-up")
            server.freeze()
            try:
                started = time.perf_counter()
                client.tasks.edit(seed.task_ids[0], details="while Redis is frozen")
                return (time.perf_counter() - started) * 1000
            finally:
                server.thaw()


def main() -> None:
    print(f"backend_idle_sockets_closed_s: {_idle_sockets_closed_s():.2f}")
    frozen = _write_with_frozen_redis_ms()
    if frozen is None:
        print("write_with_frozen_redis_ms: skipped (redis-server is not installed)")
    else:
        print(f"write_with_frozen_redis_ms: {frozen:.2f}")


if __name__ == "__main__":
    main()
