"""``python -m devhost``: an alias of ``isit serve`` (the same options)."""

from __future__ import annotations

import sys

from training.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
