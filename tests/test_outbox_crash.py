"""Exactly once across crashes: a writer process is killed with SIGKILL at a random point of
queueing or replay; after a restart every write it queued is applied exactly once, as the
reference backend's data shows.

The backend runs on a loopback socket in this process, so it outlives each writer. Writers are
forked from a fork server that has imported the SDK once, so 50 runs stay fast; half of them
run against a backend that ignores ``Idempotency-Key`` like the real service, where the
outbox finds a write's effect (the task by name in its batch) instead.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gamify_client import GamifyClient
from gamify_client.testing import DemoData, GamifyBackend
from gamify_client.timers import Scheduler
from tests._outbox_writer import POINTS, SSL_CONTEXT, CrashPoint, WriterPlan, run_writer

RUNS = 50
WRITES_PER_RUN = 4


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[GamifyBackend, DemoData, str]]:
    with GamifyBackend() as backend:
        demo = backend.seed_demo()
        with backend.serve() as base_url:
            yield backend, demo, base_url


@pytest.fixture(scope="module")
def forks() -> multiprocessing.context.ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["gamify_client", "tests._outbox_writer"])
    return context


def _task_names(backend: GamifyBackend, token: str) -> Counter[str]:
    status, _headers, body = backend.handle(
        "GET", "/api/task/all", headers={"authorization": f"Bearer {token}"}
    )
    assert status == 200
    return Counter(task["name"] for task in json.loads(body))


def test_every_queued_write_is_applied_exactly_once_after_sigkill(
    served: tuple[GamifyBackend, DemoData, str],
    forks: multiprocessing.context.ForkServerContext,
    tmp_path: Path,
) -> None:
    backend, demo, base_url = served
    token = backend.token_for(demo.admin.id)
    seed = random.randrange(2**32)
    print(f"crash test seed {seed}")
    rng = random.Random(seed)
    killed = Counter[str]()
    for run in range(RUNS):
        crash = CrashPoint(rng.choice(POINTS), rng.randrange(WRITES_PER_RUN))
        backend.idempotency.enabled = rng.random() < 0.5
        names = tuple(f"crash-{seed}-{run}-{n}" for n in range(WRITES_PER_RUN))
        outbox = str(tmp_path / f"run-{run}.db")
        plan = WriterPlan(
            base_url, token, outbox, demo.batch_id, demo.category_ids[0], names, crash
        )
        writer = forks.Process(target=run_writer, args=(plan,))
        writer.start()
        writer.join(timeout=60)
        assert writer.exitcode in (0, -signal.SIGKILL), f"run {run}: exit {writer.exitcode}"
        killed[crash.where if writer.exitcode else "not killed"] += 1

        # The restart: a new writer process (this one) on the same file.
        with (
            httpx.Client(verify=SSL_CONTEXT) as http,
            GamifyClient(
                base_url=base_url,
                token=token,
                offline=outbox,
                max_retries=0,
                http_client=http,
                scheduler=Scheduler(threaded=False),
            ) as restarted,
        ):
            assert restarted.outbox is not None
            assert restarted.outbox.replay() is None, f"run {run} ({crash}) left writes"
            operations = restarted.outbox.operations()
        queued = {op.json["name"] for op in operations}
        assert all(op.status == "applied" for op in operations), (run, crash, operations)
        counts = _task_names(backend, token)
        for name in names:
            expected = 1 if name in queued else 0
            assert counts[name] == expected, (run, crash, name, counts[name])
    print(f"crash points reached: {dict(killed)}")
    assert sum(n for where, n in killed.items() if where != "not killed") >= RUNS // 2
