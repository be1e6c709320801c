"""A writer process for the crash tests: it queues writes in its outbox while offline, comes
back online and replays them, and kills itself with SIGKILL at one chosen point.

The points (``CrashPoint.where``), each at the ``nth`` (0-based) occurrence:

- ``queued``: right after the nth write was queued (committed) and returned;
- ``before_send``: the nth request is about to leave (its claim is on disk);
- ``after_send``: the server answered the nth request; the answer never reaches the client;
- ``before_mark``: the nth write's answer was parsed; it is not yet marked applied.

Everything here is test code: the library has no crash hooks.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from typing import Any

import httpx

from gamify_client import GamifyClient
from gamify_client._outbox_store import OutboxStore
from gamify_client.outbox import WriteQueued
from gamify_client.timers import Scheduler

POINTS = ("queued", "before_send", "after_send", "before_mark")

# Made once when the fork server imports this module, so that each forked writer starts without
# loading the certificate store again (a good part of a short writer's life).
SSL_CONTEXT = httpx.create_ssl_context()


@dataclass(frozen=True)
class CrashPoint:
    where: str
    nth: int


@dataclass(frozen=True)
class WriterPlan:
    base_url: str
    token: str
    outbox: str
    batch_id: str
    category_id: str
    writes: tuple[tuple[str, str], ...]
    """``("task", name)``: create a task of that name in the batch (the outbox can look for
    it); ``("message", text)``: post a batch message (only a server that honours keys makes a
    resend safe)."""
    crash: CrashPoint


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class _Counter:
    def __init__(self, crash: CrashPoint, where: str) -> None:
        self._armed = crash.where == where
        self._left = crash.nth

    def tick(self) -> None:
        """Die at the armed point's nth occurrence."""
        if not self._armed:
            return
        if self._left == 0:
            _die()
        self._left -= 1


class _CrashingTransport(httpx.BaseTransport):
    """Forwards to a real transport, and dies before or after the nth write request (the
    liveness reads and effect lookups of a recovery do not count)."""

    def __init__(self, crash: CrashPoint) -> None:
        self._inner = httpx.HTTPTransport(verify=SSL_CONTEXT)
        self._before = _Counter(crash, "before_send")
        self._after = _Counter(crash, "after_send")

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        write = request.method != "GET"
        if write:
            self._before.tick()
        response = self._inner.handle_request(request)
        if write:
            response.read()
            self._after.tick()
        return response

    def close(self) -> None:
        self._inner.close()


def run_writer(plan: WriterPlan) -> None:
    """The writer's whole life; it ends with ``os._exit(0)`` if it was not killed first."""
    crash = plan.crash
    marked = _Counter(crash, "before_mark")
    mark_applied = OutboxStore.mark_applied

    def dying_mark(self: OutboxStore, operation: Any) -> None:
        marked.tick()
        mark_applied(self, operation)

    OutboxStore.mark_applied = dying_mark  # type: ignore[method-assign]
    queued = _Counter(crash, "queued")
    client = GamifyClient(
        base_url=plan.base_url,
        token=plan.token,
        max_retries=0,
        http_client=httpx.Client(transport=_CrashingTransport(crash)),
        offline=plan.outbox,
        scheduler=Scheduler(threaded=False),
    )
    client.set_online(False)
    for kind, text in plan.writes:
        with contextlib.suppress(WriteQueued):
            if kind == "message":
                client.batches.post_message(plan.batch_id, message=text)
            else:
                client.tasks.create(
                    name=text,
                    description="crash test",
                    details="-",
                    category=plan.category_id,
                    difficulty="easy",
                    batch=plan.batch_id,
                    points=10,
                )
        queued.tick()
    client.set_online(True)
    assert client.outbox is not None
    client.outbox.replay()
    os._exit(0)
