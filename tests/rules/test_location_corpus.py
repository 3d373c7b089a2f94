"""Location detection over the real-file corpus, checked against ExifTool's ground truth."""
import pytest

from rules import Attachment, Engine, Submission
from tests.conftest import corpus_cases, expected_location, manifest

ENTRIES = manifest()


@pytest.fixture(scope="module")
def engine():
    return Engine()


# Corpus files whose metadata cannot be read whole: reported as inspection errors (never "nothing found"), and strip
# refuses them. ExifTool skips broken.jpg's GPS IFD and calls it GPS-free; what PostGuard cannot read, it never
# calls clean.
UNREADABLE = {"nom-exif/broken.jpg": "IFD at 3132 claims 1536 entries"}


def gps_findings(engine, data: bytes, name: str):
    verdict = engine.evaluate(Submission(files=[Attachment(name, data)]))
    if name in UNREADABLE:
        assert any(UNREADABLE[name] in e for e in verdict.errors), verdict.errors
    else:
        assert not verdict.errors
    return [f for f in verdict.findings if f.rule == "location.gps"]


@pytest.mark.parametrize("entry", corpus_cases(ENTRIES), ids=lambda e: e["file"])
def test_gps_found_exactly_where_the_ground_truth_has_it(engine, corpus, entry):
    data = (corpus / entry["file"]).read_bytes()
    findings = gps_findings(engine, data, entry["file"])
    expected = expected_location(entry)
    if expected is None:
        assert findings == [], f"no real location in {entry['file']}, but found {findings[0].evidence}"
        return
    assert len(findings) == 1
    ev = findings[0].evidence
    if expected[0] is not None:
        carriers = [(c["lat"], c["lon"]) for c in ev["carriers"]]
        assert any(abs(lat - expected[0]) < 1e-4 and abs(lon - expected[1]) < 1e-4 for lat, lon in carriers), \
            f"expected {expected}, found {carriers}"
        assert abs(ev["lat"] - expected[0]) < 1e-4 and abs(ev["lon"] - expected[1]) < 1e-4


def test_corpus_is_all_there(corpus):
    assert len(ENTRIES) == 115
    assert sum(expected_location(e) is not None for e in ENTRIES) == 49


@pytest.mark.parametrize("entry", corpus_cases([e for e in ENTRIES if e["file"].endswith((".jpg", ".heic", ".png", ".mp4"))][:12]),
                         ids=lambda e: e["file"])
def test_the_name_does_not_matter(engine, corpus, entry):
    """Content is sniffed: a file renamed to another extension gives the same answer."""
    data = (corpus / entry["file"]).read_bytes()
    assert [f.evidence for f in gps_findings(engine, data, "renamed.txt")] == \
        [f.evidence for f in gps_findings(engine, data, entry["file"])]


def test_last_chunk_of_a_resumable_video_upload(corpus):
    """Uploaders send videos in chunks; an MP4's moov, with the location, is often in the last one."""
    from rules import media

    data = (corpus / "nom-exif" / "meta.mp4").read_bytes()
    last = data[int(len(data) * 0.6):]
    report = media.inspect(last)
    assert report.format == "MP4 fragment"
    assert [(round(c.lat, 4), round(c.lon, 4)) for c in report.real_coordinates] == [(27.2939, 112.6932)]
    cleaned = media.strip(last)
    assert len(cleaned) == len(last) and media.inspect(cleaned).real_coordinates == []
    assert media.inspect(data[:len(data) // 2]).real_coordinates == []  # the first half holds no location
