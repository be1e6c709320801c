"""The harness's own fixture: a fresh cohort, made through the API.

Everything goes through public routes (register, log in, create a batch, enrol), so the same
fixture works on the embedded backend and on a real deployment. Each run uses new,
unguessable e-mail addresses; at the end it deletes the tasks and the batch it made (no route
deletes an account, so the throwaway accounts stay on a real deployment).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from gamify_client import GamifyClient
from gamify_client.models import (
    Designation,
    MutationResult,
    RegisterResult,
    Task,
    TaskSubmitOutcome,
)
from gamify_client.testing import DemoAccount
from gamify_client.testing.pytest_plugin import GamifyLogin


@dataclass(frozen=True)
class Learner:
    """A user enrolled in the cohort's batch, and a client logged in as them."""

    account: DemoAccount
    client: GamifyClient


@dataclass
class Cohort:
    """An admin, a batch with one category, and two enrolled learners."""

    admin: GamifyClient
    batch_id: str
    category_id: str
    learners: tuple[Learner, ...]
    task_ids: list[str] = field(default_factory=list)

    def new_task(self, name: str, *, points: int) -> MutationResult[Task]:
        """The admin creates a task in the batch (deleted when the test ends)."""
        created = self.admin.tasks.create(
            name=name,
            description=f"{name}, made by the test harness",
            details="Submit a link.",
            category=self.category_id,
            difficulty="Easy",
            batch=self.batch_id,
            points=points,
            submission_types=["Link"],
        )
        self.task_ids.append(created.data.id)
        return created

    def submit(self, learner: Learner, task_id: str) -> MutationResult[TaskSubmitOutcome]:
        """``learner`` hands in a link for the task."""
        return learner.client.tasks.submit(
            task_id,
            user_id=learner.account.id,
            submission_type="Link",
            value="https://example.com/my-work",
        )

    def clean_up(self) -> None:
        """Delete what :meth:`new_task` and the fixture made."""
        for task_id in self.task_ids:
            self.admin.tasks.delete(task_id)
        self.admin.batches.delete(self.batch_id)


@pytest.fixture
def cohort(gamify_client: GamifyClient, gamify_login: GamifyLogin) -> Iterator[Cohort]:
    """A cohort of throwaway accounts on whichever backend the test runs against."""
    run = secrets.token_hex(4)
    password = secrets.token_urlsafe(16)

    def register(
        role: str, designation: Designation, admin: DemoAccount | None = None
    ) -> tuple[DemoAccount, RegisterResult]:
        name = f"Harness {role} {run}"
        email = f"harness-{run}-{role}@example.com"
        registered = gamify_client.register(
            name=name,
            email=email,
            password=password,
            designation=designation,
            parent_id=admin.id if admin is not None else None,
        )
        return DemoAccount(registered.user_id, name, email, password, designation), registered

    admin_account, admin_registration = register("admin", "admin")
    admin = gamify_login(admin_account)
    mentor, _ = register("mentor", "mentor", admin=admin_account)
    batch = admin.batches.create(
        name=f"Harness cohort {run}", description="Made by the test harness", mentor=mentor.id
    ).data
    category = admin.categories.create(name=f"Harness {run}", emoji="🧪", batch=batch.id).data
    learners = []
    for number in (1, 2):
        account, _ = register(f"learner{number}", "user", admin=admin_account)
        admin.batches.enroll(batch.id, account.id)
        client = gamify_login(account, admin_id=admin_registration.admin_id)
        learners.append(Learner(account, client))
    cohort = Cohort(admin, batch.id, category.id, tuple(learners))
    yield cohort
    cohort.clean_up()
