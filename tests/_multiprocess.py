"""Separate processes that each hold one user's live dashboard, for the cross-process tests.

Each worker process has its own client, cache and link (the Redis bridge or server push), a
dashboard query that never polls in the test's time (its interval is an hour), and reports on
a queue: when it is ready, each change of its dashboard, each ``taskCompleted`` it emits, and
its link's counters when told to stop. One worker can be told to submit a task.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import queue
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

from gamify_client import ClientConfig, Event, GamifyClient

_DEADLINE = 60.0
_AN_HOUR = 3600.0


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "it") -> None:
    """Poll ``predicate`` until it holds; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.002)


async def wait_until_async(
    predicate: Callable[[], bool], within: float = 10.0, what: str = "it"
) -> None:
    """:func:`wait_until` for a test on an event loop (the loop keeps running meanwhile);
    ``within`` is the deadline in seconds."""
    deadline = time.monotonic() + within
    for _ in itertools.count():
        if predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.002)


def dashboard_worker(
    name: str,
    base_url: str,
    token: str,
    user_id: str,
    link: str,
    redis_url: str | None,
    commands: Any,
    reports: Any,
) -> None:
    """One process: a client, its link to the others, and a live dashboard."""
    config = ClientConfig(
        base_url=base_url,
        token=token,
        task_completion_delay=0,
        user_refresh_interval=_AN_HOUR,
        admin_refresh_interval=_AN_HOUR,
    )
    with GamifyClient(config=config) as client:
        handle: Any = client.attach_bridge(redis_url) if link == "redis" else client.listen()
        if not handle.wait_connected(_DEADLINE):
            reports.put(("failed", name, f"the {link} link did not connect"))
            return
        client.events.subscribe(
            Event.TASK_COMPLETED, lambda payload: reports.put(("event", name, payload.task_id))
        )
        query = client.use_dashboard_data(refetch_interval=_AN_HOUR)
        query.wait_for(timeout=_DEADLINE)
        query.subscribe(
            lambda q: reports.put(("dashboard", name, q.data.overall_stats.user_total_xp))
        )
        reports.put(("ready", name, query.data.overall_stats.user_total_xp))
        while True:
            command, argument = commands.get(timeout=_DEADLINE)
            if command == "stop":
                break
            client.tasks.submit(
                argument, user_id=user_id, submission_type="Text Entry", value="done"
            )
            reports.put(("submitted", name, argument))
        query.close()
        handle.close()
        stats = handle.stats()
        reports.put(("stats", name, {"applied": stats.applied, "duplicates": stats.duplicates}))


@dataclass
class Workers:
    """The running workers, their command queues and the shared report queue."""

    names: list[str]
    commands: dict[str, Any]
    reports: Any
    processes: list[BaseProcess]
    received: list[tuple[str, str, Any]] = field(default_factory=list)

    def expect(
        self, predicate: Callable[[list[tuple[str, str, Any]]], bool], what: str
    ) -> list[tuple[str, str, Any]]:
        """Collect reports until ``predicate(all reports so far)`` holds."""
        deadline = time.monotonic() + _DEADLINE
        while not predicate(self.received):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {what}; got {self.received}")
            try:
                report = self.reports.get(timeout=remaining)
            except queue.Empty:
                continue
            if report[0] == "failed":
                raise AssertionError(f"worker {report[1]} failed: {report[2]}")
            self.received.append(report)
        return self.received

    def stop(self) -> dict[str, dict[str, int]]:
        """Stop every worker; returns each one's link counters."""
        for name in self.names:
            self.commands[name].put(("stop", None))
        self.expect(lambda got: len(self.of_kind("stats")) == len(self.names), "every stats")
        return dict(self.of_kind("stats"))

    def of_kind(self, kind: str) -> list[tuple[str, Any]]:
        """``(worker, value)`` of every report of ``kind`` so far."""
        return [(name, value) for got, name, value in self.received if got == kind]


@contextmanager
def dashboard_workers(
    count: int,
    *,
    base_url: str,
    token: str,
    user_id: str,
    link: str,
    redis_url: str | None = None,
) -> Iterator[Workers]:
    """Start ``count`` worker processes (spawned: nothing shared with this one) and wait
    until every one holds its dashboard; stop and join them at the end."""
    context = multiprocessing.get_context("spawn")
    reports = context.Queue()
    names = [f"worker-{index}" for index in range(count)]
    commands = {name: context.Queue() for name in names}
    processes: list[BaseProcess] = [
        context.Process(
            target=dashboard_worker,
            args=(name, base_url, token, user_id, link, redis_url, commands[name], reports),
            daemon=True,
        )
        for name in names
    ]
    for process in processes:
        process.start()
    workers = Workers(names, commands, reports, processes)
    try:
        workers.expect(lambda got: len(workers.of_kind("ready")) == count, "every worker ready")
        yield workers
    finally:
        for name in names:
            commands[name].put(("stop", None))
        for process in processes:
            process.join(timeout=_DEADLINE)
            if process.is_alive():
                process.kill()
