"""Corrupt, truncated, zero-byte and mislabelled input: never an exception, never a hang."""
import random

import pytest

from rules import Attachment, Engine, Submission, media
from tests.conftest import manifest

ENTRIES = manifest()


@pytest.mark.parametrize("data", [b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF\0\0\0\0WEBP", b"II*\0",
                                  b"MM\0*\0\0\0\x08\xff\xff", b"\0\0\0\x18ftypheic", b"GIF89a", b"<?xpacket",
                                  b"\0\0\0\x01moov" + b"\xff" * 8, b"Exif\0\0II*\0\xff\xff\xff\xff"])
def test_fragments_do_not_crash(data):
    report = media.inspect(data)
    assert report.real_coordinates == []


def test_every_corpus_file_cut_anywhere(corpus):
    rng = random.Random(7)
    for entry in ENTRIES:
        data = (corpus / entry["file"]).read_bytes()
        for cut in {0, 1, 7, 8, 12, 64, len(data) // 3, len(data) - 1} | {rng.randrange(len(data)) for _ in range(4)}:
            media.inspect(data[:max(cut, 0)])


def test_every_corpus_file_with_flipped_bytes(corpus):
    rng = random.Random(11)
    for entry in ENTRIES:
        data = bytearray((corpus / entry["file"]).read_bytes()[:200_000])
        for _ in range(6):
            mutated = bytearray(data)
            for _ in range(8):
                i = rng.randrange(len(mutated))
                mutated[i] = rng.randrange(256)
            report = media.inspect(bytes(mutated))
            if report.patches:  # whatever we would remove must still apply
                media.apply_patches(bytes(mutated), report.patches)


def test_a_crashing_detector_does_not_stop_the_verdict(monkeypatch):
    engine = Engine()

    def boom(*args, **kwargs):
        raise RuntimeError("detector bug")

    monkeypatch.setattr(media, "inspect", boom)
    verdict = engine.evaluate(Submission(files=[Attachment("x.jpg", b"\xff\xd8\xff")]))
    assert verdict.decision == "allow"
    assert verdict.errors and "detector bug" in verdict.errors[0]
