"""Switchable copies of the real service's defects, so a client can be tested against them."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Literal, get_args

Defect = Literal["xp_not_updated", "double_xp", "no_current_streak", "create_task_500"]
"""A defect the backend can be told to reproduce:

- ``xp_not_updated``: a submission (either route) adds no XP to the user.
- ``double_xp``: ``POST /api/task/:id/submit`` adds the points twice for a task in a batch.
- ``no_current_streak``: that route's ``realTimeData`` has no ``currentStreak``.
- ``create_task_500``: ``POST /api/task/create`` writes the task, then answers 500.
"""

KNOWN_DEFECTS: frozenset[str] = frozenset(get_args(Defect))


class Defects:
    """The set of defects switched on; safe to change while requests are served."""

    def __init__(self, enabled: Iterable[Defect] = ()) -> None:
        self._lock = threading.Lock()
        self._enabled: set[str] = set()
        for defect in enabled:
            self.add(defect)

    def add(self, defect: Defect) -> None:
        """Switch ``defect`` on; an unknown name raises ``ValueError``."""
        if defect not in KNOWN_DEFECTS:
            raise ValueError(f"unknown defect {defect!r}; known: {sorted(KNOWN_DEFECTS)}")
        with self._lock:
            self._enabled.add(defect)

    def discard(self, defect: Defect) -> None:
        """Switch ``defect`` off (no error if it was off)."""
        with self._lock:
            self._enabled.discard(defect)

    def clear(self) -> None:
        """Switch every defect off."""
        with self._lock:
            self._enabled.clear()

    def __contains__(self, defect: object) -> bool:
        with self._lock:
            return defect in self._enabled

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(sorted(self._enabled))

    def __len__(self) -> int:
        with self._lock:
            return len(self._enabled)

    def __repr__(self) -> str:
        return f"Defects({sorted(self)!r})"
