"""Decode one audio file, check the samples, and resample them: file bytes to :class:`~.audio.Audio`.

libsndfile or ffmpeg decodes (:func:`decode_file`), 5.1 is folded down to stereo
(:func:`_downmix_51`), :func:`to_audio` checks the samples and resamples with soxr.
"""
from __future__ import annotations

import errno
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import soundfile as sf
import soxr

from ..errors import (
    AudioFileNotFoundError,
    EmptyFileError,
    InvalidArgumentError,
    MixingBuddyError,
    NonFiniteSamplesError,
    NotAudioError,
    SampleRangeError,
    SampleRateError,
    SilentAudioError,
    TooLongError,
    TooManyChannelsError,
    TooShortError,
    TruncatedFileError,
    UnsupportedFormatError,
    named_error,
)
from .audio import Audio
from .sniff import (
    ALL_AUDIO_EXTS,
    AUDIO_EXTS,
    Kind,
    aiff_layout,
    check_flac_header,
    extension,
    mp4_box_problem,
    riff_layout,
    sniff,
    with_article,
)
from .spool import Spool, blocks_of

MIN_SR = 8_000  # Hz
MAX_SR = 192_000  # Hz
MIN_DURATION_S = 0.5  # every measurement's shortest input (a BS.1770-4 gating block is 0.4 s; the mix-only estimate needs 0.5 s)
MAX_PEAK_DBFS = 60.0  # float samples beyond 1000x full scale are not audio scaled to +-1
SILENCE_FLOOR_DBFS = -90.0
# A file whose data stops early is still analysed (with a warning) when at least this share
# of what its header declares is present; below it the file is refused as truncated.
TRUNCATION_TOLERANCE_RATIO = 0.9

_DOWNMIX_GAIN = 1.0 / math.sqrt(2.0)  # 0.7071, -3 dB (ITU-R BS.775)
_CLIP_LEVEL = 0.9999  # |x| at or above this counts as full scale (-0.0009 dBFS)
_READ_BLOCK = 1 << 17  # frames per libsndfile read of compressed, spooled or 5.1 input (salvages a cut FLAC)
# frames per libsndfile read of uncompressed audio straight into the samples array (mono or
# stereo in memory): few reads, so a decode running beside the command line's imports rarely
# waits for the GIL between them. Compressed formats keep ``_READ_BLOCK``: a FLAC decoder that
# fails inside a read cannot go back, so only the blocks read before the failure are kept.
_MEMORY_READ_BLOCK = 1 << 20
_UNCOMPRESSED_FORMATS = ("WAV", "WAVEX", "AIFF", "W64", "RF64", "CAF", "AU", "RAW")


# ---------------------------------------------------------------------------------------------
# arguments


def check_load_args(max_duration_s, target_sr) -> None:
    """Check the ``max_duration_s`` and ``target_sr`` arguments every load function takes."""
    if isinstance(max_duration_s, bool) or not isinstance(max_duration_s, (int, float)) or not (
        math.isfinite(max_duration_s) and max_duration_s > 0
    ):
        raise InvalidArgumentError(
            f"max_duration_s must be a positive number of seconds, got {max_duration_s!r}"
        )
    if isinstance(target_sr, bool) or not isinstance(target_sr, (int, np.integer)) or not (
        MIN_SR <= int(target_sr) <= MAX_SR
    ):
        raise InvalidArgumentError(
            f"target_sr must be an integer in {MIN_SR}..{MAX_SR} Hz, got {target_sr!r}"
        )


# ---------------------------------------------------------------------------------------------
# what decoding found, and the checks applied on the way


@dataclass
class Decoded:
    """Samples at the file's own rate, already folded to at most two channels, plus facts."""

    samples: np.ndarray  # float32 (n, 1|2)
    sr: int
    channels: int  # in the file
    fmt: str
    warnings: list[str] = field(default_factory=list)
    n_nan: int = 0
    n_inf: int = 0
    peak: float = 0.0  # max |x| over the file's channels (finite samples)
    clip_runs: int = 0
    declared_frames: int | None = None


class _Scan:
    """Running statistics over raw decoded blocks: non-finite count, peak, clipped runs."""

    def __init__(self) -> None:
        self.n_nan = 0
        self.n_inf = 0
        self.peak = 0.0
        self.clip_runs = 0

    def add(self, block: np.ndarray) -> None:
        if block.size == 0:
            return
        hi, lo = float(block.max()), float(block.min())
        if not (math.isfinite(hi) and math.isfinite(lo)):
            nan = np.isnan(block)
            self.n_nan += int(nan.sum())
            self.n_inf += int(np.isinf(block).sum())
            finite = block[np.isfinite(block)]
            if finite.size == 0:
                return
            hi, lo = float(finite.max()), float(finite.min())
            block = np.where(np.isfinite(block), block, 0.0).astype(np.float32)
        peak = max(hi, -lo)
        self.peak = max(self.peak, peak)
        if peak >= _CLIP_LEVEL and block.shape[0] >= 3:
            m = np.abs(block) >= _CLIP_LEVEL
            run3 = m[:-2] & m[1:-1] & m[2:]
            # count the starts of runs of >= 3 full-scale samples, per channel
            starts = run3[1:] & ~run3[:-1]
            self.clip_runs += int(starts.sum() + run3[0].sum())


def _check_rate(sr: int, name: str, path: str) -> None:
    if not (MIN_SR <= sr <= MAX_SR):
        raise named_error(SampleRateError, name,
                          f"sample rate {sr} Hz is outside the supported {MIN_SR}-{MAX_SR} Hz range", path)


def _check_channels(ch: int, name: str, path: str) -> None:
    if ch <= 0:
        raise named_error(UnsupportedFormatError, name, "declares no audio channels", path)
    if ch > 2 and ch != 6:
        raise named_error(TooManyChannelsError, name,
                          f"has {ch} channels; only mono, stereo and 6-channel 5.1 (folded down to "
                          "stereo) are supported; bounce a stereo mix", path)


def _check_long(seconds: float | None, max_duration_s: float, name: str, path: str) -> None:
    if seconds is not None and seconds > max_duration_s:
        raise named_error(TooLongError, name,
                          f"is {seconds:.1f} s long; the limit is {max_duration_s:g} s (max_duration_s)", path)


def _downmix_51(block: np.ndarray) -> np.ndarray:
    """(n, 6) L R C LFE Ls Rs -> (n, 2) by ITU-R BS.775: Lo = L + .707C + .707Ls, LFE dropped.

    Mono and stereo are kept as they are. Six channels are taken as 5.1 in the WAV/SMPTE order
    L, R, C, LFE, Ls, Rs (the order of WAVE_FORMAT_EXTENSIBLE's default mask, FLAC, and of
    ffmpeg's decoders) and folded down with the ITU-R BS.775 coefficients::

        Lo = L + 0.7071*C + 0.7071*Ls        Ro = R + 0.7071*C + 0.7071*Rs

    The LFE channel is dropped (BS.775 leaves it out of the stereo down-mix) and no gain
    normalisation is applied, so the fold-down may exceed 0 dBFS (a warning says so). Any other
    count above two raises :class:`~.errors.TooManyChannelsError` (:func:`_check_channels`).
    """
    c = block[:, 2] * np.float32(_DOWNMIX_GAIN)
    out = np.empty((block.shape[0], 2), np.float32)
    out[:, 0] = block[:, 0] + c + np.float32(_DOWNMIX_GAIN) * block[:, 4]
    out[:, 1] = block[:, 1] + c + np.float32(_DOWNMIX_GAIN) * block[:, 5]
    return out


def _truncation(
    got: int, declared: int | None, sr: int, name: str, path: str, warnings: list[str], *, errored: bool
) -> None:
    """Apply the truncation rule: >= TRUNCATION_TOLERANCE_RATIO of the declared length present
    -> warn and go on; less -> TruncatedFileError."""
    if declared is None or declared <= 0:
        if errored and got == 0:
            raise named_error(TruncatedFileError, name,
                              "the decoder failed before any audio; the file is truncated or corrupt", path)
        if errored:
            warnings.append(f"decoder errors after {got / sr:.2f} s; analysing what was decoded")
        return
    if got >= declared:
        return
    ratio = got / declared
    if errored and ratio < TRUNCATION_TOLERANCE_RATIO:
        raise named_error(TruncatedFileError, name,
                          f"decoding failed after {got / sr:.2f} s of the {declared / sr:.2f} s its header "
                          f"declares ({100 * ratio:.0f}%); the file is truncated or corrupt", path)
    if got == 0:
        raise named_error(TruncatedFileError, name,
                          f"header declares {declared / sr:.2f} s of audio but the file ends before any "
                          "of it; the file is truncated", path)
    if ratio < TRUNCATION_TOLERANCE_RATIO:
        raise named_error(TruncatedFileError, name,
                          f"header declares {declared / sr:.2f} s of audio but only {got / sr:.2f} s "
                          f"({100 * ratio:.0f}%) is present; the file is truncated", path)
    warnings.append(
        f"file is truncated: {got / sr:.2f} s of the {declared / sr:.2f} s its header declares is "
        "present; analysing what is there"
    )


def _reason(exc: BaseException, path: str, name: str) -> str:
    """A decoder's exception text, short, on one line, with the full path replaced by the
    display name."""
    text = str(exc) or type(exc).__name__
    for p in {path, os.path.abspath(path)}:
        if p:
            text = text.replace(p, name)
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = " ".join(text.split())
    return text[:160]


# ---------------------------------------------------------------------------------------------
# libsndfile


_WAV_UNSIZED = "WAV data size not set"


class _TryOther(Exception):
    """libsndfile cannot read this file; let ffmpeg try (carries libsndfile's reason)."""


def _decode_sf(path: str, name: str, kind: Kind, size: int, max_duration_s: float,
               spool_above_s: float | None = None) -> Decoded:
    layout = None
    if kind.key == "wav":
        layout = riff_layout(path, size, name)
        if layout is not None:
            if layout.declared_frames is None and layout.available_frames:
                raise _TryOther(_WAV_UNSIZED)
            if layout.sr is not None:  # 0 Hz too: libsndfile's words for it are "SF_INFO struct incomplete"
                _check_rate(layout.sr, name, path)
            if layout.declared_frames == 0:
                raise named_error(EmptyFileError, name, "has a WAV header but no audio samples", path)
    elif kind.key == "aiff":
        layout = aiff_layout(path, size, name)
    elif kind.key == "flac":
        check_flac_header(path, size, name)
    try:
        f = sf.SoundFile(path)
    except Exception as e:  # libsndfile refuses: unsupported codec inside, or not audio
        raise _TryOther(_reason(e, path, name)) from e
    with f:
        sr, ch, frames = int(f.samplerate), int(f.channels), int(f.frames)
        fmt = f"{f.format} {f.subtype}"
        if f.format == "OGG" and ch > 2:
            raise _TryOther("multichannel Ogg: ffmpeg applies the Vorbis channel order")
        _check_rate(sr, name, path)
        _check_channels(ch, name, path)
        exact = f.format not in ("MP3", "MPEG")  # libsndfile's MP3 length is an estimate
        declared = frames if exact else None
        if layout is not None and layout.declared_frames is not None and layout.available_frames is not None:
            declared = layout.declared_frames
            frames = min(frames, layout.available_frames) if frames else layout.available_frames
        _check_long(frames / sr if frames else None, max_duration_s, name, path)
        if frames == 0 and exact and layout is None:
            raise _TryOther("libsndfile reports no frames")  # e.g. a streamed FLAC: let ffmpeg read it
        if frames == 0 and exact and (declared or 0) == 0:
            raise named_error(EmptyFileError, name,
                              f"has {with_article(kind.label)} header but no audio samples", path)
        warnings: list[str] = []
        scan = _Scan()
        ch_out = 2 if ch > 2 else ch
        if spool_above_s is not None and frames and frames / sr > spool_above_s:
            pos, errored, samples = _read_sf_spooled(f, frames if exact else None, ch, scan, sr,
                                                     max_duration_s, name, path)
        else:
            pos, errored, samples = _read_sf(f, frames, ch, ch_out, exact, scan, sr, max_duration_s, name, path)
    return _finish_sf(pos, errored, declared, layout, exact, frames, sr, ch, fmt, warnings, scan, samples,
                      kind, name, path)


def _creep_block(f, pos: int, block: int) -> int:
    """After a decoder error in a read at ``pos``: go back and creep up on the error in small
    blocks to keep what decodes (the new block size), or 0 when the blocks are already small."""
    if block > 4096:
        try:
            f.seek(pos)
            return 4096
        except Exception:
            pass
    return 0


def _read_sf_spooled(f, frames: int | None, ch: int, scan: _Scan, sr: int, max_duration_s: float,
                     name: str, path: str) -> tuple[int, bool, Spool]:
    """Read an open libsndfile file of ``frames`` frames (None: to its end, for an MP3 whose
    length is an estimate) into a :class:`~.spool.Spool` a block at a time (5.1 folded down),
    scanning each block; returns (frames read, errored, spool)."""
    spool = Spool(2 if ch > 2 else ch)
    buf = np.empty((_READ_BLOCK, min(ch, 2)), np.float32) if ch <= 2 else None
    cap = int(max_duration_s * sr) + 1
    pos, errored, block = 0, False, _READ_BLOCK
    while frames is None or pos < frames:
        if pos >= cap:
            _check_long(pos / sr + 1.0, max_duration_s, name, path)
        k = block if frames is None else min(block, frames - pos)
        try:
            if buf is not None:
                data = f.read(k, dtype="float32", always_2d=True, out=buf[:k])
                scan.add(data)
            else:
                raw = f.read(k, dtype="float32", always_2d=True)
                scan.add(raw)
                data = _downmix_51(raw)
        except Exception:  # decoder error mid-stream (truncated / corrupt data)
            block = _creep_block(f, pos, block)
            if block:
                continue
            errored = True
            break
        spool.append(data)
        pos += data.shape[0]
        if data.shape[0] < k:
            break
    return pos, errored, spool


def _read_sf(f, frames: int, ch: int, ch_out: int, exact: bool, scan: _Scan, sr: int, max_duration_s: float,
             name: str, path: str) -> tuple[int, bool, np.ndarray]:
    """Read an open libsndfile file into memory (5.1 folded down); returns (frames read, errored,
    samples)."""
    cap = int(max_duration_s * sr) + 1
    out = np.empty((max(frames, 1) if frames else _READ_BLOCK, ch_out), np.float32)
    big = ch <= 2 and f.format in _UNCOMPRESSED_FORMATS and f.subtype.startswith(("PCM", "FLOAT", "DOUBLE"))
    pos, errored, block = 0, False, (_MEMORY_READ_BLOCK if big else _READ_BLOCK)
    while True:
        if pos == out.shape[0]:
            if exact and frames:
                break
            if pos >= cap:
                _check_long(pos / sr + 1.0, max_duration_s, name, path)
            grown = np.empty((out.shape[0] * 2, ch_out), np.float32)
            grown[:pos] = out[:pos]
            out = grown
        k = min(block, out.shape[0] - pos)
        try:
            if ch <= 2:
                got = f.read(k, dtype="float32", always_2d=True, out=out[pos : pos + k])
                n = got.shape[0]
            else:
                raw = f.read(k, dtype="float32", always_2d=True)
                scan.add(raw)
                n = raw.shape[0]
                out[pos : pos + n] = _downmix_51(raw)
        except Exception:  # decoder error mid-stream (truncated / corrupt data)
            block = _creep_block(f, pos, block)
            if block:
                continue
            errored = True
            break
        pos += n
        if n < k:
            break
    samples = out[:pos]
    if ch <= 2:
        scan.add(samples)
    return pos, errored, samples


def _finish_sf(pos, errored, declared, layout, exact, frames, sr, ch, fmt, warnings, scan, samples,
               kind, name, path) -> Decoded:
    """The checks after reading: empty, truncated (against the header), MP3 length estimate."""
    if pos == 0 and not errored and not (declared or 0):
        raise named_error(EmptyFileError, name,
                          f"has {with_article(kind.label)} header but no audio samples", path)
    if layout is not None and layout.declared_frames is not None:
        _truncation(min(pos, layout.available_frames or pos), layout.declared_frames, sr, name, path,
                    warnings, errored=errored)
    else:
        _truncation(pos, declared, sr, name, path, warnings, errored=errored)
    if not exact and frames and pos < TRUNCATION_TOLERANCE_RATIO * frames:
        # libsndfile's MP3 length comes from a Xing/LAME header or a bitrate estimate: only a
        # warning, since an estimate for a VBR file without a Xing header can be far off
        warnings.append(
            f"the MP3 may be truncated: {pos / sr:.2f} s decoded, its header suggests {frames / sr:.2f} s"
        )
    if pos == 0:
        raise named_error(TruncatedFileError, name,
                          "no audio could be decoded; the file is truncated or corrupt", path)
    return Decoded(samples, sr, ch, fmt, warnings, scan.n_nan, scan.n_inf, scan.peak,
                   scan.clip_runs, declared)


# ---------------------------------------------------------------------------------------------
# ffmpeg (PyAV)


def _frame_array(frame) -> np.ndarray:
    """One PyAV audio frame -> float32 (channels, n)."""
    arr = frame.to_ndarray()
    ch = frame.layout.nb_channels
    if not frame.format.is_planar:
        arr = arr.reshape(-1, ch).T
    if arr.dtype == np.float32:
        return arr
    if arr.dtype == np.float64:
        return arr.astype(np.float32)
    if arr.dtype == np.uint8:
        return (arr.astype(np.float32) - 128.0) / 128.0
    scale = float(2 ** (8 * arr.dtype.itemsize - 1))
    return (arr.astype(np.float32) / np.float32(scale)).astype(np.float32)


class _Collector:
    """Accumulates decoded PyAV frames of one stream into a growing float32 (n, ch) buffer,
    copying planar float planes straight in (no per-frame arrays, no final transpose)."""

    def __init__(self, hint_frames: int, spool: bool = False, spool_above_s: float | None = None) -> None:
        self.hint = _READ_BLOCK if spool else max(int(hint_frames), 4096)
        self.spool_above_s = spool_above_s  # switch to spooling past this (a stream of unknown length)
        self.buf: np.ndarray | None = None
        self.pos = 0
        self.sr = 0
        self.ch = 0
        # spooling (a long stream): ``buf`` is a staging block flushed to a Spool, 5.1 folded
        # down and every raw block scanned on the way
        self.spool: Spool | None = None
        self.spooling = spool
        self.scan = _Scan()
        self.flushed = 0

    @property
    def frames(self) -> int:
        """Frames collected so far."""
        return self.flushed + self.pos

    def _flush(self) -> None:
        data = self.buf[: self.pos]
        self.scan.add(data)
        if self.spool is None:
            self.spool = Spool(2 if self.ch > 2 else self.ch)
        self.spool.append(_downmix_51(data) if self.ch > 2 else data)
        self.flushed += self.pos
        self.pos = 0

    def add(self, fr, name: str, path: str) -> None:
        n = int(fr.samples)
        if n <= 0:
            return
        ch = int(fr.layout.nb_channels)
        sr = int(fr.sample_rate)
        if self.buf is None:
            self.sr, self.ch = sr, ch
            self.buf = np.empty((self.hint, ch), np.float32)
        elif ch != self.ch or sr != self.sr:
            raise named_error(UnsupportedFormatError, name,
                              "changes channel count or sample rate mid-stream", path)
        if (not self.spooling and self.spool_above_s is not None
                and self.pos + n > self.spool_above_s * sr and self.pos + n > self.buf.shape[0]):
            self.spooling = True  # longer than declared (or undeclared): spool from here on
            self._flush()
            self.buf = np.empty((max(_READ_BLOCK, n), ch), np.float32)
        if self.spooling and self.pos + n > self.buf.shape[0]:
            self._flush()
        if self.pos + n > self.buf.shape[0]:
            grown = np.empty((max(2 * self.buf.shape[0], self.pos + n), ch), np.float32)
            grown[: self.pos] = self.buf[: self.pos]
            self.buf = grown
        dst = self.buf[self.pos : self.pos + n]
        fmt = fr.format.name
        if fmt == "fltp":
            for c, plane in enumerate(fr.planes):
                dst[:, c] = np.frombuffer(plane, np.float32, count=n)
        elif fmt == "flt":
            dst[:] = np.frombuffer(fr.planes[0], np.float32, count=n * ch).reshape(n, ch)
        else:
            dst[:] = _frame_array(fr).T
        self.pos += n

    def samples(self) -> np.ndarray | Spool:
        """The collected samples: an array (raw channels), or when spooling the Spool (at most
        two channels, already scanned into ``scan``)."""
        assert self.buf is not None
        if self.spooling:
            self._flush()
            self.buf = None
            return self.spool
        return self.buf[: self.pos]


_EXACT_DURATION_FORMATS = ("mov", "mp4", "matroska", "webm", "flac", "wav", "aiff", "ogg", "caf", "w64")


def _open_av(path: str, name: str, kind: Kind):
    import av

    try:
        return av.open(path, mode="r", metadata_errors="ignore")
    except Exception as e:
        reason = _reason(e, path, name)
        if kind.key == "mp4":
            problem = mp4_box_problem(path)
            if problem:
                raise named_error(TruncatedFileError, name,
                                  f"{problem}; the file is truncated or was not finished writing", path) from e
        if kind.audio and kind.strong:
            raise named_error(UnsupportedFormatError, name,
                              f"looks like {kind.label} but could not be opened ({reason}); the file is "
                              "corrupt or uses an unsupported codec", path) from e
        raise named_error(NotAudioError, name, "is not a recognised audio file", path) from e


def _audio_streams(container, name: str, path: str) -> list:
    audio = list(container.streams.audio)
    if not audio:
        others = ", ".join(
            f"{s.type} {getattr(s.codec_context, 'name', '?')}" for s in container.streams
        ) or "none"
        raise named_error(UnsupportedFormatError, name,
                          f"contains no audio stream (streams found: {others})", path)
    return audio


def decode_av(
    path: str, name: str, kind: Kind, want: Sequence[int] | None, max_duration_s: float,
    spool_above_s: float | None = None,
) -> list[Decoded]:
    """Decode the chosen audio streams (indices among the audio streams) in one demux pass; one
    stream declared longer than ``spool_above_s`` is collected into a :class:`~.spool.Spool`."""
    import av

    container = _open_av(path, name, kind)
    with container:
        audio = _audio_streams(container, name, path)
        idx = list(want) if want is not None else [0]
        for i in idx:
            if not 0 <= i < len(audio):
                raise named_error(InvalidArgumentError, name,
                                  f"has {len(audio)} audio stream(s); stream={i} does not exist", path)
        streams = [audio[i] for i in idx]
        fmt_name = container.format.name or ""
        exact = any(t in fmt_name for t in _EXACT_DURATION_FORMATS)
        declared: dict[int, float | None] = {}
        for s in streams:
            cc = s.codec_context
            if cc is None:  # ffmpeg found the stream but has no decoder for its codec (issue 15)
                raise named_error(UnsupportedFormatError, name,
                                  "holds audio in a codec that no installed decoder reads", path)
            sr = int(cc.sample_rate or s.sample_rate or 0)
            if sr:
                _check_rate(sr, name, path)
            _check_channels(int(cc.channels or 0) or 1, name, path)
            secs = None
            if s.duration and s.time_base:
                secs = float(s.duration * s.time_base)
            elif container.duration:
                secs = container.duration / 1_000_000.0
            declared[s.index] = secs
            _check_long(secs, max_duration_s, name, path)
        hints = {
            s.index: ((declared[s.index] or 60.0) + 1.0) * (int(s.codec_context.sample_rate or 0) or 48_000)
            for s in streams
        }
        spool = (spool_above_s is not None and len(streams) == 1
                 and (declared[streams[0].index] or 0.0) > spool_above_s)
        cols = {s.index: _Collector(int(hints[s.index]), spool, spool_above_s if len(streams) == 1 else None)
                for s in streams}
        errors = {s.index: 0 for s in streams}
        try:
            for packet in container.demux(streams):
                si = packet.stream.index
                try:
                    frames = packet.decode()
                except av.error.FFmpegError:
                    errors[si] += 1
                    continue
                col = cols[si]
                for fr in frames:
                    col.add(fr, name, path)
                if col.sr and col.frames > (max_duration_s + 1.0) * col.sr:
                    _check_long(col.frames / col.sr, max_duration_s, name, path)
        except MixingBuddyError:
            raise
        except Exception:  # demuxer hit a broken/truncated packet: keep what was decoded
            for s in streams:
                errors[s.index] += 1
        out = []
        for s in streams:
            si = s.index
            cc = s.codec_context
            col = cols[si]
            if col.buf is None or col.frames == 0:
                if kind.strong and kind.audio:
                    if errors[si] and declared.get(si):
                        raise named_error(TruncatedFileError, name,
                                          f"no audio could be decoded from its {kind.label} data; the file "
                                          "is truncated or corrupt", path)
                    if declared.get(si) in (None, 0, 0.0) and not errors[si]:
                        raise named_error(EmptyFileError, name,
                                          f"has {with_article(kind.label)} header but no decodable audio "
                                          "(empty or corrupt)", path)
                    raise named_error(UnsupportedFormatError, name,
                                      f"looks like {kind.label} but no audio could be decoded", path)
                raise named_error(NotAudioError, name, "is not a recognised audio file", path)
            sr, ch = col.sr, col.ch
            _check_rate(sr, name, path)
            _check_channels(ch, name, path)
            samples = col.samples()
            if col.spooling:
                scan = col.scan
            else:
                scan = _Scan()
                scan.add(samples)
                if ch == 6:
                    samples = _downmix_51(samples)
            cols[si] = None  # type: ignore[assignment]
            warnings: list[str] = []
            n = samples.shape[0]
            dec_secs = declared.get(si)
            decl_frames = int(round(dec_secs * sr)) if (dec_secs and exact) else None
            # AAC/Opus priming and edit lists make a few ms of difference: tolerate 50 ms
            if decl_frames is not None and n >= decl_frames - int(0.05 * sr):
                decl_frames = None
            _truncation(n, decl_frames, sr, name, path, warnings, errored=bool(errors[si]))
            if errors[si] and decl_frames is None:
                warnings.append(f"{errors[si]} undecodable packet(s) skipped")
            if kind.key in ("unknown", "other-audio", "sf-other"):
                container_label = fmt_name.split(",")[0].upper() or "?"
            else:
                container_label = kind.key.upper()
            fmt = f"{container_label} {(cc.name or '?').upper()}"
            out.append(Decoded(samples, sr, ch, fmt, warnings, scan.n_nan, scan.n_inf, scan.peak,
                               scan.clip_runs, decl_frames))
        return out


def count_audio_streams(path: str, name: str, kind: Kind) -> int:
    """Number of audio streams ffmpeg finds in the file (five in a MUSDB18 ``.stem.mp4``)."""
    container = _open_av(path, name, kind)
    with container:
        return len(container.streams.audio)


# ---------------------------------------------------------------------------------------------
# one file: which decoder, then the checks on the samples and resampling


def decode_file(
    path: str, name: str, size: int, max_duration_s: float, streams: Sequence[int] | None,
    spool_above_s: float | None = None,
) -> tuple[list[Decoded], Kind]:
    """Sniff and decode; any exception that is not one of ours becomes a typed error.

    libsndfile (through ``soundfile``) reads WAV/RF64/W64, AIFF/AIFC, FLAC, Ogg Vorbis/Opus,
    MP3, CAF and AU; ffmpeg (through PyAV) reads MP4/M4A/AAC, Matroska/WebM, WMA and the rest,
    and is the fallback when libsndfile refuses a file it should read (e.g. a WAV whose ``data``
    size was never filled in). Ogg files with more than two channels go to ffmpeg, which applies
    the Vorbis channel order (libsndfile returns the raw order). Which decoder goes first comes
    from :func:`~.sniff.sniff`.

    Sample rate, channel count and duration are checked from the header before decoding where
    the header tells; data truncation against the declared length while decoding
    (:data:`TRUNCATION_TOLERANCE_RATIO`); NaN/Inf, duration and silence after decoding, in
    :func:`to_audio`.

    A file (one stream) whose header says it is longer than ``spool_above_s``, or that turns out
    longer while ffmpeg decodes it, is decoded a block at a time into a :class:`~.spool.Spool`
    instead of memory.
    """
    try:
        return _decode_file_inner(path, name, size, max_duration_s, streams, spool_above_s)
    except MixingBuddyError:
        raise
    except MemoryError as e:
        raise named_error(TooLongError, name, "is too large to decode in memory", path) from e
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise _no_space(name, path) from e
        raise named_error(UnsupportedFormatError, name,
                          f"could not be decoded ({type(e).__name__}: {_reason(e, path, name)})", path) from e
    except Exception as e:  # a decoder failed in a way we did not foresee
        raise named_error(UnsupportedFormatError, name,
                          f"could not be decoded ({type(e).__name__}: {_reason(e, path, name)})", path) from e


def _decode_file_inner(
    path: str, name: str, size: int, max_duration_s: float, streams: Sequence[int] | None,
    spool_above_s: float | None = None,
) -> tuple[list[Decoded], Kind]:
    try:
        kind = sniff(path)
    except OSError as e:
        raise named_error(AudioFileNotFoundError, name, f"cannot be read ({e.strerror or e})", path) from e
    if kind.backend == "none":
        raise named_error(NotAudioError, name, f"is {kind.label}, not an audio file", path)
    sf_reason = None
    multi = streams is not None and any(i != 0 for i in streams)
    # Unknown content goes to ffmpeg only: libsndfile's last-resort MP3 probe prints
    # mpg123 notes on stderr for every non-audio file.
    if kind.backend == "sf" and kind.key != "unknown" and not multi:
        try:
            return [_decode_sf(path, name, kind, size, max_duration_s, spool_above_s)], kind
        except _TryOther as e:
            sf_reason = str(e)
    try:
        decs = decode_av(path, name, kind, streams, max_duration_s, spool_above_s)
        if sf_reason == _WAV_UNSIZED:
            decs[0].warnings.append(
                "the WAV header's data size was never filled in (unfinished recording?); "
                "read to the end of the file"
            )
        return decs, kind
    except NotAudioError:
        if kind.key == "unknown":
            raise named_error(NotAudioError, name,
                              "is not a recognised audio file (unknown content that ffmpeg cannot "
                              "identify either)", path) from None
        raise
    except UnsupportedFormatError as e:
        if sf_reason and kind.strong:
            if "does not exist" in sf_reason:  # libsndfile's words for "no frame found"; the file exists
                raise named_error(TruncatedFileError, name,
                                  f"looks like {kind.label} but holds no decodable audio (a header or tag "
                                  "with nothing after it): the file is truncated or damaged", path) from e
            raise named_error(UnsupportedFormatError, name,
                              f"looks like {kind.label} but cannot be decoded (libsndfile: {sf_reason}); "
                              "the file is corrupt or uses an unsupported codec", path) from e
        if not kind.strong:
            raise named_error(NotAudioError, name,
                              f"is not a recognised audio file (it only resembles {kind.label})", path) from e
        raise
    except TruncatedFileError as e:
        if not kind.strong:
            raise named_error(NotAudioError, name,
                              f"is not a recognised audio file (it only resembles {kind.label})", path) from e
        raise


def _start_resampling(samples: np.ndarray, sr_in: int, sr_out: int) -> Callable[[], np.ndarray]:
    """Start soxr "HQ" resampling of ``samples`` (n, ch) float32 from ``sr_in`` to ``sr_out`` Hz
    on worker threads and return a function that waits for the (m, ch) result, so the caller
    can count the clipping meanwhile.

    A stereo signal is resampled one channel per thread, each reading its column in place and
    writing its column of the result: soxr filters the channels independently and releases
    the GIL, so the samples are the same as one interleaved call's (``tests/test_speed_exact.py``)
    and two cores take about 0.09 s instead of 0.15 s for a 3-minute song.
    """
    n_ch = samples.shape[1]
    pool = ThreadPoolExecutor(max_workers=n_ch, thread_name_prefix="resample")
    if n_ch == 1:
        job = pool.submit(soxr.resample, samples, sr_in, sr_out, quality="HQ")
        pool.shutdown(wait=False)
        return job.result
    box: list[np.ndarray] = []
    lock = threading.Lock()

    def channel(c: int) -> None:
        col = soxr.resample(samples[:, c], sr_in, sr_out, quality="HQ")
        with lock:  # the first channel done makes the result array
            if not box:
                box.append(np.empty((col.shape[0], n_ch), np.float32))
        box[0][:, c] = col

    jobs = [pool.submit(channel, c) for c in range(n_ch)]
    pool.shutdown(wait=False)

    def result() -> np.ndarray:
        for j in jobs:
            j.result()
        return box[0]

    return result


_NARROW_BAND = ("sampled at {sr} Hz: nothing above {khz:g} kHz was recorded, so the air and brilliance "
                "bands read empty")


def _no_space(name: str, path: str) -> MixingBuddyError:
    return named_error(TooLongError, name, "is too long for the free space in the temporary folder, where a "
                       "long file is decoded a block at a time (set TMPDIR to a larger disk)", path)


def _resample_spool(src: Spool, sr_in: int, sr_out: int) -> Spool:
    """soxr "HQ" resampling of a spooled signal a block at a time (``soxr.ResampleStream``)."""
    rs = soxr.ResampleStream(sr_in, sr_out, src.channels, dtype="float32", quality="HQ")
    out = Spool(src.channels)
    for a, block in src.blocks():
        out.append(rs.resample_chunk(block, last=a + block.shape[0] >= src.n))
    src.close()
    return out


def to_audio(
    dec: Decoded,
    *,
    name: str,
    path: str,
    kind: Kind,
    target_sr: int,
    max_duration_s: float,
    min_duration_s: float,
    allow_silent: bool,
) -> tuple[Audio, float]:
    """Post-decode checks, fold-down note, resampling. Returns the Audio and its peak dBFS."""
    n_bad = dec.n_nan + dec.n_inf
    total = dec.samples.shape[0] * dec.channels
    if n_bad:
        raise named_error(NonFiniteSamplesError, name,
                          f"contains {n_bad} non-finite sample(s) ({dec.n_nan} NaN, {dec.n_inf} infinite) "
                          f"out of {total}; the file is corrupt", path)
    secs = dec.samples.shape[0] / dec.sr
    _check_long(secs, max_duration_s, name, path)
    if secs < min_duration_s:
        raise named_error(TooShortError, name,
                          f"is too short to measure: {secs:.2f} s long, at least {min_duration_s:g} s is needed", path)
    peak_dbfs = 20.0 * math.log10(dec.peak) if dec.peak > 0 else -math.inf
    if peak_dbfs > MAX_PEAK_DBFS:
        raise named_error(SampleRangeError, name,
                          f"has float samples up to {dec.peak:.3g} ({peak_dbfs:+.0f} dBFS), far beyond "
                          f"full scale (+-1.0): it is not audio scaled for playback, or it is corrupt", path)
    if not allow_silent and peak_dbfs < SILENCE_FLOOR_DBFS:
        if dec.peak == 0:
            msg = "is digital silence (every sample is zero)"
        else:
            msg = f"is silent: its peak is {peak_dbfs:.1f} dBFS, below the {SILENCE_FLOOR_DBFS:g} dBFS floor"
        raise named_error(SilentAudioError, name, msg, path)
    warnings = list(dec.warnings)
    ext = extension(path)
    if kind.key in AUDIO_EXTS and ext in ALL_AUDIO_EXTS and ext not in AUDIO_EXTS[kind.key]:
        warnings.append(f"extension '.{ext}' does not match the content ({kind.label}); read as {kind.label}")
    if peak_dbfs >= 0.005:  # above full scale by at least 0.01 dB after rounding
        warnings.append(
            f"decoded peak {peak_dbfs:+.2f} dBFS is above full scale; kept as is, not clipped"
        )
    samples = dec.samples
    spooled = isinstance(samples, Spool)
    # Resampling starts first, on threads of its own, while the clipping is counted here.
    resampled = (_start_resampling(samples, dec.sr, target_sr) if dec.sr != target_sr and not spooled
                 else None)
    # imported here, not at the top, so that decoding never waits for pydantic (the command line
    # imports the measurement modules while a file decodes, ``mixingbuddy.cli``), and after the
    # resampling has started, so that it does not wait either
    from ..measure.dynamics import clipping_runs, clipping_runs_blocks

    # Clipping is judged on the file's own samples: resampling rounds off flat tops, so the
    # 48 kHz copy would under-count. The dynamics tool reports this same result.
    source_clipping = None
    if spooled:  # always counted here: the dynamics tool would need another pass
        # a spooled 5.1 file holds its fold-down, louder than the raw channels ``dec.peak`` measured:
        # judged against that peak every sample above it read as clipped (issue 15)
        peak = dec.peak if dec.channels <= 2 else max(
            (float(np.abs(b).max()) for _, b in blocks_of(samples)), default=0.0)
        source_clipping = clipping_runs_blocks(samples, dec.sr, peak)
    elif dec.clip_runs or dec.sr != target_sr:
        source_clipping = clipping_runs(samples, dec.sr)
    if source_clipping is not None:
        if source_clipping.runs:
            warnings.append(f"clipped input: {source_clipping.runs} run(s) of "
                            f"{source_clipping.min_run} or more consecutive samples at "
                            f"{source_clipping.level_dbfs:+.2f} dBFS or above")
    if dec.channels == 6:
        warnings.append(
            "downmixed 6 channels (5.1: L R C LFE Ls Rs) to stereo: L/R + 0.707*C + 0.707*surround, "
            "LFE dropped (ITU-R BS.775)"
        )
        fold_peak = max((float(np.abs(b).max()) for _, b in blocks_of(samples)), default=0.0)
        if fold_peak > 1.0:
            warnings.append(
                f"the 5.1 fold-down peaks at {20 * math.log10(fold_peak):+.2f} dBFS (not normalised)"
            )
    if spooled:
        try:
            out = _resample_spool(samples, dec.sr, target_sr) if dec.sr != target_sr else samples
        except OSError as e:
            if e.errno == errno.ENOSPC:
                raise _no_space(name, path) from e
            raise
        if dec.sr < 32_000:
            warnings.append(_NARROW_BAND.format(sr=dec.sr, khz=dec.sr / 2000))
        return Audio(samples=out.array(), sr=int(target_sr), name=name, source_sr=int(dec.sr),
                     source_channels=int(dec.channels), source_format=dec.fmt, path=path, warnings=warnings,
                     source_clipping=source_clipping, spool=out), peak_dbfs
    if resampled is not None:
        try:
            samples = resampled()
        except MemoryError as e:
            raise named_error(TooLongError, name, "is too large to resample in memory", path) from e
        if samples.dtype != np.float32:
            samples = samples.astype(np.float32)
        if dec.sr < 32_000:  # resampling itself is routine; a narrow band is worth saying
            warnings.append(_NARROW_BAND.format(sr=dec.sr, khz=dec.sr / 2000))
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    audio = Audio(
        samples=samples,
        sr=int(target_sr),
        name=name,
        source_sr=int(dec.sr),
        source_channels=int(dec.channels),
        source_format=dec.fmt,
        path=path,
        warnings=warnings,
        source_clipping=source_clipping,
    )
    return audio, peak_dbfs
