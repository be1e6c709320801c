"""``/api/user``: accounts, login, the users listing, restrictions, profile and settings
writes, a user's progress reports and the learner's own overview of a batch."""

from __future__ import annotations

import contextlib
import math
import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, date
from typing import Any

from ._auth import check_password, hash_password, issue_token
from ._documents import new_user, populate, public_user, touch
from ._express import BackendResponse, json_response, server_error_page
from ._ids import is_object_id, iso, parse_iso
from ._progress import current_streak, js_round, new_progress
from ._routing import (
    STAFF,
    Context,
    Failure,
    Handler,
    HttpError,
    Route,
    js_falsy,
    object_id,
    require_fields,
)
from ._store import Collection, Doc, DocumentStore

DESIGNATIONS = ("superadmin", "admin", "mentor", "user")
THEMES = ("light", "dark", "system")
PROFILE_FIELDS = (
    "username",
    "email",
    "avatar",
    "theme",
    "emailNotifications",
    "inAppNotifications",
)
"""What a user may change about their own account through ``PATCH /api/user/:id``."""
USER_SCHEMA_FIELDS = frozenset(
    {
        *PROFILE_FIELDS,
        "password",
        "designation",
        "parentId",
        "adminId",
        "xps",
        "restricted",
        "completedTasks",
        "inProgressTasks",
        "_id",
        "__v",
    }
)
"""The User schema's paths: anything else in an update is dropped (Mongoose's strict mode)."""

_NO_FEEDBACK = "No mentor feedback yet."
# The real service's invented overview of a batch (defect ``fake_analytics``).
_PLACEHOLDER_OVERVIEW: dict[str, Any] = {
    "learningSummary": (
        "You\u2019ve completed the foundational modules of this batch. You've demonstrated strong "
        "engagement in key topics, and your skills have steadily improved."
    ),
    "skillsAcquired": [
        "Built responsive layouts using Flexbox and Grid.",
        "Developed dynamic UIs with state management in React.",
        "Integrated backend APIs using Express.js.",
    ],
    "engagedTopics": [
        {
            "topic": "Authentication",
            "reason": "Spent extra time, deep interest or initial difficulty",
        },
        {"topic": "React Hooks", "reason": "Quickly mastered advanced concepts"},
    ],
    "moodTracker": [
        {"date": "2024-05-01", "mood": "Confident", "context": "JavaScript lessons"},
        {"date": "2024-05-02", "mood": "Challenged", "context": "Backend integration"},
    ],
}


class InvalidInput(ValueError):
    """A request value Mongoose would refuse: the route's 500 on the real service."""


# --- shared checks ---------------------------------------------------------------------------


def _invalid(ctx: Context, message: str) -> HttpError | InvalidInput:
    """What bad input raises: 400 ``{message}`` once fixed, the route's 500 under
    ``validation_500``."""
    if ctx.has_defect("validation_500"):
        return InvalidInput(message)
    return HttpError(400, {"message": message})


def _js_text(value: object) -> str:
    """``String(value)`` for the scalars Mongoose casts to a String path."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _text(ctx: Context, path: str, value: object) -> str | None:
    """``value`` cast as a Mongoose String path casts it (None stays None)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return _js_text(value)
    raise _invalid(ctx, f"{path} must be a string")


def _text_list(ctx: Context, path: str, value: object) -> list[str]:
    if not isinstance(value, list):
        raise _invalid(ctx, f"{path} must be a list of strings")
    items = [_text(ctx, path, item) for item in value]
    if any(item is None for item in items):
        raise _invalid(ctx, f"{path} must be a list of strings")
    return [item for item in items if item is not None]


def _boolean(ctx: Context, path: str, value: object) -> bool:
    """``value`` cast as a Mongoose Boolean path casts it."""
    if value in (True, "true", 1, "1", "yes"):
        return True
    if value in (False, "false", 0, "0", "no"):
        return False
    raise _invalid(ctx, f"{path} must be a boolean")


def _number(ctx: Context, path: str, value: object) -> float | int:
    """``value`` cast as a Mongoose Number path casts it: a finite number or numeric text."""
    if isinstance(value, str) and value.strip():
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _invalid(ctx, f"{path} must be a number")
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _email(value: str) -> str:
    """An email as accounts are compared: trimmed, in lower case."""
    return value.strip().lower()


def _missing_body(ctx: Context, first_field: str) -> BackendResponse | None:
    """The answer to a write sent without a JSON body, where the real handler destructures
    ``req.body`` outside its ``try`` (Express 5 leaves it undefined): 400 once fixed, Express's
    HTML 500 under ``no_body_html500``. None when there is a body."""
    content_type = ctx.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctx.fields or content_type == "application/json" or content_type.endswith("+json"):
        return None
    if ctx.has_defect("no_body_html500"):
        return server_error_page(
            f"TypeError: Cannot destructure property '{first_field}' of 'req.body' "
            "as it is undefined."
        )
    raise HttpError(400, {"message": "A JSON body is required"})


def _user_or_none(ctx: Context, user_id: str, model: str = "User") -> Doc | None:
    return ctx.store.get(Collection.USERS, object_id(user_id, model))


def _find_by_email(store: DocumentStore, email: str) -> Doc | None:
    return store.find_one(Collection.USERS, email=_email(email))


def _shown(ctx: Context, user: Doc) -> Doc:
    """A user as the two routes that leak the hash show it: whole under ``user_hash_leak``."""
    return dict(user) if ctx.has_defect("user_hash_leak") else public_user(user)


def _refuse_taken_username(ctx: Context, username: str, own_id: str | None = None) -> None:
    # Usernames are unique in the schema; there is no index to look them up by, and
    # registrations are rare, so one pass over the accounts is the cost.
    for other in ctx.store.find(Collection.USERS):
        if other.get("username") == username and other["_id"] != own_id:
            if ctx.has_defect("validation_500"):
                raise InvalidInput(
                    "E11000 duplicate key error collection: Tasks.users index: username_1 "
                    f'dup key: {{ username: "{username}" }}'
                )
            raise HttpError(400, {"message": "Username already taken"})


# --- register and login ----------------------------------------------------------------------


def _new_admin_id(store: DocumentStore) -> str:
    """A short ``ADM`` code no other admin has: three digits while they last, then six."""
    for low, span in ((100, 900),) * 50 + ((0, 10**6),) * 50:
        digits = len(str(low + span - 1))
        candidate = f"ADM{low + secrets.randbelow(span):0{digits}d}"
        if store.find_one(Collection.USERS, adminId=candidate) is None:
            return candidate
    raise RuntimeError("no free admin id")


def _admin_of(ctx: Context, parent: object) -> str | None:
    """The ``_id`` a new user's ``parentId`` names: an admin's short code or ``_id`` both
    resolve to the ``_id`` (fixed ``parent_id_code``); 400 ``Invalid Admin ID.`` otherwise."""
    if js_falsy(parent):
        return None
    code = _text(ctx, "parentId", parent)
    if ctx.has_defect("parent_id_code") or code is None:
        return code
    admin = ctx.store.find_one(Collection.USERS, adminId=code)
    if admin is None and is_object_id(code):
        admin = ctx.store.get(Collection.USERS, code)
    if admin is None or admin.get("designation") != "admin":
        raise HttpError(400, {"message": "Invalid Admin ID."})
    return str(admin["_id"])


def _validation_errors(fields: dict[str, Any]) -> list[str]:
    """Mongoose's ValidationError parts for a new user, as the real register reports them."""
    errors = [
        f"{path}: Path `{path}` is required."
        for path, field_name in (
            ("username", "name"),
            ("email", "email"),
            ("password", "password"),
            ("designation", "designation"),
        )
        if js_falsy(fields.get(field_name))
    ]
    designation = fields.get("designation")
    if not js_falsy(designation) and designation not in DESIGNATIONS:
        errors.append(
            f"designation: `{designation}` is not a valid enum value for path `designation`."
        )
    return errors


def register(ctx: Context) -> BackendResponse:
    """``POST /api/user/register``: 201 ``{message, userId, adminId?}``; an admin gets a new
    short ``adminId``, a user's ``parentId`` names its admin."""
    if (page := _missing_body(ctx, "name")) is not None:
        return page
    fields = ctx.fields
    if not ctx.has_defect("validation_500"):
        require_fields(fields, "name", "email", "password", "designation")
        if fields["designation"] not in DESIGNATIONS:
            raise HttpError(400, {"message": "Invalid designation"})
    designation = fields.get("designation")
    if designation == "superadmin" and not ctx.has_defect("open_superadmin_signup"):
        raise HttpError(403, {"message": "Superadmin accounts cannot be created by signup"})
    email = _text(ctx, "email", fields.get("email"))
    # Mongoose drops an undefined filter, so the real check finds any account at all.
    if email is None:
        taken = ctx.store.find_one(Collection.USERS)
    else:
        taken = _find_by_email(ctx.store, email)
    if taken is not None:
        raise HttpError(400, {"message": "User already exists"})
    errors = _validation_errors(fields)
    if errors:
        raise InvalidInput("User validation failed: " + ", ".join(errors))
    username = _text(ctx, "name", fields["name"]) or ""
    password = _text(ctx, "password", fields["password"]) or ""
    parent_id = _admin_of(ctx, fields.get("parentId")) if designation == "user" else None
    _refuse_taken_username(ctx, username)
    admin_id = _new_admin_id(ctx.store) if designation == "admin" else None
    user = new_user(
        ctx,
        username=username,
        email=_email(email or ""),
        password_hash=hash_password(password),
        designation=str(designation),
        parent_id=parent_id,
        admin_id=admin_id,
    )
    ctx.store.insert(Collection.USERS, user)
    payload: dict[str, Any] = {"message": "User registered successfully", "userId": user["_id"]}
    if admin_id is not None:
        payload["adminId"] = admin_id
    return json_response(201, payload)


def _login_refusal(ctx: Context, user: Doc, fields: dict[str, Any]) -> str | None:
    """The first of login's checks after the password that refuses ``user``, as its message."""
    designation = fields.get("designation")
    if designation != user["designation"]:
        return "Invalid designation"
    if designation != "user":
        return None
    admin_code = fields.get("adminId")
    if js_falsy(admin_code):
        return "Admin ID is required."
    admin = (
        ctx.store.find_one(Collection.USERS, adminId=admin_code)
        if isinstance(admin_code, str)
        else None
    )
    if admin is None or admin.get("designation") != "admin":
        return "Invalid Admin ID."
    if str(user.get("parentId")) != admin["_id"]:
        return "You are not assigned to this Admin ID."
    return None


def login(ctx: Context) -> BackendResponse:
    """``POST /api/user/login``: 200 ``{message, userId, token, designation}``.

    Checks in the real service's order: the account, the password, the designation, then
    for a ``user`` its admin's short ``adminId``; a restricted account is refused once fixed.
    """
    if (page := _missing_body(ctx, "email")) is not None:
        return page
    fields = ctx.fields
    email, password = fields.get("email"), fields.get("password")
    if not isinstance(email, str) or not isinstance(password, str):
        if ctx.has_defect("validation_500"):
            raise InvalidInput(f"Illegal arguments: {_js_type(password)}, string")
        raise HttpError(400, {"message": "Missing required fields."})
    user = _find_by_email(ctx.store, email)
    if user is None:
        raise HttpError(400, {"message": "user does not exist"})
    if not check_password(password, user["password"]):
        raise HttpError(400, {"message": "Invalid  password"})
    refusal = _login_refusal(ctx, user, fields)
    if refusal is not None:
        raise HttpError(400, {"message": refusal})
    if user.get("restricted") is True and not ctx.has_defect("restricted_ignored"):
        raise HttpError(403, {"message": "Account is restricted"})
    token = issue_token(
        user["_id"], user["designation"], secret=ctx.state.token_secret, now=ctx.now
    )
    return json_response(
        200,
        {
            "message": "Login successful",
            "userId": user["_id"],
            "token": token,
            "designation": user["designation"],
        },
    )


# --- reads -----------------------------------------------------------------------------------

_LISTED_FIELDS = ("username", "email", "designation", "restricted")
_GROUPS = (
    ("superadmins", "superadmin", ()),
    ("admins", "admin", ("adminId",)),
    ("mentors", "mentor", ()),
    ("users", "user", ("parentId", "adminId")),
)


def list_users(ctx: Context) -> BackendResponse:
    """``GET /api/user/all``: ``{superadmins, admins, mentors, users}``; an admin gets only
    its own users, and a ``user`` is refused once fixed (``user_list_any_role``)."""
    caller = ctx.verified_claims()
    if caller.designation == "user" and not ctx.has_defect("user_list_any_role"):
        raise HttpError(403, {"message": "Only staff can list accounts"})
    listing: dict[str, list[Doc]] = {group: [] for group, _, _ in _GROUPS}
    for user in ctx.store.find(Collection.USERS):
        for group, designation, extra in _GROUPS:
            if user.get("designation") != designation:
                continue
            # An admin sees only its own users.
            foreign = user.get("parentId") != caller.user_id
            if group == "users" and caller.designation == "admin" and foreign:
                continue
            selected = (*_LISTED_FIELDS, *extra)
            listing[group].append(
                {"_id": user["_id"], **{name: user[name] for name in selected if name in user}}
            )
    return json_response(200, listing)


def verify(ctx: Context) -> BackendResponse:
    """``GET /api/user/verify``: ``{user}``, the token's account without its password."""
    user = _user_or_none(ctx, ctx.verified_claims().user_id)
    if user is None:
        raise HttpError(404, {"error": "User not found"})
    return json_response(200, {"user": public_user(user)})


def get_user(ctx: Context) -> BackendResponse:
    """``GET /api/user/:id``: the bare user without its password, ``completedTasks[].task``
    populated as ``{_id, name}``."""
    user = _user_or_none(ctx, ctx.params["id"])
    if user is None:
        raise HttpError(404, {"message": "User not found"})
    shown = public_user(user)
    shown["completedTasks"] = [
        {**entry, "task": populate(ctx.store, Collection.TASKS, entry.get("task"), ("name",))}
        for entry in user.get("completedTasks", [])
    ]
    return json_response(200, shown)


def _locale_day(day: date) -> str:
    """A day as ``Date.toLocaleDateString()`` writes it in the service's (en-US) locale."""
    return f"{day.month}/{day.day}/{day.year}"


def _average_grade(ctx: Context, progresses: Iterable[Doc]) -> float:
    """The mean grade of the user's graded task entries, rounded; always 0 on the real
    service (``fake_analytics``)."""
    if ctx.has_defect("fake_analytics"):
        return 0
    grades = [
        entry["grade"]
        for progress in progresses
        for entry in progress.get("taskProgress", [])
        if isinstance(entry.get("grade"), (int, float))
    ]
    return js_round(sum(grades) / len(grades)) if grades else 0


def _report(ctx: Context, user: Doc, tasks: Iterable[Doc], progresses: list[Doc]) -> Doc:
    """XP, assigned and completed counts, the streak, the mean grade and completions per day
    over ``tasks`` (those assigned to ``user``; completions are the ``completionRecords``)."""
    user_id = user["_id"]
    assigned = [task for task in tasks if user_id in (task.get("assignedTo") or [])]
    completed = [task for task in assigned if user_id in (task.get("completedBy") or [])]
    per_day: dict[str, int] = {}
    days: set[date] = set()
    for task in completed:
        for record in task.get("completionRecords") or []:
            if record.get("userId") != user_id or not isinstance(record.get("date"), str):
                continue
            day = parse_iso(record["date"]).astimezone(ctx.now.tzinfo).date()
            days.add(day)
            label = _locale_day(day)
            per_day[label] = per_day.get(label, 0) + 1
    today = ctx.now.date()
    return {
        "xps": user.get("xps") or 0,
        "tasksAssigned": len(assigned),
        "tasksCompleted": len(completed),
        # The service counts a streak only when today has a completion.
        "currentStreak": current_streak(days, today) if today in days else 0,
        "averageScore": _average_grade(ctx, progresses),
        "completedOverTime": per_day,
    }


def user_progress(ctx: Context) -> BackendResponse:
    """``GET /api/user/:id/progress``: the report over every task assigned to the user."""
    user = _user_or_none(ctx, ctx.params["id"])
    if user is None:
        raise HttpError(404, {"message": "User not found"})
    # Tasks are indexed by batch only; the report reads them all, as the service does.
    tasks = ctx.store.find(Collection.TASKS)
    progresses = ctx.store.find(Collection.PROGRESS, userId=user["_id"])
    return json_response(200, _report(ctx, user, tasks, progresses))


def _newest_feedback(ctx: Context, user_id: str, batch_id: str) -> str:
    received = [
        feedback
        for feedback in ctx.store.find(Collection.FEEDBACK, toUser=user_id)
        if feedback.get("batch") == batch_id and feedback.get("content")
    ]
    if not received:
        return _NO_FEEDBACK
    newest = max(received, key=lambda feedback: str(feedback.get("createdAt", "")))
    return str(newest["content"])


def _overview(ctx: Context, progress: Doc | None) -> dict[str, Any]:
    """The learner's overview of a batch: what they stored (fixed ``fake_analytics``)."""
    if ctx.has_defect("fake_analytics"):
        return dict(_PLACEHOLDER_OVERVIEW)
    stored = progress or {}
    return {
        "learningSummary": stored.get("learningSummary") or "",
        "skillsAcquired": stored.get("skillsAcquired") or [],
        "engagedTopics": stored.get("engagedTopics") or [],
        "moodTracker": stored.get("moodTracker") or [],
    }


def user_batch_report(ctx: Context) -> BackendResponse:
    """``GET /api/user/:userId/progress/batch/:batchId``: the report over the batch's tasks,
    the learner's overview of the batch and the newest feedback they got in it."""
    user = _user_or_none(ctx, ctx.params["userId"])
    batch_id = object_id(ctx.params["batchId"], "Batch")
    if user is None:
        raise HttpError(404, {"message": "User not found"})
    tasks = ctx.store.find(Collection.TASKS, batch=batch_id)
    progress = ctx.store.find_one(Collection.PROGRESS, userId=user["_id"], batchId=batch_id)
    report = _report(ctx, user, tasks, [progress] if progress is not None else [])
    overview = _overview(ctx, progress)
    return json_response(
        200,
        {
            **report,
            "learningSummary": overview["learningSummary"],
            "skillsAcquired": overview["skillsAcquired"],
            "mentorFeedbackSummary": _newest_feedback(ctx, user["_id"], batch_id),
            "engagedTopics": overview["engagedTopics"],
            "moodTracker": overview["moodTracker"],
        },
    )


def completed_tasks(ctx: Context) -> BackendResponse:
    """``GET /api/user/:userId/completed-tasks``: ``{completedTasks}``, each ``task``
    populated with its category ``{_id, name, emoji}``; always 500 on the real service
    (``completed_tasks_populate_500``). Another user's list is for staff and mentors."""
    user_id = ctx.params["userId"]
    ctx.require_self_or(user_id, (*STAFF, "mentor"))
    user = _user_or_none(ctx, user_id)
    if user is None:
        raise HttpError(404, {"error": "User not found"})
    if ctx.has_defect("completed_tasks_populate_500"):
        raise HttpError(500, {"error": "Failed to fetch completed tasks"})
    entries = []
    for entry in user.get("completedTasks", []):
        task = populate(ctx.store, Collection.TASKS, entry.get("task"))
        if task is not None:
            category = populate(
                ctx.store, Collection.CATEGORIES, task.get("category"), ("name", "emoji")
            )
            task = {**task, "category": category}
        entries.append({**entry, "task": task})
    return json_response(200, {"completedTasks": entries})


# --- restrictions ----------------------------------------------------------------------------


def _toggle(ctx: Context, account: Doc, label: str) -> BackendResponse:
    account["restricted"] = not account.get("restricted")
    ctx.store.save(Collection.USERS, account)
    state = "restricted" if account["restricted"] else "unrestricted"
    return json_response(
        200, {"message": f"{label} {state} successfully", "restricted": account["restricted"]}
    )


def _account(ctx: Context, designation: str, model: str) -> Doc | None:
    """``User.findOne({_id, designation})`` for the path id."""
    account = _user_or_none(ctx, ctx.params["id"], model)
    return account if account is not None and account["designation"] == designation else None


def restrict_admin(ctx: Context) -> BackendResponse:
    """``PATCH /api/user/restrict/:id``: a superadmin toggles an admin's ``restricted``."""
    if ctx.verified_claims().designation != "superadmin":
        raise HttpError(403, {"message": "Only superadmin can perform this action"})
    admin = _account(ctx, "admin", "Admin")
    if admin is None:
        raise HttpError(404, {"message": "Admin not found"})
    return _toggle(ctx, admin, "Admin")


def restrict_user(ctx: Context) -> BackendResponse:
    """``PATCH /api/user/restrict-user/:id``: an admin (of that user) or a superadmin toggles
    a user's ``restricted``."""
    caller = ctx.verified_claims()
    refusal = {"message": "Only admin or superadmin can perform this action"}
    if caller.designation not in STAFF:
        raise HttpError(403, refusal)
    user = _account(ctx, "user", "User")
    admin = None
    if caller.designation == "admin":
        admin = ctx.store.get(Collection.USERS, caller.user_id)
        if admin is None or admin["designation"] != "admin":
            raise HttpError(403, refusal)
    if user is None:
        raise HttpError(404, {"message": "User not found"})
    if admin is not None:
        # The real service compares with the admin's short code (``parent_id_code``).
        owner = admin.get("adminId") if ctx.has_defect("parent_id_code") else admin["_id"]
        if str(user.get("parentId")) != str(owner):
            raise HttpError(403, {"message": "Admins can only restrict their own users"})
    return _toggle(ctx, user, "User")


def restrict_mentor(ctx: Context) -> BackendResponse:
    """``PATCH /api/user/restrict-mentor/:id``: an admin or superadmin toggles a mentor's
    ``restricted`` (any role but ``user`` under ``restrict_mentor_any_staff``)."""
    designation = ctx.verified_claims().designation
    if designation == "user":
        raise HttpError(403, {"message": "Only superadmin can perform this action"})
    if designation not in STAFF and not ctx.has_defect("restrict_mentor_any_staff"):
        raise HttpError(403, {"message": "Only admin or superadmin can perform this action"})
    mentor = _account(ctx, "mentor", "Mentor")
    if mentor is None:
        raise HttpError(404, {"message": "Mentor not found"})
    return _toggle(ctx, mentor, "Mentor")


# --- profile, password, email, account -------------------------------------------------------


def _profile_changes(ctx: Context, user_id: str) -> dict[str, Any]:
    """The fields of a profile update, cast and checked; only :data:`PROFILE_FIELDS` unless
    ``user_patch_open`` (then any schema path, unvalidated, as sent)."""
    sent = {name: value for name, value in ctx.fields.items() if name in USER_SCHEMA_FIELDS}
    if ctx.has_defect("user_patch_open"):
        return sent
    refused = sorted(set(sent) - set(PROFILE_FIELDS))
    if refused:
        raise HttpError(403, {"message": f"These fields cannot be changed here: {refused}"})
    changes: dict[str, Any] = {}
    for name, value in sent.items():
        if name in ("emailNotifications", "inAppNotifications"):
            changes[name] = _boolean(ctx, name, value)
            continue
        text = _text(ctx, name, value)
        if name == "theme" and text not in THEMES:
            raise _invalid(ctx, f"theme must be one of {', '.join(THEMES)}")
        if name == "username":
            if not text:
                raise _invalid(ctx, "username must not be empty")
            _refuse_taken_username(ctx, text, user_id)
        if name == "email":
            text = _email(text or "")
            if not text:
                raise _invalid(ctx, "email must not be empty")
            _refuse_taken_email(ctx, text, user_id)
        changes[name] = text
    return changes


def _refuse_taken_email(ctx: Context, email: str, user_id: str) -> None:
    other = _find_by_email(ctx.store, email)
    if other is not None and other["_id"] != user_id:
        raise HttpError(400, {"message": "Email already in use"})


def update_user(ctx: Context) -> BackendResponse:
    """``PATCH /api/user/:id``: the bare updated user. Once fixed, only the user themself (or
    a superadmin) may, and only the profile fields (``user_patch_open``)."""
    user_id = ctx.params["id"]
    if not ctx.has_defect("user_patch_open"):
        ctx.require_self_or(
            user_id, ("superadmin",), message="You can only update your own profile"
        )
    user = _user_or_none(ctx, user_id)
    if user is None:
        raise HttpError(404, {"error": "User not found"})
    user.update(_profile_changes(ctx, user["_id"]))
    ctx.store.save(Collection.USERS, touch(ctx, user))
    return json_response(200, _shown(ctx, user))


def _own_account(ctx: Context, message: str) -> Doc:
    """The path's account, which only its owner may change (403 ``message`` otherwise)."""
    user_id = ctx.params["id"]
    if ctx.verified_claims().user_id != user_id:
        raise HttpError(403, {"message": message})
    user = _user_or_none(ctx, user_id)
    if user is None:
        raise HttpError(404, {"message": "User not found"})
    return user


def _js_type(value: object) -> str:
    """``typeof value`` as bcrypt's "Illegal arguments" message names it."""
    if value is None:
        return "undefined"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "string" if isinstance(value, str) else "object"


def _password_field(ctx: Context, name: str) -> str:
    """A password from the body; bcrypt throws for anything but text on the real service."""
    value = ctx.fields.get(name)
    if isinstance(value, str) and value:
        return value
    if ctx.has_defect("validation_500"):
        raise InvalidInput(f"Illegal arguments: {_js_type(value)}, string")
    raise HttpError(400, {"message": f"{name} is required"})


def update_password(ctx: Context) -> BackendResponse:
    """``PATCH /api/user/:id/password``: the owner changes their password; stored hashed
    once (twice under ``password_double_hash``, so that neither password works)."""
    user = _own_account(ctx, "You can only update your own password")
    current = _password_field(ctx, "currentPassword")
    if not check_password(current, user["password"]):
        raise HttpError(400, {"message": "Current password is incorrect"})
    new_hash = hash_password(_password_field(ctx, "newPassword"))
    if ctx.has_defect("password_double_hash"):
        new_hash = hash_password(new_hash)
    user["password"] = new_hash
    ctx.store.save(Collection.USERS, touch(ctx, user))
    return json_response(200, {"message": "Password updated successfully"})


def update_email(ctx: Context) -> BackendResponse:
    """``PATCH /api/user/:id/email``: the owner changes their email (compared in lower case);
    ``{message, user}``."""
    user_id = ctx.params["id"]
    if ctx.verified_claims().user_id != user_id:
        raise HttpError(403, {"message": "You can only update your own email"})
    new_email = _text(ctx, "newEmail", ctx.fields.get("newEmail"))
    if not new_email or not _email(new_email):
        raise _invalid(ctx, "newEmail is required")
    _refuse_taken_email(ctx, _email(new_email), user_id)
    user = _user_or_none(ctx, user_id)
    if user is None:
        raise HttpError(404, {"message": "User not found"})
    user["email"] = _email(new_email)
    ctx.store.save(Collection.USERS, touch(ctx, user))
    return json_response(200, {"message": "Email updated successfully", "user": _shown(ctx, user)})


def _forget_user(ctx: Context, user_id: str) -> None:
    """Delete what belongs to a deleted account (its progress, submissions and feedback given
    or received) and take it out of every batch's ``users``."""
    store = ctx.store
    for collection, where in (
        (Collection.PROGRESS, {"userId": user_id}),
        (Collection.SUBMISSIONS, {"userId": user_id}),
        (Collection.FEEDBACK, {"toUser": user_id}),
        (Collection.FEEDBACK, {"fromUser": user_id}),
    ):
        for doc in store.find(collection, **where):
            store.delete(collection, doc["_id"])
    # Batches are not indexed by member; a batch lists its members, so each is read once.
    for batch in store.find(Collection.BATCHES):
        if user_id in batch.get("users", []):
            batch["users"] = [member for member in batch["users"] if member != user_id]
            store.save(Collection.BATCHES, batch)


def delete_account(ctx: Context) -> BackendResponse:
    """``DELETE /api/user/:id``: the owner deletes their account, with their password; its
    progress, submissions, feedback and batch memberships go too (``no_cascade``)."""
    user = _own_account(ctx, "You can only delete your own account")
    password = _password_field(ctx, "password")
    if not check_password(password, user["password"]):
        raise HttpError(400, {"message": "Password is incorrect"})
    ctx.store.delete(Collection.USERS, user["_id"])
    if not ctx.has_defect("no_cascade"):
        _forget_user(ctx, user["_id"])
    return json_response(200, {"message": "Account deleted successfully"})


def update_points(ctx: Context) -> BackendResponse:
    """``PATCH /api/user/:userId/points``: set the user's ``xps`` (a total, not an increment);
    ``{user}``. Once fixed only the user themself or an admin (``points_any_user``)."""
    user_id = ctx.params["userId"]
    caller = ctx.verified_claims()
    if not ctx.has_defect("points_any_user") and not (
        caller.user_id == user_id or caller.designation in STAFF
    ):
        raise HttpError(403, {"message": "You can only update your own points"})
    # The real update of an undefined ``xps`` changes nothing.
    sent = "xps" in ctx.fields
    if not sent and not ctx.has_defect("validation_500"):
        raise HttpError(400, {"message": "xps is required"})
    xps = _number(ctx, "xps", ctx.fields["xps"]) if sent else None
    user = _user_or_none(ctx, user_id)
    if user is None:
        raise HttpError(404, {"error": "User not found"})
    if sent:
        user["xps"] = xps
    ctx.store.save(Collection.USERS, touch(ctx, user))
    return json_response(200, {"user": public_user(user)})


# --- the learner's overview of a batch -------------------------------------------------------


def _topics(ctx: Context, value: object) -> list[Doc]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise _invalid(ctx, "engagedTopics must be a list of {topic, reason}")
    return [
        {
            "topic": _text(ctx, "topic", item.get("topic")),
            "reason": _text(ctx, "reason", item.get("reason")),
            "_id": ctx.new_id(),
        }
        for item in value
    ]


def _moods(ctx: Context, value: object) -> list[Doc]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise _invalid(ctx, "moodTracker must be a list of {date, mood, context}")
    entries = []
    for item in value:
        entries.append(
            {
                "date": _date(ctx, item.get("date")),
                "mood": _text(ctx, "mood", item.get("mood")),
                "context": _text(ctx, "context", item.get("context")),
                "_id": ctx.new_id(),
            }
        )
    return entries


def _date(ctx: Context, value: object) -> str | None:
    """``value`` cast as a Mongoose Date path casts text: written back as the service writes
    dates (a day without a time is midnight UTC)."""
    if value is None:
        return None
    try:
        parsed = parse_iso(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise _invalid(ctx, f"{value!r} is not a date")
    return iso(parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC))


def _overview_writer(field_name: str, cast: Callable[[Context, object], Any]) -> Handler:
    """The handler that sets one overview field of the user's progress in a batch."""

    def handler(ctx: Context) -> BackendResponse:
        user_id = object_id(ctx.params["userId"], "User")
        batch_id = object_id(ctx.params["batchId"], "Batch")
        ctx.require_self_or(user_id)
        # The real ``$set`` of an undefined value sets nothing.
        sent = field_name in ctx.fields
        if not sent and not ctx.has_defect("validation_500"):
            raise HttpError(400, {"message": f"{field_name} is required"})
        value = cast(ctx, ctx.fields[field_name]) if sent else None
        progress = ctx.store.find_one(Collection.PROGRESS, userId=user_id, batchId=batch_id)
        if progress is None:
            if not ctx.has_defect("upsert_phantom_progress"):
                raise HttpError(404, {"message": "Progress not found"})
            progress = new_progress(ctx, user_id=user_id, batch_id=batch_id, task_ids=())
            ctx.store.insert(Collection.PROGRESS, progress)
        if sent:
            progress[field_name] = value
        ctx.store.save(Collection.PROGRESS, touch(ctx, progress))
        return json_response(200, progress)

    handler.__name__ = f"update_{field_name}"
    handler.__doc__ = (
        f"``PATCH /api/user/:userId/progress/batch/:batchId/…``: set ``{field_name}`` of the "
        "user's progress in the batch; the bare progress. Once fixed, 404 without a progress "
        "(``upsert_phantom_progress``)."
    )
    return handler


update_learning_summary = _overview_writer(
    "learningSummary", lambda ctx, value: _text(ctx, "learningSummary", value) or ""
)
update_skills = _overview_writer(
    "skillsAcquired", lambda ctx, value: _text_list(ctx, "skillsAcquired", value)
)
update_topics = _overview_writer("engagedTopics", _topics)
update_mood = _overview_writer("moodTracker", _moods)


_SERVER_ERROR = Failure("Server error")
_USER_BATCH = "/api/user/:userId/progress/batch/:batchId"

ROUTES: tuple[Route, ...] = (
    Route("POST", "/api/user/register", register, _SERVER_ERROR),
    Route("POST", "/api/user/login", login, _SERVER_ERROR),
    Route("GET", "/api/user/all", list_users, _SERVER_ERROR, auth="jwt"),
    # Declared after GET /:id on the real service, which takes its path: fixed, it comes first.
    Route(
        "GET",
        "/api/user/verify",
        verify,
        Failure("Token verification failed", "error_only"),
        auth="ra",
        absent_with="verify_shadowed",
    ),
    Route("GET", "/api/user/:id", get_user, _SERVER_ERROR),
    Route(
        "GET",
        "/api/user/:id/progress",
        user_progress,
        Failure("Failed to fetch user progress analytics"),
    ),
    Route(
        "GET",
        _USER_BATCH,
        user_batch_report,
        Failure("Failed to fetch user batch progress analytics"),
    ),
    Route("PATCH", "/api/user/restrict/:id", restrict_admin, _SERVER_ERROR, auth="jwt"),
    Route("PATCH", "/api/user/restrict-user/:id", restrict_user, _SERVER_ERROR, auth="jwt"),
    Route("PATCH", "/api/user/restrict-mentor/:id", restrict_mentor, _SERVER_ERROR, auth="jwt"),
    Route(
        "PATCH",
        "/api/user/:id",
        update_user,
        Failure("Server error", "server_error"),
        fixed_auth="jwt",
    ),
    Route("PATCH", "/api/user/:id/password", update_password, _SERVER_ERROR, auth="jwt"),
    Route("PATCH", "/api/user/:id/email", update_email, _SERVER_ERROR, auth="jwt"),
    Route("DELETE", "/api/user/:id", delete_account, _SERVER_ERROR, auth="jwt"),
    Route(
        "PATCH",
        f"{_USER_BATCH}/summary",
        update_learning_summary,
        Failure("Failed to update learning summary"),
        fixed_auth="jwt",
    ),
    Route(
        "PATCH",
        f"{_USER_BATCH}/skills",
        update_skills,
        Failure("Failed to update skills"),
        fixed_auth="jwt",
    ),
    Route(
        "PATCH",
        f"{_USER_BATCH}/topics",
        update_topics,
        Failure("Failed to update topics"),
        fixed_auth="jwt",
    ),
    Route(
        "PATCH",
        f"{_USER_BATCH}/mood",
        update_mood,
        Failure("Failed to update mood tracker"),
        fixed_auth="jwt",
    ),
    Route(
        "PATCH",
        "/api/user/:userId/points",
        update_points,
        Failure("Failed to update points", "error_only"),
        auth="ra",
    ),
    Route(
        "GET",
        "/api/user/:userId/completed-tasks",
        completed_tasks,
        Failure("Failed to fetch completed tasks", "error_only"),
        auth="ra",
    ),
)
"""This area's routes, in the real service's matching order (``GET /verify`` aside)."""
