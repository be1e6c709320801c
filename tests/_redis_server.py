"""A real ``redis-server`` for tests: started on a free loopback port, with persistence off,
and able to be killed and started again on the same port (what a Redis outage looks like to
a client)."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from types import TracebackType
from typing import Self

import redis

_START_TIMEOUT = 10.0
_POLL_SECONDS = 0.01


def redis_server_binary() -> str | None:
    """The path of ``redis-server``, or None when it is not installed."""
    return shutil.which("redis-server")


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """One ``redis-server`` process on ``127.0.0.1:port`` (a free port unless given).

    ``start`` waits until it answers PING; ``kill`` ends it at once (SIGKILL, no goodbye to
    its clients); ``start`` again brings it back, empty, on the same port.
    """

    def __init__(self, port: int | None = None) -> None:
        binary = redis_server_binary()
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self._binary = binary
        self.port = port if port is not None else free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL a redis-py client connects with."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server and wait until it answers; raises TimeoutError if it never does."""
        if self.running:
            return
        self._process = subprocess.Popen(
            [
                self._binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_until_answering()

    def kill(self) -> None:
        """End the server abruptly and wait until its process is gone."""
        process = self._process
        if process is None:
            return
        process.kill()
        process.wait(timeout=_START_TIMEOUT)
        self._process = None

    def freeze(self) -> None:
        """Stop the server process (SIGSTOP): its sockets stay open and nothing answers."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """Let a frozen server run again (SIGCONT)."""
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        """Kill the server and start a fresh one on the same port."""
        self.kill()
        self.start()

    def client(self) -> redis.Redis:
        """A plain redis-py client of this server (for the test's own checks)."""
        return redis.Redis.from_url(self.url)

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        probe = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        try:
            while True:
                if not self.running:
                    raise RuntimeError(f"redis-server exited while starting on port {self.port}")
                try:
                    if probe.ping():
                        return
                except redis.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"redis-server did not answer on port {self.port}")
                time.sleep(_POLL_SECONDS)
        finally:
            probe.close()

    def close(self) -> None:
        """Stop the server. Idempotent."""
        self.kill()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
