"""`python -m training <command>`: one sub-command per module, imported only when used.

Each command module provides ``add_arguments(parser)`` and ``run(args) -> int``
(the process exit status), so that `check` does not pay for importing TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("training.doctor.command", "check, de-duplicate and split a folder of photos"),
    "features": ("training.features_command", "decode photos once: hashes + features (Parquet)"),
    "train": ("training.train_command", "train a classifier and export model.onnx"),
    "evaluate": ("training.evaluate_command", "evaluate a model.onnx on a labelled folder"),
    "predict": ("training.predict_command", "classify images or folders with a model.onnx"),
    "backbones": ("training.backbones.command", "list and provision pretrained backbones"),
    "fetch": ("training.fetch.command", "download training photos (e.g. from Flickr)"),
    "demo": ("training.demo", "generate sample photos, then check, train and export them"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(_module=module)  # its own arguments are added in main()
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] not in COMMANDS:
        parser.parse_args(argv)  # prints usage / help, exits
        return 2
    module = importlib.import_module(COMMANDS[argv[0]][0])
    command_parser = argparse.ArgumentParser(
        prog=f"python -m training {argv[0]}", description=COMMANDS[argv[0]][1]
    )
    module.add_arguments(command_parser)
    args = command_parser.parse_args(argv[1:])
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
