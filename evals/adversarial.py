"""Adversarial input corpus: every kind of bad or odd file a user may drop in, and what each did.

``python -m mixingbuddy.evals.adversarial [--cases N] [--only KIND] [--cli]`` (also ``mixingbuddy
eval adversarial``) renders a deterministic corpus (>= 180 cases, from the demo song and numpy
signals) into a temporary folder and runs every case through ``analyze`` (ingest as the CLI does,
then ``tools.measure.analyze``), through ``MixingBuddy.review`` (no LLM, no audio model), and, for
ZIP cases, through the browser app's upload handling (``ui.uploads``); ``--cli`` also runs the
real ``mixingbuddy analyze`` process on a sample. Each run ends ``ok`` (a report whose numbers are
all finite or None), ``clear`` (a ``MixingBuddyError``: one line, naming a file as the user gave
it, no internal names) or ``internal`` (anything else, a timeout, or a refused review or upload
that left files behind). The issue's target is 0 internal outcomes (issue 15).
"""
from __future__ import annotations

import argparse
import io
import math
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import unicodedata
import warnings
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf

from .audio_files import write_av

__all__ = ["Case", "Outcome", "build_corpus", "run_case", "run_corpus", "summary_table", "main",
           "add_adversarial_parser"]

SR = 44_100  # Hz, the corpus's base rate
BASE_S = 4.0  # s, length of the rendered demo mix most cases start from
CASE_TIMEOUT_S = 180  # s, one case (analyze + review) past this is a hang
RSS_BOUND_MB = 3000.0  # resident memory growth over the first case that counts as unbounded
# Python exception class names, traceback lines, source files, private function calls: a message
# holding any of them shows the user the program's insides.
_INTERNAL_TEXT = re.compile(r"Traceback|\.py\b|\b[A-Za-z]+(?:Error|Exception)\b|\b_[a-z_]+\(| at 0x[0-9a-f]+")


# what each kind should end in, where every variant agrees (others set it per case)
_EXPECT = {"control": "ok", "empty": "clear", "zero_length": "clear", "header_only": "clear",
           "random_bytes": "clear", "not_audio": "clear", "wrong_extension": "ok", "dc": "ok",
           "full_scale": "ok", "non_finite": "clear", "int_extremes": "ok", "sample_format": "ok",
           "bad_names": "ok", "paths": "clear"}


_EXPECT_CASE = {
    **{f"silence/{v}": "clear" for v in ("digital_zero_int16", "digital_zero_float", "noise_-120dbfs",
                                         "noise_-95dbfs", "silent_mp3")},
    "silence/noise_-80dbfs": "ok", "silence/one_channel_silent": "ok",
    **{f"sample_rate/{sr}hz": "ok" for sr in (8_000, 11_025, 96_000, 192_000)},
    **{f"sample_rate/{sr}hz": "clear" for sr in (1, 100, 7_999)},
    "sample_rate/flac_96k_24bit": "ok", "channels/1ch_wav": "ok", "channels/6ch_wav": "ok",
    "channels/6ch_flac": "ok", "sample_format/wav_fmt_tag_unknown": "clear", "sample_format/wav_bits_7": None,
    **{f"short/{v}": "clear" for v in ("1_sample", "10ms", "0.39s", "0.41s")},
    "short/0.5s": "ok", "short/0.51s": "ok", "long/wav_250s_spooled": "ok", "long/flac_250s_spooled": "ok",
    "long/over_cap_70s_of_60s": "clear", "long/over_cap_m4a": "clear", "huge_header/wav_data_10x": "clear",
    "huge_header/wav_data_odd_size": "ok", "huge_header/wav_fmt_after_data": "ok",
    "stems/mismatched_lengths": "ok", "stems/mismatched_rates": "ok", "stems/mismatched_channels": "ok",
    "stems/one_silent": "ok", "stems/one_nan": "clear", "stems/twenty_stems": "ok", "stems/stems_folder": "ok",
    "stems/empty_folder": "clear", "stems/not_audio_stem": "clear", "stems/missing_stem_file": "clear",
    "stems/same_file_twice": "ok", "stem_mp4/good": "ok", "stem_mp4/as_stems": "ok",
    "stem_mp4/upload_as_stems": "ok", "stem_mp4/upload_as_mix": "ok", "stem_mp4/truncated_60pct": "clear", "stems/stem_rate_100hz": "clear",
    **{f"bad_names/not_audio_{i}": "clear" for i in range(4)},
    "zip/good": "ok", "zip/bomb": "clear", "zip/traversal": "clear", "zip/absolute": "clear", "zip/symlink": "clear",
    "zip/encrypted": "clear", "zip/evil_member_names": "ok", "zip/backslash_traversal": "clear",
    "zip/drive_letter": "clear", "zip/empty": "clear", "zip/thousand_members": "clear", "zip/truncated_zip": "clear",
    "zip/zip_as_mix": "clear", "zip/upload_bad_mix": "clear", "zip/upload_evil_name": "ok",
    "reference/reference_is_the_mix": "ok", "reference/over_cap": "clear",
}


@dataclass
class Case:
    """One adversarial input: a mix, optional stems (a list of files, or one folder) and
    reference. ``upload``: the files go through the app's upload handling first."""

    kind: str
    variant: str
    mix: Path
    stems: list[Path] | Path | None = None
    reference: Path | None = None
    upload: bool = False
    max_duration_s: float = 1200.0
    expect: str | None = None  # "ok" or "clear" where the right answer is known; None: either is fine

    @property
    def name(self) -> str:
        return f"{self.kind}/{self.variant}"

    def inputs(self) -> list[Path]:
        """Every file or folder the user named."""
        out = [self.mix]
        if isinstance(self.stems, list):
            out += self.stems
        elif self.stems is not None:
            out.append(self.stems)
        if self.reference is not None:
            out.append(self.reference)
        return out


@dataclass
class Outcome:
    """What one path (analyze, review, upload, cli) did with a case."""

    case: str
    kind: str
    path: str
    result: str  # ok | clear | internal
    message: str = ""
    seconds: float = 0.0
    expected: str | None = None  # the case's known right answer (ok or clear), when it has one

    @property
    def unexpected(self) -> bool:
        """An ok where a refusal was due, or a refusal of audio that should be measured."""
        return self.result != "internal" and self.expected is not None and self.result != self.expected


# ---------------------------------------------------------------------------------------------
# writing audio


def _demo_mix(duration_s: float = BASE_S) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    from mixingbuddy.model.data.demo_song import SongConfig, render_song

    return render_song(SongConfig(duration_s=duration_s, sr=SR, seed=7))


def _sf(path: Path, x: np.ndarray, sr: int = SR, fmt: str | None = None, subtype: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, sr, format=fmt, subtype=subtype)
    return path


def _av(path: Path, x: np.ndarray | list[np.ndarray], sr: int = SR, codec: str = "aac",
        container: str = "mp4") -> Path:
    """Write (n, 1|2) float audio with ffmpeg (PyAV): AAC in MP4/M4A; a list gives one stream per
    array (five for a MUSDB18-style ``.stem.mp4``)."""
    return write_av(path, x, sr, codec=codec, container=container)


def _wav_header(path: Path, *, sr: int = SR, channels: int = 2, bits: int = 16, fmt_tag: int = 1,
                data_bytes: int, riff_bytes: int | None = None, payload: bytes = b"",
                block_align: int | None = None) -> Path:
    """A hand-made RIFF/WAVE header (declared sizes may lie) followed by ``payload``."""
    ba = block_align if block_align is not None else channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag & 0xFFFF, channels & 0xFFFF, sr & 0xFFFFFFFF, (sr * ba) & 0xFFFFFFFF,
                      ba & 0xFFFF, bits & 0xFFFF)
    riff = riff_bytes if riff_bytes is not None else 4 + 8 + len(fmt) + 8 + data_bytes
    head = b"RIFF" + struct.pack("<I", riff & 0xFFFFFFFF) + b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    path.write_bytes(head + b"data" + struct.pack("<I", data_bytes & 0xFFFFFFFF) + payload)
    return path


def _float_wav(path: Path, x: np.ndarray, sr: int = SR, subtype: str = "FLOAT") -> Path:
    return _sf(path, x.astype(np.float64 if subtype == "DOUBLE" else np.float32), sr, "WAV", subtype)


def _cut(src: Path, dst: Path, keep: float | int) -> Path:
    data = src.read_bytes()
    n = keep if isinstance(keep, int) else int(len(data) * keep)
    dst.write_bytes(data[:n])
    return dst


# ---------------------------------------------------------------------------------------------
# the corpus


def build_corpus(root: Path) -> list[Case]:
    """Render every case into ``root`` (deterministic) and return the cases."""
    rng = np.random.default_rng(15)
    mix, stems = _demo_mix()
    mono = mix[:, :1].copy()
    cases: list[Case] = []
    d = root

    def add(kind: str, variant: str, mix_path: Path, **kw) -> None:
        kw.setdefault("expect", _EXPECT.get(kind))
        cases.append(Case(kind, variant, mix_path, **kw))

    good = {
        "wav": _sf(d / "good" / "mix.wav", mix, subtype="PCM_16"),
        "flac": _sf(d / "good" / "mix.flac", mix),
        "mp3": _sf(d / "good" / "mix.mp3", mix, fmt="MP3"),
        "ogg": _sf(d / "good" / "mix.ogg", mix, fmt="OGG", subtype="VORBIS"),
        "m4a": _av(d / "good" / "mix.m4a", mix),
    }
    good_stems = [_sf(d / "good" / "stems" / f"{k}.wav", x, subtype="PCM_16") for k, x in stems.items()]
    (d / "k").mkdir(exist_ok=True)

    def p(name: str) -> Path:
        out = d / "k" / f"{len(cases):03d}" / name
        out.parent.mkdir(parents=True, exist_ok=True)
        return out

    # -- control: valid files
    for ext, path in good.items():
        add("control", ext, path)
    add("control", "stems", good["wav"], stems=list(good_stems), reference=good["flac"])

    # -- empty files, zero-length audio, header only
    for ext in ("wav", "mp3", "flac", "m4a", "ogg"):
        q = p(f"empty.{ext}")
        q.write_bytes(b"")
        add("empty", ext, q)
    q = p("folder.wav")
    q.mkdir()
    add("empty", "folder", q)
    add("empty", "missing", d / "k" / "no-such-file.wav")
    for fmt, ext in (("WAV", "wav"), ("FLAC", "flac"), ("AIFF", "aiff"), ("WAV", "w64-as-wav")):
        q = p(f"zero.{ext.split('-')[0]}")
        _sf(q, np.zeros((0, 2), np.float32), fmt=fmt if ext != "w64-as-wav" else "W64")
        add("zero_length", ext, q)
    add("header_only", "wav_declares_4s", _wav_header(p("hdr.wav"), data_bytes=4 * SR * 4))
    add("header_only", "wav_declares_0", _wav_header(p("hdr0.wav"), data_bytes=0))
    add("header_only", "flac_streaminfo", _cut(good["flac"], p("hdr.flac"), 42))
    add("header_only", "mp3_id3_only", _cut(good["mp3"], p("hdr.mp3"), 10))
    add("header_only", "m4a_ftyp_only", _cut(good["m4a"], p("hdr.m4a"), 32))

    # -- truncated at several points
    for ext in ("wav", "flac", "mp3", "ogg", "m4a"):
        for keep in (0.05, 0.5, 0.85, 0.97):
            add("truncated", f"{ext}_{int(keep * 100)}pct", _cut(good[ext], p(f"cut.{ext}"), keep))

    # -- random bytes with audio extensions, and junk after a real magic number
    for ext in ("wav", "mp3", "flac", "m4a", "ogg", "aiff"):
        q = p(f"random.{ext}")
        q.write_bytes(rng.integers(0, 256, 40_000, dtype=np.uint8).tobytes())
        add("random_bytes", ext, q)
    for magic, ext in ((b"RIFF\x00\x00\x01\x00WAVE", "wav"), (b"fLaC", "flac"), (b"ID3\x04\x00\x00\x00\x00\x00\x00", "mp3"),
                       (b"OggS\x00\x02", "ogg"), (b"\x00\x00\x00\x20ftypM4A ", "m4a"), (b"\xff\xfb\x90\x64", "mp3")):
        q = p(f"magic_junk.{ext}")
        q.write_bytes(magic + rng.integers(0, 256, 40_000, dtype=np.uint8).tobytes())
        add("random_bytes", f"{ext}_{magic[:4].hex()}_then_junk", q)

    # -- non-audio renamed .wav
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(40)
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n"
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("a.txt", "hello")
    for variant, data in (("text", b"just some text\n" * 100), ("html", b"<!doctype html><html><body>hi</body></html>"),
                          ("png", png), ("pdf", pdf), ("json", b'{"a": [1, 2, 3]}'), ("zip", zbuf.getvalue()),
                          ("elf", Path(sys.executable).read_bytes()[:20_000]), ("utf16_text", "hello".encode("utf-16"))):
        q = p("renamed.wav")
        q.write_bytes(data)
        add("not_audio", variant, q)

    # -- valid audio with the wrong extension
    for src, ext in (("wav", "mp3"), ("flac", "wav"), ("mp3", "flac"), ("m4a", "wav"), ("ogg", "m4a"), ("wav", "txt")):
        q = p(f"{src}_as.{ext}")
        shutil.copy(good[src], q)
        add("wrong_extension", f"{src}_as_{ext}", q)

    # -- silence and near-silence
    n = int(BASE_S * SR)
    add("silence", "digital_zero_int16", _sf(p("zero.wav"), np.zeros((n, 2)), subtype="PCM_16"))
    add("silence", "digital_zero_float", _float_wav(p("zerof.wav"), np.zeros((n, 2))))
    add("silence", "noise_-120dbfs", _float_wav(p("n120.wav"), 1e-6 * rng.standard_normal((n, 2))))
    add("silence", "noise_-95dbfs", _float_wav(p("n95.wav"), 10 ** (-95 / 20) * rng.uniform(-1, 1, (n, 2))))
    add("silence", "noise_-80dbfs", _float_wav(p("n80.wav"), 10 ** (-80 / 20) * rng.uniform(-1, 1, (n, 2))))
    add("silence", "one_channel_silent", _sf(p("halfsilent.wav"), np.c_[mix[:, 0], np.zeros(n)], subtype="PCM_16"))
    add("silence", "silent_mp3", _sf(p("zero.mp3"), np.zeros((n, 2)), fmt="MP3"))

    # -- DC, constant full scale, square waves
    add("dc", "dc_0.5_mono", _float_wav(p("dc.wav"), np.full((n, 1), 0.5)))
    add("dc", "dc_stereo", _float_wav(p("dc2.wav"), np.full((n, 2), -0.25)))
    add("dc", "dc_one_channel", _float_wav(p("dc1.wav"), np.c_[mix[:, 0], np.full(n, 0.3)]))
    add("dc", "dc_plus_music", _float_wav(p("dcm.wav"), mix + 0.4))
    add("full_scale", "constant_+1", _float_wav(p("one.wav"), np.ones((n, 2))))
    add("full_scale", "constant_int16_max", _sf(p("imax.wav"), np.full((n, 2), 32767, np.int16), subtype="PCM_16"))
    alt = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)[:, None].repeat(2, axis=1)
    add("full_scale", "alternating_nyquist", _float_wav(p("alt.wav"), alt))
    sq = np.where((np.arange(n) // (SR // 200)) % 2 == 0, 1.0, -1.0)[:, None].repeat(2, axis=1)
    add("full_scale", "square_100hz", _sf(p("sq.wav"), sq, subtype="PCM_16"))
    add("full_scale", "hard_clipped", _float_wav(p("clip.wav"), np.clip(mix * 30, -1, 1)))
    add("full_scale", "float_+12dbfs", _float_wav(p("hot.wav"), mix * 4.0))

    # -- NaN / inf / huge float samples
    def spiked(value: float, where: str = "one", subtype: str = "FLOAT") -> np.ndarray:
        x = mix.astype(np.float64).copy()
        if where == "one":
            x[n // 2, 0] = value
        elif where == "all":
            x[:] = value
        else:
            x[::1000] = value
        return x

    for variant, value, where, sub in (("nan_one", np.nan, "one", "FLOAT"), ("nan_all", np.nan, "all", "FLOAT"),
                                       ("nan_sparse", np.nan, "sparse", "FLOAT"), ("inf_one", np.inf, "one", "FLOAT"),
                                       ("-inf_one", -np.inf, "one", "FLOAT"), ("1e30_one", 1e30, "one", "FLOAT"),
                                       ("1e30_all", 1e30, "all", "FLOAT"), ("1e10_one", 1e10, "one", "FLOAT"),
                                       ("nan_one_double", np.nan, "one", "DOUBLE"), ("1e300_double", 1e300, "one", "DOUBLE"),
                                       ("denormal_all", 1e-42, "all", "FLOAT"), ("1e-300_double", 1e-300, "all", "DOUBLE")):
        add("non_finite", variant, _float_wav(p(f"{variant}.wav"), spiked(value, where, sub), subtype=sub))

    # -- integer extremes
    add("int_extremes", "int16_min_all", _sf(p("i16min.wav"), np.full((n, 2), -32768, np.int16), subtype="PCM_16"))
    alt32 = np.where(np.arange(n) % 2 == 0, 2**31 - 1, -(2**31)).astype(np.int32)[:, None].repeat(2, axis=1)
    add("int_extremes", "int32_alternating", _sf(p("i32alt.wav"), alt32, subtype="PCM_32"))
    add("int_extremes", "int24_extremes", _sf(p("i24.wav"), np.where(alt > 0, 1.0, -1.0), subtype="PCM_24"))
    add("int_extremes", "u8_alternating", _sf(p("u8.wav"), alt * 0.999, subtype="PCM_U8"))
    add("int_extremes", "int16_wrapped_sine", _sf(p("wrap.wav"), ((mix * 3 * 32767).astype(np.int64) % 65536 - 32768).astype(np.int16),
                                                  subtype="PCM_16"))

    # -- sample rates
    for sr in (1, 100, 7_999, 8_000, 11_025, 96_000, 192_000, 384_000, 768_000):
        dur = BASE_S if sr >= 8_000 else max(4.0, 2.0 / sr * 10)
        m = int(round(dur * sr))
        t = np.arange(m) / sr
        x = 0.3 * np.sin(2 * np.pi * min(440.0, sr / 4) * t)[:, None].repeat(2, axis=1)
        add("sample_rate", f"{sr}hz", _sf(p(f"sr{sr}.wav"), x, sr=sr, subtype="PCM_16"))
    add("sample_rate", "flac_96k_24bit", _sf(p("hr.flac"), np.repeat(mix, 1, axis=0), sr=96_000, subtype="PCM_24"))

    # -- channel counts
    for ch in (1, 3, 4, 6, 8, 32):
        x = np.tile(mix[:, :1], (1, ch)) * 0.5
        add("channels", f"{ch}ch_wav", _sf(p(f"ch{ch}.wav"), x, subtype="PCM_16"))
    add("channels", "6ch_flac", _sf(p("ch6.flac"), np.tile(mix[:, :1], (1, 6)) * 0.5))
    add("channels", "4ch_ogg", _sf(p("ch4.ogg"), np.tile(mix[:, :1], (1, 4)) * 0.5, fmt="OGG", subtype="VORBIS"))
    add("channels", "wav_header_0ch", _wav_header(p("ch0.wav"), channels=0, block_align=2, data_bytes=8000,
                                                   payload=bytes(8000)))
    add("channels", "wav_header_65535ch", _wav_header(p("chmax.wav"), channels=65535, bits=16, data_bytes=131070 * 4,
                                                       payload=rng.integers(0, 256, 131070 * 4, dtype=np.uint8).tobytes()))

    # -- sample formats
    for sub in ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ULAW", "ALAW", "IMA_ADPCM", "MS_ADPCM",
                "G721_32", "NMS_ADPCM_16"):
        x = mono if sub in ("G721_32", "NMS_ADPCM_16") else mix
        try:
            add("sample_format", f"wav_{sub}", _sf(p(f"{sub}.wav"), x, subtype=sub))
        except Exception:
            continue
    add("sample_format", "wav_GSM610_8k", _sf(p("gsm.wav"), 0.3 * np.sin(np.arange(32_000) / 8_000 * 2 * np.pi * 300)[:, None],
                                              sr=8_000, subtype="GSM610"))
    add("sample_format", "flac_PCM_S8", _sf(p("s8.flac"), mix, subtype="PCM_S8"))
    add("sample_format", "aiff_PCM_16", _sf(p("a.aiff"), mix, fmt="AIFF", subtype="PCM_16"))
    add("sample_format", "caf_ALAC", _sf(p("a.caf"), mix, fmt="CAF", subtype="ALAC_16"))
    add("sample_format", "rf64_float", _sf(p("rf.wav"), mix, fmt="RF64", subtype="FLOAT"))
    add("sample_format", "opus", _sf(p("a.opus"), mix, sr=48_000, fmt="OGG", subtype="OPUS"))
    add("sample_format", "wav_fmt_tag_unknown", _wav_header(p("tag.wav"), fmt_tag=0x1234, data_bytes=n * 4,
                                                             payload=(mix * 32767).astype("<i2").tobytes()))
    add("sample_format", "wav_bits_7", _wav_header(p("b7.wav"), bits=7, block_align=2, data_bytes=n * 4,
                                                    payload=(mix * 32767).astype("<i2").tobytes()))

    # -- very short and long
    for variant, frames in (("1_sample", 1), ("10ms", 441), ("0.39s", int(0.39 * SR)), ("0.41s", int(0.41 * SR)),
                            ("0.5s", int(0.5 * SR)), ("0.51s", int(0.51 * SR))):
        add("short", variant, _sf(p(f"short_{variant}.wav"), mix[:frames], subtype="PCM_16"))
    long_x = np.tile(mono, (int(250 / BASE_S) + 1, 1))[: 250 * 22_050]  # 4 min 10 s at 22.05 kHz
    add("long", "wav_250s_spooled", _sf(p("long.wav"), long_x, sr=22_050, subtype="PCM_16"))
    add("long", "flac_250s_spooled", _sf(p("long.flac"), long_x, sr=22_050))
    add("long", "over_cap_70s_of_60s", _sf(p("cap.wav"), long_x[: 70 * 22_050], sr=22_050, subtype="PCM_16"),
        max_duration_s=60.0)
    sr8 = 8_000  # the longer variants at 8 kHz mono: small files, the same spooled code
    long8 = np.tile(mono[:: SR // sr8 + 1], (80, 1))[: 250 * sr8]
    nan_end = long8.astype(np.float32).copy()
    nan_end[-100] = np.nan
    add("long", "nan_at_the_end_spooled", _float_wav(p("long_nan.wav"), nan_end, sr8), expect="clear")
    add("long", "silent_spooled", _sf(p("long_silent.wav"), np.zeros((250 * sr8, 1)), sr=sr8, subtype="PCM_16"),
        expect="clear")
    add("long", "truncated_60pct_spooled", _cut(_sf(p("long_full.wav"), long8, sr=sr8, subtype="PCM_16"),
                                               p("long_cut.wav"), 0.6), expect="clear")
    add("long", "5.1_spooled", _sf(p("long51.wav"), np.tile(long8, (1, 6)) * 0.3, sr=sr8, subtype="PCM_16"),
        expect="ok")
    add("long", "m4a_spooled", _av(p("long.m4a"), long8, sr=sr8), expect="ok")
    add("long", "mp3_spooled", _sf(p("long.mp3"), long8, sr=sr8, fmt="MP3"), expect="ok")
    long_mix8 = _sf(p("long_mix.wav"), long8, sr=sr8, subtype="PCM_16")
    long_stems = [_sf(p(f"long_stems/{k}.wav"), long8 * g, sr=sr8, subtype="PCM_16")
                  for k, g in (("drums", 0.5), ("bass", 0.3), ("other", 0.2))]
    add("long", "stems_spooled", long_mix8, stems=long_stems, expect="ok")
    add("long", "stems_spooled_one_nan_at_end", long_mix8,
        stems=[*long_stems[:2], _float_wav(p("long_stems_nan/vocals.wav"), nan_end, sr8)], expect="clear")
    add("long", "over_cap_m4a", _av(p("cap.m4a"), long_x[: 70 * 22_050], sr=22_050), max_duration_s=60.0)

    # -- huge or lying header sizes
    pcm = (mix * 32767).astype("<i2").tobytes()
    add("huge_header", "wav_data_0xffffffff", _wav_header(p("h1.wav"), data_bytes=0xFFFFFFFF, payload=pcm))
    add("huge_header", "wav_riff_0xffffffff", _wav_header(p("h2.wav"), data_bytes=len(pcm), riff_bytes=0xFFFFFFFF, payload=pcm))
    add("huge_header", "wav_data_10x", _wav_header(p("h3.wav"), data_bytes=len(pcm) * 10, payload=pcm))
    add("huge_header", "wav_data_0_with_samples", _wav_header(p("h4.wav"), data_bytes=0, payload=pcm))
    add("huge_header", "wav_data_odd_size", _wav_header(p("h5.wav"), data_bytes=len(pcm) - 1, payload=pcm[:-1]))
    add("huge_header", "wav_sr_0", _wav_header(p("h6.wav"), sr=0, data_bytes=len(pcm), payload=pcm))
    add("huge_header", "wav_sr_4e9", _wav_header(p("h7.wav"), sr=4_000_000_000, data_bytes=len(pcm), payload=pcm))
    add("huge_header", "wav_block_align_0", _wav_header(p("h8.wav"), block_align=0, data_bytes=len(pcm), payload=pcm))
    add("huge_header", "wav_fmt_after_data", _fmt_after_data(p("h9.wav"), pcm))
    fl = bytearray(good["flac"].read_bytes())
    fl[8 + 13 : 8 + 18] = bytes([fl[8 + 13] | 0x0F, 0xFF, 0xFF, 0xFF, 0xFF])  # STREAMINFO total samples = 2^36 - 1
    q = p("h10.flac")
    q.write_bytes(bytes(fl))
    add("huge_header", "flac_total_samples_max", q)
    aiff = bytearray(_sf(p("h11.aiff"), mix, fmt="AIFF", subtype="PCM_16").read_bytes())
    i = aiff.find(b"COMM")
    aiff[i + 10 : i + 14] = b"\xff\xff\xff\xff"  # numSampleFrames
    q = p("h11.aiff")
    q.write_bytes(bytes(aiff))
    add("huge_header", "aiff_frames_max", q)

    # -- stems
    st = {k: v for k, v in stems.items()}

    def stem_dir(variant: str, files: dict[str, tuple[np.ndarray, int]], subtype: str = "PCM_16") -> list[Path]:
        out = []
        for fname, (x, sr) in files.items():
            q = p(f"{variant}/{fname}")
            if subtype == "FLOAT":
                _float_wav(q, x, sr)
            else:
                _sf(q, x, sr, subtype=subtype)
            out.append(q)
        return out

    base = {f"{k}.wav": (x, SR) for k, x in st.items()}
    add("stems", "mismatched_lengths", good["wav"], stems=stem_dir("len", {**base, "bass.wav": (st["bass"][: n // 2], SR)}))
    add("stems", "mismatched_rates", good["wav"], stems=stem_dir("rate", {**base, "bass.wav": (st["bass"][::2], SR // 2)}))
    add("stems", "mismatched_channels", good["wav"], stems=stem_dir("chan", {**base, "bass.wav": (st["bass"][:, :1], SR)}))
    add("stems", "one_silent", good["wav"], stems=stem_dir("silent", {**base, "bass.wav": (np.zeros((n, 2)), SR)}))
    add("stems", "one_nan", good["wav"], stems=stem_dir("nan", {**{k: (v[0].astype(np.float64), SR) for k, v in base.items()},
                                                              "bass.wav": (np.full((n, 2), np.nan), SR)}, subtype="FLOAT"))
    add("stems", "duplicated_roles", good["wav"], stems=stem_dir("dup", {**base, "lead vocals.wav": (st["vocals"], SR)}))
    add("stems", "stem_is_the_mix", good["wav"], stems=stem_dir("ismix", {"vocals.wav": (mix, SR), "drums.wav": (st["drums"], SR)}))
    add("stems", "only_the_mix", good["wav"], stems=[good["wav"]])
    add("stems", "unknown_names", good["wav"], stems=stem_dir("unk", {f"track{i}.wav": (x, SR) for i, x in enumerate(st.values())}))
    add("stems", "twenty_stems", good["wav"], stems=stem_dir("twenty", {f"{['kick', 'bass', 'gtr', 'vox'][i % 4]} {i}.wav":
                                                                        (st[['drums', 'bass', 'other', 'vocals'][i % 4]] / 5, SR)
                                                                        for i in range(20)}))
    add("stems", "same_file_twice", good["wav"], stems=[good_stems[0], good_stems[0]])
    add("stems", "empty_folder", good["wav"], stems=_mkdir(p("emptystems/x").parent))
    add("stems", "not_audio_stem", good["wav"], stems=[*good_stems[:3], _write(p("vocals.wav"), b"not audio at all\n")])
    add("stems", "short_stem", good["wav"], stems=stem_dir("short", {**base, "bass.wav": (st["bass"][: int(0.3 * SR)], SR)}))
    add("stems", "six_channel_stem", good["wav"], stems=stem_dir("six", {**base, "bass.wav": (np.tile(st["bass"][:, :1], (1, 6)), SR)}))
    add("stems", "stems_folder", good["wav"], stems=good_stems[0].parent)
    add("stems", "stem_rate_100hz", good["wav"], stems=stem_dir("r100", {**base, "bass.wav": (np.ones((400, 2)) * 0.1, 100)}))
    add("stems", "missing_stem_file", good["wav"], stems=[*good_stems[:3], d / "k" / "nope" / "vocals.wav"])

    # -- .stem.mp4 (MUSDB18: mixture, drums, bass, other, vocals)
    five = [mix, *(stems[k] for k in ("drums", "bass", "other", "vocals"))]
    smp4 = _av(p("song.stem.mp4"), five)
    add("stem_mp4", "good", smp4)
    add("stem_mp4", "as_stems", good["wav"], stems=smp4)
    add("stem_mp4", "two_streams", _av(p("two.stem.mp4"), five[:2]))
    add("stem_mp4", "truncated_60pct", _cut(smp4, p("cut.stem.mp4"), 0.6))
    add("stem_mp4", "silent_stream", _av(p("silent.stem.mp4"), [*five[:4], np.full_like(mix, 0.0)]))
    add("stem_mp4", "upload_as_stems", good["wav"], stems=[smp4], upload=True)
    add("stem_mp4", "upload_as_mix", smp4, upload=True)
    add("stem_mp4", "upload_with_other_stems", good["wav"], stems=[smp4, good_stems[0]], upload=True)

    # -- malicious names (valid audio, then a few with bad content)
    evil = ["passwd.wav", "a\nb.wav", "\x1b[31mred\x07.wav", "\u202egnp.wav", "x" * 240 + ".wav",
            "$(rm -rf ~);`id`|&.wav", "-rf.wav", "--help.wav", "cafe\u0301.wav", "caf\u00e9.wav",
            "\uff0e\uff0e\uff0fup.wav", " .wav", "..wav", "con.wav", "a\rb\tc.wav", "\u200b.wav", "%s%n%x.wav",
            "<script>alert(1)</script>.wav"]
    for i, fname in enumerate(evil):
        q = d / "k" / f"evil{i:02d}" / fname
        q.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(good["wav"], q)
        add("bad_names", ascii(fname)[:30], q)
    trav = d / "k" / "a" / "b"
    trav.mkdir(parents=True, exist_ok=True)
    shutil.copy(good["wav"], d / "k" / "passwd.wav")
    add("bad_names", "dotdot_path", trav / ".." / ".." / "passwd.wav")
    q = d / "k" / "evil_bytes" / os.fsdecode(b"\xff\xfe-latin1-\xe9.wav")
    q.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(good["wav"], q)
    add("bad_names", "undecodable_bytes", q)
    for i, fname in enumerate(("a\nb.wav", "\u202egnp.wav", os.fsdecode(b"\xff\xfe.wav"), "$(id).wav")):
        q = d / "k" / f"evilbad{i}" / fname
        q.parent.mkdir(parents=True, exist_ok=True)
        q.write_bytes(b"not audio\n")
        add("bad_names", f"not_audio_{i}", q)
    q = d / "k" / "evilstem" / "vo\ncals.wav"
    q.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(good_stems[3], q)
    add("bad_names", "stem_with_newline", good["wav"], stems=[*good_stems[:3], q])

    # -- paths that are not plain files, or that no file can have
    fifo = p("fifo.wav")
    os.mkfifo(fifo)
    add("paths", "fifo", fifo)
    add("paths", "dev_zero", Path("/dev/zero"))
    loop = p("loop1.wav")
    os.symlink(loop.with_name("loop2.wav"), loop)
    os.symlink(loop, loop.with_name("loop2.wav"))
    add("paths", "symlink_loop", loop)
    link = p("dirlink.wav")
    os.symlink(link.parent, link)
    add("paths", "symlink_to_folder", link)
    add("paths", "nul_in_mix", d / "k" / "a\x00b.wav")
    add("paths", "nul_in_stem", good["wav"], stems=[*good_stems[:3], d / "k" / "voc\x00als.wav"])
    add("paths", "nul_in_reference", good["wav"], reference=d / "k" / "ref\x00.wav")
    add("paths", "5000_char_path", d / "k" / ("x" * 5000 + ".wav"))
    add("paths", "fifo_as_stem", good["wav"], stems=[*good_stems[:3], fifo])

    # -- ZIPs of stems, through the upload handling
    def zip_case(variant: str, members: list[tuple[zipfile.ZipInfo | str, bytes]], **kw) -> None:
        q = p(f"{variant}.zip")
        with zipfile.ZipFile(q, "w", zipfile.ZIP_DEFLATED, **kw) as z, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the duplicate-names case is meant
            for info, data in members:
                z.writestr(info, data)
        add("zip", variant, good["wav"], stems=[q], upload=True)

    wavs = [(f"{k}.wav", s.read_bytes()) for k, s in zip(st, good_stems)]
    zip_case("good", wavs)
    zip_case("bomb", [("vocals.wav", bytes(300_000_000))])
    zip_case("traversal", [("../../evil.wav", wavs[0][1]), *wavs[1:]])
    zip_case("absolute", [("/tmp/evil.wav", wavs[0][1]), *wavs[1:]])
    link = zipfile.ZipInfo("drums.wav")
    link.external_attr = (0o120777 << 16)
    zip_case("symlink", [(link, b"/etc/passwd"), *wavs[1:]])
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        for name_, data in wavs:
            z.writestr(name_, data)
    zip_case("nested", [("inner.zip", inner.getvalue())])
    zip_case("encrypted", wavs)
    _mark_encrypted(cases[-1].stems[0])
    zip_case("evil_member_names", [("lead\nvocals.wav", wavs[0][1]), ("\u202edrums.wav", wavs[1][1]),
                                   ("$(id)`bass`.wav", wavs[2][1]), ("-rf other.wav", wavs[3][1])])
    zip_case("backslash_traversal", [("..\\..\\evil.wav", wavs[0][1]), *wavs[1:]])
    zip_case("drive_letter", [("C:\\evil.wav", wavs[0][1]), *wavs[1:]])
    zip_case("empty", [])
    zip_case("thousand_members", [(f"t/{i:04d}.wav", wavs[0][1][:44]) for i in range(1000)])
    zip_case("non_audio_members", [("readme.txt", b"hi"), ("cover.png", png), ("notes.pdf", pdf)])
    zip_case("mixed_junk", [*wavs, ("__MACOSX/._vocals.wav", b"\x00\x05\x16\x07"), (".DS_Store", b"\x00" * 64)])
    zip_case("duplicate_names", [*wavs, ("vocals.wav", wavs[1][1])])
    zip_case("dirs_only", [(zipfile.ZipInfo("a/"), b""), (zipfile.ZipInfo("b/"), b"")])
    zip_case("bad_member_audio", [("vocals.wav", b"RIFF garbage"), *wavs[1:]])
    q = p("cut.zip")
    with zipfile.ZipFile(q, "w", zipfile.ZIP_DEFLATED) as z:
        for name_, data in wavs:
            z.writestr(name_, data)
    _cut(q, q, 0.6)
    add("zip", "truncated_zip", good["wav"], stems=[q], upload=True)
    add("zip", "zip_as_mix", q, upload=True)
    add("zip", "upload_bad_mix", _write(p("mix.wav"), b"<html>not audio</html>"), upload=True)
    add("zip", "upload_evil_name", d / "k" / "evil01" / "a\nb.wav", upload=True)

    # -- reference tracks, bad in each of the ways above
    by_name = {c.name: c.mix for c in cases}
    by_name_case = {c.name: c for c in cases}
    for src in ("empty/wav", "header_only/wav_declares_4s", "truncated/mp3_5pct", "random_bytes/flac", "not_audio/pdf",
                "wrong_extension/flac_as_wav", "silence/digital_zero_float", "dc/dc_stereo", "non_finite/nan_one",
                "non_finite/1e30_one", "sample_rate/100hz", "sample_rate/384000hz", "channels/8ch_wav",
                "short/0.39s", "bad_names/'a\\nb.wav'", "empty/missing"):
        if src in by_name:
            add("reference", src.replace("/", ":"), good["wav"], reference=by_name[src])
    add("reference", "reference_is_the_mix", good["wav"], reference=good["wav"])
    add("reference", "over_cap", good["wav"], reference=by_name["long/over_cap_70s_of_60s"], max_duration_s=60.0)
    for c in cases:
        c.expect = _EXPECT_CASE.get(c.name, c.expect)
        if c.kind == "reference" and c.variant.replace(":", "/") in by_name:
            c.expect = by_name_case[c.variant.replace(":", "/")].expect
    return cases


def _mark_encrypted(path: Path) -> None:
    """Set the "encrypted" bit (general purpose flag bit 0, APPNOTE 4.4.4) of every member's local
    and central header, as a password-protected ZIP has (zipfile cannot write one)."""
    data = bytearray(path.read_bytes())
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = data.find(sig)
        while i >= 0:
            data[i + off] |= 0x1
            i = data.find(sig, i + 4)
    path.write_bytes(bytes(data))


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _fmt_after_data(path: Path, pcm: bytes) -> Path:
    """A WAV whose ``data`` chunk comes before its ``fmt `` chunk (legal RIFF, rarely seen)."""
    fmt = struct.pack("<HHIIHH", 1, 2, SR, SR * 4, 4, 16)
    body = b"WAVE" + b"data" + struct.pack("<I", len(pcm)) + pcm + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


# ---------------------------------------------------------------------------------------------
# running a case


class _Timeout(Exception):
    pass


def _on_alarm(signum, frame):  # noqa: ARG001
    raise _Timeout()


def _unsafe_text(text: str) -> bool:
    """Whether ``text`` holds control or format characters (escape sequences, RTL overrides...)
    a file name could smuggle into what the user sees; newlines and tabs are layout."""
    return any(unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\n\t" for ch in text)


def _non_finite(obj, where: str = "") -> str | None:
    """Path of the first non-finite number (or of a string with control characters) in a report's
    JSON-like dump, or None."""
    if isinstance(obj, float):
        return None if math.isfinite(obj) else where or "."
    if isinstance(obj, str):
        return f"{where} (control characters)" if _unsafe_text(obj) else None
    if isinstance(obj, dict):
        for k, v in obj.items():
            bad = _non_finite(v, f"{where}.{k}")
            if bad:
                return bad
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            bad = _non_finite(v, f"{where}[{i}]")
            if bad:
                return bad
    return None


def judge_error(exc: BaseException, shown: list[str]) -> tuple[str, str]:
    """``("clear", message)`` for a one-line project error naming one of the files (``shown``:
    their display names) with no internal names in it; ``("internal", why)`` otherwise."""
    from mixingbuddy.tools.errors import MixingBuddyError

    text = str(exc)
    if isinstance(exc, _Timeout):
        return "internal", f"timed out after {CASE_TIMEOUT_S} s"
    if not isinstance(exc, MixingBuddyError):
        return "internal", f"{type(exc).__name__}: {text}"[:400]
    if "\n" in text or "\r" in text or not text.strip():
        return "internal", f"not one line: {text!r}"[:400]
    if _INTERNAL_TEXT.search(text):
        return "internal", f"internal names in the message: {text}"[:400]
    if not any(s and s in text for s in shown):
        return "internal", f"does not name the file: {text}"[:400]
    return "clear", text


def _shown(case: Case) -> list[str]:
    from mixingbuddy.tools.errors import sanitize_name

    names = [sanitize_name(x) for x in case.inputs()]
    if isinstance(case.stems, list):
        names += [sanitize_name(s.name) for s in case.stems]
    return names


def _analyze(case: Case, mix: Path, stems, reference: Path | None) -> str:
    """Ingest as the CLI does, then analyze; returns '' or what is wrong with the report."""
    from mixingbuddy.tools.io.ingest import load_audio, load_mix_and_stems
    from mixingbuddy.tools.measure.analyze import analyze

    m, s = load_mix_and_stems(mix, stems, max_duration_s=case.max_duration_s)
    ref = load_audio(reference, max_duration_s=case.max_duration_s) if reference is not None else None
    report = analyze(m, s, reference=ref)
    bad = _non_finite(report.model_dump())
    if m.spool is not None:
        m.spool.close()
    return f"bad value in the report at {bad}" if bad else ""


def _listing(folder: Path) -> set[str]:
    if not folder.exists():
        return set()
    return {str(q.relative_to(folder)) for q in folder.rglob("*")}


def _timed(fn: Callable[[], str]) -> tuple[str, str, float]:
    t0 = time.perf_counter()
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(CASE_TIMEOUT_S)
    try:
        problem = fn()
        return ("internal", problem) if problem else ("ok", ""), time.perf_counter() - t0  # type: ignore[return-value]
    finally:
        signal.alarm(0)


def run_case(case: Case, agent, tmp_root: Path) -> list[Outcome]:
    """Run one case through analyze and review (and the upload handling for ZIP cases)."""
    shown = _shown(case)
    out: list[Outcome] = []

    def record(path: str, fn: Callable[[], str], *, leftovers: Callable[[], str] | None = None) -> None:
        t0 = time.perf_counter()
        before = _listing(tmp_root)
        # an upload session holds what it accepted until it ends (checked after); a refused upload's
        # files are checked by ``leftovers``
        keep = "uploads/" if path == "upload" else None
        try:
            (result, msg), _ = _timed(fn)
        except BaseException as e:  # noqa: BLE001 - judged below
            if isinstance(e, KeyboardInterrupt):
                raise
            result, msg = judge_error(e, shown)
            if result == "clear" and leftovers is not None:
                left = leftovers()
                if left:
                    result, msg = "internal", f"{left} after: {msg}"
        new = {q for q in _listing(tmp_root) - before
               if not (keep and q.startswith(keep))}
        if new:
            result, msg = "internal", f"left temp files {sorted(new)[:3]} ({msg})"
        out.append(Outcome(case.name, case.kind, path, result, msg, time.perf_counter() - t0))

    if case.upload:
        from mixingbuddy.ui.uploads import UploadSession, load_prepared, prepare_upload

        with UploadSession(tmp_root / "uploads") as session:
            prep_box: list = []

            def upload() -> str:
                prep = prepare_upload(session, str(case.mix), [str(s) for s in case.stems or []] or None,
                                      str(case.reference) if case.reference else None,
                                      max_duration_s=case.max_duration_s)
                prep_box.append(prep)
                m, s, r = load_prepared(prep, max_duration_s=case.max_duration_s)
                from mixingbuddy.tools.measure.analyze import analyze

                bad = _non_finite(analyze(m, s, reference=r).model_dump())
                return f"bad value in the report at {bad}" if bad else ""

            def upload_left() -> str:
                left = [q for q in session.path.rglob("*") if q.is_file()] if not prep_box else []
                return f"refused upload left {len(left)} file(s)" if left else ""

            record("upload", upload, leftovers=upload_left)
            if prep_box:
                prep = prep_box[0]
                _review(case, agent, out, record, prep.mix, [*prep.stems] or None, prep.reference)
        if (tmp_root / "uploads").exists() and any((tmp_root / "uploads").iterdir()):
            out.append(Outcome(case.name, case.kind, "upload", "internal", "upload session folder left behind"))
            shutil.rmtree(tmp_root / "uploads", ignore_errors=True)
        return out

    record("analyze", lambda: _analyze(case, case.mix, case.stems, case.reference))
    _review(case, agent, out, record, case.mix, case.stems, case.reference)
    return out


def _review(case: Case, agent, out, record, mix, stems, reference) -> None:
    threads = agent.home / "threads"
    blobs = agent.home / "blobs"
    before = (_listing(threads), _listing(blobs), set(agent.threads()))
    kept: list[str] = []

    def review() -> str:
        r = agent.review(mix, stems=stems, reference=reference, max_duration_s=case.max_duration_s)
        kept.append(r.thread_id)
        bad = _non_finite({"report": r.report, "answer": r.answer, "degradations": r.degradations})
        return f"bad value in the review's report at {bad}" if bad else ""

    def left() -> str:
        after = (_listing(threads), _listing(blobs), set(agent.threads()))
        what = [w for w, b, a in zip(("thread folders", "blobs", "stored threads"), before, after) if a - b]
        return f"refused review left {', '.join(what)}" if what else ""

    record("review", review, leftovers=left)
    for tid in kept:
        agent.delete_thread(tid)


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def _cli_case(case: Case) -> Outcome:
    """The real ``mixingbuddy analyze`` process on one case (exit 0 ok; 2 with one
    ``error[...]`` line clear; anything else internal)."""
    # every corpus path is absolute, so a name such as "-rf.wav" cannot read as an option
    args = [sys.executable, "-m", "mixingbuddy", "analyze", "--max-minutes", f"{case.max_duration_s / 60:g}",
            str(case.mix)]
    if case.reference is not None:
        args += ["--reference", str(case.reference)]
    if isinstance(case.stems, list) and len(case.stems) == 1 and not case.stems[0].suffix.lower() == ".wav":
        args += ["--stems", str(case.stems[0])]  # one ZIP or .stem.mp4
    elif isinstance(case.stems, list):  # a list of files is given as --stem ROLE=PATH, roles from the names
        from mixingbuddy.tools.io.ingest import infer_stem_role

        args += [a for s in case.stems for a in ("--stem", f"{infer_stem_role(s.name)}={s}")]
    elif case.stems is not None:
        args += ["--stems", str(case.stems)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(args, capture_output=True, timeout=CASE_TIMEOUT_S, env={**os.environ, "PYTHONUTF8": "0"})
    except subprocess.TimeoutExpired:
        return Outcome(case.name, case.kind, "cli", "internal", "timed out", time.perf_counter() - t0)
    err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    dt = time.perf_counter() - t0
    if proc.returncode == 0:
        out = proc.stdout.decode("utf-8", "replace")
        if _unsafe_text(out) or _unsafe_text("\n".join(err)):
            return Outcome(case.name, case.kind, "cli", "internal", "printed control characters", dt)
        return Outcome(case.name, case.kind, "cli", "ok", "", dt)
    last = err[-1] if err else ""
    lines = [e for e in err if e.strip() and not e.startswith("[src/libmpg123/")]
    if proc.returncode == 2 and len(lines) == 1 and last.startswith("error[") and not _INTERNAL_TEXT.search(last):
        return Outcome(case.name, case.kind, "cli", "clear", last, dt)
    return Outcome(case.name, case.kind, "cli", "internal", f"exit {proc.returncode}: " + " | ".join(err[-3:])[:400], dt)


def run_corpus(cases: list[Case], work: Path, *, cli_every: int = 0,
               log: Callable[[str], None] | None = None) -> tuple[list[Outcome], dict]:
    """Run every case; returns the outcomes and facts (peak RSS, its growth, seconds)."""
    from mixingbuddy.agent.api import MixingBuddy

    tmp_root = work / "tmp"
    tmp_root.mkdir(exist_ok=True)
    old_tmp = tempfile.tempdir
    tempfile.tempdir = str(tmp_root)  # everything ingest and review spool or unpack lands here, watched
    weights = _mkdir(work / "no-weights")
    outcomes: list[Outcome] = []
    rss: list[float] = []
    t0 = time.perf_counter()
    try:
        with MixingBuddy(work / "home", llm=None, weights=weights, use_model=False, separate=False,
                         retention_days=None) as agent:
            for i, case in enumerate(cases):
                res = run_case(case, agent, tmp_root)
                no_argv = any("\x00" in str(x) for x in case.inputs())  # a command line cannot hold a NUL
                if cli_every and i % cli_every == 0 and not no_argv:
                    res.append(_cli_case(case))
                for o in res:  # the CLI takes no ZIP (it says so): an upload case's answer is the app's
                    o.expected = None if (o.path == "cli" and case.upload) else case.expect
                outcomes += res
                rss.append(_rss_mb())
                if log:
                    log(f"[{i + 1}/{len(cases)}] {case.name}: "
                        + "; ".join(f"{o.path} {o.result} {o.message}".rstrip() for o in res))
    finally:
        tempfile.tempdir = old_tmp
    facts = {"rss_first_mb": rss[0] if rss else 0.0, "rss_peak_mb": max(rss, default=0.0),
             "rss_last_mb": rss[-1] if rss else 0.0, "seconds": time.perf_counter() - t0}
    if rss and facts["rss_peak_mb"] - facts["rss_first_mb"] > RSS_BOUND_MB:
        outcomes.append(Outcome("memory", "memory", "process", "internal",
                                f"RSS grew from {rss[0]:.0f} MB to {facts['rss_peak_mb']:.0f} MB"))
    return outcomes, facts


def summary_table(cases: list[Case], outcomes: list[Outcome]) -> str:
    """Markdown table by kind (cases; ok, clear, internal, unexpected counted over every run of every
    path: analyze, review, upload, cli), then every internal and unexpected outcome with its message."""
    n_cases = Counter(c.kind for c in cases)
    by_kind: dict[str, Counter] = defaultdict(Counter)
    for o in outcomes:
        by_kind[o.kind][o.result] += 1
    for o in outcomes:
        by_kind[o.kind]["unexpected"] += o.unexpected
    lines = ["| kind | cases | ok | clear | internal | unexpected |", "|---|---:|---:|---:|---:|---:|"]
    for kind in list(n_cases) + [k for k in by_kind if k not in n_cases]:
        c = by_kind[kind]
        lines.append(f"| {kind} | {n_cases.get(kind, 0)} | {c['ok']} | {c['clear']} | {c['internal']} | "
                     f"{c['unexpected']} |")
    tot = Counter(o.result for o in outcomes)
    n_unexpected = sum(o.unexpected for o in outcomes)
    lines.append(f"| **all** | {len(cases)} | {tot['ok']} | {tot['clear']} | {tot['internal']} | {n_unexpected} |")
    bad = [o for o in outcomes if o.result == "internal"]
    if bad:
        lines += ["", f"internal ({len(bad)}):"]
        lines += [f"- {o.case} [{o.path}]: {o.message}" for o in bad]
    odd = [o for o in outcomes if o.unexpected]
    if odd:
        lines += ["", f"unexpected ({len(odd)}; ok where a refusal was due, or a refusal of measurable audio):"]
        lines += [f"- {o.case} [{o.path}]: {o.result} (expected {o.expected}) {o.message}".rstrip() for o in odd]
    return "\n".join(lines)


def cmd_adversarial(args) -> int:
    with tempfile.TemporaryDirectory(prefix="mb-adversarial-") as tmp:
        work = Path(tmp)
        cases = build_corpus(work / "corpus")
        if args.only:
            cases = [c for c in cases if c.kind == args.only or c.name == args.only]
        if args.cases:
            step = max(1, len(cases) // args.cases)
            cases = cases[::step][: args.cases]
        log = (lambda s: print(s, file=sys.stderr, flush=True)) if args.verbose else None
        outcomes, facts = run_corpus(cases, work, cli_every=(args.cli_every if args.cli else 0), log=log)
    print(summary_table(cases, outcomes))
    print(f"\n{len(cases)} cases, {len(outcomes)} runs in {facts['seconds']:.0f} s; RSS first "
          f"{facts['rss_first_mb']:.0f} MB, peak {facts['rss_peak_mb']:.0f} MB, last {facts['rss_last_mb']:.0f} MB")
    return 1 if any(o.result == "internal" or o.unexpected for o in outcomes) else 0


def add_adversarial_parser(eval_subparsers) -> argparse.ArgumentParser:
    """Register ``adversarial`` under the ``eval`` sub-command group."""
    a = eval_subparsers.add_parser("adversarial", help="run the adversarial input corpus (0 internal errors)",
                                   description=__doc__.splitlines()[0])
    _add_args(a)
    a.set_defaults(func=cmd_adversarial)
    return a


def _add_args(a: argparse.ArgumentParser) -> None:
    a.add_argument("--cases", type=int, metavar="N", help="run an evenly spread sample of N cases")
    a.add_argument("--only", metavar="KIND", help="run one kind (e.g. zip) or one case (kind/variant)")
    a.add_argument("--cli", action="store_true", help="also run the real `mixingbuddy analyze` on a sample")
    a.add_argument("--cli-every", type=int, default=5, metavar="K", help="with --cli: every K-th case (default 5)")
    a.add_argument("-v", "--verbose", action="store_true", help="print each case's outcome as it runs")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mixingbuddy.evals.adversarial", description=__doc__.splitlines()[0])
    _add_args(ap)
    return cmd_adversarial(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
