"""A scripted day on the reference backend: what ``make demo`` runs.

It starts :class:`~gamify_client.testing.GamifyBackend` on a loopback port, seeds it, logs
in an admin and three users through separate clients, and then: the admin creates a task,
two users submit tasks. Each step prints what every user's dashboard shows, so the write
in one place is seen in every other. It ends by itself.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from .client import GamifyClient
from .config import ClientConfig
from .events import Event
from .keys import CacheKey
from .models import Dashboard
from .refresh import DataRefreshManager
from .testing import GamifyBackend


def _line(dashboard: Dashboard) -> str:
    stats = dashboard.overall_stats
    progress = dashboard.batch_progress[0].progress_metrics if dashboard.batch_progress else None
    completion = f"{progress.completion_percentage:>3.0f}%" if progress else "  -"
    tasks = f"{progress.completed_tasks}/{progress.total_tasks}" if progress else "-"
    return (
        f"{dashboard.user_profile.username or '?':<12} XP {stats.user_total_xp:>4}  "
        f"streak {stats.current_streak}  done {tasks:>5}  completion {completion}"
    )


def run(out: TextIO = sys.stdout) -> int:
    """Play the scenario, printing as it goes; returns the exit status."""
    started = time.perf_counter()
    backend = GamifyBackend()
    seed = backend.seed_demo()
    with backend.serve() as base_url:
        config = ClientConfig(base_url=base_url, task_completion_delay=0)
        manager = DataRefreshManager()
        admin = GamifyClient(config=config, refresh_manager=manager)
        admin.login(email=seed.admin.email, password=seed.admin.password, designation="admin")
        users = []
        for account in seed.users:
            client = GamifyClient(config=config, refresh_manager=manager, events=admin.events)
            client.login(
                email=account.email,
                password=account.password,
                designation="user",
                admin_id=seed.admin_id,
            )
            users.append(client)
        admin.events.subscribe_all(
            lambda event, _payload: print(f"  event: {Event(event).value}", file=out)
        )

        def show(title: str) -> None:
            print(title, file=out)
            for client in users:
                key = (CacheKey.DASHBOARD, client.user_id)
                dashboard = manager.refresh(key, client.progress.dashboard)
                print(f"  {_line(dashboard)}", file=out)

        print(f"Gamify reference backend on {base_url}", file=out)
        show("Dashboards at the start of the day:")

        created = admin.tasks.create(
            name="Ship a release",
            description="Tag, build and publish a version.",
            details="Write the changelog entry too.",
            category=seed.category_ids[0],
            difficulty="Medium",
            batch=seed.batch_id,
            points=150,
        )
        affected = created.real_time.total_users_affected if created.real_time else "?"
        print(f"Admin created {created.data.name!r}, reaching {affected} users.", file=out)
        show("Dashboards after the new task:")

        first, second = users[0], users[1]
        assert first.user_id is not None and second.user_id is not None
        submitted = first.tasks.submit(
            created.data.id, user_id=first.user_id, submission_type="Link", value="https://x.io"
        )
        print(
            f"{seed.users[0].name} submitted it: +{submitted.data.progress.points_earned} XP; "
            "the cached dashboard was patched from realTimeData before any refetch:",
            file=out,
        )
        entry = manager.peek((CacheKey.DASHBOARD, first.user_id))
        if entry is not None and isinstance(entry.data, Dashboard):
            print(f"  {_line(entry.data)}", file=out)
        second.progress.submit_task(
            user_id=second.user_id, task_id=seed.task_ids[0], batch_id=seed.batch_id, grade=90
        )
        print(f"{seed.users[1].name} completed the batch's first task.", file=out)
        show("Dashboards at the end of the day:")

        for client in [admin, *users]:
            client.close()
    stats = manager.stats()
    print(
        f"Done in {time.perf_counter() - started:.1f} s: {stats.fetches} fetches, "
        f"{stats.invalidations} invalidations, {stats.hits} cache hits.",
        file=out,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gamify_client.demo``."""
    parser = argparse.ArgumentParser(prog="gamify demo", description=__doc__)
    parser.parse_args(argv)
    return run()


if __name__ == "__main__":
    raise SystemExit(main())
