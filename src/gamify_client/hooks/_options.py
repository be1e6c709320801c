"""The options of a live query: what a ``use_*`` method takes, checked and given its defaults."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypedDict

from ..config import ClientConfig, ConfigError

__all__ = ["Dispatch", "QueryOptions", "Settings", "resolve_options"]

Dispatch = Callable[[Callable[[], None]], object]
"""Runs a callback where the application wants it, e.g. ``lambda fn: root.after(0, fn)``."""


class QueryOptions(TypedDict, total=False):
    """The keyword options of every ``use_*`` method; durations are seconds.

    - ``refetch_interval``: poll period (default: the config's ``user_refresh_interval``, or
      ``admin_refresh_interval`` for a batch's progress); None turns polling off.
    - ``stale_time``: how long fetched data counts as fresh for mount, focus and reconnect
      refetches (default: the poll period, or the config's ``cache_ttl`` without polling).
    - ``refetch_on_focus`` / ``refetch_on_reconnect``: refetch stale data when the window
      regains focus / the network comes back (default True).
    - ``enabled``: False keeps the query from fetching by itself (default True).
    - ``keep_previous_data``: False shows no data while invalidated data is refetched, as the
      seed's hooks do (default True: the old data stays until the new arrives).
    - ``refetch_in_background``: keep polling while the window is unfocused (default False).
    - ``dispatch``: how subscriber callbacks are run (default: the client's ``dispatch``, and
      without one, called directly).
    """

    refetch_interval: float | None
    stale_time: float
    refetch_on_focus: bool
    refetch_on_reconnect: bool
    enabled: bool
    keep_previous_data: bool
    refetch_in_background: bool
    dispatch: Dispatch


@dataclass(frozen=True, slots=True)
class Settings:
    """One query's resolved options (``enabled`` aside, which can change)."""

    refetch_interval: float | None
    stale_time: float
    refetch_on_focus: bool
    refetch_on_reconnect: bool
    keep_previous_data: bool
    refetch_in_background: bool
    dispatch: Dispatch | None


def resolve_options(
    options: QueryOptions,
    config: ClientConfig,
    *,
    admin: bool,
    default_dispatch: Dispatch | None = None,
) -> tuple[Settings, bool]:
    """The settings and the initial ``enabled`` of a query with ``options``, defaults taken from
    ``config`` (its admin poll period when ``admin``) and, for ``dispatch``, from
    ``default_dispatch`` (the client's). Raises TypeError for an unknown option and ConfigError
    for a duration out of range."""
    unknown = set(options) - QueryOptions.__optional_keys__
    if unknown:
        raise TypeError(f"unknown query options: {', '.join(sorted(unknown))}")
    default_interval = config.admin_refresh_interval if admin else config.user_refresh_interval
    interval = options.get("refetch_interval", default_interval or None)
    if interval is not None and not (math.isfinite(interval) and interval > 0):
        raise ConfigError(
            f"refetch_interval must be a positive number of seconds or None, got {interval!r}"
        )
    stale_time = options.get("stale_time", interval if interval is not None else config.cache_ttl)
    if math.isnan(stale_time) or stale_time < 0:
        raise ConfigError(f"stale_time must be a number of seconds >= 0, got {stale_time!r}")
    settings = Settings(
        refetch_interval=interval,
        stale_time=stale_time,
        refetch_on_focus=options.get("refetch_on_focus", True),
        refetch_on_reconnect=options.get("refetch_on_reconnect", True),
        keep_previous_data=options.get("keep_previous_data", True),
        refetch_in_background=options.get("refetch_in_background", False),
        dispatch=options.get("dispatch", default_dispatch),
    )
    return settings, options.get("enabled", True)
