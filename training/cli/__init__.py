"""The ``isit`` command: one sub-command per module of this package, imported only when used.

Each command module has ``HELP`` (one line), ``EXAMPLES`` (the end of its ``--help``),
``add_arguments(parser)`` and ``run(args) -> int`` (the exit status). Library code stays
outside this package; this is the only place that turns errors into exit statuses, so
``isit check`` never pays for importing TensorFlow and no command repeats ``try/except``.
"""

from __future__ import annotations

import argparse
import difflib
import gc
import importlib
import sys

from isit.errors import IsitError
from training.cli.common import UsageError, version
from training.outputs import RunExists
from training.settings import ConfigError

# command -> (module, one-line help); the order of `isit --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("training.cli.check", "check a photo folder: broken files, duplicates, split"),
    "features": ("training.cli.features", "compute hashes and features once (Parquet; or Spark)"),
    "train": ("training.cli.train", "train a classifier on a photo folder -> model.onnx"),
    "evaluate": ("training.cli.evaluate", "measure a model.onnx on a labelled photo folder"),
    "predict": ("training.cli.predict", "classify photos or folders with a model.onnx"),
    "serve": ("training.cli.serve", "serve a model.onnx: the web page and the HTTP API"),
    "feedback": ("training.cli.feedback", "pull photos visitors flagged; a page to review them"),
    "suggest": ("training.cli.suggest", "which unlabelled photos would teach a model most"),
    "compare": ("training.cli.compare", "what changed between two runs, and is it noise?"),
    "fetch": ("training.cli.fetch", "download training photos (from Flickr)"),
    "backbones": ("training.cli.backbones", "list and provision the pretrained backbones"),
    "demo": ("training.cli.demo", "sample photos -> check -> train -> model.onnx"),
}

EXIT_STATUS = """\
exit status:
  0    done
  1    failed, or some input was skipped or unreadable (the messages say which)
  2    bad arguments
  130  interrupted (Ctrl+C)"""

EXIT_LINE = "exit status: 0 done, 1 failed or some input skipped, 2 bad arguments, 130 Ctrl+C"

OVERVIEW = f"""\
isit turns a folder of photos, one sub-folder per class (data/elsa/, data/darth_vader/),
into an image classifier: one model.onnx, an honest report, and a web page to try it.

usage: isit COMMAND [options]        isit COMMAND --help   shows its options and examples

commands:
{{commands}}

examples:
  isit demo                                   # sample photos -> model -> local page
  isit check data/                            # what is wrong with my photos?
  isit train data/                            # -> runs/data/model.onnx and report.html
  isit predict runs/data/model.onnx photos/   # one line per photo
  isit serve --model runs/data/model.onnx     # http://127.0.0.1:7071/

output: --json prints machine-readable output on stdout (check, train, evaluate, predict);
--json-out FILE writes the same to FILE; --out DIR is where results go (default runs/...).

{EXIT_STATUS}

isit --version prints the version."""


def overview() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name.ljust(width)}  {text}" for name, (_, text) in COMMANDS.items()]
    return OVERVIEW.format(commands="\n".join(lines))


def command_parser(name: str) -> tuple[argparse.ArgumentParser, object]:
    """The parser of ``isit NAME`` and its module (imported now, not before)."""
    module_name, help_text = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(
        prog=f"isit {name}",
        description=getattr(module, "DESCRIPTION", help_text),
        epilog=f"{EXIT_LINE}\n\nexamples:\n{module.EXAMPLES.rstrip()}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    module.add_arguments(parser)
    return parser, module


def _unknown_command(word: str) -> int:
    close = difflib.get_close_matches(word, COMMANDS, n=1)
    hint = f" Did you mean `isit {close[0]}`?" if close else ""
    print(f"error: unknown command {word!r}.{hint} `isit --help` lists them.", file=sys.stderr)
    return 2


def _run(module: object, args: argparse.Namespace) -> int:
    """The one place where errors become messages and exit statuses."""
    try:
        return int(module.run(args) or 0)
    except (UsageError, ConfigError, RunExists) as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except IsitError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    """``isit ARGV``; returns the exit status (argparse exits 2 itself on bad options)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(overview())
        return 0
    if argv[0] in ("-V", "--version"):
        print(f"isit {version()}")
        return 0
    if argv[0] not in COMMANDS:
        return _unknown_command(argv[0])
    parser, module = command_parser(argv[0])
    return _run(module, parser.parse_args(argv[1:]))


def console() -> None:
    """The ``isit`` program (and ``python -m training``): :func:`main`, then exit.

    Why ``gc.freeze()`` first: at exit the interpreter's last garbage collection walks
    every object numpy, scipy, scikit-learn and pandas made at import, which costs a
    noticeable share of a warm retrain (bench/bench_retrain.py); frozen objects are
    skipped, and the process's memory goes back to the system all the same."""
    status = main()
    sys.stdout.flush()
    gc.freeze()
    sys.exit(status)
