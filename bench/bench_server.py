"""The reference server's capacity, measured as its users meet it: in its own process.

``gamify serve --seed`` runs as a child process, exactly as a developer starts it, with the demo
organisation grown to a batch of 20 tasks and enough enrolled learners that every write below
is a distinct first submission. A load generator (``bench._load``: raw keep-alive sockets,
pre-built request bytes, no pipelining) keeps 1, 16 or 64 requests in flight.

- ``backend_read_per_s_1`` / ``_16`` / ``_64``: ``GET /api/batch-progress/dashboard/me`` of a
  learner enrolled in the 20-task batch who has submitted 5 of them: the read the real frontend
  makes most (its dashboard and "My progress" pages load it, and refetch it every 15 s, on
  focus, on visibility and after every completed task).
  While no write has committed, the server answers it from a kept copy (see docs/testing.md):
  the frontend's refetches between two writes meet that.
- ``backend_read_fresh_per_s_16`` and ``backend_read_fresh_server_cpu_us_16``: the same read
  with a distinct query string each time, so that no kept copy applies: what the dashboard
  costs the first time after a write changed it.
- ``backend_write_per_s_1`` / ``_16`` / ``_64``: ``POST /api/task/:id/submit``, each a learner's
  first submission of a task: a submission stored, XP, streak and batch progress updated.
- ``hello_world_per_s_16``: a hello-world ASGI app served by the same ``serve_app`` (the same
  uvicorn protocol, loop and limits), also in its own process: the ceiling of the stack.
- ``backend_read_to_ceiling_ratio``: read at 16 over hello world at 16, measured in alternating
  rounds so that other load on the machine weighs on both alike.
- ``backend_read_server_cpu_us_16`` / ``backend_write_server_cpu_us_16``: the server process's
  CPU time (user and system, from ``/proc``) per answer during the reads and the writes at 16 in
  flight: what a request costs the server, which other load on the machine moves far less than
  the rates (absent where ``/proc`` is not); ``hello_world_server_cpu_us_16`` the same for the
  hello-world app: what the stack itself (uvicorn, the loop, the sockets) costs per request.
- ``load_generator_capacity_per_s``: requests per CPU second of the generator during the
  hello-world rounds: what it could drive with a core of its own (it must be far above every
  figure above, or they measure the generator).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count, repeat

import httpx

from bench._load import LoadResult, RequestSource, http_request, run_load
from gamify_client.cli import READY_PREFIX
from gamify_client.testing import DEMO_PASSWORD

TASKS = 20
READER_SUBMISSIONS = 5
READ_SECONDS = 2.0
CEILING_ROUNDS = 3
CEILING_ROUND_SECONDS = 1.0
WRITES = {1: 800, 16: 2000, 64: 2000}
WRITE_SECONDS_CAP = 10.0
LEARNERS = -(-sum(WRITES.values()) // TASKS)
_ADMIN_EMAIL = "admin@demo.gamify"
_LEARNER_EMAIL = "uma@demo.gamify"


@dataclass(frozen=True)
class _Server:
    host: str
    port: int
    ready_output: list[str]
    """What the process printed up to its ready line."""
    pid: int

    def cpu_s(self) -> float | None:
        """The CPU seconds (user and system) the process has used, or None without ``/proc``."""
        try:
            with open(f"/proc/{self.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # utime and stime, the 14th and 15th fields, counted from after the command's name.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _process(*command: str) -> Iterator[_Server]:
    """Run ``command`` (which prints ``gamify serve``'s ready line) until the block ends."""
    process = subprocess.Popen(
        [sys.executable, *command], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        output: list[str] = []
        for line in process.stdout:
            if line.startswith(READY_PREFIX):
                url = httpx.URL(line[len(READY_PREFIX) :].split()[0])
                assert url.host and url.port
                yield _Server(url.host, url.port, output, process.pid)
                return
            output.append(line)
        raise RuntimeError(f"{' '.join(command)} did not start: {''.join(output)}")
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass(frozen=True)
class _Workload:
    read: bytes
    """The learner's ``GET /api/batch-progress/dashboard/me``."""
    writes: list[bytes]
    """Distinct first submissions, one per (learner, task)."""
    fresh_reads: Callable[[], RequestSource]
    """The read, each time with another query string, which no kept answer matches."""


def _shown(output: list[str], label: str) -> str:
    """The word after ``label`` in ``gamify serve --seed``'s demo listing."""
    line = next(line for line in output if label in line)
    return line.split(label, 1)[1].split()[0].rstrip(")")


def _prepare(server: _Server) -> _Workload:
    """Grow the demo batch to 20 tasks and enrol the learners; the request bytes to send."""
    host = f"{server.host}:{server.port}"
    batch_id = _shown(server.ready_output, "batch ")
    admin_code = _shown(server.ready_output, "admin id ")
    with httpx.Client(base_url=f"http://{host}", timeout=30) as setup:

        def login(email: str, designation: str) -> dict[str, str]:
            answer = setup.post(
                "/api/user/login",
                json={
                    "email": email,
                    "password": DEMO_PASSWORD,
                    "designation": designation,
                    "adminId": admin_code,
                },
            )
            answer.raise_for_status()
            return {"Authorization": f"Bearer {answer.json()['token']}"}

        admin = login(_ADMIN_EMAIL, "admin")
        tasks = setup.get("/api/task/all").json()
        category = tasks[0]["category"]["_id"]
        for number in range(len(tasks), TASKS):
            setup.post(
                "/api/task/create",
                json={
                    "name": f"Exercise {number}",
                    "description": "Practise what the batch covers",
                    "details": "Submit a link or a short write-up.",
                    "category": category,
                    "difficulty": "Medium",
                    "points": 100,
                    "batch": batch_id,
                },
                headers=admin,
            ).raise_for_status()
        task_ids = [task["_id"] for task in setup.get("/api/task/all").json()]
        learners: list[tuple[str, dict[str, str]]] = []
        for number in range(LEARNERS):
            email = f"learner{number}@bench.gamify"
            user_id = setup.post(
                "/api/user/register",
                json={
                    "name": f"Learner {number}",
                    "email": email,
                    "password": DEMO_PASSWORD,
                    "designation": "user",
                    "parentId": admin_code,
                },
            ).json()["userId"]
            setup.post(
                f"/api/batches/{batch_id}/enroll", json={"userId": user_id}, headers=admin
            ).raise_for_status()
            learners.append((user_id, login(email, "user")))
        reader = login(_LEARNER_EMAIL, "user")
        for task_id in task_ids[:READER_SUBMISSIONS]:
            setup.post(
                f"/api/task/{task_id}/submit",
                json={"submissionType": "Link", "value": "https://example.com/work"},
                headers=reader,
            ).raise_for_status()
    json_headers = {"Content-Type": "application/json"}
    writes = [
        http_request(
            "POST",
            f"/api/task/{task_id}/submit",
            host,
            {**headers, **json_headers},
            b'{"userId":"%s","submissionType":"Text Entry","value":"done"}' % user_id.encode(),
        )
        for task_id in task_ids
        for user_id, headers in learners
    ]
    read = http_request("GET", "/api/batch-progress/dashboard/me", host, reader, b"")

    def fresh_reads() -> RequestSource:
        numbers = count()
        return lambda: http_request(
            "GET", f"/api/batch-progress/dashboard/me?fresh={next(numbers)}", host, reader, b""
        )

    return _Workload(read, writes, fresh_reads)


def _same(request: bytes) -> RequestSource:
    return repeat(request).__next__


def _each(requests: list[bytes]) -> RequestSource:
    remaining = iter(requests)
    return lambda: next(remaining, None)


@dataclass
class _ServerCpu:
    """The server's CPU seconds over the answers of the runs :meth:`load` made."""

    server: _Server
    cpu_s: float = 0.0
    answers: int = 0
    known: bool = True

    def load(self, source: RequestSource, *, in_flight: int, seconds: float) -> LoadResult:
        """:func:`run_load` against the server, its CPU time counted."""
        before = self.server.cpu_s()
        result = run_load(
            self.server.host, self.server.port, source, in_flight=in_flight, seconds=seconds
        )
        after = self.server.cpu_s()
        if before is None or after is None:
            self.known = False
        else:
            self.cpu_s += after - before
            self.answers += result.requests
        return result

    def per_answer_us(self) -> float | None:
        if not self.known or not self.answers:
            return None
        return self.cpu_s / self.answers * 1e6


def _ceiling_rounds(
    read: bytes, read_cpu: _ServerCpu, hello_cpu: _ServerCpu
) -> tuple[list[LoadResult], list[LoadResult]]:
    """Reads at 16 and hello world at 16, alternating, :data:`CEILING_ROUNDS` of each."""
    hello = hello_cpu.server
    hello_request = http_request("GET", "/", f"{hello.host}:{hello.port}", {}, b"")
    reads: list[LoadResult] = []
    hellos: list[LoadResult] = []
    for _ in range(CEILING_ROUNDS):
        reads.append(read_cpu.load(_same(read), in_flight=16, seconds=CEILING_ROUND_SECONDS))
        hellos.append(
            hello_cpu.load(_same(hello_request), in_flight=16, seconds=CEILING_ROUND_SECONDS)
        )
    return reads, hellos


def main() -> None:
    """Print the figures listed in the module's docstring."""
    with (
        _process("-m", "gamify_client", "serve", "--port", "0", "--seed") as backend,
        _process("-m", "bench._hello_server") as hello,
    ):
        workload = _prepare(backend)
        run_load(backend.host, backend.port, _same(workload.read), in_flight=16, seconds=0.5)
        figures: dict[str, float] = {}
        for in_flight in (1, 64):
            result = run_load(
                backend.host,
                backend.port,
                _same(workload.read),
                in_flight=in_flight,
                seconds=READ_SECONDS,
            )
            figures[f"backend_read_per_s_{in_flight}"] = result.per_s
        read_cpu, write_cpu, hello_cpu = _ServerCpu(backend), _ServerCpu(backend), _ServerCpu(hello)
        reads, hellos = _ceiling_rounds(workload.read, read_cpu, hello_cpu)
        read_16 = statistics.median(r.per_s for r in reads)
        hello_16 = statistics.median(h.per_s for h in hellos)
        figures["backend_read_per_s_16"] = read_16
        fresh_cpu = _ServerCpu(backend)
        fresh = fresh_cpu.load(workload.fresh_reads(), in_flight=16, seconds=READ_SECONDS)
        figures["backend_read_fresh_per_s_16"] = fresh.per_s
        first = 0
        for in_flight, count in WRITES.items():
            measured = write_cpu if in_flight == 16 else _ServerCpu(backend)
            result = measured.load(
                _each(workload.writes[first : first + count]),
                in_flight=in_flight,
                seconds=WRITE_SECONDS_CAP,
            )
            first += count
            figures[f"backend_write_per_s_{in_flight}"] = result.per_s
    capacity = statistics.median(h.generator_capacity_per_s for h in hellos)
    for name, value in sorted(figures.items()):
        print(f"{name}: {value:.0f}")
    print(f"hello_world_per_s_16: {hello_16:.0f}")
    print(f"backend_read_to_ceiling_ratio: {read_16 / hello_16:.3f}")
    for name, cpu in (
        ("backend_read", read_cpu),
        ("backend_read_fresh", fresh_cpu),
        ("backend_write", write_cpu),
        ("hello_world", hello_cpu),
    ):
        per_answer = cpu.per_answer_us()
        if per_answer is not None:
            print(f"{name}_server_cpu_us_16: {per_answer:.0f}")
    print(f"load_generator_capacity_per_s: {capacity:.0f}")


if __name__ == "__main__":
    main()
