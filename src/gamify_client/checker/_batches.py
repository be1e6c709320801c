"""Batch checks: a new batch and an enrolment show at once wherever they must."""

from __future__ import annotations

from ._check import Check, check
from ._failures import Problems
from ._lookups import ref_id
from ._scenario import Scenario


@check(
    "batch.create_reflected_in_batches",
    "A new batch shows at once in its admin's and its mentor's GET /api/batches and in "
    "GET /api/batches/:id.",
)
def _batch_created(scenario: Scenario) -> str:
    accounts, batch = scenario.accounts(), scenario.batch()
    problems = Problems()
    for account in (accounts.admin, accounts.mentor):
        listed = [b.id for b in account.client.batches.list()]
        if batch.id not in listed:
            problems.add(
                f"the {account.role}'s GET /api/batches: expected it to list batch {batch.id}, "
                f"saw {len(listed)} batches without it"
            )
    fetched = scenario.anonymous.batches.get(batch.id)
    problems.expect("GET /api/batches/:id name", batch.name, fetched.name)
    problems.expect("GET /api/batches/:id mentor", accounts.mentor.user_id, ref_id(fetched.mentor))
    problems.raise_any()
    return f"batch {batch.id} listed for its admin and mentor"


@check(
    "batch.enroll_reflected_in_progress",
    "Enrolling a user creates their progress at once: one not_started entry per task of the "
    "batch and a milestone_reached activity; the batch lists them.",
)
def _enrolled(scenario: Scenario) -> str:
    users, batch = scenario.enrolled(), scenario.batch()
    task_ids = sorted(creation.task.id for creation in scenario.fillers())
    problems = Problems()
    for user in users:
        progress = scenario.progress_of(user)
        who = f"{user.role}'s progress"
        if progress.id is None:
            problems.add(f"{who}: expected a stored progress, saw the zeroed default")
            continue
        entries = sorted(filter(None, (ref_id(e.task_id) for e in progress.task_progress)))
        problems.expect(f"{who} task entries", task_ids, entries)
        statuses = {e.status for e in progress.task_progress}
        if statuses - {"not_started"}:
            problems.add(f"{who}: expected every entry not_started, saw {sorted(statuses)}")
        problems.expect(f"{who} totalTasks", len(task_ids), progress.progress_metrics.total_tasks)
        actions = [a.action for a in progress.activity_log]
        if "milestone_reached" not in actions:
            problems.add(f"{who}: expected a milestone_reached activity, saw {actions}")
    members = {ref_id(u) for u in scenario.anonymous.batches.get(batch.id).users}
    missing = [user.role for user in users if user.user_id not in members]
    if missing:
        problems.add(
            f"GET /api/batches/:id users: expected {missing} among them, saw {len(members)} users"
        )
    problems.raise_any()
    return f"{len(users)} users with {len(task_ids)} not_started entries each"


CHECKS: tuple[Check, ...] = (_batch_created, _enrolled)
"""This module's checks, in the order they run."""
