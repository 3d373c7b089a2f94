"""Lossless removal on every corpus file with a location: clean by our scan and ExifTool's, same pixels, no growth."""
import json
import subprocess

import pytest

from rules import media
from tests.conftest import corpus_cases, expected_location, manifest, require_tool

PIL = pytest.importorskip("PIL.Image")
try:
    import pillow_heif
    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a test dependency
    pass

WITH_LOCATION = [e for e in manifest() if expected_location(e) is not None or e["other_location"]]


def exiftool(path) -> tuple[dict, set[str]]:
    tool = require_tool("exiftool")
    out = subprocess.run([tool, "-json", "-n", "-G1", "-a", "-ee", str(path)], capture_output=True, text=True)
    tags = json.loads(out.stdout)[0]
    msgs = subprocess.run([tool, "-a", "-s", "-G1", "-Warning", "-Error", str(path)], capture_output=True,
                          text=True).stdout
    return tags, {line.split(":", 1)[1].strip() for line in msgs.splitlines() if ":" in line}


def pixels(path):
    try:
        with PIL.open(path) as im:
            im.load()
            return im.mode, im.size, im.tobytes()
    except Exception:
        return None  # a format or a truncated file Pillow cannot decode: nothing to compare


def test_there_is_something_to_strip(corpus):
    assert len(WITH_LOCATION) >= 60


@pytest.mark.parametrize("entry", corpus_cases(WITH_LOCATION), ids=lambda e: e["file"])
def test_strip_is_clean_and_lossless(corpus, tmp_path, entry):
    src = corpus / entry["file"]
    data = src.read_bytes()
    cleaned = media.strip(data)
    out = tmp_path / src.name
    out.write_bytes(cleaned)

    again = media.inspect(cleaned)
    assert again.real_coordinates == [] and again.places == []
    assert len(cleaned) <= len(data)

    tags, messages = exiftool(out)
    coords = {k: v for k, v in tags.items()
              if k.endswith(("GPSLatitude", "GPSLongitude", "GPSCoordinates", "GPSPosition"))}
    assert coords == {}, f"ExifTool still reads {coords}"
    _, before = exiftool(src)
    assert messages - before == set(), "ExifTool reports new problems"

    original = pixels(src)
    if original is not None:
        assert pixels(out) == original, "decoded pixels changed"


def test_pixels_are_really_compared(corpus):
    """The pixel check above is not vacuous: most location files decode."""
    decodable = [e for e in WITH_LOCATION if pixels(corpus / e["file"]) is not None]
    assert len(decodable) >= 30
