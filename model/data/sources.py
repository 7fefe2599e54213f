"""Multitrack sources for the corpus builder: songs as four stems (bass, drums, vocals, other).

Every source is a list of :class:`SongRef` (cheap: names only) and a loader,
:func:`load_song`, that turns one reference into a :class:`SongStems`: float32 ``(n, 2)``
stems of one length at the requested rate, a role missing from a song being silence. The
sources are synthetic songs, MUSDB18, MUSDB18-HQ and any folder of stems (:func:`list_songs`).
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...tools.io.audio import ALL_STEMS
from ...tools.io.ingest import load_stem_set

HQ_FILES = {"bass": "bass.wav", "drums": "drums.wav", "vocals": "vocals.wav", "other": "other.wav"}
_AUDIO_EXTS = {".wav", ".flac", ".aif", ".aiff", ".ogg", ".mp3", ".m4a", ".w64", ".rf64", ".caf", ".opus"}


@dataclass
class SongStems:
    song_id: str
    stems: dict[str, np.ndarray]  # role -> float32 (n, 2)
    sr: int
    style: str | None
    source: str  # "synth" | "musdb" | "folder"


@dataclass(frozen=True)
class SongRef:
    """A song to load: ``kind`` is synth, musdb (a .stem.mp4), musdb_hq (a folder of the four
    MUSDB18-HQ wavs) or folder (a folder of stems)."""

    song_id: str
    kind: str
    path: str | None = None
    seed: int | None = None  # synth: the render seed
    style: str | None = None  # synth: the style
    duration_s: float | None = None  # synth: song length
    soundfont: str | None = None  # synth: .sf2/.sf3 (None: the renderer's default)

    @property
    def source(self) -> str:
        return {"synth": "synth", "musdb": "musdb", "musdb_hq": "musdb", "folder": "folder"}[self.kind]


def derive_seed(*parts) -> int:
    """A 31-bit seed from any parts (stable across processes and Python versions)."""
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:4], "big") & 0x7FFFFFFF


def _styles() -> tuple[str, ...]:
    from . import render

    styles = getattr(render, "STYLES", None)
    if isinstance(styles, dict):
        return tuple(styles)
    return tuple(styles) if styles else (None,)


# --------------------------------------------------------------------------- references

def synth_song_id(seed: int, index: int) -> str:
    """Id of synthetic song ``index`` of corpus seed ``seed``."""
    return f"synth-s{seed}-{index:06d}"


def synth_refs(n_songs: int, seed: int, duration_s: float = 30.0, soundfont: str | None = None,
               start: int = 0) -> list[SongRef]:
    """References of synthetic songs ``start .. start+n_songs-1`` for corpus seed ``seed``.

    The songs are composed and rendered by :mod:`.render` (General MIDI soundfont through
    tinysoundfont); per-song seeds are derived from the corpus seed and the song index, the
    style cycles over all styles from a seed-dependent offset.
    """
    styles = _styles()
    offset = derive_seed("style-offset", seed) % len(styles)
    return [SongRef(song_id=synth_song_id(seed, i), kind="synth", seed=derive_seed("song", seed, i),
                    style=styles[(i + offset) % len(styles)], duration_s=float(duration_s),
                    soundfont=soundfont)
            for i in range(start, start + n_songs)]


def musdb_refs(path: str | os.PathLike) -> list[SongRef]:
    """Every ``*.stem.mp4`` under ``path`` (recursively), sorted by relative path; the song id
    is the file name without ``.stem.mp4`` (prefixed by its sub-folder when names repeat).

    MUSDB18 (Rafii et al. 2017, doi:10.5281/zenodo.1117372) has one ``.stem.mp4`` per song,
    audio streams 0 mixture, 1 drums, 2 bass, 3 other, 4 vocals (NI Stems), at 44.1 kHz;
    :func:`load_song` reads streams 1-4 with :func:`mixingbuddy.tools.io.ingest.load_stem_set`.
    """
    root = Path(path)
    if root.is_file():
        files = [root]
        root = root.parent
    else:
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.name.lower().endswith(".stem.mp4"))
    names = [f.name[: -len(".stem.mp4")] for f in files]
    dup = {n for n in names if names.count(n) > 1}
    refs = []
    for f, n in zip(files, names):
        sid = str(f.relative_to(root).with_name(n)) if n in dup else n
        refs.append(SongRef(song_id=sid, kind="musdb", path=str(f)))
    return refs


def _hq_dirs(root: Path) -> list[Path]:
    out = []
    for d in sorted([root, *[p for p in root.rglob("*") if p.is_dir()]]):
        names = {p.name.lower() for p in d.iterdir() if p.is_file()}
        if sum(v in names for v in HQ_FILES.values()) >= 2:
            out.append(d)
    return out


def musdb_hq_refs(path: str | os.PathLike) -> list[SongRef]:
    """Every folder under ``path`` holding at least two of bass/drums/vocals/other.wav
    (MUSDB18-HQ); the song id is the folder's path relative to ``path`` (e.g. ``train/Song``).

    MUSDB18-HQ (Rafii et al. 2019, doi:10.5281/zenodo.3338373) has a folder per song with
    ``bass.wav drums.wav other.wav vocals.wav mixture.wav``, usually under ``train/`` and
    ``test/``.
    """
    root = Path(path)
    return [SongRef(song_id=str(d.relative_to(root)) if d != root else d.name, kind="musdb_hq", path=str(d))
            for d in _hq_dirs(root)]


def _has_audio(d: Path) -> bool:
    return any(p.is_file() and p.suffix.lower() in _AUDIO_EXTS and not p.name.startswith(".")
               for p in d.iterdir())


def folder_refs(path: str | os.PathLike) -> list[SongRef]:
    """Per-song stem folders under ``path``: every folder (``path`` itself included) that
    holds audio files; the song id is its path relative to ``path``.

    Roles come from the file names (:func:`mixingbuddy.tools.io.ingest.infer_stem_role`),
    several files of one role are summed, a file named like the full mix is skipped.
    """
    root = Path(path)
    dirs = sorted(d for d in [root, *[p for p in root.rglob("*") if p.is_dir()]] if _has_audio(d))
    return [SongRef(song_id=str(d.relative_to(root)) if d != root else d.name, kind="folder", path=str(d))
            for d in dirs]


def list_songs(source: str, path: str | os.PathLike | None = None) -> list[SongRef]:
    """References for a finite source: ``musdb`` (a MUSDB18 folder of .stem.mp4, else a
    MUSDB18-HQ folder) or ``folder``."""
    if path is None or not Path(path).exists():
        raise FileNotFoundError(f"{source}: path not found: {path}")
    if source == "musdb":
        refs = musdb_refs(path)
        return refs if refs else musdb_hq_refs(path)
    if source == "musdb_hq":
        return musdb_hq_refs(path)
    if source == "folder":
        return folder_refs(path)
    raise ValueError(f"unknown source {source!r}; use synth, musdb or folder")


# --------------------------------------------------------------------------- loading

def _as_four(stemset_stems: dict, n: int | None = None) -> dict[str, np.ndarray]:
    """Role -> float32 (n, 2) for all four roles (silence for a missing role)."""
    arrays = {}
    for role, a in stemset_stems.items():
        x = a.stereo() if hasattr(a, "stereo") else np.asarray(a, np.float32)
        if x.ndim == 1:
            x = x[:, None]
        if x.shape[1] == 1:
            x = np.repeat(x, 2, axis=1)
        arrays[role] = np.ascontiguousarray(x, dtype=np.float32)
    if n is None:
        n = max(x.shape[0] for x in arrays.values())
    out = {}
    for role in ALL_STEMS:
        x = arrays.get(role)
        if x is None:
            out[role] = np.zeros((n, 2), np.float32)
        elif x.shape[0] != n:
            y = np.zeros((n, 2), np.float32)
            m = min(n, x.shape[0])
            y[:m] = x[:m]
            out[role] = y
        else:
            out[role] = x
    return out


def load_song(ref: SongRef, sr: int = 44_100) -> SongStems:
    """Load (or render) one song at ``sr``. The corpus builder hands references to worker
    processes, which load whole songs; the iterators (:func:`synth_songs`, :func:`musdb_songs`,
    :func:`musdb_hq_songs`, :func:`folder_songs`) are the same two steps in a loop."""
    if ref.kind == "synth":
        from .render import render_song

        kw = {"duration_s": ref.duration_s, "sr": sr}
        if ref.soundfont:
            kw["soundfont"] = ref.soundfont
        song = render_song(ref.seed, ref.style, **kw)
        stems = _as_four(song.stems)
        return SongStems(ref.song_id, stems, int(song.sr), getattr(song, "style", ref.style), "synth")
    if ref.kind == "musdb":
        st = load_stem_set(ref.path, target_sr=sr)
        return SongStems(ref.song_id, _as_four(st.stems), sr, None, "musdb")
    if ref.kind == "musdb_hq":
        d = Path(ref.path)
        files = {}
        for role, fname in HQ_FILES.items():
            hit = [p for p in d.iterdir() if p.name.lower() == fname]
            if hit:
                files[str(hit[0])] = role
        st = load_stem_set(list(files), roles={Path(p).name: r for p, r in files.items()}, target_sr=sr)
        return SongStems(ref.song_id, _as_four(st.stems), sr, None, "musdb")
    if ref.kind == "folder":
        st = load_stem_set(ref.path, target_sr=sr)
        return SongStems(ref.song_id, _as_four(st.stems), sr, None, "folder")
    raise ValueError(f"unknown song kind {ref.kind!r}")


# --------------------------------------------------------------------------- iterators

def synth_songs(n_songs: int, seed: int, duration_s: float = 30.0, sr: int = 44_100,
                soundfont: str | None = None) -> Iterator[SongStems]:
    """Render ``n_songs`` synthetic songs (seeds derived from ``seed`` and the song index)."""
    for ref in synth_refs(n_songs, seed, duration_s, soundfont):
        yield load_song(ref, sr)


def musdb_songs(path: str | os.PathLike, sr: int = 44_100) -> Iterator[SongStems]:
    """MUSDB18 songs (``.stem.mp4``) under ``path``, at ``sr`` (the files' own 44.1 kHz by default)."""
    for ref in musdb_refs(path):
        yield load_song(ref, sr)


def musdb_hq_songs(path: str | os.PathLike, sr: int = 44_100) -> Iterator[SongStems]:
    """MUSDB18-HQ songs (folders of bass/drums/other/vocals.wav) under ``path``."""
    for ref in musdb_hq_refs(path):
        yield load_song(ref, sr)


def folder_songs(path: str | os.PathLike, sr: int = 44_100) -> Iterator[SongStems]:
    """Songs from a folder of per-song stem folders (roles from the file names)."""
    for ref in folder_refs(path):
        yield load_song(ref, sr)
