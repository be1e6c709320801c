"""The other submit route's check (``POST /api/batch-progress/submit-task``)."""

from __future__ import annotations

from ._check import Check, check
from ._failures import Problems
from ._lookups import expected_percentage, task_entry, task_status
from ._scenario import Scenario

_GRADE = 90


@check(
    "progress_submit.updates_xp_and_progress",
    "POST /api/batch-progress/submit-task adds the task's points once, marks the task "
    "graded with its grade (counted as completed), and answers realTimeData with "
    "currentStreak 1.",
)
def _progress_submit(scenario: Scenario) -> str:
    creation, batch = scenario.created().creation, scenario.batch()
    user = scenario.enrolled()[1]
    before = scenario.user_xp(user)
    result = user.client.progress.submit_task(
        user_id=user.user_id, task_id=creation.task.id, batch_id=batch.id, grade=_GRADE
    )
    after = scenario.user_xp(user)
    problems = Problems()
    problems.expect("xps", before + creation.points, after)
    real_time = result.real_time
    if real_time is None:
        problems.add("realTimeData: expected currentStreak and newTotalXP, saw no realTimeData")
    else:
        problems.expect("realTimeData.currentStreak", 1, real_time.current_streak)
        problems.expect("realTimeData.newTotalXP", after, real_time.new_total_xp)
    progress = scenario.progress_of(user)
    entry = task_entry(progress, creation.task.id)
    # With a grade the entry is graded (CONTRACT), which still counts as completed below.
    problems.expect("the task's entry", "graded", task_status(progress, creation.task.id))
    problems.expect("the task's grade", _GRADE, entry.grade if entry is not None else None)
    total = scenario.task_count()
    problems.expect(
        "completionPercentage",
        expected_percentage(1, total),
        progress.progress_metrics.completion_percentage,
    )
    problems.raise_any()
    return f"xps {before} -> {after}, graded {_GRADE}"


CHECKS: tuple[Check, ...] = (_progress_submit,)
"""This module's checks, in the order they run."""
