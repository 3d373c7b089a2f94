"""A bare EXIF block ("Exif\\0\\0" and a TIFF structure), as tools write beside a photo: GPS in its GPS IFD. Copy this
file to add a format: build a small file that carries a location where the format keeps it, and a near miss."""
from tests.rules.test_location import SHEFFIELD, exif_blob, gps_ifd

from .checks import found_and_stripped, no_location

FORMATS = ("EXIF",)


def test_gps_ifd_is_found_and_blanked():
    found_and_stripped(exif_blob(gps_ifd(*SHEFFIELD)), "EXIF")


def test_gps_block_with_version_only_is_not_a_location():
    no_location(exif_blob({0: b"\x02\x02\x00\x00"}), "EXIF")
