"""What several commands share: the version, the default run folder, JSON output, flags."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from isit.errors import IsitError
from training.atomic import atomic_write
from training.settings import RUNS_DIR

if TYPE_CHECKING:
    from training.evaluation.metrics import Metrics

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


class UsageError(IsitError):
    """The arguments cannot work together; exit status 2, like argparse's own errors."""

    code = "bad_arguments"


def version() -> str:
    """The installed version, else the one in pyproject.toml (a source checkout)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("isit")
    except PackageNotFoundError:
        import tomllib

        try:
            return tomllib.loads(PYPROJECT.read_text("utf-8"))["project"]["version"]
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_output_flags(parser: argparse.ArgumentParser, what: str) -> None:
    """``--json`` and ``--json-out FILE``: the same meaning in every command."""
    parser.add_argument(
        "--json", action="store_true", help=f"print {what} as JSON on stdout (messages: stderr)"
    )
    parser.add_argument(
        "--json-out", metavar="FILE", type=Path, help=f"also write {what} as JSON to FILE"
    )


def add_progress_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bars (default: only on a terminal)",
    )


def emit_json(data: Any, args: argparse.Namespace) -> None:
    """What ``--json`` prints and ``--json-out`` writes: one JSON document."""
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if args.json:
        sys.stdout.write(text)
        sys.stdout.flush()
    if args.json_out is not None:
        atomic_write(args.json_out, text)


def add_force_flag(parser: argparse.ArgumentParser, files: str) -> None:
    """``--force``: the only way a run replaces an earlier one's files in ``--out``."""
    parser.add_argument(
        "--force",
        action="store_true",
        help=f"replace the {files} of an earlier run in --out (without it, isit refuses)",
    )


def say(args: argparse.Namespace, message: str) -> None:
    """A line for people: stdout, or stderr when stdout carries ``--json``."""
    print(message, file=sys.stderr if getattr(args, "json", False) else sys.stdout, flush=True)


def free_run_dir(name: str, parent: Path | None = None) -> Path:
    """``runs/<name>/``, else ``runs/<name>-2/``, ``-3``...: a folder no earlier run used.

    The folder is created here (so two runs at once never pick the same one); callers
    remove it again with :func:`release_run_dir` if they fail before writing into it.
    """
    parent = Path(RUNS_DIR) if parent is None else parent
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip(".") or "run"
    parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        candidate = parent / (safe if n == 1 else f"{safe}-{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise UsageError(f"{parent} holds too many runs named {safe}; pass --out DIR.")


def release_run_dir(path: Path) -> None:
    """Remove a run folder we created if nothing was written into it."""
    with contextlib.suppress(OSError):  # not empty (something useful is in it), or gone
        path.rmdir()


def outcome_lines(metrics: Metrics) -> list[str]:
    """The held-out answers as the user would have seen them, with 95% intervals."""
    from training.evaluation.label_review import wrong_folder_headline

    unknown, issues = metrics.unknown, metrics.label_issues
    return [
        f"{metrics.outcomes.headline()} ({metrics.evaluation})",
        f"accuracy of the best guess (not-sure answers included): "
        f"{metrics.best_guess.accuracy.interval()} of {metrics.best_guess.n} photos",
        f"unknown: {unknown.accepted.interval()} of held-out photos accepted, "
        f"{unknown.probes_rejected.interval()} of {unknown.probes_rejected.n} unrelated "
        "photos rejected",
        *([f"{wrong_folder_headline(len(issues))}: see the report"] if issues else []),
        *(f"warning: {w}" for w in metrics.shortcut_warnings),
    ]
