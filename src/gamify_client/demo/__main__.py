"""``python -m gamify_client.demo``: play the demo."""

from . import main

raise SystemExit(main())
