"""A typed GET through the client against what a typed user writes without it.

The baseline is what a user who wants typed results writes with httpx alone:
``TypeAdapter(list[Task]).validate_json(http.get(url).content)``, the same model type the
client returns. Both sides run against one loopback server answering 20 tasks, in
interleaved rounds (``bench/_interleave.py``), each figure with its A/A control (``_aa``).

- ``typed_get_ratio_sync`` / ``typed_get_ratio_async``: ``client.tasks.list()`` over the
  baseline, against a server whose every answer differs from the one before, so both sides
  validate 20 tasks on every call (the client cannot reuse its last result): the cost of
  the client on fresh data (target at most 1.03).
- ``typed_get_ratio_sync_unchanged`` / ``typed_get_ratio_async_unchanged``: the same against
  a server that answers the same bytes every time; the client then gives back its last
  result without validating again, the baseline validates every time: what polling costs.
- ``parse_20_tasks_us``: validating 20 tasks, the part of a fresh answer typing adds.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable

import httpx
from pydantic import TypeAdapter

from bench._fixed_server import fixed_server, twenty_tasks
from bench._interleave import Ratio, measure_ratio, measure_ratio_async
from gamify_client import AsyncGamifyClient, ClientConfig, GamifyClient
from gamify_client.models import Task
from gamify_client.resources.tasks import list_tasks

ROUNDS = 150
PER_ROUND = 20
TASKS = TypeAdapter(list[Task])


def _timed_sync(fn: Callable[[], object]) -> Callable[[], float]:
    """A sampler: the mean seconds of one call over PER_ROUND calls."""

    def sample() -> float:
        start = time.perf_counter()
        for _ in range(PER_ROUND):
            fn()
        return (time.perf_counter() - start) / PER_ROUND

    return sample


def _timed_async(fn: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[float]]:
    """The same as :func:`_timed_sync` for a coroutine function."""

    async def sample() -> float:
        start = time.perf_counter()
        for _ in range(PER_ROUND):
            await fn()
        return (time.perf_counter() - start) / PER_ROUND

    return sample


def sync_ratio(name: str, base_url: str) -> Ratio:
    url = f"{base_url}/api/task/all"
    with httpx.Client() as raw, GamifyClient(config=ClientConfig(base_url=base_url)) as client:

        def typed_get() -> list[Task]:
            return TASKS.validate_json(raw.get(url).content)

        typed_get()
        client.tasks.list()
        return measure_ratio(name, _timed_sync(client.tasks.list), _timed_sync(typed_get), ROUNDS)


async def async_ratio(name: str, base_url: str) -> Ratio:
    url = f"{base_url}/api/task/all"
    config = ClientConfig(base_url=base_url)
    async with httpx.AsyncClient() as raw, AsyncGamifyClient(config=config) as client:

        async def typed_get() -> list[Task]:
            return TASKS.validate_json((await raw.get(url)).content)

        await typed_get()
        await client.tasks.list()
        return await measure_ratio_async(
            name, _timed_async(client.tasks.list), _timed_async(typed_get), ROUNDS
        )


def parse_us() -> float:
    response = httpx.Response(
        200,
        content=json.dumps(twenty_tasks()).encode(),
        headers={"content-type": "application/json"},
        request=httpx.Request("GET", "http://bench.test/api/task/all"),
    )
    # Validation itself, without the shortcut for an unchanged body.
    parse = list_tasks().parse._parse  # type: ignore[attr-defined]
    parse(response)
    best = []
    for _ in range(20):
        start = time.perf_counter()
        for _ in range(200):
            parse(response)
        best.append((time.perf_counter() - start) / 200)
    return statistics.median(best) * 1e6


def main() -> None:
    with fixed_server(changing=True) as base_url:
        print(sync_ratio("typed_get_ratio_sync", base_url).lines())
        print(asyncio.run(async_ratio("typed_get_ratio_async", base_url)).lines())
    with fixed_server() as base_url:
        print(sync_ratio("typed_get_ratio_sync_unchanged", base_url).lines())
        print(asyncio.run(async_ratio("typed_get_ratio_async_unchanged", base_url)).lines())
    print(f"parse_20_tasks_us: {parse_us():.1f}")
