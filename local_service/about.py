"""What this copy of PostGuard is: its version, from the installed package's metadata (pyproject.toml); a PyInstaller
bundle carries that metadata (make dist: --copy-metadata postguard)."""
from __future__ import annotations

from importlib import metadata


def version() -> str:
    try:
        return metadata.version("postguard")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"
