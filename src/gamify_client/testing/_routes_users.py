"""``/api/user``: register, login, read a user, set a user's XP."""

from __future__ import annotations

import secrets

from ._auth import check_password, hash_password, issue_token
from ._documents import new_user, public_user, touch
from ._express import BackendResponse, json_response
from ._routing import Context, Failure, HttpError, Route, object_id, require_fields
from ._store import Collection, DocumentStore

DESIGNATIONS = ("superadmin", "admin", "mentor", "user")
_INVALID_CREDENTIALS = {"message": "Invalid credentials"}


def _new_admin_id(store: DocumentStore) -> str:
    """A short ``ADM`` code no other admin has: three digits while they last, then six."""
    for digits in (3,) * 50 + (6,) * 50:
        candidate = f"ADM{secrets.randbelow(10**digits):0{digits}d}"
        if store.find_one(Collection.USERS, adminId=candidate) is None:
            return candidate
    raise RuntimeError("no free admin id")


def register(ctx: Context) -> BackendResponse:
    """``POST /api/user/register``: 201 ``{message, userId, adminId?}``."""
    fields = ctx.fields
    require_fields(fields, "name", "email", "password", "designation")
    designation = fields["designation"]
    if designation not in DESIGNATIONS:
        raise HttpError(400, {"message": "Invalid designation"})
    parent = fields.get("parentId")
    parent_id = None if parent in (None, "") else object_id(parent, "User", "parentId")
    if ctx.store.find_one(Collection.USERS, email=str(fields["email"])) is not None:
        raise HttpError(400, {"message": "User already exists"})
    admin_id = _new_admin_id(ctx.store) if designation == "admin" else None
    user = new_user(
        ctx,
        username=str(fields["name"]),
        email=str(fields["email"]),
        password_hash=hash_password(str(fields["password"])),
        designation=designation,
        parent_id=parent_id,
        admin_id=admin_id,
    )
    ctx.store.insert(Collection.USERS, user)
    payload = {"message": "User registered successfully", "userId": user["_id"]}
    if admin_id is not None:
        payload["adminId"] = admin_id
    return json_response(201, payload)


def login(ctx: Context) -> BackendResponse:
    """``POST /api/user/login``: 200 ``{message, userId, token, designation}``.

    A ``user`` also needs the short ``adminId`` of the admin it belongs to.
    """
    fields = ctx.fields
    require_fields(fields, "email", "password", "designation")
    user = ctx.store.find_one(Collection.USERS, email=str(fields["email"]))
    if (
        user is None
        or user["designation"] != fields["designation"]
        or not check_password(str(fields["password"]), user["password"])
    ):
        raise HttpError(400, _INVALID_CREDENTIALS)
    if user["designation"] == "user":
        admin_code = fields.get("adminId")
        if not admin_code:
            raise HttpError(400, {"message": "Admin ID is required for user login"})
        parent = ctx.store.get(Collection.USERS, user["parentId"]) if user["parentId"] else None
        if parent is None or parent.get("adminId") != admin_code:
            raise HttpError(400, {"message": "Invalid admin ID"})
    token = issue_token(user["_id"], user["designation"], secret=ctx.state.secret, now=ctx.now)
    return json_response(
        200,
        {
            "message": "Login successful",
            "userId": user["_id"],
            "token": token,
            "designation": user["designation"],
        },
    )


def get_user(ctx: Context) -> BackendResponse:
    """``GET /api/user/:id``: the bare user, without its password."""
    user = ctx.store.get(Collection.USERS, object_id(ctx.params["id"], "User"))
    if user is None:
        raise HttpError(404, {"message": "User not found"})
    return json_response(200, public_user(user))


def update_points(ctx: Context) -> BackendResponse:
    """``PATCH /api/user/:userId/points``: set the user's ``xps``; 200 with the user."""
    xps = ctx.fields.get("xps")
    if isinstance(xps, bool) or not isinstance(xps, (int, float)):
        raise HttpError(400, {"message": "xps must be a number"})
    user = ctx.store.get(Collection.USERS, object_id(ctx.params["userId"], "User"))
    if user is None:
        raise HttpError(404, {"message": "User not found"})
    user["xps"] = xps
    ctx.store.save(Collection.USERS, touch(ctx, user))
    return json_response(200, public_user(user))


ROUTES: tuple[Route, ...] = (
    Route("POST", "/api/user/register", register, Failure("Failed to register user")),
    Route("POST", "/api/user/login", login, Failure("Failed to login")),
    Route("GET", "/api/user/:id", get_user, Failure("Failed to fetch user")),
    Route(
        "PATCH",
        "/api/user/:userId/points",
        update_points,
        Failure("Failed to update points"),
        auth="jwt",
    ),
)
"""This area's routes, in the real service's matching order."""
