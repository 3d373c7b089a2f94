"""Fujifilm RAF: GPS in the EXIF of the JPEG preview the header points to. Copy this file to add a format: build a
small file that carries a location where the format keeps it, and a near miss that must not count as one."""
import struct

from tests.rules.test_location import SHEFFIELD, gps_ifd, jpeg_with_gps

from .checks import found_and_stripped, no_location

FORMATS = ("RAF",)

PREVIEW_AT = 160


def raf(preview: bytes, offset: int = PREVIEW_AT) -> bytes:
    """The header's magic and version, the preview's offset and length at bytes 84 and 88, then the preview and
    some sensor data."""
    head = b"FUJIFILMCCD-RAW 0201FF383501".ljust(84, b"\0") + struct.pack(">II", offset, len(preview))
    return head.ljust(PREVIEW_AT, b"\0") + preview + b"\x5a" * 256


def test_gps_in_the_preview_is_found_and_blanked():
    found_and_stripped(raf(jpeg_with_gps(gps_ifd(*SHEFFIELD))), "RAF")


def test_preview_offset_that_misses_the_jpeg_is_not_read():
    no_location(raf(jpeg_with_gps(gps_ifd(*SHEFFIELD)), offset=PREVIEW_AT + 2), "RAF")
