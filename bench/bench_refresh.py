"""Refresh manager: the cost of a cache hit, and single flight under contention.

``cache_get_ratio`` is ``DataRefreshManager.get`` on a hit over a bare ``cachetools.TTLCache``
lookup on a hit, measured in interleaved rounds (target: at most 3), with its A/A control
``cache_get_ratio_aa`` (see ``bench/_interleave.py``). ``dedup_100_concurrent_fetches``
is how many fetches 100 threads refreshing one key at once cause (target: 1).
"""

from __future__ import annotations

import threading
import time
import timeit
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cachetools import TTLCache

from bench._interleave import Ratio, measure_ratio
from gamify_client.keys import CacheKey, Key
from gamify_client.refresh import DataRefreshManager

KEY: Key = (CacheKey.BATCH_PROGRESS, "65f1c0ffee0000000000beef")
ROUNDS = 7
REPEATS = 5
LOOKUPS = 100_000
CALLERS = 100


def _best(timer: timeit.Timer) -> float:
    """The fastest of REPEATS runs of LOOKUPS calls, in seconds per call."""
    return min(timer.repeat(repeat=REPEATS, number=LOOKUPS)) / LOOKUPS


def cache_get_ratio() -> Ratio:
    """Best-of-REPEATS ``get`` hit over bare TTLCache hit, in ROUNDS interleaved rounds."""
    bare: TTLCache[Key, Any, float] = TTLCache(10_000, 300.0, timer=time.monotonic)
    bare[KEY] = {"completionPercentage": 50}
    manager = DataRefreshManager()
    manager.set(KEY, {"completionPercentage": 50})
    bare_hit = timeit.Timer("bare[key]", globals={"bare": bare, "key": KEY})
    manager_hit = timeit.Timer("get(key)", globals={"get": manager.get, "key": KEY})
    return measure_ratio(
        "cache_get_ratio", lambda: _best(manager_hit), lambda: _best(bare_hit), ROUNDS
    )


def dedup_100_concurrent_fetches() -> int:
    """How many times the fetch runs when CALLERS threads refresh one key together."""
    manager = DataRefreshManager()
    release = threading.Event()
    fetches: list[int] = []

    def fetch() -> str:
        fetches.append(1)
        release.wait(10.0)
        return "value"

    with ThreadPoolExecutor(CALLERS) as pool:
        results = [pool.submit(manager.refresh, KEY, fetch) for _ in range(CALLERS)]
        deadline = time.monotonic() + 10.0
        # Hold the fetch open until every caller has either started it or joined it.
        while manager.stats().deduplicated_fetches + len(fetches) < CALLERS:
            if time.monotonic() > deadline:
                break
            time.sleep(0.001)
        release.set()
        for result in results:
            result.result()
    return len(fetches)


def main() -> None:
    """Print ``cache_get_ratio`` and ``dedup_100_concurrent_fetches``."""
    print(cache_get_ratio().lines(digits=2))
    print(f"dedup_100_concurrent_fetches: {dedup_100_concurrent_fetches()}")


if __name__ == "__main__":
    main()
