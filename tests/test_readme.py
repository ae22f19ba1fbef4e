"""The README cannot promise what the code does not have (issue 24): every `isit ...`
command line and `--option` it shows exists, and the defaults it names are the code's."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from training import settings
from training.cli import COMMANDS, command_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Options of other tools the docs name in passing, each with the tool beside it.
OTHER_TOOLS = {"--files"}  # spark-submit's
ISIT = re.compile(r"^(?:[A-Z_]+=\S+\s+)*(?:\.venv/bin/)?isit(?:\s|$)")


def options_of(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Every option string of a parser and of its sub-commands (`isit backbones list`)."""
    found: dict[str, argparse.Action] = {}
    for action in parser._actions:
        for option in action.option_strings:
            found[option] = action
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found.update(options_of(sub))
    return found


def all_options() -> dict[str, dict[str, argparse.Action]]:
    return {name: options_of(command_parser(name)[0]) for name in COMMANDS}


def code(text: str) -> tuple[list[str], list[str]]:
    """(lines of fenced code blocks, inline code spans) of a Markdown text."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M)
    lines = [line for block in blocks for line in block.splitlines()]
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.S | re.M)
    return lines, re.findall(r"`([^`\n]+)`", prose)


def isit_commands(text: str) -> list[str]:
    lines, spans = code(text)
    found = []
    for line in [*lines, *spans]:
        line = line.split("  #")[0].split(" # ")[0].strip().rstrip("\\").strip()
        if ISIT.match(line):
            found.append(line)
    return found


def words_of(command: str) -> list[str]:
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    while words and "=" in words[0]:
        words.pop(0)  # ENV=value
    return words[1:]  # after `isit`


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_isit_command_in_the_docs_exists_with_its_options(doc):
    options, wrong = all_options(), []
    for command in isit_commands(doc.read_text("utf-8")):
        words = words_of(command)
        if not words or words[0].startswith("-") or words[0] in ("help",):
            continue  # `isit`, `isit --version`
        name = words[0]
        if name not in COMMANDS:
            wrong.append(f"{command}: no command {name!r}")
            continue
        for word in words[1:]:
            option = word.split("=")[0]
            if option.startswith("--") and option not in options[name]:
                wrong.append(f"{command}: `isit {name}` has no {option}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_option_named_in_the_docs_exists(doc):
    """An inline `--option` in the prose belongs to some isit command (or to the tools
    named beside it, which the docs then spell out in a code block)."""
    known = {option for opts in all_options().values() for option in opts}
    lines, spans = code(doc.read_text("utf-8"))
    others = {w.split("=")[0] for line in lines if not ISIT.match(line.strip())
              for w in line.split() if w.startswith("--")}  # fmt: skip
    wrong = []
    for span in spans:
        if not span.startswith("--"):
            continue  # another tool's command line (`python -m pip ... --no-deps`)
        for option in re.findall(r"(?:^|\s)(--[a-z][\w-]*)", span):
            if option not in known | others | OTHER_TOOLS:
                wrong.append(f"`{span}`: no isit command has {option}")
    assert not wrong, "\n".join(wrong)


def defaults_named(text: str) -> list[tuple[str, str]]:
    """(option, value) pairs the docs call the default: "default `--split 80/10/10`",
    "`--backbone X`, the default", "`--workers N` ... (default 4)"."""
    pairs = re.findall(r"default `(--[\w-]+)[ =]([^`]+)`", text)
    pairs += re.findall(r"`(--[\w-]+)[ =]([^`]+)`,?\s+the default", text)
    pairs += [(o, v) for o, v in re.findall(r"`(--[\w-]+) [A-Z]+` [^`()]{0,40}\(default (\w+)\)",
                                            text)]  # fmt: skip
    return pairs


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_defaults_the_docs_name_are_the_codes(doc):
    text = doc.read_text("utf-8")
    options = all_options()
    wrong = []
    for option, value in defaults_named(text):
        actions = [opts[option] for opts in options.values() if option in opts]
        if not actions:
            wrong.append(f"{option}: no isit command has it")
        elif not any(str(a.default) == value for a in actions):
            shown = sorted({str(a.default) for a in actions})
            wrong.append(f"{option}: the docs say the default is {value}, the code {shown}")
    # The default backbone, wherever a table or sentence marks one "(default)".
    for name in re.findall(r"\*\*(\w+)\*\* \(default\)", text):
        if name != settings.DEFAULT_BACKBONE:
            wrong.append(f"{name} is marked the default backbone; the code's is "
                         f"{settings.DEFAULT_BACKBONE}")  # fmt: skip
    assert not wrong, "\n".join(wrong)


def test_the_checks_catch_what_they_are_for():
    bad = "```sh\nisit train data/ --no-such-option\nisit frobnicate x\n```\n"
    assert isit_commands(bad) == ["isit train data/ --no-such-option", "isit frobnicate x"]
    assert defaults_named("(default `--split 70/20/10`)") == [("--split", "70/20/10")]
    reference = (ROOT / "docs" / "reference.md").read_text("utf-8")
    assert ("--split", "80/10/10") in defaults_named(reference)  # it reads the real docs
    options = all_options()
    assert "--no-such-option" not in options["train"] and "--split" in options["check"]
    assert str(options["check"]["--split"].default) != "70/20/10"
