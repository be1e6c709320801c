"""``python -m gamify_client``: the ``gamify`` command."""

from .cli import main

raise SystemExit(main())
