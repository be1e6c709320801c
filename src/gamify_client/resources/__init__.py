"""The backend's resources, each a group of endpoints in a sync and an async flavour."""

from ..realtime import WRITES
from .analytics import Analytics, AsyncAnalytics
from .batches import AsyncBatches, Batches
from .categories import AsyncCategories, Categories
from .feedback import AsyncFeedback, Feedback
from .progress import AsyncProgress, Progress
from .surveys import AsyncSurveys, Surveys
from .tasks import AsyncTasks, Tasks
from .users import AsyncUsers, Users

ALL_WRITES = WRITES
"""Every write of every resource, by name: complete once this package is imported."""

__all__ = [
    "ALL_WRITES",
    "Analytics",
    "AsyncAnalytics",
    "AsyncBatches",
    "AsyncCategories",
    "AsyncFeedback",
    "AsyncProgress",
    "AsyncSurveys",
    "AsyncTasks",
    "AsyncUsers",
    "Batches",
    "Categories",
    "Feedback",
    "Progress",
    "Surveys",
    "Tasks",
    "Users",
]
