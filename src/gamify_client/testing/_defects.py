"""Switchable copies of the real service's defects, so a client can be tested against them."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Literal, get_args

Defect = Literal[
    "task_create_500",
    "enroll_populate_500",
    "batch_progress_populate_500",
    "completed_tasks_populate_500",
    "double_xp",
    "submit_no_streak",
    "streak_flag_only",
    "repeat_xp",
    "submit_task_500_after_write",
    "complete_farm",
    "graded_not_completed",
    "user_batches_empty",
    "parent_id_code",
    "batch_id_in_body",
    "remove_keeps_progress",
    "no_cascade",
    "orphan_500",
    "validation_500",
    "no_body_html500",
    "category_emoji_required",
    "edit_ignores_fields",
    "create_ignores_fields",
    "upload_dir",
    "user_patch_open",
    "password_double_hash",
    "points_any_user",
    "user_hash_leak",
    "missing_auth",
    "requireauth_header_only",
    "verify_shadowed",
    "restricted_ignored",
    "restrict_mentor_any_staff",
    "user_list_any_role",
    "open_superadmin_signup",
    "default_jwt_secret",
    "batch_message_500",
    "fake_analytics",
    "tracker_status_labels",
    "grade_by_submission_only",
    "satisfaction_string",
    "feedback_task_dropped",
    "upsert_phantom_progress",
    "edit_batch_tasks_unsynced",
    "no_success_flag",
    "activity_limit_users",
    "debug_route_public",
    "xp_not_updated",
]
"""A defect the backend can be told to reproduce: each of the real service's known defects,
by the switch name ``CONTRACT.md`` gives it (numbered there 1 to 46, in this order), plus
``xp_not_updated`` (a submission, by either route, adds no XP), which is not the real
service's but a failure a client must notice.
"""

KNOWN_DEFECTS: frozenset[str] = frozenset(get_args(Defect))


class Defects:
    """The set of defects switched on; safe to change while requests are served."""

    def __init__(self, enabled: Iterable[Defect] = ()) -> None:
        self._lock = threading.Lock()
        self._enabled: set[str] = set()
        self._version = 0
        for defect in enabled:
            self.add(defect)

    def add(self, defect: Defect) -> None:
        """Switch ``defect`` on; an unknown name raises ``ValueError``."""
        if defect not in KNOWN_DEFECTS:
            raise ValueError(f"unknown defect {defect!r}; known: {sorted(KNOWN_DEFECTS)}")
        with self._lock:
            self._enabled.add(defect)
            self._version += 1

    def discard(self, defect: Defect) -> None:
        """Switch ``defect`` off (no error if it was off)."""
        with self._lock:
            self._enabled.discard(defect)
            self._version += 1

    def clear(self) -> None:
        """Switch every defect off."""
        with self._lock:
            self._enabled.clear()
            self._version += 1

    @property
    def version(self) -> int:
        """Counts the changes of the set: what was answered under one version holds under it."""
        return self._version

    def __contains__(self, defect: object) -> bool:
        # Asked several times by every request; a set's membership test is atomic, so it takes
        # no lock (the lock keeps the writers and the version in step).
        return defect in self._enabled

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(sorted(self._enabled))

    def __len__(self) -> int:
        with self._lock:
            return len(self._enabled)

    def __repr__(self) -> str:
        return f"Defects({sorted(self)!r})"
