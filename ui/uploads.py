"""Upload handling for the browser app: limits, a private folder per session, safe archives.

What a user may upload for one review: a mix (any format ``tools.io.ingest`` reads, or a MUSDB18
``.stem.mp4``, whose streams then give the stems too), optionally its stems (several audio
files, or one ZIP of them, or one ``.stem.mp4``) and optionally a reference track. The checks
are listed at :func:`prepare_upload`, the archive rules at :func:`extract_zip`.
"""
from __future__ import annotations

import os
import shutil
import stat
import tempfile
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from ..tools.errors import (
    AudioFileNotFoundError,
    InvalidArgumentError,
    MixingBuddyError,
    NotAudioError,
    StemSetError,
    named_error,
    sanitize_name,
)

MB = 1_000_000
DEFAULT_MAX_TOTAL_BYTES = 200 * MB
DEFAULT_MAX_FILES = 16
# Deflate packs real audio (even a stem that is mostly silence) a few times at most; a ZIP whose
# members expand more than this many times over their packed size is a zip bomb.
MAX_ZIP_RATIO = 100
SESSION_PREFIX = "mb-session-"
_COPY_CHUNK = 1 << 20


class UploadLimitError(MixingBuddyError):
    """An upload over the size or file-count limit."""

    code = "upload_limit"


class UnsafeArchiveError(MixingBuddyError):
    """A ZIP that could write outside its folder, or expand to too much data."""

    code = "unsafe_archive"


@dataclass(frozen=True)
class UploadLimits:
    """Limits for one review's uploads. ``max_unzipped_bytes``: the most a ZIP of stems may
    expand to (declared sizes, checked before extracting)."""

    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES
    max_files: int = DEFAULT_MAX_FILES
    max_unzipped_bytes: int = 5 * DEFAULT_MAX_TOTAL_BYTES

    def __post_init__(self) -> None:
        for name in ("max_total_bytes", "max_files", "max_unzipped_bytes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise InvalidArgumentError(f"upload limit {name} must be a positive integer, got {v!r}")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> UploadLimits:
        """Limits from ``MIXINGBUDDY_MAX_UPLOAD_MB`` and ``MIXINGBUDDY_MAX_UPLOAD_FILES``."""
        env = os.environ if env is None else env
        kw: dict[str, int] = {}
        for var, key, scale in (("MIXINGBUDDY_MAX_UPLOAD_MB", "max_total_bytes", MB),
                                ("MIXINGBUDDY_MAX_UPLOAD_FILES", "max_files", 1)):
            raw = env.get(var)
            if raw:
                try:
                    kw[key] = int(float(raw) * scale)
                except ValueError:
                    raise InvalidArgumentError(f"{var} must be a number, got {raw!r}") from None
        if "max_total_bytes" in kw:
            kw["max_unzipped_bytes"] = 5 * kw["max_total_bytes"]
        return cls(**kw)



def _mb(n_bytes: float) -> str:
    """Bytes as megabytes for a message: 3 significant digits ("0.15 MB", "200 MB")."""
    return f"{float(f'{n_bytes / MB:.3g}'):g} MB"


# ----------------------------------------------------------------------------- session folders


class UploadSession:
    """A private folder for one review's uploads, removed by :meth:`cleanup`.

    Created with ``tempfile.mkdtemp`` (mode 0700, unpredictable name) under ``root`` (default:
    the system temp folder). Every upload is copied into it under a sanitised name
    (``tools.errors.sanitize_name``; never the name the browser sent); :meth:`cleanup` also runs
    on leaving a ``with`` block, and :func:`cleanup_stale` removes folders left by a crashed
    process."""

    def __init__(self, root: str | os.PathLike | None = None):
        if root is not None:
            Path(root).mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=SESSION_PREFIX, dir=root))
        self.closed = False

    def subdir(self, name: str) -> Path:
        if self.closed:
            raise InvalidArgumentError("this upload session has been cleaned up")
        d = self.path / name
        d.mkdir(exist_ok=True)
        return d

    def cleanup(self) -> None:
        """Remove the folder and everything in it (idempotent)."""
        self.closed = True
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> UploadSession:  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()


def cleanup_stale(root: str | os.PathLike, max_age_s: float = 24 * 3600.0) -> int:
    """Remove session folders under ``root`` not modified for ``max_age_s`` (left by a process
    that died); returns how many were removed."""
    root = Path(root)
    if not root.is_dir():
        return 0
    now = time.time()
    removed = 0
    for d in root.iterdir():
        try:
            if d.name.startswith(SESSION_PREFIX) and d.is_dir() and not d.is_symlink() \
                    and now - d.stat().st_mtime > max_age_s:
                shutil.rmtree(d, ignore_errors=True)
                removed += 1
        except OSError:
            continue
    return removed


# ----------------------------------------------------------------------------- inputs


@dataclass
class PreparedUpload:
    """Where the uploads of one review were copied, and what was found out about them."""

    folder: Path
    mix: Path
    stems: list[Path] = field(default_factory=list)  # plain audio files (ZIPs and .stem.mp4 expanded)
    reference: Path | None = None
    mix_is_stem_container: bool = False  # the mix is a .stem.mp4: its streams give the stems
    total_bytes: int = 0  # bytes as uploaded
    warnings: list[str] = field(default_factory=list)

    @property
    def has_stems(self) -> bool:
        return bool(self.stems) or self.mix_is_stem_container

    @property
    def file_names(self) -> list[str]:
        return [p.name for p in [self.mix, *self.stems, *([self.reference] if self.reference else [])]]


def upload_path(item: Any) -> str | None:
    """The local path of one uploaded file as Gradio hands it over: a str/PathLike, an object
    with ``.path`` or ``.name`` (FileData, tempfile wrappers), or a dict with ``"path"``."""
    if item is None:
        return None
    if isinstance(item, (str, os.PathLike)):
        return os.fspath(item) or None
    if isinstance(item, dict):
        v = item.get("path") or item.get("name")
        return str(v) if v else None
    for attr in ("path", "name"):
        v = getattr(item, attr, None)
        if isinstance(v, (str, os.PathLike)) and os.fspath(v):
            return os.fspath(v)
    raise InvalidArgumentError(f"cannot read an upload of type {type(item).__name__}")


def _as_list(items: Any) -> list[str]:
    if items is None:
        return []
    if isinstance(items, (str, os.PathLike, dict)) or not isinstance(items, Iterable):
        items = [items]
    return [p for p in (upload_path(x) for x in items) if p]


def _existing(path: str) -> tuple[str, int]:
    from ..tools.io.sniff import check_path

    return check_path(path, sanitize_name(path))


def _kind(path: str):
    from ..tools.io.sniff import sniff

    return sniff(path)


def _check_audio(path: str | Path, shown: str | None = None) -> None:
    """Refuse a file whose content is known not to be audio (text, image, archive...; first
    bytes only, as ingest decides); decoding problems are left to ingest."""
    p = os.fspath(path)
    kind = _kind(p)
    if kind.backend == "none":
        raise named_error(NotAudioError, shown or sanitize_name(p), f"is {kind.label}, not an audio file", p)


def _unique(folder: Path, name: str) -> Path:
    safe = sanitize_name(name)
    target = folder / safe
    stem, ext = os.path.splitext(safe)
    i = 2
    while target.exists():
        target = folder / f"{stem} ({i}){ext}"
        i += 1
    return target


def _copy(src: str, folder: Path) -> Path:
    dst = _unique(folder, os.path.basename(src))
    shutil.copyfile(src, dst)
    return dst


def _is_stem_container(path: str) -> bool:
    from ..tools.io.stems import is_stem_container

    return is_stem_container(path, sanitize_name(path))


# ----------------------------------------------------------------------------- zip archives


def _unsafe_member_reason(info: zipfile.ZipInfo) -> str | None:
    raw = info.filename
    if "\x00" in raw:
        return "a NUL character in its name"
    for pure in (PurePosixPath(raw), PureWindowsPath(raw)):
        if pure.is_absolute() or pure.anchor or pure.drive:
            return "an absolute path"
        if ".." in pure.parts:
            return "a '..' component (it would be written outside the folder)"
    mode = (info.external_attr >> 16) & 0xFFFF
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if info.flag_bits & 0x1:
        return "encryption"
    return None


def _skip_member(info: zipfile.ZipInfo) -> str | None:
    parts = [p for p in info.filename.replace("\\", "/").split("/") if p]
    if info.is_dir() or not parts:
        return "folder"
    if parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts):
        return "hidden"
    return None


def extract_zip(path: str, folder: Path, limits: UploadLimits, *, files_left: int,
                warnings: list[str]) -> list[Path]:
    """Check a ZIP of stems and extract its audio files, flattened, into ``folder``.

    Every member is checked before anything is written: members with an absolute path, a drive
    letter or a ``..`` component, links, encrypted members, and archives whose declared
    uncompressed total exceeds the limit (zip bombs) are refused -> :class:`UnsafeArchiveError`.
    Extraction then copies at most each member's declared size; hidden files and ``__MACOSX``
    entries are skipped with a warning. Returns the extracted paths."""
    shown = sanitize_name(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise named_error(UnsafeArchiveError, shown, f"is not a readable ZIP archive ({e})", path) from None
    with zf:
        members: list[zipfile.ZipInfo] = []
        total = 0
        for info in zf.infolist():
            reason = _unsafe_member_reason(info)
            if reason:
                raise named_error(UnsafeArchiveError, shown,
                                  f"holds '{sanitize_name(info.filename)}' with {reason}; refused", path)
            skip = _skip_member(info)
            if skip == "hidden":
                warnings.append(f"{shown}: skipped hidden entry '{sanitize_name(info.filename)}'")
            if skip:
                continue
            total += info.file_size
            members.append(info)
        if total > limits.max_unzipped_bytes:
            raise named_error(UnsafeArchiveError, shown,
                              f"would expand to {_mb(total)}; the limit is "
                              f"{_mb(limits.max_unzipped_bytes)}", path)
        packed = sum(info.compress_size for info in members)
        if total > MAX_ZIP_RATIO * max(packed, 1) and total > MAX_ZIP_RATIO * _COPY_CHUNK:
            raise named_error(UnsafeArchiveError, shown,
                              f"would expand {total / max(packed, 1):.0f} times over ({_mb(packed)} to "
                              f"{_mb(total)}): no audio compresses that far; refused as a zip bomb", path)
        if not members:
            raise named_error(StemSetError, shown, "holds no files", path)
        if len(members) > files_left:
            raise named_error(UploadLimitError, shown,
                              f"holds {len(members)} files; at most {limits.max_files} files in all "
                              "can be uploaded for one review", path)
        out: list[Path] = []
        streamed = 0  # bytes expanded so far, all members: the limit holds whatever the headers say
        for info in members:
            dst = _unique(folder, PurePosixPath(info.filename.replace("\\", "/")).name)
            written = 0
            try:
                with zf.open(info) as src, open(dst, "xb") as f:
                    while chunk := src.read(_COPY_CHUNK):
                        written += len(chunk)
                        streamed += len(chunk)
                        if written > info.file_size or streamed > limits.max_unzipped_bytes:
                            f.close()
                            dst.unlink()
                            raise named_error(UnsafeArchiveError, shown,
                                              f"member '{sanitize_name(info.filename)}' is larger than it "
                                              "declares; refused", path)
                        f.write(chunk)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError,
                    RuntimeError) as e:
                raise named_error(UnsafeArchiveError, shown,
                                  f"member '{sanitize_name(info.filename)}' cannot be extracted ({e})",
                                  path) from None
            if os.path.getsize(dst) == 0:
                warnings.append(f"{shown}: skipped empty file '{sanitize_name(info.filename)}'")
                dst.unlink()
                continue
            kind = _kind(str(dst))
            if kind.backend == "none":
                warnings.append(f"{shown}: skipped '{dst.name}' ({kind.label}, not audio)")
                dst.unlink()
                continue
            out.append(dst)
        if not out:
            raise named_error(StemSetError, shown, "holds no audio files", path)
        return out


# ----------------------------------------------------------------------------- .stem.mp4


def expand_stem_container(path: str, folder: Path, *, max_duration_s: float = 1200.0) -> list[Path]:
    """Decode a ``.stem.mp4``'s four stem streams (``tools.io.ingest.load_stem_set``) and write each
    as a 32-bit float WAV at the analysis rate, named by its role."""
    import soundfile as sf

    from ..tools.io.ingest import load_stem_set

    stems = load_stem_set(path, max_duration_s=max_duration_s)
    out = []
    for role, audio in stems.stems.items():
        dst = _unique(folder, f"{role}.wav")
        sf.write(dst, audio.samples, audio.sr, subtype="FLOAT")
        out.append(dst)
    return out


# ----------------------------------------------------------------------------- the whole upload


def prepare_upload(session: UploadSession, mix: Any, stems: Any = None, reference: Any = None, *,
                   limits: UploadLimits | None = None, max_duration_s: float = 1200.0) -> PreparedUpload:
    """Check one review's uploads against ``limits`` and copy them into ``session``.

    ``mix``: one file; ``stems``: None, one or several files (audio files, or one ZIP, or one
    ``.stem.mp4``); ``reference``: None or one file. Each may be a path or what Gradio's
    ``gr.File`` hands over. Raises a ``MixingBuddyError`` subclass naming the file and the
    problem; on error nothing is left in the session folder's sub-folders it created.

    Checks, each ending in one clear :class:`~mixingbuddy.tools.errors.MixingBuddyError` line:

    - limits (:class:`UploadLimits`, default 200 MB and 16 files in all, configurable or from
      ``MIXINGBUDDY_MAX_UPLOAD_MB`` / ``MIXINGBUDDY_MAX_UPLOAD_FILES``): the bytes uploaded, the
      number of files (a ZIP counts its audio members) -> :class:`UploadLimitError`;
    - ZIP archives: see :func:`extract_zip`;
    - each file: missing or empty (``EmptyFileError``), not audio by its content
      (``NotAudioError``, from the same sniffing ingest uses); full decoding is left to ingest.

    A ``.stem.mp4`` uploaded as the stems is expanded into four WAV files (drums, bass, other,
    vocals) at the analysis rate (:func:`expand_stem_container`), so that everything downstream
    sees plain stem files."""
    limits = limits or UploadLimits()
    mix_list, stem_list, ref_list = _as_list(mix), _as_list(stems), _as_list(reference)
    if not mix_list:
        raise InvalidArgumentError("no mix was uploaded; add the mix file first")
    if len(mix_list) > 1:
        raise InvalidArgumentError(f"one mix at a time, got {len(mix_list)} files")
    if len(ref_list) > 1:
        raise InvalidArgumentError(f"one reference track at a time, got {len(ref_list)} files")
    every = mix_list + stem_list + ref_list
    if len(every) > limits.max_files:
        raise UploadLimitError(f"{len(every)} files uploaded; at most {limits.max_files} files can be "
                               "uploaded for one review")
    sizes = {}
    for p in every:
        _, sizes[p] = _existing(p)
    total = sum(sizes.values())
    if total > limits.max_total_bytes:
        big = max(sizes, key=sizes.get)
        raise UploadLimitError(
            f"the upload is {_mb(total)}; the limit is {_mb(limits.max_total_bytes)} in all "
            f"(largest file: {sanitize_name(big)}, {_mb(sizes[big])})")

    warnings: list[str] = []
    made: list[Path] = []
    try:
        mix_src = mix_list[0]
        if _kind(mix_src).key == "zip":
            raise named_error(InvalidArgumentError, sanitize_name(mix_src),
                              "is a ZIP archive; a ZIP is accepted for the stems only", mix_src)
        _check_audio(mix_src)
        mix_dst = _copy(mix_src, session.subdir("mix"))
        made.append(mix_dst.parent)
        ref_dst = None
        if ref_list:
            _check_audio(ref_list[0])
            ref_dst = _copy(ref_list[0], session.subdir("reference"))
            made.append(ref_dst.parent)
        stem_paths: list[Path] = []
        if stem_list:
            folder = session.subdir("stems")
            made.append(folder)
            stem_paths = _stems_into(stem_list, folder, limits, warnings,
                                     files_left=limits.max_files - 1 - len(ref_list),
                                     max_duration_s=max_duration_s)
        container = not stem_paths and _is_stem_container(str(mix_dst))
        if stem_paths and _is_stem_container(str(mix_dst)):
            warnings.append(f"{mix_dst.name} is a .stem.mp4; its own stems are ignored in favour of the "
                            "uploaded stems")
        return PreparedUpload(folder=session.path, mix=mix_dst, stems=stem_paths, reference=ref_dst,
                              mix_is_stem_container=container, total_bytes=total, warnings=warnings)
    except BaseException:
        for d in made:
            shutil.rmtree(d, ignore_errors=True)
        raise


def _stems_into(stem_list: Sequence[str], folder: Path, limits: UploadLimits, warnings: list[str],
                *, files_left: int, max_duration_s: float) -> list[Path]:
    kinds = {p: _kind(p) for p in stem_list}
    zips = [p for p in stem_list if kinds[p].key == "zip"]
    containers = [p for p in stem_list if kinds[p].key == "mp4" and _is_stem_container(p)]
    if containers and len(stem_list) > 1:
        raise named_error(StemSetError, sanitize_name(containers[0]),
                          "is a .stem.mp4; upload it alone as the stems (it holds all four)", containers[0])
    if containers:
        return expand_stem_container(containers[0], folder, max_duration_s=max_duration_s)
    out: list[Path] = []
    for p in stem_list:
        if p in zips:
            continue
        _check_audio(p)
        out.append(_copy(p, folder))
    for z in zips:
        out += extract_zip(z, folder, limits, files_left=files_left - len(out), warnings=warnings)
    if len(out) > files_left:
        raise UploadLimitError(f"{len(out) + 1 + (limits.max_files - 1 - files_left)} files in all; at most "
                               f"{limits.max_files} files can be uploaded for one review")
    return out


def load_prepared(prep: PreparedUpload, *, max_duration_s: float = 1200.0):
    """Decode a prepared upload with ``tools.io.ingest``: ``(mix Audio, StemSet | None, reference
    Audio | None)``; bad audio raises ingest's typed errors."""
    from ..tools.io.ingest import load_audio, load_mix_and_stems

    if not prep.mix.exists():
        raise named_error(AudioFileNotFoundError, prep.mix.name, "was removed (the session ended)",
                          str(prep.mix))
    mix, stems = load_mix_and_stems(prep.mix, [str(p) for p in prep.stems] or None,
                                    max_duration_s=max_duration_s)
    ref = load_audio(prep.reference, max_duration_s=max_duration_s) if prep.reference else None
    return mix, stems, ref
