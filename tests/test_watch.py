"""``gamify watch`` (watch.py and its subcommand): a line per change when another client
writes, stopping on its stop condition, keys read from a terminal, the live table, and clear
errors with exit status 2."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rich.console import Console

from gamify_client import GamifyClient
from gamify_client.cli import main
from gamify_client.hooks import Query
from gamify_client.models import Batch, BatchProgressReport, Dashboard, Task, UserBatchProgress
from gamify_client.testing import DEMO_PASSWORD, DemoData, GamifyBackend
from gamify_client.watch import WatchTarget, data_table, summarize, watch

from ._multiprocess import wait_until


class LineRecorder(io.StringIO):
    """An output stream whose complete lines can be read while another thread writes."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            return super().write(text)

    @property
    def lines(self) -> list[str]:
        with self._lock:
            return self.getvalue().splitlines()


class Watcher:
    """:func:`watch` running on a thread, as the command runs it on the main one."""

    def __init__(self, client: GamifyClient, target: WatchTarget, **options: Any) -> None:
        self.out = LineRecorder()
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(client, target), kwargs={"out": self.out, **options}
        )
        self._thread.start()

    def _run(self, client: GamifyClient, target: WatchTarget, **options: Any) -> None:
        try:
            watch(client, target, **options)
        except BaseException as error:
            self.errors.append(error)

    def wait_for_lines(self, count: int) -> list[str]:
        wait_until(lambda: len(self.out.lines) >= count, what=f"{count} line(s)")
        return self.out.lines

    def join(self) -> None:
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), "watch() did not return"
        assert self.errors == []

    def join_failed(self) -> None:
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), "watch() did not return"


@pytest.fixture
def seed(backend: GamifyBackend) -> DemoData:
    return backend.seed_demo()


@pytest.fixture
def base_url(backend: GamifyBackend, seed: DemoData) -> Iterator[str]:
    with backend.serve() as url:
        yield url


def client_for(backend: GamifyBackend, base_url: str, user_id: str) -> GamifyClient:
    return GamifyClient(base_url=base_url, token=backend.token_for(user_id))


def xp_at_least(points: int) -> Callable[[Query[Any]], bool]:
    return lambda query: (
        isinstance(query.data, Dashboard) and (query.data.overall_stats.user_total_xp >= points)
    )


@pytest.mark.parametrize(
    "options",
    [{}, {"push": False, "interval": 0.05}],
    ids=["pushed", "polled"],
)
def test_prints_a_line_per_change_when_another_client_submits(
    backend: GamifyBackend, seed: DemoData, base_url: str, options: dict[str, Any]
) -> None:
    uma = seed.users[0]
    with (
        client_for(backend, base_url, uma.id) as viewer,
        client_for(backend, base_url, uma.id) as writer,
    ):
        watcher = Watcher(viewer, WatchTarget("dashboard"), stop=xp_at_least(100), **options)
        first = watcher.wait_for_lines(1)

        writer.tasks.submit(seed.task_ids[0], user_id=uma.id, submission_type="Link", value="x")
        watcher.join()

    lines = watcher.out.lines
    assert first[0].endswith(" dashboard: 0 XP, streak 0, Demo Cohort 0/4 (0%)")
    assert len(lines) == 2
    assert lines[1].endswith(" dashboard: 100 XP, streak 1, Demo Cohort 1/4 (25%)")


def test_stops_when_its_event_is_set(backend: GamifyBackend, seed: DemoData, base_url: str) -> None:
    stop = threading.Event()
    with client_for(backend, base_url, seed.admin.id) as admin:
        watcher = Watcher(admin, WatchTarget("batch-progress", (seed.batch_id,)), stop=stop)
        lines = watcher.wait_for_lines(1)
        stop.set()
        watcher.join()

    assert lines[0].endswith(
        f" batch-progress {seed.batch_id}: Demo Cohort: Uma User 0/4 (0%), "
        "Leo Learner 0/4 (0%), Ivy Intern 0/4 (0%)"
    )


def test_keys_refetch_and_quit_and_the_terminal_is_restored(
    backend: GamifyBackend, seed: DemoData, base_url: str
) -> None:
    termios = pytest.importorskip("termios")
    controller, terminal = os.openpty()
    keys = os.fdopen(terminal, "r")
    before = termios.tcgetattr(terminal)
    stop = threading.Event()
    try:
        with GamifyClient(base_url=base_url) as client:
            watcher = Watcher(client, WatchTarget("tasks"), keys=keys, stop=stop, interval=None)
            wait_until(
                lambda: not termios.tcgetattr(terminal)[3] & termios.ICANON,
                what="the terminal in cbreak mode",
            )
            fetched = backend.requests.count("GET", "/api/task/all")

            os.write(controller, b"r")
            wait_until(
                lambda: backend.requests.count("GET", "/api/task/all") == fetched + 1,
                what="the refetch that r asks for",
            )
            os.write(controller, b"q")
            watcher.join()
        assert stop.is_set()
        assert termios.tcgetattr(terminal) == before
    finally:
        stop.set()
        watcher.join_failed()
        keys.close()
        os.close(controller)


def test_live_table_draws_on_a_terminal_console(
    backend: GamifyBackend, seed: DemoData, base_url: str
) -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100, color_system=None)
    with client_for(backend, base_url, seed.users[1].id) as leo:
        watcher = Watcher(
            leo, WatchTarget("tasks"), live=True, console=console, stop=lambda _query: True
        )
        watcher.join()

    drawn = screen.getvalue()
    assert "gamify watch tasks" in drawn
    assert "pushed writes + polling every 5 s" in drawn
    assert "Churn case study" in drawn
    assert "updated " in drawn


def test_without_a_token_it_polls_only(
    backend: GamifyBackend, seed: DemoData, base_url: str
) -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100, color_system=None)
    with GamifyClient(base_url=base_url) as anonymous:
        watcher = Watcher(
            anonymous,
            WatchTarget("tasks"),
            live=True,
            console=console,
            interval=2,
            stop=lambda _query: True,
        )
        watcher.join()

    assert "polling every 2 s (the event stream needs a token)" in screen.getvalue()


def test_a_failed_first_fetch_raises_its_typed_error(base_url: str) -> None:
    stop = threading.Event()
    with GamifyClient(base_url=base_url) as anonymous:
        watcher = Watcher(anonymous, WatchTarget("dashboard"), stop=stop)
        watcher.join_failed()

    assert [type(error).__name__ for error in watcher.errors] == ["AuthenticationError"]
    assert watcher.out.lines == []


@pytest.mark.parametrize(
    ("kind", "ids", "message"),
    [
        ("batch-progress", (), "batch-progress takes BATCH_ID, got 0 id(s)"),
        ("user-progress", ("u",), "user-progress takes USER_ID BATCH_ID, got 1 id(s)"),
        ("tasks", ("x",), "tasks takes no id, got 1 id(s)"),
        ("nope", (), "unknown view 'nope'"),
    ],
)
def test_targets_check_their_ids(kind: Any, ids: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        WatchTarget(kind, ids)


def test_summaries_and_tables_of_every_kind(
    backend: GamifyBackend, seed: DemoData, base_url: str
) -> None:
    uma = seed.users[0]
    with client_for(backend, base_url, uma.id) as client:
        data: list[Any] = [
            client.progress.dashboard(),
            client.tasks.list(),
            client.batches.list(),
            client.progress.batch(seed.batch_id),
            client.progress.user(uma.id, seed.batch_id),
        ]
    assert isinstance(data[0], Dashboard)
    assert isinstance(data[3], BatchProgressReport)
    assert isinstance(data[4], UserBatchProgress)
    assert all(isinstance(task, Task) for task in data[1])
    assert all(isinstance(batch, Batch) for batch in data[2])

    assert [summarize(item) for item in data] == [
        "0 XP, streak 0, Demo Cohort 0/4 (0%)",
        "4 tasks, 0 completions",
        "1 batch: Demo Cohort (3 students)",
        "Demo Cohort: Uma User 0/4 (0%), Leo Learner 0/4 (0%), Ivy Intern 0/4 (0%)",
        "0/4 (0%) done, 0 points",
    ]
    assert summarize(None) == "no data yet"
    assert summarize([]) == "none"
    console = Console(file=io.StringIO(), width=120, color_system=None)
    for item in data:
        console.print(data_table(item))
    drawn = console.file.getvalue()  # type: ignore[attr-defined]
    for text in ("Uma User · 0 XP · streak 0", "Landing page", "Max Mentor", "not_started"):
        assert text in drawn


# The command


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_url_is_a_clear_error_with_status_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GAMIFY_MAX_RETRIES", "0")
    url = f"http://127.0.0.1:{closed_port()}"

    status = main(["watch", "tasks", "--base-url", url, "--no-live"])

    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith(f"gamify watch: error: cannot reach {url}: connection error")
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["watch", "user-progress", "u"], "user-progress takes USER_ID BATCH_ID"),
        (["watch", "tasks", "--email", "a@b.c"], "--email and --password go together"),
        (["watch", "tasks", "--token", "t", "--email", "a", "--password", "p"], "not both"),
        (["watch", "tasks", "--interval", "0"], "a number of seconds > 0"),
        (["watch", "everything"], "invalid choice: 'everything'"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(argv)

    assert status == 2
    assert message in capsys.readouterr().err


def test_a_refused_login_exits_2(
    base_url: str, seed: DemoData, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["watch", "dashboard", "--base-url", base_url, "--email", seed.admin.email]

    status = main([*argv, "--password", "wrong"])

    assert status == 2
    assert "gamify watch: error: cannot log in: 400" in capsys.readouterr().err


def test_command_logs_in_prints_lines_and_stops_on_ctrl_c(base_url: str, seed: DemoData) -> None:
    uma = seed.users[0]
    command = [
        sys.executable,
        "-m",
        "gamify_client.cli",
        "watch",
        "dashboard",
        "--base-url",
        base_url,
        "--email",
        uma.email,
        "--password",
        DEMO_PASSWORD,
        "--admin-id",
        seed.admin_id,
    ]
    with subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        first = process.stdout.readline()
        process.send_signal(signal.SIGINT)
        status = process.wait(timeout=15)
        errors = process.stderr.read()

    assert first.endswith(" dashboard: 0 XP, streak 0, Demo Cohort 0/4 (0%)\n")
    assert status == 0, errors
    assert "Traceback" not in errors
