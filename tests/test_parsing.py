"""Parsing answers: structural sharing of unchanged bodies, immutability, the three shapes."""

from __future__ import annotations

import json
import weakref
from typing import Any

import httpx
import pydantic
import pytest

from gamify_client import ResponseValidationError
from gamify_client._parsing import MutationPayload, Payload
from gamify_client.models import Task
from gamify_client.resources.tasks import get_task, list_tasks, submit_task

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


def test_a_changed_body_frees_the_last_result_before_the_new_one_is_built() -> None:
    last: list[weakref.ref[Any]] = []
    seen_while_building: list[bool] = []

    class Probe(pydantic.BaseModel):
        value: int

        @pydantic.model_validator(mode="before")
        @classmethod
        def note(cls, data: Any) -> Any:
            seen_while_building.append(bool(last) and last[-1]() is not None)
            return data

    parse = Payload(pydantic.TypeAdapter(Probe), "probe", bare=True)
    last.append(weakref.ref(parse(answer({"value": 1}))))
    assert parse(answer({"value": 2})).value == 2
    assert seen_while_building == [False, False]


SUBMITTED: dict[str, Any] = {
    "success": True,
    "message": "Task completed successfully!",
    "submission": {"id": "b" * 24, "submissionType": "Text Entry", "status": "completed"},
    "realTimeData": {"taskId": "a" * 24, "userId": "c" * 24, "newTotalXP": 150},
}


def test_a_decoded_body_parses_as_its_answer_does() -> None:
    parse = submit_task("a" * 24, user_id="c" * 24, submission_type="Text Entry", value="x").parse
    assert isinstance(parse, MutationPayload)

    from_answer = parse(answer(SUBMITTED))
    from_body = parse.from_body(json.loads(json.dumps(SUBMITTED)))

    assert from_body == from_answer
    assert from_body.real_time is not None and from_body.real_time.new_total_xp == 150
    with pytest.raises(ResponseValidationError, match="realTimeData") as caught:
        parse.from_body({**SUBMITTED, "realTimeData": {"newTotalXP": "lots"}})
    assert caught.value.status_code == 200
    with pytest.raises(ResponseValidationError):
        parse.from_body({"success": False, "message": "Task already submitted"})


def test_a_write_names_the_part_of_its_answer_that_failed_first() -> None:
    parse = submit_task("a" * 24, user_id="c" * 24, submission_type="Text Entry", value="x").parse
    assert isinstance(parse, MutationPayload)
    both_broken = {**SUBMITTED, "submission": "no", "realTimeData": {"newTotalXP": "lots"}}

    with pytest.raises(ResponseValidationError, match="task submission") as payload_first:
        parse.from_body(both_broken)
    with pytest.raises(ResponseValidationError, match="realTimeData") as real_time_only:
        parse.from_body({**SUBMITTED, "realTimeData": {"newTotalXP": "lots"}})

    # Each names its own part's errors, located as if that part had been validated alone.
    assert [error["loc"] for error in payload_first.value.errors] == [("submission",)]
    assert [error["loc"] for error in real_time_only.value.errors] == [("newTotalXP",)]
    assert "first: newTotalXP:" in real_time_only.value.message


def test_a_write_under_a_named_key_or_the_envelope_parses_as_a_bare_one() -> None:
    parse = submit_task("a" * 24, user_id="c" * 24, submission_type="Text Entry", value="x").parse
    assert isinstance(parse, MutationPayload)
    bare = parse.from_body(SUBMITTED)

    enveloped = parse.from_body(
        {
            "success": True,
            "data": {key: SUBMITTED[key] for key in ("submission",)},
            "realTimeData": SUBMITTED["realTimeData"],
        }
    )

    assert enveloped.data.submission == bare.data.submission
    assert enveloped.real_time == bare.real_time
    assert enveloped.message is None
