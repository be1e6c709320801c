"""Users and auth: ``/api/user``."""

from __future__ import annotations

from pydantic import TypeAdapter

from .._call import Call
from .._parsing import MutationPayload, Payload
from ..events import Event
from ..keys import CacheKey
from ..models import Designation, LoginResult, MutationResult, RegisterResult, User
from ..realtime import Rule, Write, scoped, user_update_patches
from ._base import AsyncResource, SyncResource, async_endpoint, body, segment, sync_endpoint

__all__ = ["AsyncUsers", "Users"]

_USER = Payload(TypeAdapter(User), "User", keys=("user",), bare=True)
_USER_WRITE = MutationPayload(_USER)
_LOGIN = Payload(TypeAdapter(LoginResult), "login answer", bare=True)
_REGISTER = Payload(TypeAdapter(RegisterResult), "register answer", bare=True)

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
        ],
        user_update_patches,
    ),
    ids={"user_id": ":userId"},
)


def register_user(
    *,
    name: str,
    email: str,
    password: str,
    designation: Designation,
    parent_id: str | None = None,
) -> Call[RegisterResult]:
    """Create an account. Admins get an ``admin_id`` (like ``ADM123``) that their users log
    in with; a ``user`` names its admin with ``parent_id``."""
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
    ``Authorization: Bearer`` from then on. A ``user`` needs its admin's ``admin_id``."""
    if designation == "user" and not admin_id:
        raise ValueError("logging in as a user needs admin_id, the short id of the user's admin")
    fields = {
        "email": email,
        "password": password,
        "designation": designation,
        "adminId": admin_id,
    }
    return Call("POST", "/api/user/login", _LOGIN, json=body(fields), keeps_token=True)


def get_user(user_id: str) -> Call[User]:
    """One user, without the password."""
    return Call("GET", f"/api/user/{segment(user_id)}", _USER)


def update_points(user_id: str, *, xps: int) -> Call[MutationResult[User]]:
    """Set a user's XP total. Needs a token."""
    return UPDATE_POINTS.call(
        f"/api/user/{segment(user_id)}/points", json={"xps": xps}, context={"user_id": user_id}
    )


class Users(SyncResource):
    """Users: register, log in, read, update XP."""

    register = sync_endpoint(register_user)
    login = sync_endpoint(login_user)
    get = sync_endpoint(get_user)
    update_points = sync_endpoint(update_points)


class AsyncUsers(AsyncResource):
    """Users, awaited: register, log in, read, update XP."""

    register = async_endpoint(register_user)
    login = async_endpoint(login_user)
    get = async_endpoint(get_user)
    update_points = async_endpoint(update_points)
