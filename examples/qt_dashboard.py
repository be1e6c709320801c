"""A Qt (PySide6) window with the Gamify pages a learner and an admin use, live.

Three tabs: the learner's dashboard (XP, streak, completion, batches), the task board, and an
admin's view of a batch's students. Each is bound to a live query; nothing asks for a refresh.
``gamify_client.toolkits.qt.attach`` makes every query of the client call back on the GUI
thread, through a queued Qt signal; writes made by other clients reach the window by server
push (or, against a backend without push, by polling).

    python examples/qt_dashboard.py                      # reference backend, simulated activity
    python examples/qt_dashboard.py --no-simulate --exit-after 60
    python examples/qt_dashboard.py --base-url http://localhost:3001 \\
        --email uma@example.com --password secret --admin-id ADM123 --batch-id 65f1...

With no ``--base-url`` it starts the reference backend on a loopback port, seeds the demo
organisation, logs in as its first learner and, a few seconds later, submits a task for that
learner through another client, so you can watch the numbers move. Needs the ``qt``,
``server`` and ``push`` extras.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable, Sequence

from PySide6.QtCore import QAbstractTableModel, QTimer
from PySide6.QtGui import QCloseEvent, QFont
from PySide6.QtWidgets import (
    QApplication,
    QGridLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gamify_client import GamifyClient
from gamify_client.hooks import Query
from gamify_client.models import BatchProgressReport, Dashboard, Designation
from gamify_client.testing import GamifyBackend
from gamify_client.toolkits.qt import Column, QueryTableModel, attach, bind
from gamify_client.toolkits.views import (
    batch_name,
    student_rows,
    summarize_dashboard,
    task_rows,
)

BATCH_COLUMNS: list[Column] = [
    ("Batch", lambda row: row.batch),
    ("Tasks done", lambda row: row.done),
    ("Completion", lambda row: row.completion),
]
TASK_COLUMNS: list[Column] = [
    ("Task", lambda row: row.task),
    ("Difficulty", lambda row: row.difficulty),
    ("Status", lambda row: row.status),
    ("XP", lambda row: row.xp),
]
STUDENT_COLUMNS: list[Column] = [
    ("Student", lambda row: row.student),
    ("Tasks done", lambda row: row.done),
    ("XP", lambda row: row.xp),
    ("Completion", lambda row: row.completion),
]


def _table(model: QAbstractTableModel) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.verticalHeader().hide()
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    view.setMinimumHeight(140)
    return view


class DashboardWindow(QMainWindow):
    """The learner's dashboard, task board and (with ``batch_id``) a batch's students.

    The value labels (``xp_label``, ``streak_label``, ``completion_label``, ``title_label``)
    and the table models (``batches``, ``tasks``, ``students``) are attributes, for tests and
    for code that extends the window. The widgets own their queries: closing the window closes
    them. ``on_paint`` is called after each repaint of the dashboard with data.
    """

    def __init__(
        self,
        client: GamifyClient,
        *,
        batch_id: str | None = None,
        on_paint: Callable[[DashboardWindow], object] | None = None,
    ) -> None:
        super().__init__()
        self.on_paint = on_paint
        self.setWindowTitle("Gamify")
        tabs = QTabWidget()
        self.setCentralWidget(tabs)

        page = QWidget()
        grid = QGridLayout(page)
        self.title_label = QLabel("Loading...")
        self.title_label.setFont(QFont(self.font().family(), 14, QFont.Weight.Bold))
        grid.addWidget(self.title_label, 0, 0, 1, 3)
        self.xp_label = self._stat(grid, "XP", 0)
        self.streak_label = self._stat(grid, "Streak", 1)
        self.completion_label = self._stat(grid, "Completion", 2)
        self.tasks_label = QLabel()
        grid.addWidget(self.tasks_label, 3, 2)
        self.status_label = QLabel()

        dashboard = client.use_dashboard_data()
        self.batches = QueryTableModel(
            client.use_dashboard_data(),
            lambda data: summarize_dashboard(data).batches,
            BATCH_COLUMNS,
            parent=self,
        )
        grid.addWidget(_table(self.batches), 4, 0, 1, 3)
        grid.addWidget(self.status_label, 5, 0, 1, 3)
        tabs.addTab(page, "Dashboard")
        self.dashboard: Query[Dashboard] = bind(dashboard, page, self.show_dashboard)

        self.tasks = QueryTableModel(
            client.use_dashboard_data(),
            task_rows,
            TASK_COLUMNS,
            parent=self,
        )
        tabs.addTab(_table(self.tasks), "Tasks")

        self.students: QueryTableModel[BatchProgressReport] | None = None
        self.students_title = QLabel()
        if batch_id is not None:
            admin_page = QWidget()
            column = QVBoxLayout(admin_page)
            column.addWidget(self.students_title)
            self.students = QueryTableModel(
                client.use_batch_progress_data(batch_id),
                student_rows,
                STUDENT_COLUMNS,
                parent=self,
            )
            self.students.modelReset.connect(self._retitle_students)
            column.addWidget(_table(self.students))
            tabs.addTab(admin_page, "Batch students")
            self._retitle_students()
        self.resize(560, 340)

    def _stat(self, grid: QGridLayout, caption: str, column: int) -> QLabel:
        grid.addWidget(QLabel(caption), 1, column)
        value = QLabel("-")
        value.setFont(QFont(self.font().family(), 20, QFont.Weight.Bold))
        grid.addWidget(value, 2, column)
        return value

    def show_dashboard(self, query: Query[Dashboard]) -> None:
        """Paint what the dashboard query holds: its data, or that it is loading or failed."""
        if query.data is None:
            failed = f"Could not load: {query.error}" if query.error else "Loading..."
            self.status_label.setText(failed)
            return
        summary = summarize_dashboard(query.data)
        self.setWindowTitle(f"Gamify - {summary.name}")
        self.title_label.setText(summary.name)
        self.xp_label.setText(summary.xp)
        self.streak_label.setText(summary.streak)
        self.completion_label.setText(summary.completion)
        self.tasks_label.setText(summary.tasks)
        updated = query.last_updated.astimezone() if query.last_updated else None
        self.status_label.setText(f"Updated {updated:%H:%M:%S}" if updated else "Updated")
        if self.on_paint is not None:
            self.on_paint(self)

    def _retitle_students(self) -> None:
        report = self.students.query.data if self.students is not None else None
        self.students_title.setText(
            "Loading..." if report is None else f"Students of {batch_name(report)}"
        )

    def describe(self) -> str:
        """What the labels show, in one line (the example prints it; tests read it)."""
        return (
            f"XP {self.xp_label.text()} | streak {self.streak_label.text()} | "
            f"completion {self.completion_label.text()}"
        )

    def closeEvent(self, event: QCloseEvent) -> None:
        self.close_queries()
        super().closeEvent(event)

    def close_queries(self) -> None:
        """Close every query of the window (also done when it is closed)."""
        self.dashboard.close()
        self.batches.close()
        self.tasks.close()
        if self.students is not None:
            self.students.close()


def follow_other_clients(client: GamifyClient) -> str:
    """Apply the writes the backend pushes, so other clients' writes show at once; says how the
    window learns about them."""
    try:
        listener = client.listen()
    except ImportError:
        return "polling (install gamify-client[push] for server push)"
    return "server push" if listener.mode == "push" else "polling (the backend has no push)"


def run_window(
    client: GamifyClient,
    *,
    batch_id: str | None,
    exit_after: float | None,
    on_shown: Callable[[], None] | None = None,
) -> None:
    """Show the window until it is closed (or ``exit_after`` seconds), printing each new state
    of its labels; ``on_shown`` runs once the window is up."""
    app = QApplication.instance() or QApplication(sys.argv)
    attach(client)
    print(f"Other clients' writes arrive by {follow_other_clients(client)}.", flush=True)
    last_printed = ""

    def print_what_is_shown(window: DashboardWindow) -> None:
        nonlocal last_printed
        shown = window.describe()
        if shown != last_printed:
            last_printed = shown
            print(f"Window shows: {shown}", flush=True)

    window = DashboardWindow(client, batch_id=batch_id, on_paint=print_what_is_shown)
    window.show()
    if exit_after is not None:
        QTimer.singleShot(round(exit_after * 1000), window.close)
    if on_shown is not None:
        QTimer.singleShot(0, on_shown)
    try:
        app.exec()
    finally:
        window.close_queries()


def submit_from_another_client(base_url: str, token: str, user_id: str, task_id: str) -> None:
    """What the learner's phone would do: submit a task through a client that shares nothing
    with the window's (no cache, no events, no connection)."""
    with GamifyClient(base_url=base_url, token=token) as phone:
        result = phone.tasks.submit(
            task_id, user_id=user_id, submission_type="Link", value="https://example.com/work"
        )
    earned = result.data.progress.points_earned
    print(f"Another client submitted a task: +{earned} XP.", flush=True)


def run_on_reference_backend(*, simulate_after: float | None, exit_after: float | None) -> None:
    """Serve a seeded reference backend and show its first learner's pages."""
    backend = GamifyBackend()
    demo = backend.seed_demo()
    learner = demo.users[0]
    with backend.serve() as base_url, GamifyClient(base_url=base_url) as client:
        client.login(
            email=learner.email,
            password=learner.password,
            designation="user",
            admin_id=demo.admin_id,
        )
        print(f"Reference backend on {base_url}; logged in as {learner.name}.", flush=True)
        simulation: threading.Timer | None = None
        if simulate_after is not None:
            simulation = threading.Timer(
                simulate_after,
                submit_from_another_client,
                args=(base_url, backend.token_for(learner.id), learner.id, demo.task_ids[0]),
            )
            simulation.daemon = True
        try:
            run_window(
                client,
                batch_id=demo.batch_id,
                exit_after=exit_after,
                on_shown=simulation.start if simulation is not None else None,
            )
        finally:
            if simulation is not None:
                simulation.cancel()
                if simulation.is_alive():
                    simulation.join()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Live Gamify pages in a Qt window.",
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
        help="when the other client submits, after the window is up (default: 3)",
    )
    parser.add_argument(
        "--exit-after", type=float, metavar="SECONDS", help="close the window after this long"
    )
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
    with GamifyClient(base_url=args.base_url) as client:
        client.login(
            email=args.email,
            password=args.password,
            designation=designation,
            admin_id=args.admin_id,
        )
        run_window(client, batch_id=args.batch_id, exit_after=args.exit_after)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
