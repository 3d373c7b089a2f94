"""A few frames from a video, at a bounded cost, for the picture checks (faces, badge, library hashes).

The clip is cut into `count` equal parts: the first frame stands for the first part, and each other part gives
the keyframe before its middle if that keyframe lies inside the part, else the first frame of the part (seek to
the keyframe before, decode forward; no seek when no keyframe lies between the decoder and the part). Phone
videos have a keyframe about every second, so that is one seek and a few decoded frames per part; a camera that
puts 8 seconds between keyframes costs decoding most of the clip, which the time budget bounds. Everything is
read from memory with PyAV, on one decoder thread. A clip whose container gives no duration (a raw stream) gives
its first frame only. Frames are turned upright by their display matrix; non-square pixels are not corrected.

Errors: `VideoError` (a ValueError) only when no demuxer opens the bytes at all (empty, random, an MP4 cut before
its index, which is written last): the caller logs an inspection error. Anything that opens returns a list, possibly empty:
audio only, a metadata stub without samples, a stream cut short (the frames decoded before the error), frames
larger than MAX_SIDE_PX. A still picture that FFmpeg reads (JPEG, animated GIF) opens too and gives its frames.
"""
from __future__ import annotations

import io
from time import monotonic

import numpy as np

MAX_SIDE_PX = 8192  # refuse to decode anything larger: a crafted header can ask for gigabytes per frame
FIRST_FRAME_S = 0.5  # the first frame is looked for this long even when the budget is smaller


class VideoError(ValueError):
    """Bytes that no installed demuxer opens as a container."""


def frames(data: bytes, *, count: int = 6, max_side: int = 1024, budget_s: float = 2.0) -> list[np.ndarray]:
    """Up to `count` RGB uint8 frames (long side at most `max_side`, turned upright), first frame first."""
    import av
    start = monotonic()
    try:
        container = av.open(io.BytesIO(data), mode="r", metadata_errors="replace")
    except Exception as exc:  # PyAV raises FFmpeg errors, and others for odd input; all mean "not a container"
        raise VideoError(f"not a video PostGuard can read: {exc}") from None
    out: list[np.ndarray] = []
    with container:
        try:
            _sample(container, out, count, max_side, start + budget_s, start + max(budget_s, FIRST_FRAME_S))
        except Exception:  # a broken stream ends the sampling; what was decoded before the error is still good
            pass
    return out


def _sample(container, out: list, count: int, max_side: int, deadline: float, first_deadline: float) -> None:
    streams = [s for s in container.streams.video if s.codec_context is not None]
    if not streams or count < 1:
        return
    stream = max(streams, key=lambda s: s.codec_context.width * s.codec_context.height)  # not a thumbnail track
    context = stream.codec_context
    if max(context.width, context.height) > MAX_SIDE_PX:
        return
    context.thread_count = 1  # a staff laptop may have two cores, and the browser is waiting on them
    context.options = {"max_pixels": str(MAX_SIDE_PX * MAX_SIDE_PX)}  # the decoder refuses larger frames mid-stream
    base = stream.time_base
    origin = float(stream.start_time * base) if stream.start_time is not None else 0.0
    duration = _duration(container, stream)

    decoded = _decoded(container, stream)
    frame = _next(decoded, float("-inf"), first_deadline)
    if frame is None:
        return
    out.append(_rgb(frame, max_side))
    taken = frame.time if frame.time is not None else origin
    if not duration:
        return
    spacing = duration / count
    for i in range(1, count):
        middle = origin + (i + 0.5) * spacing
        key = _keyframe_before(stream, middle)
        if key is None or key > taken:  # decoding on from where we are is cheaper when no keyframe lies between
            container.seek(int(middle / base), stream=stream, backward=True)
            decoded = _decoded(container, stream)
        frame = _next(decoded, max(origin + i * spacing, taken + 1e-6), deadline)
        if frame is None:
            return
        out.append(_rgb(frame, max_side))
        taken = frame.time if frame.time is not None else taken


def _decoded(container, stream):
    """Frames from the current position, and None after each packet so that the caller can look at the clock."""
    for packet in container.demux(stream):
        yield None
        for frame in packet.decode():
            if max(frame.width, frame.height) <= MAX_SIDE_PX:
                yield frame


def _next(decoded, earliest: float, deadline: float):
    """The first frame at `earliest` seconds or later, or None at the end of the stream or of the time budget."""
    for frame in decoded:
        if frame is None:
            if monotonic() > deadline:
                return None
        elif frame.time is None or frame.time >= earliest:
            return frame
    return None


def _keyframe_before(stream, wanted: float) -> float | None:
    """Time of the last keyframe at or before `wanted`, from the container's index (MP4 and MOV have one)."""
    entries = stream.index_entries
    i = entries.search_timestamp(int(wanted / stream.time_base), backward=True) if len(entries) else -1
    return float(entries[i].timestamp * stream.time_base) if i >= 0 else None


def _duration(container, stream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000  # AV_TIME_BASE
    return None


def _rgb(frame, max_side: int) -> np.ndarray:
    scale = min(1.0, max_side / max(frame.width, frame.height))
    width, height = max(2, round(frame.width * scale)), max(2, round(frame.height * scale))
    rgb = frame.to_ndarray(format="rgb24", width=width, height=height)
    turns = round(frame.rotation / 90) % 4  # the display matrix's counter-clockwise angle, as phones record it
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb
