"""An XMP sidecar (.xmp beside a raw file): GPS as exif:GPSLatitude and exif:GPSLongitude. Copy this file to add a
format: build a small file that carries a location where the format keeps it, and a near miss."""
from tests.rules.test_location import EXIF_NS, xmp

from .checks import found_and_stripped, no_location

FORMATS = ("XMP",)


def test_gps_properties_are_found_and_blanked():
    packet = xmp(f'<rdf:Description {EXIF_NS} exif:GPSLatitude="53,22.97083N" exif:GPSLongitude="1,27.40067W"/>')
    found_and_stripped(b"\xef\xbb\xbf\n" + packet, "XMP")


def test_zero_placeholder_is_not_a_location():
    no_location(xmp(f'<rdf:Description {EXIF_NS} exif:GPSLatitude="0,0.0N" exif:GPSLongitude="0,0.0E"/>'), "XMP")


def test_xml_that_is_not_xmp_is_not_sniffed():
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><text>53,22.97083N 1,27.40067W</text></svg>'
    no_location(svg, None)
