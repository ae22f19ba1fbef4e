"""``keras:<Name>`` backbones: Keras applications with ``weights="imagenet"``.

For users with internet access: Keras downloads the weights on first use (and checks
them itself). Without internet the download fails; we turn that into
:class:`WeightsUnavailable`, which names the offline backbones to use instead.
"""

from __future__ import annotations

import hashlib
import urllib.error
from dataclasses import dataclass
from typing import TYPE_CHECKING

from isit.imaging import PreprocessSpec
from isit.metadata import FEATURES, INPUT_NAME
from training.backbones.backbone_errors import WeightsUnavailable
from training.settings import DEFAULT_BACKBONE

if TYPE_CHECKING:
    import keras

SIZE = 224
# MobileNetV2 expects pixels scaled to -1..1; MobileNetV3 and EfficientNet contain
# their own rescaling layers and take raw 0..255 pixels.
_MINUS_ONE_TO_ONE = PreprocessSpec(size=SIZE, mean=(127.5,) * 3, std=(127.5,) * 3)
_RAW_PIXELS = PreprocessSpec(size=SIZE, mean=(0.0,) * 3, std=(1.0,) * 3)


@dataclass(frozen=True)
class KerasApp:
    name: str  # the keras.applications constructor
    feature_dim: int  # with include_top=False, pooling="avg"
    spec: PreprocessSpec


APPS: dict[str, KerasApp] = {
    app.name: app
    for app in (
        KerasApp("MobileNetV2", 1280, _MINUS_ONE_TO_ONE),
        KerasApp("MobileNetV3Small", 576, _RAW_PIXELS),
        KerasApp("MobileNetV3Large", 960, _RAW_PIXELS),
        KerasApp("EfficientNetB0", 1280, _RAW_PIXELS),
    )
}


def _is_download_failure(exc: BaseException) -> bool:
    # keras.utils.get_file wraps URLError/HTTPError in a bare Exception with this text.
    return isinstance(exc, (urllib.error.URLError, ConnectionError, TimeoutError)) or (
        "URL fetch failure" in str(exc)
    )


def build_keras(app_name: str, *, weights: str | None = "imagenet") -> keras.Model:
    """Frozen ``image`` -> ``features`` model around a Keras application (pooled features).

    ``weights=None`` builds the untrained architecture (no download; for tests).
    """
    import keras

    app = APPS[app_name]
    constructor = getattr(keras.applications, app.name)
    try:
        base = constructor(
            weights=weights, include_top=False, pooling="avg", input_shape=(SIZE, SIZE, 3)
        )
    except Exception as exc:
        if not _is_download_failure(exc):
            raise
        raise WeightsUnavailable(
            f"Keras could not download the ImageNet weights of {app.name} (is this machine "
            f"offline?). Use an offline backbone instead: '{DEFAULT_BACKBONE}' (the default) "
            "or 'mobilenet_v2', or connect to the internet and try again."
        ) from exc
    image = keras.Input((SIZE, SIZE, 3), name=INPUT_NAME, dtype="float32")
    features = keras.layers.Identity(name=FEATURES)(base(image, training=False))
    model = keras.Model(image, features, name=f"keras_{app.name}")
    model.trainable = False
    return model


def weights_sha256(model: keras.Model) -> str:
    """sha256 over a model's weight arrays in order: identifies downloaded weights."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(weight.numpy().tobytes())
    return digest.hexdigest()
