"""PNG: GPS in an eXIf chunk and in ImageMagick's "Raw profile type exif" text chunk. Copy this file to add a
format: build a small file that carries a location where the format keeps it, and a near miss that must not count."""
import struct
import zlib

from tests.rules.test_location import SHEFFIELD, exif_blob, gps_ifd, jpeg_with_gps

from .checks import found_and_stripped, no_location

FORMATS = ("PNG",)


def chunk(ctype: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + ctype + payload + struct.pack(">I", zlib.crc32(ctype + payload))


def with_text(keyword: bytes, text: bytes) -> bytes:
    png = jpeg_with_gps(None, fmt="PNG")
    iend = png.rindex(b"IEND") - 4
    return png[:iend] + chunk(b"tEXt", keyword + b"\0" + text) + png[iend:]


def raw_profile(blob: bytes) -> bytes:
    """ImageMagick's layout: a newline, the profile type, its length, then the hex in lines of 72 digits."""
    digits = blob.hex().encode()
    return b"\nexif\n%8d\n" % len(blob) + b"\n".join(digits[i:i + 72] for i in range(0, len(digits), 72)) + b"\n"


def test_gps_in_exif_chunk_is_found_and_blanked():
    found_and_stripped(jpeg_with_gps(gps_ifd(*SHEFFIELD), fmt="PNG"), "PNG", pixels=True)


def test_gps_in_raw_exif_profile_is_found_and_blanked():
    data = with_text(b"Raw profile type exif", raw_profile(exif_blob(gps_ifd(*SHEFFIELD))))
    found_and_stripped(data, "PNG", pixels=True)


def test_the_same_profile_under_another_keyword_is_only_text():
    no_location(with_text(b"Comment", raw_profile(exif_blob(gps_ifd(*SHEFFIELD)))), "PNG")
