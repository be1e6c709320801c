"""Tasks: ``/api/task``. The real service checks no token on these routes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import IO, Any, Literal, TypeAlias

from pydantic import TypeAdapter

from .._call import Call
from .._parsing import MutationPayload, Payload
from ..events import Event
from ..keys import CacheKey
from ..models import MutationResult, Submission, Task, TaskSubmitOutcome
from ..realtime import (
    Rule,
    Write,
    scoped,
    submission_keys,
    submission_patches,
    task_created_patches,
)
from ._base import (
    AsyncResource,
    SyncResource,
    async_endpoint,
    body,
    segment,
    sync_endpoint,
    wire_time,
)

__all__ = ["AsyncTasks", "FileUpload", "SubmissionType", "Tasks"]

SubmissionType: TypeAlias = Literal["File Upload", "Link", "Text Entry"] | str
FileUpload: TypeAlias = (
    bytes | IO[bytes] | tuple[str, bytes | IO[bytes]] | tuple[str, bytes | IO[bytes], str]
)
"""A file for ``submit``: its content, or ``(filename, content)``, or with a content type."""

_TASK = Payload(TypeAdapter(Task), "Task", keys=("task",), bare=True)
_TASKS = Payload(TypeAdapter(list[Task]), "list of Task", keys=("tasks",), bare=True)
_SUBMISSION = Payload(TypeAdapter(Submission | None), "Submission", keys=("submission",))
_TASK_WRITE = MutationPayload(_TASK)
_SUBMIT = MutationPayload(Payload(TypeAdapter(TaskSubmitOutcome), "task submission"))
_TASK_CHANGED = (CacheKey.TASKS, CacheKey.DASHBOARD, CacheKey.USER_PROGRESS)

CREATE = Write(
    "tasks.create",
    "POST",
    "/api/task/create",
    _TASK_WRITE,
    Rule(
        Event.TASK_CREATED,
        # A new task in a batch reaches every enrolled user's dashboard and progress, and the
        # batch's own task list.
        lambda c: [
            CacheKey.DASHBOARD,
            CacheKey.TASKS,
            scoped(CacheKey.BATCH_PROGRESS, c.batch_id),
            CacheKey.USER_PROGRESS,
            *([CacheKey.BATCHES] if c.batch_id is not None else []),
        ],
        task_created_patches,
    ),
    ids={"batch_id": "batch", "assigned_to": "assignedTo"},
)
SUBMIT = Write(
    "tasks.submit",
    "POST",
    "/api/task/:id/submit",
    _SUBMIT,
    Rule(Event.TASK_COMPLETED, submission_keys, submission_patches),
    ids={"task_id": ":id", "user_id": "userId"},
)
START = Write(
    "tasks.start",
    "PUT",
    "/api/task/start/:id",
    _TASK_WRITE,
    Rule(Event.PROGRESS_UPDATE, lambda c: [CacheKey.TASKS]),
    ids={"task_id": ":id"},
)
EDIT = Write(
    "tasks.edit",
    "PATCH",
    "/api/task/edit/:id",
    _TASK_WRITE,
    Rule(Event.DATA_REFRESH, lambda c: _TASK_CHANGED),
    ids={"task_id": ":id"},
)
ASSIGN = Write(
    "tasks.assign",
    "PATCH",
    "/api/task/assign/:id",
    _TASK_WRITE,
    Rule(Event.TASK_ASSIGNED, lambda c: _TASK_CHANGED),
    ids={"task_id": ":id"},
)
DELETE = Write(
    "tasks.delete",
    "DELETE",
    "/api/task/delete/:id",
    _TASK_WRITE,
    Rule(Event.DATA_REFRESH, lambda c: [*_TASK_CHANGED, CacheKey.BATCH_PROGRESS]),
    ids={"task_id": ":id"},
)


def _optional_list(values: Sequence[Any] | None) -> list[Any] | None:
    return list(values) if values is not None else None


def list_tasks() -> Call[list[Task]]:
    """Every task, with ``category`` and ``batch`` populated."""
    return Call("GET", "/api/task/all", _TASKS)


def get_task(task_id: str) -> Call[Task]:
    """One task; :class:`~gamify_client.NotFoundError` when there is none."""
    return Call("GET", f"/api/task/{segment(task_id)}", _TASK)


def get_submission(*, task_id: str, user_id: str) -> Call[Submission | None]:
    """The user's submission for the task, or None."""
    params = {"taskId": task_id, "userId": user_id}
    return Call("GET", "/api/task/submissions", _SUBMISSION, params=params)


def create_task(
    *,
    name: str,
    description: str,
    details: str,
    category: str,
    difficulty: str,
    batch: str | None = None,
    assigned_to: Sequence[str] | None = None,
    type: str | None = None,
    points: int | None = None,
    badge: str | None = None,
    resources: Sequence[Any] | None = None,
    due_date: datetime | str | None = None,
    submission_types: Sequence[SubmissionType] | None = None,
) -> Call[MutationResult[Task]]:
    """Create a task (the server gives it 100 points unless told). With a ``batch``, every
    enrolled user's progress gains the task. Never retried once sent: the real service can
    write and then answer 500."""
    fields = {
        "name": name,
        "description": description,
        "details": details,
        "category": category,
        "difficulty": difficulty,
        "batch": batch,
        "assignedTo": _optional_list(assigned_to),
        "type": type,
        "points": points,
        "badge": badge,
        "resources": _optional_list(resources),
        "dueDate": wire_time(due_date) if due_date is not None else None,
        "submissionTypes": _optional_list(submission_types),
    }
    return CREATE.call(
        "/api/task/create",
        json=body(fields),
        context={"batch_id": batch, "assigned_to": _optional_list(assigned_to)},
    )


def submit_task(
    task_id: str,
    *,
    user_id: str,
    submission_type: SubmissionType | None = None,
    value: Any = None,
    file: FileUpload | None = None,
) -> Call[MutationResult[TaskSubmitOutcome]]:
    """Submit the task for the user, as JSON (``submission_type`` and ``value``) or as a
    multipart upload of ``file``. Earns the task's points once; a second submit is a
    :class:`~gamify_client.BadRequestError` ("Task already submitted")."""
    path = f"/api/task/{segment(task_id)}/submit"
    context = {"task_id": task_id, "user_id": user_id}
    if file is not None:
        form = body({"userId": user_id, "submissionType": submission_type or "File Upload"})
        if value is not None:
            form["value"] = str(value)
        return SUBMIT.call(path, files={"file": file}, data=form, context=context)
    if submission_type is None:
        raise ValueError("submit needs a submission_type, or a file to upload")
    fields = {"userId": user_id, "submissionType": submission_type, "value": value}
    return SUBMIT.call(path, json=fields, context=context)


def _task_write(
    write: Write[Task], path: str, task_id: str, fields: dict[str, Any] | None = None
) -> Call[MutationResult[Task]]:
    return write.call(
        path, json=body(fields) if fields is not None else None, context={"task_id": task_id}
    )


def start_task(task_id: str) -> Call[MutationResult[Task]]:
    """Mark the task started (``in_progress_count`` + 1)."""
    return _task_write(START, f"/api/task/start/{segment(task_id)}", task_id)


def edit_task(
    task_id: str,
    *,
    details: str | None = None,
    difficulty: str | None = None,
    assigned_to: Sequence[str] | None = None,
) -> Call[MutationResult[Task]]:
    """Change a task's details, difficulty or assignees."""
    fields = {
        "details": details,
        "difficulty": difficulty,
        "assignedTo": _optional_list(assigned_to),
    }
    path = f"/api/task/edit/{segment(task_id)}"
    return _task_write(EDIT, path, task_id, fields)


def assign_task(task_id: str, *, assigned_to: Sequence[str]) -> Call[MutationResult[Task]]:
    """Assign the task to users."""
    path = f"/api/task/assign/{segment(task_id)}"
    return _task_write(ASSIGN, path, task_id, {"assignedTo": list(assigned_to)})


def delete_task(task_id: str) -> Call[MutationResult[Task]]:
    """Delete the task; returns it as it was."""
    return _task_write(DELETE, f"/api/task/delete/{segment(task_id)}", task_id)


class Tasks(SyncResource):
    """Tasks: list, read, create, submit, start, edit, assign, delete."""

    list = sync_endpoint(list_tasks)
    get = sync_endpoint(get_task)
    submission = sync_endpoint(get_submission)
    create = sync_endpoint(create_task)
    submit = sync_endpoint(submit_task)
    start = sync_endpoint(start_task)
    edit = sync_endpoint(edit_task)
    assign = sync_endpoint(assign_task)
    delete = sync_endpoint(delete_task)


class AsyncTasks(AsyncResource):
    """Tasks, awaited: list, read, create, submit, start, edit, assign, delete."""

    list = async_endpoint(list_tasks)
    get = async_endpoint(get_task)
    submission = async_endpoint(get_submission)
    create = async_endpoint(create_task)
    submit = async_endpoint(submit_task)
    start = async_endpoint(start_task)
    edit = async_endpoint(edit_task)
    assign = async_endpoint(assign_task)
    delete = async_endpoint(delete_task)
