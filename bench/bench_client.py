"""The client's cost over raw httpx on a real loopback server, and the cost of parsing.

``sync_get_overhead_ratio`` / ``async_get_overhead_ratio``: median time of
``client.tasks.list()`` over the median of ``httpx.Client.get(url).json()`` against the same
server answering the same 20 tasks each time, measured interleaved in one run. An unchanged
answer is not validated again (structural sharing), so these are the cost of polling.
``*_changing`` are the same against a server whose every answer differs, so every call
validates 20 tasks: the cost of fresh data. ``parse_20_tasks_us``: validating 20 tasks.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable

import httpx

from bench._fixed_server import fixed_server, twenty_tasks
from gamify_client import AsyncGamifyClient, ClientConfig, GamifyClient
from gamify_client.resources.tasks import list_tasks

ROUNDS = 30
PER_ROUND = 100


def _median_ratio(samples_ours: list[float], samples_raw: list[float]) -> float:
    return statistics.median(samples_ours) / statistics.median(samples_raw)


def _time_sync(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    for _ in range(PER_ROUND):
        fn()
    return (time.perf_counter() - start) / PER_ROUND


async def _time_async(fn: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    for _ in range(PER_ROUND):
        await fn()
    return (time.perf_counter() - start) / PER_ROUND


def sync_ratio(base_url: str) -> float:
    url = f"{base_url}/api/task/all"
    config = ClientConfig(base_url=base_url)
    with httpx.Client() as raw, GamifyClient(config=config) as client:
        raw.get(url).json()
        client.tasks.list()
        ours, baseline = [], []
        for _ in range(ROUNDS):
            baseline.append(_time_sync(lambda: raw.get(url).json()))
            ours.append(_time_sync(client.tasks.list))
    return _median_ratio(ours, baseline)


async def async_ratio(base_url: str) -> float:
    url = f"{base_url}/api/task/all"
    config = ClientConfig(base_url=base_url)
    async with httpx.AsyncClient() as raw, AsyncGamifyClient(config=config) as client:

        async def raw_get() -> object:
            return (await raw.get(url)).json()

        await raw_get()
        await client.tasks.list()
        ours, baseline = [], []
        for _ in range(ROUNDS):
            baseline.append(await _time_async(raw_get))
            ours.append(await _time_async(client.tasks.list))
    return _median_ratio(ours, baseline)


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
    with fixed_server() as base_url:
        print(f"sync_get_overhead_ratio: {sync_ratio(base_url):.3f}")
        print(f"async_get_overhead_ratio: {asyncio.run(async_ratio(base_url)):.3f}")
    with fixed_server(changing=True) as base_url:
        print(f"sync_get_overhead_ratio_changing: {sync_ratio(base_url):.3f}")
        print(f"async_get_overhead_ratio_changing: {asyncio.run(async_ratio(base_url)):.3f}")
    print(f"parse_20_tasks_us: {parse_us():.1f}")
