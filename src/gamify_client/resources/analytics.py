"""Analytics: ``/api/analytics`` (batch reports) and ``/api/mentor`` (mentor analytics)."""

from __future__ import annotations

from ._base import AsyncResource, SyncResource

__all__ = ["Analytics", "AsyncAnalytics"]


class Analytics(SyncResource):
    """Analytics."""


class AsyncAnalytics(AsyncResource):
    """Analytics, awaited."""
