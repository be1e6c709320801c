"""The route table: every route of ``CONTRACT.md``, in the real service's matching order.

Each route names its handler, whether it checks a token, and the ``{message, error}``
its ``catch`` block answers when something (such as a malformed id) fails inside it.
"""

from __future__ import annotations

from . import _routes_batches as batches
from . import _routes_categories as categories
from . import _routes_progress as progress
from . import _routes_tasks as tasks
from . import _routes_users as users
from ._events_stream import events_route
from ._express import BackendResponse, text_response
from ._routing import Context, Failure, Route


def liveness(ctx: Context) -> BackendResponse:
    """``GET /``: the real service's liveness text."""
    return text_response(200, "API is working!")


def _object_failure(message: str) -> Failure:
    return Failure(message, "error_object")


_SERVER_ERROR = Failure("Server error", "server_error")

ROUTES: tuple[Route, ...] = (
    Route("GET", "/", liveness, Failure("Failed")),
    # /api/user
    Route("POST", "/api/user/register", users.register, Failure("Failed to register user")),
    Route("POST", "/api/user/login", users.login, Failure("Failed to login")),
    Route("GET", "/api/user/:id", users.get_user, Failure("Failed to fetch user")),
    Route(
        "PATCH",
        "/api/user/:userId/points",
        users.update_points,
        Failure("Failed to update points"),
        auth=True,
    ),
    # /api/task: no token checked anywhere
    Route("GET", "/api/task/all", tasks.list_tasks, _object_failure("Failed to fetch all tasks")),
    Route(
        "GET",
        "/api/task/submissions",
        tasks.get_submission,
        _object_failure("Failed to fetch submission"),
    ),
    Route("POST", "/api/task/create", tasks.create_task, _object_failure("Failed to create task")),
    Route("PUT", "/api/task/start/:id", tasks.start_task, _object_failure("Failed to start task")),
    Route("PATCH", "/api/task/edit/:id", tasks.edit_task, _SERVER_ERROR),
    Route("PATCH", "/api/task/assign/:id", tasks.assign_task, _SERVER_ERROR),
    Route(
        "DELETE",
        "/api/task/delete/:id",
        tasks.delete_task,
        _object_failure("Failed to delete task"),
    ),
    Route("POST", "/api/task/:id/submit", tasks.submit_task, Failure("Failed to submit task")),
    Route("GET", "/api/task/:id", tasks.get_task, _object_failure("Failed to fetch task")),
    # /api/categories
    Route(
        "GET",
        "/api/categories/all",
        categories.list_categories,
        Failure("Failed to fetch categories"),
    ),
    Route(
        "POST",
        "/api/categories/create",
        categories.create_category,
        Failure("Failed to create category"),
    ),
    # /api/batches: only create and list check a token
    Route(
        "POST", "/api/batches", batches.create_batch, Failure("Failed to create batch"), auth=True
    ),
    Route(
        "GET", "/api/batches", batches.list_batches, Failure("Failed to fetch batches"), auth=True
    ),
    Route("GET", "/api/batches/:id", batches.get_batch, Failure("Failed to fetch batch")),
    Route("POST", "/api/batches/:id/enroll", batches.enroll_user, Failure("Failed to enroll user")),
    Route("POST", "/api/batches/:id/remove", batches.remove_user, Failure("Failed to remove user")),
    Route("DELETE", "/api/batches/:id", batches.delete_batch, Failure("Failed to delete batch")),
    # /api/batch-progress
    Route(
        "GET",
        "/api/batch-progress/dashboard/me",
        progress.dashboard,
        Failure("Failed to fetch dashboard data"),
        auth=True,
    ),
    Route(
        "GET",
        "/api/batch-progress/user/:userId/:batchId",
        progress.user_batch_progress,
        Failure("Failed to fetch progress"),
        auth=True,
    ),
    Route(
        "GET",
        "/api/batch-progress/user/:userId",
        progress.all_user_progress,
        Failure("Failed to fetch user progress"),
        auth=True,
    ),
    Route(
        "GET",
        "/api/batch-progress/batch/:batchId",
        progress.batch_progress,
        Failure("Failed to fetch batch progress"),
    ),
    Route(
        "GET",
        "/api/batch-progress/activity/:batchId",
        progress.batch_activity,
        Failure("Failed to fetch recent activity"),
    ),
    Route(
        "POST",
        "/api/batch-progress/initialize",
        progress.initialize_progress,
        Failure("Failed to initialize progress"),
    ),
    Route(
        "POST",
        "/api/batch-progress/submit-task",
        progress.submit_task,
        Failure("Failed to process task submission"),
    ),
    # Server push: not a route of the real service (it answers 404 there).
    Route(
        "GET", "/api/events", events_route, Failure("Failed to open the event stream"), auth=True
    ),
)
