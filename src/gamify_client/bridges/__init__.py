"""Links between processes: every client of a deployment sees every client's writes.

:mod:`gamify_client.bridges.redis` holds the Redis bridge (the ``redis`` extra);
:mod:`gamify_client.push` the client of the backend's server push (the ``push`` extra). The
clients reach both through ``client.attach_bridge(...)`` and ``client.listen()``.
"""

from ._client_mixin import AsyncBridgeMixin, BridgeMixin

__all__ = ["AsyncBridgeMixin", "BridgeMixin"]
