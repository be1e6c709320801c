"""``gamify watch``: one live query of any backend, shown as it changes.

:func:`watch` opens a :class:`WatchTarget`'s query on a client and shows it until a stop
condition holds: as a rich Live table, or as one plain line per change. What it shows comes
from the query's callbacks only (its first fetch, its polls, the writes the backend pushes).
On a terminal, ``r`` refetches and ``q`` quits: :class:`KeyReader` reads the keys on a small
thread with the terminal in cbreak mode (POSIX only; elsewhere, and when stdin is not a
terminal, keys are off). Ctrl-C stops it too.

Needs the ``cli`` extra (rich).
"""

from __future__ import annotations

import os
import select
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, Self, TextIO, TypeAlias, Unpack

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Column, Table
from rich.text import Text

from ._logging import safe_url
from .client import GamifyClient
from .errors import APIStatusError
from .hooks import Query, QueryOptions
from .models import (
    Batch,
    BatchProgressReport,
    Dashboard,
    Designation,
    ProgressMetrics,
    Task,
    UserBatchProgress,
)

__all__ = [
    "WATCH_KINDS",
    "KeyReader",
    "StopCondition",
    "WatchKind",
    "WatchTarget",
    "data_table",
    "display_name",
    "open_client",
    "summarize",
    "watch",
]

WatchKind: TypeAlias = Literal["dashboard", "tasks", "batches", "batch-progress", "user-progress"]

WATCH_KINDS: dict[WatchKind, tuple[str, ...]] = {
    "dashboard": (),
    "tasks": (),
    "batches": (),
    "batch-progress": ("BATCH_ID",),
    "user-progress": ("USER_ID", "BATCH_ID"),
}
"""Every query ``gamify watch`` can show, and the ids each one takes."""

StopCondition: TypeAlias = threading.Event | Callable[[Query[Any]], bool]
"""When :func:`watch` returns: once the event is set, or once the predicate holds for the
query (it is asked after every change)."""


@dataclass(frozen=True, slots=True)
class WatchTarget:
    """Which query to watch: one of :data:`WATCH_KINDS` and the ids it takes.

    Raises ValueError for an unknown kind or the wrong number of ids.
    """

    kind: WatchKind
    ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = WATCH_KINDS.get(self.kind)
        if names is None:
            raise ValueError(f"unknown view {self.kind!r}: choose from {', '.join(WATCH_KINDS)}")
        if len(self.ids) != len(names):
            takes = " ".join(names) if names else "no id"
            raise ValueError(f"{self.kind} takes {takes}, got {len(self.ids)} id(s)")

    @property
    def title(self) -> str:
        """The kind and its ids, as typed on the command line."""
        return " ".join((self.kind, *self.ids))

    def open(self, client: GamifyClient, **options: Unpack[QueryOptions]) -> Query[Any]:
        """Open the query on ``client`` (the caller closes it)."""
        if self.kind == "dashboard":
            return client.use_dashboard_data(**options)
        if self.kind == "tasks":
            return client.use_tasks_data(**options)
        if self.kind == "batches":
            return client.use_batches_data(**options)
        if self.kind == "batch-progress":
            return client.use_batch_progress_data(self.ids[0], **options)
        return client.use_user_progress_data(self.ids[0], self.ids[1], **options)


def open_client(
    *,
    base_url: str | None = None,
    token: str | None = None,
    email: str | None = None,
    password: str | None = None,
    designation: Designation | None = None,
    admin_id: str | None = None,
) -> GamifyClient:
    """A client for ``base_url`` (default: ``GAMIFY_BASE_URL``, then localhost:3001) that acts
    with ``token``, or logs in with ``email`` and ``password`` as ``designation`` (default:
    ``user`` when ``admin_id`` is given, else ``admin``). Raises ValueError for contradictory
    credentials and the typed error when the login fails."""
    if token is not None and email is not None:
        raise ValueError("give --token or --email and --password, not both")
    if (email is None) != (password is None):
        raise ValueError("--email and --password go together")
    client = GamifyClient(base_url=base_url, token=token)
    if email is not None and password is not None:
        role: Designation = designation or ("user" if admin_id is not None else "admin")
        try:
            client.login(email=email, password=password, designation=role, admin_id=admin_id)
        except BaseException:
            client.close()
            raise
    return client


# What the data says, in one line or in one table


def display_name(reference: object) -> str:
    """The name of a referenced document (a batch's, a task's, a user's), or its id."""
    for attribute in ("name", "username"):
        value = getattr(reference, attribute, None)
        if isinstance(value, str) and value:
            return value
    if isinstance(reference, str):
        return reference
    identifier = getattr(reference, "id", None)
    return identifier if isinstance(identifier, str) else "?"


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def _percent(metrics: ProgressMetrics) -> str:
    return f"{metrics.completion_percentage:.0f}%"


def _done(metrics: ProgressMetrics) -> str:
    return f"{metrics.completed_tasks}/{metrics.total_tasks} ({_percent(metrics)})"


def summarize(data: object) -> str:
    """One line that says what a query's data shows (XP, streaks, completion, counts)."""
    if data is None:
        return "no data yet"
    if isinstance(data, Dashboard):
        stats = data.overall_stats
        batches = ", ".join(
            f"{display_name(progress.batch_id)} {_done(progress.progress_metrics)}"
            for progress in data.batch_progress
        )
        return f"{stats.user_total_xp} XP, streak {stats.current_streak}, {batches or 'no batch'}"
    if isinstance(data, BatchProgressReport):
        students = ", ".join(
            f"{display_name(progress.user_id)} {_done(progress.progress_metrics)}"
            for progress in data.students_progress
        )
        return f"{display_name(data.batch)}: {students or 'no students'}"
    if isinstance(data, UserBatchProgress):
        metrics = data.progress_metrics
        return f"{_done(metrics)} done, {metrics.total_points_earned} points"
    if isinstance(data, list):
        tasks = [item for item in data if isinstance(item, Task)]
        batches_seen = [item for item in data if isinstance(item, Batch)]
        if tasks:
            completions = sum(task.completed_count for task in tasks)
            return f"{_count(len(tasks), 'task')}, {_count(completions, 'completion')}"
        if batches_seen:
            named = ", ".join(
                f"{display_name(batch)} ({_count(len(batch.users), 'student')})"
                for batch in batches_seen
            )
            return f"{_count(len(batches_seen), 'batch', 'batches')}: {named}"
        return "none"
    return type(data).__name__


def _table(*columns: str, title: str | None = None) -> Table:
    headers = [
        Column(name, justify="left" if index == 0 else "right")
        for index, name in enumerate(columns)
    ]
    return Table(*headers, title=title, box=box.SIMPLE_HEAD, title_justify="left")


def data_table(data: object) -> RenderableType:
    """A rich table of a query's data (a dashboard, tasks, batches or progress)."""
    if isinstance(data, Dashboard):
        stats = data.overall_stats
        table = _table(
            "batch",
            "done",
            "completion",
            "points",
            title=f"{display_name(data.user_profile)} · {stats.user_total_xp} XP · "
            f"streak {stats.current_streak}",
        )
        for progress in data.batch_progress:
            metrics = progress.progress_metrics
            table.add_row(
                display_name(progress.batch_id),
                f"{metrics.completed_tasks}/{metrics.total_tasks}",
                _percent(metrics),
                str(metrics.total_points_earned),
            )
        return table
    if isinstance(data, BatchProgressReport):
        table = _table("student", "done", "completion", "points", title=display_name(data.batch))
        for progress in data.students_progress:
            metrics = progress.progress_metrics
            table.add_row(
                display_name(progress.user_id),
                f"{metrics.completed_tasks}/{metrics.total_tasks}",
                _percent(metrics),
                str(metrics.total_points_earned),
            )
        return table
    if isinstance(data, UserBatchProgress):
        table = _table("task", "status", "points", "grade", title=summarize(data))
        for entry in data.task_progress:
            grade = "-" if entry.grade is None else f"{entry.grade:g}"
            table.add_row(
                display_name(entry.task_id), entry.status, str(entry.points_earned), grade
            )
        return table
    if isinstance(data, list) and all(isinstance(item, Task) for item in data):
        table = _table(
            "task", "batch", "difficulty", "points", "completions", title=summarize(data)
        )
        for task in data:
            table.add_row(
                display_name(task),
                "-" if task.batch is None else display_name(task.batch),
                task.difficulty or "-",
                str(task.points),
                str(task.completed_count),
            )
        return table
    if isinstance(data, list) and all(isinstance(item, Batch) for item in data):
        table = _table("batch", "status", "students", "tasks", "mentor", title=summarize(data))
        for batch in data:
            table.add_row(
                display_name(batch),
                batch.status or "-",
                str(len(batch.users)),
                str(len(batch.tasks)),
                "-" if batch.mentor is None else display_name(batch.mentor),
            )
        return table
    return Text(summarize(data))


# Keys


class KeyReader:
    """Hands each key typed on a terminal to ``on_key``, from a daemon thread, while the block
    runs. The terminal is in cbreak mode meanwhile (keys arrive one at a time and are not
    echoed; Ctrl-C still interrupts) and is restored at the end. Where ``stream`` is not a
    terminal, or there is no ``termios`` (Windows), it reads nothing and :attr:`active` is
    False."""

    def __init__(self, stream: TextIO, on_key: Callable[[str], None]) -> None:
        self._stream = stream
        self._on_key = on_key
        self._thread: threading.Thread | None = None
        self._saved: list[Any] | None = None
        self._wake: tuple[int, int] | None = None

    @property
    def active(self) -> bool:
        """Whether keys are being read."""
        return self._thread is not None

    def __enter__(self) -> Self:
        try:
            import termios
            import tty
        except ImportError:
            return self
        if not self._stream.isatty():
            return self
        fd = self._stream.fileno()
        self._saved = termios.tcgetattr(fd)
        # TCSANOW keeps the keys typed while the first fetch ran.
        tty.setcbreak(fd, termios.TCSANOW)
        # A pipe to wake the reader out of select() at the end: no timeout to poll with.
        self._wake = os.pipe()
        self._thread = threading.Thread(
            target=self._read, args=(fd, self._wake[0]), name="gamify-watch-keys", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._thread is None or self._wake is None or self._saved is None:
            return
        import termios

        os.write(self._wake[1], b"x")
        self._thread.join()
        for end in self._wake:
            os.close(end)
        termios.tcsetattr(self._stream.fileno(), termios.TCSADRAIN, self._saved)
        self._thread = self._wake = self._saved = None

    def _read(self, fd: int, wake: int) -> None:
        while True:
            try:
                ready, _, _ = select.select([fd, wake], [], [])
                chunk = b"" if wake in ready else os.read(fd, 64)
            except OSError:
                # The terminal went away: there is nothing more to read.
                return
            if not chunk:
                return
            for key in chunk.decode(errors="ignore"):
                self._on_key(key)


# Showing the query


def _clock(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone().strftime("%H:%M:%S")


class _Display:
    """Shows each new state of the query once, whichever thread reports it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._shown: tuple[object, bool, object] | None = None

    def show(self, query: Query[Any]) -> None:
        data, loading, error = query.data, query.loading, query.error
        with self._lock:
            shown = self._shown
            if shown is not None and data is shown[0] and loading == shown[1] and error is shown[2]:
                return
            self._shown = (data, loading, error)
            self._draw(data, loading, error, query.last_updated)

    def _draw(
        self, data: object, loading: bool, error: Exception | None, updated: datetime | None
    ) -> None:
        """Under the lock: show a new state."""
        raise NotImplementedError

    def running(self) -> AbstractContextManager[object]:
        """The block during which the display is on."""
        return nullcontext()


class _LineDisplay(_Display):
    """One line per change: the time, the target and what its data says."""

    def __init__(self, out: TextIO, target: WatchTarget) -> None:
        super().__init__()
        self._out = out
        self._target = target

    def _draw(
        self, data: object, loading: bool, error: Exception | None, updated: datetime | None
    ) -> None:
        if error is not None:
            status = f" [error: {error}]"
        elif loading:
            status = " [loading]"
        else:
            status = ""
        stamp = datetime.now().strftime("%H:%M:%S")
        print(
            f"{stamp} {self._target.title}: {summarize(data)}{status}", file=self._out, flush=True
        )


class _LiveDisplay(_Display):
    """A rich Live view of the query, redrawn a few times a second from the last state its
    callbacks reported."""

    def __init__(
        self, console: Console, target: WatchTarget, header: str, query: Query[Any], keys: bool
    ) -> None:
        super().__init__()
        self._console = console
        self._target = target
        self._header = header
        self._query = query
        self._keys = keys
        self._state: tuple[object, bool, Exception | None, datetime | None] = (
            None,
            True,
            None,
            None,
        )
        self._updates = 0

    def _draw(
        self, data: object, loading: bool, error: Exception | None, updated: datetime | None
    ) -> None:
        self._state = (data, loading, error, updated)
        self._updates += 1

    @contextmanager
    def running(self) -> Iterator[None]:
        with Live(get_renderable=self._render, console=self._console, refresh_per_second=4):
            yield

    def _render(self) -> RenderableType:
        with self._lock:
            data, loading, error, updated = self._state
            updates = self._updates
        header = Text.assemble(
            ("gamify watch ", "bold"), (self._target.title, "bold cyan"), f"  ·  {self._header}"
        )
        if error is not None:
            status = Text(f"error: {error} (showing the data of {_clock(updated)})", "red")
        elif loading:
            status = Text("loading…", "yellow")
        else:
            refreshing = " · refreshing…" if self._query.fetching else ""
            status = Text(f"updated {_clock(updated)} · {_count(updates, 'update')}{refreshing}")
        keys = "r refetch · q quit · Ctrl-C stop" if self._keys else "Ctrl-C stop"
        body = data_table(data) if data is not None else Text("")
        return Group(header, status, body, Text(keys, "dim"))


def _polling(interval: float | None) -> str:
    return "not polling" if interval is None else f"polling every {interval:g} s"


def _start_push(client: GamifyClient, interval: float | None) -> str:
    """Follow the writes the backend pushes, if it can; say how the view stays fresh."""
    polling = _polling(interval)
    if client.token is None:
        return f"{polling} (the event stream needs a token)"
    try:
        listener = client.listen()
    except ImportError:
        return f"{polling} (no push: the push extra is not installed)"
    except APIStatusError as error:
        return f"{polling} (the event stream refused the token: {error.status_code})"
    if listener.mode == "polling":
        return f"{polling} (the backend has no event stream)"
    return f"pushed writes + {polling}"


def watch(
    client: GamifyClient,
    target: WatchTarget,
    *,
    out: TextIO | None = None,
    stop: StopCondition | None = None,
    interval: float | None = 5.0,
    live: bool = False,
    console: Console | None = None,
    keys: TextIO | None = None,
    push: bool = True,
    first_fetch_timeout: float = 30.0,
) -> None:
    """Show ``target``'s query of ``client`` on ``out`` (default stdout) until ``stop`` holds
    or Ctrl-C.

    ``live`` draws a rich Live table (on ``console``, default one writing to ``out``); else
    one line per change is printed. The query polls every ``interval`` seconds (None: never)
    and, with ``push``, also follows the writes the backend pushes when it has an event
    stream. ``keys`` is the terminal to read ``r`` (refetch) and ``q`` (quit) from, or None.
    Raises the first fetch's typed error, or TimeoutError, when no data arrives within
    ``first_fetch_timeout`` seconds.
    """
    stream = sys.stdout if out is None else out
    stopped = stop if isinstance(stop, threading.Event) else threading.Event()
    until = None if stop is None or isinstance(stop, threading.Event) else stop
    options: QueryOptions = {"refetch_interval": interval, "refetch_in_background": True}
    with target.open(client, **options) as query:
        query.wait_for(timeout=first_fetch_timeout)
        freshness = _start_push(client, interval) if push else _polling(interval)

        def pressed(key: str) -> None:
            if key.lower() == "r":
                query.invalidate()
            elif key.lower() == "q":
                stopped.set()

        with KeyReader(keys, pressed) if keys is not None else nullcontext() as reader:
            display: _Display
            if live:
                display = _LiveDisplay(
                    console or Console(file=stream),
                    target,
                    f"{safe_url(client.base_url)}  ·  {freshness}",
                    query,
                    keys=isinstance(reader, KeyReader) and reader.active,
                )
            else:
                display = _LineDisplay(stream, target)

            def changed(current: Query[Any]) -> None:
                display.show(current)
                if until is not None and until(current):
                    stopped.set()

            unsubscribe = query.subscribe(changed)
            # The data that landed before the subscription is shown too.
            changed(query)
            try:
                with display.running(), suppress(KeyboardInterrupt):
                    stopped.wait()
            finally:
                unsubscribe()
