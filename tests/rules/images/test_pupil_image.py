"""pupil.image: each signal (library, camera, site, trip, badge, faces) on real files, and how they combine."""
from __future__ import annotations

import io
import json
import struct
import tomllib

import pytest

from rules import Attachment, Engine, Submission
from rules.config import ConfigError, parse_config
from rules.images.library import Library

from .edits import EDITS, encoded

Image = pytest.importorskip("PIL.Image")
skimage_data = pytest.importorskip("skimage.data")

IPHONE7 = "exiftool/Apple.jpg"  # Apple iPhone 7, GPS in Sheffield, taken 2016-09-28
CANON_600D = "exifr/IMG_5910.jpg"  # body serial 123063022888, GPS in Berkeley, taken 2015-06-11
CANON_600D_AGAIN = "exifr/issue-exifr-59.jpg"  # the same camera body, another day and place
GOPRO = "exiftool/GoPro.jpg"  # serial C3221324657219, GPS in Brooklyn, taken 2017-10-03


def config(tmp_path, extra: str = ""):
    doc = tomllib.loads(f'data_dir = "{tmp_path.as_posix()}"\n[school]\nname = "Test School"\n{extra}')
    return parse_config(doc, tmp_path / "config.toml")


def verdict(cfg, data: bytes, name="photo.jpg"):
    v = Engine(cfg).evaluate(Submission(files=[Attachment(name, data)]))
    assert not v.errors, v.errors
    return v


def pupil(v):
    found = [f for f in v.findings if f.rule == "pupil.image"]
    assert len(found) <= 1
    return found[0] if found else None


def signals(finding) -> dict:
    return {s["signal"]: s for s in finding.evidence["signals"]}


def app1(data: bytes) -> bytes:
    """The EXIF segment of a JPEG, whole (marker and length included)."""
    pos = 2
    while pos + 4 <= len(data):
        marker, length = data[pos + 1], struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if marker == 0xE1 and data[pos + 4:pos + 10] == b"Exif\0\0":
            return data[pos:pos + 2 + length]
        pos += 2 + length
    raise AssertionError("no EXIF segment")


def with_exif_of(picture: bytes, corpus_file) -> bytes:
    """`picture` (a JPEG) carrying the real EXIF segment of a corpus photo: its camera, serial, date and GPS."""
    return picture[:2] + app1(corpus_file.read_bytes()) + picture[2:]


def astronaut_jpeg() -> bytes:
    return encoded(Image.fromarray(skimage_data.astronaut()))


# ------------------------------------------------------------------------------------------------------ camera

def test_school_camera_by_serial(tmp_path, corpus):
    cfg = config(tmp_path, 'cameras = [{ serial = "123063022888" }]')
    for name in (CANON_600D, CANON_600D_AGAIN):
        f = pupil(verdict(cfg, (corpus / name).read_bytes()))
        assert f and signals(f)["camera"]["match"] == "serial"
        assert signals(f)["camera"]["model"] == "Canon EOS 600D"


def test_other_camera_of_the_same_model_is_not_the_schools(tmp_path, corpus):
    cfg = config(tmp_path, 'cameras = [{ make = "Canon", model = "Canon EOS 600D", serial = "123063099999" }]')
    assert pupil(verdict(cfg, (corpus / CANON_600D).read_bytes())) is None


def test_model_only_register_is_weak_alone(tmp_path, corpus):
    """iPads and phones write no serial: a model match alone is not a finding, with faces it is."""
    cfg = config(tmp_path, 'cameras = [{ make = "Apple", model = "iPhone 7" }]')
    assert pupil(verdict(cfg, (corpus / IPHONE7).read_bytes())) is None  # a photo of a street, no faces
    f = pupil(verdict(cfg, with_exif_of(astronaut_jpeg(), corpus / IPHONE7)))
    assert f and set(signals(f)) == {"camera", "faces"} and signals(f)["camera"]["match"] == "model"
    assert f.severity == "medium"  # 0.4 + 0.5: a finding, below "high"


def test_serial_and_faces_is_high(tmp_path, corpus):
    cfg = config(tmp_path, 'cameras = [{ serial = "C3221324657219" }]')
    f = pupil(verdict(cfg, with_exif_of(astronaut_jpeg(), corpus / GOPRO)))
    assert f.severity == "high" and set(signals(f)) == {"camera", "faces"}
    assert signals(f)["faces"]["count"] == 1


def test_bad_camera_register_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="school.cameras"):
        Engine(config(tmp_path, 'cameras = [{ colour = "red" }]'))


# ------------------------------------------------------------------------------------------------ site, trips

def test_taken_on_the_school_site(tmp_path, corpus):
    cfg = config(tmp_path, 'sites = [{ name = "Main site", lat = 53.3829, lon = -1.4567, radius_m = 300 }]')
    # a street scene taken on site, no one in it: location.gps says where and location.school_site that it is the
    # school's premises (issue 18 item 2); it is not a photo of pupils
    v = verdict(cfg, (corpus / IPHONE7).read_bytes())
    assert pupil(v) is None and [f.rule for f in v.findings] == ["location.gps", "location.school_site"]
    f = pupil(verdict(cfg, with_exif_of(astronaut_jpeg(), corpus / IPHONE7)))
    assert f and signals(f)["site"]["site"] == "Main site" and f.evidence["score"] == 1.1 and f.severity == "high"


def test_taken_off_site_is_nothing(tmp_path, corpus):
    cfg = config(tmp_path, 'sites = [{ name = "Main site", lat = 53.40, lon = -1.50, radius_m = 300 }]')
    assert pupil(verdict(cfg, (corpus / IPHONE7).read_bytes())) is None


TRIP = """
[[trips]]
name = "Year 8 New York"
start = 2017-10-01
end = 2017-10-05
"""


def test_trip_dates_alone_are_weak_and_with_faces_count(tmp_path, corpus):
    cfg = config(tmp_path, TRIP)
    assert pupil(verdict(cfg, (corpus / GOPRO).read_bytes())) is None  # 0.2: taken that week, no one in it
    f = pupil(verdict(cfg, with_exif_of(astronaut_jpeg(), corpus / GOPRO)))
    assert f and signals(f)["trip"] == {"signal": "trip", "trip": "Year 8 New York", "match": "dates",
                                        "date": "2017-10-03", "weight": 0.2}


def test_trip_place(tmp_path, corpus):
    cfg = config(tmp_path, TRIP + "place = { lat = 40.6584, lon = -73.9934, radius_m = 1000 }\n")
    assert pupil(verdict(cfg, (corpus / GOPRO).read_bytes())) is None  # no one in it
    f = pupil(verdict(cfg, with_exif_of(astronaut_jpeg(), corpus / GOPRO)))
    assert f and signals(f)["trip"]["match"] == "place" and f.severity == "high"


def test_other_dates_are_not_a_trip(tmp_path, corpus):
    cfg = config(tmp_path, TRIP.replace("2017-10-01", "2017-10-04").replace("2017-10-05", "2017-10-06"))
    f = pupil(verdict(cfg, with_exif_of(astronaut_jpeg(), corpus / GOPRO)))
    assert f is None


def test_bad_trip_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="trips"):
        Engine(config(tmp_path, '[[trips]]\nname = "x"\nstart = "next week"\n'))


# ------------------------------------------------------------------------------------------------------ faces

def test_faces_alone_are_never_a_finding(tmp_path):
    cfg = config(tmp_path, 'cameras = [{ serial = "NOT-THIS-ONE" }]')
    assert pupil(verdict(cfg, astronaut_jpeg())) is None


# ---------------------------------------------------------------------------------------------------- library

@pytest.fixture
def school(tmp_path):
    cfg = config(tmp_path)
    lib = Library.for_config(cfg)
    lib.add_image(encoded(Image.fromarray(skimage_data.coffee())), "Shared drive")
    lib.add_image(astronaut_jpeg(), "Shared drive")
    return cfg


@pytest.mark.parametrize("edit", ["resize 25%", "mirror", "screenshot", "crop 10%"])
def test_library_match_is_high(school, edit):
    copy = encoded(EDITS[edit](Image.fromarray(skimage_data.coffee())))
    f = pupil(verdict(school, copy))
    assert f and f.severity == "high"
    lib = signals(f)["library"]
    assert lib["match"] == "yes" and lib["distance"] <= 63 and lib["source"] == "Shared drive"


def test_unrelated_photo_is_not_in_the_library(school):
    assert pupil(verdict(school, encoded(Image.fromarray(skimage_data.chelsea())))) is None


def test_evidence_holds_no_picture_or_name(school):
    copy = encoded(EDITS["resize 50%"](Image.fromarray(skimage_data.astronaut())))
    f = pupil(verdict(school, copy, name="Jamie-Smith-sports-day.jpg"))
    text = json.dumps(f.evidence)
    assert "Jamie" not in text and len(text) < 1000
    assert set(signals(f)) == {"library"}  # already high: the face detector is not run when it cannot matter


def test_unreadable_picture_fails_open_quietly(school):
    v = verdict(school, b"\xff\xd8\xff\xe0" + b"\0" * 100)
    assert pupil(v) is None


# ------------------------------------------------------------------------------------------------------ video

def test_video_frames_are_matched(school):
    av = pytest.importorskip("av")
    import numpy as np
    frame = np.asarray(Image.fromarray(skimage_data.coffee()).resize((640, 400)))
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        codec = "h264" if "h264" in av.codecs_available or "libx264" in av.codecs_available else "mpeg4"
        stream = out.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = 640, 400, "yuv420p"
        for _ in range(20):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    f = pupil(verdict(school, buf.getvalue(), "clip.mp4"))
    assert f and signals(f)["library"]["match"] == "yes"


# ------------------------------------------------------------------------------------------------------ badge

def test_school_badge_in_a_photo(tmp_path):
    import numpy as np
    from .test_badge import paste, photo, round_crest, shield_crest
    shield_crest().save(tmp_path / "badge.png")
    cfg = config(tmp_path, 'logos = ["badge.png"]')
    scene = paste(photo("coffee"), shield_crest(), 0.25, 10, np.random.default_rng(3))
    f = pupil(verdict(cfg, encoded(scene)))
    assert f and signals(f)["badge"]["logo"] == "badge.png" and signals(f)["badge"]["inliers"] >= 8
    assert pupil(verdict(cfg, encoded(photo("coffee")))) is None
    other = paste(photo("coffee"), round_crest(), 0.25, 10, np.random.default_rng(3))
    assert pupil(verdict(cfg, encoded(other))) is None


def test_missing_logo_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="school.logos.*nowhere.png"):
        Engine(config(tmp_path, 'logos = ["nowhere.png"]'))


# ------------------------------------------------------------------------------------------- the command line

def test_library_add_then_scan(tmp_path, capsys):
    """The admin's flow: `postguard library add` the school's photos, then `postguard scan` finds edited copies."""
    from local_service.cli import main
    photos, posted = tmp_path / "drive" / "2025", tmp_path / "posted"
    photos.mkdir(parents=True)
    posted.mkdir()
    (tmp_path / "config.toml").write_text(f'data_dir = "{(tmp_path / "data").as_posix()}"\n[school]\nname = "T"\n')
    for name in ("coffee", "rocket", "chelsea"):
        Image.fromarray(getattr(skimage_data, name)()).save(photos / f"{name}.jpg", quality=92)
    assert main(["library", "add", "--config", str(tmp_path / "config.toml"), "--source", "Shared drive",
                 str(tmp_path / "drive")]) == 0
    assert "added 3 photos" in capsys.readouterr().out
    Image.fromarray(skimage_data.coffee()).resize((300, 200)).save(posted / "small.jpg", quality=60)
    Image.fromarray(skimage_data.astronaut()).save(posted / "unrelated.jpg")
    code = main(["scan", "--config", str(tmp_path / "config.toml"), str(posted)])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_name = {line["path"].rsplit("/", 1)[-1]: line for line in lines}
    assert code == 1
    assert [f["rule"] for f in by_name["small.jpg"]["findings"]] == ["pupil.image"]
    assert by_name["small.jpg"]["findings"][0]["severity"] == "high"
    assert by_name["unrelated.jpg"]["findings"] == []
    export = tmp_path / "school.jsonl.gz"
    assert main(["library", "export", "--config", str(tmp_path / "config.toml"), str(export)]) == 0
    (tmp_path / "other.toml").write_text(f'data_dir = "{(tmp_path / "other").as_posix()}"\n')
    assert main(["library", "import", "--config", str(tmp_path / "other.toml"), str(export)]) == 0
    assert "imported 3 photos" in capsys.readouterr().out


def test_warm_up_loads_the_library_before_the_first_post(school):
    engine = Engine(school)
    detector = next(d for d, _ in engine._detectors if d.id == "pupil_image")
    assert detector.library._index is None
    engine.warm_up()
    assert detector.library._index is not None and len(detector.library) == 2


def test_each_file_is_inspected_once_per_post(tmp_path, corpus, monkeypatch):
    """The location and pupil-image rules read the same metadata: one walk of the file serves both."""
    from rules import media
    calls = []
    real = media.inspect
    monkeypatch.setattr(media, "inspect", lambda data: calls.append(len(data)) or real(data))
    cfg = config(tmp_path, 'cameras = [{ serial = "123063022888" }]')
    v = verdict(cfg, (corpus / CANON_600D).read_bytes())
    assert {"location.gps", "pupil.image"} <= {f.rule for f in v.findings} and len(calls) == 1
