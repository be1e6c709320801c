"""Links between processes: every client of a deployment sees every client's writes.

:mod:`gamify_client.bridges.redis` holds the Redis bridge (the ``redis`` extra);
:mod:`gamify_client.push` the client of the backend's server push (the ``push`` extra). Both
attach to a client through its public hooks (``on_mutation``, ``apply_remote_write``,
``auth_headers``); ``client.attach_bridge(...)`` and ``client.listen()`` make and remember one.
"""
