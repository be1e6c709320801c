"""What the durable outbox costs.

- ``outbox_enqueue_us``: one write made while offline, from the call to the
  :class:`~gamify_client.outbox.WriteQueued` it raises: the row committed to SQLite (WAL,
  ``synchronous=FULL``, so the fsync is included), the ``mutationQueued`` event, the pending
  write. Median over rounds of 100 writes.
- ``replay_100_ms``: replaying 100 queued writes (batch messages) against the reference backend
  on a loopback socket (its server runs in its own thread): per write, a claim committed, the
  request with its ``Idempotency-Key``, the answer parsed, the rule applied, the row marked
  applied. Median of 5 rounds.
- ``direct_100_ms``: the same 100 writes sent by a client without an outbox, in the same
  rounds (interleaved), for scale: ``replay_100_ms`` over it is the outbox's price per write.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from gamify_client import GamifyClient
from gamify_client.outbox import WriteQueued
from gamify_client.testing import GamifyBackend
from gamify_client.timers import Scheduler

ROUNDS = 5
PER_ROUND = 100


def _offline_client(base_url: str, token: str, path: Path) -> GamifyClient:
    client = GamifyClient(
        base_url=base_url,
        token=token,
        offline=path,
        max_retries=0,
        scheduler=Scheduler(threaded=False),
    )
    client.set_online(False)
    return client


def _queue(client: GamifyClient, batch_id: str, count: int) -> float:
    """Queue ``count`` writes; the mean seconds per write."""
    started = time.perf_counter()
    for n in range(count):
        try:
            client.batches.post_message(batch_id, message=f"note {n}")
        except WriteQueued:
            pass
        else:
            raise RuntimeError("an offline write was not queued")
    return (time.perf_counter() - started) / count


def main() -> None:
    enqueue: list[float] = []
    replay: list[float] = []
    direct: list[float] = []
    with (
        GamifyBackend() as backend,
        tempfile.TemporaryDirectory(prefix="gamify-bench-outbox-") as folder,
    ):
        demo = backend.seed_demo()
        token = backend.token_for(demo.admin.id)
        with backend.serve() as base_url:
            for round_number in range(ROUNDS):
                path = Path(folder) / f"round-{round_number}.db"
                with _offline_client(base_url, token, path) as client:
                    enqueue.append(_queue(client, demo.batch_id, PER_ROUND))
                    client.set_online(True)
                    assert client.outbox is not None
                    started = time.perf_counter()
                    left = client.outbox.replay()
                    replay.append(time.perf_counter() - started)
                    if left is not None or client.outbox.pending():
                        raise RuntimeError(f"the replay stopped: {left}")
                with GamifyClient(base_url=base_url, token=token, max_retries=0) as plain:
                    started = time.perf_counter()
                    for n in range(PER_ROUND):
                        plain.batches.post_message(demo.batch_id, message=f"direct {n}")
                    direct.append(time.perf_counter() - started)
    print(f"outbox_enqueue_us: {statistics.median(enqueue) * 1e6:.1f}")
    print(f"replay_100_ms: {statistics.median(replay) * 1e3:.1f}")
    print(f"direct_100_ms: {statistics.median(direct) * 1e3:.1f}")


if __name__ == "__main__":
    main()
