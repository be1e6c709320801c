"""The demo (demo/): the scripted day ends by itself, every write reaches every view it
affects (proved by the summary, from the queries' callbacks), the live view draws on a
terminal, and a view that misses a write makes the demo fail."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest
from rich.console import Console

from gamify_client import demo
from gamify_client.demo import DemoSummary, main, run
from gamify_client.demo._tracker import Expectation, MutationOutcome, UpdateTracker
from gamify_client.events import Event
from gamify_client.realtime import Rule
from gamify_client.resources import batches as batches_resource

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
    assert "Every write reached every view it affects:" in output
    assert "8 mutations" in output
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
    assert "[7/8] Uma completes" in out
    assert "event taskCreated: Ship a release (150 XP), 3 users affected" in out
    # The offline scene: the submission waits in Leo's outbox, then is replayed and applied.
    scene = out[out.index("[8/8] Leo goes offline") :]
    assert scene.index("event mutationQueued: Leo's tasks.submit") < scene.index(
        "event taskCompleted: Leo +150 XP → 250"
    )
    assert "event mutationApplied: Leo's tasks.submit" in scene
    assert "  Leo · dashboard: 250 XP, streak 1, Demo Cohort 2/5 (40%)" in out


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
    assert "8/8  Leo goes offline" in drawn
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


def test_tracker_times_from_the_answer_to_the_last_view() -> None:
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
    clock.now = 10.5
    tracker.write_responded()  # only the first answer after begin() counts
    clock.now = 10.001
    assert tracker.view_changed(first, 1) == pytest.approx(0.001)  # type: ignore[arg-type]
    clock.now = 10.002
    tracker.view_changed(second, 0)  # type: ignore[arg-type]
    clock.now = 10.003
    tracker.view_changed(second, 2)  # type: ignore[arg-type]
    clock.now = 10.009
    tracker.view_changed(second, 2)  # type: ignore[arg-type]

    outcome = tracker.finish()

    assert outcome.complete
    assert outcome.latency == pytest.approx(0.003)
    assert outcome.line() == "write → 2/2 views updated in 3.0 ms"


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
