"""Per-install secrets in the data folder: the extension's API token and the session signing key.

Each is a file readable by its owner only (0600) in a folder only its owner can enter (0700).
"""
from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from rules.config import Config, write_private

TOKEN_FILE, SESSION_KEY_FILE = "token", "session_key"


def secret_file(config: Config, name: str, create: bool = True) -> Path:
    path = config.data_dir / name
    if not path.exists() and create:
        write_private(path, secrets.token_urlsafe(32) + "\n")
    elif path.exists() and os.name == "posix" and stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(0o600)  # someone loosened it: a token others can read is no token
    return path


def read_secret(config: Config, name: str) -> str:
    return secret_file(config, name).read_text().strip()


def rotate(config: Config, name: str) -> str:
    path = config.data_dir / name
    write_private(path, secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()
