"""The ``gamify`` command: ``serve`` as a real process, ``check`` against it and against
defective backends, ``demo``, and the exit statuses."""

from __future__ import annotations

import json
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gamify_client.checker import CHECKS
from gamify_client.cli import READY_PREFIX, main
from gamify_client.testing import Defect, GamifyBackend

from ._child import ChildProcess

STARTUP_DEADLINE = 30.0
STOP_DEADLINE = 15.0


class ServeProcess(ChildProcess):
    """``gamify serve`` in a child process."""

    def __init__(self, *args: str) -> None:
        command = [sys.executable, "-m", "gamify_client.cli", "serve", "--port", "0", *args]
        super().__init__(command, what="gamify serve")

    def wait_until_ready(self) -> str:
        """The base URL from the ready line; fails if it does not come before the deadline."""
        line = self.wait_for(
            lambda text: text.startswith(READY_PREFIX), "ready line", STARTUP_DEADLINE
        )
        return line[len(READY_PREFIX) :].split()[0]

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Send ``signum``, wait for the exit and collect the rest of the output."""
        return self.finish(STOP_DEADLINE, signum)


@pytest.fixture
def serve() -> Iterator[type[ServeProcess]]:
    started: list[ServeProcess] = []

    class Tracked(ServeProcess):
        def __init__(self, *args: str) -> None:
            super().__init__(*args)
            started.append(self)

    yield Tracked
    for process in started:
        process.kill()


def test_check_passes_against_gamify_serve_in_a_subprocess(
    serve: type[ServeProcess], capsys: pytest.CaptureFixture[str]
) -> None:
    server = serve()
    base_url = server.wait_until_ready()

    status = main(["check", "--base-url", base_url])

    out = capsys.readouterr().out.splitlines()
    assert status == 0
    assert out[: len(CHECKS)] == [f"PASS {check.name}" for check in CHECKS]
    assert out[-1].startswith(f"{len(CHECKS)} passed, 0 failed ({len(CHECKS)} checks against ")
    assert server.stop(signal.SIGTERM) == 0
    assert server.lines[-1] == "Stopped."


def test_serve_seeds_a_file_database_prints_the_logins_and_stops_on_ctrl_c(
    serve: type[ServeProcess], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "gamify.db"
    server = serve("--seed", "--db", str(database))
    base_url = server.wait_until_ready()

    assert server.lines[0] == "Demo data (every password: demo-password):"
    assert "  admin       admin@demo.gamify  (its users log in with admin id ADM" in "\n".join(
        server.lines
    )
    assert "  user        uma@demo.gamify" in server.lines
    assert database.exists()
    # The printed admin login works: the checker acts as that admin.
    status = main(
        [
            "check",
            "--base-url",
            base_url,
            "--admin-email",
            "admin@demo.gamify",
            "--admin-password",
            "demo-password",
            "--check",
            "task.create_reflected_in_every_dashboard",
        ]
    )
    assert capsys.readouterr().out.startswith("PASS task.create_reflected_in_every_dashboard\n")
    assert status == 0
    assert server.stop(signal.SIGINT) == 0
    assert server.lines[-1] == "Stopped."


def _signal_mask(pid: int, tid: int) -> int:
    """The signals thread ``tid`` of process ``pid`` blocks, as a bit mask (bit n-1: n)."""
    status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("SigBlk:"))
    return int(line.split()[1], 16)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux's /proc")
def test_only_the_main_thread_of_serve_takes_the_stop_signals(
    serve: type[ServeProcess],
) -> None:
    # The kernel hands a process's signal to any thread that does not block it; Python runs
    # the handler in the main thread only when that thread is woken, and a main thread
    # blocked in a wait is woken only by a signal sent to it. So every other thread must
    # block SIGINT and SIGTERM, or Ctrl-C may go unheard while the server runs on.
    server = serve()
    server.wait_until_ready()
    pid = server.process.pid
    # The main thread's id is the process id; the others' ids may be lower after wraparound.
    others = {int(entry.name) for entry in Path(f"/proc/{pid}/task").iterdir()} - {pid}
    assert others
    stops = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))
    assert _signal_mask(pid, pid) & stops == 0
    for tid in sorted(others):
        assert _signal_mask(pid, tid) & stops == stops, f"thread {tid} takes the stop signals"
    assert server.stop(signal.SIGINT) == 0
    assert server.lines[-1] == "Stopped."


def test_serve_closes_idle_connections_and_caps_them(serve: type[ServeProcess]) -> None:
    server = serve("--request-timeout", "0.5", "--max-connections", "4")
    url = httpx.URL(server.wait_until_ready())
    sockets = [socket.create_connection((url.host, url.port), timeout=5) for _ in range(6)]
    try:
        for sock in sockets:
            sock.settimeout(3)
        started = time.monotonic()
        assert all(sock.recv(16) == b"" for sock in sockets)
        assert time.monotonic() - started < 2.5
    finally:
        for sock in sockets:
            sock.close()
    assert httpx.get(f"{url}/", timeout=5).text == "API is working!"
    assert server.stop() == 0


def test_serve_switches_on_the_defects_it_is_given(
    serve: type[ServeProcess], capsys: pytest.CaptureFixture[str]
) -> None:
    server = serve("--defect", "double_xp")
    base_url = server.wait_until_ready()

    status = main(["check", "--base-url", base_url, "--check", "submit.xp_added_once"])

    assert status == 1
    assert capsys.readouterr().out.startswith("FAIL submit.xp_added_once: expected xps 0 + 120")
    assert server.stop() == 0


@pytest.mark.parametrize(
    ("defect", "failing_line"),
    [
        ("double_xp", "FAIL submit.xp_added_once: expected xps 0 + 120 = 120, saw 240"),
        ("submit_no_streak", "FAIL submit.real_time_data: currentStreak: expected 1, saw no"),
        ("xp_not_updated", "FAIL submit.xp_updated: expected xps to grow from 0"),
        ("task_create_500", "FAIL task.create_succeeds: expected 201 with success: true"),
    ],
)
def test_check_exits_1_and_names_the_failing_check_on_a_defective_backend(
    defect: Defect, failing_line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with GamifyBackend(defects=[defect]) as backend, backend.serve() as base_url:
        status = main(["check", "--base-url", base_url])

    out = capsys.readouterr().out.splitlines()
    assert status == 1
    assert any(line.startswith(failing_line) for line in out), out
    assert "PASS liveness" in out
    assert len([line for line in out if line.startswith(("PASS ", "FAIL "))]) == len(CHECKS)


def test_check_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    with GamifyBackend(defects=["double_xp"]) as backend, backend.serve() as base_url:
        status = main(["check", "--base-url", base_url, "--json"])

    report = json.loads(capsys.readouterr().out)
    assert status == 1
    assert report["base_url"] == base_url
    assert report["passed"] is False
    assert report["summary"] == {"total": len(CHECKS), "passed": len(CHECKS) - 1, "failed": 1}
    assert [c["name"] for c in report["checks"] if not c["passed"]] == ["submit.xp_added_once"]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_check_exits_2_with_a_clear_message_when_the_url_is_unreachable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"

    status = main(["check", "--base-url", url])

    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == ""
    assert captured.err.startswith(f"gamify check: cannot reach {url}: ")
    assert "Traceback" not in captured.err


def test_check_json_reports_an_unreachable_url(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{closed_port()}"

    status = main(["check", "--base-url", url, "--json"])

    answer = json.loads(capsys.readouterr().out)
    assert status == 2
    assert answer["reachable"] is False
    assert answer["error"].startswith(f"cannot reach {url}")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check"], "--base-url is required"),
        (["check", "--base-url", "http://x", "--admin-email", "a@b.c"], "go together"),
        (["check", "--base-url", "http://x", "--check", "nope"], "unknown check(s) ['nope']"),
        (["check", "--base-url", "localhost:3001"], "must start with http"),
        (["check", "--base-url", "http://x", "--bogus"], "unrecognized arguments: --bogus"),
        (["serve", "--defect", "nope"], "invalid choice: 'nope'"),
        (["serve", "--port", "70000"], "a port is 0 to 65535"),
        ([], "usage: gamify"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(argv)

    assert status == 2
    assert message in capsys.readouterr().err


def test_check_reads_the_base_url_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with GamifyBackend() as backend, backend.serve() as base_url:
        monkeypatch.setenv("GAMIFY_BASE_URL", base_url)
        status = main(["check", "--check", "liveness"])

    assert status == 0
    assert capsys.readouterr().out.startswith("PASS liveness\n1 passed, 0 failed")


def test_check_list_names_every_check(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["check", "--list"])

    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    assert [line.split()[0] for line in lines] == [check.name for check in CHECKS]


def test_serve_on_a_busy_port_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        status = main(["serve", "--port", str(port)])

    assert status == 2
    assert f"gamify serve: error: cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_demo_runs_to_the_end(capfd: pytest.CaptureFixture[str]) -> None:
    status = main(["demo"])

    out = capfd.readouterr().out
    assert status == 0
    assert "Dashboards at the end of the day:" in out
    assert "Done in " in out


def test_demo_gets_its_own_arguments(capfd: pytest.CaptureFixture[str]) -> None:
    status = main(["demo", "--help"])

    assert status == 0
    assert capfd.readouterr().out.startswith("usage: gamify demo")
