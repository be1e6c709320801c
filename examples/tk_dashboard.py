"""A Tk window that shows a learner's dashboard and keeps it fresh by itself.

The window is bound to ``client.use_dashboard_data()``: XP, streak, completion and the learner's
batches. Nothing in it asks for a refresh. The query calls the window back whenever the data
changes, and the window repaints on the Tk thread; writes made by other clients reach it by
server push (or, against a backend without push, by polling). An unfocused window stops polling
and a refocused one refetches what went stale.

    python examples/tk_dashboard.py                      # reference backend, simulated activity
    python examples/tk_dashboard.py --no-simulate --exit-after 60
    python examples/tk_dashboard.py --base-url http://localhost:3001 \\
        --email uma@example.com --password secret --admin-id ADM123

With no ``--base-url`` it starts the reference backend on a loopback port, seeds the demo
organisation, logs in as its first learner and, a few seconds later, submits a task for that
learner through another client, so you can watch the numbers move. Needs Tk (Debian:
``python3-tk``) and the ``server`` and ``push`` extras.
"""

from __future__ import annotations

import argparse
import queue
import threading
import tkinter as tk
from collections.abc import Callable, Sequence
from tkinter import font as tkfont
from tkinter import ttk

from gamify_client import GamifyClient
from gamify_client.hooks import Query
from gamify_client.models import Dashboard, Designation
from gamify_client.testing import GamifyBackend

INBOX_POLL_MS = 50
"""How often the Tk thread runs the callbacks that the query queued for it."""


class DashboardWindow:
    """A learner's dashboard bound to a live query.

    The query calls back on the client's threads (its scheduler, the push listener); Tk wants
    its widgets touched on its own thread only. So every callback goes through ``dispatch``
    into a queue that the Tk thread drains every ``INBOX_POLL_MS``. The value labels
    (``xp_label``, ``streak_label``, ``completion_label``), the ``batches`` table and the
    ``status_label`` are attributes, for tests and for code that extends the window.
    ``on_paint`` is called after each repaint with data.
    """

    def __init__(
        self,
        root: tk.Tk,
        client: GamifyClient,
        *,
        on_paint: Callable[[DashboardWindow], object] | None = None,
    ) -> None:
        self.root = root
        self.client = client
        self.on_paint = on_paint
        self._inbox: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        # Tk deletes a named font when its Python object goes, so the window keeps them.
        self._value_font = tkfont.nametofont("TkDefaultFont").copy()
        self._value_font.configure(size=20, weight="bold")
        self._title_font = tkfont.nametofont("TkDefaultFont").copy()
        self._title_font.configure(size=14, weight="bold")

        frame = ttk.Frame(root, padding=16)
        frame.grid(sticky="nsew")
        self.title_label = ttk.Label(frame, text="Loading...", font=self._title_font)
        self.title_label.grid(row=0, column=0, columnspan=3, sticky="w", pady=(0, 12))
        self.xp_label = self._stat(frame, "XP", column=0)
        self.streak_label = self._stat(frame, "Streak", column=1)
        self.completion_label = self._stat(frame, "Completion", column=2)
        self.tasks_label = ttk.Label(frame, foreground="grey35")
        self.tasks_label.grid(row=3, column=2, sticky="w")
        self.batches = ttk.Treeview(
            frame, columns=("batch", "done", "completion"), show="headings", height=4
        )
        for column, heading, width in (
            ("batch", "Batch", 180),
            ("done", "Tasks done", 90),
            ("completion", "Completion", 90),
        ):
            self.batches.heading(column, text=heading, anchor="w")
            self.batches.column(column, width=width, anchor="w")
        self.batches.grid(row=4, column=0, columnspan=3, sticky="ew", pady=(16, 8))
        self.status_label = ttk.Label(frame, foreground="grey35")
        self.status_label.grid(row=5, column=0, columnspan=3, sticky="w")

        self.query: Query[Dashboard] = client.use_dashboard_data(dispatch=self._inbox.put)
        self.query.subscribe(self.show)
        root.bind("<FocusIn>", lambda event: self._focus_changed(event, focused=True), add="+")
        root.bind("<FocusOut>", lambda event: self._focus_changed(event, focused=False), add="+")
        self._drain_job: str | None = root.after(INBOX_POLL_MS, self._drain_inbox)
        self.show(self.query)

    def _stat(self, frame: ttk.Frame, caption: str, *, column: int) -> ttk.Label:
        ttk.Label(frame, text=caption, foreground="grey35").grid(row=1, column=column, sticky="w")
        value = ttk.Label(frame, text="-", font=self._value_font, width=8)
        value.grid(row=2, column=column, sticky="w", padx=(0, 24))
        return value

    def show(self, query: Query[Dashboard]) -> None:
        """Paint what the query holds: its data, or that it is loading or failed."""
        dashboard = query.data
        if dashboard is None:
            failed = f"Could not load: {query.error}" if query.error else "Loading..."
            self.status_label.configure(text=failed)
            return
        stats = dashboard.overall_stats
        name = dashboard.user_profile.username or "Learner"
        self.root.title(f"Gamify - {name}")
        self.title_label.configure(text=name)
        self.xp_label.configure(text=str(stats.user_total_xp))
        self.streak_label.configure(text=_days(stats.current_streak))
        done, total = stats.total_completed_tasks, stats.total_tasks_across_all_batches
        self.completion_label.configure(text=f"{_percent(done, total)}%")
        self.tasks_label.configure(text=f"{done} of {total} tasks")
        self.batches.delete(*self.batches.get_children())
        for progress in dashboard.batch_progress:
            batch = progress.batch_id
            batch_name = getattr(batch, "name", None) or str(batch)
            metrics = progress.progress_metrics
            self.batches.insert(
                "",
                "end",
                values=(
                    batch_name,
                    f"{metrics.completed_tasks}/{metrics.total_tasks}",
                    f"{metrics.completion_percentage:.0f}%",
                ),
            )
        updated = query.last_updated.astimezone() if query.last_updated else None
        status = f"Updated {updated:%H:%M:%S}" if updated else "Updated"
        if query.error is not None:
            status += f" - last refresh failed: {query.error}"
        self.status_label.configure(text=status)
        if self.on_paint is not None:
            self.on_paint(self)

    def describe(self) -> str:
        """What the labels show, in one line (the example prints it; tests read it)."""
        return (
            f"XP {self.xp_label.cget('text')} | streak {self.streak_label.cget('text')} | "
            f"completion {self.completion_label.cget('text')}"
        )

    def close(self) -> None:
        """Stop the query and the inbox poll; the window may already be destroyed."""
        self.query.close()
        if self._drain_job is not None:
            self.root.after_cancel(self._drain_job)
            self._drain_job = None

    def _drain_inbox(self) -> None:
        while True:
            try:
                callback = self._inbox.get_nowait()
            except queue.Empty:
                break
            callback()
        self._drain_job = self.root.after(INBOX_POLL_MS, self._drain_inbox)

    def _focus_changed(self, event: tk.Event[tk.Misc], *, focused: bool) -> None:
        # Tk also reports focus moving between the window's own widgets; only the toplevel's own
        # events say that the window as a whole gained or lost it.
        if event.widget is self.root:
            self.client.set_focused(focused)


def _days(streak: int) -> str:
    return f"{streak} day" if streak == 1 else f"{streak} days"


def _percent(done: int, total: int) -> int:
    return round(100 * done / total) if total else 0


def build_window(
    root: tk.Tk,
    client: GamifyClient,
    *,
    on_paint: Callable[[DashboardWindow], object] | None = None,
) -> DashboardWindow:
    """Lay a live dashboard into ``root`` for ``client``'s logged-in user."""
    ttk.Style(root).theme_use("clam")
    root.title("Gamify")
    root.resizable(width=False, height=False)
    return DashboardWindow(root, client, on_paint=on_paint)


def follow_other_clients(client: GamifyClient) -> str:
    """Apply the writes the backend pushes, so other clients' writes show at once; says how the
    window learns about them."""
    try:
        listener = client.listen()
    except ImportError:
        return "polling (install gamify-client[push] for server push)"
    return "server push" if listener.mode == "push" else "polling (the backend has no push)"


def run_window(
    client: GamifyClient, *, exit_after: float | None, on_shown: Callable[[], None] | None = None
) -> None:
    """Show the dashboard until the window is closed (or ``exit_after`` seconds), printing each
    new state of its labels; ``on_shown`` runs once the window is up."""
    print(f"Other clients' writes arrive by {follow_other_clients(client)}.", flush=True)
    last_printed = ""

    def print_what_is_shown(window: DashboardWindow) -> None:
        nonlocal last_printed
        shown = window.describe()
        if shown != last_printed:
            last_printed = shown
            print(f"Window shows: {shown}", flush=True)

    root = tk.Tk()
    window = build_window(root, client, on_paint=print_what_is_shown)
    if exit_after is not None:
        root.after(round(exit_after * 1000), root.destroy)
    if on_shown is not None:
        root.after_idle(on_shown)
    try:
        root.mainloop()
    finally:
        window.close()


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
    """Serve a seeded reference backend and show its first learner's dashboard."""
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
        description="A live Gamify dashboard in a Tk window.",
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
        run_window(client, exit_after=args.exit_after)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
