"""WebP: GPS in the RIFF EXIF chunk. Copy this file to add a format: build a small file that carries a location
where the format keeps it, and a near miss that must not count as one."""
from tests.rules.test_location import SHEFFIELD, gps_ifd, jpeg_with_gps

from .checks import found_and_stripped, no_location

FORMATS = ("WEBP",)


def test_gps_in_exif_chunk_is_found_and_blanked():
    found_and_stripped(jpeg_with_gps(gps_ifd(*SHEFFIELD), fmt="WEBP"), "WEBP", pixels=True)


def test_latitude_without_longitude_is_not_a_location():
    no_location(jpeg_with_gps({0: b"\x02\x02\x00\x00", 1: "N", 2: (53.0, 22.0, 58.0)}, fmt="WEBP"), "WEBP")
