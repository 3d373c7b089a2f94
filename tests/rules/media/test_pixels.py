"""strip() proves a non-JPEG picture's pixels unchanged with a decoder (rules/media/pixels.py)."""
import io

import pytest
from PIL import Image

import rules.media as media
from rules.media import StripError, inspect, strip


def png_with_gps() -> bytes:
    img = Image.new("RGB", (64, 48), (10, 120, 200))
    for x in range(64):
        img.putpixel((x, x % 48), (x * 4, 255 - x, 7))
    exif = Image.Exif()
    gps = {1: "N", 2: (53.0, 22.0, 58.25), 3: "W", 4: (1.0, 27.0, 24.0)}
    exif[0x8825] = gps
    out = io.BytesIO()
    img.save(out, "PNG", exif=exif)
    return out.getvalue()


def test_a_png_is_cleaned_and_its_pixels_proven_the_same():
    data = png_with_gps()
    assert inspect(data).real_coordinates
    cleaned = strip(data)
    assert not inspect(cleaned).real_coordinates
    assert media.pixels.same_pixels(data, cleaned) == ""


def test_a_strip_that_would_change_a_pixel_is_refused(monkeypatch):
    data = png_with_gps()
    real = media.apply_patches

    def damaging(buf, patches):  # a walker bug: one byte of the image data changed as well
        out = bytearray(real(buf, patches))
        at = bytes(out).index(b"IDAT") + 8
        out[at] ^= 0x01
        return bytes(out)

    monkeypatch.setattr(media, "apply_patches", damaging)
    with pytest.raises(StripError, match="change the picture"):
        strip(data)


def test_an_original_no_decoder_reads_cannot_be_proven_either_way():
    data = png_with_gps()
    broken = data.replace(b"IDAT", b"IDAX", 1)  # no image data any more, the eXIf chunk as it was
    with pytest.raises(media.pixels.Unproven):
        media.pixels.same_pixels(broken, broken)
