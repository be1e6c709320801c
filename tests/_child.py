"""A child process whose output a test reads line by line while it runs."""

from __future__ import annotations

import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable

import pytest


class ChildProcess:
    """A process whose output is read line by line on a thread, so that a test can wait for a
    line with a deadline, act, and then collect the rest."""

    def __init__(
        self, command: list[str], env: dict[str, str] | None = None, *, what: str = "the process"
    ) -> None:
        self.what = what
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, matches: Callable[[str], bool], wanted: str, deadline: float) -> str:
        """Read until a line ``matches``; returns it. Fails after ``deadline`` seconds or when
        the output ends first, naming ``wanted`` and showing the output so far."""
        until = time.monotonic() + deadline
        while True:
            remaining = until - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"{self.what} printed no {wanted} in time; output: {self.lines}")
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(f"{self.what} ended before printing {wanted}; output: {self.lines}")
            self.lines.append(line)
            if matches(line):
                return line

    def finish(self, deadline: float, signum: int | None = None) -> int:
        """Optionally send ``signum``, wait for the exit and collect the rest of the output;
        returns the exit status."""
        if signum is not None and self.process.poll() is None:
            self.process.send_signal(signum)
        status = self.process.wait(timeout=deadline)
        while (line := self._queue.get(timeout=deadline)) is not None:
            self.lines.append(line)
        return status

    def kill(self, deadline: float = 15.0) -> None:
        """End the process if it still runs (a failed test), and close its pipes."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=deadline)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
