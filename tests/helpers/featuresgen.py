"""A small but real backbone ONNX (kind ``backbone``) and photo folders for the features tests.

The backbone: a random 3x3 convolution with 8 filters, ReLU, global average pooling: float
features that depend on every pixel, in milliseconds (the real MobileNetV2 is provisioned
and timed in bench/bench_spark.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image
from synthetic import draw_photo, write_photos

from isit.imaging import PreprocessSpec
from isit.metadata import FEATURES, INPUT_NAME, BackboneInfo, ModelMetadata

SIZE = 64
DIM = 8


def write_backbone(path: Path) -> Path:
    rng = np.random.default_rng(0)
    weights = rng.normal(0, 0.3, (DIM, 3, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Transpose", [INPUT_NAME], ["nchw"], perm=[0, 3, 1, 2]),
            helper.make_node("Conv", ["nchw", "w"], ["conv"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["conv"], ["relu"]),
            helper.make_node("ReduceMean", ["relu"], [FEATURES], axes=[2, 3], keepdims=0),
        ],
        "tiny_backbone",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", SIZE, SIZE, 3])],
        [helper.make_tensor_value_info(FEATURES, TensorProto.FLOAT, ["N", DIM])],
        initializer=[numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = ModelMetadata(
        kind="backbone",
        name="tiny-test-backbone",
        version="1",
        preprocess=PreprocessSpec(size=SIZE),
        backbone=BackboneInfo("tiny-test-backbone", "1" * 64, DIM),
    )
    helper.set_model_props(model, meta.to_props())
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(path))
    return path


def write_folder(root: Path, per_class: int = 30) -> Path:
    """Two classes with planted copies, a near copy, broken files and junk."""
    cats = write_photos(root / "cats", per_class, seed=11)
    dogs = write_photos(root / "dogs", per_class, seed=12)
    shutil.copyfile(cats[0], root / "dogs" / "same as cat 0.jpg")  # a conflict
    shutil.copyfile(dogs[1], root / "dogs" / "img_001 - Copy.jpg")
    with Image.open(cats[2]) as img:
        small = img.convert("RGB").resize((img.width // 2, img.height // 2))
    small.save(root / "cats" / "img_002 small.jpg", quality=85)
    (root / "cats" / "nested" / "deeper").mkdir(parents=True)
    draw_photo(77).save(root / "cats" / "nested" / "deeper" / "café [1].jpg")
    draw_photo(78).save(root / "cats" / "_starts with underscore.jpg")
    whole = cats[3].read_bytes()
    (root / "cats" / "truncated.jpg").write_bytes(whole[: len(whole) // 3])
    (root / "dogs" / "empty.jpg").write_bytes(b"")
    (root / "dogs" / "notes.jpg").write_text("not a photo")
    draw_photo(79, (20, 20)).save(root / "dogs" / "tiny.png")
    (root / ".DS_Store").write_bytes(b"\x00\x01")
    (root / "labels.csv").write_text("path,label\n")
    return root
