"""Per-conversation audio: the files a conversation may measure, referenced from
``<home>/threads/<thread_id>/`` (hard links to content-addressed blobs, ``agent.blobs``) so that
a conversation survives a process restart (:class:`ThreadStore`).
"""
from __future__ import annotations

import os
import re
import shutil
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from ..tools.errors import InvalidArgumentError, sanitize_name
from ..tools.io.audio import StemSet
from ..tools.io.ingest import load_audio, load_mix_and_stems
from ..tools.io.spool import SPOOL_ABOVE_S
from ..tools.io.stems import parallel_map
from ..tools.registry import AudioContext
from .blobs import BlobStore

__all__ = ["CACHE_THREADS", "DEFAULT_MAX_DURATION_S", "THREAD_ID_RE", "ThreadStore", "check_thread_id",
           "stems_present"]

THREAD_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")  # whole string: fullmatch
CACHE_THREADS = 4
# and at most this much decoded audio in memory (the newest conversation is always kept): a
# three-minute stereo song with four stems is 0.32 GB of float32, so two of those, which keeps a
# warm app's peak under 3 GB with the audio model loaded (README, `make bench`)
CACHE_BYTES = 768 << 20
DEFAULT_MAX_DURATION_S = 1200.0
STORED_MAX_DURATION_S = 24 * 3600.0  # reloading a conversation's stored files (checked when stored)

_CACHE: OrderedDict[tuple[str, str], AudioContext] = OrderedDict()
_LOCK = threading.Lock()


def check_thread_id(thread_id: Any) -> str:
    """A thread id is 1-64 letters, digits, ``_`` or ``-`` (it names a folder)."""
    if not isinstance(thread_id, str) or not THREAD_ID_RE.fullmatch(thread_id):
        raise InvalidArgumentError(
            f"thread id must be 1-64 letters, digits, '_' or '-' (starting with a letter or digit), "
            f"got {str(thread_id)[:80]!r}")
    return thread_id


def _unique(folder: Path, name: str) -> Path:
    """``folder/name``, or ``folder/<stem>-<k><ext>`` when taken."""
    p = folder / name
    k = 2
    while p.exists():
        base, ext = os.path.splitext(name)
        p = folder / f"{base}-{k}{ext}"
        k += 1
    return p


def _audio_bytes(ctx: AudioContext) -> int:
    """The bytes of decoded samples ``ctx`` holds in memory (a long file's memory-mapped spool
    not counted)."""
    audios = [ctx.mix, ctx.reference, *(ctx.stems.stems.values() if ctx.stems is not None else ())]
    return sum(a.samples.nbytes for a in audios if a is not None and a.spool is None)


class ThreadStore:
    """The audio folders of one MixingBuddy home.

    - :meth:`save` stores the user's files once in ``<home>/blobs/`` and links them into the
      thread's folder under sanitised names (``mix/``, ``stems/``, ``reference/``); it returns their stored paths plus the role of each stem file (so the
      stem set is rebuilt with the roles it was analysed with);
    - :meth:`context` returns the conversation's :class:`AudioContext` (the only audio its tools
      can read), rebuilt lazily from the stored paths with ``tools.io.ingest`` and cached per
      thread in this process (a small LRU of ``CACHE_THREADS`` conversations and ``CACHE_BYTES``
      of samples: a three-minute stereo song with four stems is a few hundred MB of float32).
    """

    def __init__(self, home: str | os.PathLike):
        self.home = Path(home)
        self.root = self.home / "threads"
        self.blobs = BlobStore(self.home)

    def thread_dir(self, thread_id: str) -> Path:
        return self.root / check_thread_id(thread_id)

    def separation_dir(self, thread_id: str) -> Path:
        """Where the stems separated from the conversation's mix are cached (``tools.separate``)."""
        return self.thread_dir(thread_id) / "separated"

    def separation(self, thread_id: str):
        """The conversation's cached :class:`~mixingbuddy.tools.separate.Separation`, or None."""
        from ..tools.separate import Separation

        return Separation.load(self.separation_dir(thread_id))

    def exists(self, thread_id: str) -> bool:
        return self.thread_dir(thread_id).is_dir()

    # ------------------------------------------------------------------ loading and saving

    @staticmethod
    def load(mix: str | os.PathLike, stems: Any = None, reference: str | os.PathLike | None = None,
             roles: dict[str, str] | None = None,
             max_duration_s: float = DEFAULT_MAX_DURATION_S) -> AudioContext:
        """Decode and check the user's files (``tools.io.ingest``: typed errors on bad input)."""
        mix_a, stem_set = load_mix_and_stems(mix, stems, roles=roles or None, max_duration_s=max_duration_s)
        ref = (load_audio(reference, max_duration_s=max_duration_s, spool_above_s=SPOOL_ABOVE_S)  # a long one: a block at a time
               if reference is not None else None)
        return AudioContext(mix=mix_a, stems=stem_set, reference=ref)

    def save(self, thread_id: str, ctx: AudioContext, mix: str | os.PathLike, stems: Any = None,
             reference: str | os.PathLike | None = None) -> dict:
        """Store the files behind ``ctx`` (once per content) and link them into the thread's
        folder; returns the ``audio`` record kept in the conversation state (stored paths, stem
        roles). Threads stored before blobs existed hold plain copies: they are read the same way
        and left as they are."""
        d = self.thread_dir(thread_id)
        d.mkdir(parents=True, exist_ok=True)
        # what is kept, in order: (source, sub-folder, the stem file's role or None)
        plan: list[tuple[str | os.PathLike, str, str | None]] = [(mix, "mix", None)]
        if ctx.stems is not None and stems is not None:
            spec = stems
            if isinstance(spec, (str, bytes, os.PathLike)) and os.path.isfile(os.fspath(spec)):
                plan.append((spec, "stems", None))
            else:
                files = ([os.path.join(os.fspath(spec), f) for f in sorted(os.listdir(os.fspath(spec)))]
                         if isinstance(spec, (str, bytes, os.PathLike)) else [os.fspath(f) for f in spec])
                role_of = {name: role for role, names in ctx.stems.sources.items() for name in names}
                for f in files:
                    shown = sanitize_name(f)
                    if shown in role_of and os.path.isfile(f):
                        plan.append((f, "stems", role_of.pop(shown)))
        if ctx.reference is not None and reference is not None:
            plan.append((reference, "reference", None))
        # hashing and copying into the blob store, two files at a time (hashlib and file I/O
        # release the GIL); then the links, in order, so the names are unique as before
        blobs = parallel_map(self.blobs.put, [src for src, _, _ in plan])
        out: dict[str, Any] = {"mix": None, "stems": [], "stem_roles": {}, "stems_container": None,
                               "reference": None, "mix_name": ctx.mix.name}
        for (src, sub, role), blob in zip(plan, blobs):
            dst = str(self._copy(src, d / sub, blob))
            if sub == "mix":
                out["mix"] = dst
            elif sub == "reference":
                out["reference"] = dst
            elif role is None:  # a .stem.mp4
                out["stems_container"] = dst
            else:
                out["stems"].append(dst)
                out["stem_roles"][Path(dst).name] = role
        self.put(thread_id, ctx)
        return out

    # ------------------------------------------------------------------ the context cache

    def _key(self, thread_id: str) -> tuple[str, str]:
        return (str(self.home.resolve()), thread_id)

    def put(self, thread_id: str, ctx: AudioContext) -> None:
        with _LOCK:
            _CACHE[self._key(thread_id)] = ctx
            _CACHE.move_to_end(self._key(thread_id))
            while len(_CACHE) > CACHE_THREADS or (
                    len(_CACHE) > 1 and sum(map(_audio_bytes, _CACHE.values())) > CACHE_BYTES):
                _CACHE.popitem(last=False)

    def context(self, thread_id: str, audio: dict) -> AudioContext:
        """The conversation's audio, from the cache or rebuilt from the stored files."""
        key = self._key(check_thread_id(thread_id))
        with _LOCK:
            if key in _CACHE:
                _CACHE.move_to_end(key)
                return _CACHE[key]
        if not audio or not audio.get("mix") or not os.path.isfile(audio["mix"]):
            raise InvalidArgumentError(
                f"the audio of conversation {thread_id!r} is missing from {self.thread_dir(thread_id)}")
        stems: Any = None
        if audio.get("stems_container"):
            stems = audio["stems_container"]
        elif audio.get("stems"):
            stems = list(audio["stems"])
        # the stored files passed the length limit of the review that stored them (a review may
        # raise it): reloading them applies no tighter one, so a long conversation reopens
        ctx = self.load(audio["mix"], stems, audio.get("reference"),
                        roles=audio.get("stem_roles") or None, max_duration_s=STORED_MAX_DURATION_S)
        self.put(thread_id, ctx)
        return ctx

    def forget(self, thread_id: str) -> None:
        """Drop the cached audio (the files stay)."""
        with _LOCK:
            _CACHE.pop(self._key(thread_id), None)

    def _copy(self, src: str | os.PathLike, folder: Path, blob: Path | None = None) -> Path:
        """``src`` referenced from ``folder`` under its sanitised name (unique in the folder);
        ``blob``: its blob, already stored."""
        folder.mkdir(parents=True, exist_ok=True)
        return self.blobs.link(src, _unique(folder, sanitize_name(src)), blob=blob)

    def thread_ids(self) -> list[str]:
        """Ids of the thread folders on disk (whatever the database says)."""
        if not self.root.is_dir():
            return []
        return sorted(e.name for e in os.scandir(self.root) if e.is_dir() and THREAD_ID_RE.fullmatch(e.name))

    def remove(self, thread_id: str) -> None:
        """Delete the thread's folder (its references to blobs) and cached audio; blobs nothing
        else refers to are removed by ``blobs.collect_garbage``."""
        self.forget(thread_id)
        shutil.rmtree(self.thread_dir(thread_id), ignore_errors=True)


def stems_present(stems: StemSet | None) -> list[str]:
    """Roles the audio model is told about: the stems given, else all four (a full mix)."""
    if stems is None:
        return ["bass", "drums", "vocals", "other"]
    return [r for r in ("bass", "drums", "vocals", "other") if r in stems.stems]
