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
        "import sys, isit.bundle, isit.features, isit.imaging, isit.metadata;"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'tf2onnx', 'onnx', 'training', 'torch')];"
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
