"""Settings of a client, from keyword arguments first, then ``GAMIFY_*`` environment variables,
then the seed's defaults.

Durations are seconds as floats in Python; the environment takes the seed's milliseconds for
the real-time settings (``GAMIFY_TASK_COMPLETION_DELAY_MS=500``) and seconds for ``GAMIFY_TIMEOUT``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ._logging import redacted_headers, safe_url
from .errors import GamifyError

__all__ = ["DEFAULT_BASE_URL", "HTTP_BACKENDS", "ClientConfig", "ConfigError", "MissingExtraError"]

DEFAULT_BASE_URL = "http://localhost:3001"

HttpBackend = Literal["httpx", "aiohttp"]
HTTP_BACKENDS: tuple[HttpBackend, ...] = ("httpx", "aiohttp")
"""What the async client may send its requests with (``http_backend``)."""


class ConfigError(GamifyError, ValueError):
    """A setting, from an argument or the environment, has a value the SDK cannot use."""


class MissingExtraError(GamifyError, ImportError):
    """A setting needs an optional extra that is not installed; the message gives the
    ``pip install`` command."""


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Every setting of a client. Build it with :meth:`from_env` to honour the environment."""

    base_url: str = DEFAULT_BASE_URL
    token: str | None = None
    timeout: float = 10.0
    max_retries: int = 2
    default_headers: Mapping[str, str] = field(default_factory=dict)
    debug: bool = False
    user_refresh_interval: float | None = 30.0
    """Periodic refresh of a user's data (the seed's ``USER_PAGES``)."""
    admin_refresh_interval: float | None = 60.0
    """Periodic refresh of admin data such as a batch's progress (``ADMIN_PAGES``)."""
    task_completion_delay: float = 0.5
    """Wait after a mutation before active queries on invalidated keys refetch."""
    cache_ttl: float = 300.0
    """How long a cached value counts as fresh for ``DataRefreshManager.get``."""
    gc_time: float = 300.0
    """How long a cache entry that nobody observes is kept."""
    focus_throttle: float = 5.0
    """Minimum time between two focus-triggered refetches."""
    retry_backoff: float = 0.5
    """First retry's backoff ceiling; it doubles with each retry (full jitter)."""
    retry_backoff_max: float = 8.0
    retry_after_max: float = 60.0
    """A ``Retry-After`` longer than this is ignored in favour of the backoff."""
    optimistic: bool = False
    """Show the predicted effect of a write to observers at once, before its answer (see
    :mod:`gamify_client.optimistic`); ``with_options(optimistic=True)`` turns it on for the
    calls of one copy of the client."""
    offline: str | None = None
    """The SQLite file of the client's offline state: the outbox that keeps writes across
    being offline and crashes, and, with ``persist_cache``, the persisted cache. None sends
    writes directly (see ``docs/offline.md``)."""
    persist_cache: bool = False
    """Keep the cache's server data in ``offline``'s file and show it, marked stale, when a
    client of the same user starts again."""
    http_backend: HttpBackend = "httpx"
    """What the async client sends with: httpx's own transport, or ``"aiohttp"`` (the
    ``aiohttp`` extra), which keeps its speed with many calls in flight. The blocking client
    always uses httpx; an ``http_client`` passed to a client wins over this."""

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"base_url must start with http:// or https://, got {safe_url(self.base_url)!r}"
            )
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        if self.http_backend not in HTTP_BACKENDS:
            raise ConfigError(
                f"http_backend must be one of {', '.join(HTTP_BACKENDS)}, got {self.http_backend!r}"
            )
        if self.max_retries < 0:
            raise ConfigError(f"max_retries must be 0 or more, got {self.max_retries}")
        if self.persist_cache and not self.offline:
            raise ConfigError("persist_cache needs offline, the file to keep the cache in")
        for name in (
            "timeout",
            "task_completion_delay",
            "cache_ttl",
            "gc_time",
            "focus_throttle",
            "retry_backoff",
            "retry_backoff_max",
            "retry_after_max",
            "user_refresh_interval",
            "admin_refresh_interval",
        ):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                raise ConfigError(f"{name} must be a finite number of seconds >= 0, got {value!r}")

    def __repr__(self) -> str:
        # The token, a password in base_url and secret headers never show.
        shown: list[str] = []
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name == "token" and value is not None:
                value = "[redacted]"
            elif item.name == "base_url":
                value = safe_url(value)
            elif item.name == "default_headers":
                value = redacted_headers(value.items())
            shown.append(f"{item.name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ClientConfig:
        """Settings from ``overrides`` (None values are skipped), then the environment."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, (variable, parse) in _ENVIRONMENT.items():
            raw = env.get(variable)
            if raw is not None and raw.strip() != "":
                values[name] = _parse(variable, raw, parse)
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
        return cls(**values)

    def replace(self, **changes: Any) -> ClientConfig:
        """A copy with ``changes`` applied (None values are skipped)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def with_changes(self, **changes: Any) -> ClientConfig:
        """A copy with every one of ``changes`` applied, None included (``token=None`` logs
        out); an unknown name is a ConfigError."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)


def _seconds(raw: str) -> float:
    return float(raw)


def _milliseconds(raw: str) -> float:
    return float(raw) / 1000.0


def _flag(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected 1/0, true/false, yes/no or on/off, got {raw!r}")


def _backend_name(raw: str) -> str:
    return raw.strip().lower()


def _parse(variable: str, raw: str, parse: Any) -> Any:
    try:
        return parse(raw)
    except ValueError as err:
        raise ConfigError(f"environment variable {variable}={raw!r} is invalid: {err}") from None


_ENVIRONMENT: dict[str, tuple[str, Any]] = {
    "base_url": ("GAMIFY_BASE_URL", str),
    "token": ("GAMIFY_TOKEN", str),
    "timeout": ("GAMIFY_TIMEOUT", _seconds),
    "max_retries": ("GAMIFY_MAX_RETRIES", int),
    "debug": ("GAMIFY_DEBUG", _flag),
    "http_backend": ("GAMIFY_HTTP_BACKEND", _backend_name),
    "user_refresh_interval": ("GAMIFY_USER_REFRESH_MS", _milliseconds),
    "admin_refresh_interval": ("GAMIFY_ADMIN_REFRESH_MS", _milliseconds),
    "task_completion_delay": ("GAMIFY_TASK_COMPLETION_DELAY_MS", _milliseconds),
    "cache_ttl": ("GAMIFY_CACHE_TTL_MS", _milliseconds),
    "gc_time": ("GAMIFY_GC_TIME_MS", _milliseconds),
    "focus_throttle": ("GAMIFY_FOCUS_THROTTLE_MS", _milliseconds),
    "optimistic": ("GAMIFY_OPTIMISTIC", _flag),
    "offline": ("GAMIFY_OFFLINE", str),
    "persist_cache": ("GAMIFY_PERSIST_CACHE", _flag),
}
