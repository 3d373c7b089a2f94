"""What every walker test asserts: the location is found where the format keeps it and strip() blanks it in place;
a near miss is not a location. The files are built in the tests with the builders in tests/rules/test_location.py."""
from __future__ import annotations

import io

from rules import media
from tests.rules.test_location import SHEFFIELD


def found_and_stripped(data: bytes, fmt: str, pixels: bool = False) -> bytes:
    """The cleaned file. `pixels`: Pillow decodes this file, and the pictures before and after must be the same."""
    report = media.inspect(data)
    assert report.format == fmt
    assert report.warnings == []
    assert report.real_coordinates, f"no location found in the {fmt} file"
    for c in report.real_coordinates:
        assert abs(c.lat - SHEFFIELD[0]) < 1e-3 and abs(c.lon - SHEFFIELD[1]) < 1e-3, c
    cleaned = media.strip(data)
    after = media.inspect(cleaned)
    assert after.format == fmt
    assert after.real_coordinates == [] and after.places == []
    assert len(cleaned) == len(data)  # same length: no offset in the file moved
    inside = bytearray(len(data))
    for p in report.patches:
        inside[p.start:p.end] = b"\1" * (p.end - p.start)
    changed = [i for i, (a, b) in enumerate(zip(data, cleaned)) if a != b]
    assert changed and all(inside[i] for i in changed), "a byte outside the metadata changed"
    if pixels:
        from PIL import Image
        with Image.open(io.BytesIO(data)) as a, Image.open(io.BytesIO(cleaned)) as b:
            assert a.tobytes() == b.tobytes()
    return cleaned


def no_location(data: bytes, fmt: str | None) -> None:
    report = media.inspect(data)
    assert report.format == fmt
    assert report.real_coordinates == [] and report.places == []
    media.strip(data)  # and nothing to refuse
