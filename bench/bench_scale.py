"""Live queries at scale: what creating, closing and invalidating many of them costs, how many
keys one client keeps polling, and whether unchanged answers call anybody.

- ``invalidate_family_10000_keys_ms``: invalidating a key family with 10,000 live queries on
  10,000 distinct keys of it, on the caller's thread (target at most 50).
- ``create_close_10000_queries_one_key_ms``: opening 10,000 queries on one cached key, then
  closing them (target at most 500).
- ``polls_per_s_100_keys_20ms_rtt``: polls a client makes per second with 100 keys polled every
  second against a server that answers in 20 ms (target at least 95 of the 100 wanted).
- ``unchanged_polls_callbacks``: callbacks over 20 polls of a dashboard whose answers differ
  only in the server's ``lastUpdated`` (target 0).
- ``mutation_to_100_observers_us``: median time, inside ``tasks.submit``, from its answer being
  parsed to the last of 100 dashboard queries holding the new XP: the write's rule (its patches
  from ``realTimeData``) and every observer's update and callback (target at most 100).
- ``mutation_to_100_observers_baseline_us``: the same write and screen by hand, in the same
  rounds: httpx, the dashboard in a ``cachetools.TTLCache`` patched with pydantic's
  ``model_copy``, 100 receivers of a ``blinker.Signal``; ``mutation_to_100_observers_ratio``
  is ours over it, with its A/A control (see ``bench/_interleave.py``).
"""

from __future__ import annotations

import gc
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
from blinker import Signal
from cachetools import TTLCache
from pydantic import TypeAdapter

from bench._interleave import Ratio, Side, measure_ratio
from gamify_client import CacheKey, ClientConfig, GamifyClient
from gamify_client.models import Dashboard, RealTimeData, ref_id
from gamify_client.resources import tasks as task_resource
from gamify_client.testing import GamifyBackend
from gamify_client.timers import Scheduler

BASE_URL = "http://bench.test"
CONFIG = ClientConfig(base_url=BASE_URL, task_completion_delay=0, max_retries=0)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _manual_client(transport: httpx.BaseTransport, clock: _Clock, **options: Any) -> GamifyClient:
    return GamifyClient(
        config=CONFIG,
        http_client=httpx.Client(transport=transport),
        scheduler=Scheduler(clock=clock, threaded=False),
        **options,
    )


def _empty_list() -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(200, json={"progress": {}}))


def invalidate_family_ms(keys: int = 10_000, rounds: int = 5) -> float:
    """The median over ``rounds`` invalidations of the family, each once every key has data."""
    # The client's own threads, as a user has them; the refetches an invalidation starts are
    # held at the server until its clock has stopped, so they do not compete for the GIL.
    hold = [threading.Event()]
    hold[0].set()

    def answer(request: httpx.Request) -> httpx.Response:
        hold[0].wait(30)
        return httpx.Response(200, json={"progress": {}})

    client = GamifyClient(
        config=CONFIG, http_client=httpx.Client(transport=httpx.MockTransport(answer))
    )
    queries = [
        client.use_user_progress_data(f"u{index}", "b1", refetch_interval=None)
        for index in range(keys)
    ]
    samples = []
    for _ in range(rounds):
        # ``fetching`` calls nobody back when it changes, so it is polled.
        deadline = time.monotonic() + 120
        while any(query.fetching or query.data is None for query in queries):
            if time.monotonic() > deadline:
                raise TimeoutError("the refetches did not end")
            time.sleep(0.01)
        hold[0] = threading.Event()
        gc.collect()
        started = time.perf_counter()
        invalidated = client.refresh_manager.invalidate(CacheKey.USER_PROGRESS)
        samples.append((time.perf_counter() - started) * 1000)
        assert len(invalidated) == keys
        hold[0].set()
    for query in queries:
        query.close()
    client.close()
    return statistics.median(samples)


def create_close_one_key_ms(count: int = 10_000) -> float:
    clock = _Clock()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=[]))
    client = _manual_client(transport, clock)
    first = client.use_tasks_data()
    client.scheduler.run_due()
    gc.collect()
    started = time.perf_counter()
    queries = [client.use_tasks_data() for _ in range(count)]
    for query in queries:
        query.close()
    elapsed = (time.perf_counter() - started) * 1000
    first.close()
    client.close()
    return elapsed


def polls_per_s(keys: int = 100, rtt: float = 0.02, seconds: float = 5.0) -> float:
    counted = [0]
    lock = threading.Lock()
    started = [0.0]

    def answer(request: httpx.Request) -> httpx.Response:
        # A server 20 ms away: the client's worker waits as it would on a socket.
        time.sleep(rtt)
        if started[0]:
            with lock:
                counted[0] += 1
        return httpx.Response(200, json={"progress": {}})

    client = GamifyClient(
        config=CONFIG, http_client=httpx.Client(transport=httpx.MockTransport(answer))
    )
    queries = [
        client.use_user_progress_data(f"u{index}", "b1", refetch_interval=1.0, stale_time=1.0)
        for index in range(keys)
    ]
    for query in queries:
        query.wait_for(timeout=30)
    started[0] = time.monotonic()
    time.sleep(seconds)
    with lock:
        polls = counted[0]
    client.close()
    return polls / seconds


def unchanged_poll_callbacks(polls: int = 20) -> int:
    with GamifyBackend() as backend:
        demo = backend.seed_demo()
        clock = _Clock()
        client = GamifyClient(
            config=CONFIG,
            token=backend.token_for(demo.users[0].id),
            http_client=httpx.Client(transport=backend.transport()),
            scheduler=Scheduler(clock=clock, threaded=False),
        )
        dashboard = client.use_dashboard_data(refetch_interval=1.0)
        client.scheduler.run_due()
        calls: list[Any] = []
        dashboard.subscribe(calls.append)
        for _ in range(polls):
            clock.now += 1.0
            client.scheduler.run_due()
        client.close()
        return len(calls)


OBSERVERS = 100
EXTRA_TASKS = 32
"""Tasks added to the demo batch's 4, so that each of the three learners submits 36 times."""


def _submit_body(user_id: str) -> dict[str, str]:
    return {"userId": user_id, "submissionType": "Text Entry", "value": "x"}


class _Widget:
    """One of the screen's observers, alike on both sides: it notes when it first shows an XP
    other than the one before the write."""

    __slots__ = ("before", "seen_at")

    def __init__(self, before: int) -> None:
        self.before = before
        self.seen_at = 0.0

    def on_query(self, query: Any) -> None:
        if query.data.overall_stats.user_total_xp != self.before:
            self.seen_at = time.perf_counter()

    def on_dashboard(self, dashboard: Dashboard) -> None:
        if dashboard.overall_stats.user_total_xp != self.before:
            self.seen_at = time.perf_counter()


def _last_seen(widgets: list[_Widget]) -> float:
    seen_at = [widget.seen_at for widget in widgets]
    assert all(seen_at), "an observer never saw the write"
    return max(seen_at)


class _SdkSide:
    """Our side: a learner's client with ``OBSERVERS`` dashboard queries, each with one
    callback; a sample is one ``tasks.submit``, timed inside it from its parsed answer to the
    last callback that saw the new XP."""

    def __init__(self, backend: GamifyBackend, user_id: str, parsed_at: list[float]) -> None:
        self.user_id = user_id
        self.parsed_at = parsed_at
        self.client = GamifyClient(
            config=CONFIG.replace(task_completion_delay=3600),
            token=backend.token_for(user_id),
            http_client=httpx.Client(transport=backend.transport()),
        )
        self.queries = [
            self.client.use_dashboard_data(refetch_interval=None) for _ in range(OBSERVERS)
        ]
        for query in self.queries:
            query.wait_for(timeout=30)

    def sample(self, task_id: str) -> float:
        queries = self.queries
        xp_before = queries[0].data.overall_stats.user_total_xp  # type: ignore[union-attr]
        widgets = [_Widget(xp_before) for _ in queries]
        unsubscribes = [
            query.subscribe(widget.on_query) for query, widget in zip(queries, widgets, strict=True)
        ]
        self.client.tasks.submit(
            task_id, user_id=self.user_id, submission_type="Text Entry", value="x"
        )
        for unsubscribe in unsubscribes:
            unsubscribe()
        return (_last_seen(widgets) - self.parsed_at[0]) * 1e6

    def close(self) -> None:
        for query in self.queries:
            query.close()
        self.client.close()


class _HandRolledSide:
    """The baseline: what a user writes without the SDK for the same screen. httpx sends the
    submit, the same models parse its answer, the cached dashboard (a ``cachetools.TTLCache``
    entry) is patched from ``realTimeData`` with pydantic's ``model_copy``, and a
    ``blinker.Signal`` tells ``OBSERVERS`` receivers, each doing what our side's callback
    does. Timed from the parsed answer to the last receiver that saw the new XP."""

    def __init__(self, backend: GamifyBackend, user_id: str) -> None:
        self.user_id = user_id
        self.http = httpx.Client(transport=backend.transport(), base_url=BASE_URL)
        self.headers = {"Authorization": f"Bearer {backend.token_for(user_id)}"}
        answer = self.http.get("/api/batch-progress/dashboard/me", headers=self.headers)
        answer.raise_for_status()
        self.cache: TTLCache[str, Dashboard] = TTLCache(maxsize=128, ttl=3600)
        self.cache["dashboard"] = TypeAdapter(Dashboard).validate_json(answer.content)
        self.changed = Signal()

    def sample(self, task_id: str) -> float:
        xp_before = self.cache["dashboard"].overall_stats.user_total_xp
        widgets = [_Widget(xp_before) for _ in range(OBSERVERS)]
        receivers = [widget.on_dashboard for widget in widgets]
        for receiver in receivers:
            self.changed.connect(receiver, weak=False)
        answer = self.http.post(
            f"/api/task/{task_id}/submit", json=_submit_body(self.user_id), headers=self.headers
        )
        real_time = task_resource.SUBMIT.parse(answer).real_time
        started = time.perf_counter()
        assert real_time is not None
        self.cache["dashboard"] = dashboard = _hand_patched(
            self.cache["dashboard"], real_time, task_id
        )
        self.changed.send(dashboard)
        for receiver in receivers:
            self.changed.disconnect(receiver)
        return (_last_seen(widgets) - started) * 1e6

    def close(self) -> None:
        self.http.close()


def _hand_patched(dashboard: Dashboard, real_time: RealTimeData, task_id: str) -> Dashboard:
    """The dashboard with a submission's ``realTimeData``, as a user would patch it by hand:
    the same six models copied as the SDK's rule copies (the task's entry, its batch's
    progress and metrics, the totals, the profile, the dashboard)."""
    summary = real_time.batch_progress
    stats: dict[str, Any] = {
        "user_total_xp": real_time.new_total_xp,
        "current_streak": real_time.current_streak,
    }
    batches = list(dashboard.batch_progress)
    for index, progress in enumerate(batches):
        if summary is None or ref_id(progress.batch_id) != real_time.batch_id:
            continue
        old = progress.progress_metrics
        totals = dashboard.overall_stats
        stats["total_completed_tasks"] = totals.total_completed_tasks + (
            summary.completed_tasks - old.completed_tasks
        )
        stats["total_points_earned"] = totals.total_points_earned + (
            summary.total_points_earned - old.total_points_earned
        )
        entries = [
            entry.model_copy(update={"status": "completed"})
            if ref_id(entry.task_id) == task_id
            else entry
            for entry in progress.task_progress
        ]
        metrics = old.model_copy(
            update={
                "completed_tasks": summary.completed_tasks,
                "total_tasks": summary.total_tasks,
                "completion_percentage": summary.completion_percentage,
                "total_points_earned": summary.total_points_earned,
            }
        )
        batches[index] = progress.model_copy(
            update={"progress_metrics": metrics, "task_progress": entries}
        )
    return dashboard.model_copy(
        update={
            "overall_stats": dashboard.overall_stats.model_copy(update=stats),
            "user_profile": dashboard.user_profile.model_copy(
                update={"total_xp": real_time.new_total_xp}
            ),
            "batch_progress": batches,
        }
    )


@dataclass(frozen=True)
class MutationFigures:
    """Our side's and the baseline's medians in microseconds, and their ratio with its A/A."""

    ours_us: float
    baseline_us: float
    ratio: Ratio


def mutation_to_observers() -> MutationFigures:
    """Three learners of one batch submit the same tasks in interleaved rounds: one through
    the SDK (ours), two by hand (the baseline and its control), so that every side meets the
    same server work, and so the same cold caches, just before its clock starts."""
    with GamifyBackend() as backend:
        demo = backend.seed_demo()
        admin = GamifyClient(
            config=CONFIG,
            token=backend.token_for(demo.admin.id),
            http_client=httpx.Client(transport=backend.transport()),
        )
        task_ids = list(demo.task_ids)
        for number in range(EXTRA_TASKS):
            created = admin.tasks.create(
                name=f"Bench task {number}",
                description="Bench",
                details="Bench",
                category=demo.category_ids[0],
                difficulty="Easy",
                batch=demo.batch_id,
            )
            task_ids.append(str(created.data.id))
        admin.close()
        # Our clock starts when the submit's answer is parsed, inside the write.
        parse = task_resource.SUBMIT.parse
        parsed_at = [0.0]

        def stamped(response: httpx.Response) -> Any:
            result = parse(response)
            parsed_at[0] = time.perf_counter()
            return result

        first, second, third = (user.id for user in demo.users[:3])
        ours = _SdkSide(backend, first, parsed_at)
        by_hand = [_HandRolledSide(backend, second), _HandRolledSide(backend, third)]
        # Each round submits the round's task once on each side; the baseline's two samples
        # come from the two hand-rolled learners in turn.
        ours_tasks = iter(task_ids)
        hand_tasks = iter([(side, task) for task in task_ids for side in by_hand])

        def baseline() -> float:
            side, task_id = next(hand_tasks)
            return side.sample(task_id)

        task_resource.SUBMIT.parse = stamped
        try:
            ratio = measure_ratio(
                "mutation_to_100_observers_ratio",
                lambda: ours.sample(next(ours_tasks)),
                baseline,
                rounds=len(task_ids),
            )
        finally:
            task_resource.SUBMIT.parse = parse
            ours.close()
            for side in by_hand:
                side.close()
        return MutationFigures(
            statistics.median(ratio.samples[Side.OURS]),
            statistics.median(ratio.samples[Side.BASELINE] + ratio.samples[Side.CONTROL]),
            ratio,
        )


def main() -> None:
    print(f"invalidate_family_10000_keys_ms: {invalidate_family_ms():.2f}")
    print(f"create_close_10000_queries_one_key_ms: {create_close_one_key_ms():.1f}")
    print(f"polls_per_s_100_keys_20ms_rtt: {polls_per_s():.1f}")
    print(f"unchanged_polls_callbacks: {unchanged_poll_callbacks()}")
    mutation = mutation_to_observers()
    print(f"mutation_to_100_observers_us: {mutation.ours_us:.1f}")
    print(f"mutation_to_100_observers_baseline_us: {mutation.baseline_us:.1f}")
    print(mutation.ratio.lines())


if __name__ == "__main__":
    main()
