"""``/api/survey``: survey responses."""

from __future__ import annotations

from ._routing import Route

ROUTES: tuple[Route, ...] = ()
"""This area's routes, in the real service's matching order."""
