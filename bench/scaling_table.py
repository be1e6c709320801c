"""The scaling table of docs/benchmarks.md: what live queries cost at 10, 100, 1,000 and 10,000
of them, all on one key or each on its own key. Run ``python -m bench.scaling_table``; it
prints the Markdown table (not a ``make bench`` figure: it takes a minute).

Per size and layout: creating the queries, invalidating their family, a focus refetch of
them all (time on the caller's thread), closing them, the memory each holds (tracemalloc),
and the CPU the client uses in one idle second with them open (the timer thread's work).

Times per query grow a little at 10,000 queries even where the work per query does not: tens of
megabytes of objects no longer fit the processor's caches. So the table also counts the Python
function calls an invalidation and a focus refetch make per query, which only grows if the
code does more work per query as the queries grow.
"""

from __future__ import annotations

import gc
import sys
import time
import tracemalloc
from collections.abc import Callable
from types import FrameType
from typing import Any

import httpx

from gamify_client import CacheKey, ClientConfig, GamifyClient
from gamify_client.timers import Scheduler

CONFIG = ClientConfig(base_url="http://bench.test", task_completion_delay=0, max_retries=0)
SIZES = (10, 100, 1_000, 10_000)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"progress": {}})


def _open(client: GamifyClient, count: int, distinct: bool) -> list[Any]:
    return [
        client.use_user_progress_data(f"u{index if distinct else 0}", "b1")
        for index in range(count)
    ]


def _calls(action: Callable[[], object]) -> int:
    """How many Python functions ``action`` calls (a profiler hook that only counts)."""
    counted = 0

    def count(_frame: FrameType, event: str, _arg: object) -> None:
        nonlocal counted
        if event == "call":
            counted += 1

    sys.setprofile(count)
    try:
        action()
    finally:
        sys.setprofile(None)
    return counted


def _bytes_per_query(count: int, distinct: bool) -> float:
    """Memory held per open query, measured apart (tracemalloc slows everything it sees)."""
    client = GamifyClient(
        config=CONFIG,
        http_client=httpx.Client(transport=httpx.MockTransport(_answer)),
        scheduler=Scheduler(clock=_Clock(), threaded=False),
    )
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    queries = _open(client, count, distinct)
    client.scheduler.run_due()
    held = (tracemalloc.get_traced_memory()[0] - before) / count
    tracemalloc.stop()
    for query in queries:
        query.close()
    client.close()
    return held


def measure(count: int, distinct: bool) -> dict[str, float]:
    clock = _Clock()
    client = GamifyClient(
        config=CONFIG,
        http_client=httpx.Client(transport=httpx.MockTransport(_answer)),
        scheduler=Scheduler(clock=clock, threaded=False),
    )
    gc.collect()
    started = time.perf_counter()
    queries = _open(client, count, distinct)
    create = time.perf_counter() - started
    client.scheduler.run_due()
    memory = _bytes_per_query(count, distinct)
    # Each timed step starts after a collection, so that a collector pass the earlier steps
    # made due does not land in it.
    gc.collect()
    started = time.perf_counter()
    client.refresh_manager.invalidate(CacheKey.USER_PROGRESS)
    invalidate = time.perf_counter() - started
    client.scheduler.run_due()
    client.set_focused(False)
    clock.now += 3600
    gc.collect()
    started = time.perf_counter()
    client.set_focused(True)
    focus = time.perf_counter() - started
    client.scheduler.run_due()
    # The same two actions again, counting calls rather than timing them.
    invalidate_calls = _calls(lambda: client.refresh_manager.invalidate(CacheKey.USER_PROGRESS))
    client.scheduler.run_due()
    client.set_focused(False)
    clock.now += 3600
    focus_calls = _calls(lambda: client.set_focused(True))
    client.scheduler.run_due()
    cpu_before = time.process_time()
    clock.now += 1.0
    client.scheduler.run_due()
    idle = time.process_time() - cpu_before
    gc.collect()
    started = time.perf_counter()
    for query in queries:
        query.close()
    close = time.perf_counter() - started
    client.close()
    return {
        "create_ms": create * 1000,
        "invalidate_ms": invalidate * 1000,
        "focus_ms": focus * 1000,
        "close_ms": close * 1000,
        "bytes_per_query": memory,
        "invalidate_calls_per_query": invalidate_calls / count,
        "focus_calls_per_query": focus_calls / count,
        "idle_cpu_ms_per_s": idle * 1000,
    }


def main() -> None:
    columns = (
        "create_ms",
        "close_ms",
        "invalidate_ms",
        "focus_ms",
        "bytes_per_query",
        "invalidate_calls_per_query",
        "focus_calls_per_query",
    )
    print("| layout | queries | " + " | ".join(columns) + " | idle_cpu_ms_per_s |")
    print("|---" * (len(columns) + 3) + "|")
    for distinct in (False, True):
        layout = "distinct keys" if distinct else "one key"
        for count in SIZES:
            row = measure(count, distinct)
            cells = " | ".join(f"{row[name]:.2f}" for name in columns)
            print(f"| {layout} | {count} | {cells} | {row['idle_cpu_ms_per_s']:.2f} |")


if __name__ == "__main__":
    main()
