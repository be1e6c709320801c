"""The pytest plugin: fixtures that test code against Gamify, on the embedded reference backend
by default, or on a real deployment for tests marked ``gamify_deployment``.

Installing the package registers it (entry point ``pytest11``), so every pytest run gets the
fixtures ``gamify_backend``, ``gamify_seed``, ``gamify_config``, ``gamify_target``,
``gamify_client``, ``async_gamify_client``, ``gamify_login`` and ``async_gamify_login``, the
marker ``gamify_deployment`` and the options ``--gamify-base-url`` and ``--gamify-token``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, NoReturn, Protocol, TypeAlias, TypeVar, cast, get_args

import httpx
import pytest

from ..client import AsyncGamifyClient, GamifyClient
from ..config import ClientConfig, ConfigError
from ..models import Designation
from ._backend import GamifyBackend
from ._seed import DemoAccount, DemoData

__all__ = [
    "EMBEDDED_BASE_URL",
    "AsyncGamifyLogin",
    "Credentials",
    "GamifyLogin",
    "GamifyTarget",
    "Role",
]

EMBEDDED_BASE_URL = "http://gamify.test"
"""The base URL of the clients wired to the embedded backend (no request leaves the process)."""

_MARKER = "gamify_deployment"

Role: TypeAlias = Literal["superadmin", "admin", "mentor", "user"]
"""A seeded demo account, by its role; ``"user"`` takes an ``index`` (0, 1 or 2)."""

Fallback: TypeAlias = Literal["skip", "embedded"]

_DESIGNATIONS: tuple[str, ...] = get_args(Designation)
_FALLBACKS: tuple[str, ...] = get_args(Fallback)
# The embedded backend is not the deployment these variables name, and must not get its token.
_TARGET_VARIABLES = frozenset({"GAMIFY_BASE_URL", "GAMIFY_TOKEN"})
_NO_DEPLOYMENT = "no Gamify deployment to test: give --gamify-base-url URL or set GAMIFY_BASE_URL"
_ASYNC_INSTALL_HINT = "pip install pytest-asyncio"

C = TypeVar("C", GamifyClient, AsyncGamifyClient)


@dataclass(frozen=True, slots=True)
class GamifyTarget:
    """Where a test's clients go: the embedded backend, or the deployment at ``base_url``
    (with the ``--gamify-token``, if one was given)."""

    base_url: str
    token: str | None = field(default=None, repr=False)
    embedded: bool = True


@dataclass(frozen=True, slots=True)
class _Deployment:
    """The deployment the command line or the environment names, if any."""

    base_url: str | None
    token: str | None


_EMBEDDED = GamifyTarget(EMBEDDED_BASE_URL)
_DEPLOYMENT = pytest.StashKey[_Deployment]()
_TARGET = pytest.StashKey[GamifyTarget]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--gamify-base-url`` and ``--gamify-token``."""
    group = parser.getgroup("gamify", "Gamify backend (gamify_client)")
    group.addoption(
        "--gamify-base-url",
        dest="gamify_base_url",
        metavar="URL",
        default=None,
        help="run the tests marked gamify_deployment against the Gamify deployment at URL "
        "(default: $GAMIFY_BASE_URL); without one they are skipped",
    )
    group.addoption(
        "--gamify-token",
        dest="gamify_token",
        metavar="TOKEN",
        default=None,
        help="the token the deployment's clients send (default: $GAMIFY_TOKEN)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker (for ``--strict-markers``) and read the deployment options."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(fallback='skip'): run against the Gamify deployment given by "
        "--gamify-base-url or GAMIFY_BASE_URL; without one, skip the test "
        "(fallback='embedded': run it against the embedded backend instead)",
    )
    config.stash[_DEPLOYMENT] = _read_deployment(config)


def _read_deployment(config: pytest.Config) -> _Deployment:
    base_url = config.getoption("gamify_base_url") or os.environ.get("GAMIFY_BASE_URL")
    token = config.getoption("gamify_token") or os.environ.get("GAMIFY_TOKEN") or None
    if not base_url or not base_url.strip():
        return _Deployment(None, token)
    try:
        checked = ClientConfig(base_url=base_url.strip())
    except ConfigError as error:
        raise pytest.UsageError(f"--gamify-base-url / GAMIFY_BASE_URL: {error}") from None
    return _Deployment(checked.base_url, token)


def pytest_report_header(config: pytest.Config) -> str:
    """Say in the header where the deployment tests go (never the token)."""
    deployment = config.stash[_DEPLOYMENT]
    if deployment.base_url is None:
        return (
            f"gamify: {_NO_DEPLOYMENT}; tests marked {_MARKER} are skipped "
            "(unless fallback='embedded')"
        )
    token = "with" if deployment.token else "without"
    return f"gamify: tests marked {_MARKER} run against {deployment.base_url} ({token} a token)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Point each marked test at the deployment, or skip it (or leave it on the embedded
    backend, with ``fallback='embedded'``) when there is none."""
    deployment = config.stash[_DEPLOYMENT]
    for item in items:
        marker = item.get_closest_marker(_MARKER)
        if marker is None:
            continue
        fallback = _fallback(item, marker)
        if deployment.base_url is not None:
            item.stash[_TARGET] = GamifyTarget(
                deployment.base_url, deployment.token, embedded=False
            )
        elif fallback == "skip":
            item.add_marker(pytest.mark.skip(reason=_NO_DEPLOYMENT))


def _fallback(item: pytest.Item, marker: pytest.Mark) -> Fallback:
    fallback = marker.kwargs.get("fallback", "skip")
    if marker.args or set(marker.kwargs) - {"fallback"} or fallback not in _FALLBACKS:
        given = [repr(arg) for arg in marker.args]
        given += [f"{name}={value!r}" for name, value in marker.kwargs.items()]
        raise pytest.UsageError(
            f"{item.nodeid}: use @pytest.mark.{_MARKER} or "
            f"@pytest.mark.{_MARKER}(fallback='skip' or 'embedded'), "
            f"not @pytest.mark.{_MARKER}({', '.join(given)})"
        )
    return cast(Fallback, fallback)


def _target(request: pytest.FixtureRequest) -> GamifyTarget:
    node: pytest.Item = request.node
    return node.stash.get(_TARGET, _EMBEDDED)


def _embedded_only(request: pytest.FixtureRequest, what: str, hint: str = "") -> None:
    """Skip the test, saying why, when ``what`` needs the embedded backend and it has none."""
    target = _target(request)
    if not target.embedded:
        pytest.skip(
            f"{what} needs the embedded backend, but this {_MARKER} test runs against "
            f"the deployment at {target.base_url}{hint}"
        )


@pytest.fixture
def gamify_target(request: pytest.FixtureRequest) -> GamifyTarget:
    """Where this test's clients go: the embedded backend, or the deployment."""
    return _target(request)


@pytest.fixture
def gamify_backend(request: pytest.FixtureRequest) -> Iterator[GamifyBackend]:
    """A fresh, empty reference backend in memory, closed after the test. A test that runs
    against a deployment and asks for it is skipped."""
    _embedded_only(request, "gamify_backend")
    with GamifyBackend() as backend:
        yield backend


@pytest.fixture
def gamify_seed(request: pytest.FixtureRequest) -> DemoData:
    """The demo organisation written into ``gamify_backend`` (accounts, a batch, tasks). A test
    that runs against a deployment and asks for it is skipped."""
    _embedded_only(request, "gamify_seed")
    backend: GamifyBackend = request.getfixturevalue("gamify_backend")
    return backend.seed_demo()


@pytest.fixture
def gamify_config(gamify_target: GamifyTarget) -> ClientConfig:
    """The settings of the fixtures' clients: the ``GAMIFY_*`` environment's (timeouts,
    retries, debug), the target's URL and token, and no wait before the refetch that follows
    a write. Override this fixture to change them."""
    environ = {k: v for k, v in os.environ.items() if k not in _TARGET_VARIABLES}
    return ClientConfig.from_env(
        environ,
        base_url=gamify_target.base_url,
        token=gamify_target.token,
        task_completion_delay=0.0,
    )


def _http_client(request: pytest.FixtureRequest, config: ClientConfig) -> httpx.Client:
    if _target(request).embedded:
        backend: GamifyBackend = request.getfixturevalue("gamify_backend")
        return httpx.Client(transport=backend.transport(), timeout=config.timeout)
    return httpx.Client(timeout=config.timeout)


def _async_http_client(request: pytest.FixtureRequest, config: ClientConfig) -> httpx.AsyncClient:
    if _target(request).embedded:
        backend: GamifyBackend = request.getfixturevalue("gamify_backend")
        return httpx.AsyncClient(transport=backend.transport(), timeout=config.timeout)
    return httpx.AsyncClient(timeout=config.timeout)


@pytest.fixture
def gamify_client(
    request: pytest.FixtureRequest, gamify_config: ClientConfig
) -> Iterator[GamifyClient]:
    """A client of this test's target (the embedded ``gamify_backend``, in-process, or the
    deployment), not logged in unless ``--gamify-token`` was given; closed after the test."""
    with (
        _http_client(request, gamify_config) as http,
        GamifyClient(config=gamify_config, http_client=http) as client,
    ):
        yield client


class Credentials(Protocol):
    """What logging in takes: a :class:`DemoAccount`, or any object with these attributes."""

    @property
    def email(self) -> str: ...

    @property
    def password(self) -> str: ...

    @property
    def designation(self) -> str: ...


@dataclass(frozen=True, slots=True)
class _Login:
    email: str
    password: str
    designation: Designation
    admin_id: str | None


class _Logins(Generic[C]):
    """What both login factories share: which account ``who`` names, and one logged-in
    client per account, made from ``root`` and closed by :meth:`_close`."""

    def __init__(self, request: pytest.FixtureRequest, root: C) -> None:
        self._request = request
        self._root: C = root
        self._clients: dict[tuple[str, str], C] = {}

    def _resolve(self, who: Role | Credentials, index: int, admin_id: str | None) -> _Login:
        if isinstance(who, str):
            _embedded_only(
                self._request,
                f"logging in as the seeded {who!r}",
                "; give gamify_login the account's credentials instead",
            )
            seed: DemoData = self._request.getfixturevalue("gamify_seed")
            account = _seeded_account(seed, who, index)
            code = seed.admin_id if account.designation == "user" else None
            return _Login(account.email, account.password, _designation(account.designation), code)
        if index != 0:
            raise ValueError("index picks one of the seeded users; it goes with who='user'")
        designation = _designation(who.designation)
        if designation == "user" and admin_id is None:
            raise ValueError(
                "logging in as a user needs admin_id: the short code of the user's admin "
                "(the admin's RegisterResult.admin_id or User.admin_id)"
            )
        return _Login(who.email, who.password, designation, admin_id)

    def _close(self) -> list[C]:
        clients = list(self._clients.values())
        self._clients.clear()
        return clients


def _seeded_account(seed: DemoData, role: str, index: int) -> DemoAccount:
    if role == "user":
        if not 0 <= index < len(seed.users):
            raise ValueError(f"the demo data has {len(seed.users)} users; index {index} is none")
        return seed.users[index]
    accounts = {"superadmin": seed.superadmin, "admin": seed.admin, "mentor": seed.mentor}
    if role not in accounts:
        raise ValueError(f"no seeded account {role!r}; pick one of {', '.join(_DESIGNATIONS)}")
    if index != 0:
        raise ValueError(f"index picks one of the seeded users; there is one {role}")
    return accounts[role]


def _designation(value: str) -> Designation:
    if value not in _DESIGNATIONS:
        raise ValueError(f"designation {value!r} is none of {', '.join(_DESIGNATIONS)}")
    return cast(Designation, value)


class GamifyLogin(_Logins[GamifyClient]):
    """``gamify_login(who, *, index=0, admin_id=None)``: a client logged in as ``who``.

    ``who`` is a seeded role (``"admin"``, ``"user"`` with ``index``, ...: the test then uses
    ``gamify_seed``, so it needs the embedded backend) or any :class:`Credentials`, such as a
    :class:`DemoAccount` the test registered (a ``user`` also needs its admin's ``admin_id``).
    The client shares ``gamify_client``'s connection pool, cache and events; asking again for
    the same account gives the same client. Every one is closed after the test.
    """

    def __call__(
        self, who: Role | Credentials, *, index: int = 0, admin_id: str | None = None
    ) -> GamifyClient:
        login = self._resolve(who, index, admin_id)
        key = (login.email, login.designation)
        if key not in self._clients:
            client = self._root.with_options()
            try:
                client.login(
                    email=login.email,
                    password=login.password,
                    designation=login.designation,
                    admin_id=login.admin_id,
                )
            except BaseException:
                client.close()
                raise
            self._clients[key] = client
        return self._clients[key]

    def close(self) -> None:
        """Close every client this factory made."""
        for client in self._close():
            client.close()


class AsyncGamifyLogin(_Logins[AsyncGamifyClient]):
    """``await async_gamify_login(who, *, index=0, admin_id=None)``: :class:`GamifyLogin` for
    ``async_gamify_client``, awaited."""

    async def __call__(
        self, who: Role | Credentials, *, index: int = 0, admin_id: str | None = None
    ) -> AsyncGamifyClient:
        login = self._resolve(who, index, admin_id)
        key = (login.email, login.designation)
        if key not in self._clients:
            client = self._root.with_options()
            try:
                await client.login(
                    email=login.email,
                    password=login.password,
                    designation=login.designation,
                    admin_id=login.admin_id,
                )
            except BaseException:
                await client.close()
                raise
            self._clients[key] = client
        return self._clients[key]

    async def close(self) -> None:
        """Close every client this factory made."""
        for client in self._close():
            await client.close()


@pytest.fixture
def gamify_login(
    request: pytest.FixtureRequest, gamify_client: GamifyClient
) -> Iterator[GamifyLogin]:
    """Log in as a seeded role or a given account: see :class:`GamifyLogin`."""
    logins = GamifyLogin(request, gamify_client)
    yield logins
    logins.close()


def _async_fixture(function: Callable[..., AsyncIterator[Any]]) -> Any:
    """``function`` as a pytest-asyncio fixture; without pytest-asyncio, a fixture that fails
    the tests asking for it with a message saying what to install."""
    try:
        import pytest_asyncio
    except ImportError:
        return pytest.fixture(name=function.__name__)(_needs_pytest_asyncio(function.__name__))
    return pytest_asyncio.fixture(function)


def _needs_pytest_asyncio(fixture: str) -> Callable[[], NoReturn]:
    def fail() -> NoReturn:
        pytest.fail(
            f"{fixture} is an async fixture and needs the pytest-asyncio plugin, which is not "
            f"installed: {_ASYNC_INSTALL_HINT}",
            pytrace=False,
        )

    return fail


@_async_fixture
async def async_gamify_client(
    request: pytest.FixtureRequest, gamify_config: ClientConfig
) -> AsyncIterator[AsyncGamifyClient]:
    """``gamify_client`` for asyncio: an :class:`AsyncGamifyClient` of this test's target.
    Needs pytest-asyncio."""
    async with (
        _async_http_client(request, gamify_config) as http,
        AsyncGamifyClient(config=gamify_config, http_client=http) as client,
    ):
        yield client


@_async_fixture
async def async_gamify_login(
    request: pytest.FixtureRequest, async_gamify_client: AsyncGamifyClient
) -> AsyncIterator[AsyncGamifyLogin]:
    """Log in as a seeded role or a given account, awaited: see :class:`AsyncGamifyLogin`.
    Needs pytest-asyncio."""
    logins = AsyncGamifyLogin(request, async_gamify_client)
    yield logins
    await logins.close()
