"""Parsing answers: structural sharing of unchanged bodies, immutability, the three shapes."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pydantic
import pytest

from gamify_client import ResponseValidationError
from gamify_client.models import Task
from gamify_client.resources.tasks import get_task, list_tasks

TASK: dict[str, Any] = {"_id": "a" * 24, "name": "Write a parser", "points": 100}


def answer(body: Any) -> httpx.Response:
    return httpx.Response(
        200,
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        request=httpx.Request("GET", "http://gamify.test/api/task/all"),
    )


def test_an_unchanged_body_gives_back_the_same_objects() -> None:
    parse = list_tasks().parse
    first = parse(answer([TASK]))
    again = parse(answer([TASK]))
    assert again is first
    changed = parse(answer([{**TASK, "points": 150}]))
    assert changed is not first
    assert changed[0].points == 150


def test_a_body_that_fails_is_checked_every_time() -> None:
    parse = get_task("a" * 24).parse
    for _ in range(2):
        with pytest.raises(ResponseValidationError):
            parse(answer({"name": "no id"}))


def test_models_are_immutable() -> None:
    task = Task.model_validate(TASK)
    with pytest.raises(pydantic.ValidationError):
        task.points = 5  # type: ignore[misc]
    assert task.model_copy(update={"points": 5}).points == 5


@pytest.mark.parametrize(
    "body",
    [TASK, {"success": True, "task": TASK}, {"success": True, "data": TASK}],
    ids=["bare", "named", "envelope"],
)
def test_the_three_shapes_give_the_same_task(body: dict[str, Any]) -> None:
    task = get_task("a" * 24).parse(answer(body))
    assert isinstance(task, Task)
    assert task.id == TASK["_id"]
    assert task.points == 100
