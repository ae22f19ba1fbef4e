"""``isit compare RUN_A RUN_B``: what changed between two runs, and is it more than noise."""

from __future__ import annotations

import argparse
from pathlib import Path

from training import settings
from training.cli.common import UsageError, free_run_dir, release_run_dir, say

DESCRIPTION = f"""\
Compare two `isit train` runs photo by photo. Each run folder holds held_out.csv (every
photo's content hash, label, and the answer a model that never saw it gave); photos are
matched by content, so renamed or moved files still match. Shows: what changed in the
data (photos added, removed, moved to another class folder), each run's right / wrong /
not sure on the photos both held out, with 95% intervals, the photos answered
differently, and whether the difference is more than noise (McNemar's exact test).

With --folder DIR, RUN_A and RUN_B may be model.onnx files (or run folders): both are
run on DIR's labelled photos (one sub-folder per class), setting aside photos either
learnt from. Writes compare.html and changes.csv into --out (default
{settings.RUNS_DIR}/{settings.COMPARE_RUNS}/<A>-vs-<B>/)."""
EXAMPLES = """\
  isit compare runs/data runs/data-2
  isit compare runs/data/model.onnx runs/data-2/model.onnx --folder kept-aside/"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_a", metavar="RUN_A", type=Path, help="the earlier run (or model)")
    parser.add_argument("run_b", metavar="RUN_B", type=Path, help="the later run (or model)")
    parser.add_argument(
        "--folder", metavar="DIR", type=Path, help="compare the two models on this folder"
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        help=f"where to write (default: a new {settings.RUNS_DIR}/{settings.COMPARE_RUNS}/...)",
    )


def _run_dir(path: Path) -> Path:
    """A run folder, or the folder of a model.onnx inside one."""
    if path.is_file() and path.suffix == ".onnx":
        return path.parent
    if not path.is_dir():
        raise UsageError(f"{path} is neither a run folder nor a model.onnx.")
    return path


def _model(path: Path) -> Path:
    from isit.bundle import named_model_file

    return named_model_file(path / "model.onnx" if path.is_dir() else path)


def _name(path: Path) -> str:
    resolved = path.resolve()
    return resolved.parent.name if resolved.suffix == ".onnx" else resolved.name


def _comparison(args: argparse.Namespace, name_a: str, name_b: str):
    from training.loop.comparison import compare_rows

    if args.folder is None:
        from training.loop.run_photos import read_held_out

        a, b = (read_held_out(_run_dir(p)) for p in (args.run_a, args.run_b))
        return compare_rows(name_a, a, name_b, b), None, []
    from training.loop.folder_outcomes import folder_rows

    if not args.folder.is_dir():
        raise UsageError(f"{args.folder} is not a folder of labelled photos.")
    rows = folder_rows(_model(args.run_a), _model(args.run_b), args.folder)
    sources = {r.path: args.folder / r.path for r in rows.a}
    notes = [f"{rows.set_aside} photos set aside: a model learnt from them"] * bool(rows.set_aside)
    notes += [f"skipped {shown}: could not be read" for shown in rows.unreadable]
    return compare_rows(name_a, rows.a, name_b, rows.b), sources, notes


def run(args: argparse.Namespace) -> int:
    from training.loop.compare_output import summary_lines, write_compare

    name_a, name_b = _name(args.run_a), _name(args.run_b)
    if name_a == name_b:  # runs/a/model.onnx vs other/a/model.onnx: say which is which
        name_a, name_b = f"A ({name_a})", f"B ({name_b})"
    comparison, sources, notes = _comparison(args, name_a, name_b)
    parent = Path(settings.RUNS_DIR) / settings.COMPARE_RUNS
    out = args.out or free_run_dir(f"{_name(args.run_a)}-vs-{_name(args.run_b)}", parent)
    try:
        files = write_compare(comparison, out, sources)
    except BaseException:
        if args.out is None:
            release_run_dir(out)
        raise
    for line in [*notes, *summary_lines(comparison)]:
        say(args, line)
    say(args, f"page: {files.page}\nchanges: {files.changes}")
    return 0
