"""Frames from videos: clips made here with PyAV (each frame carries its own number), the corpus's real clips,
and broken input."""
import io
import json
import time
import wave

import av
import numpy as np
import pytest
from PIL import Image

from rules.images.video import MAX_SIDE_PX, VideoError, frames

FPS, SECONDS, SIZE = 25, 3, (640, 360)
COLOURS = [(220, 40, 40), (40, 200, 60), (40, 70, 220)]  # one per second of the clip
BITS = 8


def picture(index: int, size=SIZE) -> np.ndarray:
    """A solid colour for the second, and the frame number as black and white squares along the bottom."""
    width, height = size
    img = np.zeros((height, width, 3), np.uint8)
    img[:] = COLOURS[index // FPS % len(COLOURS)]
    cell = width // BITS
    for bit in range(BITS):
        img[height - cell:, bit * cell:(bit + 1) * cell] = 255 if index >> bit & 1 else 0
    return img


def number(rgb: np.ndarray) -> int:
    height, width = rgb.shape[:2]
    cell = width / BITS
    return sum(1 << bit for bit in range(BITS) if rgb[int(height - cell / 2), int((bit + 0.5) * cell)].mean() > 127)


def encoder(*names: str) -> str:
    found = [n for n in names if n in av.codecs_available]
    if not found:
        pytest.skip(f"this PyAV wheel has none of {names}")
    return found[0]


def clip(fmt: str, codec: str, *, seconds=SECONDS, size=SIZE, gop=None, options=None, fast=False) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=fmt, options=options or {}) as out:
        quick = {"libx264": {"preset": "ultrafast"}, "libvpx": {"deadline": "realtime", "cpu-used": "8"}}
        stream = out.add_stream(codec, rate=FPS, options=quick.get(codec, {}) if fast else {})
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        if gop:
            stream.codec_context.gop_size = gop
        for i in range(seconds * FPS):
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture(i, size), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


KINDS = {
    "mp4-h264": lambda: clip("mp4", encoder("libx264", "mpeg4")),
    "mp4-h264-one-keyframe": lambda: clip("mp4", encoder("libx264", "mpeg4"), gop=250),
    "mov-mpeg4": lambda: clip("mov", encoder("mpeg4")),
    "webm-vp8": lambda: clip("webm", encoder("libvpx"), fast=True),  # libvpx's default takes 8 s for this
    "webm-vp9": lambda: clip("webm", encoder("libvpx-vp9")),
    "mkv-h264": lambda: clip("matroska", encoder("libx264", "mpeg4")),
}
_made: dict[str, bytes] = {}


def made(kind: str) -> bytes:
    if kind not in _made:
        _made[kind] = KINDS[kind]()
    return _made[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_first_frame_is_frame_zero_and_one_frame_comes_from_each_part(kind):
    got = [number(f) for f in frames(made(kind))]
    part = SECONDS * FPS / 6
    assert got[0] == 0 and len(got) == 6, got
    for i, n in enumerate(got[1:], start=1):
        assert i * part <= n < (i + 1) * part, got


def test_frames_are_rgb_in_display_size():
    got = frames(made("mp4-h264"), max_side=320)
    assert all(f.dtype == np.uint8 and f.shape == (180, 320, 3) for f in got)
    assert np.allclose(got[0][40, 160], COLOURS[0], atol=30)  # red stays red: not BGR
    assert np.allclose(got[-1][40, 160], COLOURS[2], atol=30)


@pytest.mark.parametrize("count, expected", [(0, []), (1, [0]), (3, [0, 25, 50])])
def test_count(count, expected):
    assert [number(f) for f in frames(made("mp4-h264"), count=count)] == expected


def test_no_budget_still_gives_the_first_frame_only():
    assert [number(f) for f in frames(made("mp4-h264-one-keyframe"), budget_s=0)] == [0]


def test_budget_stops_decoding_on_a_clip_with_one_keyframe(monkeypatch):
    """Reaching the later parts of a one-keyframe clip means decoding every frame before them; the budget stops
    that. A clock that moves 10 ms per look makes this independent of the machine's speed."""
    import rules.images.video as video
    data = clip("mp4", encoder("libx264", "mpeg4"), seconds=4, size=(640, 360), gop=250, fast=True)
    now = [0.0]

    def tick():
        now[0] += 0.01
        return now[0]
    monkeypatch.setattr(video, "monotonic", tick)
    got = frames(data, budget_s=0.05)
    assert 1 <= len(got) < 6 and number(got[0]) == 0


def _fragmented() -> bytes:
    return clip("mp4", encoder("libx264", "mpeg4"), options={"movflags": "frag_keyframe+empty_moov"})


@pytest.mark.parametrize("make, cut, outcome", [
    (lambda: made("mp4-h264"), 0.1, VideoError),  # the index (moov) is written last: the cut loses it
    (lambda: made("mp4-h264"), 0.5, VideoError),
    (_fragmented, 0.5, "first half"),  # fragmented MP4, as streamed uploads are: the start still plays
    (lambda: made("webm-vp9"), 0.5, "first half"),
    (lambda: made("mkv-h264"), 0.5, "first half"),
    (lambda: made("webm-vp9"), 0.1, []),
])
def test_truncated_clip(make, cut, outcome):
    data = make()
    data = data[:int(len(data) * cut)]
    if outcome is VideoError:
        with pytest.raises(VideoError):
            frames(data)
    elif outcome == "first half":
        got = [number(f) for f in frames(data)]
        assert got[0] == 0 and 2 <= len(got) < 6 and max(got) < SECONDS * FPS * 0.75, got
    else:
        assert frames(data) == outcome


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (50, 40), "red").save(buf, "JPEG")
    return buf.getvalue()


def _wav() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 8000)
    return buf.getvalue()


def _m4a() -> bytes:
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream("aac", rate=44100)
        for i in range(20):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 44100, i * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def _wide(width: int) -> bytes:
    """A motion-JPEG clip 16 px high: cheap to make at any width."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="avi") as out:
        stream = out.add_stream("mjpeg", rate=5)
        stream.width, stream.height, stream.pix_fmt = width, 16, "yuvj420p"
        for _ in range(3):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.full((16, width, 3), 99, np.uint8))):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


@pytest.mark.parametrize("make, outcome", [
    (lambda: b"", VideoError),
    (lambda: b"hello, this is not a video", VideoError),
    (lambda: np.random.default_rng(1).integers(0, 256, 100_000, dtype=np.uint8).tobytes(), VideoError),
    (_wav, []),  # audio only
    (_m4a, []),  # an MP4 with only an AAC track
    (lambda: _wide(MAX_SIDE_PX + 8), []),  # refused: frames this large are not decoded
    (lambda: _wide(MAX_SIDE_PX - 192), 3),  # the same clip, just under the limit
    (_jpeg, 1),  # FFmpeg reads a still picture as a one-frame video
], ids=["empty", "text", "random", "wav", "m4a", "too-wide", "just-under", "jpeg"])
def test_input_that_is_not_a_usable_video(make, outcome):
    data = make()
    if outcome is VideoError:
        with pytest.raises(VideoError):
            frames(data)
    elif isinstance(outcome, int):
        assert len(frames(data)) == outcome
    else:
        assert frames(data) == outcome


# The corpus's video files: how many frames each really holds (PyAV, checked by hand), and why some hold none.
CORPUS_VIDEOS = [
    ("exiv2/sample_640x360.mov", 6, "landscape"),  # 13 s, keyframes 8 s apart
    ("nom-exif/3gp_640x360.3gp", 6, "landscape"),
    ("exiv2/small_video.mp4", 6, "portrait"),  # HEVC
    ("gpmf-parser/karma.mp4", 6, "landscape"),  # GoPro, with telemetry tracks
    ("gpmf-parser/max-heromode.mp4", 6, "landscape"),
    ("nom-exif/meta.mov", 6, "portrait"),  # iPhone
    ("nom-exif/meta.mp4", 6, "portrait"),  # 1920x1080 stored, turned upright by its display matrix
    ("jcodec/orientation.mp4", 2, "portrait"),  # two frames in all
    ("jcodec/itunes.mov", 1, "portrait"),  # one frame, display matrix -90
    ("nom-exif/auth.mov", 1, "portrait"),
    ("nom-exif/udta.auth.mp4", 1, "portrait"),  # HEVC, one frame
    ("exiftool/QuickTime.mov", 0, None),  # ExifTool's test stub: sample tables, no sample data
    ("jcodec/keyed.mp4", 0, None),  # the video track's samples are not in the file
    ("jcodec/keyed.truncated50.mp4", 0, None),
    ("nom-exif/sony-a7-xavc.MP4", 0, None),  # a 2.7 KB header without media
    ("nom-exif/crash_moov-trak", 0, None),  # a track without a codec
    ("exiv2/issue_ghsa_crmj_qh74_2r36_poc.mov", VideoError, None),  # a fuzzer's file
    ("nom-exif/meta.truncated50.mov", VideoError, None),  # index at the end, cut away
    ("nom-exif/meta.truncated50.mp4", VideoError, None),
]


@pytest.mark.parametrize("name, expected, orientation", CORPUS_VIDEOS, ids=[c[0] for c in CORPUS_VIDEOS])
def test_corpus_video(corpus, name, expected, orientation):
    path = corpus / name
    if not path.exists():
        pytest.skip(f"corpus file {path} is not here")
    data = path.read_bytes()
    if expected is VideoError:
        with pytest.raises(VideoError):
            frames(data)
        return
    start = time.perf_counter()
    got = frames(data, budget_s=10)  # the count is what is tested here; the budget has its own test
    seconds = time.perf_counter() - start
    print(f"\nvideo: {name}: {len(got)} frames in {1000 * seconds:.0f} ms")
    assert len(got) == expected
    for f in got:
        assert f.dtype == np.uint8 and f.ndim == 3 and max(f.shape[:2]) <= 1024
        assert (f.shape[0] > f.shape[1]) == (orientation == "portrait")


def test_corpus_lists_every_video_file(corpus):
    manifest = corpus / "manifest.jsonl"
    videos = {json.loads(line)["file"] for line in manifest.read_text().splitlines()
              if line.strip() and json.loads(line)["format"] in ("MP4", "MOV", "3GP", "M4V")}
    assert videos == {c[0] for c in CORPUS_VIDEOS}
