"""The reference Gamify backend, for tests, demos and examples.

``GamifyBackend`` implements the whole wire contract (``CONTRACT.md``) on SQLite, with
the real service's defects fixed (and switchable back on), fault injection and a log of
the requests it served. Reach it in-process (``backend.transport()``), over ASGI
(``backend.asgi_app()``) or over a real socket (``with backend.serve() as base_url``).
"""

from ._backend import Clock, GamifyBackend
from ._defects import KNOWN_DEFECTS, Defect, Defects
from ._express import ALLOWED_ORIGINS, BackendResponse
from ._faults import FaultRule, Faults
from ._progress import ACTIVITY_LOG_LIMIT
from ._recorder import RecordedRequest, RequestLog
from ._seed import DEMO_PASSWORD, DemoAccount, DemoData, SeedError
from ._server import ServerLimits

__all__ = [
    "ACTIVITY_LOG_LIMIT",
    "ALLOWED_ORIGINS",
    "DEMO_PASSWORD",
    "KNOWN_DEFECTS",
    "BackendResponse",
    "Clock",
    "Defect",
    "Defects",
    "DemoAccount",
    "DemoData",
    "FaultRule",
    "Faults",
    "GamifyBackend",
    "RecordedRequest",
    "RequestLog",
    "SeedError",
    "ServerLimits",
]
