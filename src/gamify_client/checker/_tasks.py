"""Task creation checks (``POST /api/task/create``): the create succeeds, and the new task
shows at once in the task list, the batch's progress, every dashboard and realTimeData."""

from __future__ import annotations

from ._check import Check, check
from ._failures import CheckFailed, Problems
from ._lookups import batch_entry, ref_id, task_status
from ._scenario import Scenario


@check(
    "task.create_succeeds",
    "POST /api/task/create answers success with the task. A create that fails after writing "
    "the task (the real service's 500) makes a retrying client create duplicates.",
)
def _create_succeeds(scenario: Scenario) -> str:
    creation = scenario.created().creation
    if creation.failure is not None:
        raise CheckFailed(
            f"expected 201 with success: true and the task, saw {creation.failure.status_code} "
            f"{creation.failure.message!r}; yet the task was written (it is in GET /api/task/all "
            "as " + creation.task.id + "), so a client that retries this POST creates duplicates"
        )
    assert creation.result is not None
    body = creation.result.body
    success = body.get("success") if isinstance(body, dict) else None
    if success is not True:
        raise CheckFailed(f"expected success: true in the answer, saw {success!r}")
    return f"task {creation.task.id} created"


@check(
    "task.create_reflected_in_tasks",
    "The new task is in GET /api/task/all exactly once, with its batch and points, and "
    "GET /api/task/:id answers it.",
)
def _create_in_tasks(scenario: Scenario) -> str:
    creation = scenario.created().creation
    task, batch = creation.task, scenario.batch()
    everything = scenario.anonymous.tasks.list()
    same_name = [t for t in everything if t.name == task.name]
    listed = [t for t in everything if t.id == task.id]
    problems = Problems()
    if len(listed) != 1:
        problems.add(f"GET /api/task/all: expected task {task.id} once, saw it {len(listed)} times")
    if len(same_name) > 1:
        problems.add(
            f"GET /api/task/all: expected one task named {task.name!r}, saw {len(same_name)}"
        )
    for shown in listed[:1]:
        problems.expect("its batch", batch.id, ref_id(shown.batch))
        problems.expect("its points", creation.points, shown.points)
    fetched = scenario.anonymous.tasks.get(task.id)
    problems.expect("GET /api/task/:id name", task.name, fetched.name)
    problems.raise_any()
    return f"task {task.id} listed once with batch and points"


@check(
    "task.create_reflected_in_batch_progress",
    "The new task joins its batch at once, and every enrolled user's progress gains a "
    "not_started entry for it (GET /api/batch-progress/batch/:id).",
)
def _create_in_batch_progress(scenario: Scenario) -> str:
    task, batch = scenario.created().creation.task, scenario.batch()
    users = scenario.enrolled()
    problems = Problems()
    batch_tasks = [ref_id(t) for t in scenario.anonymous.batches.get(batch.id).tasks]
    if task.id not in batch_tasks:
        problems.add(
            f"GET /api/batches/:id tasks: expected {task.id} among them, saw {batch_tasks}"
        )
    report = scenario.anonymous.progress.batch(batch.id)
    students = {ref_id(p.user_id): p for p in report.students_progress}
    for user in users:
        progress = students.get(user.user_id)
        if progress is None:
            problems.add(f"{user.role}: expected a row in studentsProgress, saw none")
            continue
        problems.expect(
            f"{user.role}'s entry for the task", "not_started", task_status(progress, task.id)
        )
        problems.expect(
            f"{user.role}'s totalTasks",
            scenario.task_count(),
            progress.progress_metrics.total_tasks,
        )
    problems.raise_any()
    return f"task in the batch and in {len(users)} students' progress"


@check(
    "task.create_reflected_in_every_dashboard",
    "Every enrolled user's dashboard shows the new task at once: one more task in "
    "overallStats and a not_started entry in the batch's progress.",
)
def _create_in_dashboards(scenario: Scenario) -> str:
    created = scenario.created()
    task, batch = created.creation.task, scenario.batch()
    problems = Problems()
    for user in scenario.enrolled():
        before = created.dashboards_before[user.user_id].get()
        after = user.client.progress.dashboard()
        problems.expect(
            f"{user.role}'s totalTasksAcrossAllBatches",
            before.overall_stats.total_tasks_across_all_batches + 1,
            after.overall_stats.total_tasks_across_all_batches,
        )
        problems.expect(
            f"{user.role}'s dashboard entry for the task",
            "not_started",
            task_status(batch_entry(after, batch.id), task.id),
        )
    problems.raise_any()
    return f"{len(created.dashboards_before)} dashboards show the task"


@check(
    "task.create_real_time_data",
    "The create's realTimeData names the task, its batch, points and difficulty, and "
    "totalUsersAffected counts the enrolled users.",
)
def _create_real_time(scenario: Scenario) -> str:
    creation = scenario.created().creation
    if creation.failure is not None or creation.result is None:
        raise CheckFailed(
            "expected realTimeData in the create's answer, saw none: the create answered "
            f"{creation.failure.status_code if creation.failure else '?'}"
        )
    real_time = creation.result.real_time
    if real_time is None:
        raise CheckFailed("expected realTimeData in the create's answer, saw none")
    problems = Problems()
    problems.expect("taskId", creation.task.id, real_time.task_id)
    problems.expect("taskName", creation.task.name, real_time.task_name)
    problems.expect("batchId", scenario.batch().id, real_time.batch_id)
    problems.expect("points", creation.points, real_time.points)
    problems.expect("difficulty", "Medium", real_time.difficulty)
    problems.expect("totalUsersAffected", len(scenario.enrolled()), real_time.total_users_affected)
    if real_time.created_at is None:
        problems.add("createdAt: expected a time, saw none")
    problems.raise_any()
    return f"realTimeData for task {creation.task.id}, {real_time.total_users_affected} users"


CHECKS: tuple[Check, ...] = (
    _create_succeeds,
    _create_in_tasks,
    _create_in_batch_progress,
    _create_in_dashboards,
    _create_real_time,
)
"""This module's checks, in the order they run."""
