"""Provision a backbone once: build it in Keras, export it to ONNX, keep it in the cache.

The cached file is a backbone ONNX (metadata kind ``backbone``) that
:class:`isit.feature_extractor.FeatureExtractor` opens. Its name carries the backbone name, the
weights identity (sha256 prefix) and :data:`BUILDER_VERSION`, so a file built from other
weights or by an older builder is never reused. Files are written atomically; two
processes provisioning at once both write a complete file and the last rename wins.

Cache folder: ``$ISIT_CACHE_DIR`` or ``~/.cache/isit``, then ``backbones/``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from isit.metadata import FEATURES, ModelMetadata
from training import settings
from training.backbones.registry import BackboneDef, get_backbone

# Bump when the Keras rebuild or the export changes the ONNX graph: old files become stale.
BUILDER_VERSION = "1"


def cache_dir() -> Path:
    """The cache root of :func:`training.settings.cache_root` (read on every call)."""
    return settings.cache_root()


def backbone_path(backbone: BackboneDef | str) -> Path:
    """Where ``backbone``'s ONNX lives (whether provisioned or not)."""
    bdef = get_backbone(backbone) if isinstance(backbone, str) else backbone
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", bdef.name)
    key = re.sub(r"[^A-Za-z0-9_.-]+", "-", bdef.cache_key)[:16]
    return cache_dir() / "backbones" / f"{safe}-{key}-b{BUILDER_VERSION}.onnx"


def _cached_file_ok(path: Path, bdef: BackboneDef) -> bool:
    """A file at the right name whose metadata is readable and names this backbone."""
    if not path.is_file() or path.stat().st_size == 0:
        return False
    try:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
        meta = ModelMetadata.from_props({p.key: p.value for p in model.metadata_props})
    except Exception:  # a damaged cache file is rebuilt, never trusted
        return False
    return meta.kind == "backbone" and meta.backbone.name == bdef.name


def is_provisioned(backbone: BackboneDef | str) -> bool:
    bdef = get_backbone(backbone) if isinstance(backbone, str) else backbone
    path = backbone_path(bdef)
    return path.is_file() and path.stat().st_size > 0


def backbone_metadata(bdef: BackboneDef) -> ModelMetadata:
    return ModelMetadata(
        kind="backbone",
        name=bdef.name,
        version=BUILDER_VERSION,
        preprocess=bdef.spec,
        backbone=bdef.backbone_info(),
    )


def export_backbone(bdef: BackboneDef, path: Path) -> Path:
    """Build ``bdef`` in Keras and export it to ``path``, checked against Keras in ORT."""
    from training.tf_convert import export_function  # imports TensorFlow

    model = bdef.build_keras()
    size = bdef.spec.size
    # Random normalised images: the export is refused if ORT and Keras disagree.
    probe = np.random.default_rng(0).normal(0.0, 1.0, (2, size, size, 3)).astype(np.float32)
    return export_function(
        model,
        path,
        output_names=[FEATURES],
        metadata=backbone_metadata(bdef),
        verify_with=probe,
        atol=1e-4,
    )


def provision(
    backbone: BackboneDef | str | None = None,
    *,
    force: bool = False,
    log: Callable[[str], None] | None = None,
) -> Path:
    """The cached backbone ONNX for ``backbone`` (a definition, a name, or None for the
    default), built only if missing."""
    bdef = backbone if isinstance(backbone, BackboneDef) else get_backbone(backbone)
    path = backbone_path(bdef)
    if not force and _cached_file_ok(path, bdef):
        return path
    if log:
        log(f"Provisioning backbone {bdef.name} (done once, takes seconds)...")
    return export_backbone(bdef, path)
