"""Tests for tools/io/ingest.py: round trips with known answers, stem sets, and the bad-input
corpus. All audio is synthesised here, in each test's tmp_path."""
from __future__ import annotations

import math
import os
import struct
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import make_sine, write_audio, write_av, write_wav_header

from mixingbuddy.tools.errors import (
    AudioFileNotFoundError,
    EmptyFileError,
    InvalidArgumentError,
    MixingBuddyError,
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
from mixingbuddy.tools.io.audio import ANALYSIS_SR, Audio, StemSet
from mixingbuddy.tools.io.ingest import (
    infer_stem_role,
    load_audio,
    load_mix_and_stems,
    load_stem_set,
    sanitize_name,
)


def dominant_hz(x: np.ndarray, sr: int) -> float:
    """Frequency of the largest FFT bin of channel 0, refined by parabolic interpolation."""
    y = x[:, 0].astype(np.float64) * np.hanning(x.shape[0])
    mag = np.abs(np.fft.rfft(y))
    k = int(np.argmax(mag[1:-1])) + 1
    a, b, c = np.log(mag[k - 1 : k + 2] + 1e-30)
    delta = 0.5 * (a - c) / (a - 2 * b + c)
    return (k + delta) * sr / x.shape[0]


def rms_db(x: np.ndarray) -> float:
    return 10 * math.log10(float(np.mean(np.square(x, dtype=np.float64))))


# ---------------------------------------------------------------------------------------------
# round trips


FORMATS = [
    # (file name, soundfile format, subtype, lossless, source_format contains)
    ("pcm16.wav", "WAV", "PCM_16", True, "WAV PCM_16"),
    ("pcm24.wav", "WAV", "PCM_24", True, "WAV PCM_24"),
    ("float.wav", "WAV", "FLOAT", True, "WAV FLOAT"),
    ("x.flac", "FLAC", "PCM_24", True, "FLAC PCM_24"),
    ("x.aiff", "AIFF", "PCM_16", True, "AIFF PCM_16"),
    ("vorbis.ogg", "OGG", "VORBIS", False, "OGG VORBIS"),
    ("opus.ogg", "OGG", "OPUS", False, "OGG OPUS"),
    ("x.mp3", "MP3", "MPEG_LAYER_III", False, "MP3"),
    ("x.m4a", "M4A", None, False, "MP4 AAC"),
]


@pytest.mark.parametrize("fname,fmt,subtype,lossless,label", FORMATS, ids=[f[0] for f in FORMATS])
def test_roundtrip_format(tmp_path, fname, fmt, subtype, lossless, label):
    sr = 48_000
    x = make_sine(1000.0, 1.0, sr, amp=0.5, channels=2)
    x[:, 1] *= 0.5  # the channels differ: L 0.5, R 0.25
    path = write_audio(tmp_path / fname, x, sr, fmt, subtype)
    a = load_audio(path)
    assert isinstance(a, Audio)
    assert a.sr == ANALYSIS_SR and a.samples.dtype == np.float32
    assert a.n_channels == 2 and a.source_channels == 2 and a.source_sr == sr
    assert label in a.source_format
    assert a.name == fname and a.path == str(path)
    assert abs(dominant_hz(a.samples, a.sr) - 1000.0) < 1.0
    if lossless:
        assert a.n_samples == x.shape[0]
        np.testing.assert_allclose(a.samples, x, atol=2.0 / 32768)
        assert a.warnings == []
    else:  # codec delay / padding: within 60 ms; level within 0.5 dB
        assert abs(a.n_samples - x.shape[0]) < 0.06 * sr
        assert abs(rms_db(a.samples[:, 0]) - rms_db(x[:, 0])) < 0.5
        assert abs(rms_db(a.samples[:, 1]) - rms_db(x[:, 1])) < 0.5


@pytest.mark.parametrize("sr", [8_000, 22_050, 44_100, 48_000, 96_000, 192_000])
def test_sample_rates_resampled_and_frequency_kept(tmp_path, sr):
    x = make_sine(1000.0, 1.0, sr, amp=0.5)
    a = load_audio(write_audio(tmp_path / f"s{sr}.wav", x, sr, subtype="PCM_24"))
    assert a.sr == ANALYSIS_SR and a.source_sr == sr
    assert abs(a.n_samples - ANALYSIS_SR) <= 1  # 1.0 s at 48 kHz
    assert abs(dominant_hz(a.samples, a.sr) - 1000.0) < 0.5
    mid = a.samples[2000:-2000, 0]  # away from the filter's edge transients
    assert abs(float(np.max(np.abs(mid))) - 0.5) < 0.01
    # routine resampling is not a warning; a band-limited source (< 32 kHz) is
    narrow = [w for w in a.warnings if "nothing above" in w]
    if sr < 32_000:
        assert narrow == [f"sampled at {sr} Hz: nothing above {sr / 2000:g} kHz was recorded, "
                          "so the air and brilliance bands read empty"]
    else:
        assert narrow == []


def test_resampling_removes_content_above_the_new_nyquist(tmp_path):
    # a 30 kHz tone in a 96 kHz file cannot exist at 48 kHz: an HQ resampler removes it,
    # a naive one folds it down to 18 kHz
    x = make_sine(30_000.0, 1.0, 96_000, amp=0.5)
    a = load_audio(write_audio(tmp_path / "ultra.wav", x, 96_000, subtype="FLOAT"))
    assert rms_db(a.samples[2000:-2000]) < -100.0


def test_target_sr_argument(tmp_path):
    a = load_audio(write_audio(tmp_path / "a.wav", make_sine(440, 1.0, 48_000), 48_000), target_sr=16_000)
    assert a.sr == 16_000 and abs(a.n_samples - 16_000) <= 1


def test_mono_stays_mono_and_stereo_channels_kept(tmp_path):
    m = load_audio(write_audio(tmp_path / "m.wav", make_sine(440, 1.0, 48_000, 0.3), 48_000))
    assert m.samples.shape == (48_000, 1)
    x = np.zeros((48_000, 2), np.float32)
    x[:, 1] = make_sine(440, 1.0, 48_000, 0.3)[:, 0]  # silence left, tone right
    s = load_audio(write_audio(tmp_path / "s.wav", x, 48_000, subtype="FLOAT"))
    assert s.samples.shape == (48_000, 2)
    assert np.max(np.abs(s.samples[:, 0])) == 0.0
    assert abs(np.max(np.abs(s.samples[:, 1])) - 0.3) < 1e-6


@pytest.mark.parametrize("fmt", ["WAV", "FLAC"])
def test_six_channels_fold_down_bs775(tmp_path, fmt):
    sr = 48_000
    tone = make_sine(500, 1.0, sr, 1.0)[:, 0]
    gains = {"L": 0.2, "R": 0.0, "C": 0.1, "LFE": 0.5, "Ls": 0.05, "Rs": 0.3}
    x = np.stack([tone * g for g in gains.values()], axis=1).astype(np.float32)
    a = load_audio(write_audio(tmp_path / f"surround.{fmt.lower()}", x, sr, fmt, "PCM_24"))
    assert a.samples.shape == (tone.shape[0], 2) and a.source_channels == 6
    g = 1 / math.sqrt(2)
    expect_l = 0.2 + g * 0.1 + g * 0.05  # LFE dropped
    expect_r = 0.0 + g * 0.1 + g * 0.3
    assert abs(np.max(np.abs(a.samples[:, 0])) - expect_l) < 1e-3
    assert abs(np.max(np.abs(a.samples[:, 1])) - expect_r) < 1e-3
    assert any("downmixed 6 channels" in w and "LFE dropped" in w for w in a.warnings)


def test_extension_that_lies_still_loads_with_warning(tmp_path):
    x = make_sine(440, 1.0, 48_000, 0.5)
    wav_bytes = write_audio(tmp_path / "real.wav", x, 48_000).read_bytes()
    liar = tmp_path / "song.mp3"
    liar.write_bytes(wav_bytes)
    a = load_audio(liar)
    assert a.source_format.startswith("WAV") and a.n_samples == 48_000
    assert any("extension '.mp3' does not match the content (WAV)" in w for w in a.warnings)
    noext = tmp_path / "song"
    noext.write_bytes(wav_bytes)
    assert load_audio(noext).n_samples == 48_000


def test_slightly_truncated_wav_loads_with_warning(tmp_path):
    x = (make_sine(440, 1.0, 48_000, 0.5)[:, 0] * 32767).astype("<i2")
    data = x.tobytes()[: int(len(x) * 0.95) * 2]  # 95% present
    p = write_wav_header(tmp_path / "cut.wav", sr=48_000, n_frames=len(x), data=data)
    a = load_audio(p)
    assert a.n_samples == int(len(x) * 0.95)
    assert any("file is truncated: 0.95 s of the 1.00 s" in w for w in a.warnings)


def test_unfinished_wav_with_zero_data_size_is_read_to_the_end(tmp_path):
    x = (make_sine(440, 1.0, 48_000, 0.5)[:, 0] * 32767).astype("<i2")
    p = write_wav_header(tmp_path / "rec.wav", sr=48_000, n_frames=len(x), data=x.tobytes())
    b = bytearray(p.read_bytes())
    b[40:44] = struct.pack("<I", 0)  # the recorder never wrote the data size
    p.write_bytes(bytes(b))
    a = load_audio(p)
    assert a.n_samples == 48_000
    assert any("never filled in" in w for w in a.warnings)


def test_mp3_with_large_id3_tag_and_truncated_mp3(tmp_path):
    mp3 = write_audio(tmp_path / "x.mp3", make_sine(440, 2.0, 48_000, 0.5, 2), 48_000).read_bytes()
    size = 300_000  # ID3v2 tag with a big (fake) cover image in front of the audio
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    tagged = tmp_path / "tagged.mp3"
    tagged.write_bytes(b"ID3\x04\x00\x00" + syncsafe + b"\x00" * size + mp3)
    a = load_audio(tagged)
    assert a.source_format.startswith("MP3") and abs(a.duration_s - 2.0) < 0.06
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(mp3[: len(mp3) // 2])
    b = load_audio(cut)  # an MP3's length is only an estimate: a warning, not an error
    assert 0.8 < b.duration_s < 1.1
    assert any("the MP3 may be truncated" in w and "suggests 2.00 s" in w for w in b.warnings)


def test_clipping_and_over_full_scale_warnings(tmp_path):
    x = np.clip(make_sine(100, 1.0, 48_000, 2.0), -1.0, 1.0)  # hard clipped at 0 dBFS
    a = load_audio(write_audio(tmp_path / "clip.wav", x, 48_000, subtype="FLOAT"))
    assert any(w.startswith("clipped input: 200 run(s)") for w in a.warnings)  # 2 per cycle
    hot_x = make_sine(440, 1.0, 48_000, 2.0)
    hot = load_audio(write_audio(tmp_path / "hot.wav", hot_x, 48_000, subtype="FLOAT"))
    assert any("+6.02 dBFS is above full scale" in w for w in hot.warnings)
    clean = load_audio(write_audio(tmp_path / "clean.wav", make_sine(440, 1.0, 48_000, 0.9), 48_000))
    assert clean.warnings == []


# ---------------------------------------------------------------------------------------------
# names


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("../../etc/passwd.wav", "passwd.wav"),
        ("C:\\Users\\me\\Mix Final.wav", "Mix Final.wav"),
        ("evil\n$(rm -rf ~);`id`.wav", "evil_rm -rf _id_.wav"),
        ("-rf.wav", "rf.wav"),
        (".hidden.wav", "hidden.wav"),
        ("\x1b[31mred\x1b[0m.flac", "_31mred_0m.flac"),
        ("Ünïcödé – 音楽.wav", "Ünïcödé _ 音楽.wav"),
        ("/", "audio"),
        ("", "audio"),
    ],
)
def test_sanitize_name(raw, expected):
    assert sanitize_name(raw) == expected


def test_sanitize_long_name_keeps_extension():
    name = sanitize_name("a" * 300 + ".wav")
    assert len(name) == 100 and name.endswith(".wav")


def test_malicious_file_name_loads_and_messages_stay_safe(tmp_path):
    evil = "evil\n$(touch pwned);`id`|x.wav"
    p = write_audio(tmp_path / evil, make_sine(440, 1.0, 48_000), 48_000)
    a = load_audio(p)
    assert a.name == "evil_touch pwned_id_x.wav"
    assert not any(c in a.name for c in "\n$`;|/()")
    bad = tmp_path / ("\x1b[2J" + evil.replace(".wav", ".mp3"))
    bad.write_text("not audio at all\n")
    with pytest.raises(NotAudioError) as ei:
        load_audio(bad)
    msg = str(ei.value)
    assert "\n" not in msg and "\x1b" not in msg and "$(" not in msg and "`" not in msg
    assert msg.startswith("_2Jevil_touch pwned_id_x.mp3: is a text file")
    assert ei.value.path == str(bad)
    assert not (tmp_path / "pwned").exists()


# ---------------------------------------------------------------------------------------------
# stem.mp4


STEM_SR = 44_100
STEM_SPECS = {  # role: (frequency Hz, amplitude), one pure tone per stem
    "drums": (150.0, 0.4),
    "bass": (60.0, 0.3),
    "other": (700.0, 0.2),
    "vocals": (1500.0, 0.25),
}


@pytest.fixture(scope="module")
def stem_mp4(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("stemmp4")
    stems = [make_sine(f, 2.0, STEM_SR, a, channels=2) for f, a in STEM_SPECS.values()]
    mix = np.sum(stems, axis=0) * 0.5
    return write_av(d / "Song Title.stem.mp4", [mix, *stems], STEM_SR)


def test_stem_mp4_default_is_mixture_and_streams_select(stem_mp4):
    mix = load_audio(stem_mp4)
    assert mix.name == "Song Title.stem.mp4" and mix.source_sr == STEM_SR and mix.n_channels == 2
    assert abs(mix.duration_s - 2.0) < 0.06
    voc = load_audio(stem_mp4, stream=4)
    assert voc.name == "Song Title.stem.mp4 - vocals"
    assert abs(dominant_hz(voc.samples, voc.sr) - 1500.0) < 2.0
    with pytest.raises(InvalidArgumentError, match="has 5 audio stream"):
        load_audio(stem_mp4, stream=5)


def test_stem_mp4_as_stem_set_levels(stem_mp4):
    ss = load_stem_set(stem_mp4)
    assert isinstance(ss, StemSet) and set(ss.roles) == set(STEM_SPECS)
    for role, (freq, amp) in STEM_SPECS.items():
        a = ss.stems[role]
        assert a.sr == ANALYSIS_SR and a.n_channels == 2
        assert abs(dominant_hz(a.samples[4800:-4800], a.sr) - freq) < 2.0, role
        # a sine's RMS is amp/sqrt(2); AAC at 192 kb/s keeps it within 0.5 dB
        body = a.samples[4800 : 4800 + 48_000, 0]
        assert abs(rms_db(body) - 20 * math.log10(amp / math.sqrt(2))) < 0.5, role
    assert ss.sources["vocals"] == ["Song Title.stem.mp4 - vocals"]


def test_load_mix_and_stems_from_stem_mp4(stem_mp4):
    mix, ss = load_mix_and_stems(stem_mp4)
    assert ss is not None and set(ss.roles) == set(STEM_SPECS)
    assert mix.n_samples == next(iter(ss.stems.values())).n_samples
    # the mixture stream is half the sum of the stems
    np.testing.assert_allclose(rms_db(mix.samples), rms_db(ss.sum() * 0.5), atol=0.3)


# ---------------------------------------------------------------------------------------------
# stem folders


@pytest.fixture
def stem_folder(tmp_path) -> Path:
    d = tmp_path / "stems"
    d.mkdir()
    sr = 48_000
    write_audio(d / "Lead Vox.wav", make_sine(440, 2.0, sr, 0.3), sr, subtype="FLOAT")
    write_audio(d / "BV 2.wav", make_sine(660, 2.0, sr, 0.1), sr, subtype="FLOAT")
    write_audio(d / "KICK.wav", make_sine(60, 1.5, 44_100, 0.5, 2), 44_100, subtype="FLOAT")
    write_audio(d / "bassoon.wav", make_sine(220, 2.0, sr, 0.2, 2), sr, subtype="FLOAT")
    write_audio(d / "808.flac", make_sine(50, 2.0, sr, 0.4), sr, subtype="PCM_24")
    write_audio(d / "Keys L.wav", make_sine(880, 2.0, sr, 0.15), sr, subtype="FLOAT")
    (d / "README.txt").write_text("Stems for my song.\nBounced at 48k.\n")
    (d / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + b"\x00" * 100)
    (d / "cover.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    return d


def test_stem_folder_roles_sums_and_warnings(stem_folder):
    ss = load_stem_set(stem_folder)
    assert ss.sr == ANALYSIS_SR
    assert ss.roles == ["vocals", "drums", "bass", "other"]
    assert ss.sources == {
        "vocals": ["BV 2.wav", "Lead Vox.wav"],
        "drums": ["KICK.wav"],
        "bass": ["808.flac"],
        "other": ["Keys L.wav", "bassoon.wav"],
    }
    n = 96_000  # all padded to the longest (2.0 s)
    assert all(a.n_samples == n for a in ss.stems.values())
    # two mono vocal files sum to a mono role, sample for sample
    voc = ss.stems["vocals"]
    assert voc.n_channels == 1
    expect = make_sine(440, 2.0, 48_000, 0.3) + make_sine(660, 2.0, 48_000, 0.1)
    np.testing.assert_allclose(voc.samples, expect, atol=1e-6)
    # mono "Keys L" + stereo "bassoon" -> a stereo role; the mono file feeds both channels
    other = ss.stems["other"]
    assert other.n_channels == 2
    np.testing.assert_allclose(other.samples[:, 0], other.samples[:, 1], atol=1e-6)
    expect_o = make_sine(880, 2.0, 48_000, 0.15)[:, 0] + make_sine(220, 2.0, 48_000, 0.2)[:, 0]
    np.testing.assert_allclose(other.samples[:, 0], expect_o, atol=1e-6)
    # the 1.5 s 44.1 kHz kick was resampled and padded with zeros
    kick = ss.stems["drums"].samples
    assert np.max(np.abs(kick[73_000:])) == 0.0 and np.max(np.abs(kick[:70_000])) > 0.45
    w = "\n".join(ss.warnings)
    assert "skipped 'README.txt': is a text file" in w
    assert "skipped 'cover.png': is a PNG image" in w
    assert "skipped hidden file 'DS_Store'" in w
    assert "'KICK.wav' +0.50 s" in w and "differ in length by up to 0.50 s" in w
    assert "different sample rates (44100, 48000 Hz)" in w
    assert "2 files summed into 'vocals'" in w
    assert ss.sum().shape == (n, 2)


def test_stem_folder_role_overrides(stem_folder):
    ss = load_stem_set(stem_folder, roles={"bassoon.wav": "bass", "keys l": "ignore", "BV 2": "other"})
    assert ss.sources["bass"] == ["808.flac", "bassoon.wav"]
    assert ss.sources["other"] == ["BV 2.wav"]
    assert ss.sources["vocals"] == ["Lead Vox.wav"]
    assert "skipped 'Keys L.wav' (roles override: ignore)" in ss.warnings


def test_stem_list_and_mix_length_warning(tmp_path):
    sr = 48_000
    v = write_audio(tmp_path / "vocal.wav", make_sine(300, 3.0, sr, 0.3), sr)
    b = write_audio(tmp_path / "bass.wav", make_sine(50, 3.0, sr, 0.3), sr)
    mix = write_audio(tmp_path / "mix.wav", make_sine(300, 1.0, sr, 0.3, 2), sr)
    m, ss = load_mix_and_stems(mix, [v, b])
    assert m.n_channels == 2 and ss.roles == ["vocals", "bass"]
    assert any("the stems are 2.00 s longer than the mix" in w for w in ss.warnings)
    m2, none = load_mix_and_stems(mix)
    assert none is None and m2.n_samples == sr


def test_mixture_file_in_folder_is_skipped_and_silent_stem_warned(tmp_path):
    sr = 48_000
    d = tmp_path / "musdbhq"
    d.mkdir()
    write_audio(d / "mixture.wav", make_sine(100, 1.0, sr, 0.5), sr)
    write_audio(d / "vocals.wav", make_sine(100, 1.0, sr, 0.5), sr)
    write_audio(d / "bass.wav", np.zeros((sr, 1)), sr)
    ss = load_stem_set(d)
    assert ss.roles == ["vocals", "bass"]
    assert any("skipped 'mixture.wav': it looks like the full mix" in w for w in ss.warnings)
    assert any("stem 'bass.wav' (bass) is silent" in w for w in ss.warnings)


@pytest.mark.parametrize(
    "name,role",
    [
        ("Lead Vox.wav", "vocals"), ("LeadVox.wav", "vocals"), ("lead.wav", "vocals"),
        ("Lead Guitar.wav", "other"), ("BVs_harmony.flac", "vocals"), ("vocoder.wav", "other"),
        ("KICK.wav", "drums"), ("HiHat.wav", "drums"), ("OH L.wav", "drums"), ("Toms.aif", "drums"),
        ("Bass Drum.wav", "drums"), ("808 Kick.wav", "drums"), ("drumstick_piano.wav", "other"),
        ("808.flac", "bass"), ("SubBass.wav", "bass"), ("Bass Guitar DI.wav", "bass"),
        ("bassoon.wav", "other"), ("subway.wav", "other"), ("Keys L.wav", "other"),
        ("Bass Vocals.wav", "vocals"), ("song.stem.mp4", "other"),
    ],
)
def test_infer_stem_role(name, role):
    assert infer_stem_role(name) == role


# ---------------------------------------------------------------------------------------------
# the bad-input corpus: (builder(tmp) -> (callable), error class, phrase in the message)

SR = 48_000


def _wav(tmp, name, x, sr=SR, subtype="PCM_16"):
    return write_audio(tmp / name, x, sr, "WAV", subtype)


def _missing(t):
    return lambda: load_audio(t / "nope.wav")


def _directory(t):
    (t / "folder.wav").mkdir()
    return lambda: load_audio(t / "folder.wav")


def _zero_bytes(t):
    (t / "zero.wav").write_bytes(b"")
    return lambda: load_audio(t / "zero.wav")


def _wav_header_only(t):
    return lambda: load_audio(write_wav_header(t / "hdr.wav", sr=SR, n_frames=0))


def _wav_header_promises_data(t):
    return lambda: load_audio(write_wav_header(t / "promise.wav", sr=SR, n_frames=SR))


def _wav_cut_mid_header(t):
    full = _wav(t, "full.wav", make_sine(440, 1, SR)).read_bytes()
    (t / "cut.wav").write_bytes(full[:20])
    return lambda: load_audio(t / "cut.wav")


def _wav_cut_half(t):
    full = _wav(t, "full.wav", make_sine(440, 1, SR)).read_bytes()
    (t / "half.wav").write_bytes(full[: 44 + SR])  # half of 2 bytes x 48000 frames
    return lambda: load_audio(t / "half.wav")


def _flac_cut(t):
    full = write_audio(t / "full.flac", make_sine(440, 4, SR, 0.5), SR).read_bytes()
    (t / "cut.flac").write_bytes(full[: len(full) // 3])
    return lambda: load_audio(t / "cut.flac")


def _flac_cut_in_header(t):
    full = write_audio(t / "full.flac", make_sine(440, 1, SR, 0.5), SR).read_bytes()
    (t / "stub.flac").write_bytes(full[:30])
    return lambda: load_audio(t / "stub.flac")


def _random_wav(t):
    (t / "noise.wav").write_bytes(np.random.default_rng(1).bytes(20_000))
    return lambda: load_audio(t / "noise.wav")


def _random_no_ext(t):
    (t / "blob").write_bytes(np.random.default_rng(2).bytes(20_000))  # no MPEG sync at the start
    return lambda: load_audio(t / "blob")


def _text_mp3(t):
    (t / "lyrics.mp3").write_text("Verse 1\nla la la\n" * 50)
    return lambda: load_audio(t / "lyrics.mp3")


def _png_flac(t):
    (t / "art.flac").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 200)
    return lambda: load_audio(t / "art.flac")


def _jpeg_mp3(t):
    (t / "photo.mp3").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 200)
    return lambda: load_audio(t / "photo.mp3")


def _pdf_wav(t):
    (t / "invoice.wav").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n" * 10)
    return lambda: load_audio(t / "invoice.wav")


def _zip_m4a(t):
    with zipfile.ZipFile(t / "stems.m4a", "w") as z:
        z.writestr("a.txt", "hello")
    return lambda: load_audio(t / "stems.m4a")


def _midi_wav(t):
    (t / "song.wav").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0" + b"MTrk" + b"\x00" * 40)
    return lambda: load_audio(t / "song.wav")


def _video_only_mp4(t):
    import av

    with av.open(str(t / "clip.mp4"), "w") as out:
        st = out.add_stream("mpeg4", rate=10)
        st.width, st.height, st.pix_fmt = 64, 64, "yuv420p"
        for i in range(5):
            fr = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
            fr.pts = i
            for pkt in st.encode(fr):
                out.mux(pkt)
        for pkt in st.encode(None):
            out.mux(pkt)
    return lambda: load_audio(t / "clip.mp4")


def _m4a_cut(t):
    full = write_av(t / "full.m4a", make_sine(440, 1, 44_100, 0.5, 2), 44_100).read_bytes()
    (t / "cut.m4a").write_bytes(full[: len(full) // 2])
    return lambda: load_audio(t / "cut.m4a")


def _aiff_cut(t):
    full = write_audio(t / "full.aiff", make_sine(440, 1, SR, 0.5), SR).read_bytes()
    (t / "cut.aiff").write_bytes(full[: 54 + SR])  # header + half of the 16-bit frames
    return lambda: load_audio(t / "cut.aiff")


def _aiff_stub(t):
    full = write_audio(t / "full.aiff", make_sine(440, 1, SR, 0.5), SR).read_bytes()
    (t / "stub.aiff").write_bytes(full[:30])
    return lambda: load_audio(t / "stub.aiff")


def _three_channels_flac(t):
    return lambda: load_audio(write_audio(t / "lcr.flac", make_sine(440, 1, SR, 0.5, 3), SR))


def _text_in_stem_list(t):
    v = _wav(t, "vox.wav", make_sine(440, 1, SR))
    (t / "notes.wav").write_text("bounce again tomorrow")
    return lambda: load_stem_set([v, t / "notes.wav"])


def _stem_mp4_with_one_stream(t):
    p = write_av(t / "fake.stem.mp4", make_sine(440, 1, 44_100, 0.5, 2), 44_100)
    return lambda: load_stem_set(p)


def _nan_wav(t):
    x = make_sine(440, 1, SR, 0.5)
    x[[10, 500, 9000]] = np.nan
    return lambda: load_audio(_wav(t, "nan.wav", x, subtype="FLOAT"))


def _inf_wav(t):
    x = make_sine(440, 1, SR, 0.5)
    x[100] = np.inf
    x[200] = -np.inf
    return lambda: load_audio(_wav(t, "inf.wav", x, subtype="FLOAT"))


def _digital_silence(t):
    return lambda: load_audio(_wav(t, "silence.wav", np.zeros((SR, 2))))


def _near_silence(t):
    return lambda: load_audio(_wav(t, "hiss.wav", make_sine(440, 1, SR, 1e-6), subtype="FLOAT"))


def _too_long(t):
    return lambda: load_audio(_wav(t, "long.wav", make_sine(440, 2, SR)), max_duration_s=1.0)


def _too_short(t):
    return lambda: load_audio(_wav(t, "blip.wav", make_sine(440, 0.1, SR)))


def _four_channels(t):
    return lambda: load_audio(_wav(t, "quad.wav", make_sine(440, 1, SR, 0.5, 4)))


def _rate_7k(t):
    return lambda: load_audio(_wav(t, "low.wav", make_sine(440, 1, 7_000), sr=7_000))


def _rate_384k(t):
    return lambda: load_audio(_wav(t, "high.wav", make_sine(440, 1, 384_000), sr=384_000))


def _bad_stream(t):
    return lambda: load_audio(_wav(t, "one.wav", make_sine(440, 1, SR)), stream=3)


def _bad_max_duration(t):
    return lambda: load_audio(_wav(t, "ok.wav", make_sine(440, 1, SR)), max_duration_s=-5)


def _empty_stem_folder(t):
    (t / "empty").mkdir()
    return lambda: load_stem_set(t / "empty")


def _readme_only_folder(t):
    (t / "docs").mkdir()
    (t / "docs" / "README.txt").write_text("nothing here")
    return lambda: load_stem_set(t / "docs")


def _unknown_role(t):
    d = t / "st"
    d.mkdir()
    _wav(d, "gtr.wav", make_sine(440, 1, SR))
    return lambda: load_stem_set(d, roles={"gtr.wav": "guitar"})


def _override_for_missing_file(t):
    d = t / "st"
    d.mkdir()
    _wav(d, "gtr.wav", make_sine(440, 1, SR))
    return lambda: load_stem_set(d, roles={"gtrr.wav": "other"})


def _single_file_as_stems(t):
    return lambda: load_stem_set(_wav(t, "mix.wav", make_sine(440, 1, SR)))


def _all_stems_silent(t):
    d = t / "quiet"
    d.mkdir()
    _wav(d, "vox.wav", np.zeros((SR, 1)))
    _wav(d, "kick.wav", np.zeros((SR, 1)))
    return lambda: load_stem_set(d)


def _truncated_stem_in_folder(t):
    d = t / "st"
    d.mkdir()
    _wav(d, "vox.wav", make_sine(440, 1, SR))
    full = _wav(t, "full.wav", make_sine(440, 1, SR)).read_bytes()
    (d / "kick.wav").write_bytes(full[: 44 + SR // 2])
    return lambda: load_stem_set(d)


BAD_INPUTS = [
    (_missing, AudioFileNotFoundError, "nope.wav: file not found"),
    (_directory, NotAudioError, "is a directory"),
    (_zero_bytes, EmptyFileError, "is an empty file (0 bytes)"),
    (_wav_header_only, EmptyFileError, "has a WAV header but no audio samples"),
    (_wav_header_promises_data, TruncatedFileError, "declares 1.00 s of audio but the file ends before any"),
    (_wav_cut_mid_header, TruncatedFileError, "ends inside its WAV 'fmt ' chunk"),
    (_wav_cut_half, TruncatedFileError, "only 0.50 s (50%) is present"),
    (_flac_cut, TruncatedFileError, "s of the 4.00 s its header declares"),
    (_flac_cut_in_header, TruncatedFileError, "ends inside its FLAC header"),
    (_random_wav, NotAudioError, "is not a recognised audio file"),
    (_random_no_ext, NotAudioError, "blob: is not a recognised audio file (unknown content"),
    (_text_mp3, NotAudioError, "lyrics.mp3: is a text file, not an audio file"),
    (_png_flac, NotAudioError, "is a PNG image"),
    (_jpeg_mp3, NotAudioError, "is a JPEG image"),
    (_pdf_wav, NotAudioError, "is a PDF document"),
    (_zip_m4a, NotAudioError, "is a ZIP archive"),
    (_midi_wav, NotAudioError, "MIDI file"),
    (_video_only_mp4, UnsupportedFormatError, "contains no audio stream (streams found: video mpeg4)"),
    (_m4a_cut, TruncatedFileError, "the file is truncated or was not finished writing"),
    (_aiff_cut, TruncatedFileError, "only 0.50 s (50%) is present"),
    (_aiff_stub, TruncatedFileError, "ends inside its AIFF 'COMM' chunk"),
    (_three_channels_flac, TooManyChannelsError, "has 3 channels"),
    (_text_in_stem_list, NotAudioError, "notes.wav: is a text file"),
    (_stem_mp4_with_one_stream, StemSetError, "has 1 audio stream(s); a .stem.mp4 needs 5"),
    (_nan_wav, NonFiniteSamplesError, "3 non-finite sample(s) (3 NaN, 0 infinite)"),
    (_inf_wav, NonFiniteSamplesError, "2 non-finite sample(s) (0 NaN, 2 infinite)"),
    (_digital_silence, SilentAudioError, "digital silence"),
    (_near_silence, SilentAudioError, "peak is -120.0 dBFS, below the -90 dBFS floor"),
    (_too_long, TooLongError, "is 2.0 s long; the limit is 1 s"),
    (_too_short, TooShortError, "is too short to measure: 0.10 s long, at least 0.5 s"),
    (_four_channels, TooManyChannelsError, "has 4 channels"),
    (_rate_7k, SampleRateError, "sample rate 7000 Hz is outside"),
    (_rate_384k, SampleRateError, "sample rate 384000 Hz is outside"),
    (_bad_stream, InvalidArgumentError, "stream=3 does not exist"),
    (_bad_max_duration, InvalidArgumentError, "max_duration_s must be a positive number"),
    (_empty_stem_folder, StemSetError, "no audio files in this folder"),
    (_readme_only_folder, StemSetError, "no audio files in this folder (skipped: README.txt)"),
    (_unknown_role, StemSetError, "unknown role 'guitar'"),
    (_override_for_missing_file, StemSetError, "roles override names no stem file: 'gtrr.wav'"),
    (_single_file_as_stems, StemSetError, "is a single audio file, not a stem set"),
    (_all_stems_silent, SilentAudioError, "all 2 stems are silent"),
    (_truncated_stem_in_folder, TruncatedFileError, "kick.wav: header declares 1.00 s"),
]


@pytest.mark.parametrize("build,err,phrase", BAD_INPUTS, ids=[b[0].__name__.lstrip("_") for b in BAD_INPUTS])
def test_bad_input(tmp_path, no_tempfile_leak, build, err, phrase):
    call = build(tmp_path)
    with pytest.raises(err) as ei:
        call()
    assert type(ei.value) is err  # the specific class, not a parent or sibling
    msg = str(ei.value)
    assert phrase in msg
    assert "\n" not in msg and len(msg) < 400
    assert isinstance(ei.value, MixingBuddyError) and ei.value.code


def test_too_long_is_refused_from_the_header_without_decoding(tmp_path):
    # one hour of 48 kHz stereo 16-bit: a sparse 691 MB file, never read
    n = 3600 * 48_000
    p = write_wav_header(tmp_path / "hour.wav", sr=48_000, channels=2, n_frames=n)
    with open(p, "r+b") as f:
        f.truncate(44 + n * 4)
    t0 = time.perf_counter()
    with pytest.raises(TooLongError, match="is 3600.0 s long; the limit is 600 s"):
        load_audio(p, max_duration_s=600)
    assert time.perf_counter() - t0 < 0.5  # decoding 691 MB would take seconds


def test_no_temp_files_left_by_any_format(tmp_path, no_tempfile_leak):
    x = make_sine(440, 0.5, 44_100, 0.5, 2)
    for fname, fmt in [("a.wav", "WAV"), ("a.flac", "FLAC"), ("a.ogg", "OGG"), ("a.m4a", "M4A")]:
        load_audio(write_audio(tmp_path / fname, x, 44_100, fmt))
    assert no_tempfile_leak.exists() and os.listdir(no_tempfile_leak) == []


def test_float_samples_far_beyond_full_scale_are_refused_by_name(tmp_path):
    """A float WAV with a sample of 1e30 is finite, yet squares to infinity in every power
    sum: it is refused at the door, naming the file, not deep inside a measurement."""
    from mixingbuddy.tools.errors import SampleRangeError

    x = make_sine(440, 1, SR, 0.5, 2)
    x[100, 0] = 1e30
    with pytest.raises(SampleRangeError, match=r"^loud\.wav: has float samples up to 1e\+30"):
        load_audio(_wav(tmp_path, "loud.wav", x, subtype="FLOAT"))
    x[100, 0] = 4.0  # +12 dBFS: a hot float file, still audio
    assert load_audio(_wav(tmp_path, "hot.wav", x, subtype="FLOAT")).warnings


def test_shortest_accepted_file_can_be_analysed(tmp_path):
    """The ingest minimum is what every measurement needs: a 0.45 s file is refused at the
    door; a 0.5 s one goes through the whole analysis."""
    from mixingbuddy.tools.measure.analyze import analyze

    with pytest.raises(TooShortError, match="at least 0.5 s"):
        load_audio(_wav(tmp_path, "a.wav", make_sine(440, 0.45, SR, 0.3, 2)))
    rep = analyze(load_audio(_wav(tmp_path, "b.wav", make_sine(440, 0.5, SR, 0.3, 2))))
    assert rep.loudness is not None and rep.mix_estimate is not None


@pytest.mark.parametrize("keep_bytes", [10, 300])
def test_mp3_cut_after_its_tag_says_truncated_not_missing(tmp_path, keep_bytes):
    """An MP3 whose ID3 tag survived but whose frames did not: libsndfile calls that "File does
    not exist"; the user is told the file is truncated or damaged instead."""
    from mixingbuddy.tools.errors import TruncatedFileError

    full = write_av(tmp_path / "full.mp3", make_sine(440, 2, 44_100, 0.3, 2), 44_100, codec="libmp3lame",
                    container="mp3")
    assert full.read_bytes()[:3] == b"ID3"
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(full.read_bytes()[:keep_bytes])
    with pytest.raises(TruncatedFileError, match=r"^cut\.mp3: .*truncated or damaged") as e:
        load_audio(cut)
    assert "does not exist" not in str(e.value)
