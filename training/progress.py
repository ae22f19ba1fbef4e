"""A progress bar for the steps of one long stage: shared plumbing, below every room
(evaluation draws heatmaps with it, the pipeline cross-validates with it)."""

from __future__ import annotations

import sys

from tqdm import tqdm


def stage_bar(total: int, desc: str, show: bool, unit: str = "step") -> tqdm:
    """A bar on stderr, gone when the stage ends (``show``: a terminal, or --progress)."""
    return tqdm(
        total=total, desc=desc, unit=unit, disable=not show, leave=False,
        file=sys.stderr, dynamic_ncols=True,
    )  # fmt: skip
