"""Tasks: ``/api/task``. The real service checks no token on these routes."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import IO, Any, Literal, TypeAlias

from pydantic import TypeAdapter

from .._call import Call
from .._parsing import MutationPayload, Payload
from ..events import Event
from ..keys import CacheKey, Key
from ..models import MutationResult, Submission, Task, TaskSubmitOutcome
from ..realtime import (
    MutationContext,
    Patch,
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

__all__ = ["AsyncTasks", "ContentType", "FileUpload", "SubmissionType", "TaskType", "Tasks"]

SubmissionType: TypeAlias = Literal["File Upload", "Link", "Text Entry"] | str
TaskType: TypeAlias = Literal["Mini-project", "Case Study"] | str
ContentType: TypeAlias = Literal["video", "document", "quiz", "other"] | str
FileUpload: TypeAlias = (
    bytes | IO[bytes] | tuple[str, bytes | IO[bytes]] | tuple[str, bytes | IO[bytes], str]
)
"""A file for ``submit``: its content, or ``(filename, content)``, or with a content type."""

_TASK = Payload(TypeAdapter(Task), "Task", keys=("task",), bare=True)
_TASKS = Payload(TypeAdapter(list[Task]), "list of Task", keys=("tasks",), bare=True)
_SUBMISSION = Payload(TypeAdapter(Submission | None), "Submission", keys=("submission",))
_TASK_WRITE = MutationPayload(_TASK)
_SUBMIT = MutationPayload(Payload(TypeAdapter(TaskSubmitOutcome), "task submission"))


def _created_keys(c: MutationContext) -> list[Key]:
    # A new task reaches the task lists, its category and, in a batch, every enrolled user's
    # dashboard and progress, the batch itself and its analytics.
    keys: list[Key] = [
        CacheKey.TASKS,
        CacheKey.CATEGORIES,
        CacheKey.CATEGORY_TASKS,
        CacheKey.USER_ANALYTICS,
    ]
    if c.batch_id is not None:
        keys += [
            CacheKey.DASHBOARD,
            scoped(CacheKey.BATCH_PROGRESS, c.batch_id),
            CacheKey.USER_PROGRESS,
            CacheKey.BATCHES,
            CacheKey.USER_BATCHES,
            CacheKey.AVAILABLE_BATCHES,
            scoped(CacheKey.BATCH, c.batch_id),
            scoped(CacheKey.ANALYTICS, c.batch_id),
            CacheKey.NOTIFICATIONS,
        ]
    return keys


def _submitted_keys(c: MutationContext) -> list[Key]:
    # Beyond what any submission changes: the user's submission of the task, the tasks as the
    # category shows them (completedBy), the batch's activity and analytics, the user's
    # analytics and notifications.
    return [
        *submission_keys(c),
        scoped(CacheKey.SUBMISSIONS, c.task_id, c.user_id),
        CacheKey.CATEGORY_TASKS,
        scoped(CacheKey.ACTIVITY, c.batch_id),
        scoped(CacheKey.ANALYTICS, c.batch_id),
        scoped(CacheKey.USER_ANALYTICS, c.user_id),
        scoped(CacheKey.NOTIFICATIONS, c.user_id),
    ]


def _completed_keys(c: MutationContext) -> list[Key]:
    # The task's counters and the user's XP (profile, dashboard) and completion records
    # (their progress report); no batch progress.
    return [
        CacheKey.TASKS,
        CacheKey.CATEGORY_TASKS,
        scoped(CacheKey.USER_PROFILE, c.user_id),
        scoped(CacheKey.DASHBOARD, c.user_id),
        scoped(CacheKey.USER_ANALYTICS, c.user_id),
    ]


def _edited_keys(c: MutationContext) -> list[Key]:
    # Task documents show in the task lists, their category, their batch and the progress
    # views that populate them; assignees count in users' progress reports.
    return [
        CacheKey.TASKS,
        CacheKey.CATEGORY_TASKS,
        CacheKey.BATCH,
        CacheKey.DASHBOARD,
        CacheKey.BATCH_PROGRESS,
        CacheKey.USER_PROGRESS,
        CacheKey.USER_ANALYTICS,
        CacheKey.ANALYTICS,
    ]


def _deleted_keys(c: MutationContext) -> list[Key]:
    # The fixed service removes the task from its category, its batch and every progress.
    return [
        *_edited_keys(c),
        CacheKey.CATEGORIES,
        CacheKey.BATCHES,
        CacheKey.USER_BATCHES,
        CacheKey.AVAILABLE_BATCHES,
        CacheKey.ACTIVITY,
        CacheKey.NOTIFICATIONS,
    ]


def without_tasks(task_ids: Collection[str]) -> Patch:
    """A patch that drops ``task_ids`` from a cached task list (other values pass unchanged)."""

    def patch(tasks: Any) -> Any:
        if not isinstance(tasks, list):
            return tasks
        kept = [task for task in tasks if not (isinstance(task, Task) and task.id in task_ids)]
        return kept if len(kept) != len(tasks) else tasks

    return patch


def _deleted_patches(c: MutationContext) -> Sequence[tuple[Key, Patch]]:
    task_id = c.task_id
    return [(CacheKey.TASKS, without_tasks({task_id}))] if task_id is not None else ()


CREATE = Write(
    "tasks.create",
    "POST",
    "/api/task/create",
    _TASK_WRITE,
    Rule(Event.TASK_CREATED, _created_keys, task_created_patches),
    ids={"batch_id": "batch", "assigned_to": "assignedTo", "category_id": "category"},
)
COMPLETE = Write(
    "tasks.complete",
    "POST",
    "/api/task/complete/:taskId",
    _TASK_WRITE,
    Rule(Event.PROGRESS_UPDATE, _completed_keys),
    ids={"task_id": ":taskId", "user_id": "userId"},
)
SUBMIT = Write(
    "tasks.submit",
    "POST",
    "/api/task/:id/submit",
    _SUBMIT,
    Rule(Event.TASK_COMPLETED, _submitted_keys, submission_patches),
    ids={"task_id": ":id", "user_id": "userId"},
)
START = Write(
    "tasks.start",
    "PUT",
    "/api/task/start/:id",
    _TASK_WRITE,
    Rule(Event.PROGRESS_UPDATE, lambda c: [CacheKey.TASKS, CacheKey.CATEGORY_TASKS]),
    ids={"task_id": ":id"},
)
UPDATE = Write(
    "tasks.update",
    "PUT",
    "/api/task/update/:id",
    _TASK_WRITE,
    Rule(Event.DATA_REFRESH, _edited_keys),
    ids={"task_id": ":id"},
    repeatable=True,
)
DELETE = Write(
    "tasks.delete",
    "DELETE",
    "/api/task/delete/:id",
    _TASK_WRITE,
    Rule(Event.DATA_REFRESH, _deleted_keys, _deleted_patches),
    ids={"task_id": ":id"},
    repeatable=True,
)
EDIT = Write(
    "tasks.edit",
    "PATCH",
    "/api/task/edit/:id",
    _TASK_WRITE,
    Rule(Event.DATA_REFRESH, _edited_keys),
    ids={"task_id": ":id"},
    repeatable=True,
)
ASSIGN = Write(
    "tasks.assign",
    "PATCH",
    "/api/task/assign/:id",
    _TASK_WRITE,
    Rule(Event.TASK_ASSIGNED, _edited_keys),
    ids={"task_id": ":id"},
    repeatable=True,
)


def _optional_list(values: Sequence[Any] | None) -> list[Any] | None:
    return list(values) if values is not None else None


def list_tasks() -> Call[list[Task]]:
    """Every task, with ``category`` and ``batch`` populated (null once deleted)."""
    return Call("GET", "/api/task/all", _TASKS)


def get_task(task_id: str) -> Call[Task]:
    """One task, nothing populated; :class:`~gamify_client.NotFoundError` when there is none."""
    return Call("GET", f"/api/task/{segment(task_id)}", _TASK)


def get_submission(*, task_id: str, user_id: str) -> Call[Submission | None]:
    """The user's submission of the task, or None. The fixed service lets a learner read only
    its own."""
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
    type: TaskType | None = None,
    points: int | None = None,
    badge: str | None = None,
    resources: Sequence[str] | None = None,
    due_date: datetime | str | None = None,
    submission_types: Sequence[SubmissionType] | None = None,
    video_url: str | None = None,
    content_type: ContentType | None = None,
    color: str | None = None,
) -> Call[MutationResult[Task]]:
    """Create a task in ``category`` (100 points unless told). With a ``batch``, every
    enrolled user's progress gains the task. Needs an admin's, a superadmin's or a mentor's
    token on the fixed service. The real service drops ``video_url``, ``content_type`` and
    ``color`` and answers 500 after creating the task (defects ``create_ignores_fields``,
    ``task_create_500``), so a create is never retried once sent."""
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
        "videoUrl": video_url,
        "contentType": content_type,
        "color": color,
    }
    return CREATE.call(
        "/api/task/create",
        json=body(fields),
        context={
            "batch_id": batch,
            "assigned_to": _optional_list(assigned_to),
            "category_id": category,
        },
    )


def complete_task(task_id: str, *, user_id: str | None = None) -> Call[MutationResult[Task]]:
    """Mark the task complete for the user (the token's user when left out on the fixed
    service): the task counts them in ``completed_by`` and ``completion_records`` and they earn
    50 XP, once per user. The real service adds the 50 XP and the count on every call (defect
    ``complete_farm``), so this is never retried once sent. No progress, no submission."""
    path = f"/api/task/complete/{segment(task_id)}"
    return COMPLETE.call(
        path, json=body({"userId": user_id}), context={"task_id": task_id, "user_id": user_id}
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
    multipart upload of ``file`` (served back at the ``value`` ``/uploads/<name>`` by the fixed
    service; the real one answers 500 HTML, defect ``upload_dir``). Earns the task's points
    once; a second submit is a :class:`~gamify_client.BadRequestError`
    ("Task already submitted")."""
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


def start_task(task_id: str) -> Call[MutationResult[Task]]:
    """Count one more start of the task (``in_progress_count`` + 1, on every call, not per
    user), so it is never retried once sent."""
    return START.call(f"/api/task/start/{segment(task_id)}", context={"task_id": task_id})


def _changes(
    *,
    details: str | None,
    difficulty: str | None,
    assigned_to: Sequence[str] | None,
    name: str | None,
    description: str | None,
    type: TaskType | None,
    points: int | None,
    badge: str | None,
    resources: Sequence[str] | None,
    due_date: datetime | str | None,
    submission_types: Sequence[SubmissionType] | None,
) -> dict[str, Any]:
    return body(
        {
            "details": details,
            "difficulty": difficulty,
            "assignedTo": _optional_list(assigned_to),
            "name": name,
            "description": description,
            "type": type,
            "points": points,
            "badge": badge,
            "resources": _optional_list(resources),
            "dueDate": wire_time(due_date) if due_date is not None else None,
            "submissionTypes": _optional_list(submission_types),
        }
    )


def update_task(
    task_id: str,
    *,
    details: str | None = None,
    difficulty: str | None = None,
    assigned_to: Sequence[str] | None = None,
    name: str | None = None,
    description: str | None = None,
    type: TaskType | None = None,
    points: int | None = None,
    badge: str | None = None,
    resources: Sequence[str] | None = None,
    due_date: datetime | str | None = None,
    submission_types: Sequence[SubmissionType] | None = None,
) -> Call[MutationResult[Task]]:
    """Change the given fields of a task (``PUT``); the others stay. The real service applies
    only ``details``, ``difficulty`` and a non-empty ``assigned_to`` (defect
    ``edit_ignores_fields``). :class:`~gamify_client.NotFoundError` when there is no task."""
    fields = _changes(
        details=details,
        difficulty=difficulty,
        assigned_to=assigned_to,
        name=name,
        description=description,
        type=type,
        points=points,
        badge=badge,
        resources=resources,
        due_date=due_date,
        submission_types=submission_types,
    )
    path = f"/api/task/update/{segment(task_id)}"
    return UPDATE.call(path, json=fields, context={"task_id": task_id})


def edit_task(
    task_id: str,
    *,
    details: str | None = None,
    difficulty: str | None = None,
    assigned_to: Sequence[str] | None = None,
    name: str | None = None,
    description: str | None = None,
    type: TaskType | None = None,
    points: int | None = None,
    badge: str | None = None,
    resources: Sequence[str] | None = None,
    due_date: datetime | str | None = None,
    submission_types: Sequence[SubmissionType] | None = None,
) -> Call[MutationResult[Task]]:
    """:meth:`update`, as the frontend sends it (``PATCH``, the same handler)."""
    fields = _changes(
        details=details,
        difficulty=difficulty,
        assigned_to=assigned_to,
        name=name,
        description=description,
        type=type,
        points=points,
        badge=badge,
        resources=resources,
        due_date=due_date,
        submission_types=submission_types,
    )
    path = f"/api/task/edit/{segment(task_id)}"
    return EDIT.call(path, json=fields, context={"task_id": task_id})


def assign_task(task_id: str, *, assigned_to: Sequence[str]) -> Call[MutationResult[Task]]:
    """Replace the task's assignees."""
    path = f"/api/task/assign/{segment(task_id)}"
    return ASSIGN.call(path, json={"assignedTo": list(assigned_to)}, context={"task_id": task_id})


def delete_task(task_id: str) -> Call[MutationResult[Task]]:
    """Delete the task; returns it as it was. The fixed service also removes it from its
    category, batch and every progress; the real one leaves those references behind (defect
    ``no_cascade``). A repeat finds nothing (:class:`~gamify_client.NotFoundError`)."""
    return DELETE.call(f"/api/task/delete/{segment(task_id)}", context={"task_id": task_id})


class Tasks(SyncResource):
    """Tasks: list, read, create, complete, submit, start, update, edit, assign, delete."""

    list = sync_endpoint(list_tasks)
    get = sync_endpoint(get_task)
    submission = sync_endpoint(get_submission)
    create = sync_endpoint(create_task)
    complete = sync_endpoint(complete_task)
    submit = sync_endpoint(submit_task)
    start = sync_endpoint(start_task)
    update = sync_endpoint(update_task)
    edit = sync_endpoint(edit_task)
    assign = sync_endpoint(assign_task)
    delete = sync_endpoint(delete_task)


class AsyncTasks(AsyncResource):
    """Tasks, awaited: list, read, create, complete, submit, start, update, edit, assign,
    delete."""

    list = async_endpoint(list_tasks)
    get = async_endpoint(get_task)
    submission = async_endpoint(get_submission)
    create = async_endpoint(create_task)
    complete = async_endpoint(complete_task)
    submit = async_endpoint(submit_task)
    start = async_endpoint(start_task)
    update = async_endpoint(update_task)
    edit = async_endpoint(edit_task)
    assign = async_endpoint(assign_task)
    delete = async_endpoint(delete_task)
