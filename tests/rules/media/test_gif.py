"""GIF: GPS in the XMP application extension. Copy this file to add a format: build a small file that carries a
location where the format keeps it, and a near miss that must not count as one."""
import io

from PIL import Image

from tests.rules.test_location import EXIF_NS, xmp

from .checks import found_and_stripped, no_location

FORMATS = ("GIF",)

PACKET = xmp(f'<rdf:Description {EXIF_NS} exif:GPSLatitude="53,22.97083N" exif:GPSLongitude="1,27.40067W"/>')


def gif(extension: bytes) -> bytes:
    buf = io.BytesIO()
    Image.new("P", (8, 8)).save(buf, "GIF")
    data = buf.getvalue()
    return data[:-1] + extension + data[-1:]  # before the trailer byte ';'


def sub_blocks(data: bytes) -> bytes:
    return b"".join(bytes([len(data[i:i + 255])]) + data[i:i + 255] for i in range(0, len(data), 255)) + b"\0"


def test_gps_in_xmp_extension_is_found_and_blanked():
    magic_trailer = bytes([1]) + bytes(range(255, -1, -1)) + b"\0"
    found_and_stripped(gif(b"\x21\xff\x0bXMP DataXMP" + PACKET + magic_trailer), "GIF", pixels=True)


def test_the_same_packet_in_a_comment_extension_is_only_text():
    no_location(gif(b"\x21\xfe" + sub_blocks(PACKET)), "GIF")
