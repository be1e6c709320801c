"""Task submit checks (``POST /api/task/:id/submit``): the submit shows at once in the
user's XP, streak, progress, activity, dashboard and the batch's progress, its realTimeData
is complete, and a second submit of the same task is refused."""

from __future__ import annotations

from ..errors import BadRequestError
from ._check import Check, check
from ._failures import CheckFailed, Problems
from ._lookups import batch_entry, expected_percentage, ref_id, task_status
from ._scenario import Scenario, Submitted, submit_link


def _xp_change(scenario: Scenario) -> tuple[Submitted, int, int]:
    """The submit, and the user's XP read before it and now."""
    submitted = scenario.submitted()
    return submitted, submitted.xp_before.get(), scenario.user_xp(submitted.user)


@check("submit.xp_updated", "Submitting a task raises the user's XP (GET /api/user/:id) at once.")
def _xp_updated(scenario: Scenario) -> str:
    submitted, before, after = _xp_change(scenario)
    if after <= before:
        raise CheckFailed(
            f"expected xps to grow from {before} by the task's {submitted.points} points to "
            f"{before + submitted.points}, saw {after}"
        )
    return f"xps {before} -> {after}"


@check(
    "submit.xp_added_once",
    "The submit adds exactly the task's points to the user's XP, once (the real service "
    "adds them twice for a task in a batch).",
)
def _xp_once(scenario: Scenario) -> str:
    submitted, before, after = _xp_change(scenario)
    gained, points = after - before, submitted.points
    if gained != points:
        times = f" (the points were added {gained / points:g} times)" if points else ""
        raise CheckFailed(
            f"expected xps {before} + {points} = {before + points}, saw {after}{times}"
        )
    return f"+{gained} XP for a {points}-point task"


@check(
    "submit.streak",
    "After a first completion today, the user's dashboard shows a currentStreak of 1.",
)
def _streak(scenario: Scenario) -> str:
    submitted = scenario.submitted()
    dashboard = submitted.user.client.progress.dashboard()
    streak = dashboard.overall_stats.current_streak
    if streak != 1:
        raise CheckFailed(
            "expected overallStats.currentStreak 1 (one completion, today, by a new user), "
            f"saw {streak}"
        )
    return "currentStreak 1"


@check(
    "submit.completion_percentage",
    "The user's batch progress marks the task completed and recomputes its metrics: "
    "completionPercentage = round(100 * completed / total).",
)
def _completion(scenario: Scenario) -> str:
    submitted = scenario.submitted()
    progress = scenario.progress_of(submitted.user)
    metrics, total = progress.progress_metrics, scenario.task_count()
    problems = Problems()
    problems.expect("the task's entry", "completed", task_status(progress, submitted.task.id))
    problems.expect("completedTasks", 1, metrics.completed_tasks)
    problems.expect("totalTasks", total, metrics.total_tasks)
    problems.expect(
        "completionPercentage", expected_percentage(1, total), metrics.completion_percentage
    )
    problems.expect("totalPointsEarned", submitted.points, metrics.total_points_earned)
    problems.raise_any()
    return f"1/{total} tasks, {metrics.completion_percentage:g}%"


@check(
    "submit.activity_logged",
    "The submit logs a task_completed activity, in the user's progress and in "
    "GET /api/batch-progress/activity/:batchId.",
)
def _activity(scenario: Scenario) -> str:
    submitted = scenario.submitted()
    task_id = submitted.task.id
    problems = Problems()
    logged = [
        a for a in scenario.progress_of(submitted.user).activity_log if ref_id(a.task_id) == task_id
    ]
    actions = [a.action for a in logged]
    if "task_completed" not in actions:
        problems.add(f"the user's activityLog: expected task_completed for the task, saw {actions}")
    feed = scenario.anonymous.progress.activity(scenario.batch().id)
    if not any(a.action == "task_completed" and ref_id(a.task_id) == task_id for a in feed):
        problems.add(
            f"the batch's activity feed: expected task_completed for the task, saw {len(feed)} "
            "activities without it"
        )
    problems.raise_any()
    return "task_completed in the progress and the batch feed"


@check(
    "submit.real_time_data",
    "The submit's realTimeData carries the new state: taskStatus, ids, pointsEarned, "
    "newTotalXP (matching the stored XP), currentStreak and the batch progress summary.",
)
def _submit_real_time(scenario: Scenario) -> str:
    submitted = scenario.submitted()
    body = submitted.result.body
    raw = body.get("realTimeData") if isinstance(body, dict) else None
    real_time = submitted.result.real_time
    if not isinstance(raw, dict) or real_time is None:
        raise CheckFailed("expected realTimeData in the submit's answer, saw none")
    problems = Problems()
    problems.expect("taskStatus", "completed", real_time.task_status)
    problems.expect("taskId", submitted.task.id, real_time.task_id)
    problems.expect("batchId", scenario.batch().id, real_time.batch_id)
    problems.expect("userId", submitted.user.user_id, real_time.user_id)
    problems.expect("pointsEarned", submitted.points, real_time.points_earned)
    problems.expect(
        "newTotalXP (the stored xps)", scenario.user_xp(submitted.user), real_time.new_total_xp
    )
    if "currentStreak" not in raw:
        problems.add("currentStreak: expected 1, saw no currentStreak at all")
    else:
        problems.expect("currentStreak", 1, real_time.current_streak)
    total = scenario.task_count()
    summary = real_time.batch_progress
    shown = (
        None
        if summary is None
        else (
            summary.completed_tasks,
            summary.total_tasks,
            summary.completion_percentage,
            summary.total_points_earned,
        )
    )
    problems.expect(
        "batchProgress (completed, total, percentage, points)",
        (1, total, expected_percentage(1, total), submitted.points),
        shown,
    )
    problems.raise_any()
    return "realTimeData complete, currentStreak included"


@check(
    "submit.reflected_in_dashboard",
    "The user's dashboard shows the submit at once: XP equal to the stored xps, one more "
    "completed task, the submission among recentSubmissions, the task's entry completed.",
)
def _submit_in_dashboard(scenario: Scenario) -> str:
    submitted = scenario.submitted()
    before = submitted.dashboard_before.get()
    after = submitted.user.client.progress.dashboard()
    xps, task_id = scenario.user_xp(submitted.user), submitted.task.id
    problems = Problems()
    problems.expect("overallStats.userTotalXP", xps, after.overall_stats.user_total_xp)
    problems.expect("userProfile.totalXP", xps, after.user_profile.total_xp)
    problems.expect(
        "overallStats.totalCompletedTasks",
        before.overall_stats.total_completed_tasks + 1,
        after.overall_stats.total_completed_tasks,
    )
    if not any(ref_id(s.task_id) == task_id for s in after.recent_submissions):
        problems.add("recentSubmissions: expected the submission, saw it missing")
    progress = batch_entry(after, scenario.batch().id)
    problems.expect("the task's entry", "completed", task_status(progress, task_id))
    problems.raise_any()
    return f"dashboard shows {xps} XP and the completion"


@check(
    "submit.reflected_in_batch_progress",
    "The batch's progress (GET /api/batch-progress/batch/:id) shows the user's completion "
    "at once, with the most complete student first.",
)
def _submit_in_batch(scenario: Scenario) -> str:
    submitted = scenario.submitted()
    students = scenario.anonymous.progress.batch(scenario.batch().id).students_progress
    problems = Problems()
    order = [ref_id(p.user_id) for p in students]
    if not order or order[0] != submitted.user.user_id:
        problems.add(f"studentsProgress order: expected the submitting user first, saw {order}")
    row = next((p for p in students if ref_id(p.user_id) == submitted.user.user_id), None)
    if row is None:
        problems.add("studentsProgress: expected a row for the submitting user, saw none")
    else:
        problems.expect("the user's completedTasks", 1, row.progress_metrics.completed_tasks)
        problems.expect(
            "the user's entry for the task", "completed", task_status(row, submitted.task.id)
        )
    problems.raise_any()
    return "the submitting user leads the batch with 1 completed task"


@check(
    "submit.second_submit_rejected",
    "Submitting the same task again answers 400 'Task already submitted' and earns no XP.",
)
def _second_submit(scenario: Scenario) -> str:
    submitted = scenario.submitted()
    user, before = submitted.user, scenario.user_xp(submitted.user)
    try:
        submit_link(user, submitted.task.id)
    except BadRequestError as error:
        after = scenario.user_xp(user)
        problems = Problems()
        if "already submitted" not in error.message.lower():
            problems.add(f"message: expected 'Task already submitted', saw {error.message!r}")
        problems.expect("xps after the refused submit", before, after)
        problems.raise_any()
        return f"400 {error.message!r}, xps unchanged at {after}"
    after = scenario.user_xp(user)
    raise CheckFailed(
        "expected 400 'Task already submitted', saw the second submit accepted "
        f"(xps {before} -> {after})"
    )


CHECKS: tuple[Check, ...] = (
    _xp_updated,
    _xp_once,
    _streak,
    _completion,
    _activity,
    _submit_real_time,
    _submit_in_dashboard,
    _submit_in_batch,
    _second_submit,
)
"""This module's checks, in the order they run."""
