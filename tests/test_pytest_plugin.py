"""The pytest plugin, exercised the way users meet it: inner pytest runs (``pytester``) of test
files that use its fixtures, marker and options."""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gamify_client.testing import GamifyBackend

pytest_plugins = ["pytester"]

EXAMPLE_HARNESS = Path(__file__).resolve().parents[1] / "examples" / "test_harness"
NO_DEPLOYMENT = "no Gamify deployment to test: give --gamify-base-url URL or set GAMIFY_BASE_URL"


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytest run in a scratch directory, configured as a user's project with
    pytest-asyncio in auto mode would be."""
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    return pytester


@pytest.fixture
def served() -> Iterator[tuple[GamifyBackend, str]]:
    """A seeded reference backend on a loopback socket: a stand-in for a real deployment."""
    with GamifyBackend() as backend, backend.serve() as base_url:
        yield backend, base_url


# Loading


def test_installing_the_package_registers_the_plugin_as_a_pytest11_entry_point(
    inner: pytest.Pytester,
) -> None:
    (entry_point,) = importlib.metadata.entry_points(group="pytest11", name="gamify_client")
    assert entry_point.value == "gamify_client.testing.pytest_plugin"
    inner.makepyfile(
        """
        from gamify_client.testing import pytest_plugin

        def test_loaded(pytestconfig):
            assert pytestconfig.pluginmanager.get_plugin("gamify_client") is pytest_plugin
        """
    )
    inner.runpytest().assert_outcomes(passed=1)


# The embedded backend


def test_gamify_backend_is_a_fresh_backend_closed_after_each_test(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import sqlite3
        import pytest
        from gamify_client.testing import GamifyBackend

        earlier = []

        def test_first(gamify_backend):
            assert isinstance(gamify_backend, GamifyBackend)
            assert gamify_backend.handle("GET", "/api/task/all").body == b"[]"
            gamify_backend.seed_demo()
            earlier.append(gamify_backend)

        def test_second(gamify_backend):
            assert gamify_backend is not earlier[0]
            assert gamify_backend.handle("GET", "/api/task/all").body == b"[]"
            with pytest.raises(sqlite3.ProgrammingError, match="closed database"):
                earlier[0].token_for("0" * 24)
        """
    )
    inner.runpytest().assert_outcomes(passed=2)


def test_gamify_seed_is_the_demo_data_written_into_gamify_backend(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        from gamify_client.testing import DemoData

        def test_seed(gamify_seed, gamify_backend):
            assert isinstance(gamify_seed, DemoData)
            assert [user.designation for user in gamify_seed.users] == ["user"] * 3
            assert len(gamify_seed.task_ids) == 4
            assert gamify_backend.token_for(gamify_seed.admin.id)
        """
    )
    inner.runpytest().assert_outcomes(passed=1)


def test_gamify_client_reaches_gamify_backend_in_process_and_is_closed_after(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(
        """
        import pytest

        earlier = []

        def test_client(gamify_client, gamify_seed, gamify_backend, gamify_target):
            assert gamify_target.embedded
            assert gamify_client.base_url == "http://gamify.test"
            assert gamify_client.config.task_completion_delay == 0
            assert gamify_client.token is None
            assert [task.id for task in gamify_client.tasks.list()] == list(gamify_seed.task_ids)
            assert gamify_backend.requests.count("GET", "/api/task/all") == 1
            earlier.append(gamify_client)

        def test_closed_after():
            with pytest.raises(RuntimeError, match="closed"):
                earlier[0].use_tasks_data()
        """
    )
    inner.runpytest().assert_outcomes(passed=2)


def test_the_embedded_clients_ignore_the_deployment_variables_but_keep_the_others(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GAMIFY_BASE_URL", "http://deployment.example")
    monkeypatch.setenv("GAMIFY_TOKEN", "a-token-for-the-deployment")
    monkeypatch.setenv("GAMIFY_MAX_RETRIES", "5")
    inner.makepyfile(
        """
        def test_unmarked(gamify_client, gamify_target):
            assert gamify_target.embedded
            assert gamify_client.base_url == "http://gamify.test"
            assert gamify_client.token is None
            assert gamify_client.max_retries == 5
        """
    )
    inner.runpytest().assert_outcomes(passed=1)


def test_overriding_gamify_config_changes_every_fixture_client(inner: pytest.Pytester) -> None:
    inner.makeconftest(
        """
        import pytest

        @pytest.fixture
        def gamify_config(gamify_config):
            return gamify_config.replace(max_retries=0, timeout=3.0)
        """
    )
    inner.makepyfile(
        """
        async def test_settings(gamify_client, gamify_login, async_gamify_client):
            assert gamify_client.max_retries == 0
            assert gamify_login("admin").config.timeout == 3.0
            assert async_gamify_client.max_retries == 0
        """
    )
    inner.runpytest().assert_outcomes(passed=1)


# Logging in


def test_gamify_login_logs_in_as_each_seeded_role_and_shares_the_cache_and_events(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(
        """
        from gamify_client import Event

        def test_roles(gamify_login, gamify_seed, gamify_client):
            admin = gamify_login("admin")
            assert admin.user_id == gamify_seed.admin.id
            assert gamify_login("admin") is admin
            assert gamify_login("superadmin").user_id == gamify_seed.superadmin.id
            assert gamify_login("mentor").user_id == gamify_seed.mentor.id
            third = gamify_login("user", index=2)
            assert third.user_id == gamify_seed.users[2].id
            assert third.refresh_manager is gamify_client.refresh_manager
            assert third.events is gamify_client.events
            assert gamify_client.token is None
            assert third.progress.dashboard().overall_stats.total_batches == 1

        def test_a_write_of_one_login_is_heard_on_the_shared_events(
            gamify_login, gamify_seed, gamify_client
        ):
            heard = []
            gamify_client.events.subscribe(Event.TASK_COMPLETED, heard.append)
            user = gamify_login("user")
            user.tasks.submit(
                gamify_seed.task_ids[0],
                user_id=gamify_seed.users[0].id,
                submission_type="Link",
                value="https://example.com/submission",
            )
            assert [payload.user_id for payload in heard] == [gamify_seed.users[0].id]
        """
    )
    inner.runpytest().assert_outcomes(passed=2)


def test_gamify_login_takes_any_account_and_needs_the_admin_code_for_a_user(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(
        """
        import pytest
        from gamify_client import BadRequestError
        from gamify_client.testing import DemoAccount

        def test_account(gamify_client, gamify_login, gamify_seed):
            registered = gamify_client.register(
                name="Nia New", email="nia@example.com", password="pw-123456",
                designation="user", parent_id=gamify_seed.admin.id,
            )
            nia = DemoAccount(registered.user_id, "Nia New", "nia@example.com", "pw-123456", "user")
            with pytest.raises(ValueError, match="admin_id"):
                gamify_login(nia)
            assert gamify_login(nia, admin_id=gamify_seed.admin_id).user_id == nia.id

        def test_wrong_password(gamify_login, gamify_seed):
            wrong = DemoAccount(gamify_seed.mentor.id, "Max", gamify_seed.mentor.email, "nope",
                                "mentor")
            with pytest.raises(BadRequestError):
                gamify_login(wrong)
            assert gamify_login("mentor").user_id == gamify_seed.mentor.id
        """
    )
    inner.runpytest().assert_outcomes(passed=2)


def test_gamify_login_refuses_what_the_demo_data_does_not_have(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize(
            ("who", "index", "message"),
            [
                ("user", 3, "3 users; index 3 is none"),
                ("admin", 1, "there is one admin"),
                ("owner", 0, "no seeded account 'owner'"),
            ],
        )
        def test_refused(gamify_login, who, index, message):
            with pytest.raises(ValueError, match=message):
                gamify_login(who, index=index)
        """
    )
    inner.runpytest().assert_outcomes(passed=3)


def test_gamify_login_closes_its_clients_after_the_test(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest

        earlier = []

        def test_login(gamify_login):
            earlier.append(gamify_login("admin"))

        def test_closed_after():
            with pytest.raises(RuntimeError, match="closed"):
                earlier[0].use_tasks_data()
        """
    )
    inner.runpytest().assert_outcomes(passed=2)


# Async


def test_the_async_fixtures_mirror_the_sync_ones(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest
        from gamify_client import AsyncGamifyClient

        earlier = []

        async def test_async(async_gamify_client, async_gamify_login, gamify_seed, gamify_backend):
            assert isinstance(async_gamify_client, AsyncGamifyClient)
            assert async_gamify_client.base_url == "http://gamify.test"
            assert len(await async_gamify_client.tasks.list()) == 4
            assert gamify_backend.requests.count("GET", "/api/task/all") == 1
            user = await async_gamify_login("user", index=1)
            assert user.user_id == gamify_seed.users[1].id
            assert await async_gamify_login("user", index=1) is user
            assert user.events is async_gamify_client.events
            dashboard = await user.progress.dashboard()
            assert dashboard.overall_stats.total_batches == 1
            earlier.extend([async_gamify_client.use_tasks_data(), user.use_tasks_data()])

        async def test_closed_after():
            for query in earlier:
                with pytest.raises(RuntimeError, match="closed"):
                    await query.refresh()
        """
    )
    inner.runpytest().assert_outcomes(passed=2)


def test_the_async_fixtures_name_pytest_asyncio_when_it_is_missing(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        run_without_pytest_asyncio="""
        import sys

        import pytest

        class WithoutPytestAsyncio:
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] == "pytest_asyncio":
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, WithoutPytestAsyncio())
        raise SystemExit(pytest.main(sys.argv[1:]))
        """,
        test_async_fixture="""
        def test_client(async_gamify_client):
            pass

        def test_login(async_gamify_login):
            pass
        """,
    )
    # Without autoloading, no installed plugin imports pytest-asyncio behind the finder's back;
    # the plugin comes in by its entry point's name, as a user who disables autoloading loads it.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = pytester.run(
        sys.executable,
        "run_without_pytest_asyncio.py",
        "-p",
        "gamify_client",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*async_gamify_client is an async fixture and needs the pytest-asyncio plugin, "
            "which is not installed: pip install pytest-asyncio",
            "*async_gamify_login is an async fixture and needs the pytest-asyncio plugin*",
        ]
    )


# The deployment marker


def test_a_deployment_test_is_skipped_with_its_reason_when_no_url_is_given(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(
        """
        import pytest

        @pytest.mark.gamify_deployment
        def test_deployment(gamify_client):
            raise AssertionError("must not run")

        def test_unmarked(gamify_client):
            assert gamify_client.base_url == "http://gamify.test"
        """
    )
    result = inner.runpytest("-rs", "--strict-markers")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            f"gamify: {NO_DEPLOYMENT}; tests marked gamify_deployment are skipped "
            "(unless fallback='embedded')",
            f"SKIPPED [[]1[]] test_a_deployment_test_is_skipped*.py:3: {NO_DEPLOYMENT}",
        ]
    )


def test_the_marker_is_registered(inner: pytest.Pytester) -> None:
    result = inner.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.gamify_deployment(fallback='skip'): run against*"])


def test_a_deployment_test_runs_against_the_url_with_the_token(
    inner: pytest.Pytester, served: tuple[GamifyBackend, str]
) -> None:
    backend, base_url = served
    demo = backend.seed_demo()
    token = backend.token_for(demo.admin.id)
    user = demo.users[0]
    inner.makepyfile(
        test_deployment=f"""
        import pytest
        from gamify_client.testing import DemoAccount

        pytestmark = pytest.mark.gamify_deployment

        def test_client(gamify_client, gamify_target):
            assert not gamify_target.embedded
            assert gamify_target.base_url == gamify_client.base_url == {base_url!r}
            assert gamify_client.user_id == {demo.admin.id!r}
            assert [batch.name for batch in gamify_client.batches.list()] == ["Demo Cohort"]

        def test_login_with_an_account(gamify_login):
            account = DemoAccount({user.id!r}, "", {user.email!r}, {user.password!r}, "user")
            assert gamify_login(account, admin_id={demo.admin_id!r}).user_id == {user.id!r}

        async def test_async_client(async_gamify_client):
            assert async_gamify_client.base_url == {base_url!r}
            assert len(await async_gamify_client.tasks.list()) == 4

        def test_needs_the_backend(gamify_backend):
            raise AssertionError("must not run")

        def test_needs_the_seed(gamify_seed):
            raise AssertionError("must not run")

        def test_logs_in_by_role(gamify_login):
            gamify_login("admin")
            raise AssertionError("must not get here")
        """,
        test_unmarked="""
        def test_stays_embedded(gamify_client, gamify_target):
            assert gamify_target.embedded
            assert gamify_client.base_url == "http://gamify.test"
        """,
    )
    result = inner.runpytest(f"--gamify-base-url={base_url}", f"--gamify-token={token}", "-rs")
    result.assert_outcomes(passed=4, skipped=3)
    deployment = f"this gamify_deployment test runs against the deployment at {base_url}"
    result.stdout.fnmatch_lines(
        [
            f"gamify: tests marked gamify_deployment run against {base_url} (with a token)",
            f"SKIPPED*gamify_backend needs the embedded backend, but {deployment}",
            f"SKIPPED*gamify_seed needs the embedded backend, but {deployment}",
            f"SKIPPED*logging in as the seeded 'admin' needs the embedded backend, but "
            f"{deployment}; give gamify_login the account's credentials instead",
        ],
        consecutive=False,
    )
    assert token not in result.stdout.str()
    assert backend.requests.count("GET", "/api/batches") == 1
    assert backend.requests.count("GET", "/api/task/all") == 1


def test_the_deployment_comes_from_the_environment_and_the_options_win(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GAMIFY_BASE_URL", "http://from-env.example:3001/")
    monkeypatch.setenv("GAMIFY_TOKEN", "env-token")
    inner.makepyfile(
        """
        import os
        import pytest
        from gamify_client.testing.pytest_plugin import GamifyTarget

        @pytest.mark.gamify_deployment
        def test_target(gamify_target, gamify_config):
            expected = os.environ["EXPECTED_URL"], os.environ["EXPECTED_TOKEN"]
            assert gamify_target == GamifyTarget(*expected, embedded=False)
            assert (gamify_config.base_url, gamify_config.token) == expected
            assert "token" not in repr(gamify_target)
        """
    )
    monkeypatch.setenv("EXPECTED_URL", "http://from-env.example:3001")
    monkeypatch.setenv("EXPECTED_TOKEN", "env-token")
    inner.runpytest().assert_outcomes(passed=1)
    monkeypatch.setenv("EXPECTED_URL", "https://from-option.example")
    monkeypatch.setenv("EXPECTED_TOKEN", "option-token")
    inner.runpytest(
        "--gamify-base-url", "https://from-option.example", "--gamify-token", "option-token"
    ).assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("options", "expected_url"),
    [([], "http://gamify.test"), (["--gamify-base-url=http://deployment.example"], None)],
    ids=["embedded-without-url", "deployment-with-url"],
)
def test_fallback_embedded_runs_on_the_embedded_backend_only_without_a_url(
    inner: pytest.Pytester, options: list[str], expected_url: str | None
) -> None:
    inner.makepyfile(
        f"""
        import pytest

        pytestmark = pytest.mark.gamify_deployment(fallback="embedded")

        def test_target(gamify_target, gamify_config):
            expected_url = {expected_url!r} or "http://deployment.example"
            assert gamify_target.embedded is ({expected_url is not None})
            assert gamify_config.base_url == expected_url
        """
    )
    inner.runpytest(*options).assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("marker", "given"),
    [
        ('gamify_deployment("now")', "gamify_deployment('now')"),
        ('gamify_deployment(fallback="never")', "gamify_deployment(fallback='never')"),
    ],
)
def test_a_misused_marker_stops_the_run_with_a_usage_error(
    inner: pytest.Pytester, marker: str, given: str
) -> None:
    inner.makepyfile(
        f"""
        import pytest

        @pytest.mark.{marker}
        def test_marked():
            pass
        """
    )
    result = inner.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: *::test_marked: use @pytest.mark.gamify_deployment or "
            "@pytest.mark.gamify_deployment(fallback='skip' or 'embedded'), "
            f"not @pytest.mark.{given}"
        ]
    )


def test_a_base_url_that_is_not_http_stops_the_run_with_a_usage_error(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile("def test_nothing():\n    pass\n")
    result = inner.runpytest("--gamify-base-url=localhost:3001")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --gamify-base-url / GAMIFY_BASE_URL: base_url must start with http://*"]
    )


# The example harness


def test_the_example_harness_passes_on_the_embedded_backend(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(str(EXAMPLE_HARNESS), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_the_example_harness_passes_against_a_deployment(
    pytester: pytest.Pytester, served: tuple[GamifyBackend, str]
) -> None:
    backend, base_url = served
    result = pytester.runpytest_subprocess(
        str(EXAMPLE_HARNESS), "-p", "no:cacheprovider", f"--gamify-base-url={base_url}"
    )
    result.assert_outcomes(passed=4)
    assert backend.requests.count("POST", "/api/user/register") == 4 * 4
    result.stdout.fnmatch_lines(
        [f"gamify: tests marked gamify_deployment run against {base_url} (without a token)"]
    )
