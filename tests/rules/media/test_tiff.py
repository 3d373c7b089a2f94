"""TIFF and the raw files built on it: GPS in the GPS IFD. Copy this file to add a format: build a small file that
carries a location where the format keeps it, and a near miss that must not count as one."""
import pytest
from PIL import Image

from rules.media import formats
from tests.rules.test_location import SHEFFIELD, gps_ifd

from .checks import found_and_stripped, no_location

FORMATS = ("TIFF",)


def tiff(gps: dict, magic: bytes = b"MM\0*") -> bytes:
    """A TIFF structure (IFD0 with make and model, and a GPS IFD) under one of the table's TIFF magic numbers.
    Pillow's TIFF writer drops the GPS IFD, so this is the EXIF block Pillow makes, which is the same structure."""
    exif = Image.Exif()
    exif.endian = "<" if magic[:2] == b"II" else ">"
    exif[0x010F], exif[0x0110] = "Panasonic", "DMC-GX80"
    exif.get_ifd(0x8825).update(gps)
    return magic + exif.tobytes()[6 + 4:]


@pytest.mark.parametrize("magic", formats.BY_NAME["TIFF"].magic)
def test_gps_ifd_is_found_and_blanked(magic):
    found_and_stripped(tiff(gps_ifd(*SHEFFIELD), magic), "TIFF")


def test_longitude_cut_off_by_the_end_of_the_file_is_not_a_location():
    data = tiff(gps_ifd(*SHEFFIELD))
    assert data.endswith(b"\0\3\xab\x11\0\0\x27\x10")  # the longitude's seconds: the file's last value
    no_location(data[:-8], "TIFF")
