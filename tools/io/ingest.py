"""Ingest: decode an audio file (or a set of stems), check it, and bring it to the analysis rate.

Everything downstream works on :class:`~.audio.Audio` at ``ANALYSIS_SR``; ingest is the only
part of the toolbox that touches files. It is deliberately strict: a file that cannot be
measured honestly is refused with a typed error from :mod:`.errors` whose one-line message
says what is wrong, instead of producing numbers from garbage. The entry points are
:func:`load_audio` and :func:`load_mix_and_stems`.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from ..errors import InvalidArgumentError, sanitize_name
from .audio import ANALYSIS_SR, Audio, StemSet

# The work is done by one module per job:
# - .sniff: what a file is, from its content (magic bytes), and the header checks that need no
#   decoding (a header cut short, the length a WAV/AIFF/FLAC header declares);
# - .decode: decoding with libsndfile or ffmpeg (PyAV), the 5.1 fold-down, the checks on the
#   decoded samples, and resampling with soxr;
# - .stems: stem roles from file names and stem sets (a folder, a list, a .stem.mp4).
from .decode import (
    MAX_SR,
    MIN_DURATION_S,
    MIN_SR,
    SILENCE_FLOOR_DBFS,
    TRUNCATION_TOLERANCE_RATIO,
    check_load_args,
    decode_file,
    to_audio,
)
from .sniff import check_path
from .spool import SPOOL_ABOVE_S
from .stems import (
    MUSDB_STREAM_ROLES,
    check_roles,
    infer_stem_role,
    is_stem_container,
    is_stem_mp4_name,
    load_stem_set,
    stems_from_container,
)

# the public entry point: load_stem_set, infer_stem_role, sanitize_name and the limits are
# re-exported from the modules that define them
__all__ = [
    "MIN_SR",
    "MAX_SR",
    "MIN_DURATION_S",
    "SILENCE_FLOOR_DBFS",
    "TRUNCATION_TOLERANCE_RATIO",
    "MUSDB_STREAM_ROLES",
    "load_audio",
    "load_stem_set",
    "load_mix_and_stems",
    "infer_stem_role",
    "sanitize_name",
]


# ---------------------------------------------------------------------------------------------
# one file


def load_audio(
    path: str | os.PathLike,
    *,
    max_duration_s: float = 1200.0,
    target_sr: int = ANALYSIS_SR,
    stream: int | None = None,
    spool_above_s: float | None = None,
) -> Audio:
    """Decode one audio file, check it, and resample it to ``target_sr`` (soxr HQ).

    Formats: WAV (incl. RF64/BWF, float), FLAC, Ogg Vorbis/Opus, AIFF/AIFC, MP3 (libsndfile),
    and M4A/MP4/AAC, Matroska/WebM, WMA (ffmpeg via PyAV). The format is recognised from the
    content; a wrong extension only adds a warning.

    ``stream`` picks an audio stream of a multi-stream file (0-based among the audio
    streams). For a MUSDB18 ``.stem.mp4``: 0 mixture (the default), 1 drums, 2 bass,
    3 other, 4 vocals (:data:`MUSDB_STREAM_ROLES`).

    Returns float32 samples of shape (n, 1) or (n, 2) at ``target_sr``, with ``source_sr``,
    ``source_channels``, ``source_format`` (e.g. ``"WAV PCM_24"``, ``"MP4 AAC"``) and
    ``warnings`` (resampling, 5.1 fold-down, clipping, truncation, extension mismatch).
    See :mod:`.decode` for the 5.1 fold-down.

    Raises (all from :mod:`.errors`): AudioFileNotFoundError, EmptyFileError,
    NotAudioError (also for a directory), UnsupportedFormatError, TruncatedFileError
    (header cut, or less than 90% of the declared data present), SampleRateError
    (outside 8-192 kHz), TooManyChannelsError (3-5 or 7+ channels), TooLongError
    (from the header when it gives a length, before decoding), TooShortError (< 0.5 s),
    SampleRangeError (float samples beyond +60 dBFS),
    NonFiniteSamplesError, SilentAudioError (peak below -90 dBFS), InvalidArgumentError.

    Notes
    -----
    The checks run in this order, the cheap ones from the header before any sample is decoded:
    missing path, directory, zero bytes, non-audio content (text, images, PDF, archives...),
    known container without audio, header truncation, sample rate outside 8-192 kHz, channel
    count, duration over ``max_duration_s``; then after decoding: data truncation, NaN/Inf
    samples, duration under 0.5 s (a BS.1770-4 gating block is 0.4 s; the mix-only estimate
    needs 0.5 s), float samples beyond +60 dBFS, silence (peak below -90 dBFS). Data that stops
    short of what the header declares is analysed with a warning when at least 90% of it is
    present and refused below that; an MP3's length is only an estimate, so there it is a
    warning either way.

    The display name is :func:`sanitize_name` of the base name, and every error message starts
    with that sanitised name (never the raw one, which may hold control characters).

    A file longer than ``spool_above_s`` (when given) that libsndfile reads (WAV, FLAC, AIFF, Ogg)
    is decoded and resampled a block at a time into a temporary file (``Audio.spool``; see
    :mod:`.spool`), so its memory stays bounded; ``Audio.samples`` is then a read-only map of it.
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise InvalidArgumentError(f"path must be a file path, got {type(path).__name__}")
    check_load_args(max_duration_s, target_sr)
    if stream is not None and (
        isinstance(stream, bool) or not isinstance(stream, (int, np.integer)) or stream < 0
    ):
        raise InvalidArgumentError(f"stream must be a non-negative integer or None, got {stream!r}")
    name = sanitize_name(path)
    p, size = check_path(path, name)
    want = None if stream is None else [int(stream)]
    decs, kind = decode_file(p, name, size, float(max_duration_s), want, spool_above_s)
    display = name
    if stream:
        display = _stream_display_name(name, int(stream), p)
    audio, _ = to_audio(decs[0], name=display, path=p, kind=kind, target_sr=int(target_sr),
                        max_duration_s=float(max_duration_s), min_duration_s=MIN_DURATION_S,
                        allow_silent=False)
    return audio


def _stream_display_name(name: str, stream: int, path: str) -> str:
    if is_stem_mp4_name(path) and stream < len(MUSDB_STREAM_ROLES):
        return f"{name} - {MUSDB_STREAM_ROLES[stream]}"
    return f"{name} - stream {stream}"


# ---------------------------------------------------------------------------------------------
# a mix and its stems


def load_mix_and_stems(
    mix_path: str | os.PathLike,
    stems_spec: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    *,
    roles: dict[str, str] | None = None,
    max_duration_s: float = 1200.0,
    target_sr: int = ANALYSIS_SR,
) -> tuple[Audio, StemSet | None]:
    """Load a mix and, optionally, its stems.

    A mix longer than :data:`~.spool.SPOOL_ABOVE_S` is spooled (see :func:`load_audio`).

    A ``.stem.mp4`` given as the mix (by name, or an MP4 with five or more audio streams)
    yields stream 0 as the mix and, when ``stems_spec`` is None, streams 1-4 as the stems,
    decoded in one pass. Otherwise the mix comes from :func:`load_audio` and the stems from
    :func:`load_stem_set` (None when ``stems_spec`` is None). When the mix and the stems
    differ in length by more than 1 s a warning is added to ``StemSet.warnings``.
    """
    check_load_args(max_duration_s, target_sr)
    if not isinstance(mix_path, (str, bytes, os.PathLike)):
        raise InvalidArgumentError(f"mix_path must be a file path, got {type(mix_path).__name__}")
    name = sanitize_name(mix_path)
    p, size = check_path(mix_path, name)
    stems: StemSet | None = None
    if is_stem_container(p, name):
        if stems_spec is None:
            overrides = check_roles(roles)
            mix, stems = stems_from_container(p, name, size, float(max_duration_s), int(target_sr), True)
            assert mix is not None
            if overrides:
                stems.warnings.insert(
                    0, "roles overrides are ignored for a .stem.mp4 (its stream order fixes the roles)"
                )
        else:
            mix = load_audio(p, max_duration_s=max_duration_s, target_sr=target_sr, stream=0)
    else:
        mix = load_audio(p, max_duration_s=max_duration_s, target_sr=target_sr, spool_above_s=SPOOL_ABOVE_S)
    if stems is None and stems_spec is not None:
        stems = load_stem_set(stems_spec, roles=roles, max_duration_s=max_duration_s, target_sr=target_sr)
    if stems is not None:
        stem_s = next(iter(stems.stems.values())).duration_s
        diff = stem_s - mix.duration_s
        if abs(diff) > 1.0:
            stems.warnings.append(
                f"the stems are {abs(diff):.2f} s {'longer' if diff > 0 else 'shorter'} than the mix "
                f"({stem_s:.2f} s vs {mix.duration_s:.2f} s); they may not belong to this mix or may "
                "be offset"
            )
    return mix, stems
