"""The async client with many calls in flight, over aiohttp and over httpx's own transport.

The server is the reference backend (``python -m gamify_client serve``) in its own process,
so the client's event loop shares no GIL with it. Each call is ``client.tasks.get(id)``, a
typed GET of one task (the backend's cheapest realistic read), cycling over 300 tasks: more
than the parser keeps for its unchanged-answer shortcut (256 URLs), so every call validates
its answer. ``n`` tasks run calls back to back, so ``n`` calls are in flight.

- ``async_calls_per_s_1_in_flight`` / ``async_calls_per_s_16_in_flight``: calls per second
  over aiohttp (``http_backend="aiohttp"``); the same with ``_httpx`` over httpx's transport.
- ``async_16_over_1_ratio``: the 16-in-flight rate over the 1-in-flight one over aiohttp, the
  median of the rounds' ratios (target at least 1.5; below 1 means concurrency makes the
  client slower); ``_httpx`` the same over httpx.
- ``async_16_over_1_ratio_aa``: the aiohttp ratio measured by two identical clients in the
  same interleaved rounds, one over the other: how far apart two runs of one measurement
  land on this machine (1.0 is perfect agreement).
- ``async_client_cpu_us_per_call`` (``_httpx``): the benchmark process's CPU time per call
  at 16 in flight: the client's own cost, which bounds its throughput on one core.
- ``async_server_cpu_share_16_in_flight``: the server process's CPU time over wall time at
  16 in flight over aiohttp; near 1.0 the single-process server, not the client, is the limit.

Each figure is the median of interleaved rounds (each arm's two windows back to back, the
order of arms rotating), so load from other processes falls on all of them alike.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from gamify_client import AsyncGamifyClient, ClientConfig, GamifyClient
from gamify_client.cli import READY_PREFIX

TASKS = 300
ROUNDS = 18
CALLS_PER_WINDOW = 480
IN_FLIGHT = (1, 16)


@dataclass
class _Arm:
    """One client and what it measured, per number of calls in flight."""

    name: str
    client: AsyncGamifyClient
    rates: dict[int, list[float]] = field(default_factory=dict)
    cpu_per_call: list[float] = field(default_factory=list)

    def rate(self, in_flight: int) -> float:
        return statistics.median(self.rates[in_flight])

    def ratio(self) -> float:
        """The median over rounds of the round's 16-in-flight rate over its 1-in-flight one."""
        pairs = zip(self.rates[16], self.rates[1], strict=True)
        return statistics.median(many / one for many, one in pairs)


@contextmanager
def _served_backend() -> Iterator[tuple[str, int, str, str]]:
    """The seeded reference backend in a child process: its URL, pid, and the demo admin's
    email and password."""
    command = [sys.executable, "-m", "gamify_client", "serve", "--seed", "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    password = email = ""
    try:
        for line in process.stdout:
            if "every password:" in line:
                password = line.split("every password:")[1].strip().rstrip("):")
            elif line.strip().startswith("admin "):
                email = line.split()[1]
            elif line.startswith(READY_PREFIX):
                url = line.removeprefix(READY_PREFIX).split()[0]
                yield url, process.pid, email, password
                return
        raise RuntimeError("the reference backend did not start")
    finally:
        process.terminate()
        process.wait(timeout=10)


def _task_ids(base_url: str, email: str, password: str) -> list[str]:
    """Creates ``TASKS`` tasks as the demo admin; their ids."""
    with GamifyClient(base_url=base_url) as admin:
        admin.login(email=email, password=password, designation="admin")
        category = admin.categories.list()[0].id
        return [
            admin.tasks.create(
                name=f"Bench task {index}",
                description="A task to read",
                details="Read by the async benchmark.",
                category=category,
                difficulty="Easy",
            ).data.id
            for index in range(TASKS)
        ]


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of process ``pid`` (Linux), 0.0 where /proc is missing."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _calls_per_s(client: AsyncGamifyClient, ids: Iterator[str], in_flight: int) -> float:
    """``ids`` is one endless cycle for the whole run: a window that started again from the
    first task would find the last window's answers still in the parser's memo."""

    async def caller() -> None:
        for _ in range(CALLS_PER_WINDOW // in_flight):
            await client.tasks.get(next(ids))

    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(in_flight)))
    return CALLS_PER_WINDOW / (time.perf_counter() - start)


async def _measure(base_url: str, server_pid: int, task_ids: list[str]) -> dict[str, float]:
    ids = itertools.cycle(task_ids)
    config = ClientConfig(base_url=base_url, max_retries=0)
    arms = [
        _Arm("aiohttp", AsyncGamifyClient(config=config, http_backend="aiohttp")),
        _Arm("aiohttp_again", AsyncGamifyClient(config=config, http_backend="aiohttp")),
        _Arm("httpx", AsyncGamifyClient(config=config, http_backend="httpx")),
    ]
    server_share: list[float] = []
    for arm in arms:
        for in_flight in IN_FLIGHT:
            await _calls_per_s(arm.client, ids, in_flight)  # warm the pool and the code
    # Every order of the arms equally often: no arm always runs first or right after another
    # (an arm that follows the httpx one pays for the garbage it left). An arm's two windows
    # run back to back, so its ratio compares like with like.
    orders = list(itertools.permutations(arms)) * (ROUNDS // 6)
    for round_number, order in enumerate(orders):
        for arm in order:
            for in_flight in IN_FLIGHT if round_number % 2 else IN_FLIGHT[::-1]:
                cpu, server_cpu, wall = time.process_time(), _cpu_seconds(server_pid), time.time()
                arm.rates.setdefault(in_flight, []).append(
                    await _calls_per_s(arm.client, ids, in_flight)
                )
                if in_flight == 16:
                    arm.cpu_per_call.append((time.process_time() - cpu) / CALLS_PER_WINDOW)
                    if arm.name == "aiohttp":
                        share = (_cpu_seconds(server_pid) - server_cpu) / (time.time() - wall)
                        server_share.append(share)
    for arm in arms:
        await arm.client.close()
    aiohttp, again, httpx = arms
    return {
        "async_calls_per_s_1_in_flight": aiohttp.rate(1),
        "async_calls_per_s_16_in_flight": aiohttp.rate(16),
        "async_calls_per_s_1_in_flight_httpx": httpx.rate(1),
        "async_calls_per_s_16_in_flight_httpx": httpx.rate(16),
        "async_16_over_1_ratio": aiohttp.ratio(),
        "async_16_over_1_ratio_aa": aiohttp.ratio() / again.ratio(),
        "async_16_over_1_ratio_httpx": httpx.ratio(),
        "async_client_cpu_us_per_call": statistics.median(aiohttp.cpu_per_call) * 1e6,
        "async_client_cpu_us_per_call_httpx": statistics.median(httpx.cpu_per_call) * 1e6,
        "async_server_cpu_share_16_in_flight": statistics.median(server_share),
    }


def main() -> None:
    with _served_backend() as (base_url, pid, email, password):
        ids = _task_ids(base_url, email, password)
        figures = asyncio.run(_measure(base_url, pid, ids))
    for name, value in figures.items():
        print(
            f"{name}: {value:.3f}" if "ratio" in name or "share" in name else f"{name}: {value:.0f}"
        )
