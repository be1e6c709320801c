"""The route table: every route of ``CONTRACT.md``, in the real service's matching order.

Each area's module lists its routes (``ROUTES``): method, path, handler, the token check and
the ``{message, error}`` its ``catch`` block answers when something (such as a malformed id)
fails inside it. The areas come in the order ``backend/index.js`` mounts them.
"""

from __future__ import annotations

from . import _routes_analytics as analytics
from . import _routes_batches as batches
from . import _routes_categories as categories
from . import _routes_feedback as feedback
from . import _routes_progress as progress
from . import _routes_survey as survey
from . import _routes_tasks as tasks
from . import _routes_users as users
from ._events_stream import events_route
from ._express import BackendResponse, text_response
from ._routing import Context, Failure, Route, RouteTable


def liveness(ctx: Context) -> BackendResponse:
    """``GET /``: the real service's liveness text."""
    return text_response(200, "API is working!")


ROUTES: tuple[Route, ...] = (
    Route("GET", "/", liveness, Failure("Failed")),
    *categories.ROUTES,
    *tasks.ROUTES,
    *users.ROUTES,
    *batches.ROUTES,
    *feedback.ROUTES,
    *progress.ROUTES,
    *analytics.ROUTES,
    *survey.ROUTES,
    # Server push: not a route of the real service (it answers 404 there).
    Route(
        "GET", "/api/events", events_route, Failure("Failed to open the event stream"), auth="jwt"
    ),
)

ROUTE_TABLE = RouteTable(ROUTES)
""":data:`ROUTES`, looked up by method and path."""
