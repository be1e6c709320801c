"""gamify_client: the Python SDK for the Gamify backend.

Typed sync and async clients, a live query cache that stays fresh by itself, events for
every write, and a reference backend for tests.
"""

from .client import AsyncGamifyClient, GamifyClient
from .config import ClientConfig, ConfigError, MissingExtraError
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConflictError,
    GamifyError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    UnprocessableEntityError,
)
from .events import Event
from .keys import CacheKey
from .models import MutationResult

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncGamifyClient",
    "AuthenticationError",
    "BadRequestError",
    "CacheKey",
    "ClientClosedError",
    "ClientConfig",
    "ConfigError",
    "ConflictError",
    "Event",
    "GamifyClient",
    "GamifyError",
    "InternalServerError",
    "MissingExtraError",
    "MutationResult",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseValidationError",
    "UnprocessableEntityError",
    "__version__",
]
