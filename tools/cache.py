"""The folder for downloaded and derived files, and the file fingerprint that keys them."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

__all__ = ["cache_dir", "sha256_file", "sha256_file_remembered"]


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


def sha256_file_remembered(path: str | os.PathLike) -> str:
    """:func:`sha256_file`, computed once per file version: the digest is remembered in
    ``cache_dir()/fingerprints.json`` under the file's absolute path with its size and
    modification time, so a start-up does not re-read a large file it has hashed before (the
    file may live where nothing can be written beside it, e.g. inside an installed wheel). A
    changed size or time hashes again; an unwritable cache only costs the time."""
    p = os.path.abspath(path)
    st = os.stat(p)
    version = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    index = cache_dir() / "fingerprints.json"
    try:
        known = json.loads(index.read_text(encoding="utf-8"))
        if not isinstance(known, dict):
            known = {}
    except (OSError, ValueError):
        known = {}
    entry = known.get(p)
    if isinstance(entry, dict) and {k: entry.get(k) for k in version} == version and entry.get("sha256"):
        return str(entry["sha256"])
    digest = sha256_file(p)
    known[p] = {**version, "sha256": digest}
    try:
        index.parent.mkdir(parents=True, exist_ok=True)
        tmp = index.with_name(f".{index.name}.{os.getpid()}")
        tmp.write_text(json.dumps(known, indent=1), encoding="utf-8")
        os.replace(tmp, index)
    except OSError:
        pass
    return digest
