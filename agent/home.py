"""The bookkeeping of a MixingBuddy home: which conversations exist, when they were made and
last used, whether their review finished (:class:`ThreadIndex`), which are in use by a running
process (:class:`ThreadLock`), and what each one costs on disk (:func:`folder_bytes`)."""
from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

try:  # POSIX; elsewhere a lock is never held and the sweep relies on age alone
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["NO_ANSWER", "UNLOCKED_REVIEW_GRACE_S", "ThreadIndex", "ThreadLock", "ThreadSummary",
           "folder_bytes", "retention_days_from_env"]

NO_ANSWER = "(no answer: interrupted)"
# where file locks do not exist, a review row younger than this is taken to be still running
UNLOCKED_REVIEW_GRACE_S = 6 * 3600.0
_SCHEMA = """CREATE TABLE IF NOT EXISTS mixingbuddy_threads (
    thread_id TEXT PRIMARY KEY,
    created_unix REAL NOT NULL,
    last_active_unix REAL NOT NULL,
    title TEXT,
    turns INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL
)"""


@dataclass
class ThreadSummary:
    """One conversation of a home, for a list (``mixingbuddy threads list``, the app).

    ``status``: ``done`` (a finished review, ready for questions), ``reviewing`` (a review running
    in some process) or ``audio_only`` (a folder whose conversation record is gone, e.g. with a
    damaged database; it can only be deleted). ``turns``: follow-up questions answered.
    ``size_bytes``: the thread's files; ``frees_bytes``: what deleting it frees (input files
    shared with other conversations stay).
    """

    thread_id: str
    created_unix: float
    last_active_unix: float
    title: str | None
    turns: int
    status: str
    size_bytes: int
    frees_bytes: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class ThreadIndex:
    """The ``mixingbuddy_threads`` table, kept in the conversation database beside LangGraph's
    tables: one row per conversation, written when a review starts (``reviewing``), when it
    finishes (``done``) and after each answered question. The checkpoints stay the truth; the
    row is what makes listing cheap and tells a finished review from one a crash cut short."""

    def __init__(self, saver: Any):
        self._saver = saver  # its cursor() serialises every use of the shared connection
        with saver.cursor() as cur:
            cur.execute(_SCHEMA)

    def rows(self) -> dict[str, dict[str, Any]]:
        with self._saver.cursor(transaction=False) as cur:
            cur.execute("SELECT thread_id, created_unix, last_active_unix, title, turns, status "
                        "FROM mixingbuddy_threads")
            keys = ("thread_id", "created_unix", "last_active_unix", "title", "turns", "status")
            return {r[0]: dict(zip(keys, r)) for r in cur.fetchall()}

    def checkpointed(self) -> dict[str, tuple[str, str]]:
        """Thread ids with checkpoints -> (first, last) checkpoint id (time-ordered ids)."""
        with self._saver.cursor(transaction=False) as cur:
            cur.execute("SELECT thread_id, MIN(checkpoint_id), MAX(checkpoint_id) FROM checkpoints "
                        "GROUP BY thread_id")
            return {r[0]: (r[1], r[2]) for r in cur.fetchall()}

    def put(self, thread_id: str, *, created_unix: float, last_active_unix: float, title: str | None,
            turns: int, status: str) -> None:
        with self._saver.cursor() as cur:
            cur.execute("INSERT OR REPLACE INTO mixingbuddy_threads VALUES (?, ?, ?, ?, ?, ?)",
                        (thread_id, created_unix, last_active_unix, title, int(turns), status))

    def started(self, thread_id: str) -> None:
        now = time.time()
        self.put(thread_id, created_unix=now, last_active_unix=now, title=None, turns=0, status="reviewing")

    def finished(self, thread_id: str, title: str | None) -> None:
        with self._saver.cursor() as cur:
            cur.execute("UPDATE mixingbuddy_threads SET status = 'done', title = ?, last_active_unix = ? "
                        "WHERE thread_id = ?", (title, time.time(), thread_id))

    def answered(self, thread_id: str) -> None:
        with self._saver.cursor() as cur:
            cur.execute("UPDATE mixingbuddy_threads SET turns = turns + 1, last_active_unix = ? "
                        "WHERE thread_id = ?", (time.time(), thread_id))

    def remove(self, thread_id: str) -> None:
        with self._saver.cursor() as cur:
            cur.execute("DELETE FROM mixingbuddy_threads WHERE thread_id = ?", (thread_id,))

    def compact(self, thread_id: str) -> None:
        """Keep only the thread's latest checkpoint (and its pending writes): every checkpoint
        holds the whole state, so the history of steps would grow the database by the full
        report at every node of every turn; the conversation itself lives in the latest one."""
        with self._saver.cursor() as cur:
            cur.execute("SELECT MAX(checkpoint_id) FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ''",
                        (thread_id,))
            latest = cur.fetchone()[0]
            if latest is None:
                return
            cur.execute("DELETE FROM checkpoints WHERE thread_id = ? AND checkpoint_id < ?", (thread_id, latest))
            cur.execute("DELETE FROM writes WHERE thread_id = ? AND checkpoint_id < ?", (thread_id, latest))

    def vacuum(self) -> None:
        """Give the space of deleted conversations back to the file system."""
        with self._saver.cursor(transaction=False) as cur:
            try:
                self._saver.conn.commit()
                cur.execute("VACUUM")
            except sqlite3.OperationalError:  # another process is reading: the pages are reused anyway
                pass


class ThreadLock:
    """An exclusive advisory lock (``flock``) on ``<home>/locks/<thread_id>.lock``, held while a
    process reviews, answers on or deletes the thread. The operating system drops it when the
    process dies, ``kill -9`` included, so a thread whose lock can be taken is not in use."""

    def __init__(self, home: str | os.PathLike, thread_id: str):
        self.path = Path(home) / "locks" / f"{thread_id}.lock"
        self._fd: int | None = None

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock; False (non-blocking only) when another holder has it."""
        if fcntl is None:  # pragma: no cover - Windows
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self, remove: bool = False) -> None:
        if self._fd is None:
            return
        if remove:
            self.path.unlink(missing_ok=True)
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    def busy(self) -> bool:
        """Whether another holder (another process, or another open in this one) has the lock."""
        if not self.acquire(blocking=False):
            return True
        self.release()
        return False

    def __enter__(self) -> ThreadLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def folder_bytes(folder: Path) -> tuple[int, int]:
    """(size, freed if deleted) of the files under ``folder``: each file counted once per inode;
    a file is freed when no link outside the folder other than its blob refers to it (a plain
    copy, or a blob only this thread uses)."""
    seen: dict[tuple[int, int], list[int]] = {}
    if folder.is_dir():
        for base, _, files in os.walk(folder):
            for name in files:
                try:
                    st = os.stat(os.path.join(base, name), follow_symlinks=False)
                except OSError:
                    continue
                entry = seen.setdefault((st.st_dev, st.st_ino), [st.st_size, st.st_nlink, 0])
                entry[2] += 1
    size = sum(e[0] for e in seen.values())
    frees = sum(e[0] for e in seen.values() if e[1] - e[2] <= 1)
    return size, frees


def retention_days_from_env() -> float | None:
    """``MIXINGBUDDY_RETENTION_DAYS`` as a positive number of days, else None (keep everything)."""
    from ..tools.errors import InvalidArgumentError

    raw = (os.environ.get("MIXINGBUDDY_RETENTION_DAYS") or "").strip()
    if raw.lower() in ("", "0", "off", "none", "keep"):
        return None
    try:
        days = float(raw)
    except ValueError:
        days = float("nan")
    if not days > 0 or days == float("inf"):
        raise InvalidArgumentError(
            f"MIXINGBUDDY_RETENTION_DAYS must be a positive number of days (or 0/off to keep everything), got {raw[:40]!r}")
    return days
