"""Tests for evals/adversarial.py and the bugs its corpus found (issue 15): a fixed sample of the
adversarial corpus (two cases per kind) ends with 0 internal outcomes, plus one regression test per
fix. Every file is rendered here, in pytest's tmp folders."""
from __future__ import annotations

import struct
import subprocess
import sys
import zipfile
from collections import defaultdict

import numpy as np
import pytest
import soundfile as sf
from conftest import make_sine, write_wav_header

from mixingbuddy.evals.adversarial import (
    Case,
    build_corpus,
    judge_error,
    run_corpus,
    summary_table,
)
from mixingbuddy.tools.errors import (
    AudioFileNotFoundError,
    MixingBuddyError,
    SampleRateError,
    StemSetError,
    TruncatedFileError,
    UnsupportedFormatError,
)
from mixingbuddy.tools.io.ingest import load_audio, load_stem_set

SR = 44_100


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list[Case]:
    return build_corpus(tmp_path_factory.mktemp("adversarial"))


def _sample(cases: list[Case], per_kind: int = 2) -> list[Case]:
    """The first and the last case of every kind (fixed: the corpus is deterministic)."""
    by_kind: dict[str, list[Case]] = defaultdict(list)
    for c in cases:
        by_kind[c.kind].append(c)
    out = []
    for group in by_kind.values():
        out += [group[0], group[-1]][:per_kind] if len(group) > 1 else group
    return out


def test_corpus_covers_every_kind_with_several_variants(corpus):
    assert len(corpus) >= 180
    kinds = defaultdict(set)
    for c in corpus:
        kinds[c.kind].add(c.variant)
    for kind in ("empty", "zero_length", "header_only", "truncated", "random_bytes", "not_audio",
                 "wrong_extension", "silence", "dc", "full_scale", "non_finite", "int_extremes",
                 "sample_rate", "channels", "sample_format", "short", "long", "huge_header", "stems",
                 "stem_mp4", "bad_names", "paths", "zip", "reference"):
        assert len(kinds[kind]) >= 3, kind
    assert {"384000hz", "768000hz", "1hz"} <= kinds["sample_rate"]
    assert len({c.name for c in corpus}) == len(corpus)  # every case has its own name


def test_corpus_sample_has_no_internal_outcome(corpus, tmp_path):
    sample = [c for c in _sample(corpus) if c.kind != "long"]  # the spooled files take minutes on 2 cores
    outcomes, facts = run_corpus(sample, tmp_path)
    table = summary_table(sample, outcomes)
    assert not [o for o in outcomes if o.result == "internal"], table
    assert not [o for o in outcomes if o.unexpected], table
    assert {o.path for o in outcomes} >= {"analyze", "review", "upload"}
    results = {(o.case, o.path): o for o in outcomes}
    assert results[("control/wav", "analyze")].result == "ok"
    assert results[("empty/wav", "analyze")].message == "empty.wav: is an empty file (0 bytes)"
    nan = results[("non_finite/nan_one", "review")]
    assert nan.result == "clear" and "non-finite" in nan.message and nan.message.startswith("nan_one.wav:")
    zip_msg = results[("zip/good", "upload")]
    assert zip_msg.result == "ok"
    assert facts["rss_peak_mb"] > 0


def test_judge_error_sorts_outcomes():
    shown = ["mix.wav"]
    assert judge_error(UnsupportedFormatError("mix.wav: cannot be decoded"), shown)[0] == "clear"
    assert judge_error(ValueError("boom"), shown)[0] == "internal"
    leak = UnsupportedFormatError("mix.wav: could not be decoded (AttributeError: 'NoneType' object)")
    assert judge_error(leak, shown)[0] == "internal"
    assert judge_error(UnsupportedFormatError("other.wav: cannot be decoded"), shown)[0] == "internal"


# ---------------------------------------------------------------------------------------------
# regressions: one per bug the corpus found


@pytest.mark.parametrize("subtype, channels", [("IMA_ADPCM", 2), ("MS_ADPCM", 2), ("G721_32", 1)])
def test_adpcm_wav_is_measured_not_refused_as_too_short(tmp_path, subtype, channels):
    # riff_layout counted frames as data bytes / block_align, which for ADPCM is a whole block of
    # frames: a 4 s file read as 0.00 s and was refused as "too short to measure"
    p = tmp_path / "adpcm.wav"
    sf.write(str(p), make_sine(440.0, 4.0, SR, 0.3, channels), SR, subtype=subtype)
    audio = load_audio(p)
    assert audio.duration_s == pytest.approx(4.0, abs=0.05)
    assert subtype in audio.source_format


def test_unknown_wav_codec_is_a_clear_error_without_python_names(tmp_path):
    # ffmpeg has no decoder for format tag 0x1234: its stream's codec_context is None, which
    # ended as "could not be decoded (AttributeError: 'NoneType' object has no attribute ...)"
    p = write_wav_header(tmp_path / "tag.wav", sr=SR, channels=2, n_frames=SR, data=bytes(SR * 4),
                         fmt_tag=0x1234)
    with pytest.raises(UnsupportedFormatError) as err:
        load_audio(p)
    assert str(err.value).startswith("tag.wav: ")
    assert "Error:" not in str(err.value) and "NoneType" not in str(err.value)


def test_wav_declaring_0_hz_names_the_sample_rate(tmp_path):
    p = write_wav_header(tmp_path / "zero_rate.wav", sr=0, channels=2, n_frames=SR, data=bytes(SR * 4))
    with pytest.raises(SampleRateError, match=r"^zero_rate.wav: sample rate 0 Hz is outside"):
        load_audio(p)


def test_chunk_ids_in_messages_are_printable(tmp_path):
    p = tmp_path / "junk.wav"
    p.write_bytes(b"RIFF\x00\x00\x01\x00WAVE" + b"\xef\xbfmq" + struct.pack("<I", 10**6) + bytes(100))
    with pytest.raises(TruncatedFileError) as err:
        load_audio(p)
    assert "chunk 0xefbf6d71 runs past the end" in str(err.value)
    assert str(err.value).isascii()
    m = tmp_path / "junk.m4a"
    m.write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(20) + b"\x00\x01\x00\x00\x9a\xaf\xc4\xa7" + bytes(64))
    with pytest.raises(MixingBuddyError) as err:
        load_audio(m)
    assert str(err.value).isascii(), str(err.value)


def test_a_zip_given_as_the_stems_is_called_a_zip(tmp_path):
    # it was "is a single audio file, not a stem set"
    z = tmp_path / "stems.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("vocals.wav", b"x")
    with pytest.raises(StemSetError, match=r"^stems.zip: is a ZIP archive; unzip it"):
        load_stem_set(z)
    txt = tmp_path / "notes.txt"
    txt.write_text("hello\n")
    with pytest.raises(StemSetError, match=r"^notes.txt: is a text file, not a stem set"):
        load_stem_set(txt)


def test_cli_drops_mpg123_notes_from_stderr(tmp_path):
    # libmpg123 prints "Note: Illegal Audio-MPEG-Header ..." / "Note: Trying to resync..." on
    # descriptor 2 for a damaged MP3: the user saw them above the one error line
    p = tmp_path / "junk.mp3"
    p.write_bytes(b"\xff\xfb\x90\x64" + np.random.default_rng(0).integers(0, 256, 40_000, dtype=np.uint8).tobytes())
    proc = subprocess.run([sys.executable, "-m", "mixingbuddy", "analyze", str(p)], capture_output=True,
                          timeout=120)
    lines = [x for x in proc.stderr.decode().splitlines() if x.strip()]
    assert proc.returncode == 2
    assert len(lines) == 1 and lines[0].startswith("error[") and "junk.mp3" in lines[0], lines


def test_spooled_5_1_file_is_not_reported_clipped(tmp_path):
    # a 5.1 file over 4 minutes is spooled as its fold-down; the clipping was judged against the
    # raw channels' peak, so every folded sample above it counted: 21,112 "clipped" runs of a
    # file peaking at -4 dBFS. Now the spooled and the in-memory reads agree.
    from mixingbuddy.tools.io.ingest import load_mix_and_stems

    sr = 8_000
    rng = np.random.default_rng(5)
    x = 0.25 * np.sin(2 * np.pi * 220.0 * np.arange(250 * sr) / sr) + 0.02 * rng.standard_normal(250 * sr)
    x = x[:, None].repeat(6, axis=1)  # peaks near -10 dBFS; the fold-down near -2.5 dBFS: nothing clips
    sf.write(str(tmp_path / "long51.wav"), x, sr, subtype="PCM_16")
    sf.write(str(tmp_path / "short51.wav"), x[: 60 * sr], sr, subtype="PCM_16")
    long_mix, _ = load_mix_and_stems(tmp_path / "long51.wav")
    short_mix, _ = load_mix_and_stems(tmp_path / "short51.wav")
    assert long_mix.spool is not None and short_mix.spool is None
    assert not [w for w in long_mix.warnings if "clipped input" in w], long_mix.warnings
    assert long_mix.source_clipping.runs == short_mix.source_clipping.runs == 0
    long_mix.spool.close()


def test_a_nul_in_a_stem_path_is_file_not_found(tmp_path):
    # the stem list's duplicate check called os.path.realpath, which raises ValueError ("embedded
    # null byte") on a NUL: an API caller passing a web form's text got an internal error
    good = tmp_path / "drums.wav"
    sf.write(str(good), make_sine(110.0, 2.0, SR, 0.3, 2), SR)
    with pytest.raises(AudioFileNotFoundError, match=r"^voc_als.wav: file not found$"):
        load_stem_set([good, str(tmp_path / "voc\x00als.wav")])
