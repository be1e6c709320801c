"""The Textual adapter and ``examples/textual_dashboard.py``, driven by Textual's own pilot
(``App.run_test()``): a submit from another client must change the rendered dashboard, every
page's query must close with its widget, and a screenshot (SVG) of the app is taken."""

from __future__ import annotations

import html
import importlib.util
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.reactive import reactive
from textual.widgets import Static

from gamify_client import AsyncGamifyClient, GamifyClient
from gamify_client.testing import DemoData, GamifyBackend
from gamify_client.toolkits.textual import LiveQueries, app_thread_dispatch

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DEADLINE = 10.0
"""Seconds a test waits for the app to show something."""


@pytest.fixture
def served() -> Iterator[tuple[str, GamifyBackend, DemoData]]:
    """A seeded reference backend on a loopback port."""
    backend = GamifyBackend()
    demo = backend.seed_demo()
    with backend.serve() as base_url:
        yield base_url, backend, demo
    backend.close()


@pytest.fixture(scope="module")
def textual_dashboard() -> ModuleType:
    """examples/textual_dashboard.py, imported (it is a script, not a package module)."""
    path = EXAMPLES / "textual_dashboard.py"
    spec = importlib.util.spec_from_file_location("textual_dashboard", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def submit(base_url: str, backend: GamifyBackend, user_id: str, task_id: str) -> None:
    """A submission through a client that shares nothing with the app's."""
    async with AsyncGamifyClient(base_url=base_url, token=backend.token_for(user_id)) as other:
        await other.tasks.submit(
            task_id, user_id=user_id, submission_type="Link", value="https://x.io"
        )


async def pause_until(pilot: Pilot[None], condition: Callable[[], bool], what: str) -> None:
    """Let the app run (``pilot.pause()``) until ``condition`` holds; fails after DEADLINE."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await pilot.pause()


async def test_a_submit_from_another_client_changes_the_rendered_dashboard(
    textual_dashboard: ModuleType, served: tuple[str, GamifyBackend, DemoData], tmp_path: Path
) -> None:
    base_url, backend, demo = served
    learner = demo.users[0]
    app = textual_dashboard.GamifyDashboardApp(
        base_url, backend.token_for(learner.id), batch_id=demo.batch_id
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await pause_until(pilot, lambda: app.follows == "server push", "the push listener")
        await pause_until(
            pilot, lambda: app.describe() == "XP 0 | streak 0 days | completion 0%", "data"
        )

        await submit(base_url, backend, learner.id, demo.task_ids[0])

        await pause_until(
            pilot,
            lambda: app.describe() == "XP 100 | streak 1 day | completion 25%",
            "the dashboard to show the submit",
        )
        await pilot.pause()  # one more turn of the loop: the repaint of the change
        svg = app.export_screenshot(title="Gamify")
        assert svg.startswith("<svg")
        shown = html.unescape(svg).replace("\xa0", " ")
        for text in ("Uma User", ">100<", "1 day", "25%", "Demo Cohort", "1/4", "1 of 4 tasks"):
            assert text in shown, text
        (tmp_path / "textual_dashboard.svg").write_text(svg)

        await pilot.press("right")  # the Tasks tab
        board = app.query_one(textual_dashboard.TaskBoard)
        await pause_until(pilot, lambda: board.row_count == 4, "the task board")
        await pause_until(
            pilot,
            lambda: board.get_row_at(0) == ["Landing page", "Easy", "Done", "100"],
            "the task board to show the submit",
        )
        students = app.query_one(textual_dashboard.StudentsPanel)
        await pause_until(pilot, lambda: students.report is not None, "the batch's students")
        queries = [
            query
            for panel in (app.query_one(textual_dashboard.DashboardPanel), board, students)
            for query in panel.bound_queries
        ]
        assert len(queries) == 3
        assert not any(query.closed for query in queries)
    assert all(query.closed for query in queries)


class Counter(LiveQueries, Static):
    """A widget bound to the number of tasks."""

    count: reactive[int | None] = reactive(None)

    def __init__(self, client: AsyncGamifyClient | GamifyClient) -> None:
        super().__init__()
        self.client = client

    def on_mount(self) -> None:
        self.bind_query(self.client.use_tasks_data(select=len), "count")

    def watch_count(self, count: int | None) -> None:
        self.update(f"{count} tasks")


class CounterApp(App[None]):
    def __init__(self, client: AsyncGamifyClient | GamifyClient) -> None:
        super().__init__()
        self.client = client

    def compose(self) -> ComposeResult:
        yield Counter(self.client)


async def test_a_removed_widget_closes_its_queries(
    served: tuple[str, GamifyBackend, DemoData],
) -> None:
    base_url, backend, demo = served
    async with AsyncGamifyClient(
        base_url=base_url, token=backend.token_for(demo.admin.id)
    ) as client:
        app = CounterApp(client)
        async with app.run_test() as pilot:
            counter = app.query_one(Counter)
            await pause_until(pilot, lambda: counter.count == 4, "the count")
            (query,) = counter.bound_queries
            await counter.remove()
            assert query.closed
            assert counter.bound_queries == ()


async def test_the_blocking_clients_callbacks_reach_the_app_thread(
    served: tuple[str, GamifyBackend, DemoData],
) -> None:
    base_url, backend, demo = served
    with GamifyClient(base_url=base_url, token=backend.token_for(demo.admin.id)) as client:
        app: App[None] = App()
        threads: list[int] = []
        async with app.run_test() as pilot:
            client.dispatch = app_thread_dispatch(app)
            query = client.use_tasks_data()
            query.subscribe(lambda _q: threads.append(threading.get_ident()))
            await pause_until(pilot, lambda: bool(threads), "a callback")
            assert set(threads) == {threading.get_ident()}
            query.close()


def test_the_example_runs_on_its_reference_backend_with_simulated_activity() -> None:
    command = [sys.executable, str(EXAMPLES / "textual_dashboard.py")]
    result = subprocess.run(
        # A wide margin after the simulated write, so a loaded machine still shows it.
        [*command, "--simulate-after", "0.2", "--exit-after", "6"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "Other clients' writes arrived by server push." in lines
    assert lines[-1] == "The dashboard showed: XP 100 | streak 1 day | completion 25%"
