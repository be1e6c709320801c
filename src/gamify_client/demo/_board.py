"""What the demo shows, as the callbacks report it.

The :class:`Board` holds each view's latest data and when it changed (told by the view's
query callback), the last task rename each view showed, when a view's key last lost a
conflict to the server, the script's progress and a short log of events and results. The
plain output gets every line as it happens through ``echo``; the live view draws
:meth:`Board.snapshot` several times a second. Nothing here fetches anything.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..events import Event
from ..keys import format_key
from ..models import Batch, RealTimeData, Task
from ..optimistic import OptimisticConflict
from ..outbox import MutationNotice
from ..watch import summarize
from ._session import View
from ._tracker import MutationOutcome, format_ms

LOG_LINES = 6
"""How many lines of events and results the live view keeps."""


def describe_event(event: Event | str, payload: Any, names: Mapping[str, str]) -> str:
    """One line for an event of the shared bus, naming people by ``names`` (user id to name)."""
    name = Event(event).value
    if isinstance(payload, RealTimeData) and name == Event.TASK_CREATED:
        return (
            f"{name}: {payload.task_name} ({payload.points} XP), "
            f"{payload.total_users_affected} users affected"
        )
    if isinstance(payload, RealTimeData):
        who = names.get(payload.user_id or "", "someone")
        summary = payload.batch_progress
        batch = "" if summary is None else f", {summary.completion_percentage:.0f}% of the batch"
        return (
            f"{name}: {who} +{payload.points_earned} XP → {payload.new_total_xp}, "
            f"streak {payload.current_streak}{batch}"
        )
    if isinstance(payload, Batch):
        return f"{name}: {payload.name} ({len(payload.users)} enrolled)"
    if isinstance(payload, OptimisticConflict):
        return (
            f"{name}: fetched data for {format_key(payload.key)} contradicts the pending "
            f"{payload.mutation}; the server's data wins"
        )
    if isinstance(payload, Task):
        return f'{name}: task "{payload.name}"'

    if isinstance(payload, MutationNotice):
        operation = payload.operation
        who = names.get(operation.user_id, "someone")
        return f"{name}: {who}'s {operation.write} (outbox operation {operation.id})"
    return name


def renames(before: Any, after: Any) -> list[str]:
    """``'"Old" → "New"'`` for each task of the list ``after`` whose name differs in the list
    ``before`` (the same task, by id); empty for any other data."""
    if not (isinstance(before, list) and isinstance(after, list)):
        return []
    names = {task.id: task.name for task in before if isinstance(task, Task)}
    return [
        f'"{names[task.id]}" → "{task.name}"'
        for task in after
        if isinstance(task, Task) and names.get(task.id, task.name) != task.name
    ]


@dataclass(frozen=True, slots=True)
class ViewState:
    """A view's latest data, when (``time.monotonic()``) it last changed, the last rename it
    showed, and when its key last lost a conflict to the server's data."""

    data: Any
    changed_at: float | None
    renamed: str | None = None
    conflict_at: float | None = None


@dataclass(frozen=True, slots=True)
class BoardState:
    """A copy of the board to draw from."""

    title: str
    views: Mapping[View, ViewState]
    step: int
    steps: int
    step_title: str
    log: tuple[str, ...]


class Board:
    """The demo's state; every method is thread-safe (callbacks come from every client)."""

    def __init__(
        self,
        views: Sequence[View],
        names: Mapping[str, str],
        echo: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._names = dict(names)
        self._echo = echo
        self._clock = clock
        self._lock = threading.Lock()
        self._title = ""
        self._views = {view: ViewState(None, None) for view in views}
        self._lines: dict[View, str] = {}
        self._step = 0
        self._steps = 0
        self._step_title = ""
        self._log: deque[str] = deque(maxlen=LOG_LINES)

    def _say(self, line: str, *, log: bool = True) -> None:
        """Under the lock: log ``line`` and hand it to ``echo``."""
        if log:
            self._log.append(line.strip())
        if self._echo is not None:
            self._echo(line)

    def note(self, text: str) -> None:
        """A line of commentary."""
        with self._lock:
            self._say(text)

    def set_title(self, title: str) -> None:
        """The first line of the screen."""
        with self._lock:
            self._title = title
            self._say(title, log=False)

    def view_changed(
        self, view: View, data: Any, optimistic: bool, since_write: float | None
    ) -> None:
        """A view's query called back with ``data`` (``optimistic``: marked so;
        ``since_write``: seconds after the current write's answer)."""
        with self._lock:
            state = self._views[view]
            if data is state.data:
                return
            renamed = ", ".join(renames(state.data, data)) or state.renamed
            self._views[view] = ViewState(data, self._clock(), renamed, state.conflict_at)
            line = summarize(data)
            same = self._lines.get(view) == line and renamed == state.renamed
            self._lines[view] = line
            if renamed != state.renamed:
                line = f"{line}; renamed {renamed}"
            notes = [] if since_write is None else [f"+{format_ms(since_write)}"]
            if optimistic:
                notes.append("optimistic, not confirmed by the server yet")
            if same:
                notes.append("new data, the same on screen")
            suffix = f"  ({', '.join(notes)})" if notes else ""
            self._say(f"  {view.name}: {line}{suffix}", log=False)

    def event(self, event: Event | str, payload: Any) -> None:
        """An event of the clients' shared bus; a conflict marks the views of its key."""
        with self._lock:
            if isinstance(payload, OptimisticConflict):
                now = self._clock()
                for view, state in self._views.items():
                    if view.query.key == payload.key:
                        self._views[view] = dataclasses.replace(state, conflict_at=now)
            self._say(f"  event {describe_event(event, payload, self._names)}")

    def step_started(self, step: int, steps: int, title: str) -> None:
        """Step ``step`` of ``steps`` (from 1) begins."""
        with self._lock:
            self._step, self._steps, self._step_title = step - 1, steps, title
            self._say(f"[{step}/{steps}] {title}")

    def step_finished(self, outcome: MutationOutcome) -> None:
        """The current step is over."""
        with self._lock:
            self._step += 1
            mark = "✓" if outcome.complete else "✗"
            self._say(f"  {mark} {outcome.line()}")

    def snapshot(self) -> BoardState:
        """A consistent copy of the board."""
        with self._lock:
            return BoardState(
                title=self._title,
                views=dict(self._views),
                step=self._step,
                steps=self._steps,
                step_title=self._step_title,
                log=tuple(self._log),
            )
