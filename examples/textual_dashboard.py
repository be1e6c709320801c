"""A Textual terminal app with the Gamify pages a learner and an admin use, live.

Three tabs: the learner's dashboard (XP, streak, completion, batches), the task board, and an
admin's view of a batch's students. Each widget binds a live query of an
``AsyncGamifyClient`` to one of its reactive attributes (``gamify_client.toolkits.textual``);
the queries run on the app's loop, so their callbacks need no dispatch, and each is closed when
its widget is unmounted. Writes made by other clients reach the app by server push (or,
against a backend without push, by polling).

    python examples/textual_dashboard.py                 # reference backend, simulated activity
    python examples/textual_dashboard.py --no-simulate
    python examples/textual_dashboard.py --base-url http://localhost:3001 \\
        --email uma@example.com --password secret --admin-id ADM123 --batch-id 65f1...

With no ``--base-url`` it starts the reference backend on a loopback port, seeds the demo
organisation, logs in as its first learner and, a few seconds later, submits a task for that
learner through another client, so you can watch the numbers move. ``--exit-after SECONDS``
quits by itself and prints what the dashboard showed. Needs the ``textual``, ``server`` and
``push`` extras.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable, Sequence

from textual import events
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import DataTable, Footer, Header, Label, TabbedContent, TabPane

from gamify_client import AsyncGamifyClient, GamifyClient
from gamify_client.models import BatchProgressReport, Designation
from gamify_client.testing import GamifyBackend
from gamify_client.toolkits.textual import LiveQueries
from gamify_client.toolkits.views import (
    DashboardSummary,
    StudentRow,
    TaskRow,
    batch_name,
    student_rows,
    summarize_dashboard,
    task_rows,
)


class Stat(Vertical):
    """A caption over a big value."""

    DEFAULT_CSS = """
    Stat { width: 1fr; height: auto; }
    Stat .caption { color: $text-muted; }
    Stat .value { text-style: bold; color: $accent; }
    """

    def __init__(self, caption: str, id: str) -> None:
        super().__init__(id=id)
        self.caption = caption

    def compose(self) -> ComposeResult:
        yield Label(self.caption, classes="caption")
        yield Label("-", classes="value")

    def show(self, value: str) -> None:
        self.query_one(".value", Label).update(value)

    @property
    def value(self) -> str:
        return str(self.query_one(".value", Label).content)


class DashboardPanel(LiveQueries, Vertical):
    """The learner's XP, streak, completion and batches, bound to the dashboard query."""

    DEFAULT_CSS = """
    DashboardPanel { height: auto; padding: 1 2; }
    DashboardPanel #name { text-style: bold; margin-bottom: 1; }
    DashboardPanel #stats { height: auto; margin-bottom: 1; }
    DashboardPanel DataTable { height: auto; margin-top: 1; }
    """

    summary: reactive[DashboardSummary | None] = reactive(None)

    def compose(self) -> ComposeResult:
        yield Label("Loading...", id="name")
        with Horizontal(id="stats"):
            yield Stat("XP", id="xp")
            yield Stat("Streak", id="streak")
            yield Stat("Completion", id="completion")
        yield Label("", id="tasks-done")
        yield DataTable(id="batches", cursor_type="none")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("Batch", "Tasks done", "Completion")
        client: AsyncGamifyClient = self.app.client  # type: ignore[attr-defined]
        self.bind_query(client.use_dashboard_data(select=summarize_dashboard), "summary")

    def watch_summary(self, summary: DashboardSummary | None) -> None:
        if summary is None:
            return
        self.query_one("#name", Label).update(summary.name)
        self.query_one("#xp", Stat).show(summary.xp)
        self.query_one("#streak", Stat).show(summary.streak)
        self.query_one("#completion", Stat).show(summary.completion)
        self.query_one("#tasks-done", Label).update(summary.tasks)
        table = self.query_one(DataTable)
        table.clear()
        for row in summary.batches:
            table.add_row(row.batch, row.done, row.completion)

    def describe(self) -> str:
        """What the stats show, in one line."""
        return (
            f"XP {self.query_one('#xp', Stat).value} | "
            f"streak {self.query_one('#streak', Stat).value} | "
            f"completion {self.query_one('#completion', Stat).value}"
        )


class TaskBoard(LiveQueries, DataTable[str]):
    """The learner's tasks and their status."""

    board: reactive[tuple[TaskRow, ...] | None] = reactive(None)

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_columns("Task", "Difficulty", "Status", "XP")
        client: AsyncGamifyClient = self.app.client  # type: ignore[attr-defined]
        self.bind_query(client.use_dashboard_data(select=task_rows), "board")

    def watch_board(self, board: tuple[TaskRow, ...] | None) -> None:
        if board is None:
            return
        self.clear()
        for row in board:
            self.add_row(row.task, row.difficulty, row.status, row.xp)


class StudentsPanel(LiveQueries, Vertical):
    """An admin's view of one batch: every student's progress."""

    DEFAULT_CSS = "StudentsPanel { height: auto; padding: 1 2; }"

    report: reactive[BatchProgressReport | None] = reactive(None)

    def __init__(self, batch_id: str) -> None:
        super().__init__(id="students-panel")
        self.batch_id = batch_id

    def compose(self) -> ComposeResult:
        yield Label("Loading...", id="batch-name")
        yield DataTable(id="students", cursor_type="row")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("Student", "Tasks done", "XP", "Completion")
        client: AsyncGamifyClient = self.app.client  # type: ignore[attr-defined]
        self.bind_query(client.use_batch_progress_data(self.batch_id), "report")

    def watch_report(self, report: BatchProgressReport | None) -> None:
        if report is None:
            return
        self.query_one("#batch-name", Label).update(f"Students of {batch_name(report)}")
        table = self.query_one(DataTable)
        table.clear()
        row: StudentRow
        for row in student_rows(report):
            table.add_row(row.student, row.done, row.xp, row.completion)


class GamifyDashboardApp(App[None]):
    """The learner's pages (and, with ``batch_id``, an admin's view of that batch) for the user
    of ``token``. The app owns its ``AsyncGamifyClient`` (``self.client``) and closes it when
    it ends; ``push=False`` leaves other clients' writes to polling. ``on_ready`` runs once the
    app listens to other clients' writes, ``exit_after`` quits after that many seconds."""

    TITLE = "Gamify"
    BINDINGS = [("q", "quit", "Quit")]

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        batch_id: str | None = None,
        push: bool = True,
        exit_after: float | None = None,
        on_ready: Callable[[], object] | None = None,
    ) -> None:
        super().__init__()
        self.client = AsyncGamifyClient(base_url=base_url, token=token)
        self.batch_id = batch_id
        self.push = push
        self.exit_after = exit_after
        self.on_ready = on_ready
        self.follows = "polling"
        self.last_shown = ""

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="pages"):
            with TabPane("Dashboard", id="dashboard"):
                yield DashboardPanel(id="dashboard-panel")
            with TabPane("Tasks", id="tasks"):
                yield TaskBoard(id="task-board")
            if self.batch_id is not None:
                with TabPane("Batch students", id="students"):
                    yield StudentsPanel(self.batch_id)
        yield Footer()

    async def on_mount(self) -> None:
        if self.exit_after is not None:
            self.set_timer(self.exit_after, self._exit_remembering_what_was_shown)
        if self.push:
            try:
                listener = await self.client.listen()
            except ImportError:
                listener = None
            if listener is not None and listener.mode == "push":
                self.follows = "server push"
        if self.on_ready is not None:
            self.on_ready()

    def _exit_remembering_what_was_shown(self) -> None:
        self.last_shown = self.describe()
        self.exit()

    def on_app_focus(self, _event: events.AppFocus) -> None:
        self.client.set_focused(True)

    def on_app_blur(self, _event: events.AppBlur) -> None:
        self.client.set_focused(False)

    async def on_unmount(self) -> None:
        await self.client.close()

    def describe(self) -> str:
        """What the dashboard shows, in one line (``XP 100 | streak 1 day | completion 25%``)."""
        return self.query_one(DashboardPanel).describe()


def submit_from_another_client(base_url: str, token: str, user_id: str, task_id: str) -> None:
    """What the learner's phone would do: submit a task through a client that shares nothing
    with the app's."""
    with GamifyClient(base_url=base_url, token=token) as phone:
        phone.tasks.submit(
            task_id, user_id=user_id, submission_type="Link", value="https://example.com/work"
        )


def run_app(app: GamifyDashboardApp) -> None:
    """Run the app until the user quits (or its ``exit_after`` runs out, and then print what
    its dashboard showed last)."""
    app.run()
    if app.last_shown:
        print(f"Other clients' writes arrived by {app.follows}.")
        print(f"The dashboard showed: {app.last_shown}")


def run_on_reference_backend(*, simulate_after: float | None, exit_after: float | None) -> None:
    """Serve a seeded reference backend and show its first learner's pages."""
    backend = GamifyBackend()
    demo = backend.seed_demo()
    learner = demo.users[0]
    with backend.serve() as base_url:
        token = backend.token_for(learner.id)
        simulation: threading.Timer | None = None
        if simulate_after is not None:
            simulation = threading.Timer(
                simulate_after,
                submit_from_another_client,
                args=(base_url, token, learner.id, demo.task_ids[0]),
            )
            simulation.daemon = True
        try:
            run_app(
                GamifyDashboardApp(
                    base_url,
                    token,
                    batch_id=demo.batch_id,
                    exit_after=exit_after,
                    on_ready=simulation.start if simulation is not None else None,
                )
            )
        finally:
            if simulation is not None:
                simulation.cancel()
                if simulation.is_alive():
                    simulation.join()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Live Gamify pages in the terminal (Textual).",
        epilog="Without --base-url: the reference backend, seeded, with simulated activity.",
    )
    parser.add_argument("--base-url", help="a Gamify backend, e.g. http://localhost:3001")
    parser.add_argument("--email", help="login e-mail (with --base-url)")
    parser.add_argument("--password", help="login password (with --base-url)")
    parser.add_argument(
        "--designation",
        default="user",
        choices=("user", "mentor", "admin", "superadmin"),
        help="the account's role (default: user)",
    )
    parser.add_argument("--admin-id", help="the admin's short id, needed to log in as a user")
    parser.add_argument("--batch-id", help="show this batch's students (with --base-url)")
    parser.add_argument(
        "--no-simulate",
        action="store_true",
        help="on the reference backend, do not submit a task from another client",
    )
    parser.add_argument(
        "--simulate-after",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="when the other client submits (default: 3)",
    )
    parser.add_argument("--exit-after", type=float, metavar="SECONDS", help="quit after this long")
    args = parser.parse_args(argv)
    if args.base_url and not (args.email and args.password):
        parser.error("--base-url needs --email and --password")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.base_url is None:
        run_on_reference_backend(
            simulate_after=None if args.no_simulate else args.simulate_after,
            exit_after=args.exit_after,
        )
        return 0
    designation: Designation = args.designation
    # A blocking login before the app starts its loop; the app's client takes the token.
    with GamifyClient(base_url=args.base_url) as login:
        result = login.login(
            email=args.email,
            password=args.password,
            designation=designation,
            admin_id=args.admin_id,
        )
    run_app(
        GamifyDashboardApp(
            args.base_url, result.token, batch_id=args.batch_id, exit_after=args.exit_after
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
