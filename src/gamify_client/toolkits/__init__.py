"""Adapters that bind live queries to Python UI toolkits, one module per toolkit.

Each module imports its toolkit, which comes with an extra: ``gamify_client.toolkits.qt``
(``gamify-client[qt]``, PySide6), ``gamify_client.toolkits.textual`` (``[textual]``) and
``gamify_client.toolkits.nicegui`` (``[nicegui]``). This package imports none of them, so the
core stays lean. ``gamify_client.toolkits.views`` turns the backend's data into the rows and
figures the Gamify pages show, with no toolkit at all.
"""
