"""The demo (demo/): the scripted day ends by itself, every write reaches every view it
affects (proved by the summary, from the queries' callbacks), the conflict scene shows a
prediction, its conflict and the server's data, the live view draws on a terminal, and a view
that misses a write (or a conflict that does not come) makes the demo fail."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from gamify_client import demo
from gamify_client.demo import DemoSummary, _script, main, run
from gamify_client.demo._board import Board, describe_event, renames
from gamify_client.demo._live import CONFLICT_SECONDS, LiveBoard
from gamify_client.demo._session import View
from gamify_client.demo._tracker import (
    EventExpectation,
    Expectation,
    MutationOutcome,
    Sight,
    UpdateTracker,
)
from gamify_client.events import Event
from gamify_client.keys import CacheKey
from gamify_client.models import Task
from gamify_client.optimistic import OptimisticConflict
from gamify_client.realtime import Rule
from gamify_client.resources import batches as batches_resource
from gamify_client.testing import DemoData, GamifyBackend

# The summary's lines (the lines during the run start with a check mark instead).
OUTCOME = re.compile(
    r"^  (?P<label>[^✓✗].+) → (?P<updated>\d+)/(?P<affected>\d+) views updated in "
)
LABELS = [
    "task created",
    "Uma submits (task route)",
    "Leo completes (progress route)",
    "batch created",
    "Ivy enrolled",
    "Ivy submits (task route)",
    "Uma completes (progress route)",
    "Leo submits offline, replayed",
    "Ada and Max rename a task: conflict",
]


def outcomes(output: str) -> dict[str, tuple[int, int]]:
    """The summary's ``label → n/m views updated in ...`` lines, by label."""
    found = {}
    for line in output.splitlines():
        match = OUTCOME.match(line)
        if match:
            found[match["label"]] = (int(match["updated"]), int(match["affected"]))
    return found


def assert_every_view_updated(output: str) -> None:
    reached = outcomes(output)
    assert list(reached) == LABELS
    assert all(updated == affected > 0 for updated, affected in reached.values()), reached
    assert reached["task created"] == (7, 7)
    assert reached["Ivy enrolled"] == (2, 2)
    assert reached["Ada and Max rename a task: conflict"] == (3, 3)
    assert "Every write reached every view it affects:" in output
    assert re.search(
        r"Ada and Max rename a task: conflict → .* ms, optimisticConflict seen", output
    )
    assert "9 mutations" in output
    assert "Median time from a mutation's response until every affected view showed it:" in output


def test_plain_run_shows_every_view_updated_after_every_write(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(["--no-live", "--speed", "0"])

    out = capsys.readouterr().out
    assert status == 0
    assert_every_view_updated(out)
    assert "Dashboards at the end of the day:" in out
    assert "  Uma · dashboard: 350 XP, streak 1, Demo Cohort 2/5 (40%)" in out
    assert "  Ivy · dashboard: 150 XP, streak 1" in out
    assert "[7/9] Uma completes" in out
    assert "event taskCreated: Ship a release (150 XP), 3 users affected" in out
    # The offline scene: the submission waits in Leo's outbox, then is replayed and applied.
    scene = out[out.index("[8/9] Leo goes offline") : out.index("[9/9]")]
    assert scene.index("event mutationQueued: Leo's tasks.submit") < scene.index(
        "event taskCompleted: Leo +150 XP → 250"
    )
    assert "event mutationApplied: Leo's tasks.submit" in scene
    assert "  Leo · dashboard: 250 XP, streak 1, Demo Cohort 2/5 (40%)" in out


@pytest.fixture
def backend_kept(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The demo's backend, made to keep its seed and, as it closes, every task's name (read
    through its routes as the admin): the server's data the views must end on."""
    kept: dict[str, Any] = {}

    class KeptBackend(GamifyBackend):
        def seed_demo(self) -> DemoData:
            kept["seed"] = super().seed_demo()
            return kept["seed"]

        def close(self) -> None:
            token = self.token_for(kept["seed"].admin.id)
            answer = self.handle(
                "GET", "/api/task/all", headers={"authorization": f"Bearer {token}"}
            )
            kept["names"] = {task["_id"]: task["name"] for task in json.loads(answer.body)}
            super().close()

    monkeypatch.setattr(demo, "GamifyBackend", KeptBackend)
    return kept


RENAMED = re.compile(
    r"^  (?P<who>\w+) · task board: .*; renamed (?P<rename>.+?)  \((?P<notes>.*)\)$"
)


def test_conflict_scene_shows_the_prediction_the_conflict_and_the_servers_data(
    backend_kept: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["--no-live", "--speed", "0"])

    out = capsys.readouterr().out
    assert status == 0
    scene = out[out.index("[9/9] Ada renames") :]
    churn = backend_kept["seed"].task_ids[3]
    # Ada's edit was replayed after Max's, so it is the server's: last writer wins.
    assert backend_kept["names"][churn] == _script.ADMIN_RENAME == "Churn analysis"
    for who in ("Uma", "Leo", "Ivy"):
        shown = [m for line in scene.splitlines() if (m := RENAMED.match(line)) and m["who"] == who]
        assert [m["rename"] for m in shown] == [
            '"Churn case study" → "Churn analysis"',
            '"Churn analysis" → "Why customers leave"',
            f'"Why customers leave" → "{backend_kept["names"][churn]}"',
        ]
        # Marked optimistic while it was only Ada's prediction, then the server's data.
        assert ["optimistic" in m["notes"] for m in shown] == [True, False, False]
    events = [
        "event mutationQueued: Ada's tasks.edit",
        'event dataRefresh: task "Why customers leave"',
        "event optimisticConflict: fetched data for tasks contradicts the pending tasks.edit; "
        "the server's data wins",
        "event mutationApplied: Ada's tasks.edit",
        "✓ Ada and Max rename a task: conflict → 3/3 views updated in ",
    ]
    positions = [scene.index(event) for event in events]
    assert positions == sorted(positions)
    assert scene.count("event optimisticConflict") == 1


def test_a_conflict_that_does_not_come_fails_the_demo(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Max gives the task the very name Ada predicted: the refetch agrees with her pending
    # prediction, so by the rule there is no conflict, and the scene must say it missed one.
    monkeypatch.setattr(_script, "MENTOR_RENAME", _script.ADMIN_RENAME)
    monkeypatch.setattr(_script, "_CONFLICT_DEADLINE", 0.2)
    monkeypatch.setattr(demo, "VIEW_DEADLINE", 1.0)

    status = run(speed=0)

    out = capsys.readouterr().out
    assert status == 1
    assert "event optimisticConflict" not in out
    summary = out[out.index("writes did not reach every view:") :]
    line = next(text for text in summary.splitlines() if "rename a task: conflict →" in text)
    assert line.endswith(", optimisticConflict")
    assert "1 of 9 writes did not reach every view:" in out
    assert outcomes(out)["Leo submits offline, replayed"] == (5, 5)


def test_runs_as_a_module_in_a_subprocess() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "gamify_client.demo", "--no-live", "--speed", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert finished.returncode == 0, finished.stderr
    assert_every_view_updated(finished.stdout)


def test_live_view_draws_on_a_terminal_console() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120, height=50, color_system=None)

    status = run(speed=0, live=True, console=console)

    drawn = screen.getvalue()
    assert status == 0
    assert_every_view_updated(drawn)
    assert "Ada · batch progress" in drawn
    assert "Uma · 350 XP · streak 1" in drawn
    assert "task board: 5 tasks, 5 completions" in drawn
    assert "9/9  Ada renames" in drawn
    # The conflict came less than CONFLICT_SECONDS before the last frame.
    assert "Uma · 350 XP · streak 1 · conflict" in drawn
    assert 'renamed "Why customers leave" →' in drawn
    # The final frame shows the views, so the summary does not list them again.
    assert "Dashboards at the end of the day:" not in drawn


def test_a_view_that_misses_a_write_fails_the_demo(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A broken sync rule: creating a batch no longer refreshes anybody's batches.
    monkeypatch.setattr(batches_resource.CREATE, "rule", Rule(Event.BATCH_CREATED, lambda _c: []))
    monkeypatch.setattr(demo, "VIEW_DEADLINE", 1.0)

    status = run(speed=0)

    out = capsys.readouterr().out
    assert status == 1
    assert "  batch created → 0/1 views updated; missed: Ada · batches" in out
    assert "writes did not reach every view:" in out
    assert outcomes(out)["task created"] == (7, 7)


def test_speed_must_not_be_negative(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--speed", "-1"])

    assert exited.value.code == 2
    assert "a speed factor is a number >= 0" in capsys.readouterr().err


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeView:
    """What the tracker needs of a view: a name (the query is only used to wait)."""

    def __init__(self, name: str) -> None:
        self.name = name


def test_tracker_times_from_the_latest_answer_to_the_last_view() -> None:
    clock = FakeClock()
    tracker = UpdateTracker(clock)
    first, second = FakeView("first"), FakeView("second")
    tracker.begin(
        "write",
        [
            Expectation(first, lambda data: data == 1),  # type: ignore[arg-type]
            Expectation(second, lambda data: data == 2),  # type: ignore[arg-type]
        ],
    )
    clock.now = 10.0
    tracker.write_responded()
    clock.now = 10.001
    assert tracker.view_changed(first, 1) == pytest.approx(0.001)  # type: ignore[arg-type]
    clock.now = 10.002
    tracker.view_changed(second, 0)  # type: ignore[arg-type]
    clock.now = 10.5
    tracker.write_responded()  # a second write of the scene: the views settle after it
    clock.now = 10.503
    assert tracker.view_changed(second, 2) == pytest.approx(0.003)  # type: ignore[arg-type]
    clock.now = 10.509
    tracker.view_changed(second, 2)  # type: ignore[arg-type]

    outcome = tracker.finish()

    assert outcome.complete
    assert outcome.latency == pytest.approx(0.003)
    assert outcome.line() == "write → 2/2 views updated in 3.0 ms"


def begin_scene(tracker: UpdateTracker, board: FakeView) -> None:
    """A scene like the conflict's: predicted (marked), theirs (the server's), then settled
    (the server's), and the conflict event."""
    tracker.begin(
        "scene",
        [
            Expectation(
                board,  # type: ignore[arg-type]
                lambda data: data == "settled",
                optimistic=False,
                first=(
                    Sight(lambda data: data == "predicted", optimistic=True),
                    Sight(lambda data: data == "theirs", optimistic=False),
                ),
            ),
            EventExpectation(Event.OPTIMISTIC_CONFLICT, lambda payload: payload == "tasks"),
        ],
    )


def show(tracker: UpdateTracker, board: FakeView, *sights: tuple[str, bool]) -> None:
    for data, optimistic in sights:
        tracker.view_changed(board, data, optimistic)  # type: ignore[arg-type]


def test_tracker_needs_each_sight_in_order_with_its_mark_and_the_events() -> None:
    clock = FakeClock()
    tracker = UpdateTracker(clock)
    board = FakeView("board")
    begin_scene(tracker, board)
    show(tracker, board, ("predicted", True))
    clock.now = 1.0
    tracker.write_responded()
    tracker.event_emitted("optimisticConflict", "tasks")
    show(tracker, board, ("theirs", False))
    clock.now = 2.0
    tracker.write_responded()  # the replayed write's answer: the time counts from here
    clock.now = 2.004
    show(tracker, board, ("settled", False))

    outcome = tracker.finish()

    assert outcome.complete
    assert outcome.events_seen == ("optimisticConflict",)
    assert outcome.latency == pytest.approx(0.004)
    assert outcome.line() == "scene → 1/1 views updated in 4.0 ms, optimisticConflict seen"


@pytest.mark.parametrize(
    "sights",
    [
        [("settled", False)],  # never predicted
        [("predicted", False), ("theirs", False), ("settled", False)],  # the mark missing
        [("predicted", True), ("settled", False)],  # their data never shown
        [("predicted", True), ("theirs", True), ("settled", False)],  # theirs still marked
        [("predicted", True), ("theirs", False), ("settled", True)],  # the mark never cleared
        [("theirs", False), ("predicted", True), ("settled", False)],  # out of order
    ],
)
def test_tracker_misses_a_view_that_skips_a_sight(sights: list[tuple[str, bool]]) -> None:
    tracker = UpdateTracker(FakeClock())
    board = FakeView("board")
    begin_scene(tracker, board)
    tracker.event_emitted("optimisticConflict", "tasks")
    tracker.write_responded()
    show(tracker, board, *sights)

    outcome = tracker.finish()

    assert not outcome.complete
    assert outcome.line() == "scene → 0/1 views updated; missed: board"


def test_tracker_misses_an_event_that_did_not_come() -> None:
    tracker = UpdateTracker(FakeClock())
    board = FakeView("board")
    begin_scene(tracker, board)
    tracker.write_responded()
    tracker.event_emitted(Event.OPTIMISTIC_ROLLBACK, "tasks")  # another event
    tracker.event_emitted(Event.OPTIMISTIC_CONFLICT, "batches")  # another payload
    show(tracker, board, ("predicted", True), ("theirs", False), ("settled", False))

    outcome = tracker.finish()

    assert not outcome.complete
    assert outcome.latency is None
    assert outcome.line() == "scene → 1/1 views updated; missed: optimisticConflict"


def test_tracker_reports_the_views_that_missed() -> None:
    tracker = UpdateTracker(FakeClock())
    seen, missed = FakeView("seen"), FakeView("missed")
    tracker.begin(
        "write",
        [
            Expectation(seen, lambda data: True),  # type: ignore[arg-type]
            Expectation(missed, lambda data: True),  # type: ignore[arg-type]
        ],
    )
    tracker.write_responded()
    tracker.view_changed(seen, "data")  # type: ignore[arg-type]

    outcome = tracker.finish()

    assert not outcome.complete
    assert outcome.latency is None
    assert outcome.line() == "write → 1/2 views updated; missed: missed"


def test_summary_counts_and_median() -> None:
    summary = DemoSummary(
        outcomes=(
            MutationOutcome("a", ("v",), ("v",), 0.001),
            MutationOutcome("b", ("v",), ("v",), 0.005),
            MutationOutcome("c", ("v", "w"), ("v", "w"), 0.002),
            MutationOutcome("d", (), (), None, error="the write failed: 500"),
        ),
        refetches=12,
        deduplicated=4,
        duration=1.25,
        views=("Uma · dashboard: 0 XP",),
    )

    lines = summary.lines()

    assert not summary.all_updated
    assert summary.median_latency == pytest.approx(0.002)
    assert lines[:2] == ["Dashboards at the end of the day:", "  Uma · dashboard: 0 XP"]
    assert "1 of 4 writes did not reach every view:" in lines
    assert "  d → the write failed: 500" in lines
    assert "Done in 1.2 s: 4 mutations, 12 refetches, 4 requests saved by deduplication." in lines
    assert lines[-1].endswith(": 2.0 ms.")
    assert summary.lines(with_views=False)[0] == "1 of 4 writes did not reach every view:"


class FakeQuery:
    """What the board and the live view read of a query: its key and its optimistic mark."""

    def __init__(self, key: object, optimistic: bool = False) -> None:
        self.key = key
        self.is_optimistic = optimistic


def fake_view(owner: str, what: str, key: object, optimistic: bool = False) -> View:
    return View(owner, what, FakeQuery(key, optimistic))  # type: ignore[arg-type]


def tasks(name: str) -> list[Task]:
    return [
        Task.model_validate({"_id": "a" * 24, "name": "Landing page"}),
        Task.model_validate({"_id": "b" * 24, "name": name}),
    ]


def test_renames_name_each_task_whose_name_changed() -> None:
    assert renames(tasks("Churn case study"), tasks("Churn analysis")) == [
        '"Churn case study" → "Churn analysis"'
    ]
    assert renames(tasks("Churn analysis"), tasks("Churn analysis")) == []
    assert renames(None, tasks("Churn analysis")) == []
    assert renames(tasks("Churn"), tasks("Churn")[:1]) == []


def test_describe_a_conflict_and_a_task_event() -> None:
    conflict = OptimisticConflict("tasks.edit", CacheKey.TASKS)

    assert describe_event(Event.OPTIMISTIC_CONFLICT, conflict, {}) == (
        "optimisticConflict: fetched data for tasks contradicts the pending tasks.edit; "
        "the server's data wins"
    )
    assert describe_event(Event.DATA_REFRESH, tasks("Churn")[1], {}) == 'dataRefresh: task "Churn"'


def test_board_prints_renames_and_the_optimistic_mark() -> None:
    lines: list[str] = []
    view = fake_view("Uma", "task board", CacheKey.TASKS)
    board = Board([view], {}, lines.append)

    board.view_changed(view, tasks("Churn case study"), False, None)
    board.view_changed(view, tasks("Churn analysis"), True, None)
    board.view_changed(view, tasks("Why customers leave"), False, 0.0042)
    board.view_changed(view, [*tasks("Why customers leave")], False, 0.005)

    assert lines == [
        "  Uma · task board: 2 tasks, 0 completions",
        '  Uma · task board: 2 tasks, 0 completions; renamed "Churn case study" → "Churn analysis"'
        "  (optimistic, not confirmed by the server yet)",
        '  Uma · task board: 2 tasks, 0 completions; renamed "Churn analysis" → '
        '"Why customers leave"  (+4.2 ms)',
        "  Uma · task board: 2 tasks, 0 completions  (+5.0 ms, new data, the same on screen)",
    ]
    assert board.snapshot().views[view].renamed == '"Churn analysis" → "Why customers leave"'


def draw(live: LiveBoard) -> str:
    """The live view's frame, its words joined by single spaces (captions wrap)."""
    console = Console(file=io.StringIO(), width=140, color_system=None)
    with console.capture() as captured:
        console.print(live.render())
    return " ".join(captured.get().split())


def test_live_view_marks_optimistic_data_then_a_lost_conflict() -> None:
    clock = FakeClock()
    board_query = FakeQuery(CacheKey.TASKS, optimistic=True)
    dashboard = fake_view("Uma", "dashboard", (CacheKey.DASHBOARD, "u"))
    task_board = View("Uma", "task board", board_query)  # type: ignore[arg-type]
    admin = SimpleNamespace(
        progress=fake_view("Ada", "batch progress", CacheKey.BATCH_PROGRESS),
        batches=fake_view("Ada", "batches", CacheKey.BATCHES),
    )
    learner = SimpleNamespace(name="Uma", dashboard=dashboard, board=task_board)
    views = [admin.progress, admin.batches, dashboard, task_board]
    board = Board(views, {}, clock=clock)
    session = SimpleNamespace(admin=admin, learners=[learner])
    live = LiveBoard(board, session, Console(file=io.StringIO()), clock=clock)  # type: ignore[arg-type]
    board.view_changed(task_board, tasks("Churn case study"), False, None)
    board.view_changed(task_board, tasks("Churn analysis"), True, None)

    drawn = draw(live)
    assert "Uma · dashboard · optimistic" in drawn
    assert 'renamed "Churn case study" → "Churn analysis"' in drawn

    board_query.is_optimistic = False
    clock.now = 5.0
    board.view_changed(task_board, tasks("Why customers leave"), False, 0.001)
    board.event(Event.OPTIMISTIC_CONFLICT, OptimisticConflict("tasks.edit", CacheKey.TASKS))
    clock.now = 5.0 + CONFLICT_SECONDS / 2
    drawn = draw(live)
    assert "Uma · dashboard · conflict" in drawn
    assert 'renamed "Churn analysis" → "Why customers leave"' in drawn

    clock.now = 5.0 + CONFLICT_SECONDS
    drawn = draw(live)
    assert "conflict" not in drawn.split("╭")[0]
    assert "optimistic" not in drawn.split("╭")[0]


NAMES = st.sampled_from(["Churn case study", "Churn analysis", "Why customers leave", ""])


@given(st.lists(st.tuples(NAMES, NAMES), max_size=6))
def test_renames_lists_exactly_the_tasks_whose_name_changed(pairs: list[tuple[str, str]]) -> None:
    before = [
        Task.model_validate({"_id": f"{i:024x}", "name": old}) for i, (old, _) in enumerate(pairs)
    ]
    after = [
        Task.model_validate({"_id": f"{i:024x}", "name": new}) for i, (_, new) in enumerate(pairs)
    ]

    assert renames(before, after) == [f'"{old}" → "{new}"' for old, new in pairs if old != new]


SIGHTINGS = st.tuples(st.sampled_from(["predicted", "theirs", "settled"]), st.booleans())
SCENE = [("predicted", True), ("theirs", False), ("settled", False)]


def shows_in_order(callbacks: list[tuple[str, bool]], wanted: list[tuple[str, bool]]) -> bool:
    """Whether ``wanted`` is a subsequence of ``callbacks``."""
    remaining = iter(callbacks)
    return all(sighting in remaining for sighting in wanted)


@given(st.lists(SIGHTINGS, max_size=8))
def test_tracker_counts_a_view_once_it_showed_every_sight_in_order(
    callbacks: list[tuple[str, bool]],
) -> None:
    tracker = UpdateTracker(FakeClock())
    board = FakeView("board")
    begin_scene(tracker, board)
    tracker.event_emitted(Event.OPTIMISTIC_CONFLICT, "tasks")
    show(tracker, board, *callbacks)

    assert tracker.finish().complete == shows_in_order(callbacks, SCENE)
