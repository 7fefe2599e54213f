"""Content-addressed input files: each file a conversation keeps is stored once, under
``<home>/blobs/<sha256>``, and hard-linked into the thread folders that use it (:class:`BlobStore`)."""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
import uuid
from pathlib import Path

__all__ = ["BlobStore", "CHUNK_BYTES", "STALE_TEMP_S"]

log = logging.getLogger("mixingbuddy.agent")
CHUNK_BYTES = 1 << 20
STALE_TEMP_S = 3600.0  # a temporary file this old was left by a process killed mid-copy
_TMP_PREFIX = ".tmp-"


class BlobStore:
    """The ``blobs/`` folder of a MixingBuddy home.

    A blob is named by the SHA-256 of its bytes (FIPS 180-4), written to a temporary file in the
    same folder, flushed to disk and renamed into place (``os.replace`` is atomic on POSIX and
    Windows), so a blob is either whole or absent. Blobs are read-only. A thread refers to a blob
    by a hard link in its own folder, under the name the user gave (sanitised): the link count is
    the reference count, so deleting a thread folder drops its references and
    :meth:`collect_garbage` removes blobs nothing links to. Where the file system refuses hard
    links, the thread gets a plain copy (and the blob, unreferenced, is collected).
    """

    def __init__(self, home: str | os.PathLike):
        self.root = Path(home) / "blobs"

    def put(self, src: str | os.PathLike) -> Path:
        """Store ``src`` (once) and return its blob path."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f"{_TMP_PREFIX}{uuid.uuid4().hex}"
        digest = hashlib.sha256()
        try:
            with open(os.fspath(src), "rb") as fin, open(tmp, "xb") as fout:
                while chunk := fin.read(CHUNK_BYTES):
                    digest.update(chunk)
                    fout.write(chunk)
                fout.flush()
                os.fsync(fout.fileno())
            final = self.root / digest.hexdigest()
            if final.exists():
                tmp.unlink()
            else:
                os.chmod(tmp, 0o444)
                os.replace(tmp, final)
            return final
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def link(self, src: str | os.PathLike, dst: Path, blob: Path | None = None) -> Path:
        """Store ``src`` and make ``dst`` a reference to its blob (a hard link, else a copy);
        ``blob``: ``src``'s blob when :meth:`put` has stored it already."""
        for _ in range(3):  # a collector in another process may remove the blob between put and link
            blob = blob or self.put(src)
            try:
                os.link(blob, dst)
                return dst
            except FileNotFoundError:
                blob = None  # collected meanwhile: store it again
                continue
            except OSError:  # no hard links here (some network and FAT file systems)
                shutil.copyfile(blob, dst)
                return dst
        shutil.copyfile(os.fspath(src), dst)
        return dst

    def collect_garbage(self) -> tuple[int, int]:
        """Remove blobs no thread links to, and temporary files of killed copies.

        Returns
        -------
        (count, bytes) removed.
        """
        if not self.root.is_dir():
            return 0, 0
        count = size = 0
        now = time.time()
        for entry in os.scandir(self.root):
            try:
                st = entry.stat(follow_symlinks=False)
                stale_tmp = entry.name.startswith(_TMP_PREFIX) and now - st.st_mtime > STALE_TEMP_S
                if stale_tmp or (not entry.name.startswith(_TMP_PREFIX) and st.st_nlink <= 1):
                    os.unlink(entry.path)
                    count, size = count + 1, size + st.st_size
            except FileNotFoundError:
                continue
            except OSError:
                log.warning("could not remove the unused blob %s", entry.path, exc_info=True)
        return count, size
