"""Settings: arguments first, then GAMIFY_* variables, then defaults; bad values refused."""

from __future__ import annotations

import httpx
import pytest

from gamify_client import AsyncGamifyClient, ClientConfig, ConfigError, GamifyClient


def test_defaults_follow_the_seed() -> None:
    config = ClientConfig.from_env({})
    assert config.base_url == "http://localhost:3001"
    assert config.token is None
    assert config.timeout == 10.0
    assert config.max_retries == 2
    assert config.user_refresh_interval == 30.0
    assert config.admin_refresh_interval == 60.0
    assert config.task_completion_delay == 0.5


def test_environment_fills_what_arguments_leave_out() -> None:
    env = {
        "GAMIFY_BASE_URL": "https://gamify.example/",
        "GAMIFY_TOKEN": "t0k",
        "GAMIFY_TIMEOUT": "2.5",
        "GAMIFY_MAX_RETRIES": "4",
        "GAMIFY_DEBUG": "1",
        "GAMIFY_TASK_COMPLETION_DELAY_MS": "250",
        "GAMIFY_USER_REFRESH_MS": "15000",
    }
    config = ClientConfig.from_env(env, max_retries=1)
    assert config.base_url == "https://gamify.example"
    assert config.token == "t0k"
    assert config.timeout == 2.5
    assert config.max_retries == 1
    assert config.debug is True
    assert config.task_completion_delay == 0.25
    assert config.user_refresh_interval == 15.0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GAMIFY_TIMEOUT", "fast"),
        ("GAMIFY_MAX_RETRIES", "-1"),
        ("GAMIFY_DEBUG", "maybe"),
        ("GAMIFY_BASE_URL", "localhost:3001"),
        ("GAMIFY_TASK_COMPLETION_DELAY_MS", "-5"),
    ],
)
def test_bad_environment_values_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ClientConfig.from_env({variable: value})
    assert isinstance(caught.value, ValueError)
    name = variable.removeprefix("GAMIFY_").removesuffix("_MS").lower()
    assert variable in str(caught.value) or name in str(caught.value)


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown settings: colour"):
        ClientConfig.from_env({}, colour="blue")


def test_clients_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAMIFY_BASE_URL", "http://env.test:9")
    monkeypatch.setenv("GAMIFY_TOKEN", "from-env")
    with GamifyClient(timeout=3) as client:
        assert client.base_url == "http://env.test:9"
        assert client.token == "from-env"
        assert client.config.timeout == 3
    client_async = AsyncGamifyClient(base_url="http://arg.test")
    assert client_async.base_url == "http://arg.test"
    assert client_async.token == "from-env"


def test_with_options_copies_and_shares() -> None:
    with GamifyClient(base_url="http://a.test", token="one") as client:
        other = client.with_options(token="two", max_retries=5)
        assert other.token == "two"
        assert other.max_retries == 5
        assert client.token == "one"
        assert other.refresh_manager is client.refresh_manager
        assert other.events is client.events
        assert other._http is client._http


def test_timeout_applies_to_every_request_and_follows_with_options() -> None:
    seen: list[object] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json=[])

    http = httpx.Client(transport=httpx.MockTransport(answer), timeout=99)
    with GamifyClient(base_url="http://t.test", timeout=3, http_client=http) as client:
        client.tasks.list()
        client.with_options(timeout=0.5).tasks.list()
    assert [t["read"] for t in seen] == [3, 0.5]  # type: ignore[index]


def test_with_options_can_clear_the_token_and_refuses_unknown_settings() -> None:
    with GamifyClient(base_url="http://a.test", token="one") as client:
        assert client.with_options(token=None).token is None
        assert (
            AsyncGamifyClient(base_url="http://a.test", token="x").with_options(token=None).token
            is None
        )
        with pytest.raises(ConfigError, match="unknown settings: colour"):
            client.with_options(colour="blue")
