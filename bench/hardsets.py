"""Build the hard benchmark folders (not the sample data, which every head gets 99% on).

    .venv/bin/python bench/hardsets.py [--root /tmp/isit-hard] [--force]

Reproducible: every input comes from a package registry or /work/shared, every random
choice is seeded. Folders written under ``--root`` (outside the repo; never into data the
user owns):

- ``tux_animals``: Debian's ``tuxpaint-stamps-default`` clip art, 4 confusable animal
  classes (birds, mammals, insects, fish; cartoon sub-folders included);
- ``tux_food``: the same package, fruit vs vegetables vs flowers (drawn alike);
- ``tux_topics``: the same package, 10 broad topics (animals, food, plants, vehicles,
  town, seasonal, household, clothes, space, symbols): many classes, few photos each;
- ``vader_elsa_shifted``: /work/shared/data/vader_elsa re-styled (crop, grey, posterise,
  hue turn, blur + noise, sketch), one restyled copy per photo: in-class photos "from
  elsewhere" for the unknown benchmark (train on the originals, test on these);
- ``unrelated``: images of no class: Debian wallpapers and clip art (``desktop-base``,
  ``gnome-backgrounds``, ``mate-backgrounds``, ``openclipart-png``) for the unknown
  benchmark.

Packages are fetched with ``apt-get download`` (no install, no root files touched) into
``ROOT/debs`` and unpacked with ``dpkg-deb -x`` into ``ROOT/pkgs/<name>``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = Path("/tmp/isit-hard")
VADER_ELSA = ROOT.parent / "shared" / "data" / "vader_elsa"
TUX = "tuxpaint-stamps-default"
STAMPS = "usr/share/tuxpaint/stamps"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")

# class -> stamp sub-folders (recursive) that make it up
TUX_SETS: dict[str, dict[str, tuple[str, ...]]] = {
    "tux_animals": {
        "birds": ("animals/birds",),
        "mammals": ("animals/mammals", "animals/marsupials"),
        "insects": ("animals/insects",),
        "fish": ("animals/fish", "animals/shellfish"),
    },
    "tux_food": {
        "fruit": ("food/fruit",),
        "vegetables": ("food/vegetables", "food/nuts"),
        "flowers": ("plants/flowers",),
    },
    "tux_topics": {
        "animals": ("animals",),
        "food": ("food",),
        "plants": ("plants",),
        "vehicles": ("vehicles", "military/vehicles"),
        "town": ("town",),
        "seasonal": ("seasonal",),
        "household": ("household", "medical"),
        "clothes": ("clothes",),
        "space": ("space", "naturalforces"),
        "symbols": (
            "symbols/chess",
            "symbols/math",
            "symbols/money",
            "symbols/music",
            "symbols/shapes",
            "symbols/faces",
        ),
    },
}


def fetch_package(name: str, root: Path) -> Path | None:
    """``ROOT/pkgs/<name>``: the package's files, downloaded and unpacked once."""
    target = root / "pkgs" / name
    if target.is_dir():
        return target
    debs = root / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{name}_*.deb"))
    if not found:
        run = subprocess.run(["apt-get", "download", name], cwd=debs, capture_output=True)
        found = sorted(debs.glob(f"{name}_*.deb"))
        if run.returncode or not found:
            print(f"  {name}: apt-get download failed: {run.stderr.decode()[-200:]}")
            return None
    tmp = target.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)  # dpkg-deb -x makes one level only
    subprocess.run(["dpkg-deb", "-x", str(found[-1]), str(tmp)], check=True)
    tmp.rename(target)
    return target


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def build_tux(root: Path, force: bool) -> list[Path]:
    pkg = fetch_package(TUX, root)
    if pkg is None:
        return []
    stamps = pkg / STAMPS
    built = []
    for set_name, classes in TUX_SETS.items():
        out = root / set_name
        if out.is_dir() and not force:
            built.append(out)
            continue
        shutil.rmtree(out, ignore_errors=True)
        taken: set[Path] = set()  # a stamp in two topics' folders goes to the first only
        for label, folders in classes.items():
            for folder in folders:
                for src in _images(stamps / folder):
                    if src in taken:
                        continue
                    taken.add(src)
                    rel = src.relative_to(stamps).with_suffix("")
                    dest = out / label / ("-".join(rel.parts) + src.suffix.lower())
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, dest)
        built.append(out)
    return built


def _sketch(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    edges = ImageOps.invert(img.convert("L").filter(ImageFilter.FIND_EDGES))
    return ImageOps.autocontrast(edges).convert("RGB")


def _grey(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return ImageOps.autocontrast(img.convert("L")).convert("RGB")


def _posterise(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return ImageOps.posterize(img, int(rng.integers(2, 4)))


def _hue(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    hsv = np.asarray(img.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(int) + int(rng.integers(60, 196))) % 256
    return Image.fromarray(hsv, "HSV").convert("RGB")


def _blur_noise(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    blurred = np.asarray(img.filter(ImageFilter.GaussianBlur(2.5)), dtype=np.float32)
    noisy = blurred + rng.normal(0, 18, blurred.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


STYLES: tuple[Callable[[Image.Image, np.random.Generator], Image.Image], ...] = (
    _sketch, _grey, _posterise, _hue, _blur_noise,
)  # fmt: skip


def restyle(img: Image.Image, seed: int) -> Image.Image:
    """A crop (55-85% of each side, off-centre) in one of :data:`STYLES`, seeded."""
    rng = np.random.default_rng(seed)
    img = img.convert("RGB")
    w, h = img.size
    cw, ch = int(w * rng.uniform(0.55, 0.85)), int(h * rng.uniform(0.55, 0.85))
    left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    img = img.crop((left, top, left + cw, top + ch))
    return STYLES[seed % len(STYLES)](img, rng)


def _reframe(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Another site's framing: a tighter off-centre crop, or the photo smaller on a
    background (a solid colour or a blurred, darkened copy of itself)."""
    w, h = img.size
    if rng.random() < 0.5:
        cw, ch = int(w * rng.uniform(0.65, 0.9)), int(h * rng.uniform(0.65, 0.9))
        left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        return img.crop((left, top, left + cw, top + ch))
    scale = rng.uniform(1.15, 1.4)
    canvas_size = (int(w * scale), int(h * scale))
    if rng.random() < 0.5:
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        canvas = Image.new("RGB", canvas_size, colour)
    else:
        canvas = img.resize(canvas_size).filter(ImageFilter.GaussianBlur(8))
        canvas = ImageEnhance.Brightness(canvas).enhance(0.6)
    left = int(rng.integers(0, canvas_size[0] - w + 1))
    top = int(rng.integers(0, canvas_size[1] - h + 1))
    canvas.paste(img, (left, top))
    return canvas


def _reshoot(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Another camera and pipeline: resolution, white balance, exposure, saturation
    (sometimes none), a little blur or sensor noise, a mirror or a small tilt."""
    w, h = img.size
    f = rng.uniform(0.5, 1.0)
    img = img.resize((max(32, int(w * f)), max(32, int(h * f)))).resize((w, h))
    rgb = np.asarray(img, dtype=np.float32) / 255.0
    rgb = rgb * np.array([rng.uniform(0.85, 1.15), 1.0, rng.uniform(0.85, 1.15)])
    rgb = np.clip(rgb, 0, 1) ** rng.uniform(0.7, 1.4)
    img = Image.fromarray((rgb * 255).astype(np.uint8))
    img = ImageEnhance.Color(img).enhance(0.0 if rng.random() < 0.2 else rng.uniform(0.6, 1.3))
    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    else:
        noisy = np.asarray(img, dtype=np.float32) + rng.normal(0, rng.uniform(2, 6), (h, w, 3))
        img = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if rng.random() < 0.3:
        img = img.rotate(rng.uniform(-8, 8), resample=Image.Resampling.BILINEAR, expand=False)
    return img


def elsewhere(img: Image.Image, seed: int) -> Image.Image:
    """The same photo as another site would show it: re-framed, then re-shot; seeded."""
    rng = np.random.default_rng(seed)
    return _reshoot(_reframe(img.convert("RGB"), rng), rng)


def build_restyled(
    root: Path, force: bool, name: str, transform: Callable[[Image.Image, int], Image.Image]
) -> list[Path]:
    """``root/name``: each vader_elsa photo through ``transform``, saved as a JPEG."""
    out = root / name
    if not VADER_ELSA.is_dir():
        print(f"  skipped {name}: no {VADER_ELSA}")
        return []
    if out.is_dir() and not force:
        return [out]
    shutil.rmtree(out, ignore_errors=True)
    for i, src in enumerate(_images(VADER_ELSA)):
        label = src.relative_to(VADER_ELSA).parts[0]
        dest = out / label / f"{src.stem}-shifted.jpg"
        dest.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(src) as img:
            transform(img, i).save(dest, "JPEG", quality=int(60 + (i * 7) % 35))
    return [out]


# Debian packages with unrelated pictures: (package, sub-folder, at most this many).
UNRELATED = (("desktop-base", "usr/share/desktop-base", 60),
             ("gnome-backgrounds", "usr/share/backgrounds", 60),
             ("mate-backgrounds", "usr/share/backgrounds", 60),
             ("openclipart-png", "usr/share/openclipart", 150))  # fmt: skip


def build_unrelated(root: Path, force: bool) -> list[Path]:
    out = root / "unrelated"
    if out.is_dir() and not force:
        return [out]
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for package, folder, limit in UNRELATED:
        pkg = fetch_package(package, root)
        if pkg is None:
            continue
        files = [p for p in _images(pkg / folder) if p.stat().st_size > 8000]
        rng = np.random.default_rng(0)
        picked = sorted(rng.choice(len(files), min(limit, len(files)), replace=False))
        for k in picked:
            src = files[int(k)]
            try:
                with Image.open(src) as img:
                    if min(img.size) < 64:
                        continue
            except OSError:
                continue
            shutil.copyfile(src, out / f"{package}-{k:05d}{src.suffix.lower()}")
    return [out]


def build_all(root: Path = DEFAULT_ROOT, force: bool = False) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    shifted = build_restyled(root, force, "vader_elsa_shifted", restyle)
    shifted += build_restyled(root, force, "vader_elsa_elsewhere", elsewhere)
    return build_tux(root, force) + shifted + build_unrelated(root, force)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--force", action="store_true", help="rebuild existing folders")
    args = parser.parse_args()
    for folder in build_all(args.root, args.force):
        classes = sorted(p for p in folder.iterdir() if p.is_dir())
        counts = ", ".join(f"{c.name} {len(_images(c))}" for c in classes)
        print(f"{folder}: {counts or f'{len(_images(folder))} images'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
