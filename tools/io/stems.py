"""Stem sets: roles from file names, loading the files, and aligning them into a :class:`~.audio.StemSet`.

:func:`load_stem_set` takes a folder, a list of files, or a MUSDB18 ``.stem.mp4``; roles are
inferred from file names by :func:`infer_stem_role` unless overridden. Stem files are decoded
and resampled (by :mod:`.decode`) on a small thread pool (libsndfile and soxr run without the
GIL), then padded to the longest and summed per role.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from ..errors import (
    AudioFileNotFoundError,
    EmptyFileError,
    InvalidArgumentError,
    MixingBuddyError,
    NotAudioError,
    SilentAudioError,
    StemSetError,
    TooShortError,
    UnsupportedFormatError,
    named_error,
    sanitize_name,
)
from .audio import ANALYSIS_SR, STEM_ROLES, Audio, StemSet
from .decode import (
    MIN_DURATION_S,
    SILENCE_FLOOR_DBFS,
    check_load_args,
    count_audio_streams,
    decode_av,
    decode_file,
    to_audio,
)
from .sniff import ALL_AUDIO_EXTS, check_path, sniff
from .spool import BLOCK_N, SPOOL_ABOVE_S, Spool

# MUSDB18 / Native Instruments stem order: audio stream index -> role.
MUSDB_STREAM_ROLES = ("mixture", "drums", "bass", "other", "vocals")


# ---------------------------------------------------------------------------------------------
# stem roles


_VOCAL_TOKENS = {
    "vocals", "vocal", "vox", "voc", "vocs", "leadvox", "leadvocal", "leadvocals", "singer",
    "singers", "voice", "voices", "bv", "bvs", "bgv", "bgvs", "choir", "adlib", "adlibs", "harmony",
    "harmonies",
}
_WEAK_VOCAL_TOKENS = {"lead"}  # "Lead" alone is a vocal; "Lead Synth" is not
_BASS_TOKENS = {"bass", "bassline", "sub", "subbass", "808", "808s", "basses"}
_DRUM_TOKENS = {
    "drums", "drum", "kick", "kicks", "snare", "snares", "hat", "hats", "hihat", "hihats", "perc",
    "percs", "percussion", "toms", "tom", "cymbal", "cymbals", "overheads", "overhead", "oh", "ride",
    "crash", "clap", "claps", "bassdrum", "kickdrum", "drumkit", "beat", "beats", "breakbeat",
}
_INSTRUMENT_TOKENS = {
    "guitar", "guitars", "gtr", "synth", "synths", "keys", "key", "piano", "pad", "pads", "organ",
    "sax", "horn", "horns", "trumpet", "brass", "violin", "strings", "string", "pluck", "arp",
    "flute", "bell", "bells", "lead synth", "saw", "square", "rhodes", "wurli",
}
_STRIP_EXTS = ALL_AUDIO_EXTS | {"stem", "mp4", "m4a"}
_MIX_NAMES = {"mixture", "mix", "full mix", "fullmix", "mixdown", "master"}
_ROLE_CHOICES = set(STEM_ROLES) | {"ignore"}


def _tokens(filename: str) -> list[str]:
    stem = os.path.basename(filename)
    while True:  # drop extensions: "Lead Vox.wav", "song.stem.mp4"
        root, ext = os.path.splitext(stem)
        if root and ext[1:].lower() in _STRIP_EXTS:
            stem = root
        else:
            break
    stem = re.sub(r"([a-z])([A-Z])", r"\1 \2", stem)  # camelCase -> camel Case
    stem = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", stem)  # LEADVox -> LEAD Vox
    return re.findall(r"[a-z]+|\d+", stem.lower())


def _role_matches(filename: str) -> list[str]:
    toks = _tokens(filename)
    grams = set(toks) | {a + b for a, b in zip(toks, toks[1:])}
    roles = []
    if grams & _VOCAL_TOKENS:
        roles.append("vocals")
    if grams & _DRUM_TOKENS:
        roles.append("drums")
    if grams & _BASS_TOKENS and not ({"bassdrum"} & grams and not (set(toks) & (_BASS_TOKENS - {"bass"}))):
        roles.append("bass")
    if not roles and grams & _WEAK_VOCAL_TOKENS and not (grams & _INSTRUMENT_TOKENS):
        roles.append("vocals")
    return roles


def infer_stem_role(filename: str) -> str:
    """Role of a stem from its file name: ``"vocals"``, ``"drums"``, ``"bass"`` or ``"other"``.

    The base name (extensions removed) is split into lower-case tokens at every non-letter,
    at camelCase boundaries and between letters and digits ("LeadVox2" -> lead, vox, 2), and
    adjacent pairs are also joined ("Hi Hat" -> hihat, "Sub Bass" -> subbass). Whole tokens
    only are matched, so "bassoon", "subway", "vocoder" and "drumstick" are "other".

    - vocals: vocals vocal vox voc lead(vox) singer voice bv(s) bgv choir adlib harmony...;
      "lead" alone counts only without an instrument word ("Lead Guitar" is other);
    - drums: drums drum kick snare hat hihat perc percussion tom(s) cymbal overheads oh
      ride crash clap beat... ("Bass Drum" is drums);
    - bass: bass bassline sub subbass 808;
    - anything else: other.

    When a name matches several roles the first of vocals > drums > bass wins
    ("808 Kick" is drums, "Bass Vocals" is vocals).
    """
    roles = _role_matches(filename)
    return roles[0] if roles else "other"


# ---------------------------------------------------------------------------------------------
# .stem.mp4 containers


def is_stem_mp4_name(path: str) -> bool:
    """Whether the file is named like a stem container (``*.stem.mp4``, ``*.stem.m4a``)."""
    low = os.path.basename(path).lower()
    return low.endswith(".stem.mp4") or low.endswith(".stem.m4a")


def is_stem_container(path: str, name: str) -> bool:
    """A MUSDB18/NI ``.stem.mp4``: by name, or an MP4 holding five or more audio streams."""
    try:
        kind = sniff(path)
    except OSError:
        return False
    if kind.key != "mp4":
        return False
    if is_stem_mp4_name(path):
        return True
    try:
        return count_audio_streams(path, name, kind) >= 5
    except MixingBuddyError:
        return False


# ---------------------------------------------------------------------------------------------
# stem sets


@dataclass
class _StemItem:
    name: str  # display name of the file (or stream)
    role: str
    audio: Audio
    peak_dbfs: float


def check_roles(roles) -> dict[str, str]:
    """The ``roles=`` overrides as file name -> lower-case role; an unknown role raises
    StemSetError (``ignore`` is allowed: leave that file out)."""
    if roles is None:
        return {}
    if not isinstance(roles, dict):
        raise InvalidArgumentError(f"roles must be a dict of file name -> role, got {type(roles).__name__}")
    out = {}
    for k, v in roles.items():
        role = str(v).strip().lower()
        if role not in _ROLE_CHOICES:
            raise StemSetError(
                f"unknown role {str(v)!r} for {sanitize_name(str(k))!r}; use one of "
                f"{', '.join(STEM_ROLES)} (or 'ignore')"
            )
        out[str(k)] = role
    return out


def _override_for(path: str, overrides: dict[str, str], used: set[str]) -> str | None:
    base = os.path.basename(path)
    stem = base
    for suffix in (".stem.mp4",):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    stem = os.path.splitext(stem)[0]
    for key, role in overrides.items():
        if key == base or key == stem:
            used.add(key)
            return role
    for key, role in overrides.items():
        k = key.lower()
        if k == base.lower() or k == stem.lower():
            used.add(key)
            return role
    return None


def _spooled_sum(group: list[_StemItem], n: int, ch: int) -> Spool:
    """:func:`_assemble`'s sum of one role's stems, padded to ``n`` frames of ``ch`` channels,
    a block at a time into a :class:`~.spool.Spool` (a long stem never whole in memory)."""
    out = Spool(ch)
    for a in range(0, n, BLOCK_N):
        acc = np.zeros((min(BLOCK_N, n - a), ch), np.float32)
        for it in group:
            x = it.audio.spool.read(a, a + acc.shape[0]) if it.audio.spool is not None else \
                it.audio.samples[a:a + acc.shape[0]]
            acc[: x.shape[0]] += x
        out.append(acc)
    return out


def _assemble(items: list[_StemItem], sr: int, warnings: list[str]) -> StemSet:
    """Pad to the longest, sum per role, and build the StemSet."""
    if not items:
        raise StemSetError("no stems to analyse")
    if all(it.peak_dbfs < SILENCE_FLOOR_DBFS for it in items):
        raise SilentAudioError(
            f"all {len(items)} stems are silent (peak below {SILENCE_FLOOR_DBFS:g} dBFS)"
        )
    src_rates = sorted({it.audio.source_sr for it in items if it.audio.source_sr})
    if len(src_rates) > 1:
        warnings.append(
            "stems have different sample rates ("
            + ", ".join(str(r) for r in src_rates)
            + f" Hz); all resampled to {sr} Hz"
        )
    lengths = [it.audio.n_samples for it in items]
    n = max(lengths)
    tol = max(1, int(0.001 * sr))
    short = [(it.name, (n - it.audio.n_samples) / sr) for it in items if n - it.audio.n_samples > tol]
    if short:
        warnings.append(
            f"stems differ in length by up to {(n - min(lengths)) / sr:.2f} s; padded with silence "
            f"to {n / sr:.2f} s: " + ", ".join(f"'{nm}' +{d:.2f} s" for nm, d in short)
        )
    if n / sr < MIN_DURATION_S:
        raise TooShortError(
            f"the stems are too short to measure: {n / sr:.2f} s long, at least {MIN_DURATION_S:g} s "
            "is needed"
        )
    for it in items:
        if it.peak_dbfs < SILENCE_FLOOR_DBFS:
            warnings.append(
                f"stem '{it.name}' ({it.role}) is silent (peak below {SILENCE_FLOOR_DBFS:g} dBFS)"
            )
    stems: dict[str, Audio] = {}
    sources: dict[str, list[str]] = {}
    for role in STEM_ROLES:
        group = [it for it in items if it.role == role]
        if not group:
            continue
        ch = max(it.audio.n_channels for it in group)
        spooled = any(it.audio.spool is not None for it in group)
        only = group[0].audio.samples if len(group) == 1 and not spooled else None
        whole = (only is not None and only.shape == (n, ch) and only.dtype == np.float32
                 and only.flags.c_contiguous and only.flags.writeable)
        # one full-length file is the role's samples as decoded (no zeroed copy to add it to)
        acc = _spooled_sum(group, n, ch) if spooled else only if whole else np.zeros((n, ch), np.float32)
        role_warnings: list[str] = []
        for it in group:
            if not spooled and not whole:
                x = it.audio.samples
                acc[: x.shape[0]] += x  # (m, 1) broadcasts to both channels of a stereo role
            prefix = f"{it.name}: " if len(group) > 1 else ""
            role_warnings += [prefix + w for w in it.audio.warnings]
        first = group[0].audio
        fmts = sorted({it.audio.source_format or "?" for it in group})
        stems[role] = Audio(
            samples=acc.array() if spooled else acc,
            spool=acc if spooled else None,
            sr=sr,
            name=first.name if len(group) == 1 else f"{role} ({len(group)} files summed)",
            source_sr=first.source_sr if len({it.audio.source_sr for it in group}) == 1 else None,
            source_channels=ch if len(group) > 1 else first.source_channels,
            source_format=fmts[0] if len(fmts) == 1 else ", ".join(fmts),
            path=first.path if len(group) == 1 else None,
            warnings=role_warnings,
        )
        sources[role] = [it.name for it in group]
        if len(group) > 1:
            warnings.append(f"{len(group)} files summed into '{role}': " + ", ".join(sources[role]))
        for it in group:
            warnings.extend(f"{it.name}: {w}" for w in it.audio.warnings)
    return StemSet(stems=stems, sr=sr, warnings=warnings, sources=sources)


def parallel_map(fn, jobs: list) -> list:
    """``[fn(j) for j in jobs]`` on a small thread pool (the heavy parts, libsndfile and
    soxr, run without the GIL). Results keep the order of ``jobs``; the first exception
    in that order is raised."""
    workers = min(len(jobs), os.cpu_count() or 1, 4)
    if workers <= 1:
        return [fn(j) for j in jobs]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest") as ex:
        return list(ex.map(fn, jobs))


def stems_from_container(
    path: str, name: str, size: int, max_duration_s: float, target_sr: int, with_mix: bool
) -> tuple[Audio | None, StemSet]:
    """Decode a .stem.mp4 in one pass: stream 0 (mix, if asked) and streams 1-4 as stems."""
    kind = sniff(path)
    want = [0, 1, 2, 3, 4] if with_mix else [1, 2, 3, 4]
    n_audio = count_audio_streams(path, name, kind)
    if n_audio < 5:
        raise named_error(StemSetError, name,
                          f"has {n_audio} audio stream(s); a .stem.mp4 needs 5 (mixture, drums, bass, "
                          "other, vocals)", path)
    decs = decode_av(path, name, kind, want, max_duration_s)

    def finish(job):
        dec, stream = job
        if stream == 0:
            return to_audio(dec, name=name, path=path, kind=kind, target_sr=target_sr,
                            max_duration_s=max_duration_s, min_duration_s=MIN_DURATION_S, allow_silent=False)
        return to_audio(dec, name=f"{name} - {MUSDB_STREAM_ROLES[stream]}", path=path, kind=kind,
                        target_sr=target_sr, max_duration_s=max_duration_s, min_duration_s=0.0,
                        allow_silent=True)

    done = parallel_map(finish, list(zip(decs, want)))
    mix = done[0][0] if with_mix else None
    items = [
        _StemItem(audio.name, MUSDB_STREAM_ROLES[stream], audio, peak)
        for (audio, peak), stream in zip(done, want)
        if stream != 0
    ]
    return mix, _assemble(items, target_sr, [])


def _list_folder(folder: str, name: str, warnings: list[str]) -> list[str]:
    try:
        entries = sorted(os.listdir(folder))
    except OSError as e:
        raise named_error(StemSetError, name, f"cannot list the folder ({e.strerror})", folder) from e
    files = []
    for entry in entries:
        full = os.path.join(folder, entry)
        shown = sanitize_name(entry)
        if os.path.isdir(full):
            warnings.append(f"skipped sub-folder '{shown}' (stems are read from the folder itself)")
        elif entry.startswith("."):
            warnings.append(f"skipped hidden file '{shown}'")
        elif os.path.isfile(full):
            files.append(full)
    return files


def load_stem_set(
    spec: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    roles: dict[str, str] | None = None,
    max_duration_s: float = 1200.0,
    target_sr: int = ANALYSIS_SR,
) -> StemSet:
    """Load stems and align them into a :class:`StemSet` at ``target_sr``.

    ``spec`` is a folder (its files, not sub-folders), a list of file paths, or a MUSDB18
    ``.stem.mp4`` (audio streams 1-4 become drums, bass, other, vocals).

    Roles come from :func:`infer_stem_role` unless ``roles`` maps a file's base name or stem
    ("Keys L.wav" or "Keys L", exact first, then case-insensitive) to one of ``vocals``,
    ``drums``, ``bass``, ``other`` or ``ignore`` (leave the file out). An unknown role, or an
    override naming no file, raises StemSetError. Files of one role are summed (a mono file
    adds to both channels of a stereo role) and listed in ``StemSet.sources``.

    In a folder, files that are not audio (README.txt, images, zero-byte files) are skipped
    with a warning, as are hidden files, sub-folders and a file named like the full mix
    (mixture/mix/mixdown/master/full mix; map it to a role to include it). A file in an
    explicit list that is not audio raises as :func:`load_audio` does. Other bad stems
    (truncated, NaN, too long...) raise as in :func:`load_audio`.

    A silent stem is kept with a warning; all stems silent raises SilentAudioError. Stems may
    be shorter than 0.5 s, the aligned set may not (TooShortError). Shorter stems are
    padded with zeros to the longest (warning with the differences in seconds; tolerance
    1 ms), all rates are resampled to ``target_sr`` (warning when they differed). Mono stems
    stay mono. Warnings of each file are repeated in ``StemSet.warnings``, prefixed with its
    name.
    """
    check_load_args(max_duration_s, target_sr)
    overrides = check_roles(roles)
    warnings: list[str] = []
    if isinstance(spec, (str, bytes, os.PathLike)):
        p = os.fsdecode(os.fspath(spec))
        name = sanitize_name(p)
        if os.path.isdir(p):
            files = _list_folder(p, name, warnings)
            from_folder = True
        elif os.path.isfile(p):
            _, size = check_path(p, name)
            if is_stem_container(p, name):
                if overrides:
                    warnings.append(
                        "roles overrides are ignored for a .stem.mp4 (its stream order fixes the roles)"
                    )
                _, stems = stems_from_container(p, name, size, float(max_duration_s), int(target_sr), False)
                stems.warnings[:0] = warnings
                return stems
            kind = sniff(p)
            if kind.key == "zip":  # issue 15: not "a single audio file"
                raise named_error(StemSetError, name,
                                  "is a ZIP archive; unzip it and give the folder of stems or a list of files "
                                  "(the browser app takes a ZIP of stems)", p)
            if kind.backend == "none":
                raise named_error(StemSetError, name,
                                  f"is {kind.label}, not a stem set; give a folder, a list of files, or a "
                                  ".stem.mp4", p)
            raise named_error(StemSetError, name,
                              "is a single audio file, not a stem set; give a folder, a list of files, or a "
                              ".stem.mp4", p)
        else:
            raise named_error(AudioFileNotFoundError, name, "stem folder or file not found", p)
    elif isinstance(spec, Iterable):
        files = [os.fsdecode(os.fspath(x)) for x in spec]
        from_folder = False
        name = "stem list"
        seen = set()
        unique = []
        for f in files:
            if "\x00" in f:  # no file has a NUL in its name; realpath would raise ValueError (issue 15)
                raise named_error(AudioFileNotFoundError, sanitize_name(f), "file not found", f)
            key = os.path.realpath(f)
            if key in seen:
                warnings.append(f"'{sanitize_name(f)}' is listed twice; used once")
                continue
            seen.add(key)
            unique.append(f)
        files = unique
        if not files:
            raise StemSetError("no stem files given (empty list)")
    else:
        raise InvalidArgumentError(
            f"spec must be a folder, a list of files or a .stem.mp4 path, got {type(spec).__name__}"
        )

    # 1) names only: overrides, ignored files, full-mix look-alikes (warnings in file order)
    used: set[str] = set()
    todo: list[tuple[str, str, str | None]] = []  # (path, display name, overridden role)
    for f in files:
        shown = sanitize_name(f)
        role = _override_for(f, overrides, used)
        if role == "ignore":
            warnings.append(f"skipped '{shown}' (roles override: ignore)")
            continue
        if role is None and from_folder and " ".join(_tokens(f)) in _MIX_NAMES:
            warnings.append(
                f"skipped '{shown}': it looks like the full mix, not a stem (map it to a role "
                "in roles= to include it)"
            )
            continue
        todo.append((f, shown, role))
    unused = [k for k in overrides if k not in used]
    if unused:
        raise StemSetError(
            "roles override names no stem file: " + ", ".join(repr(sanitize_name(k)) for k in unused)
        )

    # 2) decode + resample, files in parallel (libsndfile, ffmpeg and soxr release the GIL)
    def load_one(job):
        f, shown, _ = job
        try:
            _, size = check_path(f, shown)
            decs, kind = decode_file(f, shown, size, float(max_duration_s), None, SPOOL_ABOVE_S)
            return to_audio(decs[0], name=shown, path=f, kind=kind, target_sr=int(target_sr),
                            max_duration_s=float(max_duration_s), min_duration_s=0.0, allow_silent=True)
        except (NotAudioError, UnsupportedFormatError, EmptyFileError) as e:
            if not from_folder:
                raise
            return e

    results = parallel_map(load_one, todo)

    # 3) roles and warnings, in file order
    items: list[_StemItem] = []
    skipped: list[str] = []
    for (f, shown, role), res in zip(todo, results):
        if isinstance(res, MixingBuddyError):
            warnings.append(f"skipped '{shown}': {str(res).split(': ', 1)[-1]}")
            skipped.append(shown)
            continue
        audio, peak = res
        if role is None:
            matches = _role_matches(f)
            role = matches[0] if matches else "other"
            if len(matches) > 1:
                warnings.append(
                    f"'{shown}' matches {' and '.join(matches)}; taken as {role} (pass roles= to change it)"
                )
        items.append(_StemItem(shown, role, audio, peak))
    if not items:
        if from_folder:
            extra = f" (skipped: {', '.join(skipped[:5])})" if skipped else ""
            raise named_error(StemSetError, name, f"no audio files in this folder{extra}", p)
        raise StemSetError("no stems left to analyse (all were ignored)")
    return _assemble(items, int(target_sr), warnings)
