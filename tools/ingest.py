"""Ingest: decode an audio file (or a set of stems), check it, and bring it to the analysis rate.

Everything downstream works on :class:`~.audio.Audio` at ``ANALYSIS_SR``; this module is the
only place that touches files. It is deliberately strict: a file that cannot be measured
honestly is refused with a typed error from :mod:`.errors` whose one-line message says what
is wrong, instead of producing numbers from garbage.

Decoding
    The format is decided from the file's *content* (magic bytes), not its extension.
    libsndfile (through ``soundfile``) reads WAV/RF64/W64, AIFF/AIFC, FLAC, Ogg Vorbis/Opus,
    MP3, CAF and AU; ffmpeg (through PyAV) reads MP4/M4A/AAC, Matroska/WebM, WMA and the
    rest, and is the fallback when libsndfile refuses a file it should read (e.g. a WAV whose
    ``data`` size was never filled in). Ogg files with more than two channels go to ffmpeg,
    which applies the Vorbis channel order (libsndfile returns the raw order).

Checks (in this order, cheap ones from the header before any sample is decoded)
    missing path, directory, zero bytes, non-audio content (text, images, PDF, archives...),
    known container without audio, header truncation, sample rate outside 8-192 kHz,
    channel count, duration over ``max_duration_s``; then after decoding: data truncation,
    NaN/Inf samples, duration under 0.4 s (one ITU-R BS.1770-4 gating block), silence
    (peak below -90 dBFS). Data that stops short of what the header declares is analysed with
    a warning when at least 90% of it is present and refused below that; an MP3's length is
    only an estimate, so there it is a warning either way.

Channels
    Mono and stereo are kept as they are. Six channels are taken as 5.1 in the WAV/SMPTE
    order L, R, C, LFE, Ls, Rs (the order of WAVE_FORMAT_EXTENSIBLE's default mask, FLAC,
    and of ffmpeg's decoders) and folded down with the ITU-R BS.775 coefficients::

        Lo = L + 0.7071*C + 0.7071*Ls        Ro = R + 0.7071*C + 0.7071*Rs

    The LFE channel is dropped (BS.775 leaves it out of the stereo down-mix) and no gain
    normalisation is applied, so the fold-down may exceed 0 dBFS (a warning says so).
    Any other count above two raises :class:`TooManyChannelsError`.

Resampling
    soxr "HQ" (20-bit, linear phase) from the file's rate to ``target_sr``.

Stems
    :func:`load_stem_set` takes a folder, a list of files, or a MUSDB18 ``.stem.mp4``;
    roles are inferred from file names by :func:`infer_stem_role`. Stem files are decoded
    and resampled on a small thread pool (libsndfile and soxr run without the GIL).

Names
    The display name is :func:`sanitize_name` of the base name, and every error message
    starts with that sanitised name (never the raw one, which may hold control characters).
"""
from __future__ import annotations

import math
import os
import re
import struct
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import soundfile as sf
import soxr

from .audio import ANALYSIS_SR, STEM_ROLES, Audio, StemSet
from .errors import (
    AudioFileNotFoundError,
    EmptyFileError,
    InvalidArgumentError,
    MixingBuddyError,
    sanitize_name,
    NonFiniteSamplesError,
    NotAudioError,
    SampleRateError,
    SilentAudioError,
    StemSetError,
    TooLongError,
    TooManyChannelsError,
    TooShortError,
    TruncatedFileError,
    UnsupportedFormatError,
)

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

MIN_SR = 8_000  # Hz
MAX_SR = 192_000  # Hz
MIN_DURATION_S = 0.4  # one BS.1770-4 gating block
SILENCE_FLOOR_DBFS = -90.0
# A file whose data stops early is still analysed (with a warning) when at least this share
# of what its header declares is present; below it the file is refused as truncated.
TRUNCATION_TOLERANCE_RATIO = 0.9
# MUSDB18 / Native Instruments stem order: audio stream index -> role.
MUSDB_STREAM_ROLES = ("mixture", "drums", "bass", "other", "vocals")

_DOWNMIX_GAIN = 1.0 / math.sqrt(2.0)  # 0.7071, -3 dB (ITU-R BS.775)
_CLIP_LEVEL = 0.9999  # |x| at or above this counts as full scale (-0.0009 dBFS)
_READ_BLOCK = 1 << 17  # frames per libsndfile read (small enough to salvage a cut FLAC)

# ---------------------------------------------------------------------------------------------
# names


def _fail(cls: type[MixingBuddyError], name: str, message: str, path: str | None = None):
    """Build a typed error whose message starts with the *sanitised* name (the base class
    would print the raw base name, which may hold control characters)."""
    err = cls(f"{name}: {message}")
    err.path = path
    return err


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
# content sniffing


@dataclass(frozen=True)
class _Kind:
    key: str  # short id: "wav", "flac", "mp4", "png", "text", "unknown"...
    label: str  # for messages: "WAV", "a PNG image"
    audio: bool  # a container that normally holds audio
    strong: bool  # identified by an unambiguous signature
    backend: str  # "sf" (libsndfile first), "av" (ffmpeg), "none"


_AUDIO_EXTS = {
    "wav": {"wav", "wave", "bwf", "rf64"},
    "w64": {"w64"},
    "aiff": {"aif", "aiff", "aifc"},
    "flac": {"flac"},
    "ogg": {"ogg", "oga", "opus", "spx"},
    "mp3": {"mp3", "mp2", "mpga"},
    "mp4": {"m4a", "mp4", "m4b", "m4p", "mov", "3gp", "3g2", "aac"},
    "adts": {"aac", "adts"},
    "mkv": {"mka", "mkv", "webm", "weba"},
    "caf": {"caf"},
    "au": {"au", "snd"},
    "asf": {"wma", "asf", "wmv"},
}
_ALL_AUDIO_EXTS = set().union(*_AUDIO_EXTS.values()) | {"aac", "ac3", "amr", "ape", "wv", "opus"}


def _an(label: str) -> str:
    """'an MP3', 'an Ogg', 'a WAV', 'a FLAC'."""
    return ("an " if label[:1] in "AEIOUMaeiou" else "a ") + label


def _ext(path: str) -> str:
    return os.path.splitext(path)[1].lower().lstrip(".")


def _mpeg_audio_kind(b: bytes) -> str | None:
    """'mp3' for an MPEG-1/2 audio frame header, 'adts' for an AAC ADTS header, else None."""
    if len(b) < 4 or b[0] != 0xFF or (b[1] & 0xE0) != 0xE0:
        return None
    if (b[1] & 0xF6) == 0xF0:  # sync 12 bits, layer 00 -> ADTS
        return "adts"
    version = (b[1] >> 3) & 3
    layer = (b[1] >> 1) & 3
    bitrate = b[2] >> 4
    rate = (b[2] >> 2) & 3
    if version == 1 or layer == 0 or bitrate == 15 or rate == 3:
        return None
    return "mp3"


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:  # a multibyte character cut at the end is fine
            return False
        text = head[: e.start].decode("utf-8", "ignore")
    if not text:
        return False
    printable = sum(ch.isprintable() or ch in "\t\r\n\f" for ch in text)
    return printable / len(text) > 0.97


def _sniff(path: str) -> _Kind:
    """Identify the file from its first bytes."""
    with open(path, "rb") as f:
        head = f.read(4096)
        skip = 0
        # ID3v2 tag in front of MP3 (or FLAC/AAC): syncsafe size in bytes 6..9.
        if head[:3] == b"ID3" and len(head) >= 10:
            size = 0
            for byte in head[6:10]:
                size = (size << 7) | (byte & 0x7F)
            skip = 10 + size + (10 if head[5] & 0x10 else 0)
            f.seek(skip)
            after = f.read(64)
            if after[:4] == b"fLaC":
                return _Kind("flac", "FLAC", True, True, "sf")
            mk = _mpeg_audio_kind(after)
            if mk == "adts":
                return _Kind("adts", "AAC (ADTS)", True, True, "av")
            return _Kind("mp3", "MP3", True, True, "sf")
    h = head
    if len(h) >= 12 and h[:4] in (b"RIFF", b"RIFX", b"RF64", b"BW64"):
        form = h[8:12]
        if form == b"WAVE":
            return _Kind("wav", "WAV", True, True, "sf")
        if form == b"AVI ":
            return _Kind("avi", "AVI", True, True, "av")
        if form == b"WEBP":
            return _Kind("webp", "a WebP image", False, True, "none")
        return _Kind("riff", f"a RIFF {form.decode('latin-1')!r} file", False, True, "none")
    if h[:4] in (b"RIFF", b"RIFX", b"RF64", b"BW64"):  # shorter than a RIFF/WAVE header
        return _Kind("wav", "WAV", True, True, "sf")
    if h[:4] == b"FORM" and h[8:12] in (b"AIFF", b"AIFC"):
        return _Kind("aiff", "AIFF", True, True, "sf")
    if h[:4] == b"fLaC":
        return _Kind("flac", "FLAC", True, True, "sf")
    if h[:4] == b"OggS":
        if b"\x80theora" in h[:512] and b"vorbis" not in h[:512] and b"OpusHead" not in h[:512]:
            return _Kind("ogg", "Ogg video", True, True, "av")
        return _Kind("ogg", "Ogg", True, True, "sf")
    if h[:4] == b"caff":
        return _Kind("caf", "CAF", True, True, "sf")
    if h[:4] == b".snd":
        return _Kind("au", "AU", True, True, "sf")
    if h[:4] == b"riff" and h[24:28] == b"wave":
        return _Kind("w64", "Wave64", True, True, "sf")
    if h[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        return _Kind("mp4", "MP4/M4A", True, True, "av")
    if h[:4] == b"\x1a\x45\xdf\xa3":
        return _Kind("mkv", "Matroska/WebM", True, True, "av")
    if h[:8] == b"\x30\x26\xb2\x75\x8e\x66\xcf\x11":
        return _Kind("asf", "WMA/ASF", True, True, "av")
    if h[:5] == b"#!AMR":
        return _Kind("amr", "AMR", True, True, "av")
    if h[:4] in (b"MAC ", b"wvpk", b"TTA1", b"MPCK") or h[:3] == b"MP+":
        return _Kind("other-audio", "lossless/ape/wavpack audio", True, True, "av")
    if h[:4] in (b"NIST", b"Crea"):  # NIST SPHERE, Creative Voice
        return _Kind("sf-other", "audio", True, True, "sf")
    # --- things that are certainly not audio
    if h[:8] == b"\x89PNG\r\n\x1a\n":
        return _Kind("png", "a PNG image", False, True, "none")
    if h[:3] == b"\xff\xd8\xff":
        return _Kind("jpeg", "a JPEG image", False, True, "none")
    if h[:6] in (b"GIF87a", b"GIF89a"):
        return _Kind("gif", "a GIF image", False, True, "none")
    if h[:4] in (b"II*\x00", b"MM\x00*"):
        return _Kind("tiff", "a TIFF image", False, True, "none")
    if h[:5] == b"%PDF-":
        return _Kind("pdf", "a PDF document", False, True, "none")
    if h[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return _Kind("zip", "a ZIP archive (or an Office document)", False, True, "none")
    if h[:2] == b"\x1f\x8b":
        return _Kind("gzip", "a gzip archive", False, True, "none")
    if h[:3] == b"BZh":
        return _Kind("bzip2", "a bzip2 archive", False, True, "none")
    if h[:6] == b"\xfd7zXZ\x00":
        return _Kind("xz", "an xz archive", False, True, "none")
    if h[:6] == b"7z\xbc\xaf\x27\x1c":
        return _Kind("7z", "a 7-Zip archive", False, True, "none")
    if h[:4] == b"Rar!":
        return _Kind("rar", "a RAR archive", False, True, "none")
    if len(h) > 262 and h[257:262] == b"ustar":
        return _Kind("tar", "a tar archive", False, True, "none")
    if h[:4] == b"\x7fELF" or h[:2] == b"MZ" or h[:4] in (b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe"):
        return _Kind("exe", "an executable program", False, True, "none")
    if h[:16] == b"SQLite format 3\x00":
        return _Kind("sqlite", "an SQLite database", False, True, "none")
    if h[:4] == b"MThd":
        return _Kind("midi", "a MIDI file (notes, not recorded audio)", False, True, "none")
    if h[:4] in (b"\x00\x05\x16\x07", b"\x00\x05\x16\x00"):
        return _Kind("appledouble", "macOS resource metadata (AppleDouble)", False, True, "none")
    if h[:2] in (b"\xff\xfe", b"\xfe\xff") or h[:3] == b"\xef\xbb\xbf":
        return _Kind("text", "a text file", False, True, "none")
    mk = _mpeg_audio_kind(h)
    if mk == "mp3":
        return _Kind("mp3", "MP3", True, False, "sf")
    if mk == "adts":
        return _Kind("adts", "AAC (ADTS)", True, False, "av")
    if _looks_like_text(h[:1024]):
        return _Kind("text", "a text file", False, True, "none")
    return _Kind("unknown", "unrecognised data", False, False, "sf")


# ---------------------------------------------------------------------------------------------
# header checks (no decoding)


@dataclass
class _PcmLayout:
    declared_frames: int | None  # None: the header does not say
    available_frames: int | None
    sr: int | None = None


def _riff_layout(path: str, size: int, name: str) -> _PcmLayout | None:
    """Walk a RIFF/RF64 WAVE header up to the ``data`` chunk. Raises TruncatedFileError when
    the file ends inside its header; returns None when the layout is unusual (libsndfile
    decides then)."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12:
            raise _fail(TruncatedFileError, name,
                        f"ends inside its WAV header ({len(head)} bytes); the file is truncated", path)
        endian = ">" if head[:4] == b"RIFX" else "<"
        pos, fmt, ds64_data = 12, None, None
        for _ in range(10_000):
            f.seek(pos)
            hdr = f.read(8)
            if len(hdr) < 8:
                what = "before its 'data' chunk" if fmt else "before its 'fmt ' chunk"
                raise _fail(TruncatedFileError, name,
                            f"ends inside its WAV header ({what}); the file is truncated", path)
            cid = hdr[:4]
            (csize,) = struct.unpack(endian + "I", hdr[4:])
            if cid == b"fmt ":
                body = f.read(min(csize, 40))
                if len(body) < 16:
                    raise _fail(TruncatedFileError, name,
                                "ends inside its WAV 'fmt ' chunk; the file is truncated", path)
                _tag, ch, sr, _rate, align, _bits = struct.unpack(endian + "HHIIHH", body[:16])
                fmt = (ch, sr, align)
            elif cid == b"ds64":
                body = f.read(28)
                if len(body) >= 16:
                    (ds64_data,) = struct.unpack("<Q", body[8:16])
            elif cid == b"data":
                if fmt is None or fmt[2] == 0:
                    return None
                ch, sr, align = fmt
                available = max(0, size - (pos + 8)) // align
                if head[:4] in (b"RF64", b"BW64") and csize == 0xFFFFFFFF and ds64_data is not None:
                    declared = ds64_data // align
                elif csize in (0, 0xFFFFFFFF) and available > 0:
                    declared = None  # never finalised (a recorder stopped early): read to the end
                else:
                    declared = csize // align
                return _PcmLayout(declared, available, sr)
            pos += 8 + csize + (csize & 1)
            if pos > size:
                raise _fail(TruncatedFileError, name,
                            f"ends inside its WAV header (chunk {cid.decode('latin-1')!r} runs past "
                            "the end of the file); the file is truncated", path)
    return None


def _aiff_layout(path: str, size: int, name: str) -> _PcmLayout | None:
    """The same for AIFF/AIFC (big-endian IFF: COMM gives the frame count, SSND the data)."""
    with open(path, "rb") as f:
        head = f.read(12)
        is_aifc = head[8:12] == b"AIFC"
        pos, comm, ssnd = 12, None, None
        for _ in range(10_000):
            f.seek(pos)
            hdr = f.read(8)
            if len(hdr) < 8:
                if comm and ssnd:
                    break
                raise _fail(TruncatedFileError, name,
                            "ends inside its AIFF header; the file is truncated", path)
            cid = hdr[:4]
            (csize,) = struct.unpack(">I", hdr[4:])
            if cid == b"COMM":
                body = f.read(min(csize, 22))
                if len(body) < 18:
                    raise _fail(TruncatedFileError, name,
                                "ends inside its AIFF 'COMM' chunk; the file is truncated", path)
                ch, frames, bits = struct.unpack(">hIh", body[:8])
                comp = body[18:22] if is_aifc and len(body) >= 22 else b"NONE"
                comm = (ch, frames, bits, comp)
            elif cid == b"SSND":
                ssnd = pos
                if comm:
                    break
            pos += 8 + csize + (csize & 1)
            if pos > size:
                if cid == b"SSND" and comm is None:
                    raise _fail(TruncatedFileError, name,
                                "ends before its AIFF 'COMM' chunk; the file is truncated", path)
                if cid != b"SSND":
                    raise _fail(TruncatedFileError, name,
                                "ends inside its AIFF header; the file is truncated", path)
                break
        if not comm or ssnd is None:
            return None
        ch, frames, bits, comp = comm
        pcm = (b"NONE", b"sowt", b"twos", b"fl32", b"FL32", b"fl64", b"FL64", b"raw ", b"in24", b"in32")
        if comp not in pcm or ch <= 0:
            return _PcmLayout(None, None)
        f.seek(ssnd + 8)
        off = f.read(4)
        offset = struct.unpack(">I", off)[0] if len(off) == 4 else 0
        bps = {b"fl32": 4, b"FL32": 4, b"fl64": 8, b"FL64": 8}.get(comp, (bits + 7) // 8)
        align = ch * bps
        available = max(0, size - (ssnd + 16 + offset)) // align
        return _PcmLayout(frames, available)


def _flac_check(path: str, size: int, name: str) -> None:
    """Walk FLAC metadata blocks; a file ending among them is truncated inside its header."""
    with open(path, "rb") as f:
        head = f.read(10)
        start = 0
        if head[:3] == b"ID3":
            sz = 0
            for byte in head[6:10]:
                sz = (sz << 7) | (byte & 0x7F)
            start = 10 + sz + (10 if head[5] & 0x10 else 0)
        pos = start + 4
        for _ in range(1_000):
            f.seek(pos)
            hdr = f.read(4)
            if len(hdr) < 4:
                raise _fail(TruncatedFileError, name,
                            "ends inside its FLAC header; the file is truncated", path)
            last = hdr[0] & 0x80
            length = int.from_bytes(hdr[1:4], "big")
            pos += 4 + length
            if pos > size:
                raise _fail(TruncatedFileError, name,
                            "ends inside its FLAC header; the file is truncated", path)
            if last:
                if pos >= size:
                    raise _fail(TruncatedFileError, name,
                                "has a FLAC header but no audio frames; the file is truncated", path)
                return


# ---------------------------------------------------------------------------------------------
# decoding


@dataclass
class _Decoded:
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
        raise _fail(SampleRateError, name,
                    f"sample rate {sr} Hz is outside the supported {MIN_SR}-{MAX_SR} Hz range", path)


def _check_channels(ch: int, name: str, path: str) -> None:
    if ch <= 0:
        raise _fail(UnsupportedFormatError, name, "declares no audio channels", path)
    if ch > 2 and ch != 6:
        raise _fail(TooManyChannelsError, name,
                    f"has {ch} channels; only mono, stereo and 6-channel 5.1 (folded down to "
                    "stereo) are supported; bounce a stereo mix", path)


def _check_long(seconds: float | None, max_duration_s: float, name: str, path: str) -> None:
    if seconds is not None and seconds > max_duration_s:
        raise _fail(TooLongError, name,
                    f"is {seconds:.1f} s long; the limit is {max_duration_s:g} s (max_duration_s)", path)


def _downmix_51(block: np.ndarray) -> np.ndarray:
    """(n, 6) L R C LFE Ls Rs -> (n, 2) by ITU-R BS.775: Lo = L + .707C + .707Ls, LFE dropped."""
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
            raise _fail(TruncatedFileError, name,
                        "the decoder failed before any audio; the file is truncated or corrupt", path)
        if errored:
            warnings.append(f"decoder errors after {got / sr:.2f} s; analysing what was decoded")
        return
    if got >= declared:
        return
    ratio = got / declared
    if errored and ratio < TRUNCATION_TOLERANCE_RATIO:
        raise _fail(TruncatedFileError, name,
                    f"decoding failed after {got / sr:.2f} s of the {declared / sr:.2f} s its header "
                    f"declares ({100 * ratio:.0f}%); the file is truncated or corrupt", path)
    if got == 0:
        raise _fail(TruncatedFileError, name,
                    f"header declares {declared / sr:.2f} s of audio but the file ends before any "
                    "of it; the file is truncated", path)
    if ratio < TRUNCATION_TOLERANCE_RATIO:
        raise _fail(TruncatedFileError, name,
                    f"header declares {declared / sr:.2f} s of audio but only {got / sr:.2f} s "
                    f"({100 * ratio:.0f}%) is present; the file is truncated", path)
    warnings.append(
        f"file is truncated: {got / sr:.2f} s of the {declared / sr:.2f} s its header declares is "
        "present; analysing what is there"
    )


_WAV_UNSIZED = "WAV data size not set"


class _TryOther(Exception):
    """libsndfile cannot read this file; let ffmpeg try (carries libsndfile's reason)."""


def _decode_sf(path: str, name: str, kind: _Kind, size: int, max_duration_s: float) -> _Decoded:
    layout = None
    if kind.key == "wav":
        layout = _riff_layout(path, size, name)
        if layout is not None:
            if layout.declared_frames is None and layout.available_frames:
                raise _TryOther(_WAV_UNSIZED)
            if layout.sr:
                _check_rate(layout.sr, name, path)
            if layout.declared_frames == 0:
                raise _fail(EmptyFileError, name, "has a WAV header but no audio samples", path)
    elif kind.key == "aiff":
        layout = _aiff_layout(path, size, name)
    elif kind.key == "flac":
        _flac_check(path, size, name)
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
            raise _fail(EmptyFileError, name, f"has {_an(kind.label)} header but no audio samples", path)
        warnings: list[str] = []
        scan = _Scan()
        ch_out = 2 if ch > 2 else ch
        cap = int(max_duration_s * sr) + 1
        out = np.empty((max(frames, 1) if frames else _READ_BLOCK, ch_out), np.float32)
        pos, errored, block = 0, False, _READ_BLOCK
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
                if block > 4096:  # go back and creep up on the error to keep what decodes
                    try:
                        f.seek(pos)
                        block = 4096
                        continue
                    except Exception:
                        pass
                errored = True
                break
            pos += n
            if n < k:
                break
        samples = out[:pos]
        if ch <= 2:
            scan.add(samples)
    if pos == 0 and not errored and not (declared or 0):
        raise _fail(EmptyFileError, name, f"has {_an(kind.label)} header but no audio samples", path)
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
        raise _fail(TruncatedFileError, name,
                    "no audio could be decoded; the file is truncated or corrupt", path)
    return _Decoded(samples, sr, ch, fmt, warnings, scan.n_nan, scan.n_inf, scan.peak,
                    scan.clip_runs, declared)


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

    def __init__(self, hint_frames: int) -> None:
        self.hint = max(int(hint_frames), 4096)
        self.buf: np.ndarray | None = None
        self.pos = 0
        self.sr = 0
        self.ch = 0

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
            raise _fail(UnsupportedFormatError, name, "changes channel count or sample rate mid-stream", path)
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

    def samples(self) -> np.ndarray:
        assert self.buf is not None
        return self.buf[: self.pos]


_EXACT_DURATION_FORMATS = ("mov", "mp4", "matroska", "webm", "flac", "wav", "aiff", "ogg", "caf", "w64")


def _mp4_box_problem(path: str) -> str | None:
    """Walk the top-level ISO-BMFF boxes: a box running past the end of the file, or no
    'moov' box (the index), means the file was cut short."""
    size = os.path.getsize(path)
    pos, seen = 0, []
    with open(path, "rb") as f:
        for _ in range(10_000):
            if pos >= size:
                break
            f.seek(pos)
            hdr = f.read(16)
            if len(hdr) < 8:
                return "the MP4 box structure ends mid-header"
            box = int.from_bytes(hdr[:4], "big")
            typ = hdr[4:8].decode("latin-1")
            if box == 1 and len(hdr) >= 16:
                box = int.from_bytes(hdr[8:16], "big")
            elif box == 0:
                box = size - pos
            if box < 8:
                return None  # not a box structure we understand
            seen.append(typ)
            if pos + box > size:
                if typ == "moov":
                    return "its MP4 'moov' index is cut off"
                if "moov" not in seen[:-1]:
                    return f"its MP4 '{typ}' box runs past the end of the file and there is no 'moov' index"
                return f"its MP4 '{typ}' box runs past the end of the file"
            pos += box
    if "moov" not in seen:
        return "the MP4 file has no 'moov' index"
    return None


def _open_av(path: str, name: str, kind: _Kind):
    import av

    try:
        return av.open(path, mode="r", metadata_errors="ignore")
    except Exception as e:
        reason = _reason(e, path, name)
        if kind.key == "mp4":
            problem = _mp4_box_problem(path)
            if problem:
                raise _fail(TruncatedFileError, name,
                            f"{problem}; the file is truncated or was not finished writing", path) from e
        if kind.audio and kind.strong:
            raise _fail(UnsupportedFormatError, name,
                        f"looks like {kind.label} but could not be opened ({reason}); the file is "
                        "corrupt or uses an unsupported codec", path) from e
        raise _fail(NotAudioError, name, "is not a recognised audio file", path) from e


def _audio_streams(container, name: str, path: str) -> list:
    audio = list(container.streams.audio)
    if not audio:
        others = ", ".join(
            f"{s.type} {getattr(s.codec_context, 'name', '?')}" for s in container.streams
        ) or "none"
        raise _fail(UnsupportedFormatError, name,
                    f"contains no audio stream (streams found: {others})", path)
    return audio


def _decode_av(
    path: str, name: str, kind: _Kind, want: Sequence[int] | None, max_duration_s: float
) -> list[_Decoded]:
    """Decode the chosen audio streams (indices among the audio streams) in one demux pass."""
    import av

    container = _open_av(path, name, kind)
    with container:
        audio = _audio_streams(container, name, path)
        idx = list(want) if want is not None else [0]
        for i in idx:
            if not 0 <= i < len(audio):
                raise _fail(InvalidArgumentError, name,
                            f"has {len(audio)} audio stream(s); stream={i} does not exist", path)
        streams = [audio[i] for i in idx]
        fmt_name = container.format.name or ""
        exact = any(t in fmt_name for t in _EXACT_DURATION_FORMATS)
        declared: dict[int, float | None] = {}
        for s in streams:
            cc = s.codec_context
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
        cols = {s.index: _Collector(int(hints[s.index])) for s in streams}
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
                if col.sr and col.pos > (max_duration_s + 1.0) * col.sr:
                    _check_long(col.pos / col.sr, max_duration_s, name, path)
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
            if col.buf is None or col.pos == 0:
                if kind.strong and kind.audio:
                    if errors[si] and declared.get(si):
                        raise _fail(TruncatedFileError, name,
                                    f"no audio could be decoded from its {kind.label} data; the file "
                                    "is truncated or corrupt", path)
                    if declared.get(si) in (None, 0, 0.0) and not errors[si]:
                        raise _fail(EmptyFileError, name, f"has {_an(kind.label)} header but no "
                                    "decodable audio (empty or corrupt)", path)
                    raise _fail(UnsupportedFormatError, name,
                                f"looks like {kind.label} but no audio could be decoded", path)
                raise _fail(NotAudioError, name, "is not a recognised audio file", path)
            sr, ch = col.sr, col.ch
            _check_rate(sr, name, path)
            _check_channels(ch, name, path)
            samples = col.samples()
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
            out.append(_Decoded(samples, sr, ch, fmt, warnings, scan.n_nan, scan.n_inf, scan.peak,
                                scan.clip_runs, decl_frames))
        return out


# ---------------------------------------------------------------------------------------------
# public: one file


def _check_path(path, name: str) -> tuple[str, int]:
    p = os.fsdecode(os.fspath(path))
    if not p:
        raise InvalidArgumentError("empty path")
    if not os.path.exists(p):
        raise _fail(AudioFileNotFoundError, name, "file not found", p)
    if os.path.isdir(p):
        raise _fail(NotAudioError, name, "is a directory, not an audio file", p)
    if not os.path.isfile(p):
        raise _fail(NotAudioError, name, "is not a regular file (a device, pipe or socket)", p)
    try:
        size = os.path.getsize(p)
    except OSError as e:
        raise _fail(AudioFileNotFoundError, name, f"cannot be read ({e.strerror})", p) from e
    if size == 0:
        raise _fail(EmptyFileError, name, "is an empty file (0 bytes)", p)
    if not os.access(p, os.R_OK):
        raise _fail(AudioFileNotFoundError, name, "cannot be read (permission denied)", p)
    return p, size


def _validate_args(max_duration_s, target_sr) -> None:
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


def _decode_file(
    path: str, name: str, size: int, max_duration_s: float, streams: Sequence[int] | None
) -> tuple[list[_Decoded], _Kind]:
    """Sniff and decode; any exception that is not one of ours becomes a typed error."""
    try:
        return _decode_file_inner(path, name, size, max_duration_s, streams)
    except MixingBuddyError:
        raise
    except MemoryError as e:
        raise _fail(TooLongError, name, "is too large to decode in memory", path) from e
    except Exception as e:  # a decoder failed in a way we did not foresee
        raise _fail(UnsupportedFormatError, name,
                    f"could not be decoded ({type(e).__name__}: {_reason(e, path, name)})", path) from e


def _decode_file_inner(
    path: str, name: str, size: int, max_duration_s: float, streams: Sequence[int] | None
) -> tuple[list[_Decoded], _Kind]:
    try:
        kind = _sniff(path)
    except OSError as e:
        raise _fail(AudioFileNotFoundError, name, f"cannot be read ({e.strerror or e})", path) from e
    if kind.backend == "none":
        raise _fail(NotAudioError, name, f"is {kind.label}, not an audio file", path)
    sf_reason = None
    multi = streams is not None and any(i != 0 for i in streams)
    # Unknown content goes to ffmpeg only: libsndfile's last-resort MP3 probe prints
    # mpg123 notes on stderr for every non-audio file.
    if kind.backend == "sf" and kind.key != "unknown" and not multi:
        try:
            return [_decode_sf(path, name, kind, size, max_duration_s)], kind
        except _TryOther as e:
            sf_reason = str(e)
    try:
        decs = _decode_av(path, name, kind, streams, max_duration_s)
        if sf_reason == _WAV_UNSIZED:
            decs[0].warnings.append(
                "the WAV header's data size was never filled in (unfinished recording?); "
                "read to the end of the file"
            )
        return decs, kind
    except NotAudioError:
        if kind.key == "unknown":
            raise _fail(NotAudioError, name,
                        "is not a recognised audio file (unknown content that ffmpeg cannot identify either)",
                        path) from None
        raise
    except UnsupportedFormatError as e:
        if sf_reason and kind.strong:
            raise _fail(UnsupportedFormatError, name,
                        f"looks like {kind.label} but cannot be decoded (libsndfile: {sf_reason}); "
                        "the file is corrupt or uses an unsupported codec", path) from e
        if not kind.strong:
            raise _fail(NotAudioError, name,
                        f"is not a recognised audio file (it only resembles {kind.label})", path) from e
        raise
    except TruncatedFileError as e:
        if not kind.strong:
            raise _fail(NotAudioError, name,
                        f"is not a recognised audio file (it only resembles {kind.label})", path) from e
        raise


def _finish(
    dec: _Decoded,
    *,
    name: str,
    path: str,
    kind: _Kind,
    target_sr: int,
    max_duration_s: float,
    min_duration_s: float,
    allow_silent: bool,
) -> tuple[Audio, float]:
    """Post-decode checks, fold-down note, resampling. Returns the Audio and its peak dBFS."""
    n_bad = dec.n_nan + dec.n_inf
    total = dec.samples.shape[0] * dec.channels
    if n_bad:
        raise _fail(NonFiniteSamplesError, name,
                    f"contains {n_bad} non-finite sample(s) ({dec.n_nan} NaN, {dec.n_inf} infinite) "
                    f"out of {total}; the file is corrupt", path)
    secs = dec.samples.shape[0] / dec.sr
    _check_long(secs, max_duration_s, name, path)
    if secs < min_duration_s:
        raise _fail(TooShortError, name,
                    f"is {secs:.2f} s long; at least {min_duration_s:g} s (one BS.1770 gating "
                    "block) is needed", path)
    peak_dbfs = 20.0 * math.log10(dec.peak) if dec.peak > 0 else -math.inf
    if not allow_silent and peak_dbfs < SILENCE_FLOOR_DBFS:
        if dec.peak == 0:
            msg = "is digital silence (every sample is zero)"
        else:
            msg = f"is silent: its peak is {peak_dbfs:.1f} dBFS, below the {SILENCE_FLOOR_DBFS:g} dBFS floor"
        raise _fail(SilentAudioError, name, msg, path)
    warnings = list(dec.warnings)
    ext = _ext(path)
    if kind.key in _AUDIO_EXTS and ext in _ALL_AUDIO_EXTS and ext not in _AUDIO_EXTS[kind.key]:
        warnings.append(f"extension '.{ext}' does not match the content ({kind.label}); read as {kind.label}")
    if peak_dbfs >= 0.005:  # above full scale by at least 0.01 dB after rounding
        warnings.append(
            f"decoded peak {peak_dbfs:+.2f} dBFS is above full scale; kept as is, not clipped"
        )
    if dec.clip_runs:
        warnings.append(
            f"clipped input: {dec.clip_runs} run(s) of 3 or more consecutive full-scale samples"
        )
    samples = dec.samples
    if dec.channels == 6:
        warnings.append(
            "downmixed 6 channels (5.1: L R C LFE Ls Rs) to stereo: L/R + 0.707*C + 0.707*surround, "
            "LFE dropped (ITU-R BS.775)"
        )
        fold_peak = float(max(samples.max(), -samples.min())) if samples.size else 0.0
        if fold_peak > 1.0:
            warnings.append(
                f"the 5.1 fold-down peaks at {20 * math.log10(fold_peak):+.2f} dBFS (not normalised)"
            )
    if dec.sr != target_sr:
        try:
            samples = soxr.resample(samples, dec.sr, target_sr, quality="HQ")
        except MemoryError as e:
            raise _fail(TooLongError, name, "is too large to resample in memory", path) from e
        if samples.dtype != np.float32:
            samples = samples.astype(np.float32)
        if dec.sr < 32_000:  # resampling itself is routine; a narrow band is worth saying
            warnings.append(f"sampled at {dec.sr} Hz: nothing above {dec.sr / 2000:g} kHz was "
                            f"recorded, so the air and brilliance bands read empty")
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
    )
    return audio, peak_dbfs


def load_audio(
    path: str | os.PathLike,
    *,
    max_duration_s: float = 1200.0,
    target_sr: int = ANALYSIS_SR,
    stream: int | None = None,
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
    See the module docstring for the 5.1 fold-down and the order of checks.

    Raises (all from :mod:`.errors`): AudioFileNotFoundError, EmptyFileError,
    NotAudioError (also for a directory), UnsupportedFormatError, TruncatedFileError
    (header cut, or less than 90% of the declared data present), SampleRateError
    (outside 8-192 kHz), TooManyChannelsError (3-5 or 7+ channels), TooLongError
    (from the header when it gives a length, before decoding), TooShortError (< 0.4 s),
    NonFiniteSamplesError, SilentAudioError (peak below -90 dBFS), InvalidArgumentError.
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise InvalidArgumentError(f"path must be a file path, got {type(path).__name__}")
    _validate_args(max_duration_s, target_sr)
    if stream is not None and (
        isinstance(stream, bool) or not isinstance(stream, (int, np.integer)) or stream < 0
    ):
        raise InvalidArgumentError(f"stream must be a non-negative integer or None, got {stream!r}")
    name = sanitize_name(path)
    p, size = _check_path(path, name)
    want = None if stream is None else [int(stream)]
    decs, kind = _decode_file(p, name, size, float(max_duration_s), want)
    display = name
    if stream:
        display = _stream_display_name(name, int(stream), p)
    audio, _ = _finish(decs[0], name=display, path=p, kind=kind, target_sr=int(target_sr),
                       max_duration_s=float(max_duration_s), min_duration_s=MIN_DURATION_S,
                       allow_silent=False)
    return audio


def _is_stem_mp4_name(path: str) -> bool:
    low = os.path.basename(path).lower()
    return low.endswith(".stem.mp4") or low.endswith(".stem.m4a")


def _stream_display_name(name: str, stream: int, path: str) -> str:
    if _is_stem_mp4_name(path) and stream < len(MUSDB_STREAM_ROLES):
        return f"{name} - {MUSDB_STREAM_ROLES[stream]}"
    return f"{name} - stream {stream}"


def _count_audio_streams(path: str, name: str, kind: _Kind) -> int:
    container = _open_av(path, name, kind)
    with container:
        return len(container.streams.audio)


def _is_stem_container(path: str, name: str) -> bool:
    """A MUSDB18/NI ``.stem.mp4``: by name, or an MP4 holding five or more audio streams."""
    try:
        kind = _sniff(path)
    except OSError:
        return False
    if kind.key != "mp4":
        return False
    if _is_stem_mp4_name(path):
        return True
    try:
        return _count_audio_streams(path, name, kind) >= 5
    except MixingBuddyError:
        return False


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
_STRIP_EXTS = _ALL_AUDIO_EXTS | {"stem", "mp4", "m4a"}
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
# stem sets


@dataclass
class _StemItem:
    name: str  # display name of the file (or stream)
    role: str
    audio: Audio
    peak_dbfs: float


def _validate_roles(roles) -> dict[str, str]:
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
            f"the stems are {n / sr:.2f} s long; at least {MIN_DURATION_S:g} s (one BS.1770 "
            "gating block) is needed"
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
        acc = np.zeros((n, ch), np.float32)
        role_warnings: list[str] = []
        for it in group:
            x = it.audio.samples
            acc[: x.shape[0]] += x  # (m, 1) broadcasts to both channels of a stereo role
            prefix = f"{it.name}: " if len(group) > 1 else ""
            role_warnings += [prefix + w for w in it.audio.warnings]
        first = group[0].audio
        fmts = sorted({it.audio.source_format or "?" for it in group})
        stems[role] = Audio(
            samples=acc,
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


def _parallel_map(fn, jobs: list) -> list:
    """``[fn(j) for j in jobs]`` on a small thread pool (the heavy parts, libsndfile and
    soxr, run without the GIL). Results keep the order of ``jobs``; the first exception
    in that order is raised."""
    workers = min(len(jobs), os.cpu_count() or 1, 4)
    if workers <= 1:
        return [fn(j) for j in jobs]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest") as ex:
        return list(ex.map(fn, jobs))


def _stems_from_container(
    path: str, name: str, size: int, max_duration_s: float, target_sr: int, with_mix: bool
) -> tuple[Audio | None, StemSet]:
    """Decode a .stem.mp4 in one pass: stream 0 (mix, if asked) and streams 1-4 as stems."""
    kind = _sniff(path)
    want = [0, 1, 2, 3, 4] if with_mix else [1, 2, 3, 4]
    n_audio = _count_audio_streams(path, name, kind)
    if n_audio < 5:
        raise _fail(StemSetError, name,
                    f"has {n_audio} audio stream(s); a .stem.mp4 needs 5 (mixture, drums, bass, "
                    "other, vocals)", path)
    decs = _decode_av(path, name, kind, want, max_duration_s)

    def finish(job):
        dec, stream = job
        if stream == 0:
            return _finish(dec, name=name, path=path, kind=kind, target_sr=target_sr,
                           max_duration_s=max_duration_s, min_duration_s=MIN_DURATION_S, allow_silent=False)
        return _finish(dec, name=f"{name} - {MUSDB_STREAM_ROLES[stream]}", path=path, kind=kind,
                       target_sr=target_sr, max_duration_s=max_duration_s, min_duration_s=0.0,
                       allow_silent=True)

    done = _parallel_map(finish, list(zip(decs, want)))
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
        raise _fail(StemSetError, name, f"cannot list the folder ({e.strerror})", folder) from e
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
    be shorter than 0.4 s, the aligned set may not (TooShortError). Shorter stems are
    padded with zeros to the longest (warning with the differences in seconds; tolerance
    1 ms), all rates are resampled to ``target_sr`` (warning when they differed). Mono stems
    stay mono. Warnings of each file are repeated in ``StemSet.warnings``, prefixed with its
    name.
    """
    _validate_args(max_duration_s, target_sr)
    overrides = _validate_roles(roles)
    warnings: list[str] = []
    if isinstance(spec, (str, bytes, os.PathLike)):
        p = os.fsdecode(os.fspath(spec))
        name = sanitize_name(p)
        if os.path.isdir(p):
            files = _list_folder(p, name, warnings)
            from_folder = True
        elif os.path.isfile(p):
            _, size = _check_path(p, name)
            if _is_stem_container(p, name):
                if overrides:
                    warnings.append(
                        "roles overrides are ignored for a .stem.mp4 (its stream order fixes the roles)"
                    )
                _, stems = _stems_from_container(p, name, size, float(max_duration_s), int(target_sr), False)
                stems.warnings[:0] = warnings
                return stems
            raise _fail(StemSetError, name,
                        "is a single audio file, not a stem set; give a folder, a list of files, or a "
                        ".stem.mp4", p)
        else:
            raise _fail(AudioFileNotFoundError, name, "stem folder or file not found", p)
    elif isinstance(spec, Iterable):
        files = [os.fsdecode(os.fspath(x)) for x in spec]
        from_folder = False
        name = "stem list"
        seen = set()
        unique = []
        for f in files:
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
            _, size = _check_path(f, shown)
            decs, kind = _decode_file(f, shown, size, float(max_duration_s), None)
            return _finish(decs[0], name=shown, path=f, kind=kind, target_sr=int(target_sr),
                           max_duration_s=float(max_duration_s), min_duration_s=0.0, allow_silent=True)
        except (NotAudioError, UnsupportedFormatError, EmptyFileError) as e:
            if not from_folder:
                raise
            return e

    results = _parallel_map(load_one, todo)

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
            raise _fail(StemSetError, name, f"no audio files in this folder{extra}", p)
        raise StemSetError("no stems left to analyse (all were ignored)")
    return _assemble(items, int(target_sr), warnings)


def load_mix_and_stems(
    mix_path: str | os.PathLike,
    stems_spec: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    *,
    roles: dict[str, str] | None = None,
    max_duration_s: float = 1200.0,
    target_sr: int = ANALYSIS_SR,
) -> tuple[Audio, StemSet | None]:
    """Load a mix and, optionally, its stems.

    A ``.stem.mp4`` given as the mix (by name, or an MP4 with five or more audio streams)
    yields stream 0 as the mix and, when ``stems_spec`` is None, streams 1-4 as the stems,
    decoded in one pass. Otherwise the mix comes from :func:`load_audio` and the stems from
    :func:`load_stem_set` (None when ``stems_spec`` is None). When the mix and the stems
    differ in length by more than 1 s a warning is added to ``StemSet.warnings``.
    """
    _validate_args(max_duration_s, target_sr)
    if not isinstance(mix_path, (str, bytes, os.PathLike)):
        raise InvalidArgumentError(f"mix_path must be a file path, got {type(mix_path).__name__}")
    name = sanitize_name(mix_path)
    p, size = _check_path(mix_path, name)
    stems: StemSet | None = None
    if _is_stem_container(p, name):
        if stems_spec is None:
            overrides = _validate_roles(roles)
            mix, stems = _stems_from_container(p, name, size, float(max_duration_s), int(target_sr), True)
            assert mix is not None
            if overrides:
                stems.warnings.insert(
                    0, "roles overrides are ignored for a .stem.mp4 (its stream order fixes the roles)"
                )
        else:
            mix = load_audio(p, max_duration_s=max_duration_s, target_sr=target_sr, stream=0)
    else:
        mix = load_audio(p, max_duration_s=max_duration_s, target_sr=target_sr)
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
