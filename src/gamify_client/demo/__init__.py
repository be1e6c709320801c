"""A scripted day on the reference backend, watched live: what ``make demo`` runs.

It serves :class:`~gamify_client.testing.GamifyBackend` on a loopback port, seeds it, and
logs in an admin, the batch's mentor and three users through the API, each with a client of
their own. The admin and the users keep live queries open (the admin: the batch's progress
and their batches; each user: their dashboard and the task board). Then the day plays: the
admin creates a task, users submit through both submit routes, the admin opens a second batch
and enrols a user, a user goes offline, submits (the write waits in their client's outbox) and
comes back (the outbox replays it), and the admin renames a task offline while the mentor
renames it online (a conflict: the boards drop her prediction for the server's data, then
settle on the edit that reaches the server last); the screen follows every view as its query
calls back. The summary says, for every write, whether every view it affects showed it (and
the events it must cause came) and how fast; the exit status is 1 if one did not.

``python -m gamify_client.demo`` and ``gamify demo`` run :func:`main`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext, suppress
from functools import partial
from typing import Any, TextIO

from rich.console import Console

from ..errors import GamifyError
from ..refresh import CacheStats
from ..testing import DEMO_PASSWORD, DemoData, GamifyBackend
from ..watch import summarize
from ._board import Board
from ._live import LiveBoard
from ._script import DemoDay, Step
from ._session import DemoSession, View
from ._summary import DemoSummary
from ._tracker import MutationOutcome, UpdateTracker

__all__ = ["DemoSummary", "main", "run"]

EXIT_OK = 0
EXIT_MISSED = 1
EXIT_INTERRUPTED = 130

FIRST_PAUSE = 1.0
STEP_PAUSE = 1.2
SCENE_PAUSE = 0.7
LAST_PAUSE = 1.5
"""Pauses (seconds, scaled by ``speed``) for a person to follow: before the first step,
after each step, between the moves of a scene of several (the conflict), and before the
summary. Nothing waits on them."""

LOAD_DEADLINE = 15.0
VIEW_DEADLINE = 5.0
"""How long the views get to load, and to show a write (seconds)."""


def _pause(speed: float, seconds: float) -> None:
    if speed > 0:
        time.sleep(speed * seconds)


def _perform(step: Step, tracker: UpdateTracker) -> MutationOutcome:
    """Make one write and wait (up to :data:`VIEW_DEADLINE`) for the views it affects."""
    problem = None
    try:
        expectations = step.expect()
    except RuntimeError as error:
        # An earlier write went wrong; this one still runs, so the day goes on.
        expectations, problem = [], f"the views cannot say what to expect ({error})"
    tracker.begin(step.label, expectations)
    try:
        step.run()
    except GamifyError as error:
        return tracker.finish(error=f"the write failed: {type(error).__name__}: {error}")
    tracker.wait(VIEW_DEADLINE)
    return tracker.finish(error=problem)


def _play(
    session: DemoSession, seed: DemoData, board: Board, tracker: UpdateTracker, speed: float
) -> list[MutationOutcome]:
    """Load every view, then play the day, a step at a time."""
    session.wait_loaded(LOAD_DEADLINE)
    session.settle(VIEW_DEADLINE)
    steps = DemoDay(session, seed, partial(_pause, speed, SCENE_PAUSE)).steps()
    outcomes = []
    _pause(speed, FIRST_PAUSE)
    for number, step in enumerate(steps, 1):
        board.step_started(number, len(steps), step.title)
        outcome = _perform(step, tracker)
        # The refetches the write started finish within the step, so the next step's
        # expectations start from settled views.
        session.settle(VIEW_DEADLINE)
        board.step_finished(outcome)
        outcomes.append(outcome)
        _pause(speed, STEP_PAUSE if number < len(steps) else LAST_PAUSE)
    return outcomes


def _printer(out: TextIO) -> Callable[[str], None]:
    def echo(line: str) -> None:
        print(line, file=out, flush=True)

    return echo


def _screen(
    board: Board, session: DemoSession, console: Console | None
) -> AbstractContextManager[object]:
    return nullcontext() if console is None else LiveBoard(board, session, console)


def _keep_serving(
    board: Board,
    session: DemoSession,
    seed: DemoData,
    base_url: str,
    screen: AbstractContextManager[object],
) -> None:
    """Serve until Ctrl-C; the views follow writes from elsewhere (pushed, or on their polls)."""
    try:
        session.admin.client.listen()
    except ImportError:
        board.note("(the push extra is missing: the views follow other writes on their polls)")
    user = seed.users[0]
    board.note(
        f"Still serving on {base_url} (Ctrl-C to stop). Every password is {DEMO_PASSWORD}; "
        f"users log in with admin id {seed.admin_id}. Try, in another terminal:"
    )
    board.note(
        f"  gamify watch dashboard --base-url {base_url} --email {user.email} "
        f"--password {DEMO_PASSWORD} --admin-id {seed.admin_id}"
    )
    with screen, suppress(KeyboardInterrupt):
        threading.Event().wait()


def _summarize(
    session: DemoSession, outcomes: Sequence[MutationOutcome], before: CacheStats, started: float
) -> DemoSummary:
    after = session.manager.stats()
    return DemoSummary(
        outcomes=tuple(outcomes),
        refetches=after.fetches - before.fetches,
        deduplicated=after.deduplicated_fetches - before.deduplicated_fetches,
        duration=time.perf_counter() - started,
        views=tuple(f"{view.name}: {summarize(view.query.data)}" for view in session.views),
    )


def run(
    *,
    speed: float = 1.0,
    live: bool = False,
    forever: bool = False,
    out: TextIO | None = None,
    console: Console | None = None,
) -> int:
    """Play the demo; returns 0 when every view showed every write, else 1.

    ``speed`` scales the pauses between steps (0: none). ``live`` draws the rich view on
    ``console`` (default: one writing to ``out``); otherwise plain lines go to ``out``
    (default stdout). ``forever`` keeps the backend and the views going after the summary,
    until Ctrl-C.
    """
    stream = sys.stdout if out is None else out
    screen_console = (console or Console(file=stream)) if live else None
    started = time.perf_counter()
    tracker = UpdateTracker()
    with GamifyBackend() as backend, tempfile.TemporaryDirectory(prefix="gamify-demo-") as outboxes:
        seed = backend.seed_demo()
        with (
            backend.serve() as base_url,
            DemoSession(base_url, seed, tracker.write_responded, outbox_dir=outboxes) as session,
        ):
            board = Board(session.views, session.names, None if live else _printer(stream))
            board.set_title(
                f"Gamify demo · reference backend on {base_url} · {len(session.views)} live "
                f"queries in {len(session.names)} clients, one login each"
            )

            def changed(view: View, data: Any, optimistic: bool) -> None:
                since_write = tracker.view_changed(view, data, optimistic)
                board.view_changed(view, data, optimistic, since_write)

            session.subscribe(changed)
            session.events.subscribe_all(tracker.event_emitted)
            session.events.subscribe_all(board.event)
            before = session.manager.stats()
            with _screen(board, session, screen_console):
                outcomes = _play(session, seed, board, tracker, speed)
            summary = _summarize(session, outcomes, before, started)
            # The live view's last frame shows the views already.
            for line in summary.lines(with_views=screen_console is None):
                if screen_console is None:
                    print(line, file=stream, flush=True)
                else:
                    screen_console.print(line, markup=False, highlight=False)
            if forever:
                # Writes from elsewhere have no answer here to be timed from.
                tracker.reset()
                screen = _screen(board, session, screen_console)
                _keep_serving(board, session, seed, base_url, screen)
    return EXIT_OK if summary.all_updated else EXIT_MISSED


def _speed(text: str) -> float:
    factor = float(text)
    if not factor >= 0:
        raise argparse.ArgumentTypeError(f"a speed factor is a number >= 0, got {text}")
    return factor


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gamify_client.demo [--forever] [--no-live] [--speed FACTOR]``."""
    parser = argparse.ArgumentParser(
        prog="gamify demo",
        description="Play a scripted day on a throwaway reference backend and watch every "
        "user's dashboard follow each write live; ends with a summary (exit status 1 if a "
        "view missed a write).",
    )
    parser.add_argument(
        "--forever", action="store_true", help="keep serving after the script, until Ctrl-C"
    )
    parser.add_argument(
        "--no-live",
        action="store_true",
        help="print plain lines instead of the live view (the default when stdout is not a "
        "terminal)",
    )
    parser.add_argument(
        "--speed",
        type=_speed,
        metavar="FACTOR",
        help="scale the pauses between steps: 0 none, 2 twice as long (default: 1 on a "
        "terminal, 0 otherwise)",
    )
    args = parser.parse_args(argv)
    terminal = sys.stdout.isatty()
    speed = args.speed if args.speed is not None else 1.0 if terminal else 0.0
    try:
        return run(speed=speed, live=terminal and not args.no_live, forever=args.forever)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
