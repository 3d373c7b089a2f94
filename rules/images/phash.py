"""Perceptual hashes of photos: Meta's PDQ (256 bits), with the variants that let a changed copy still match.

A copy of a school photo posted by a phone or a social site is resized, recompressed, filtered, cropped, mirrored,
straightened, captioned or screenshotted. PDQ survives the first three on its own. For the rest, the library side
stores a hash of each *window* of the photo a crop could keep and of small rotations, and the query side hashes the
upload's mirror images and its trimmed version (borders and screenshot chrome cut away). Hashes are packed bytes
(32 per hash); nothing of the picture itself is kept.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from rules.media.pixels import register_decoders

HASH_BYTES = 32
WORK_SIDE = 256  # PDQ reduces to 64x64 anyway; 256 px keeps its tent filter meaningful at a quarter of 512 px cost
LOOK_SIDE = 512  # borders and turned corners are measured at this size: a pixel here is under 1% of most photos
MIN_QUALITY = 50  # Meta's "don't trust" level: flat or dark pictures hash to noise

# Library windows: (name, x0, y0, x1, y1) as fractions of the photo. A crop of the posted copy keeps about one of
# these: a centred or off-centre zoom, one side cut off, or the square and 4:5 crops that apps offer.
WINDOWS: list[tuple[str, float, float, float, float]] = [("full", 0, 0, 1, 1), ("crop70-mc", 0.15, 0.15, 0.85, 0.85)]
for _size in (0.9, 0.8):
    for _row, _y in (("t", 0), ("m", 0.5), ("b", 1)):
        for _col, _x in (("l", 0), ("c", 0.5), ("r", 1)):
            _x0, _y0 = (1 - _size) * _x, (1 - _size) * _y
            WINDOWS.append((f"crop{round(_size * 100)}-{_row}{_col}", _x0, _y0, _x0 + _size, _y0 + _size))
    _cut = round((1 - _size) * 100)
    WINDOWS += [(f"cut{_cut}-left", 1 - _size, 0, 1, 1), (f"cut{_cut}-right", 0, 0, _size, 1),
                (f"cut{_cut}-top", 0, 1 - _size, 1, 1), (f"cut{_cut}-bottom", 0, 0, 1, _size)]
ASPECTS = (("square", 1.0), ("portrait45", 0.8))  # width / height of the app crops, placed at start, middle, end
ROTATIONS = (-5.0, -2.5, 2.5, 5.0)  # straightened in an editor: rotated, then cropped to the picture


class ImageError(ValueError):
    """Bytes that no installed decoder reads as a picture."""


@dataclass(frozen=True)
class Hashes:
    hashes: np.ndarray  # (n, 32) uint8
    variants: list[str]
    quality: int


def decode(data: bytes, max_side: int = 1024):
    """An RGB PIL image, upright (EXIF orientation applied), at most `max_side` px, decoded at reduced size where
    the format allows (JPEG's DCT scaling makes a 12 MP photo a 30 ms decode)."""
    from PIL import Image, ImageOps
    register_decoders()
    try:
        img = Image.open(io.BytesIO(data))
        if img.format == "JPEG":  # the DCT scale that still gives at least half of max_side: 1/4 for 12 MP
            img.draft("RGB", (max_side // 2, max_side // 2))
        img.load()
        img = ImageOps.exif_transpose(img)
    except Exception as exc:  # Pillow raises many kinds for many formats; all mean "not a picture we can read"
        raise ImageError(f"not a picture PostGuard can read: {exc}") from None
    if img.mode not in ("RGB", "L"):
        img = _flatten(img)
    img = img.convert("RGB")
    if max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return img


def _flatten(img):
    from PIL import Image
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba)
    return img


def _pdq(img) -> tuple[np.ndarray, int]:
    import pdqhash
    bits, quality = pdqhash.compute(np.asarray(_work(img)))
    return np.packbits(bits.astype(np.uint8)), int(quality)


def _pdq_dihedral(img) -> tuple[list[np.ndarray], int]:
    import pdqhash
    hashes, quality = pdqhash.compute_dihedral(np.asarray(_work(img)))
    return [np.packbits(h.astype(np.uint8)) for h in hashes], int(quality)


# pdqhash.compute_dihedral's order: as is, turned 90° anticlockwise, 180°, 90° clockwise, upside down, mirrored,
# transposed, anti-transposed.
DIHEDRAL = ("full", "rot90", "rot180", "rot270", "vflip", "flip", "transpose", "antitranspose")


def against_windows(variant: str) -> bool:
    """Whether a query view is compared with every stored window, or with whole photos only: a copy turned on its
    side or upside down was rarely also cropped, and six more views against every window would make lookups slow."""
    return variant not in DIHEDRAL or variant in ("full", "flip")


def _work(img, side: int = WORK_SIDE):
    """The photo at PDQ's working size: every window and view is cut from this one copy."""
    from PIL import Image
    if max(img.size) <= side:
        return img
    img = img.copy()
    img.thumbnail((side, side), Image.Resampling.BILINEAR)
    return img


def library_hashes(img) -> Hashes:
    """What the library stores for one photo: every window, and small rotations of the whole."""
    from PIL import Image
    img = _work(img)
    w, h = img.size
    out, names = [], []
    quality = 0
    for name, x0, y0, x1, y1 in WINDOWS:
        window = img if name == "full" else img.crop((round(x0 * w), round(y0 * h), round(x1 * w), round(y1 * h)))
        hsh, q = _pdq(window)
        quality = q if name == "full" else quality
        out.append(hsh)
        names.append(name)
    for label, aspect in ASPECTS:
        for pos, box in zip(("start", "middle", "end"), _aspect_boxes(w, h, aspect)):
            if box != (0, 0, w, h):
                out.append(_pdq(img.crop(box))[0])
                names.append(f"{label}-{pos}")
    for angle in ROTATIONS:
        turned = img.rotate(angle, Image.Resampling.BILINEAR, expand=False)
        out.append(_pdq(turned.crop(_inscribed(w, h, angle)))[0])
        names.append(f"rot{angle:+g}")
    return Hashes(np.stack(out), names, quality)


def _aspect_boxes(w: int, h: int, aspect: float) -> list[tuple[int, int, int, int]]:
    if w / h > aspect:  # too wide: cut the sides
        cw = round(h * aspect)
        return [(x, 0, x + cw, h) for x in (0, (w - cw) // 2, w - cw)]
    ch = round(w / aspect)
    return [(0, y, w, y + ch) for y in (0, (h - ch) // 2, h - ch)]


def _inscribed(w: int, h: int, angle: float) -> tuple[int, int, int, int]:
    """The largest centred box of the photo's aspect that a rotation by `angle` leaves without black corners."""
    a = abs(np.radians(angle))
    scale = 1 / (np.cos(a) + np.sin(a) * max(w / h, h / w))
    cw, ch = w * scale, h * scale
    return (round((w - cw) / 2), round((h - ch) / 2), round((w + cw) / 2), round((h + ch) / 2))


def query_hashes(img) -> Hashes:
    """What an upload is looked up by: its eight mirror/turn images, its trimmed version and its mirror, its upper
    and lower four fifths (a caption across one end), and, when its corners are filled triangles, the picture
    turned back upright. Borders and corners are found on the small copy; the part kept is cut from the large one
    (a photo inside a phone screenshot is a small part of it)."""
    from PIL import Image
    work = _work(img)
    hashes, quality = _pdq_dihedral(work)
    names = list(DIHEDRAL)
    look = _work(img, LOOK_SIDE)
    grey = np.asarray(look.convert("L"))
    scale = img.width / look.width
    box = trim_box(grey)
    if box is not None:
        trimmed = _work(img.crop(tuple(round(v * scale) for v in box)))
        hashes += [_pdq(trimmed)[0], _pdq(trimmed.transpose(Image.Transpose.FLIP_LEFT_RIGHT))[0]]
        names += ["trimmed", "trimmed-flip"]
    w, h = work.size
    for name, box in (("upper80", (0, 0, w, round(h * 0.8))), ("lower80", (0, round(h * 0.2), w, h))):
        hashes.append(_pdq(work.crop(box))[0])  # a caption over the bottom or the top: the library's cut20 windows
        names.append(name)
    for angle in turned_corners(grey):
        upright = img.rotate(-angle, Image.Resampling.BILINEAR, expand=True)
        small = _work(upright, LOOK_SIDE)
        box = trim_box(np.asarray(small.convert("L")))
        if box is not None:
            upright = upright.crop(tuple(round(v * upright.width / small.width) for v in box))
        upright = upright.crop(_inscribed(*upright.size, angle))
        hashes.append(_pdq(upright)[0])
        names.append(f"unturned{-angle:+.1f}")
    return Hashes(np.stack(hashes), names, quality)


def turned_corners(rgb: np.ndarray, max_angle: float = 15.0) -> list[float]:
    """The angles a picture may have been turned by, when its four corners are filled triangles (what an editor
    leaves after rotating without cropping); [] otherwise. Both signs: the triangles' shape alone cannot tell."""
    grey = _grey(rgb)
    fill = np.abs(grey - int(grey[0, 0])) <= TRIM_TOLERANCE
    rows = np.flatnonzero(fill.mean(axis=1) < 0.98)  # a turned picture touches each edge at a point: lines that
    cols = np.flatnonzero(fill.mean(axis=0) < 0.98)  # are all fill around that point are not part of a corner
    if len(rows) < 8 or len(cols) < 8:
        return []
    fill = fill[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = fill.shape
    legs = []
    for corner in (fill, fill[:, ::-1], fill[::-1], fill[::-1, ::-1]):
        a, b = _run(corner[0]), _run(corner[:, 0])
        if min(a, b) >= 3 and a < w and b < h:
            legs.append(np.degrees(np.arctan(min(a, b) / max(a, b))))
    if len(legs) < 3:  # one corner may be lost where the picture itself is as dark as the fill
        return []
    angle = float(np.median(legs))
    if not 0.5 <= angle <= max_angle or sum(abs(x - angle) <= 1.5 for x in legs) < 3:
        return []
    return [angle, -angle]


def _grey(pixels: np.ndarray) -> np.ndarray:
    """Signed grey levels (so differences can go below zero) from an RGB or an already grey array."""
    return pixels.astype(np.int16).sum(axis=2) // 3 if pixels.ndim == 3 else pixels.astype(np.int16)


def _run(flags: np.ndarray) -> int:
    return int(np.argmin(flags)) if not flags.all() else len(flags)


def trim_box(rgb: np.ndarray, min_keep: float = 0.1) -> tuple[int, int, int, int] | None:
    """The box of the picture inside borders, padding, caption bands and screenshot chrome, or None.

    From each edge in turn, lines are peeled while most of their pixels share the edge's own colour: a plain
    border, or a bar of text or icons on a plain colour. Each edge has its own colour (a white caption band under a
    photo, a black status bar above it).
    """
    grey = _grey(rgb)
    h, w = grey.shape
    top = _peel(grey)
    bottom = h - _peel(grey[::-1])
    if bottom - top < min_keep * h:
        return None
    band = grey[top:bottom]
    left = _peel(band.T)
    right = w - _peel(band.T[::-1])
    if right - left < min_keep * w or (top, bottom, left, right) == (0, h, 0, w):
        return None
    return left, top, right, bottom


def _peel(lines: np.ndarray) -> int:
    """How many leading lines are background: lines mostly of the first line's colour, and short runs of other
    lines between them (a line of text or a row of icons); the first long run of busy lines is the picture."""
    colour = int(np.median(lines[0]))
    plain = (np.abs(lines - colour) <= TRIM_TOLERANCE).mean(axis=1) >= TRIM_SHARE
    longest_chrome = max(8, int(TRIM_CHROME * len(lines)))
    i, n = 0, len(plain)
    while i < n:
        if plain[i]:
            i += 1
            continue
        j = i + int(np.argmax(plain[i:])) if plain[i:].any() else n
        if j - i > longest_chrome or j == n:
            return i
        i = j
    return n


TRIM_TOLERANCE = 10  # grey levels: JPEG ringing around a border
TRIM_SHARE = 0.7  # a line this much background is background, even where a line of text crosses it
TRIM_CHROME = 0.1  # busy runs up to this share of the picture between background lines: text, icons


def distances(query: np.ndarray, library: np.ndarray) -> np.ndarray:
    """Hamming distances, (queries, library) from (q, 32) and (n, 32) uint8 arrays."""
    q = query.view(np.uint64).reshape(len(query), 1, 4)
    lib = library.view(np.uint64).reshape(1, len(library), 4)
    return np.bitwise_count(q ^ lib).sum(axis=2, dtype=np.uint16)
