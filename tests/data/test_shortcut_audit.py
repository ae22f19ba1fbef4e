"""The check's shortcut audit: facts that are not the subject and tell a class apart.

Each test writes two classes of generated photos (shapes on noisy backgrounds, the demo's
drawing) and gives one class something else in common: a frame, bars, a file format, a
size, a camera, a logo. The check must name it; clean folders must stay silent.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from shortcut_planting import enlarged, framed, letterboxed, with_logo

from training.data.doctor import check_dataset, format_summary
from training.data.doctor.photo_facts import border_bands, header_facts, jpeg_quality
from training.data.doctor.shortcut_audit import wilson
from training.data.sampledata import draw_image, generate

PER_CLASS = 24
Change = Callable[[Image.Image], Image.Image]


def keep(img: Image.Image) -> Image.Image:
    return img


def _exif(camera: tuple[str, str] | None) -> bytes:
    exif = Image.Exif()
    if camera:
        exif[0x010F], exif[0x0110] = camera
    return exif.tobytes()


def write_folder(
    root: Path,
    change: Change = keep,
    *,
    formats: tuple[str, str] = ("JPEG", "JPEG"),
    cameras: tuple[tuple[str, str] | None, tuple[str, str] | None] = (None, None),
    per_class: int = PER_CLASS,
    seed: int = 0,
) -> Path:
    """circles/ and squares/ of generated photos; ``change`` applies to squares/ only."""
    rng = np.random.default_rng(seed)
    for n, label in enumerate(("circles", "squares")):
        folder = root / label
        folder.mkdir(parents=True)
        for i in range(per_class):
            img = draw_image(rng, label, 140, 240)
            img = change(img) if label == "squares" else img
            fmt = formats[n]
            options = {"quality": 85, "exif": _exif(cameras[n])} if fmt == "JPEG" else {}
            img.save(
                folder / f"{label}_{i:02d}.{'jpg' if fmt == 'JPEG' else 'png'}", fmt, **options
            )
    return root


def warned(root: Path) -> dict[str, str]:
    """fact -> message of each warning of the check."""
    report = check_dataset(root, progress=False)
    assert report.ok, report.fatal
    return {w.fact: w.message for w in report.shortcut_warnings}


def test_a_frame_on_one_class_is_named(tmp_path: Path) -> None:
    found = warned(write_folder(tmp_path, framed))
    assert "frame" in found, found
    assert "In squares/, every photo has a black frame" in found["frame"]
    assert "in circles/, 0 of 24 do" in found["frame"]
    assert "Remove the frames" in found["frame"]


def test_letterbox_bars_are_named(tmp_path: Path) -> None:
    found = warned(write_folder(tmp_path, letterboxed))
    assert "bars_tb" in found, found
    assert "black bars above and below" in found["bars_tb"]


def test_png_against_jpeg_is_named(tmp_path: Path) -> None:
    found = warned(write_folder(tmp_path, formats=("JPEG", "PNG")))
    assert "format" in found, found
    assert "PNG" in found["format"] or "JPEG" in found["format"]


def test_pixel_size_is_named(tmp_path: Path) -> None:
    found = warned(write_folder(tmp_path, enlarged))
    assert "size" in found, found
    assert "px on the shorter side" in found["size"]


def test_exif_camera_is_named(tmp_path: Path) -> None:
    cameras = (("Canon", "Canon EOS 80D"), ("Apple", "iPhone 12"))
    found = warned(write_folder(tmp_path, cameras=cameras))
    assert "camera" in found, found
    assert "Canon EOS 80D" in found["camera"] or "Apple iPhone 12" in found["camera"]


def test_a_corner_logo_is_named(tmp_path: Path) -> None:
    found = warned(write_folder(tmp_path, with_logo))
    corner = {k: v for k, v in found.items() if k.startswith("corner")}
    assert corner, found
    assert "bottom-right corner" in next(iter(corner.values()))


@pytest.mark.parametrize("seed", [0, 1])
def test_clean_generated_folders_are_silent(tmp_path: Path, seed: int) -> None:
    assert warned(write_folder(tmp_path, seed=seed)) == {}


def test_the_sample_photos_are_silent(tmp_path: Path) -> None:
    report = check_dataset(generate(tmp_path / "sample", per_class=40), progress=False)
    assert report.shortcut_warnings == []
    audit = report.shortcut_audit
    assert audit is not None and audit.combined is not None and not audit.combined.warns


def test_warnings_reach_the_summary_and_json(tmp_path: Path) -> None:
    report = check_dataset(write_folder(tmp_path, framed), progress=False)
    assert "Possible shortcuts" in format_summary(report)
    data = json.loads(json.dumps(report.to_json()))
    frame = next(w for w in data["shortcuts"] if w["fact"] == "frame")
    assert frame["class"] == "squares"
    assert frame["shares"]["squares"] == {"with": PER_CLASS, "of": PER_CLASS}
    assert frame["shares"]["circles"]["with"] == 0
    assert frame["examples"]["squares"] and frame["held_out_accuracy"] > 0.9
    assert data["shortcut_audit"]["combined_classifier"]["n"] == 2 * PER_CLASS


def test_without_the_audit_there_are_no_warnings(tmp_path: Path) -> None:
    report = check_dataset(write_folder(tmp_path, framed), progress=False, audit=False)
    assert report.shortcut_audit is None and report.to_json()["shortcuts"] == []


def test_a_few_copies_do_not_make_a_shortcut(tmp_path: Path) -> None:
    """A class of 8 distinct photos, each copied 5 times, all framed: 40 files, but only
    8 photos' worth of evidence; the interval counts groups, so it stays quiet."""
    root = write_folder(tmp_path, framed, per_class=8)
    for path in sorted((root / "squares").iterdir()):
        for k in range(4):
            path.with_name(f"{path.stem} copy {k}{path.suffix}").write_bytes(path.read_bytes())
    assert "frame" not in warned(root)


def test_border_bands_measure_each_side() -> None:
    pixels = np.full((100, 200, 3), 128, np.uint8)
    pixels += np.random.default_rng(0).integers(0, 100, pixels.shape, dtype=np.uint8)
    pixels[:10] = 250  # top bar, 10% of the height
    pixels[:, -30:] = 250  # right bar, 15% of the width
    bands, colours = border_bands(pixels)
    assert bands[0] == pytest.approx(0.10, abs=0.011)
    assert bands[1] == pytest.approx(0.15, abs=0.011)
    assert bands[2] == 0 and bands[3] == 0
    assert colours[0] == (250, 250, 250) and colours[1] == (250, 250, 250)


@pytest.mark.parametrize("quality", [50, 75, 90])
def test_jpeg_quality_is_estimated_from_the_tables(quality: int) -> None:
    buffer = io.BytesIO()
    draw_image(np.random.default_rng(0), "circles", 96, 128).save(buffer, "JPEG", quality=quality)
    with Image.open(io.BytesIO(buffer.getvalue())) as img:
        assert jpeg_quality(img) == pytest.approx(quality, abs=2)


def test_header_facts_read_the_camera_and_the_hour() -> None:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0132] = "Canon", "Canon EOS 80D", "2024:06:01 22:15:00"
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 90, 90)).save(buffer, "JPEG", exif=exif.tobytes())
    quality, camera, hour = header_facts(buffer.getvalue())
    assert camera == "Canon EOS 80D" and hour == 22 and quality is not None
    assert header_facts(b"not an image") == (None, None, None)


def test_wilson_interval() -> None:
    low, high = wilson(10, 10)
    assert 0.70 < low < 0.75 and high == pytest.approx(1.0)
    assert wilson(0, 0) == (0.0, 1.0)
