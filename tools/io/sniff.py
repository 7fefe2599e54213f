"""What a file is, found before decoding any of it: path checks, content sniffing, headers.

The format is decided from the file's *content* (magic bytes), not its extension
(:func:`sniff`). Nothing here decodes audio; errors are the typed errors of :mod:`.errors`,
their messages starting with the file's display name.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from ..errors import (
    AudioFileNotFoundError,
    EmptyFileError,
    InvalidArgumentError,
    NotAudioError,
    TruncatedFileError,
    named_error,
)

# ---------------------------------------------------------------------------------------------
# path


def check_path(path, name: str) -> tuple[str, int]:
    """``(path as str, size in bytes)`` of a readable, non-empty regular file; otherwise a typed
    error naming ``name`` (not found, a directory or device, empty, unreadable)."""
    p = os.fsdecode(os.fspath(path))
    if not p:
        raise InvalidArgumentError("empty path")
    if not os.path.exists(p):
        raise named_error(AudioFileNotFoundError, name, "file not found", p)
    if os.path.isdir(p):
        raise named_error(NotAudioError, name, "is a directory, not an audio file", p)
    if not os.path.isfile(p):
        raise named_error(NotAudioError, name, "is not a regular file (a device, pipe or socket)", p)
    try:
        size = os.path.getsize(p)
    except OSError as e:
        raise named_error(AudioFileNotFoundError, name, f"cannot be read ({e.strerror})", p) from e
    if size == 0:
        raise named_error(EmptyFileError, name, "is an empty file (0 bytes)", p)
    if not os.access(p, os.R_OK):
        raise named_error(AudioFileNotFoundError, name, "cannot be read (permission denied)", p)
    return p, size


# ---------------------------------------------------------------------------------------------
# content sniffing


@dataclass(frozen=True)
class Kind:
    """What :func:`sniff` found: the container, and which decoder should read it."""

    key: str  # short id: "wav", "flac", "mp4", "png", "text", "unknown"...
    label: str  # for messages: "WAV", "a PNG image"
    audio: bool  # a container that normally holds audio
    strong: bool  # identified by an unambiguous signature
    backend: str  # "sf" (libsndfile first), "av" (ffmpeg), "none"


# Container key -> the file extensions it normally carries (for the extension-mismatch warning).
AUDIO_EXTS = {
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
# Every extension that names an audio file.
ALL_AUDIO_EXTS = set().union(*AUDIO_EXTS.values()) | {"aac", "ac3", "amr", "ape", "wv", "opus"}


def with_article(label: str) -> str:
    """'an MP3', 'an Ogg', 'a WAV', 'a FLAC'."""
    return ("an " if label[:1] in "AEIOUMaeiou" else "a ") + label


def extension(path: str) -> str:
    """The extension of ``path``, lower case, without the dot (``"wav"``; ``""`` for none)."""
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


def _id3_tag_bytes(head: bytes) -> int:
    """Length of the ID3v2 tag that starts ``head`` (at least its 10-byte header): header,
    syncsafe size in bytes 6..9, and the footer when flag 0x10 is set."""
    size = 0
    for byte in head[6:10]:
        size = (size << 7) | (byte & 0x7F)
    return 10 + size + (10 if head[5] & 0x10 else 0)


def sniff(path: str) -> Kind:
    """Identify the file from its first bytes: a :class:`Kind` that names the container, says
    whether it normally holds audio and which decoder should read it (libsndfile, ffmpeg, or
    none for text, images, archives...)."""
    with open(path, "rb") as f:
        head = f.read(4096)
        # ID3v2 tag in front of MP3 (or FLAC/AAC): look at what follows it.
        if head[:3] == b"ID3" and len(head) >= 10:
            f.seek(_id3_tag_bytes(head))
            after = f.read(64)
            if after[:4] == b"fLaC":
                return Kind("flac", "FLAC", True, True, "sf")
            mk = _mpeg_audio_kind(after)
            if mk == "adts":
                return Kind("adts", "AAC (ADTS)", True, True, "av")
            return Kind("mp3", "MP3", True, True, "sf")
    h = head
    if len(h) >= 12 and h[:4] in (b"RIFF", b"RIFX", b"RF64", b"BW64"):
        form = h[8:12]
        if form == b"WAVE":
            return Kind("wav", "WAV", True, True, "sf")
        if form == b"AVI ":
            return Kind("avi", "AVI", True, True, "av")
        if form == b"WEBP":
            return Kind("webp", "a WebP image", False, True, "none")
        return Kind("riff", f"a RIFF {form.decode('latin-1')!r} file", False, True, "none")
    if h[:4] in (b"RIFF", b"RIFX", b"RF64", b"BW64"):  # shorter than a RIFF/WAVE header
        return Kind("wav", "WAV", True, True, "sf")
    if h[:4] == b"FORM" and h[8:12] in (b"AIFF", b"AIFC"):
        return Kind("aiff", "AIFF", True, True, "sf")
    if h[:4] == b"fLaC":
        return Kind("flac", "FLAC", True, True, "sf")
    if h[:4] == b"OggS":
        if b"\x80theora" in h[:512] and b"vorbis" not in h[:512] and b"OpusHead" not in h[:512]:
            return Kind("ogg", "Ogg video", True, True, "av")
        return Kind("ogg", "Ogg", True, True, "sf")
    if h[:4] == b"caff":
        return Kind("caf", "CAF", True, True, "sf")
    if h[:4] == b".snd":
        return Kind("au", "AU", True, True, "sf")
    if h[:4] == b"riff" and h[24:28] == b"wave":
        return Kind("w64", "Wave64", True, True, "sf")
    if h[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        return Kind("mp4", "MP4/M4A", True, True, "av")
    if h[:4] == b"\x1a\x45\xdf\xa3":
        return Kind("mkv", "Matroska/WebM", True, True, "av")
    if h[:8] == b"\x30\x26\xb2\x75\x8e\x66\xcf\x11":
        return Kind("asf", "WMA/ASF", True, True, "av")
    if h[:5] == b"#!AMR":
        return Kind("amr", "AMR", True, True, "av")
    if h[:4] in (b"MAC ", b"wvpk", b"TTA1", b"MPCK") or h[:3] == b"MP+":
        return Kind("other-audio", "lossless/ape/wavpack audio", True, True, "av")
    if h[:4] in (b"NIST", b"Crea"):  # NIST SPHERE, Creative Voice
        return Kind("sf-other", "audio", True, True, "sf")
    # --- things that are certainly not audio
    if h[:8] == b"\x89PNG\r\n\x1a\n":
        return Kind("png", "a PNG image", False, True, "none")
    if h[:3] == b"\xff\xd8\xff":
        return Kind("jpeg", "a JPEG image", False, True, "none")
    if h[:6] in (b"GIF87a", b"GIF89a"):
        return Kind("gif", "a GIF image", False, True, "none")
    if h[:4] in (b"II*\x00", b"MM\x00*"):
        return Kind("tiff", "a TIFF image", False, True, "none")
    if h[:5] == b"%PDF-":
        return Kind("pdf", "a PDF document", False, True, "none")
    if h[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return Kind("zip", "a ZIP archive (or an Office document)", False, True, "none")
    if h[:2] == b"\x1f\x8b":
        return Kind("gzip", "a gzip archive", False, True, "none")
    if h[:3] == b"BZh":
        return Kind("bzip2", "a bzip2 archive", False, True, "none")
    if h[:6] == b"\xfd7zXZ\x00":
        return Kind("xz", "an xz archive", False, True, "none")
    if h[:6] == b"7z\xbc\xaf\x27\x1c":
        return Kind("7z", "a 7-Zip archive", False, True, "none")
    if h[:4] == b"Rar!":
        return Kind("rar", "a RAR archive", False, True, "none")
    if len(h) > 262 and h[257:262] == b"ustar":
        return Kind("tar", "a tar archive", False, True, "none")
    if h[:4] == b"\x7fELF" or h[:2] == b"MZ" or h[:4] in (b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe"):
        return Kind("exe", "an executable program", False, True, "none")
    if h[:16] == b"SQLite format 3\x00":
        return Kind("sqlite", "an SQLite database", False, True, "none")
    if h[:4] == b"MThd":
        return Kind("midi", "a MIDI file (notes, not recorded audio)", False, True, "none")
    if h[:4] in (b"\x00\x05\x16\x07", b"\x00\x05\x16\x00"):
        return Kind("appledouble", "macOS resource metadata (AppleDouble)", False, True, "none")
    if h[:2] in (b"\xff\xfe", b"\xfe\xff") or h[:3] == b"\xef\xbb\xbf":
        return Kind("text", "a text file", False, True, "none")
    mk = _mpeg_audio_kind(h)
    if mk == "mp3":
        return Kind("mp3", "MP3", True, False, "sf")
    if mk == "adts":
        return Kind("adts", "AAC (ADTS)", True, False, "av")
    if _looks_like_text(h[:1024]):
        return Kind("text", "a text file", False, True, "none")
    return Kind("unknown", "unrecognised data", False, False, "sf")


# ---------------------------------------------------------------------------------------------
# header checks (no decoding): the header walkers find a file cut short inside its header and
# the length the header declares, so that the decoder can tell a truncated file from a complete one


# WAVE format tags whose frames are exactly block_align bytes: PCM, IEEE float, A-law, mu-law
# (Microsoft WAVE registrations, RFC 2361); the others (ADPCM, GSM 6.10, G.721...) pack frames in blocks
_WAVE_FIXED_FRAME_TAGS = (0x0001, 0x0003, 0x0006, 0x0007)
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE


def _tag_text(tag: bytes) -> str:
    """A chunk or box id for a message: quoted when printable ASCII, else its bytes in hex."""
    if all(32 <= b < 127 for b in tag):
        return repr(tag.decode("ascii"))
    return "0x" + tag.hex()


@dataclass
class PcmLayout:
    """Frame counts from a PCM header: what it declares, and what the file's size can hold."""

    declared_frames: int | None  # None: the header does not say
    available_frames: int | None
    sr: int | None = None


def riff_layout(path: str, size: int, name: str) -> PcmLayout | None:
    """Walk a RIFF/RF64 WAVE header up to the ``data`` chunk. Raises TruncatedFileError when
    the file ends inside its header; returns None when the layout is unusual (libsndfile
    decides then)."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12:
            raise named_error(TruncatedFileError, name,
                              f"ends inside its WAV header ({len(head)} bytes); the file is truncated", path)
        endian = ">" if head[:4] == b"RIFX" else "<"
        pos, fmt, ds64_data = 12, None, None
        for _ in range(10_000):
            f.seek(pos)
            hdr = f.read(8)
            if len(hdr) < 8:
                what = "before its 'data' chunk" if fmt else "before its 'fmt ' chunk"
                raise named_error(TruncatedFileError, name,
                                  f"ends inside its WAV header ({what}); the file is truncated", path)
            cid = hdr[:4]
            (csize,) = struct.unpack(endian + "I", hdr[4:])
            if cid == b"fmt ":
                body = f.read(min(csize, 40))
                if len(body) < 16:
                    raise named_error(TruncatedFileError, name,
                                      "ends inside its WAV 'fmt ' chunk; the file is truncated", path)
                tag, ch, sr, _rate, align, _bits = struct.unpack(endian + "HHIIHH", body[:16])
                if tag == _WAVE_FORMAT_EXTENSIBLE and len(body) >= 26:
                    (tag,) = struct.unpack(endian + "H", body[24:26])  # the SubFormat GUID's first two bytes
                if tag not in _WAVE_FIXED_FRAME_TAGS:
                    return None  # ADPCM, GSM...: a frame is not block_align bytes, libsndfile counts them
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
                return PcmLayout(declared, available, sr)
            pos += 8 + csize + (csize & 1)
            if pos > size:
                raise named_error(TruncatedFileError, name,
                                  f"ends inside its WAV header (chunk {_tag_text(cid)} runs past "
                                  "the end of the file); the file is truncated", path)
    return None


def aiff_layout(path: str, size: int, name: str) -> PcmLayout | None:
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
                raise named_error(TruncatedFileError, name,
                                  "ends inside its AIFF header; the file is truncated", path)
            cid = hdr[:4]
            (csize,) = struct.unpack(">I", hdr[4:])
            if cid == b"COMM":
                body = f.read(min(csize, 22))
                if len(body) < 18:
                    raise named_error(TruncatedFileError, name,
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
                    raise named_error(TruncatedFileError, name,
                                      "ends before its AIFF 'COMM' chunk; the file is truncated", path)
                if cid != b"SSND":
                    raise named_error(TruncatedFileError, name,
                                      "ends inside its AIFF header; the file is truncated", path)
                break
        if not comm or ssnd is None:
            return None
        ch, frames, bits, comp = comm
        pcm = (b"NONE", b"sowt", b"twos", b"fl32", b"FL32", b"fl64", b"FL64", b"raw ", b"in24", b"in32")
        if comp not in pcm or ch <= 0:
            return PcmLayout(None, None)
        f.seek(ssnd + 8)
        off = f.read(4)
        offset = struct.unpack(">I", off)[0] if len(off) == 4 else 0
        bps = {b"fl32": 4, b"FL32": 4, b"fl64": 8, b"FL64": 8}.get(comp, (bits + 7) // 8)
        align = ch * bps
        available = max(0, size - (ssnd + 16 + offset)) // align
        return PcmLayout(frames, available)


def check_flac_header(path: str, size: int, name: str) -> None:
    """Walk FLAC metadata blocks; a file ending among them is truncated inside its header."""
    with open(path, "rb") as f:
        head = f.read(10)
        start = _id3_tag_bytes(head) if head[:3] == b"ID3" else 0
        pos = start + 4
        for _ in range(1_000):
            f.seek(pos)
            hdr = f.read(4)
            if len(hdr) < 4:
                raise named_error(TruncatedFileError, name,
                                  "ends inside its FLAC header; the file is truncated", path)
            last = hdr[0] & 0x80
            length = int.from_bytes(hdr[1:4], "big")
            pos += 4 + length
            if pos > size:
                raise named_error(TruncatedFileError, name,
                                  "ends inside its FLAC header; the file is truncated", path)
            if last:
                if pos >= size:
                    raise named_error(TruncatedFileError, name,
                                      "has a FLAC header but no audio frames; the file is truncated", path)
                return


def mp4_box_problem(path: str) -> str | None:
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
                    return (f"its MP4 {_tag_text(hdr[4:8])} box runs past the end of the file and there is no "
                            "'moov' index")
                return f"its MP4 {_tag_text(hdr[4:8])} box runs past the end of the file"
            pos += box
    if "moov" not in seen:
        return "the MP4 file has no 'moov' index"
    return None
