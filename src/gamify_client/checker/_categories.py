"""Category checks (``POST /api/categories/create``): a category made as the frontend makes it
(no emoji) is created, and a new category and its tasks show at once in the batch's
category list and the category's page."""

from __future__ import annotations

from ..errors import APIStatusError
from ..models import Task
from ._check import Check, check
from ._failures import CheckFailed, Problems
from ._lookups import ref_id
from ._scenario import Scenario

_COLOR = "#4f46e5"


@check(
    "category.create_without_emoji",
    "POST /api/categories/create with a name, a color and the batch but no emoji (the "
    "frontend never sends one) answers 201 with the category and an emoji of its own.",
)
def _create_without_emoji(scenario: Scenario) -> str:
    admin, batch = scenario.accounts().admin, scenario.batch()
    name = scenario.session.name("category without emoji")
    try:
        created = admin.client.categories.create(name=name, batch=batch.id, color=_COLOR)
    except APIStatusError as error:
        raise CheckFailed(
            f"expected 201 with the category, saw {error.status_code} {error.message!r}: every "
            "category the frontend creates fails this way"
        ) from error
    category = created.data
    scenario.created_category_ids.append(category.id)
    problems = Problems()
    problems.expect("its name", name, category.name)
    problems.expect("its batch", batch.id, ref_id(category.batch))
    if not category.emoji:
        problems.add(f"its emoji: expected a default one, saw {category.emoji!r}")
    problems.raise_any()
    return f"category {category.id} created with emoji {category.emoji!r}"


@check(
    "category.create_reflected_in_list",
    "A new category shows at once in GET /api/categories/all?batchId= for its batch and in "
    "GET /api/categories/all, with its name, emoji and batch.",
)
def _create_in_list(scenario: Scenario) -> str:
    category, batch = scenario.category(), scenario.batch()
    categories = scenario.accounts().admin.client.categories
    problems = Problems()
    for route, listed in (
        ("GET /api/categories/all?batchId=", categories.list(batch.id)),
        ("GET /api/categories/all", categories.list()),
    ):
        shown = [c for c in listed if c.id == category.id]
        if len(shown) != 1:
            problems.add(
                f"{route}: expected category {category.id} once, saw it {len(shown)} times"
            )
            continue
        problems.expect(f"{route} name", category.name, shown[0].name)
        problems.expect(f"{route} emoji", category.emoji, shown[0].emoji)
        problems.expect(f"{route} batch", batch.id, ref_id(shown[0].batch))
    problems.raise_any()
    return f"category {category.id} listed for its batch"


@check(
    "category.task_reflected_in_category",
    "A task created in a category shows at once in the category's tasks: as an id in "
    "GET /api/categories/all?batchId= and populated in GET /api/categories/all/tasks/:id.",
)
def _task_in_category(scenario: Scenario) -> str:
    category, batch = scenario.category(), scenario.batch()
    tasks = {creation.task.id: creation.task.name for creation in scenario.fillers()}
    categories = scenario.accounts().admin.client.categories
    problems = Problems()
    listed = next((c for c in categories.list(batch.id) if c.id == category.id), None)
    if listed is None:
        problems.add("GET /api/categories/all?batchId=: expected the category, saw none")
    else:
        missing = sorted(set(tasks) - {ref_id(task) for task in listed.tasks})
        if missing:
            problems.add(f"GET /api/categories/all?batchId= tasks: expected {missing} among them")
    for route, fetched in (
        ("GET /api/categories/all/tasks/:id", categories.get(category.id)),
        (
            "GET /api/categories/all/tasks/:id?batchId=",
            categories.get(category.id, batch_id=batch.id),
        ),
    ):
        names = {
            ref_id(task): task.name if isinstance(task, Task) else None for task in fetched.tasks
        }
        for task_id, name in tasks.items():
            if task_id not in names:
                problems.add(f"{route}: expected task {task_id}, saw {len(names)} tasks without it")
            elif names[task_id] != name:
                problems.add(
                    f"{route}: expected task {task_id} populated with its name {name!r}, saw "
                    f"{names[task_id]!r}"
                )
    problems.raise_any()
    return f"{len(tasks)} tasks in the category's list entry and page"


CHECKS: tuple[Check, ...] = (_create_without_emoji, _create_in_list, _task_in_category)
"""This module's checks, in the order they run."""
