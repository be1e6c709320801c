"""The run's accounts: an admin (its own, or the one given by token or by login), and a mentor
and users registered under that admin and logged in."""

from __future__ import annotations

from dataclasses import dataclass

from .._core import token_user_id
from ..client import GamifyClient
from ..models import Designation
from ._failures import CheckFailed
from ._session import Session

_USER_COUNT = 2


@dataclass(frozen=True, slots=True)
class Account:
    """A logged-in account: its role in the run, its user id and its client."""

    role: str
    user_id: str
    client: GamifyClient


@dataclass(frozen=True, slots=True)
class Accounts:
    """Everyone the checks act as; ``admin_code`` is the admin id users log in with."""

    admin: Account
    admin_code: str
    mentor: Account
    users: tuple[Account, ...]


def make_accounts(session: Session) -> Accounts:
    """Get the admin, check that it is one, and register and log in the mentor and users
    under it; :class:`CheckFailed` when the admin account is not an admin."""
    admin = _admin(session)
    profile = session.anonymous.users.get(admin.user_id)
    if profile.designation != "admin" or not profile.admin_id:
        raise CheckFailed(
            f"the admin account {admin.user_id} is a {profile.designation!r} with admin id "
            f"{profile.admin_id!r}; gamify check needs an admin (its users log in with its "
            "admin id)"
        )
    mentor = _register_and_login(session, "mentor", "mentor", parent_id=admin.user_id)
    users = tuple(
        _register_and_login(
            session,
            f"user{number}",
            "user",
            parent_id=admin.user_id,
            admin_code=profile.admin_id,
        )
        for number in range(1, _USER_COUNT + 1)
    )
    return Accounts(admin=admin, admin_code=profile.admin_id, mentor=mentor, users=users)


def register_user(session: Session, accounts: Accounts, role: str) -> Account:
    """Register and log in a fresh ``user`` under the run's admin, for the checks that need
    someone whose feedback, grades and batches no other check touched."""
    return _register_and_login(
        session,
        role,
        "user",
        parent_id=accounts.admin.user_id,
        admin_code=accounts.admin_code,
    )


def _admin(session: Session) -> Account:
    login = session.login
    if login.token is not None:
        user_id = token_user_id(login.token)
        if user_id is None:
            raise CheckFailed("the given token is not a JWT with an 'id' claim")
        return Account("admin", user_id, session.client(login.token))
    client = session.client(None)
    if login.admin_email is not None and login.admin_password is not None:
        result = client.login(
            email=login.admin_email,
            password=login.admin_password,
            designation="admin",
        )
        return Account("admin", result.user_id, client)
    return _register_and_login(session, "admin", "admin")


def _register_and_login(
    session: Session,
    role: str,
    designation: Designation,
    *,
    parent_id: str | None = None,
    admin_code: str | None = None,
) -> Account:
    email = session.email(role)
    registered = session.anonymous.register(
        name=session.name(role),
        email=email,
        password=session.password,
        designation=designation,
        parent_id=parent_id,
    )
    client = session.client(None)
    client.login(
        email=email,
        password=session.password,
        designation=designation,
        admin_id=admin_code,
    )
    return Account(role, registered.user_id, client)
