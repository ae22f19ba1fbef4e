"""``python -m training ...``: an alias of the ``isit`` command."""

import sys

from training.cli import main

sys.exit(main())
