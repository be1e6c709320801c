"""Demo data: a small, complete organisation to run examples and tests against.

The data goes in through the backend's own routes, so it obeys every rule a client's
writes obey (progress entries, activity, ids, timestamps).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ._exchange import RequestHandler
from ._express import encode_json

DEMO_PASSWORD = "demo-password"


@dataclass(frozen=True)
class DemoAccount:
    """One demo account and what logging in as it takes."""

    id: str
    name: str
    email: str
    password: str
    designation: str


@dataclass(frozen=True)
class DemoData:
    """Everything :meth:`GamifyBackend.seed_demo` made.

    The three ``users`` belong to ``admin`` (log in with ``admin_id``) and are enrolled
    in the batch; ``task_ids`` are the batch's tasks, in creation order.
    """

    superadmin: DemoAccount
    admin: DemoAccount
    mentor: DemoAccount
    users: tuple[DemoAccount, DemoAccount, DemoAccount]
    admin_id: str
    batch_id: str
    category_ids: tuple[str, ...]
    task_ids: tuple[str, ...]


class SeedError(RuntimeError):
    """The demo data could not be written (most often: it is there already)."""


def _call(
    handle: RequestHandler,
    method: str,
    path: str,
    payload: dict[str, Any],
    token: str | None = None,
) -> Any:
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    response = handle(method, path, "", headers, encode_json(payload))
    if response.status >= 400:
        raise SeedError(f"{method} {path} answered {response.status}: {response.body!r}")
    return json.loads(response.body)


def _register(
    handle: RequestHandler, name: str, email: str, designation: str, parent_id: str | None = None
) -> tuple[DemoAccount, dict[str, Any]]:
    payload: dict[str, Any] = {
        "name": name,
        "email": email,
        "password": DEMO_PASSWORD,
        "designation": designation,
    }
    if parent_id is not None:
        payload["parentId"] = parent_id
    answer = _call(handle, "POST", "/api/user/register", payload)
    return DemoAccount(answer["userId"], name, email, DEMO_PASSWORD, designation), answer


_CATEGORIES = (("Web Development", "🌐", "#3b82f6"), ("Data Analysis", "📊", "#10b981"))
_TASKS = (
    ("Landing page", "Build a responsive landing page", 0, "Easy", 100),
    ("REST client", "Call a public REST API and render the results", 0, "Medium", 150),
    ("Sales dashboard", "Summarise a sales CSV in three charts", 1, "Medium", 200),
    ("Churn case study", "Explain what drives churn in the sample data", 1, "Hard", 250),
)


def seed_demo(handle: RequestHandler) -> DemoData:
    """Write the demo organisation through ``handle`` and say what was made."""
    superadmin, _ = _register(handle, "Sam Super", "superadmin@demo.gamify", "superadmin")
    admin, registered = _register(handle, "Ada Admin", "admin@demo.gamify", "admin")
    mentor, _ = _register(handle, "Max Mentor", "mentor@demo.gamify", "mentor", admin.id)
    first, second, third = (
        _register(handle, name, f"{name.split()[0].lower()}@demo.gamify", "user", admin.id)[0]
        for name in ("Uma User", "Leo Learner", "Ivy Intern")
    )
    users = (first, second, third)
    login = _call(
        handle,
        "POST",
        "/api/user/login",
        {"email": admin.email, "password": DEMO_PASSWORD, "designation": "admin"},
    )
    batch = _call(
        handle,
        "POST",
        "/api/batches",
        {
            "name": "Demo Cohort",
            "description": "A batch to try the SDK against",
            "mentor": mentor.id,
            "industryFocus": "Software",
            "difficultyLevel": "Beginner",
            "estimatedDuration": 6,
            "learningObjectives": ["Ship a web page", "Read data"],
        },
        token=login["token"],
    )
    category_ids = tuple(
        _call(
            handle,
            "POST",
            "/api/categories/create",
            {"name": name, "emoji": emoji, "color": color, "batch": batch["_id"]},
            token=login["token"],
        )["_id"]
        for name, emoji, color in _CATEGORIES
    )
    for user in users:
        _call(
            handle,
            "POST",
            f"/api/batches/{batch['_id']}/enroll",
            {"userId": user.id},
            token=login["token"],
        )
    task_ids = tuple(
        _call(
            handle,
            "POST",
            "/api/task/create",
            {
                "name": name,
                "description": description,
                "details": f"{description}. Submit a link or a short write-up.",
                "category": category_ids[category],
                "difficulty": difficulty,
                "points": points,
                "batch": batch["_id"],
                "submissionTypes": ["Link", "Text Entry", "File Upload"],
            },
            token=login["token"],
        )["task"]["_id"]
        for name, description, category, difficulty, points in _TASKS
    )
    return DemoData(
        superadmin=superadmin,
        admin=admin,
        mentor=mentor,
        users=users,
        admin_id=registered["adminId"],
        batch_id=batch["_id"],
        category_ids=category_ids,
        task_ids=task_ids,
    )
