"""Proof that removing a picture's location left its pixels alone: both files decoded and compared.

The walkers write only inside the metadata structure they parsed, and for JPEG that is proof enough (a patch must
lie inside an APPn or COM segment, or after the end-of-image marker, none of which a decoder draws from). For the other pictures a decoder exists
(Pillow, and pillow-heif for HEIC and AVIF), so strip() asks it: the stripped file must decode to the same size, mode
and pixels as the original, frame by frame. An original no decoder reads cannot be proven either way, and says so.
"""
from __future__ import annotations

import hashlib
import io

MAX_PIXELS = 120_000_000  # a frame larger than this is not decoded: a decompression bomb, or no phone's photo
MAX_FRAMES = 64


_registered = False


def register_decoders() -> None:
    """pillow-heif's HEIC and AVIF opener for Pillow, once, for everything in rules that decodes a picture."""
    global _registered
    if not _registered:
        _registered = True
        try:
            import pillow_heif
            pillow_heif.register_heif_opener()
        except ImportError:  # HEIC then reads as "not a picture": the other signals still work
            pass


class Unproven(Exception):
    """The original could not be decoded, so nothing can be said about its pixels."""


def fingerprint(data: bytes) -> list[tuple]:
    """(size, mode, SHA-256 of the raw pixels) for each frame, as Pillow decodes it (no orientation applied)."""
    from PIL import Image
    register_decoders()
    frames = []
    with Image.open(io.BytesIO(data)) as img:
        for index in range(min(getattr(img, "n_frames", 1), MAX_FRAMES)):
            img.seek(index)
            if img.width * img.height > MAX_PIXELS:
                raise ValueError(f"a {img.width}x{img.height} frame is too large to decode")
            img.load()
            frames.append((img.size, img.mode, hashlib.sha256(img.tobytes()).hexdigest()))
    return frames


def same_pixels(before: bytes, after: bytes) -> str:
    """"" when `after` decodes to the same pixels as `before`; else what differs. Unproven if `before` does not
    decode."""
    try:
        want = fingerprint(before)
    except Exception as exc:  # Pillow and its plugins raise many kinds: all mean "not decodable here"
        raise Unproven(f"the original does not decode ({type(exc).__name__}: {exc})") from None
    try:
        got = fingerprint(after)
    except Exception as exc:
        return f"the cleaned file no longer decodes ({type(exc).__name__}: {exc})"
    if len(got) != len(want):
        return f"the cleaned file has {len(got)} frames, the original {len(want)}"
    for n, (a, b) in enumerate(zip(want, got)):
        if a != b:
            return f"frame {n} of the cleaned file differs from the original ({a[0]} {a[1]} against {b[0]} {b[1]})"
    return ""
