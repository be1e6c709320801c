"""The async client with many calls in flight, over aiohttp and over httpx's own transport.

The server is the reference backend (``python -m gamify_client serve``) in its own process,
so the client's event loop shares no GIL with it; it spends about a third of the client's CPU
time per call, so it is not what limits the client (``async_server_cpu_us_per_call``). Each
call is ``client.tasks.get(id)``, a typed GET of one task (the backend's cheapest realistic
read), cycling over 300 tasks: more than the parser keeps for its unchanged-answer shortcut
(256 URLs), so every call validates its answer, and fewer than the pool keeps parsed URLs
(1,024), as for a client that reads the same tasks again. ``n`` tasks run calls back to back,
so ``n`` calls are in flight.

- ``async_calls_per_s_1_in_flight`` / ``async_calls_per_s_16_in_flight``: calls per second
  over aiohttp (``http_backend="aiohttp"``); the same with ``_httpx`` over httpx's transport.
- ``async_16_over_1_ratio``: the 16-in-flight rate over the 1-in-flight one over aiohttp, the
  median of the rounds' ratios (target at least 1.5; below 1 means concurrency makes the
  client slower); ``_httpx`` the same over httpx.
- ``async_16_over_1_ratio_aa``: the aiohttp ratio measured by two identical clients in the
  same interleaved rounds, one over the other: how far apart two runs of one measurement
  land on this machine (1.0 is perfect agreement).
- ``async_client_cpu_us_per_call`` (``_httpx``): the benchmark process's CPU time per call
  at 16 in flight: the client's own cost, which bounds its throughput on one core;
  ``async_client_cpu_us_per_call_1_in_flight`` the same at 1 in flight over aiohttp.
- ``async_client_core_share_16_in_flight``: the client's CPU time over wall time at 16 in
  flight over aiohttp: near 1.0 it had a core to itself and was the limit; well below, other
  processes on the machine held the cores, and the ratio says more about them than the client.
- ``async_client_wait_share_16_in_flight``: the share of that wall time the client was ready
  to run but waited for a core held by another process (Linux's scheduler statistics).
- ``async_16_over_1_ratio_one_core``: the time of a call at 1 in flight over the client's
  CPU time per call at 16 (median of rounds): the ratio the client reaches at 16 in flight
  when it has one core to itself, whatever else runs on the machine.
- ``async_server_cpu_us_per_call``: the server process's CPU time per call at 16 in flight
  over aiohttp; ``async_server_cpu_share_16_in_flight`` the same over wall time: near 1.0 the
  one-process server, not the client, would be the limit.

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import attrgetter

from gamify_client import AsyncGamifyClient, ClientConfig, GamifyClient
from gamify_client.cli import READY_PREFIX

TASKS = 300
ROUNDS = 18
CALLS_PER_WINDOW = 480
IN_FLIGHT = (1, 16)
client_cpu = attrgetter("client_cpu")
server_cpu = attrgetter("server_cpu")
client_wait = attrgetter("client_wait")


@dataclass
class _Window:
    """One window of ``CALLS_PER_WINDOW`` calls: its wall time, the CPU time the client and
    the server spent on it, and how long the client was ready to run but had no core, in
    seconds."""

    wall: float
    client_cpu: float
    server_cpu: float
    client_wait: float


@dataclass
class _Arm:
    """One client and what it measured, per number of calls in flight."""

    name: str
    client: AsyncGamifyClient
    windows: dict[int, list[_Window]] = field(default_factory=dict)

    @property
    def rates(self) -> dict[int, list[float]]:
        """Calls per second of each window, per number of calls in flight."""
        return {
            in_flight: [CALLS_PER_WINDOW / window.wall for window in windows]
            for in_flight, windows in self.windows.items()
        }

    def rate(self, in_flight: int) -> float:
        return statistics.median(self.rates[in_flight])

    def per_call(self, in_flight: int, seconds: Callable[[_Window], float]) -> float:
        """The median over windows of ``seconds`` (a window's time) per call, in µs."""
        windows = self.windows[in_flight]
        return statistics.median(seconds(window) for window in windows) / CALLS_PER_WINDOW * 1e6

    def share(self, in_flight: int, cpu: Callable[[_Window], float]) -> float:
        """The median over windows of ``cpu`` (a process's CPU time) over wall time."""
        return statistics.median(cpu(window) / window.wall for window in self.windows[in_flight])

    def one_core_ratio(self) -> float:
        """The median over rounds of a call's time at 1 in flight over the client's CPU time
        per call at 16: the 16-over-1 ratio with one core to itself at 16 in flight."""
        pairs = zip(self.windows[1], self.windows[16], strict=True)
        return statistics.median(one.wall / many.client_cpu for one, many in pairs)

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


def _seconds_waiting_for_a_core() -> float:
    """How long this process's thread has been ready to run but waiting for a core (Linux's
    scheduler statistics), 0.0 where they are missing."""
    try:
        with open("/proc/thread-self/schedstat") as schedstat:
            return int(schedstat.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


async def _window(
    client: AsyncGamifyClient, ids: Iterator[str], in_flight: int, server_pid: int
) -> _Window:
    """``ids`` is one endless cycle for the whole run: a window that started again from the
    first task would find the last window's answers still in the parser's memo."""

    async def caller() -> None:
        for _ in range(CALLS_PER_WINDOW // in_flight):
            await client.tasks.get(next(ids))

    cpu, server_cpu, start = time.process_time(), _cpu_seconds(server_pid), time.perf_counter()
    waited = _seconds_waiting_for_a_core()
    await asyncio.gather(*(caller() for _ in range(in_flight)))
    return _Window(
        wall=time.perf_counter() - start,
        client_cpu=time.process_time() - cpu,
        server_cpu=_cpu_seconds(server_pid) - server_cpu,
        client_wait=_seconds_waiting_for_a_core() - waited,
    )


async def _measure(base_url: str, server_pid: int, task_ids: list[str]) -> dict[str, float]:
    ids = itertools.cycle(task_ids)
    config = ClientConfig(base_url=base_url, max_retries=0)
    arms = [
        _Arm("aiohttp", AsyncGamifyClient(config=config, http_backend="aiohttp")),
        _Arm("aiohttp_again", AsyncGamifyClient(config=config, http_backend="aiohttp")),
        _Arm("httpx", AsyncGamifyClient(config=config, http_backend="httpx")),
    ]
    for arm in arms:
        for in_flight in IN_FLIGHT:
            await _window(arm.client, ids, in_flight, server_pid)  # warm the pool and the code
    # Every order of the arms equally often: no arm always runs first or right after another
    # (an arm that follows the httpx one pays for the garbage it left). An arm's two windows
    # run back to back, so its ratio compares like with like.
    orders = list(itertools.permutations(arms)) * (ROUNDS // 6)
    for round_number, order in enumerate(orders):
        for arm in order:
            for in_flight in IN_FLIGHT if round_number % 2 else IN_FLIGHT[::-1]:
                window = await _window(arm.client, ids, in_flight, server_pid)
                arm.windows.setdefault(in_flight, []).append(window)
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
        "async_16_over_1_ratio_one_core": aiohttp.one_core_ratio(),
        "async_client_cpu_us_per_call": aiohttp.per_call(16, client_cpu),
        "async_client_cpu_us_per_call_1_in_flight": aiohttp.per_call(1, client_cpu),
        "async_client_cpu_us_per_call_httpx": httpx.per_call(16, client_cpu),
        "async_client_core_share_16_in_flight": aiohttp.share(16, client_cpu),
        "async_client_wait_share_16_in_flight": aiohttp.share(16, client_wait),
        "async_server_cpu_us_per_call": aiohttp.per_call(16, server_cpu),
        "async_server_cpu_share_16_in_flight": aiohttp.share(16, server_cpu),
    }


def main() -> None:
    with _served_backend() as (base_url, pid, email, password):
        ids = _task_ids(base_url, email, password)
        figures = asyncio.run(_measure(base_url, pid, ids))
    for name, value in figures.items():
        print(
            f"{name}: {value:.3f}" if "ratio" in name or "share" in name else f"{name}: {value:.0f}"
        )
