"""``python -m grid``: the ``gridsim`` command."""

from grid.app.cli import main

raise SystemExit(main())
