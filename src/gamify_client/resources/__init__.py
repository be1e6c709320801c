"""The backend's resources, each a group of endpoints in a sync and an async flavour."""

from .batches import AsyncBatches, Batches
from .categories import AsyncCategories, Categories
from .progress import AsyncProgress, Progress
from .tasks import AsyncTasks, Tasks
from .users import AsyncUsers, Users

__all__ = [
    "AsyncBatches",
    "AsyncCategories",
    "AsyncProgress",
    "AsyncTasks",
    "AsyncUsers",
    "Batches",
    "Categories",
    "Progress",
    "Tasks",
    "Users",
]
