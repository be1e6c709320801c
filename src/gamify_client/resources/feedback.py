"""Feedback: ``/api/feedback``."""

from __future__ import annotations

from ._base import AsyncResource, SyncResource

__all__ = ["AsyncFeedback", "Feedback"]


class Feedback(SyncResource):
    """Feedback."""


class AsyncFeedback(AsyncResource):
    """Feedback, awaited."""
