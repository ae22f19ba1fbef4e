"""The "Next:" lines `isit train` prints: commands that work as printed, in this shell.

Why a module: these lines are copied and pasted by people who never read the README, so
they must be right on Linux, macOS and Windows, in a fresh clone (no ``model/`` folder
yet) and for a first deployment (``azd up``; ``azd deploy api`` needs one already).
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

# The project root (beside azure.yaml and function_app.py): where `azd` runs and where
# the Function looks for model/model.onnx (MODEL_PATH's default).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEPLOYED_MODEL = Path("model") / "model.onnx"


def _windows(platform: str) -> bool:
    return platform.startswith("win")


def quote(path: Path | str, platform: str = sys.platform) -> str:
    """A path as one shell word: cmd.exe takes double quotes, POSIX shells shlex's."""
    text = str(path)
    if _windows(platform):
        return f'"{text}"' if any(c in text for c in ' &()^%!;,=') else text
    return shlex.quote(text)


def open_command(path: Path, platform: str = sys.platform) -> str:
    """The command that opens a file in its default program on this system."""
    if _windows(platform):
        return f'start "" {quote(path, platform)}'
    if platform == "darwin":
        return f"open {quote(path, platform)}"
    return f"xdg-open {quote(path, platform)}"


def copy_model_command(model_path: Path, platform: str = sys.platform) -> str:
    """Copy a trained model to model/model.onnx, creating model/ (absent in a fresh clone)."""
    if _windows(platform):
        target = str(DEPLOYED_MODEL).replace("/", "\\")
        return (
            f"(if not exist model mkdir model) && "
            f"copy /Y {quote(model_path, platform)} {target}"
        )
    return f"mkdir -p model && cp {quote(model_path, platform)} {DEPLOYED_MODEL.as_posix()}"


def _from_root(model_path: Path, cwd: Path, root: Path, platform: str) -> tuple[str, Path]:
    """A ``cd ROOT && `` prefix when the shell is elsewhere, and the model's path from there.

    No prefix for an install without the project's files (no azure.yaml): run it in a clone.
    """
    if cwd.resolve() == root.resolve():
        return "", model_path
    source = Path(os.path.abspath(cwd / model_path))
    if not (root / "azure.yaml").is_file():
        return "", source
    cd = "cd /d" if _windows(platform) else "cd"
    return f"{cd} {quote(root, platform)} && ", source


def next_lines(
    report_path: Path,
    model_path: Path,
    *,
    cwd: Path | None = None,
    root: Path = PROJECT_ROOT,
    platform: str = sys.platform,
) -> list[str]:
    """What to do after training, each a command that runs as printed (paths as given
    are relative to ``cwd``; ``root`` is the clone that ``azd`` deploys)."""
    cd, source = _from_root(model_path, cwd or Path.cwd(), root, platform)
    copy = cd + copy_model_command(source, platform)
    return [
        "Next:",
        f"  look at the report:  {open_command(report_path, platform)}",
        f"  try it in a browser: isit serve --model {quote(model_path, platform)}",
        "  put it online with azd (https://aka.ms/azd):",
        f"    the first time:    {copy} && azd up",
        f"    afterwards:        {copy} && azd deploy api",
    ]
