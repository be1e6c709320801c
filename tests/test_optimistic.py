"""Optimistic updates: layers over the cache's server data (refresh.py), the predictions of
optimistic.py, and both clients against the reference backend: the prediction shows before
the answer, a 400 takes back exactly that change, and two writers settle on the server's truth.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gamify_client import CacheKey, ClientConfig, GamifyClient
from gamify_client.keys import Key
from gamify_client.models import Batch, Dashboard, Task, User, UserBatchProgress
from gamify_client.optimistic import (
    PREDICTIONS,
    changed_paths,
    value_at,
    with_value,
)
from gamify_client.realtime import evolve
from gamify_client.refresh import DataRefreshManager
from gamify_client.resources.batches import edit_batch, enroll_user
from gamify_client.resources.progress import submit_task_progress
from gamify_client.resources.tasks import delete_task, edit_task

# Keys of the manager tests: any key works, these name no real data.
K: Key = (CacheKey.TASKS, "k")
EMPTY: Key = (CacheKey.TASKS, "empty")


class _Set:
    """A layer that sets one key of a dict: the smallest Layer, for the manager's rules."""

    def __init__(self, name: str, value: Any) -> None:
        self.name, self.value = name, value
        self.dropped_from: list[Key] = []

    def apply(self, base: Any) -> Any:
        return {**base, self.name: self.value}

    def conflicts(self, base: Any) -> bool:
        return base.get(self.name) not in (None, self.value)

    def dropped(self, key: Key) -> None:
        self.dropped_from.append(key)


# The manager's layers


def test_a_layer_shows_over_the_server_data_and_its_rollback_keeps_a_later_change() -> None:
    manager = DataRefreshManager()
    manager.set(K, {"xp": 0, "name": "a"})
    seen: list[Any] = []
    manager.subscribe(K, seen.append)
    layer = _Set("xp", 10)

    assert manager.add_layer(K, layer)
    entry = manager.peek(K)
    assert entry is not None and entry.optimistic and entry.data == {"xp": 10, "name": "a"}
    assert manager.get(K) == {"xp": 10, "name": "a"}
    assert manager.server_data(K) == {"xp": 0, "name": "a"}

    # A change arriving meanwhile lands under the layer.
    manager.update(K, lambda data: {**data, "name": "b"})
    assert seen[-1] == {"xp": 10, "name": "b"}

    manager.remove_layer(K, layer)
    entry = manager.peek(K)
    assert entry is not None and not entry.optimistic
    assert entry.data == {"xp": 0, "name": "b"}
    assert seen == [{"xp": 10, "name": "a"}, {"xp": 10, "name": "b"}, {"xp": 0, "name": "b"}]


def test_observers_hear_the_optimistic_mark_clear_when_the_data_stays_the_same() -> None:
    manager = DataRefreshManager()
    manager.set(K, {"xp": 0})
    marks: list[tuple[Any, bool]] = []

    def note(data: Any) -> None:
        entry = manager.peek(K)
        marks.append((data, entry is not None and entry.optimistic))

    manager.subscribe(K, note)
    first, second = _Set("xp", 10), _Set("xp", 10)
    manager.add_layer(K, first)
    manager.add_layer(K, second)
    # The server confirms the prediction: its data now equals what the layers show.
    manager.set(K, {"xp": 10})

    told = len(marks)
    manager.remove_layer(K, first)
    # Another layer still shows: the same data, still optimistic, nothing to tell.
    assert len(marks) == told and marks[-1] == ({"xp": 10}, True)
    manager.remove_layer(K, second, keep=True)

    # The data did not change, but it is confirmed now: a view showing the mark must hear it.
    assert marks[told:] == [({"xp": 10}, False)]


def test_a_layer_needs_data_and_a_kept_layer_becomes_the_data() -> None:
    manager = DataRefreshManager()
    assert not manager.add_layer(EMPTY, _Set("xp", 1))
    manager.set(K, {"xp": 0})
    first, second = _Set("xp", 5), _Set("name", "n")
    manager.add_layer(K, first)
    manager.add_layer(K, second)

    manager.remove_layer(K, first, keep=True)

    assert manager.server_data(K) == {"xp": 5}
    entry = manager.peek(K)
    assert entry is not None and entry.optimistic and entry.data == {"xp": 5, "name": "n"}
    manager.remove_layer(K, second)
    assert manager.get(K) == {"xp": 5}


def test_a_fetch_that_contradicts_a_layer_drops_it_and_one_that_agrees_keeps_it() -> None:
    manager = DataRefreshManager()
    manager.set(K, {"name": "old"})
    layer = _Set("name", "mine")
    manager.add_layer(K, layer)

    manager.refresh(K, lambda: {"name": "mine", "extra": 1})
    assert layer.dropped_from == []
    entry = manager.peek(K)
    assert entry is not None and entry.optimistic

    manager.refresh(K, lambda: {"name": "theirs"})
    assert layer.dropped_from == [K]
    entry = manager.peek(K)
    assert entry is not None and not entry.optimistic and entry.data == {"name": "theirs"}


_names = st.sampled_from(["xp", "name", "streak"])
_operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), _names, st.integers(0, 3)),
        st.tuples(st.just("server"), _names, st.integers(0, 3)),
        st.tuples(st.just("remove"), _names, st.integers(0, 5)),
    ),
    max_size=25,
)


@given(_operations)
def test_the_view_is_the_server_data_with_the_remaining_layers_in_order(
    operations: list[tuple[str, str, int]],
) -> None:
    manager = DataRefreshManager()
    manager.set(K, {})
    server: dict[str, int] = {}
    layers: list[_Set] = []
    for kind, name, value in operations:
        if kind == "add":
            layers.append(_Set(name, value))
            manager.add_layer(K, layers[-1])
        elif kind == "server":
            server = {**server, name: value}
            manager.update(K, lambda data, name=name, value=value: {**data, name: value})
        elif layers:
            manager.remove_layer(K, layers.pop(value % len(layers)))
        expected: Any = server
        for layer in layers:
            expected = layer.apply(expected)
        entry = manager.peek(K)
        assert entry is not None and entry.data == expected
        assert entry.optimistic == bool(layers)
        assert manager.server_data(K) == server


# Paths into cached data

_leaves = st.one_of(st.integers(), st.text(max_size=3), st.none())
_trees = st.recursive(
    _leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner),
    max_leaves=12,
)


@given(_trees, _trees)
def test_writing_every_changed_path_turns_one_tree_into_the_other(before: Any, after: Any) -> None:
    paths = list(changed_paths(before, after))
    assert (paths == []) == (before == after)
    rebuilt = before
    for path in paths:
        rebuilt = with_value(rebuilt, path, value_at(after, path))
    assert rebuilt == after


def test_paths_go_through_models_and_miss_places_that_are_not_there() -> None:
    dashboard = Dashboard.model_validate({"overallStats": {"userTotalXP": 5}})
    raised = evolve(
        dashboard, {"overall_stats": evolve(dashboard.overall_stats, {"user_total_xp": 9})}
    )
    assert list(changed_paths(dashboard, raised)) == [("overall_stats", "user_total_xp")]
    assert value_at(raised, ("overall_stats", "user_total_xp")) == 9
    assert value_at(raised, ("batch_progress", 3, "status")) is not None  # the sentinel
    assert with_value(dashboard, ("batch_progress", 3, "status"), "x") is dashboard


# Predictions, on a cache filled by hand


def _task(task_id: str, points: int, batch: str) -> Task:
    return Task.model_validate({"_id": task_id, "name": "t", "points": points, "batch": batch})


def _progress(user: str, batch: str, task_id: str) -> UserBatchProgress:
    return UserBatchProgress.model_validate(
        {
            "userId": user,
            "batchId": batch,
            "taskProgress": [{"taskId": task_id, "status": "not_started"}],
            "progressMetrics": {"totalTasks": 2, "completedTasks": 0},
        }
    )


@pytest.fixture
def client(config: ClientConfig) -> Iterator[GamifyClient]:
    transport = httpx.MockTransport(lambda request: httpx.Response(503))
    with GamifyClient(config=config, http_client=httpx.Client(transport=transport)) as client:
        yield client


def test_a_submit_predicts_xp_completion_metrics_and_activity(client: GamifyClient) -> None:
    manager = client.refresh_manager
    manager.set(CacheKey.TASKS, [_task("t1", 30, "b1")])
    dashboard = Dashboard.model_validate(
        {
            "overallStats": {"userTotalXP": 70, "totalCompletedTasks": 2},
            "userProfile": {"totalXP": 70},
            "batchProgress": [_progress("u1", "b1", "t1").model_dump(by_alias=True)],
        }
    )
    manager.set((CacheKey.DASHBOARD, "u1"), dashboard)
    manager.set((CacheKey.USER_PROGRESS, "u1", "b1"), _progress("u1", "b1", "t1"))
    manager.set((CacheKey.USER_PROFILE, "u1"), User.model_validate({"_id": "u1", "xps": 70}))
    manager.set((CacheKey.ACTIVITY, "b1"), [])

    update = client._optimistic_begin(
        submit_task_progress(user_id="u1", task_id="t1", batch_id="b1")
    )

    assert update is not None and set(update.keys) == {
        (CacheKey.DASHBOARD, "u1"),
        (CacheKey.USER_PROGRESS, "u1", "b1"),
        (CacheKey.USER_PROFILE, "u1"),
        (CacheKey.ACTIVITY, "b1"),
    }
    shown = manager.peek((CacheKey.DASHBOARD, "u1")).data  # type: ignore[union-attr]
    assert shown.overall_stats.user_total_xp == 100
    assert shown.overall_stats.total_completed_tasks == 3
    assert shown.user_profile.total_xp == 100
    progress = manager.peek((CacheKey.USER_PROGRESS, "u1", "b1")).data  # type: ignore[union-attr]
    assert progress.task_progress[0].status == "completed"
    assert progress.progress_metrics.completed_tasks == 1
    assert progress.progress_metrics.completion_percentage == 50
    assert manager.peek((CacheKey.USER_PROFILE, "u1")).data.xps == 100  # type: ignore[union-attr]
    activity = manager.peek((CacheKey.ACTIVITY, "b1")).data  # type: ignore[union-attr]
    assert [entry.action for entry in activity] == ["task_completed"]

    update.rollback()
    assert manager.peek((CacheKey.DASHBOARD, "u1")).data == dashboard  # type: ignore[union-attr]
    assert not update.pending and update.keys == ()


def test_enrol_and_edits_are_predicted_and_a_write_without_prediction_has_none(
    client: GamifyClient,
) -> None:
    manager = client.refresh_manager
    batch = Batch.model_validate({"_id": "b1", "name": "Old", "users": []})
    manager.set((CacheKey.BATCH, "b1"), batch)
    manager.set((CacheKey.AVAILABLE_BATCHES, "u1"), [batch])
    manager.set(CacheKey.TASKS, [_task("t1", 5, "b1")])

    enrol = client._optimistic_begin(enroll_user("b1", "u1"))
    assert enrol is not None
    assert manager.peek((CacheKey.BATCH, "b1")).data.users == ["u1"]  # type: ignore[union-attr]
    assert manager.peek((CacheKey.AVAILABLE_BATCHES, "u1")).data == []  # type: ignore[union-attr]
    enrol.settle()

    edit = client._optimistic_begin(edit_batch("b1", name="New", mentor="m1"))
    assert edit is not None
    shown = manager.peek((CacheKey.BATCH, "b1")).data  # type: ignore[union-attr]
    assert (shown.name, shown.mentor) == ("New", None)
    task_edit = client._optimistic_begin(edit_task("t1", name="Renamed", points=9))
    assert task_edit is not None
    task = manager.peek(CacheKey.TASKS).data[0]  # type: ignore[union-attr]
    assert (task.name, task.points) == ("Renamed", 9)

    assert "tasks.delete" not in PREDICTIONS
    assert client._optimistic_begin(delete_task("t1")) is None


def test_an_enrolment_merges_with_members_others_added_and_never_conflicts(
    client: GamifyClient,
) -> None:
    manager = client.refresh_manager
    key = (CacheKey.BATCH, "b1")
    manager.set(key, Batch.model_validate({"_id": "b1", "users": ["u0"]}))
    conflicts: list[Any] = []
    client.events.subscribe("optimisticConflict", conflicts.append)
    enrol = client._optimistic_begin(enroll_user("b1", "u1"))
    assert enrol is not None

    # Another admin enrolled u2 meanwhile: the refetch shows them, and u1 stays predicted.
    manager.refresh(key, lambda: Batch.model_validate({"_id": "b1", "users": ["u0", "u2"]}))
    assert manager.peek(key).data.users == ["u0", "u2", "u1"]  # type: ignore[union-attr]
    assert conflicts == []

    enrol.rollback()
    assert manager.peek(key).data.users == ["u0", "u2"]  # type: ignore[union-attr]


def test_two_pending_enrolments_each_take_back_only_their_member(client: GamifyClient) -> None:
    manager = client.refresh_manager
    key = (CacheKey.BATCH, "b1")
    manager.set(key, Batch.model_validate({"_id": "b1", "users": ["u0"]}))
    first = client._optimistic_begin(enroll_user("b1", "u1"))
    second = client._optimistic_begin(enroll_user("b1", "u2"))
    assert first is not None and second is not None
    assert manager.peek(key).data.users == ["u0", "u1", "u2"]  # type: ignore[union-attr]

    first.rollback()
    assert manager.peek(key).data.users == ["u0", "u2"]  # type: ignore[union-attr]
    second.rollback()
    assert manager.peek(key).data.users == ["u0"]  # type: ignore[union-attr]
