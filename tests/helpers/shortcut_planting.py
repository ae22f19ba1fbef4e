"""Shortcuts planted into photos: what the shortcut audit must name (tests and
bench/bench_shortcut_audit.py edit real and generated photos with the same functions)."""

from __future__ import annotations

from PIL import Image, ImageDraw


def framed(img: Image.Image, share: float = 0.07) -> Image.Image:
    """A black frame ``share`` of the short side wide, over the photo's edge."""
    side = max(2, round(share * min(img.size)))
    out = Image.new("RGB", img.size, (0, 0, 0))
    out.paste(img.crop((side, side, img.width - side, img.height - side)), (side, side))
    return out


def letterboxed(img: Image.Image, share: float = 0.12) -> Image.Image:
    """Black bars above and below, as a widescreen film on a 4:3 screen."""
    bar = round(share * img.height)
    out = Image.new("RGB", (img.width, img.height + 2 * bar), (0, 0, 0))
    out.paste(img, (0, bar))
    return out


def with_logo(img: Image.Image, share: float = 0.12, min_side: int = 14) -> Image.Image:
    """A small white-and-red badge in the bottom-right corner, like a channel's logo."""
    out = img.copy()
    draw = ImageDraw.Draw(out)
    size = max(min_side, round(share * min(img.size)))
    x, y = img.width - size - 3, img.height - size - 3
    draw.rectangle((x, y, x + size, y + size), fill=(255, 255, 255))
    draw.ellipse((x + 2, y + 2, x + size - 2, y + size - 2), fill=(220, 20, 60))
    draw.rectangle((x + size // 3, y + size // 3, x + 2 * size // 3, y + 2 * size // 3), (0, 0, 0))
    return out


def enlarged(img: Image.Image, factor: int = 4) -> Image.Image:
    return img.resize((img.width * factor, img.height * factor), Image.Resampling.BILINEAR)
