"""The clients' side of live queries: the ``use_*`` methods, ``set_focused`` and ``set_online``,
and the registry each client keeps its queries in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeAlias, Unpack

from .._core import BaseClient, Call
from ..focus import FocusManager, OnlineManager
from ..keys import CacheKey, Key
from ..models import (
    AnalyticsSummary,
    Batch,
    BatchProgressReport,
    Category,
    Dashboard,
    EngagementReport,
    EnrollmentReport,
    Feedback,
    Notification,
    PerformanceReport,
    Task,
    UserBatchProgress,
    UsersListing,
)
from ..resources.analytics import get_engagement, get_enrollment, get_performance, get_summary
from ..resources.batches import available_batches, enrolled_batches, list_batches
from ..resources.categories import get_category, list_categories
from ..resources.feedback import list_mentor, list_received, list_sent, list_task, list_timeline
from ..resources.progress import (
    get_batch_progress,
    get_dashboard,
    get_user_progress,
    list_notifications,
)
from ..resources.tasks import list_tasks
from ..resources.users import list_users
from ..timers import AsyncScheduler, Scheduler
from ._async import AsyncQuery, AsyncQueryRegistry, running_loop
from ._observer import QueryObserver, identity
from ._options import Dispatch, QueryOptions, resolve_options
from ._registry import ClientParts, QueryRegistry
from ._sync import Query, SyncQueryRegistry

if TYPE_CHECKING:
    # typing.TypeVar takes a default only from Python 3.13. Without ``select`` a query holds
    # the fetched type; with it, whatever ``select`` returns.
    from typing_extensions import TypeVar as DefaultingTypeVar

    DashboardView = DefaultingTypeVar("DashboardView", default=Dashboard)
    BatchReportView = DefaultingTypeVar("BatchReportView", default=BatchProgressReport)
    UserProgressView = DefaultingTypeVar("UserProgressView", default=UserBatchProgress)
    TasksView = DefaultingTypeVar("TasksView", default=list[Task])
    BatchesView = DefaultingTypeVar("BatchesView", default=list[Batch])
    UsersView = DefaultingTypeVar("UsersView", default=UsersListing)
    CategoryView = DefaultingTypeVar("CategoryView", default=Category)
    CategoriesView = DefaultingTypeVar("CategoriesView", default=list[Category])
    AnalyticsView = DefaultingTypeVar("AnalyticsView", default="BatchReport")
    FeedbackListView = DefaultingTypeVar("FeedbackListView", default=list[Feedback])
    NotificationsView = DefaultingTypeVar("NotificationsView", default=list[Notification])

__all__ = ["AnalyticsReport", "AsyncQueriesMixin", "BatchReport", "FeedbackView", "QueriesMixin"]

AnalyticsReport: TypeAlias = Literal["enrollment", "engagement", "performance", "summary"]
"""The batch analytics reports a live query can show (``/api/analytics/batch/:id/<report>``)."""
BatchReport: TypeAlias = EnrollmentReport | EngagementReport | PerformanceReport | AnalyticsSummary
FeedbackView: TypeAlias = Literal["received", "sent", "mentor", "task", "timeline"]
"""Which feedback of a user a live query shows."""

_ANALYTICS: dict[str, Callable[[str], Call[Any]]] = {
    "enrollment": get_enrollment,
    "engagement": get_engagement,
    "performance": get_performance,
    "summary": get_summary,
}
_FEEDBACK: dict[str, Callable[[str], Call[Any]]] = {
    "received": list_received,
    "sent": list_sent,
    "mentor": list_mentor,
    "task": list_task,
    "timeline": list_timeline,
}


class _Source(NamedTuple):
    """What a ``use_*`` method observes: the key, the call that fetches it, whether it is admin
    data (polled every ``admin_refresh_interval``)."""

    key: Key
    call: Call[Any]
    admin: bool = False
    follow: Callable[[], _Source] | None = None
    """For data keyed by who asks: the source again, once the client's token changes."""


def _follow_identity(
    registry: QueryRegistry,
    send: Callable[[Call[Any]], Any],
    query: QueryObserver[Any],
    source: _Source,
) -> None:
    """Keep ``query`` on its user's key: when the client's token changes, the registry moves it
    to the key (and the call) of the new user, so a dashboard made before ``login()`` shows
    the logged-in user's data once there is one."""
    follow = source.follow
    if follow is None:
        return

    def where_now() -> tuple[Key, Callable[[], Any]]:
        now = follow()
        return now.key, partial(send, now.call)

    registry.follow(query, where_now)


class _LiveQueries(BaseClient):
    """The focus and online managers of a client and what each of its ``use_*`` methods
    observes, for both flavours."""

    focus: FocusManager
    """Whether the application's window has focus (``client.focus.subscribe(cb)``)."""
    online: OnlineManager
    """Whether the network is up (``client.online.subscribe(cb)``)."""
    _dispatch: Dispatch | None = None

    @property
    def dispatch(self) -> Dispatch | None:
        """How the callbacks of this client's queries run when a ``use_*`` method is given no
        ``dispatch`` (None: called directly). Setting it changes the queries made afterwards,
        not those already open; a UI toolkit's adapter sets it once per client."""
        return self._dispatch

    @dispatch.setter
    def dispatch(self, dispatch: Dispatch | None) -> None:
        self._dispatch = dispatch

    def set_focused(self, focused: bool) -> None:
        """Tell the client whether its window has focus: polling pauses without it (unless
        ``refetch_in_background``) and stale queries refetch when it comes back."""
        self.focus.set_focused(focused)

    def set_online(self, online: bool) -> None:
        """Tell the client whether the network is up: polling and refetches pause offline and
        stale queries refetch when it comes back."""
        self.online.set_online(online)

    def _share_managers(self, parent: _LiveQueries) -> None:
        """Make this client (a ``with_options`` copy) follow ``parent``'s focus and network:
        one ``set_focused`` or ``set_online`` reaches the queries of both."""
        self.focus, self.online = parent.focus, parent.online

    def _init_focus_and_online(self) -> None:
        self.focus = FocusManager()
        self.online = OnlineManager()

    def _registry_parts(self) -> ClientParts:
        return ClientParts(
            manager=self.refresh_manager,
            focus=self.focus,
            online=self.online,
            focus_throttle=self.config.focus_throttle,
        )

    def _dashboard_source(self) -> _Source:
        return _Source(
            (CacheKey.DASHBOARD, self.user_id), get_dashboard(), follow=self._dashboard_source
        )

    def _batch_progress_source(self, batch_id: str) -> _Source:
        key = (CacheKey.BATCH_PROGRESS, batch_id)
        return _Source(key, get_batch_progress(batch_id), admin=True)

    def _user_progress_source(self, user_id: str, batch_id: str) -> _Source:
        key = (CacheKey.USER_PROGRESS, user_id, batch_id)
        return _Source(key, get_user_progress(user_id, batch_id))

    def _tasks_source(self) -> _Source:
        return _Source(CacheKey.TASKS, list_tasks())

    def _users_source(self) -> _Source:
        return _Source(
            (CacheKey.USERS, self.user_id), list_users(), admin=True, follow=self._users_source
        )

    def _enrolled_batches_source(self) -> _Source:
        key = (CacheKey.USER_BATCHES, self.user_id)
        return _Source(key, enrolled_batches(), follow=self._enrolled_batches_source)

    def _available_batches_source(self) -> _Source:
        key = (CacheKey.AVAILABLE_BATCHES, self.user_id)
        return _Source(key, available_batches(), follow=self._available_batches_source)

    def _categories_source(self, batch_id: str | None) -> _Source:
        return _Source((CacheKey.CATEGORIES, batch_id), list_categories(batch_id))

    def _category_source(self, category_id: str, batch_id: str | None) -> _Source:
        key = (CacheKey.CATEGORY_TASKS, category_id, batch_id)
        return _Source(key, get_category(category_id, batch_id=batch_id))

    def _analytics_source(self, batch_id: str, report: AnalyticsReport) -> _Source:
        if report not in _ANALYTICS:
            raise ValueError(f"unknown report {report!r}; one of {sorted(_ANALYTICS)}")
        key = (CacheKey.ANALYTICS, batch_id, report)
        return _Source(key, _ANALYTICS[report](batch_id), admin=True)

    def _feedback_source(self, user_id: str, view: FeedbackView) -> _Source:
        if view not in _FEEDBACK:
            raise ValueError(f"unknown feedback view {view!r}; one of {sorted(_FEEDBACK)}")
        return _Source((CacheKey.FEEDBACK, user_id, view), _FEEDBACK[view](user_id))

    def _notifications_source(self, user_id: str) -> _Source:
        return _Source((CacheKey.NOTIFICATIONS, user_id), list_notifications(user_id))

    def _batches_source(self) -> _Source:
        return _Source(
            (CacheKey.BATCHES, self.user_id), list_batches(), follow=self._batches_source
        )


class QueriesMixin(_LiveQueries):
    """The ``use_*`` methods of :class:`~gamify_client.GamifyClient`."""

    scheduler: Scheduler
    _query_registry: SyncQueryRegistry

    def _init_queries(self, send: Callable[[Call[Any]], Any]) -> None:
        """Set up the focus and online managers and the registry, on ``self.scheduler``."""
        self._init_focus_and_online()
        self._query_registry = SyncQueryRegistry(
            scheduler=self.scheduler, send=send, **self._registry_parts()
        )

    def _close_queries(self) -> None:
        self._query_registry.close()

    def _share_managers(self, parent: _LiveQueries) -> None:
        super()._share_managers(parent)
        # The registry has no query yet: made again, it listens to the shared managers.
        self._query_registry = SyncQueryRegistry(
            scheduler=self.scheduler, send=self._query_registry.send, **self._registry_parts()
        )

    def _open(
        self, source: _Source, select: Callable[[Any], Any] | None, options: QueryOptions
    ) -> Query[Any]:
        settings, enabled = resolve_options(
            options, self.config, admin=source.admin, default_dispatch=self._dispatch
        )
        registry = self._query_registry
        fetch = partial(registry.send, source.call)
        query = Query(registry, source.key, fetch, settings, select or identity, enabled)
        _follow_identity(registry, registry.send, query, source)
        return query

    def _identity_changed(self) -> None:
        self._query_registry.follow_identity()

    def use_dashboard_data(
        self,
        *,
        select: Callable[[Dashboard], DashboardView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> Query[DashboardView]:
        """The logged-in user's dashboard, live (key ``(dashboard, user_id)``)."""
        return self._open(self._dashboard_source(), select, options)

    def use_batch_progress_data(
        self,
        batch_id: str,
        *,
        select: Callable[[BatchProgressReport], BatchReportView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> Query[BatchReportView]:
        """A batch and every student's progress in it, live (admin data: polled every
        ``admin_refresh_interval``)."""
        return self._open(self._batch_progress_source(batch_id), select, options)

    def use_user_progress_data(
        self,
        user_id: str,
        batch_id: str,
        *,
        select: Callable[[UserBatchProgress], UserProgressView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> Query[UserProgressView]:
        """One user's progress in one batch, live."""
        return self._open(self._user_progress_source(user_id, batch_id), select, options)

    def use_tasks_data(
        self,
        *,
        select: Callable[[list[Task]], TasksView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> Query[TasksView]:
        """Every task, live."""
        return self._open(self._tasks_source(), select, options)

    def use_batches_data(
        self,
        *,
        select: Callable[[list[Batch]], BatchesView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> Query[BatchesView]:
        """The batches the logged-in user may see, live (key ``(batches, user_id)``)."""
        return self._open(self._batches_source(), select, options)

    def use_users_data(
        self,
        *,
        select: Callable[[UsersListing], UsersView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> Query[UsersView]:
        """Every account the logged-in staff member may see (superadmins, admins, mentors, users),
        live (admin data: key ``(users, caller_id)``)."""
        return self._open(self._users_source(), select, options)

    def use_enrolled_batches_data(
        self,
        *,
        select: Callable[[list[Batch]], BatchesView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> Query[BatchesView]:
        """The batches the logged-in user is enrolled in, live (key ``(user-batches, user_id)``)."""
        return self._open(self._enrolled_batches_source(), select, options)

    def use_available_batches_data(
        self,
        *,
        select: Callable[[list[Batch]], BatchesView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> Query[BatchesView]:
        """The batches the logged-in user may enrol in, live (key ``(available-batches,
        user_id)``)."""
        return self._open(self._available_batches_source(), select, options)

    def use_categories_data(
        self,
        batch_id: str | None = None,
        *,
        select: Callable[[list[Category]], CategoriesView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> Query[CategoriesView]:
        """The categories (lessons), all or one batch's, live (key ``(categories, batch_id)``)."""
        return self._open(self._categories_source(batch_id), select, options)

    def use_category_data(
        self,
        category_id: str,
        batch_id: str | None = None,
        *,
        select: Callable[[Category], CategoryView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> Query[CategoryView]:
        """A category with its tasks, live (key ``(category-tasks, category_id, batch_id)``)."""
        return self._open(self._category_source(category_id, batch_id), select, options)

    def use_batch_analytics_data(
        self,
        batch_id: str,
        report: AnalyticsReport = "summary",
        *,
        select: Callable[[BatchReport], AnalyticsView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> Query[AnalyticsView]:
        """One of a batch's analytics reports, live (admin data: key ``(analytics, batch_id,
        report)``)."""
        return self._open(self._analytics_source(batch_id, report), select, options)

    def use_feedback_data(
        self,
        user_id: str,
        view: FeedbackView = "received",
        *,
        select: Callable[[list[Feedback]], FeedbackListView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> Query[FeedbackListView]:
        """A user's feedback (received, sent, mentor, task or timeline), live (key ``(feedback,
        user_id, view)``)."""
        return self._open(self._feedback_source(user_id, view), select, options)

    def use_notifications_data(
        self,
        user_id: str,
        *,
        select: Callable[[list[Notification]], NotificationsView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> Query[NotificationsView]:
        """A user's notifications (overdue and graded tasks), live (key ``(notifications,
        user_id)``)."""
        return self._open(self._notifications_source(user_id), select, options)


class AsyncQueriesMixin(_LiveQueries):
    """The ``use_*`` methods of :class:`~gamify_client.AsyncGamifyClient`. Create queries
    inside a running event loop; a client's queries live on one loop at a time."""

    scheduler: AsyncScheduler
    _query_registry: AsyncQueryRegistry | None
    _query_send: Callable[[Call[Any]], Awaitable[Any]]
    _queries_closed: bool

    def _init_queries(self, send: Callable[[Call[Any]], Awaitable[Any]]) -> None:
        """Set up the focus and online managers; the registry comes with the first query."""
        self._init_focus_and_online()
        self._query_registry = None
        self._query_send = send
        self._queries_closed = False

    def _close_queries(self) -> None:
        self._queries_closed = True
        if self._query_registry is not None:
            self._query_registry.close()

    def _registry_for_running_loop(self) -> AsyncQueryRegistry:
        loop = running_loop()
        if loop is None:
            raise RuntimeError("create the async client's queries inside a running event loop")
        if self._queries_closed:
            raise RuntimeError("the client is closed; its queries cannot be created")
        registry = self._query_registry
        if registry is not None and registry.loop is loop:
            return registry
        if registry is not None:
            if registry.loop.is_running():
                raise RuntimeError("this client's queries already live on another event loop")
            registry.close()
        registry = self._query_registry = AsyncQueryRegistry(
            loop=loop, scheduler=self.scheduler, send=self._query_send, **self._registry_parts()
        )
        return registry

    def _open(
        self, source: _Source, select: Callable[[Any], Any] | None, options: QueryOptions
    ) -> AsyncQuery[Any]:
        settings, enabled = resolve_options(
            options, self.config, admin=source.admin, default_dispatch=self._dispatch
        )
        registry = self._registry_for_running_loop()
        fetch = partial(registry.send, source.call)
        query = AsyncQuery(registry, source.key, fetch, settings, select or identity, enabled)
        _follow_identity(registry, registry.send, query, source)
        return query

    def _identity_changed(self) -> None:
        if self._query_registry is not None:
            self._query_registry.follow_identity()

    def use_dashboard_data(
        self,
        *,
        select: Callable[[Dashboard], DashboardView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> AsyncQuery[DashboardView]:
        """The logged-in user's dashboard, live (key ``(dashboard, user_id)``)."""
        return self._open(self._dashboard_source(), select, options)

    def use_batch_progress_data(
        self,
        batch_id: str,
        *,
        select: Callable[[BatchProgressReport], BatchReportView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> AsyncQuery[BatchReportView]:
        """A batch and every student's progress in it, live (admin data: polled every
        ``admin_refresh_interval``)."""
        return self._open(self._batch_progress_source(batch_id), select, options)

    def use_user_progress_data(
        self,
        user_id: str,
        batch_id: str,
        *,
        select: Callable[[UserBatchProgress], UserProgressView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> AsyncQuery[UserProgressView]:
        """One user's progress in one batch, live."""
        return self._open(self._user_progress_source(user_id, batch_id), select, options)

    def use_tasks_data(
        self,
        *,
        select: Callable[[list[Task]], TasksView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> AsyncQuery[TasksView]:
        """Every task, live."""
        return self._open(self._tasks_source(), select, options)

    def use_batches_data(
        self,
        *,
        select: Callable[[list[Batch]], BatchesView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> AsyncQuery[BatchesView]:
        """The batches the logged-in user may see, live (key ``(batches, user_id)``)."""
        return self._open(self._batches_source(), select, options)

    def use_users_data(
        self,
        *,
        select: Callable[[UsersListing], UsersView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> AsyncQuery[UsersView]:
        """Every account the logged-in staff member may see (superadmins, admins, mentors, users),
        live (admin data: key ``(users, caller_id)``)."""
        return self._open(self._users_source(), select, options)

    def use_enrolled_batches_data(
        self,
        *,
        select: Callable[[list[Batch]], BatchesView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> AsyncQuery[BatchesView]:
        """The batches the logged-in user is enrolled in, live (key ``(user-batches, user_id)``)."""
        return self._open(self._enrolled_batches_source(), select, options)

    def use_available_batches_data(
        self,
        *,
        select: Callable[[list[Batch]], BatchesView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> AsyncQuery[BatchesView]:
        """The batches the logged-in user may enrol in, live (key ``(available-batches,
        user_id)``)."""
        return self._open(self._available_batches_source(), select, options)

    def use_categories_data(
        self,
        batch_id: str | None = None,
        *,
        select: Callable[[list[Category]], CategoriesView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> AsyncQuery[CategoriesView]:
        """The categories (lessons), all or one batch's, live (key ``(categories, batch_id)``)."""
        return self._open(self._categories_source(batch_id), select, options)

    def use_category_data(
        self,
        category_id: str,
        batch_id: str | None = None,
        *,
        select: Callable[[Category], CategoryView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> AsyncQuery[CategoryView]:
        """A category with its tasks, live (key ``(category-tasks, category_id, batch_id)``)."""
        return self._open(self._category_source(category_id, batch_id), select, options)

    def use_batch_analytics_data(
        self,
        batch_id: str,
        report: AnalyticsReport = "summary",
        *,
        select: Callable[[BatchReport], AnalyticsView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> AsyncQuery[AnalyticsView]:
        """One of a batch's analytics reports, live (admin data: key ``(analytics, batch_id,
        report)``)."""
        return self._open(self._analytics_source(batch_id, report), select, options)

    def use_feedback_data(
        self,
        user_id: str,
        view: FeedbackView = "received",
        *,
        select: Callable[[list[Feedback]], FeedbackListView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> AsyncQuery[FeedbackListView]:
        """A user's feedback (received, sent, mentor, task or timeline), live (key ``(feedback,
        user_id, view)``)."""
        return self._open(self._feedback_source(user_id, view), select, options)

    def use_notifications_data(
        self,
        user_id: str,
        *,
        select: Callable[[list[Notification]], NotificationsView] | None = None,
        **options: Unpack[QueryOptions],
    ) -> AsyncQuery[NotificationsView]:
        """A user's notifications (overdue and graded tasks), live (key ``(notifications,
        user_id)``)."""
        return self._open(self._notifications_source(user_id), select, options)
