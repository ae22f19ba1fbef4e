"""The layering the design card fixes: the core and the Function never pull in training."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_CORE = ("tensorflow", "keras", "tf2onnx", "onnx.", "training", "torch")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_core_source_imports_no_training_stack():
    offenders = {}
    for path in sorted((ROOT / "isit").rglob("*.py")):
        bad = [
            name
            for name in imported_modules(path)
            if any(
                name == f.rstrip(".") or name.startswith(f.rstrip(".") + ".")
                for f in FORBIDDEN_IN_CORE
            )
            or name == "onnx"
        ]
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    assert offenders == {}


def test_importing_the_core_loads_no_tensorflow():
    code = (
        "import sys, isit.bundle, isit.feature_extractor, isit.imaging, isit.metadata;"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'tf2onnx', 'onnx', 'training', 'torch')];"
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _python_files(*roots: str) -> list[Path]:
    files: list[Path] = []
    for root in roots:
        path = ROOT / root
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


def test_no_library_module_imports_the_cli():
    """The CLI layer (training/cli/) calls the library; the library never calls the CLI."""
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name
            for name in imported_modules(path)  # lazy imports too
            if name.split(".")[:2] == ["training", "cli"]
        )
        for path in _python_files("isit", "training", "function_app.py")
        if "cli" not in path.relative_to(ROOT).parts
        and path.name != "__main__.py"  # `python -m training` is the CLI's alias
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_cli_modules_import_no_heavy_library_at_module_level():
    """`isit check` and `isit --help` must not pay for TensorFlow: the heavy imports of a
    command happen inside its run()."""
    heavy = ("tensorflow", "keras", "tf2onnx", "torch", "onnxruntime")
    offenders = {}
    for path in _python_files("training/cli"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
        names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
        names += [n.module for n in top if isinstance(n, ast.ImportFrom) and n.module]
        bad = [n for n in names if n.split(".")[0] in heavy]
        if bad:
            offenders[path.name] = bad
    assert offenders == {}


MAX_FUNCTION_LINES = 80


def test_no_product_function_is_over_80_lines():
    offenders = []
    for path in _python_files("isit", "training", "function_app.py", "devhost"):
        relative = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    offenders.append(f"{relative}:{node.lineno} {node.name} ({length} lines)")
    assert offenders == []


# training/'s rooms: what each may import from the others (the core, isit/, is open to all).
ROOMS_BELOW = {
    "data": {"data", "backbones"},
    "backbones": {"backbones"},
    "model": {"model", "backbones"},
    "predict": {"predict"},
    "evaluation": {"evaluation", "model", "data", "backbones", "predict"},
    "loop": {"loop", "evaluation", "model", "data", "predict", "backbones"},
}
# training's own plumbing, used by every room:
SHARED = {"settings", "atomic", "json_types", "progress", "tf_runtime", "tf_convert", "onnx_file"}
SHARED |= {"outputs", "leftovers", "workers"}


def _training_room(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if parts[0] == "training" and len(parts) > 1 else None


def test_rooms_import_only_the_rooms_below_them():
    """data/, model/, evaluation/ and predict/ never import pipeline/ or cli/ (nor a room
    above them): the `isit train` sequence and the CLI sit on top."""
    offenders = {}
    for room, allowed in ROOMS_BELOW.items():
        for path in _python_files(f"training/{room}"):
            bad = sorted(
                name
                for name in imported_modules(path)
                if (other := _training_room(name)) and other not in allowed | SHARED
            )
            if bad:
                offenders[str(path.relative_to(ROOT))] = bad
    assert offenders == {}


def test_no_two_modules_share_a_name():
    """"Which head.py?" never needs asking: one module name, one concept (core and training)."""
    seen: dict[str, list[str]] = {}
    for path in _python_files("isit", "training"):
        if path.name not in ("__init__.py", "__main__.py"):
            seen.setdefault(path.stem, []).append(path.relative_to(ROOT).as_posix())
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}


def test_the_readme_layout_names_every_room():
    """The layout table (docs/design.md, linked from the README) is the map a newcomer
    reads: every package of training/."""
    readme = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    rooms = sorted(p.parent.name for p in (ROOT / "training").glob("*/__init__.py"))
    assert [room for room in rooms if f"`training/{room}/`" not in readme] == []
