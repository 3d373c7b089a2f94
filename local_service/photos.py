"""/api/v1/photos/needs: whether a photo's pixels can change this service's verdict (issue 18 item 9).

When they cannot, the extension sends a big photo's metadata only, read by slices (extension/src/lib/slices.js),
and the dialog comes in a fraction of the time the whole file takes; when they can, `previews` says this service
takes a downscaled copy as the photo's pixels (its file's `pixels`, looked at by pupil.image), sent with the slices. Pixels matter when pupil.image runs with
something to look for in them: the school's photo library or badge, or faces beside a camera, site or trip signal
(people in the picture complete those). Asked again with the health check, so a change to the config or library is
followed within a minute. The app's gate has already checked the Host, the Origin and the token.
"""
from __future__ import annotations

from flask import Blueprint, jsonify

from rules.images import context

from .services import services

bp = Blueprint("photos", __name__, url_prefix="/api/v1/photos")


def pixels_matter(config, pack) -> list[str]:
    """Why the pixels can change the verdict ([] when they cannot)."""
    if "pupil.image" not in pack.active:
        return []
    why = []
    if context.logos(config):
        why.append("the school badge")
    if context.cameras(config) or config.school.sites or context.trips(config):
        why.append("faces beside a school camera, site or trip")
    from rules.images.library import Library  # numpy and the hash index: only when asked
    if len(Library.for_config(config)):
        why.append("the school's photo library")
    return why


@bp.get("/needs")
def needs():
    s = services()
    why = pixels_matter(s.config, s.engine.pack)
    # previews: a check may send a big photo's metadata with a downscaled copy (its file's `pixels`), which
    # pupil.image looks at instead (the engine decodes at most 1024 px anyway); api.py _submission reads it
    return jsonify(pixels=bool(why), why=why, previews=True)
