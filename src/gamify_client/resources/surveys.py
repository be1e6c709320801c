"""Surveys: ``/api/survey``."""

from __future__ import annotations

from ._base import AsyncResource, SyncResource

__all__ = ["AsyncSurveys", "Surveys"]


class Surveys(SyncResource):
    """Surveys."""


class AsyncSurveys(AsyncResource):
    """Surveys, awaited."""
