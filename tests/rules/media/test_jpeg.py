"""JPEG: GPS in the EXIF segment (APP1). Copy this file to add a format: build a small file that carries a location
where the format keeps it, and a near miss that must not count as one."""
from tests.rules.test_location import SHEFFIELD, gps_ifd, jpeg_with_gps

from .checks import found_and_stripped, no_location

FORMATS = ("JPEG",)  # the table's formats this file tests (test_formats checks every walker has a test)

ZERO = {0: b"\x02\x02\x00\x00", 1: "N", 2: (0.0, 0.0, 0.0), 3: "E", 4: (0.0, 0.0, 0.0)}


def test_gps_in_exif_is_found_and_blanked():
    found_and_stripped(jpeg_with_gps(gps_ifd(*SHEFFIELD)), "JPEG", pixels=True)


def test_gps_block_with_zero_coordinates_is_not_a_location():
    no_location(jpeg_with_gps(ZERO), "JPEG")


def test_gps_in_a_comment_segment_is_not_read():
    exif = jpeg_with_gps(gps_ifd(*SHEFFIELD))
    app1 = exif.index(b"\xff\xe1")
    plain = jpeg_with_gps(None)
    length = int.from_bytes(exif[app1 + 2:app1 + 4], "big")
    comment = b"\xff\xfe" + exif[app1 + 2:app1 + 2 + length]  # the same bytes as a COM segment: text, not EXIF
    no_location(plain[:2] + comment + plain[2:], "JPEG")
