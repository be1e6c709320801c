"""The models: wire aliases both ways, round trips, unknown fields, references in both forms,
aware timestamps and the zeroed progress default."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from gamify_client import MutationResult
from gamify_client.models import (
    ActivityLogEntry,
    Batch,
    BatchProgressReport,
    Category,
    CompletedTask,
    Dashboard,
    Document,
    InProgressTask,
    LoginResult,
    OverallStats,
    ProgressMetrics,
    RealTimeData,
    RegisterResult,
    Submission,
    SubmissionProgress,
    SubmitTaskOutcome,
    Task,
    TaskProgress,
    User,
    UserBatchProgress,
    UserProfile,
    ref_id,
)

USER_ID = "65f0c1a2b3c4d5e6f7a8b903"
BATCH_ID = "65f0c1a2b3c4d5e6f7a8b910"
CATEGORY_ID = "65f0c1a2b3c4d5e6f7a8b920"
TASK_ID = "65f0c1a2b3c4d5e6f7a8b930"
SUBMISSION_ID = "65f0c1a2b3c4d5e6f7a8b940"
PROGRESS_ID = "65f0c1a2b3c4d5e6f7a8b950"
CREATED = "2024-03-12T09:15:27.431Z"


# Aliases


@pytest.mark.parametrize(
    ("model", "base", "wire", "attribute", "value"),
    [
        (Task, {}, "_id", "id", TASK_ID),
        (Task, {"_id": TASK_ID}, "__v", "version", 3),
        (Task, {"_id": TASK_ID}, "inProgressCount", "in_progress_count", 2),
        (Task, {"_id": TASK_ID}, "submissionTypes", "submission_types", ["Link"]),
        (User, {"_id": USER_ID}, "parentId", "parent_id", BATCH_ID),
        (Batch, {"_id": BATCH_ID}, "learningObjectives", "learning_objectives", ["APIs"]),
        (UserBatchProgress, {}, "_id", "id", PROGRESS_ID),
        (Submission, {"_id": SUBMISSION_ID}, "submissionType", "submission_type", "Link"),
        (OverallStats, {}, "userTotalXP", "user_total_xp", 350),
        (OverallStats, {}, "totalTasksAcrossAllBatches", "total_tasks_across_all_batches", 9),
        (UserProfile, {}, "totalXP", "total_xp", 350),
        (RealTimeData, {}, "newTotalXP", "new_total_xp", 350),
        (RealTimeData, {}, "totalUsersAffected", "total_users_affected", 4),
        (SubmissionProgress, {}, "totalXPS", "total_xps", 350),
        (SubmissionProgress, {}, "newTotalXP", "new_total_xp", 350),
        (SubmitTaskOutcome, {}, "newTotalXP", "new_total_xp", 350),
        (SubmitTaskOutcome, {}, "isFirstTaskOfDay", "is_first_task_of_day", True),
        (LoginResult, {"token": "t"}, "userId", "user_id", USER_ID),
        (RegisterResult, {"userId": USER_ID}, "adminId", "admin_id", "ADM123"),
    ],
)
def test_aliases_work_both_ways(
    model: type[BaseModel], base: dict[str, Any], wire: str, attribute: str, value: Any
) -> None:
    from_wire = model.model_validate({**base, wire: value})
    by_name = model.model_validate({**base, attribute: value})

    assert getattr(from_wire, attribute) == value
    assert getattr(by_name, attribute) == value
    assert from_wire == by_name
    assert from_wire.model_dump(by_alias=True)[wire] == value
    assert from_wire.model_dump()[attribute] == value
    assert wire not in (from_wire.model_extra or {})


def test_the_submit_receipt_id_is_accepted_and_dumped_as_underscore_id() -> None:
    receipt = Submission.model_validate({"id": SUBMISSION_ID, "status": "submitted"})

    assert receipt.id == SUBMISSION_ID
    assert receipt.model_extra == {}
    assert receipt.model_dump(by_alias=True)["_id"] == SUBMISSION_ID


def test_underscore_id_wins_over_a_virtual_id() -> None:
    # Mongoose adds a virtual ``id`` next to ``_id`` when virtuals are serialised.
    task = Task.model_validate({"_id": TASK_ID, "id": "virtual"})

    assert task.id == TASK_ID
    assert task.model_extra == {"id": "virtual"}


def test_a_document_without_id_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        Task.model_validate({"name": "no id"})

    assert [(error["type"], error["loc"]) for error in caught.value.errors()] == [
        ("missing", ("_id",))
    ]


def test_models_are_built_by_attribute_name() -> None:
    task = Task(id=TASK_ID, in_progress_count=1, due_date=datetime(2024, 4, 30, tzinfo=UTC))

    assert task.model_dump(by_alias=True)["inProgressCount"] == 1
    assert task.model_dump(by_alias=True)["dueDate"] == datetime(2024, 4, 30, tzinfo=UTC)


# Round trips and unknown fields


def wire_task() -> dict[str, Any]:
    return {
        "_id": TASK_ID,
        "name": "Build a REST API",
        "category": {"_id": CATEGORY_ID, "name": "Backend", "emoji": "🛠️", "sortKey": 3},
        "batch": BATCH_ID,
        "points": 100,
        "dueDate": "2024-04-30T23:59:59.000Z",
        "submissionTypes": ["Link"],
        "assignedTo": [USER_ID, {"_id": USER_ID, "username": "ada", "xps": 250}],
        "completedCount": 1,
        "inProgressCount": 2,
        "createdAt": CREATED,
        "updatedAt": CREATED,
        "__v": 0,
        "reviewQueue": "fast-track",
    }


def wire_progress() -> dict[str, Any]:
    return {
        "_id": PROGRESS_ID,
        "userId": {"_id": USER_ID, "username": "ada"},
        "batchId": BATCH_ID,
        "taskProgress": [
            {"taskId": TASK_ID, "status": "completed", "grade": 92.5, "_id": SUBMISSION_ID}
        ],
        "progressMetrics": {"totalTasks": 2, "completedTasks": 1, "completionPercentage": 50},
        "activityLog": [
            {"action": "task_completed", "taskId": TASK_ID, "timestamp": CREATED, "metadata": {}}
        ],
        "enrolledAt": CREATED,
        "createdAt": CREATED,
        "__v": 4,
    }


def wire_dashboard() -> dict[str, Any]:
    return {
        "overallStats": {"totalBatches": 1, "userTotalXP": 350, "currentStreak": 2},
        "batchProgress": [wire_progress()],
        "recentSubmissions": [{"_id": SUBMISSION_ID, "value": {"url": "https://x.test"}}],
        "userProfile": {"username": "ada", "totalXP": 350, "rank": 1},
        "lastUpdated": CREATED,
    }


@pytest.mark.parametrize(
    ("model", "wire"),
    [(Task, wire_task()), (UserBatchProgress, wire_progress()), (Dashboard, wire_dashboard())],
)
def test_dump_by_alias_round_trips(model: type[BaseModel], wire: dict[str, Any]) -> None:
    parsed = model.model_validate(wire)

    dumped = parsed.model_dump(by_alias=True)

    assert model.model_validate(dumped) == parsed
    assert model.model_validate_json(parsed.model_dump_json(by_alias=True)) == parsed
    assert set(wire) <= set(dumped)


def test_plain_dump_uses_attribute_names() -> None:
    dumped = Task.model_validate(wire_task()).model_dump()

    assert dumped["id"] == TASK_ID
    assert dumped["in_progress_count"] == 2
    assert dumped["version"] == 0
    assert "_id" not in dumped
    assert "inProgressCount" not in dumped


def test_unknown_fields_are_kept_at_every_level() -> None:
    task = Task.model_validate(wire_task())

    assert task.model_extra == {"reviewQueue": "fast-track"}
    assert isinstance(task.category, Category)
    assert task.category.model_extra == {"sortKey": 3}
    dumped = task.model_dump(by_alias=True)
    assert dumped["reviewQueue"] == "fast-track"
    assert dumped["category"]["sortKey"] == 3

    dashboard = Dashboard.model_validate(wire_dashboard())
    assert dashboard.user_profile.model_extra == {"rank": 1}
    assert dashboard.batch_progress[0].model_extra == {"createdAt": CREATED, "__v": 4}
    assert dashboard.batch_progress[0].task_progress[0].model_extra == {"_id": SUBMISSION_ID}


# References: an id string or the populated object


def _required(model: type[BaseModel]) -> dict[str, Any]:
    if issubclass(model, Document) or model is Submission:
        return {"_id": "65f0c1a2b3c4d5e6f7a8b999"}
    if model is TaskProgress:
        return {"taskId": TASK_ID}
    if model is ActivityLogEntry:
        return {"action": "task_started"}
    return {}


REFERENCES: list[tuple[type[BaseModel], str, str, type[Document], bool]] = [
    (CompletedTask, "task", "task", Task, False),
    (InProgressTask, "task", "task", Task, False),
    (Category, "tasks", "tasks", Task, True),
    (Category, "batch", "batch", Batch, False),
    (Task, "category", "category", Category, False),
    (Task, "batch", "batch", Batch, False),
    (Task, "assignedTo", "assigned_to", User, True),
    (Batch, "admin", "admin", User, False),
    (Batch, "mentor", "mentor", User, False),
    (Batch, "users", "users", User, True),
    (Batch, "tasks", "tasks", Task, True),
    (TaskProgress, "taskId", "task_id", Task, False),
    (ActivityLogEntry, "taskId", "task_id", Task, False),
    (UserBatchProgress, "userId", "user_id", User, False),
    (UserBatchProgress, "batchId", "batch_id", Batch, False),
    (Submission, "userId", "user_id", User, False),
    (Submission, "taskId", "task_id", Task, False),
    (RealTimeData, "assignedTo", "assigned_to", User, True),
    (BatchProgressReport, "batch", "batch", Batch, False),
]


@pytest.mark.parametrize(
    ("model", "wire", "attribute", "target", "many"),
    REFERENCES,
    ids=[f"{model.__name__}.{attribute}" for model, _, attribute, _, _ in REFERENCES],
)
def test_every_reference_takes_an_id_or_the_populated_object(
    model: type[BaseModel], wire: str, attribute: str, target: type[Document], many: bool
) -> None:
    reference_id = "65f0c1a2b3c4d5e6f7a8b9aa"
    populated = {"_id": reference_id, "createdAt": CREATED, "__v": 0, "legacy": True}

    def wrap(value: Any) -> Any:
        return [value] if many else value

    def unwrap(value: Any) -> Any:
        if many:
            assert isinstance(value, list)
            assert len(value) == 1
            return value[0]
        return value

    by_id = model.model_validate({**_required(model), wire: wrap(reference_id)})
    by_object = model.model_validate({**_required(model), wire: wrap(populated)})

    assert unwrap(getattr(by_id, attribute)) == reference_id
    referenced = unwrap(getattr(by_object, attribute))
    assert type(referenced) is target
    assert referenced.id == reference_id
    assert referenced.created_at == datetime(2024, 3, 12, 9, 15, 27, 431000, tzinfo=UTC)
    assert referenced.model_extra == {"legacy": True}


def test_a_list_of_references_may_mix_both_forms() -> None:
    batch = Batch.model_validate(
        {"_id": BATCH_ID, "users": [USER_ID, {"_id": "65f0c1a2b3c4d5e6f7a8b904", "xps": 10}]}
    )

    first, second = batch.users
    assert first == USER_ID
    assert isinstance(second, User)
    assert second.xps == 10


# Timestamps


TIMESTAMPS: list[tuple[type[BaseModel], str, str]] = [
    (Task, "createdAt", "created_at"),
    (Task, "dueDate", "due_date"),
    (Batch, "startDate", "start_date"),
    (CompletedTask, "completedAt", "completed_at"),
    (InProgressTask, "startedAt", "started_at"),
    (TaskProgress, "submittedAt", "submitted_at"),
    (ActivityLogEntry, "timestamp", "timestamp"),
    (UserBatchProgress, "lastActiveAt", "last_active_at"),
    (Submission, "submittedAt", "submitted_at"),
    (Dashboard, "lastUpdated", "last_updated"),
    (RealTimeData, "completionTime", "completion_time"),
]


@pytest.mark.parametrize(
    ("model", "wire", "attribute"),
    TIMESTAMPS,
    ids=[f"{model.__name__}.{attribute}" for model, _, attribute in TIMESTAMPS],
)
@pytest.mark.parametrize(
    "value",
    [
        "2024-03-12T09:15:27.431Z",
        "2024-03-12T09:15:27.431",
        datetime(2024, 3, 12, 9, 15, 27, 431000),
    ],
    ids=["wire", "naive-text", "naive-datetime"],
)
def test_timestamps_are_aware_and_utc_when_naive(
    model: type[BaseModel], wire: str, attribute: str, value: str | datetime
) -> None:
    parsed = getattr(model.model_validate({**_required(model), wire: value}), attribute)

    assert isinstance(parsed, datetime)
    assert parsed.utcoffset() == timedelta(0)
    assert parsed == datetime(2024, 3, 12, 9, 15, 27, 431000, tzinfo=UTC)


def test_a_timestamp_keeps_its_offset() -> None:
    task = Task.model_validate({"_id": TASK_ID, "dueDate": "2024-04-30T23:59:59.000+05:30"})

    assert task.due_date is not None
    assert task.due_date.utcoffset() == timedelta(hours=5, minutes=30)
    assert task.due_date == datetime(2024, 4, 30, 18, 29, 59, tzinfo=UTC)


def test_a_naive_timestamp_set_by_name_becomes_utc() -> None:
    submission = Submission(id=SUBMISSION_ID, submitted_at=datetime(2024, 1, 1, 12, 0))

    assert submission.submitted_at == datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


def test_a_malformed_timestamp_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        Task.model_validate({"_id": TASK_ID, "dueDate": "next tuesday"})

    assert caught.value.errors()[0]["loc"][0] == "dueDate"


# Defaults


def test_the_zeroed_progress_default_has_no_id() -> None:
    zeroed = UserBatchProgress.model_validate(
        {
            "userId": USER_ID,
            "batchId": BATCH_ID,
            "taskProgress": [],
            "progressMetrics": {"totalTasks": 0, "completedTasks": 0, "completionPercentage": 0},
            "activityLog": [],
        }
    )

    assert zeroed.id is None
    assert zeroed.user_id == USER_ID
    assert zeroed.batch_id == BATCH_ID
    assert zeroed.progress_metrics == ProgressMetrics()
    assert zeroed.enrolled_at is None
    assert UserBatchProgress().progress_metrics == ProgressMetrics()


def test_missing_counters_default_to_zero() -> None:
    task = Task.model_validate({"_id": TASK_ID})
    stats = OverallStats.model_validate({})
    dashboard = Dashboard.model_validate({})

    assert (task.points, task.completed_count, task.in_progress_count) == (0, 0, 0)
    assert task.assigned_to == []
    assert task.category is None
    assert stats.user_total_xp == 0
    assert stats.current_streak == 0
    assert dashboard.batch_progress == []
    assert dashboard.user_profile.total_xp == 0
    assert User.model_validate({"_id": USER_ID}).xps == 0


def test_real_time_data_without_current_streak_leaves_it_none() -> None:
    real_time = RealTimeData.model_validate({"taskStatus": "completed", "newTotalXP": 350})

    assert real_time.current_streak is None
    assert real_time.new_total_xp == 350
    assert real_time.batch_progress is None


def test_real_time_activity_log_takes_one_entry_or_a_list() -> None:
    entry = {"action": "task_completed", "taskId": TASK_ID}

    one = RealTimeData.model_validate({"activityLog": entry})
    many = RealTimeData.model_validate({"activityLog": [entry, entry]})

    assert isinstance(one.activity_log, ActivityLogEntry)
    assert isinstance(many.activity_log, list)
    assert [item.action for item in many.activity_log] == ["task_completed"] * 2


def test_a_designation_outside_the_four_roles_is_kept() -> None:
    assert User.model_validate({"_id": USER_ID, "designation": "guest"}).designation == "guest"


def test_login_and_register_need_their_ids() -> None:
    with pytest.raises(ValidationError):
        LoginResult.model_validate({"message": "Login successful", "userId": USER_ID})
    with pytest.raises(ValidationError):
        RegisterResult.model_validate({"message": "User registered successfully"})


# MutationResult


def test_mutation_result_defaults_and_is_frozen() -> None:
    task = Task.model_validate({"_id": TASK_ID})
    result = MutationResult(data=task)

    assert result.data is task
    assert result.message is None
    assert result.real_time is None
    assert result.body is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.message = "changed"  # type: ignore[misc]


def test_reports_equal_whatever_their_bookkeeping_and_differ_in_any_other_field() -> None:
    dashboard = Dashboard.model_validate(wire_dashboard())
    later = Dashboard.model_validate({**wire_dashboard(), "lastUpdated": "2030-01-01T00:00:00Z"})
    more_xp = wire_dashboard()
    more_xp["overallStats"] = {**more_xp["overallStats"], "userTotalXP": 351}
    extra = Dashboard.model_validate({**wire_dashboard(), "badge": "gold"})
    missing = dashboard.model_copy()
    object.__setattr__(missing, "__dict__", dict(dashboard.__dict__))
    del missing.__dict__["user_profile"]

    assert later == dashboard
    assert Dashboard.model_validate(more_xp) != dashboard
    assert extra != dashboard
    assert missing != dashboard
    assert dashboard != wire_dashboard()


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("6b0e386bb188e6d731e883bb", "6b0e386bb188e6d731e883bb"),
        ({"_id": "6b0e386bb188e6d731e883bb", "name": "Demo"}, "6b0e386bb188e6d731e883bb"),
        (None, None),
        (42, None),
    ],
    ids=["id string", "populated document", "null (deleted)", "wrong type"],
)
def test_ref_id_reads_an_id_string_or_a_populated_document(
    reference: Any, expected: str | None
) -> None:
    if isinstance(reference, dict):
        reference = Batch.model_validate(reference)
    assert ref_id(reference) == expected
