"""Typed documents of the Gamify backend (pydantic v2).

Attributes are snake_case; the wire's camelCase names and ``_id`` are accepted as aliases and
used again by ``model_dump(by_alias=True)``. Unknown fields are kept (``model_extra``), since
the real service adds fields freely. Every reference between documents accepts the id string
or the populated object, and every timestamp is an aware ``datetime`` (UTC when the wire
gives no offset).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeAlias, TypeVar

from pydantic import AfterValidator, AliasChoices, AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = [
    "ActivityLogEntry",
    "Batch",
    "BatchMetrics",
    "BatchProgressReport",
    "BatchProgressSummary",
    "Category",
    "CompletedTask",
    "Dashboard",
    "Document",
    "GamifyModel",
    "InProgressTask",
    "LoginResult",
    "MutationResult",
    "OverallStats",
    "ProgressMetrics",
    "RealTimeData",
    "RegisterResult",
    "Submission",
    "SubmissionProgress",
    "SubmitTaskOutcome",
    "Task",
    "TaskProgress",
    "TaskSubmitOutcome",
    "User",
    "UserBatchProgress",
    "UserProfile",
]


def _as_aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# The wire's times carry ``Z`` and validate as AwareDatetime without leaving pydantic-core; only
# a time without an offset takes the slower path that assumes UTC.
Timestamp: TypeAlias = Annotated[
    AwareDatetime | Annotated[datetime, AfterValidator(_as_aware)],
    Field(union_mode="left_to_right"),
]
"""An ISO-8601 time on the wire, an aware datetime in Python."""

Designation: TypeAlias = Literal["superadmin", "admin", "mentor", "user"]


class GamifyModel(BaseModel):
    """Base of every model: camelCase aliases, snake_case names, unknown fields kept.

    Models are immutable: an unchanged answer gives back the very objects it gave before, and
    the cache hands the same objects to every observer, so change one with ``model_copy``.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=False,
        extra="allow",
        frozen=True,
    )


class Document(GamifyModel):
    """A stored document: a 24-hex ``_id`` and the usual Mongo bookkeeping fields."""

    id: str = Field(alias="_id", validation_alias=AliasChoices("_id", "id"))
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    version: int | None = Field(default=None, alias="__v")


class CompletedTask(GamifyModel):
    """One entry of ``User.completed_tasks``."""

    task: str | Task | None = None
    completed_at: Timestamp | None = None


class InProgressTask(GamifyModel):
    """One entry of ``User.in_progress_tasks``."""

    task: str | Task | None = None
    started_at: Timestamp | None = None


class User(Document):
    """A person: superadmin, admin, mentor or user. ``xps`` is the total XP."""

    username: str | None = None
    email: str | None = None
    designation: Designation | str | None = None
    parent_id: str | User | None = None
    admin_id: str | None = None
    avatar: str | None = None
    xps: int = 0
    restricted: bool | None = None
    completed_tasks: list[CompletedTask] = Field(default_factory=list)
    in_progress_tasks: list[InProgressTask] = Field(default_factory=list)


class Category(Document):
    """A task category within a batch."""

    name: str | None = None
    emoji: str | None = None
    color: str | None = None
    tasks: list[str | Task] = Field(default_factory=list)
    batch: str | Batch | None = None


class Task(Document):
    """A task that users submit to earn ``points`` XP."""

    name: str | None = None
    description: str | None = None
    details: str | None = None
    difficulty: str | None = None
    category: str | Category | None = None
    batch: str | Batch | None = None
    type: str | None = None
    points: int = 0
    badge: str | None = None
    resources: list[Any] = Field(default_factory=list)
    due_date: Timestamp | None = None
    submission_types: list[str] = Field(default_factory=list)
    assigned_to: list[str | User] = Field(default_factory=list)
    completed_by: list[Any] = Field(default_factory=list)
    completed_count: int = 0
    in_progress_count: int = 0


class BatchMetrics(GamifyModel):
    """A batch's aggregate progress."""

    average_completion_rate: float = 0
    average_score: float = 0
    total_tasks_completed: int = 0
    mentor_feedback_count: int = 0


class Batch(Document):
    """A cohort: an admin, a mentor, enrolled users and their tasks."""

    name: str | None = None
    description: str | None = None
    admin: str | User | None = None
    mentor: str | User | None = None
    users: list[str | User] = Field(default_factory=list)
    tasks: list[str | Task] = Field(default_factory=list)
    learning_objectives: list[str] = Field(default_factory=list)
    industry_focus: str | None = None
    difficulty_level: str | None = None
    estimated_duration: float | str | None = None
    status: str | None = None
    start_date: Timestamp | None = None
    end_date: Timestamp | None = None
    progress_metrics: BatchMetrics | None = None


class TaskProgress(GamifyModel):
    """One task's state in a user's batch progress."""

    task_id: str | Task
    status: str = "not_started"
    submission_id: str | Submission | None = None
    submitted_at: Timestamp | None = None
    grade: float | None = None
    feedback: str | None = None
    points_earned: int = 0
    attempts: int = 0


class ProgressMetrics(GamifyModel):
    """A user's aggregate progress in one batch."""

    total_tasks: int = 0
    completed_tasks: int = 0
    submitted_tasks: int = 0
    graded_tasks: int = 0
    total_points_earned: int = 0
    completion_percentage: float = 0
    average_grade: float | None = None


class ActivityLogEntry(GamifyModel):
    """One line of a progress activity log (``task_completed``, ``milestone_reached``, ...)."""

    action: str
    task_id: str | Task | None = None
    description: str | None = None
    timestamp: Timestamp | None = None
    metadata: dict[str, Any] | None = None


class UserBatchProgress(GamifyModel):
    """A user's progress in one batch. ``id`` is None for the zeroed default the server
    returns before any progress exists."""

    id: str | None = Field(default=None, alias="_id", validation_alias=AliasChoices("_id", "id"))
    user_id: str | User | None = None
    batch_id: str | Batch | None = None
    task_progress: list[TaskProgress] = Field(default_factory=list)
    progress_metrics: ProgressMetrics = Field(default_factory=ProgressMetrics)
    activity_log: list[ActivityLogEntry] = Field(default_factory=list)
    enrolled_at: Timestamp | None = None
    last_active_at: Timestamp | None = None
    status: str | None = None


class Submission(GamifyModel):
    """A user's answer to a task. The submit route's receipt carries ``id`` instead of
    ``_id``; both are accepted."""

    id: str = Field(alias="_id", validation_alias=AliasChoices("_id", "id"))
    user_id: str | User | None = None
    task_id: str | Task | None = None
    submission_type: str | None = None
    value: Any = None
    submitted_at: Timestamp | None = None
    status: str | None = None
    grade: float | None = None
    feedback: str | None = None


class OverallStats(GamifyModel):
    """The dashboard's totals across every batch of the user."""

    total_batches: int = 0
    total_tasks_across_all_batches: int = 0
    total_completed_tasks: int = 0
    total_submitted_tasks: int = 0
    total_points_earned: int = 0
    user_total_xp: int = Field(default=0, alias="userTotalXP")
    current_streak: int = 0
    average_completion_rate: float = 0


class UserProfile(GamifyModel):
    """The dashboard's short profile of the user."""

    username: str | None = None
    total_xp: int = Field(default=0, alias="totalXP")


class Dashboard(GamifyModel):
    """What ``GET /api/batch-progress/dashboard/me`` returns for the token's user."""

    overall_stats: OverallStats = Field(default_factory=OverallStats)
    batch_progress: list[UserBatchProgress] = Field(default_factory=list)
    recent_submissions: list[Submission] = Field(default_factory=list)
    user_profile: UserProfile = Field(default_factory=UserProfile)
    last_updated: Timestamp | None = None


class BatchProgressSummary(GamifyModel):
    """A user's batch progress in brief, as ``realTimeData.batchProgress`` gives it."""

    completed_tasks: int = 0
    total_tasks: int = 0
    completion_percentage: float = 0
    total_points_earned: int = 0


class RealTimeData(GamifyModel):
    """The ``realTimeData`` a mutation returns: what changed, for the cache to patch at once.

    The submit routes fill the progress fields, task create the task fields. The real
    service's task submit omits ``current_streak`` (it is then None).
    """

    task_status: str | None = None
    task_id: str | None = None
    task_name: str | None = None
    batch_id: str | None = None
    user_id: str | None = None
    points_earned: int | None = None
    new_total_xp: int | None = Field(default=None, alias="newTotalXP")
    current_streak: int | None = None
    completion_time: Timestamp | None = None
    batch_progress: BatchProgressSummary | None = None
    activity_log: list[ActivityLogEntry] | ActivityLogEntry | None = None
    points: int | None = None
    difficulty: str | None = None
    created_at: Timestamp | None = None
    assigned_to: list[str | User] | None = None
    total_users_affected: int | None = None


class SubmissionProgress(GamifyModel):
    """The ``progress`` block of a task submit: the XP it earned."""

    points_earned: int = 0
    total_xps: int | None = Field(default=None, alias="totalXPS")
    task_completed: bool | None = None
    new_total_xp: int | None = Field(default=None, alias="newTotalXP")


class TaskSubmitOutcome(GamifyModel):
    """What ``POST /api/task/:id/submit`` reports: the submission receipt and the XP."""

    submission: Submission
    progress: SubmissionProgress = Field(default_factory=SubmissionProgress)


class SubmitTaskOutcome(GamifyModel):
    """What ``POST /api/batch-progress/submit-task`` reports in its ``data``."""

    task_progress: TaskProgress | list[TaskProgress] | None = None
    progress_metrics: ProgressMetrics | None = None
    current_streak: int | None = None
    points_earned: int | None = None
    new_total_xp: int | None = Field(default=None, alias="newTotalXP")
    is_first_task_of_day: bool | None = None


class BatchProgressReport(GamifyModel):
    """A batch with every student's progress, most complete first."""

    batch: Batch | str | None = None
    students_progress: list[UserBatchProgress] = Field(default_factory=list)


class LoginResult(GamifyModel):
    """A successful login: the JWT to send as ``Authorization: Bearer``."""

    message: str | None = None
    user_id: str
    token: str
    designation: str | None = None


class RegisterResult(GamifyModel):
    """A new account; admins also get the short ``admin_id`` their users log in with."""

    message: str | None = None
    user_id: str
    admin_id: str | None = None


# The documents reference each other (a task's batch, a batch's tasks); resolve the cycle once
# every class exists.
for _model in (CompletedTask, InProgressTask, User, Category, Task, Batch, TaskProgress):
    _model.model_rebuild()


_Data = TypeVar("_Data")


@dataclass(frozen=True, slots=True)
class MutationResult(Generic[_Data]):
    """What a write returns: the parsed payload, the server's message, and ``real_time``
    (the parsed ``realTimeData``, or None when the route sends none)."""

    data: _Data
    message: str | None = None
    real_time: RealTimeData | None = None
    body: Any = None
    """The decoded JSON body as the server sent it."""
