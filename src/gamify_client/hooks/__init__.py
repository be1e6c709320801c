"""Live queries: objects that hold one kind of data, keep it fresh by themselves and call you
back when it changes (the seed's ``useDashboardData`` hooks, TanStack Query's ``QueryObserver``).

A client's queries on one cache key share one state in the client's registry. That state holds
the one refresh-manager subscription, the one poll timer and the fetch state of the key; its
queries are observers with their own options, held weakly. So a thousand queries on ten keys
cost ten subscriptions, ten timers and, on focus, ten requests; and a query that is closed or
collected leaves nothing behind.

The two flavours share every decision; only the waiting differs: the sync registry runs its
background fetches and timers on the client's scheduler thread, the async registry on its
event loop, where every change of an async query happens.

The modules: ``_options`` (the options and their defaults), ``_observer`` (one query's view,
shared by both flavours), ``_shared_key`` (one key's subscription, timer and fetch),
``_registry`` (a client's keys and their reactions to invalidation, focus and the network),
``_sync`` and ``_async`` (the flavours), ``_mixins`` (the clients' ``use_*`` methods).
"""

from ._async import AsyncQuery
from ._mixins import AsyncQueriesMixin, QueriesMixin
from ._options import Dispatch, QueryOptions
from ._sync import Query

__all__ = [
    "AsyncQueriesMixin",
    "AsyncQuery",
    "Dispatch",
    "QueriesMixin",
    "Query",
    "QueryOptions",
]
