"""The detector registry: an explicit list, like mitmproxy's default_addons(). No discovery."""
from __future__ import annotations

from .base import Detector, Hit
from .contact import ContactDetector
from .contact_details import ContactDetailsDetector
from .documents import DocumentsDetector
from .location import LocationDetector
from .personal_data import PersonalDataDetector
from .pupil_image import PupilImageDetector
from .school_email import SchoolEmailDetector
from .school_identity import SchoolIdentityDetector
from .school_site import SchoolSiteDetector
from .wikipedia import WikipediaDetector

DETECTORS: list[type[Detector]] = [
    LocationDetector,
    SchoolEmailDetector,
    WikipediaDetector,
    PersonalDataDetector,
    PupilImageDetector,
    ContactDetector,
    SchoolSiteDetector,
    ContactDetailsDetector,
    DocumentsDetector,
    SchoolIdentityDetector,
]

__all__ = ["DETECTORS", "Detector", "Hit", "detector_for", "known_rules", "sanitisable_rules"]


def known_rules() -> dict[str, type[Detector]]:
    return {rule: d for d in DETECTORS for rule in d.rules}


def sanitisable_rules() -> set[str]:
    return {rule for d in DETECTORS for rule in d.sanitises}


def detector_for(rule: str) -> type[Detector]:
    try:
        return known_rules()[rule]
    except KeyError:
        raise KeyError(f"no detector provides rule {rule!r}") from None
