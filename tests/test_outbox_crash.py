"""Exactly once across crashes: a writer process is killed with SIGKILL at a random point of
queueing or replay; after a restart every write it queued is applied exactly once, as the
reference backend's data shows.

The backend runs on a loopback socket in this process, so it outlives each writer. Writers are
forked from a fork server that has imported the SDK once, so 50 runs stay fast. Half of the
runs are against a backend that honours ``Idempotency-Key`` and mix task creations with batch
messages (a message has no effect to look up: the key alone keeps it single); the other half
are against a backend that ignores the key like the real service, with task creations only,
which the outbox finds by name in their batch.
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


def _written(backend: GamifyBackend, token: str, batch_id: str) -> Counter[str]:
    """How many times each task name and each message text is on the backend."""
    headers = {"authorization": f"Bearer {token}"}
    status, _headers, body = backend.handle("GET", "/api/task/all", headers=headers)
    assert status == 200
    written = Counter(task["name"] for task in json.loads(body))
    status, _headers, body = backend.handle(
        "GET", f"/api/batches/{batch_id}/messages", headers=headers
    )
    assert status == 200
    messages = json.loads(body)
    listed = messages if isinstance(messages, list) else messages.get("messages", [])
    written.update(message["message"] for message in listed)
    return written


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
        honours_keys = rng.random() < 0.5
        backend.idempotency.enabled = honours_keys
        # Messages have no effect to look up: only a server that honours keys may get one
        # again, so they are written only then.
        kinds = ("task", "message") if honours_keys else ("task",)
        writes = tuple(
            (rng.choice(kinds), f"crash-{seed}-{run}-{n}") for n in range(WRITES_PER_RUN)
        )
        outbox = str(tmp_path / f"run-{run}.db")
        plan = WriterPlan(
            base_url, token, outbox, demo.batch_id, demo.category_ids[0], writes, crash
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
        queued = {op.json.get("name") or op.json.get("message") for op in operations}
        assert all(op.status == "applied" for op in operations), (run, crash, operations)
        written = _written(backend, token, demo.batch_id)
        for kind, text in writes:
            expected = 1 if text in queued else 0
            assert written[text] == expected, (run, crash, kind, text, written[text])
    print(f"crash points reached: {dict(killed)}")
    assert sum(n for where, n in killed.items() if where != "not killed") >= RUNS // 2
