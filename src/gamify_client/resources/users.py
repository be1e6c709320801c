"""Users and auth: ``/api/user``.

Accounts, login, the users listing, restrictions, profile and settings changes, a user's
progress reports, and the learner's own overview of a batch (summary, skills, topics, mood).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import TypeAdapter

from .._call import Call
from .._parsing import MutationPayload, Payload
from ..events import Event
from ..keys import CacheKey, Key
from ..models import (
    Acknowledgement,
    CompletedTask,
    Designation,
    LoginResult,
    MutationResult,
    RegisterResult,
    RestrictResult,
    User,
    UserBatchProgress,
    UserBatchReport,
    UserProgressReport,
    UsersListing,
)
from ..realtime import MutationContext, Patch, Rule, Write, scoped, user_update_patches
from ._base import (
    AsyncResource,
    SyncResource,
    async_endpoint,
    body,
    segment,
    sync_endpoint,
    wire_time,
)

__all__ = ["AsyncUsers", "Theme", "Users"]

Theme = Literal["light", "dark", "system"]

_USER = Payload(TypeAdapter(User), "User", keys=("user",), bare=True)
_USER_WRITE = MutationPayload(_USER)
_LOGIN = Payload(TypeAdapter(LoginResult), "login answer", bare=True)
_REGISTER = Payload(TypeAdapter(RegisterResult), "register answer", bare=True)
_LISTING = Payload(TypeAdapter(UsersListing), "users listing", bare=True)
_PROGRESS_REPORT = Payload(TypeAdapter(UserProgressReport), "user progress report", bare=True)
_BATCH_REPORT = Payload(TypeAdapter(UserBatchReport), "user batch report", bare=True)
_COMPLETED = Payload(
    TypeAdapter(list[CompletedTask]), "list of completed tasks", keys=("completedTasks",)
)
_RESTRICT = MutationPayload(Payload(TypeAdapter(RestrictResult), "restriction", bare=True))
_ACKNOWLEDGED = MutationPayload(Payload(TypeAdapter(Acknowledgement), "answer", bare=True))
_PROGRESS_WRITE = MutationPayload(
    Payload(TypeAdapter(UserBatchProgress), "UserBatchProgress", keys=("progress",), bare=True)
)

# --- real-time rules -------------------------------------------------------------------------


def _account_keys(context: MutationContext) -> list[Key]:
    """What changes with an account's name, email or restriction: its profile, the users
    listings, and every batch listing and feedback list that shows it populated."""
    return [
        scoped(CacheKey.USER_PROFILE, context.user_id),
        CacheKey.USERS,
        CacheKey.BATCHES,
        CacheKey.BATCH,
        CacheKey.USER_BATCHES,
        CacheKey.AVAILABLE_BATCHES,
        CacheKey.FEEDBACK,
    ]


def _profile_keys(context: MutationContext) -> list[Key]:
    """A profile update also renames the user on their dashboard."""
    return [*_account_keys(context), scoped(CacheKey.DASHBOARD, context.user_id)]


def _deleted_account_keys(context: MutationContext) -> list[Key]:
    """An account delete takes the user's progress, submissions and feedback with it, so
    every batch report and analytics that counted them changes too."""
    user_id = context.user_id
    return [
        *_profile_keys(context),
        scoped(CacheKey.USER_PROGRESS, user_id),
        scoped(CacheKey.USER_ANALYTICS, user_id),
        scoped(CacheKey.SURVEYS, user_id),
        scoped(CacheKey.NOTIFICATIONS, user_id),
        CacheKey.BATCH_PROGRESS,
        CacheKey.ANALYTICS,
        CacheKey.ACTIVITY,
        CacheKey.SUBMISSIONS,
    ]


def _overview_keys(context: MutationContext) -> list[Key]:
    """A learner's overview of a batch shows in their progress (and dashboard, which carries
    the progress documents), their batch report and the batch's progress."""
    user_id, batch_id = context.user_id, context.batch_id
    return [
        scoped(CacheKey.USER_PROGRESS, user_id, batch_id),
        scoped(CacheKey.USER_ANALYTICS, user_id),
        scoped(CacheKey.DASHBOARD, user_id),
        scoped(CacheKey.BATCH_PROGRESS, batch_id),
    ]


_PROFILE_FIELDS = (
    "username",
    "email",
    "avatar",
    "theme",
    "email_notifications",
    "in_app_notifications",
)
_OVERVIEW_FIELDS = ("learning_summary", "skills_acquired", "engaged_topics", "mood_tracker")


def _copy_fields(source: Any, kind: type[Any], fields: Sequence[str]) -> Patch:
    """A patch that copies ``fields`` from ``source`` onto a cached ``kind``; the rest of the
    cached value (populated references the write's answer lacks) stays."""

    def patch(cached: Any) -> Any:
        if not isinstance(cached, kind):
            return cached
        return cached.model_copy(update={name: getattr(source, name) for name in fields})

    return patch


def _profile_patches(context: MutationContext) -> Sequence[tuple[Key, Patch]]:
    """The answer's profile fields reach the cached profile at once."""
    user = context.result.data
    if not isinstance(user, User):
        return ()
    return [((CacheKey.USER_PROFILE, user.id), _copy_fields(user, User, _PROFILE_FIELDS))]


def _overview_patches(context: MutationContext) -> Sequence[tuple[Key, Patch]]:
    """The answer's overview reaches the cached progress of that user in that batch at once."""
    progress, user_id, batch_id = context.result.data, context.user_id, context.batch_id
    if not isinstance(progress, UserBatchProgress) or user_id is None or batch_id is None:
        return ()
    patch = _copy_fields(progress, UserBatchProgress, _OVERVIEW_FIELDS)
    return [((CacheKey.USER_PROGRESS, user_id, batch_id), patch)]


_ACCOUNT_RULE = Rule(Event.USER_UPDATE, _account_keys)
_OVERVIEW_RULE = Rule(Event.PROGRESS_UPDATE, _overview_keys, _overview_patches)
_ACCOUNT_IDS = {"user_id": ":id"}
_OVERVIEW_IDS = {"user_id": ":userId", "batch_id": ":batchId"}
_USER_BATCH = "/api/user/:userId/progress/batch/:batchId"

RESTRICT_ADMIN = Write(
    "users.restrict_admin",
    "PATCH",
    "/api/user/restrict/:id",
    _RESTRICT,
    _ACCOUNT_RULE,
    ids=_ACCOUNT_IDS,
)
RESTRICT_USER = Write(
    "users.restrict_user",
    "PATCH",
    "/api/user/restrict-user/:id",
    _RESTRICT,
    _ACCOUNT_RULE,
    ids=_ACCOUNT_IDS,
)
RESTRICT_MENTOR = Write(
    "users.restrict_mentor",
    "PATCH",
    "/api/user/restrict-mentor/:id",
    _RESTRICT,
    _ACCOUNT_RULE,
    ids=_ACCOUNT_IDS,
)
UPDATE = Write(
    "users.update",
    "PATCH",
    "/api/user/:id",
    _USER_WRITE,
    Rule(Event.USER_UPDATE, _profile_keys, _profile_patches),
    ids=_ACCOUNT_IDS,
    repeatable=True,
)
UPDATE_PASSWORD = Write(
    "users.update_password",
    "PATCH",
    "/api/user/:id/password",
    _ACKNOWLEDGED,
    # No cached data shows a password.
    Rule(Event.USER_UPDATE, lambda c: []),
    ids=_ACCOUNT_IDS,
)
UPDATE_EMAIL = Write(
    "users.update_email",
    "PATCH",
    "/api/user/:id/email",
    _USER_WRITE,
    Rule(Event.USER_UPDATE, _account_keys, _profile_patches),
    ids=_ACCOUNT_IDS,
    repeatable=True,
)
DELETE = Write(
    "users.delete",
    "DELETE",
    "/api/user/:id",
    _ACKNOWLEDGED,
    Rule(Event.DATA_REFRESH, _deleted_account_keys),
    ids=_ACCOUNT_IDS,
    repeatable=True,
)
UPDATE_LEARNING_SUMMARY = Write(
    "users.update_learning_summary",
    "PATCH",
    f"{_USER_BATCH}/summary",
    _PROGRESS_WRITE,
    _OVERVIEW_RULE,
    ids=_OVERVIEW_IDS,
    repeatable=True,
)
UPDATE_SKILLS = Write(
    "users.update_skills",
    "PATCH",
    f"{_USER_BATCH}/skills",
    _PROGRESS_WRITE,
    _OVERVIEW_RULE,
    ids=_OVERVIEW_IDS,
    repeatable=True,
)
UPDATE_TOPICS = Write(
    "users.update_topics",
    "PATCH",
    f"{_USER_BATCH}/topics",
    _PROGRESS_WRITE,
    _OVERVIEW_RULE,
    ids=_OVERVIEW_IDS,
    repeatable=True,
)
UPDATE_MOOD = Write(
    "users.update_mood",
    "PATCH",
    f"{_USER_BATCH}/mood",
    _PROGRESS_WRITE,
    _OVERVIEW_RULE,
    ids=_OVERVIEW_IDS,
    repeatable=True,
)
UPDATE_POINTS = Write(
    "users.update_points",
    "PATCH",
    "/api/user/:userId/points",
    _USER_WRITE,
    Rule(
        Event.USER_UPDATE,
        lambda c: [
            scoped(CacheKey.USER_PROFILE, c.user_id),
            scoped(CacheKey.DASHBOARD, c.user_id),
            scoped(CacheKey.USER_ANALYTICS, c.user_id),
        ],
        user_update_patches,
    ),
    ids={"user_id": ":userId"},
    # The body is the new total, not an increment: sending it again changes nothing.
    repeatable=True,
)

# --- account and session ---------------------------------------------------------------------


def register_user(
    *,
    name: str,
    email: str,
    password: str,
    designation: Designation,
    parent_id: str | None = None,
) -> Call[RegisterResult]:
    """Create an account. Admins get an ``admin_id`` (like ``ADM123``) that their users log
    in with; a ``user`` names its admin with ``parent_id`` (the admin's short code or
    ``_id``; the real service stores it verbatim, and only an ``_id`` lets the user log in).
    A taken email (any case) is a :class:`~gamify_client.BadRequestError`; a superadmin
    signup is refused by a fixed server."""
    fields = {
        "name": name,
        "email": email,
        "password": password,
        "designation": designation,
        "parentId": parent_id,
    }
    return Call("POST", "/api/user/register", _REGISTER, json=body(fields))


def login_user(
    *,
    email: str,
    password: str,
    designation: Designation = "admin",
    admin_id: str | None = None,
) -> Call[LoginResult]:
    """Log in and get a JWT (valid one day); the client keeps the token and sends it as
    ``Authorization: Bearer`` from then on. A ``user`` needs its admin's ``admin_id``.
    Refusals are :class:`~gamify_client.BadRequestError` with the service's message
    ("user does not exist", "Invalid  password", "Invalid designation", ...); a restricted
    account gets :class:`~gamify_client.PermissionDeniedError` from a fixed server."""
    if designation == "user" and not admin_id:
        raise ValueError("logging in as a user needs admin_id, the short id of the user's admin")
    fields = {
        "email": email,
        "password": password,
        "designation": designation,
        "adminId": admin_id,
    }
    return Call("POST", "/api/user/login", _LOGIN, json=body(fields), keeps_token=True)


def verify_token() -> Call[User]:
    """The account the client's token belongs to. On the real service ``GET /api/user/:id``
    shadows this route, so it answers :class:`~gamify_client.InternalServerError`."""
    return Call("GET", "/api/user/verify", _USER)


# --- reads -----------------------------------------------------------------------------------


def list_users() -> Call[UsersListing]:
    """Every account by role (superadmins, admins, mentors, users); an admin gets only its
    own users. Needs a token; a fixed server refuses role ``user``."""
    return Call("GET", "/api/user/all", _LISTING)


def get_user(user_id: str) -> Call[User]:
    """One user, without the password; ``completed_tasks[].task`` is populated with the
    task's name (None once the task was deleted)."""
    return Call("GET", f"/api/user/{segment(user_id)}", _USER)


def user_progress(user_id: str) -> Call[UserProgressReport]:
    """A user's progress over the tasks assigned to them: XP, counts, the streak (only when
    a task was completed today) and completions per day. The real service's
    ``average_score`` is always 0."""
    return Call("GET", f"/api/user/{segment(user_id)}/progress", _PROGRESS_REPORT)


def batch_report(user_id: str, batch_id: str) -> Call[UserBatchReport]:
    """:meth:`progress` over one batch's tasks, with the learner's overview of the batch
    (summary, skills, topics, mood) and the newest feedback they got there. The real service
    answers a fixed placeholder overview instead of the stored one."""
    path = f"/api/user/{segment(user_id)}/progress/batch/{segment(batch_id)}"
    return Call("GET", path, _BATCH_REPORT)


def completed_tasks(user_id: str) -> Call[list[CompletedTask]]:
    """The tasks the user completed, each populated with its category. Needs a token; the
    real service always answers :class:`~gamify_client.InternalServerError` here."""
    return Call("GET", f"/api/user/{segment(user_id)}/completed-tasks", _COMPLETED)


# --- writes ----------------------------------------------------------------------------------


def _account_write(
    write: Write[Any], path: str, user_id: str, fields: Mapping[str, Any] | None = None
) -> Call[Any]:
    # Express 5 leaves req.body undefined without a JSON body: send at least {}.
    return write.call(path, json=body(fields or {}), context={"user_id": user_id})


def restrict_admin(user_id: str) -> Call[MutationResult[RestrictResult]]:
    """Toggle an admin's restriction (superadmin only). A toggle: never retried once sent."""
    return _account_write(RESTRICT_ADMIN, f"/api/user/restrict/{segment(user_id)}", user_id)


def restrict_user(user_id: str) -> Call[MutationResult[RestrictResult]]:
    """Toggle a user's restriction (their admin or a superadmin). Never retried once sent."""
    return _account_write(RESTRICT_USER, f"/api/user/restrict-user/{segment(user_id)}", user_id)


def restrict_mentor(user_id: str) -> Call[MutationResult[RestrictResult]]:
    """Toggle a mentor's restriction (an admin or superadmin; the real service lets mentors
    too). Never retried once sent."""
    path = f"/api/user/restrict-mentor/{segment(user_id)}"
    return _account_write(RESTRICT_MENTOR, path, user_id)


def update_user(
    user_id: str,
    *,
    username: str | None = None,
    email: str | None = None,
    avatar: str | None = None,
    theme: Theme | None = None,
    email_notifications: bool | None = None,
    in_app_notifications: bool | None = None,
) -> Call[MutationResult[User]]:
    """Change the user's own profile and settings (``avatar=""`` removes the avatar); the
    updated user. Fields left None are not sent."""
    fields = {
        "username": username,
        "email": email,
        "avatar": avatar,
        "theme": theme,
        "emailNotifications": email_notifications,
        "inAppNotifications": in_app_notifications,
    }
    return _account_write(UPDATE, f"/api/user/{segment(user_id)}", user_id, fields)


def update_password(
    user_id: str, *, current_password: str, new_password: str
) -> Call[MutationResult[Acknowledgement]]:
    """Change the caller's own password. On the real service the new one is hashed twice and
    then neither password logs in (defect ``password_double_hash``)."""
    fields = {"currentPassword": current_password, "newPassword": new_password}
    return _account_write(
        UPDATE_PASSWORD, f"/api/user/{segment(user_id)}/password", user_id, fields
    )


def update_email(user_id: str, *, new_email: str) -> Call[MutationResult[User]]:
    """Change the caller's own email; the updated user. A taken email is a
    :class:`~gamify_client.BadRequestError` ("Email already in use")."""
    path = f"/api/user/{segment(user_id)}/email"
    return _account_write(UPDATE_EMAIL, path, user_id, {"newEmail": new_email})


def delete_account(user_id: str, *, password: str) -> Call[MutationResult[Acknowledgement]]:
    """Delete the caller's own account, confirmed with its password. A fixed server also
    deletes its progress, submissions and feedback and takes it out of its batches."""
    path = f"/api/user/{segment(user_id)}"
    return _account_write(DELETE, path, user_id, {"password": password})


def update_points(user_id: str, *, xps: int) -> Call[MutationResult[User]]:
    """Set a user's XP total (the new total, not an increment). Needs a token; a fixed server
    lets only the user themself or an admin."""
    path = f"/api/user/{segment(user_id)}/points"
    return _account_write(UPDATE_POINTS, path, user_id, {"xps": xps})


def _overview_write(
    write: Write[UserBatchProgress], suffix: str, user_id: str, batch_id: str, value: Any
) -> Call[MutationResult[UserBatchProgress]]:
    path = f"/api/user/{segment(user_id)}/progress/batch/{segment(batch_id)}/{suffix}"
    return write.call(path, json=value, context={"user_id": user_id, "batch_id": batch_id})


def _wire_entry(entry: Any) -> Any:
    """An overview entry as JSON: a mapping's datetimes as wire times."""
    if not isinstance(entry, Mapping):
        return entry
    return {
        key: wire_time(value) if isinstance(value, datetime) else value
        for key, value in entry.items()
    }


def update_learning_summary(
    user_id: str, batch_id: str, *, learning_summary: str
) -> Call[MutationResult[UserBatchProgress]]:
    """Set the learner's summary of a batch; their progress in it. The real service creates
    a progress when none exists (``upsert_phantom_progress``); a fixed one answers 404."""
    return _overview_write(
        UPDATE_LEARNING_SUMMARY,
        "summary",
        user_id,
        batch_id,
        {"learningSummary": learning_summary},
    )


def update_skills(
    user_id: str, batch_id: str, *, skills: Sequence[str]
) -> Call[MutationResult[UserBatchProgress]]:
    """Replace the skills the learner lists for a batch; their progress in it."""
    return _overview_write(
        UPDATE_SKILLS, "skills", user_id, batch_id, {"skillsAcquired": list(skills)}
    )


def update_topics(
    user_id: str, batch_id: str, *, topics: Sequence[Mapping[str, str]]
) -> Call[MutationResult[UserBatchProgress]]:
    """Replace the learner's most engaged topics of a batch (``{"topic", "reason"}`` each);
    their progress in it."""
    entries = [_wire_entry(topic) for topic in topics]
    return _overview_write(UPDATE_TOPICS, "topics", user_id, batch_id, {"engagedTopics": entries})


def update_mood(
    user_id: str, batch_id: str, *, mood: Sequence[Mapping[str, Any]]
) -> Call[MutationResult[UserBatchProgress]]:
    """Replace the learner's mood tracker for a batch (``{"date", "mood", "context"}`` each,
    the date a ``datetime`` or ISO text); their progress in it."""
    entries = [_wire_entry(entry) for entry in mood]
    return _overview_write(UPDATE_MOOD, "mood", user_id, batch_id, {"moodTracker": entries})


class Users(SyncResource):
    """Users: accounts, login, listing, restrictions, settings, progress reports."""

    register = sync_endpoint(register_user)
    login = sync_endpoint(login_user)
    verify = sync_endpoint(verify_token)
    list = sync_endpoint(list_users)
    get = sync_endpoint(get_user)
    progress = sync_endpoint(user_progress)
    batch_report = sync_endpoint(batch_report)
    completed_tasks = sync_endpoint(completed_tasks)
    restrict_admin = sync_endpoint(restrict_admin)
    restrict_user = sync_endpoint(restrict_user)
    restrict_mentor = sync_endpoint(restrict_mentor)
    update = sync_endpoint(update_user)
    update_password = sync_endpoint(update_password)
    update_email = sync_endpoint(update_email)
    delete = sync_endpoint(delete_account)
    update_points = sync_endpoint(update_points)
    update_learning_summary = sync_endpoint(update_learning_summary)
    update_skills = sync_endpoint(update_skills)
    update_topics = sync_endpoint(update_topics)
    update_mood = sync_endpoint(update_mood)


class AsyncUsers(AsyncResource):
    """Users, awaited: accounts, login, listing, restrictions, settings, progress reports."""

    register = async_endpoint(register_user)
    login = async_endpoint(login_user)
    verify = async_endpoint(verify_token)
    list = async_endpoint(list_users)
    get = async_endpoint(get_user)
    progress = async_endpoint(user_progress)
    batch_report = async_endpoint(batch_report)
    completed_tasks = async_endpoint(completed_tasks)
    restrict_admin = async_endpoint(restrict_admin)
    restrict_user = async_endpoint(restrict_user)
    restrict_mentor = async_endpoint(restrict_mentor)
    update = async_endpoint(update_user)
    update_password = async_endpoint(update_password)
    update_email = async_endpoint(update_email)
    delete = async_endpoint(delete_account)
    update_points = async_endpoint(update_points)
    update_learning_summary = async_endpoint(update_learning_summary)
    update_skills = async_endpoint(update_skills)
    update_topics = async_endpoint(update_topics)
    update_mood = async_endpoint(update_mood)
