"""The folder for downloaded and derived files, and the file fingerprint that keys them."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["cache_dir", "sha256_file"]


def cache_dir() -> Path:
    """``$MIXINGBUDDY_CACHE`` or ``~/.cache/mixingbuddy`` (never inside the repository)."""
    return Path(os.environ.get("MIXINGBUDDY_CACHE") or Path.home() / ".cache" / "mixingbuddy").expanduser()


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in 4 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()
