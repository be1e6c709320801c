"""The baseline of ``mutation_to_100_observers_ratio`` does the work our side does: its
hand-written patch gives the dashboard the SDK's rule gives, and each side's sample waits for
the write to reach every observer."""

from __future__ import annotations

import time

import httpx
import pytest
from bench import bench_scale
from bench.bench_scale import _hand_patched, _HandRolledSide, _SdkSide

from gamify_client import GamifyClient
from gamify_client.models import Dashboard
from gamify_client.realtime import _patch_dashboard
from gamify_client.resources import tasks as task_resource
from gamify_client.testing import GamifyBackend


def test_the_hand_written_patch_equals_the_rules_patch() -> None:
    with GamifyBackend() as backend:
        demo = backend.seed_demo()
        user_id, task_id = demo.users[0].id, demo.task_ids[1]
        client = GamifyClient(
            config=bench_scale.CONFIG,
            token=backend.token_for(user_id),
            http_client=httpx.Client(transport=backend.transport()),
        )
        before = client.progress.dashboard()
        with httpx.Client(transport=backend.transport(), base_url=bench_scale.BASE_URL) as http:
            answer = http.post(
                f"/api/task/{task_id}/submit",
                json={"userId": user_id, "submissionType": "Text Entry", "value": "x"},
                headers={"Authorization": f"Bearer {backend.token_for(user_id)}"},
            )
        real_time = task_resource.SUBMIT.parse(answer).real_time
        assert real_time is not None and real_time.new_total_xp
        by_hand = _hand_patched(before, real_time, task_id)
        assert isinstance(by_hand, Dashboard)
        assert by_hand == _patch_dashboard(real_time, task_id, before)
        assert by_hand != before
        # What the server says afterwards agrees with both on what realTimeData carries.
        after = client.progress.dashboard()
        for name in ("user_total_xp", "total_completed_tasks", "total_points_earned"):
            assert getattr(after.overall_stats, name) == getattr(by_hand.overall_stats, name)
        server, patched = (dashboard.batch_progress[0] for dashboard in (after, by_hand))
        for name in ("completed_tasks", "total_tasks", "completion_percentage"):
            assert getattr(server.progress_metrics, name) == getattr(patched.progress_metrics, name)
        assert [entry.status for entry in server.task_progress] == [
            entry.status for entry in patched.task_progress
        ]
        client.close()


def test_each_side_waits_for_every_observer(monkeypatch: pytest.MonkeyPatch) -> None:
    with GamifyBackend() as backend:
        demo = backend.seed_demo()
        parsed_at = [0.0]
        parse = task_resource.SUBMIT.parse

        def stamped(response: httpx.Response) -> object:
            result = parse(response)
            parsed_at[0] = time.perf_counter()
            return result

        monkeypatch.setattr(task_resource.SUBMIT, "parse", stamped)
        ours = _SdkSide(backend, demo.users[0].id, parsed_at)
        by_hand = _HandRolledSide(backend, demo.users[1].id)
        try:
            assert ours.sample(demo.task_ids[0]) > 0
            assert by_hand.sample(demo.task_ids[0]) > 0
            assert all(
                query.data is not None and query.data.overall_stats.user_total_xp > 0
                for query in ours.queries
            )
            assert by_hand.cache["dashboard"].overall_stats.user_total_xp > 0
        finally:
            ours.close()
            by_hand.close()
        assert all(query.closed for query in ours.queries)
