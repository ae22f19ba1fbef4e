"""``python -m training ...``: an alias of the ``isit`` command."""

from training.cli import console

console()
