"""``python -m grid``: the ``gridsim`` command."""

from grid.app.cli import console_main

console_main()
