"""The examples, run as a newcomer runs them: each one as a process, against the reference
backend it starts itself and against one this test serves (``--base-url``), with its exit
status and key lines checked. The Tk dashboard also runs in a real window on an Xvfb display
that the tests start: a submit through another client must reach its XP label with no manual
refresh, its focus events must reach the client, and a screenshot of it is taken."""

from __future__ import annotations

import importlib.util
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from gamify_client import GamifyClient
from gamify_client.testing import DemoData, GamifyBackend

from ._child import ChildProcess

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
RUN_DEADLINE = 60.0
"""Seconds an example process may take before the test gives up on it."""
LINE_DEADLINE = 30.0
"""Seconds to wait for a line an example is expected to print."""
WINDOW_DEADLINE = 15.0
"""Seconds to wait for the Tk window to show something."""


def example_command(name: str, *args: str) -> list[str]:
    return [sys.executable, str(EXAMPLES / name), *args]


def run_example(
    name: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run an example to its end; its output is in ``stdout`` and ``stderr``."""
    return subprocess.run(
        example_command(name, *args),
        capture_output=True,
        text=True,
        timeout=RUN_DEADLINE,
        env=env,
        check=False,
    )


def lines_of(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout.splitlines()


class ExampleProcess(ChildProcess):
    """An example running as a child process."""

    def wait_for_line(self, text: str) -> None:
        """Read until a line contains ``text``."""
        self.wait_for(lambda line: text in line, repr(text), LINE_DEADLINE)

    def finish(self, deadline: float = RUN_DEADLINE, signum: int | None = None) -> int:
        """Wait for the exit and collect the rest of the output; returns the exit status."""
        return super().finish(deadline, signum)

    def stop(self) -> None:
        """End the process if it still runs (a failed test), and close its pipes."""
        self.kill(RUN_DEADLINE)


@pytest.fixture
def served() -> Iterator[tuple[str, GamifyBackend, DemoData]]:
    """A seeded reference backend on a loopback port: the "deployment" of ``--base-url``."""
    backend = GamifyBackend()
    demo = backend.seed_demo()
    with backend.serve() as base_url:
        yield base_url, backend, demo
    backend.close()


@pytest.fixture
def child_processes() -> Iterator[Callable[..., ExampleProcess]]:
    """Starts child processes that are ended when the test ends, whatever happened."""
    started: list[ExampleProcess] = []

    def start(command: list[str], env: dict[str, str] | None = None) -> ExampleProcess:
        child = ExampleProcess(command, env, what="the example")
        started.append(child)
        return child

    yield start
    for child in started:
        child.stop()


def submit(base_url: str, backend: GamifyBackend, user_id: str, task_id: str) -> None:
    """A submission through a client of the test's own, sharing nothing with the example's."""
    with GamifyClient(base_url=base_url, token=backend.token_for(user_id)) as other:
        other.tasks.submit(task_id, user_id=user_id, submission_type="Link", value="https://x.io")


# sync_script.py


def test_sync_script_sets_up_a_batch_on_its_reference_backend() -> None:
    lines = lines_of(run_example("sync_script.py", "--plain"))

    assert lines[0].startswith("Reference backend on http://127.0.0.1:")
    assert lines[1].startswith("[1/10] Created batch 'Spring Cohort' (")
    assert "[2/10] Created category 'Projects'" in lines
    assert "[3/10] Enrolled Uma User" in lines
    assert "[10/10] Created task 'Capstone' (400 XP, reaching 3 learners)" in lines
    assert "  3 learners enrolled, 5 tasks worth 900 XP in all." in lines
    assert "  Uma User: 5 tasks to do" in lines
    assert not any("failed" in line for line in lines)


def test_sync_script_draws_a_rich_progress_bar_unless_asked_for_plain_lines() -> None:
    lines = lines_of(run_example("sync_script.py"))

    assert any(line.startswith("Setting up the batch") and "10/10" in line for line in lines)
    assert "Enrolled Leo Learner" in lines
    assert not any(line.startswith("[1/10]") for line in lines)


def test_sync_script_falls_back_to_plain_lines_when_rich_is_missing() -> None:
    script = EXAMPLES / "sync_script.py"
    without_rich = (
        "import runpy, sys\n"
        "sys.modules['rich'] = None  # makes every 'import rich...' fail\n"
        f"sys.argv = [{str(script)!r}]\n"
        f"runpy.run_path({str(script)!r}, run_name='__main__')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", without_rich],
        capture_output=True,
        text=True,
        timeout=RUN_DEADLINE,
        check=False,
    )

    lines = lines_of(result)
    assert "[10/10] Created task 'Capstone' (400 XP, reaching 3 learners)" in lines
    assert "  Ivy Intern: 5 tasks to do" in lines


def test_sync_script_against_a_deployment_reports_a_failed_step_and_exits_1(
    served: tuple[str, GamifyBackend, DemoData],
) -> None:
    base_url, backend, demo = served
    learner = demo.users[1].id
    result = run_example(
        "sync_script.py",
        *("--base-url", base_url, "--email", demo.admin.email, "--password", demo.admin.password),
        *("--mentor-id", demo.mentor.id, "--batch-name", "Autumn Cohort", "--plain"),
        *("--user-id", learner, "--user-id", learner),
    )

    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "[3/9] Enrolled Leo Learner" in lines
    assert any(line.startswith(f"[4/9] Could not enrol user {learner}: ") for line in lines)
    assert "  1 learners enrolled, 5 tasks worth 900 XP in all." in lines
    assert "  Steps that failed: 1 (see above)." in lines
    with GamifyClient(base_url=base_url, token=backend.token_for(demo.admin.id)) as admin:
        (autumn,) = [batch for batch in admin.batches.list() if batch.name == "Autumn Cohort"]
        progress = admin.progress.user(learner, autumn.id)
    assert len(autumn.users) == 1
    assert len(autumn.tasks) == 5
    assert progress.progress_metrics.total_tasks == 5


# async_bot.py


def test_async_bot_cheers_the_simulated_learners_and_stops_by_itself() -> None:
    lines = lines_of(run_example("async_bot.py", "--duration", "4"))

    assert "Other programs' submissions arrive by server push." in lines
    assert "Uma User completed a task: +150 XP, 250 XP in all." in lines
    assert "Congratulations Uma User: 250 XP!" in lines
    assert "Congratulations Uma User: 500 XP!" in lines
    assert "Leo Learner started a streak today. Come back tomorrow to keep it going!" in lines
    assert "Uma User is 50% through Demo Cohort." in lines
    assert "Uma User finished every task in Demo Cohort!" in lines
    assert not any("Leo Learner is" in line for line in lines)  # 25%: no milestone
    assert lines[-1] == "Bot stopped."


def test_async_bot_against_a_deployment_hears_another_programs_submissions(
    served: tuple[str, GamifyBackend, DemoData],
    child_processes: Callable[..., ExampleProcess],
) -> None:
    base_url, backend, demo = served
    bot = child_processes(
        example_command(
            "async_bot.py",
            *("--base-url", base_url, "--email", demo.admin.email),
            *("--password", demo.admin.password, "--duration", "3"),
        )
    )
    bot.wait_for_line(f"Cheering batch {demo.batch_id} for 3 s.")

    learner = demo.users[2]
    submit(base_url, backend, learner.id, demo.task_ids[0])
    submit(base_url, backend, learner.id, demo.task_ids[1])

    bot.wait_for_line("Congratulations Ivy Intern: 250 XP!")
    bot.wait_for_line("Ivy Intern is 50% through Demo Cohort.")
    assert bot.finish() == 0
    assert "Other programs' submissions arrive by server push." in bot.lines
    assert bot.lines[-1] == "Bot stopped."


# tk_dashboard.py, in a real window


def _read_display_number(fd: int, deadline: float) -> str:
    received = b""
    while not received.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(remaining, 0))
        if not ready:
            pytest.fail("Xvfb did not say which display it took")
        chunk = os.read(fd, 16)
        if not chunk:
            pytest.fail("Xvfb ended before it took a display")
        received += chunk
    return received.decode().strip()


@pytest.fixture(scope="module")
def x_display() -> Iterator[str]:
    """A fresh Xvfb server on the first free display number (``-displayfd`` picks it and says
    which); skips, saying why, when Xvfb is not installed."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("Xvfb is not installed (Debian: apt-get install xvfb): no display for Tk")
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        [xvfb, "-displayfd", str(write_end), "-screen", "0", "800x600x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        yield ":" + _read_display_number(read_end, time.monotonic() + RUN_DEADLINE)
    finally:
        os.close(read_end)
        server.terminate()
        server.wait(timeout=RUN_DEADLINE)


@pytest.fixture(scope="module")
def tk_dashboard() -> ModuleType:
    """examples/tk_dashboard.py, imported (it is a script, not a package module)."""
    pytest.importorskip("tkinter", reason="Python has no tkinter (Debian: python3-tk)")
    spec = importlib.util.spec_from_file_location("tk_dashboard", EXAMPLES / "tk_dashboard.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def root(x_display: str) -> Iterator[Any]:
    """A Tk root window on the Xvfb display, destroyed after the test."""
    import tkinter as tk

    window = tk.Tk(screenName=x_display)
    yield window
    window.destroy()


def pump_until(root: Any, condition: Callable[[], bool], what: str) -> None:
    """Run Tk's event loop until ``condition`` holds; fails after ``WINDOW_DEADLINE``."""
    deadline = time.monotonic() + WINDOW_DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        root.update()
        time.sleep(0.01)


def screenshot(display: str, window_id: str, directory: Path) -> Path:
    """The window as an image: an xwd dump, made a PNG when ImageMagick's convert is there."""
    xwd = shutil.which("xwd")
    if xwd is None:
        pytest.fail("xwd is not installed (Debian: apt-get install x11-apps)")
    dump = directory / "tk_dashboard.xwd"
    subprocess.run(
        [xwd, "-display", display, "-id", window_id, "-silent", "-out", str(dump)],
        check=True,
        timeout=RUN_DEADLINE,
    )
    convert = shutil.which("convert")
    if convert is None:
        return dump
    png = directory / "tk_dashboard.png"
    converted = subprocess.run(
        [convert, f"xwd:{dump}", f"png:{png}"], timeout=RUN_DEADLINE, check=False
    )
    return png if converted.returncode == 0 and png.exists() else dump


def test_tk_window_shows_another_clients_submit_by_itself(
    tk_dashboard: ModuleType,
    root: Any,
    x_display: str,
    served: tuple[str, GamifyBackend, DemoData],
    tmp_path: Path,
) -> None:
    base_url, backend, demo = served
    learner = demo.users[0]
    with GamifyClient(base_url=base_url) as client:
        client.login(
            email=learner.email,
            password=learner.password,
            designation="user",
            admin_id=demo.admin_id,
        )
        assert tk_dashboard.follow_other_clients(client) == "server push"
        window = tk_dashboard.build_window(root, client)
        try:
            pump_until(root, lambda: window.xp_label.cget("text") == "0", "the first data")
            assert window.title_label.cget("text") == "Uma User"

            submit(base_url, backend, learner.id, demo.task_ids[0])

            pump_until(
                root, lambda: window.xp_label.cget("text") == "100", "the XP label to say 100"
            )
            pump_until(
                root,
                lambda: window.completion_label.cget("text") == "25%",
                "the completion label to say 25%",
            )
            assert window.describe() == "XP 100 | streak 1 day | completion 25%"
            (row,) = window.batches.get_children()
            assert window.batches.item(row, "values") == ("Demo Cohort", "1/4", "25%")
            assert root.title() == "Gamify - Uma User"

            image = screenshot(x_display, root.wm_frame(), tmp_path)
            assert image.exists()
            assert image.stat().st_size > 0
        finally:
            window.close()


def test_tk_window_tells_the_client_when_it_gains_and_loses_focus(
    tk_dashboard: ModuleType,
    root: Any,
    x_display: str,
    served: tuple[str, GamifyBackend, DemoData],
    child_processes: Callable[..., ExampleProcess],
) -> None:
    base_url, backend, demo = served
    learner = demo.users[0]
    with GamifyClient(base_url=base_url, token=backend.token_for(learner.id)) as client:
        changes: list[bool] = []
        client.focus.subscribe(changes.append)
        window = tk_dashboard.build_window(root, client)
        try:
            pump_until(root, lambda: window.query.data is not None, "the first data")
            root.focus_force()
            pump_until(root, lambda: root.focus_get() is root, "the window to take focus")
            window.batches.focus_set()  # within the window: not a change of the window's focus
            pump_until(root, lambda: root.focus_get() is window.batches, "the table's focus")

            another_application = child_processes(
                [
                    sys.executable,
                    "-c",
                    "import sys, tkinter\n"
                    "other = tkinter.Tk()\n"
                    "other.update()\n"
                    "other.focus_force()\n"
                    "other.update()\n"
                    "print('focused', flush=True)\n"
                    "sys.stdin.readline()\n",
                ],
                env={**os.environ, "DISPLAY": x_display},
            )
            another_application.wait_for_line("focused")
            pump_until(root, lambda: not client.focus.focused, "the client to hear FocusOut")

            root.focus_force()
            pump_until(root, lambda: client.focus.focused, "the client to hear FocusIn")
            assert changes == [False, True]
        finally:
            window.close()


def test_tk_dashboard_example_runs_in_a_window_with_simulated_activity(x_display: str) -> None:
    pytest.importorskip("tkinter", reason="Python has no tkinter (Debian: python3-tk)")
    lines = lines_of(
        run_example(
            "tk_dashboard.py",
            # A wide margin after the simulated write, so a loaded machine still shows it.
            *("--simulate-after", "0.5", "--exit-after", "7"),
            env={**os.environ, "DISPLAY": x_display},
        )
    )

    assert lines[0].startswith("Reference backend on http://127.0.0.1:")
    assert lines[0].endswith("; logged in as Uma User.")
    assert "Other clients' writes arrive by server push." in lines
    shown = [line for line in lines if line.startswith(("Window shows:", "Another client"))]
    assert shown == [
        "Window shows: XP 0 | streak 0 days | completion 0%",
        "Another client submitted a task: +100 XP.",
        "Window shows: XP 100 | streak 1 day | completion 25%",
    ], lines


def test_tk_dashboard_example_against_a_deployment_follows_its_writes(
    x_display: str,
    served: tuple[str, GamifyBackend, DemoData],
    child_processes: Callable[..., ExampleProcess],
) -> None:
    pytest.importorskip("tkinter", reason="Python has no tkinter (Debian: python3-tk)")
    base_url, backend, demo = served
    learner = demo.users[1]
    dashboard = child_processes(
        example_command(
            "tk_dashboard.py",
            *("--base-url", base_url, "--email", learner.email, "--password", learner.password),
            *("--admin-id", demo.admin_id, "--exit-after", "3"),
        ),
        env={**os.environ, "DISPLAY": x_display},
    )
    dashboard.wait_for_line("Window shows: XP 0 | streak 0 days | completion 0%")

    submit(base_url, backend, learner.id, demo.task_ids[2])

    dashboard.wait_for_line("Window shows: XP 200 | streak 1 day | completion 25%")
    assert dashboard.finish() == 0
    assert "Other clients' writes arrive by server push." in dashboard.lines
    assert not any("Another client" in line for line in dashboard.lines)
