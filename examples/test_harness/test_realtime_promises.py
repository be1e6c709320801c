"""What a Gamify deployment promises its real-time frontend, checked end to end.

Each test gets a fresh cohort (see ``conftest.py``): an admin, a batch and two enrolled
learners, each with their own logged-in client. The tests run against the embedded backend,
or against the deployment given by ``--gamify-base-url``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from gamify_client import BadRequestError
from gamify_client.models import Dashboard, Document, UserBatchProgress

if TYPE_CHECKING:
    from conftest import Cohort

pytestmark = pytest.mark.gamify_deployment(fallback="embedded")


def ref_id(reference: str | Document | None) -> str | None:
    """The id a reference holds, whether the route sent the id or the whole document."""
    return reference.id if isinstance(reference, Document) else reference


def task_status(progress: UserBatchProgress, task_id: str) -> str | None:
    """The status of ``task_id`` in a learner's progress (None: no entry at all)."""
    for entry in progress.task_progress:
        if ref_id(entry.task_id) == task_id:
            return entry.status
    return None


def test_a_new_task_reaches_every_enrolled_learner(cohort: Cohort) -> None:
    created = cohort.new_task("Write a haiku about caching", points=50)

    assert created.real_time is not None
    assert created.real_time.total_users_affected == len(cohort.learners)
    for learner in cohort.learners:
        progress = learner.client.progress.user(learner.account.id, cohort.batch_id)
        assert task_status(progress, created.data.id) == "not_started"


def test_a_submission_raises_xp_on_the_dashboard_and_in_the_batch(cohort: Cohort) -> None:
    task = cohort.new_task("Share a link", points=80).data
    learner = cohort.learners[0]
    xp_before = learner.client.progress.dashboard().overall_stats.user_total_xp

    submitted = cohort.submit(learner, task.id)

    assert submitted.real_time is not None
    assert submitted.real_time.new_total_xp == xp_before + 80
    dashboard = learner.client.progress.dashboard()
    assert dashboard.overall_stats.user_total_xp == xp_before + 80
    report = cohort.admin.progress.batch(cohort.batch_id)
    mine = next(p for p in report.students_progress if ref_id(p.user_id) == learner.account.id)
    assert mine.progress_metrics.completed_tasks == 1
    assert task_status(mine, task.id) == "completed"


def test_a_second_submission_is_refused_and_pays_nothing(cohort: Cohort) -> None:
    task = cohort.new_task("Hand in once", points=30).data
    learner = cohort.learners[0]
    cohort.submit(learner, task.id)
    xp_after_first = learner.client.users.get(learner.account.id).xps

    with pytest.raises(BadRequestError, match="already submitted"):
        cohort.submit(learner, task.id)

    assert learner.client.users.get(learner.account.id).xps == xp_after_first


def test_a_live_dashboard_follows_a_submission_by_itself(cohort: Cohort) -> None:
    task = cohort.new_task("Watch the dashboard", points=120).data
    learner = cohort.learners[1]
    xp_before = learner.client.progress.dashboard().overall_stats.user_total_xp

    with learner.client.use_dashboard_data() as dashboard:
        dashboard.wait_for(timeout=10)
        cohort.submit(learner, task.id)
        dashboard.wait_for(lambda live: shown_xp(live.data) == xp_before + 120, timeout=10)


def shown_xp(dashboard: Dashboard | None) -> int | None:
    """The learner's total XP as a live dashboard shows it (None before its first fetch)."""
    return None if dashboard is None else dashboard.overall_stats.user_total_xp
