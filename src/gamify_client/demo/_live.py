"""The demo's live terminal view: a :class:`~._board.Board` drawn with rich Live.

Live redraws the board several times a second from its latest snapshot, on its own thread;
the queries' callbacks only change the board, so drawing never slows down what the demo
measures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Self

from rich import box
from rich.columns import Columns
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Column, Table
from rich.text import Text

from ..models import Batch, BatchProgressReport, Dashboard
from ..watch import display_name, summarize
from ._board import LOG_LINES, Board, BoardState
from ._session import DemoSession, Learner, View

FLASH_SECONDS = 1.0
"""A view that changed this recently is drawn in green."""

CONFLICT_SECONDS = 2.0
"""A view whose key lost a conflict to the server this recently is drawn in red."""

CAPTION_EXAMPLE = "task board: 5 tasks, 4 completions"
"""A user's table is at least this wide, so that the caption fits on one line."""


class LiveBoard:
    """Draws ``board`` on ``console`` while the ``with`` block runs: the admin's tables, a
    table per user (their dashboard's XP, streak and completion, with their task board as
    its caption), the script's progress bar and the last events. A view that changed in the
    last second is drawn in green; a user's table whose data shows a write the server has
    not confirmed is drawn in yellow and says "optimistic", one whose key just lost a
    conflict to the server (it shows the server's data now) in red and says "conflict". The
    last task rename a board showed stays in its caption. The last frame stays on the screen."""

    def __init__(
        self,
        board: Board,
        session: DemoSession,
        console: Console,
        *,
        refresh_per_second: float = 12.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._board = board
        self._session = session
        self._clock = clock
        self._live = Live(
            get_renderable=self.render,
            console=console,
            refresh_per_second=refresh_per_second,
            redirect_stdout=False,
            redirect_stderr=False,
        )

    def __enter__(self) -> Self:
        self._live.start(refresh=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._live.stop()

    def render(self) -> RenderableType:
        """The whole screen, from the board as it is now."""
        state = self._board.snapshot()
        progress = Table.grid(padding=(0, 1))
        progress.add_row(
            ProgressBar(total=max(state.steps, 1), completed=state.step, width=30),
            Text(f"{state.step}/{state.steps}  {state.step_title}"),
        )
        admin = self._session.admin
        tables = [
            self._progress_table(state, admin.progress),
            self._batches_table(state, admin.batches),
        ]
        learners = [self._learner_table(state, learner) for learner in self._session.learners]
        log = Text("\n".join(state.log), style="dim")
        return Group(
            Text(state.title, style="bold"),
            progress,
            Text(),
            Columns(tables, padding=(0, 3)),
            Text(),
            Columns(learners, padding=(0, 2)),
            Panel(log, title="events", title_align="left", box=box.ROUNDED, height=LOG_LINES + 2),
        )

    def _recent(self, times: Iterable[float | None], seconds: float) -> bool:
        now = self._clock()
        return any(at is not None and now - at < seconds for at in times)

    def _fresh(self, state: BoardState, *views: View) -> bool:
        return self._recent((state.views[view].changed_at for view in views), FLASH_SECONDS)

    def _colour(self, state: BoardState, view: View) -> str | None:
        return "green" if self._fresh(state, view) else None

    def _progress_table(self, state: BoardState, view: View) -> Table:
        table = _table(
            view.name, self._colour(state, view), "student", "done", "completion", "points"
        )
        report = state.views[view].data
        if isinstance(report, BatchProgressReport):
            for progress in report.students_progress:
                metrics = progress.progress_metrics
                table.add_row(
                    display_name(progress.user_id),
                    f"{metrics.completed_tasks}/{metrics.total_tasks}",
                    f"{metrics.completion_percentage:.0f}%",
                    str(metrics.total_points_earned),
                )
        return table

    def _batches_table(self, state: BoardState, view: View) -> Table:
        # No task counts: a task create does not refresh the batches list (see the docs).
        table = _table(view.name, self._colour(state, view), "batch", "students", "status")
        batches = state.views[view].data
        if isinstance(batches, list):
            for batch in batches:
                if isinstance(batch, Batch):
                    table.add_row(display_name(batch), str(len(batch.users)), batch.status or "-")
        return table

    def _learner_table(self, state: BoardState, learner: Learner) -> Table:
        views = (learner.dashboard, learner.board)
        dashboard = state.views[learner.dashboard].data
        title = learner.dashboard.name
        if isinstance(dashboard, Dashboard):
            stats = dashboard.overall_stats
            title = f"{learner.name} · {stats.user_total_xp} XP · streak {stats.current_streak}"
        # Read from the cache as it is now: a prediction can end without a callback (the
        # server's answer equal to it), and the mark must not outlive it.
        optimistic = any(view.query.is_optimistic for view in views)
        conflict = self._recent((state.views[view].conflict_at for view in views), CONFLICT_SECONDS)
        colour: str | None
        if conflict:
            mark, colour = "conflict", "red"
        elif optimistic:
            mark, colour = "optimistic", "yellow"
        else:
            mark, colour = "", "green" if self._fresh(state, *views) else None
        table = _table(
            f"{title} · {mark}" if mark else title, colour, "batch", "done", "completion"
        )
        table.min_width = len(CAPTION_EXAMPLE)
        if isinstance(dashboard, Dashboard):
            for progress in dashboard.batch_progress:
                metrics = progress.progress_metrics
                table.add_row(
                    display_name(progress.batch_id),
                    f"{metrics.completed_tasks}/{metrics.total_tasks}",
                    f"{metrics.completion_percentage:.0f}%",
                )
        board = state.views[learner.board]
        table.caption = f"task board: {summarize(board.data)}"
        if board.renamed is not None:
            table.caption += f"\nrenamed {board.renamed}"
        return table


def _table(title: str, colour: str | None, *columns: str) -> Table:
    """A table titled ``title``, drawn in ``colour`` (None: plain)."""
    return Table(
        *(Column(name, justify="right" if index else "left") for index, name in enumerate(columns)),
        title=title,
        title_justify="left",
        title_style="bold" if colour is None else f"bold {colour}",
        border_style=colour or "dim",
        box=box.SIMPLE_HEAD,
        show_edge=False,
    )
