"""A NiceGUI web page with the Gamify pages a learner and an admin use, live in every tab.

One page: the learner's dashboard (XP, streak, completion, batches), the task board, and an
admin's view of a batch's students. Each browser tab gets its own page, bound to live queries
of one ``AsyncGamifyClient`` on NiceGUI's loop (``gamify_client.toolkits.nicegui``); writes
made by other clients reach every open tab at once by server push (or, against a backend
without push, by polling). A tab's queries are closed when its page goes away.

    python examples/nicegui_dashboard.py                 # reference backend, simulated activity
    python examples/nicegui_dashboard.py --port 8080 --no-simulate
    python examples/nicegui_dashboard.py --base-url http://localhost:3001 \\
        --email uma@example.com --password secret --admin-id ADM123 --batch-id 65f1...

Then open the printed address in a browser (or two). With no ``--base-url`` it starts the
reference backend on a loopback port, seeds the demo organisation, logs in as its first
learner and, a few seconds after the pages are served, submits a task for that learner through
another client, so you can watch the numbers move. Needs the ``nicegui``, ``server`` and
``push`` extras.
"""

from __future__ import annotations

import argparse
import contextlib
import threading
from collections.abc import Sequence
from dataclasses import asdict

from nicegui import context, ui

from gamify_client import AsyncGamifyClient, GamifyClient
from gamify_client.hooks import AsyncQuery
from gamify_client.models import BatchProgressReport, Designation
from gamify_client.testing import GamifyBackend
from gamify_client.toolkits.nicegui import attach, bind_query, page_queries
from gamify_client.toolkits.views import (
    DashboardSummary,
    TaskRow,
    batch_name,
    student_rows,
    summarize_dashboard,
    task_rows,
)

open_tabs: set[str] = set()
"""The ids of the pages (one per browser tab) that are open, for the messages."""


def _columns(*names: str) -> list[dict[str, str]]:
    return [
        {"name": name, "label": label, "field": name, "align": "left"}
        for name, label in (name.split(":") for name in names)
    ]


def build_page(client: AsyncGamifyClient, batch_id: str | None) -> None:
    """Lay out one tab's page and bind it to its own live queries."""
    ui.page_title("Gamify")
    with ui.column().classes("w-full max-w-3xl mx-auto p-4 gap-4"):
        name = ui.label("Loading...").classes("text-2xl font-bold").props("id=name")
        with ui.row().classes("w-full gap-4"):
            stats = {}
            for key, caption in (("xp", "XP"), ("streak", "Streak"), ("completion", "Completion")):
                with ui.card().classes("grow"):
                    ui.label(caption).classes("text-gray-500")
                    stats[key] = ui.label("-").classes("text-3xl font-bold").props(f"id={key}")
        tasks_done = ui.label().classes("text-gray-500")
        batches = ui.table(
            columns=_columns("batch:Batch", "done:Tasks done", "completion:Completion"), rows=[]
        ).classes("w-full")

        def paint_dashboard(query: AsyncQuery[DashboardSummary]) -> None:
            summary = query.data
            if summary is None:
                name.set_text(f"Could not load: {query.error}" if query.error else "Loading...")
                return
            name.set_text(summary.name)
            stats["xp"].set_text(summary.xp)
            stats["streak"].set_text(summary.streak)
            stats["completion"].set_text(summary.completion)
            tasks_done.set_text(summary.tasks)
            batches.rows = [asdict(row) for row in summary.batches]
            batches.update()

        bind_query(client.use_dashboard_data(select=summarize_dashboard), paint_dashboard)

        ui.label("Tasks").classes("text-xl font-bold")
        board = (
            ui.table(
                columns=_columns("task:Task", "difficulty:Difficulty", "status:Status", "xp:XP"),
                rows=[],
            )
            .classes("w-full")
            .props("id=tasks")
        )

        def paint_board(query: AsyncQuery[tuple[TaskRow, ...]]) -> None:
            board.rows = [asdict(row) for row in query.data or ()]
            board.update()

        bind_query(client.use_dashboard_data(select=task_rows), paint_board)

        if batch_id is not None:
            students_title = ui.label("Loading...").classes("text-xl font-bold")
            students = (
                ui.table(
                    columns=_columns(
                        "student:Student", "done:Tasks done", "xp:XP", "completion:Completion"
                    ),
                    rows=[],
                )
                .classes("w-full")
                .props("id=students")
            )

            def paint_students(query: AsyncQuery[BatchProgressReport]) -> None:
                if query.data is None:
                    return
                students_title.set_text(f"Students of {batch_name(query.data)}")
                students.rows = [asdict(row) for row in student_rows(query.data)]
                students.update()

            bind_query(client.use_batch_progress_data(batch_id), paint_students)

    page = context.client
    open_tabs.add(page.id)
    print(f"Tab opened: {len(page_queries())} live queries ({len(open_tabs)} open).", flush=True)

    def closed() -> None:
        open_tabs.discard(page.id)
        state = "closed" if not page_queries(page) else "still open"
        print(f"Tab closed: its queries are {state} ({len(open_tabs)} open).", flush=True)

    page.on_delete(closed)


def serve(
    client: AsyncGamifyClient,
    *,
    batch_id: str | None,
    port: int,
    reconnect_timeout: float,
    on_started: threading.Timer | None = None,
) -> None:
    """Serve the page on ``port`` (on the loopback address) until interrupted."""

    def started() -> None:
        print(f"Pages served on http://127.0.0.1:{port}/", flush=True)
        if on_started is not None:
            on_started.start()

    attach(client, on_ready=started)

    @ui.page("/", reconnect_timeout=reconnect_timeout)
    def index() -> None:
        build_page(client, batch_id)

    # Ctrl-C (SIGINT) ends ui.run with KeyboardInterrupt once the server has shut down.
    with contextlib.suppress(KeyboardInterrupt):
        ui.run(
            host="127.0.0.1",
            port=port,
            title="Gamify",
            reload=False,
            show=False,
            show_welcome_message=False,
            reconnect_timeout=reconnect_timeout,
            uvicorn_logging_level="warning",
        )
    print("Stopped.", flush=True)


def submit_from_another_client(base_url: str, token: str, user_id: str, task_id: str) -> None:
    """What the learner's phone would do: submit a task through a client that shares nothing
    with the page's."""
    with GamifyClient(base_url=base_url, token=token) as phone:
        result = phone.tasks.submit(
            task_id, user_id=user_id, submission_type="Link", value="https://example.com/work"
        )
    print(f"Another client submitted a task: +{result.data.progress.points_earned} XP.", flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Live Gamify pages in the browser (NiceGUI).",
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
    parser.add_argument("--port", type=int, default=8080, help="where to serve (default: 8080)")
    parser.add_argument(
        "--reconnect-timeout",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="how long a tab that lost its connection keeps its page and queries (default: 3)",
    )
    parser.add_argument(
        "--no-simulate",
        action="store_true",
        help="on the reference backend, do not submit a task from another client",
    )
    parser.add_argument(
        "--simulate-after",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="when the other client submits, after the pages are served (default: 5)",
    )
    args = parser.parse_args(argv)
    if args.base_url and not (args.email and args.password):
        parser.error("--base-url needs --email and --password")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.base_url is None:
        backend = GamifyBackend()
        demo = backend.seed_demo()
        learner = demo.users[0]
        with backend.serve() as base_url:
            token = backend.token_for(learner.id)
            print(f"Reference backend on {base_url}; logged in as {learner.name}.", flush=True)
            simulation = None
            if not args.no_simulate:
                simulation = threading.Timer(
                    args.simulate_after,
                    submit_from_another_client,
                    args=(base_url, token, learner.id, demo.task_ids[0]),
                )
                simulation.daemon = True
            serve(
                AsyncGamifyClient(base_url=base_url, token=token),
                batch_id=demo.batch_id,
                port=args.port,
                reconnect_timeout=args.reconnect_timeout,
                on_started=simulation,
            )
        return 0
    designation: Designation = args.designation
    # A blocking login before NiceGUI starts its loop; the page's client takes the token.
    with GamifyClient(base_url=args.base_url) as login:
        result = login.login(
            email=args.email,
            password=args.password,
            designation=designation,
            admin_id=args.admin_id,
        )
    serve(
        AsyncGamifyClient(base_url=args.base_url, token=result.token),
        batch_id=args.batch_id,
        port=args.port,
        reconnect_timeout=args.reconnect_timeout,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
