"""Long files: a spooled (block-wise) mix measures exactly as the same mix held in memory."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from mixingbuddy.model.data.demo_song import SongConfig, render_song
from mixingbuddy.tools.io import spool as spool_mod
from mixingbuddy.tools.io.ingest import load_audio, load_mix_and_stems
from mixingbuddy.tools.measure.analyze import analyze
from mixingbuddy.tools.separate.windows import loudest_windows

LOOP_S = 30.0
LENGTH_S = 150.0  # 15 blocks of 10 s: 14 seams for every block-wise tool


@pytest.fixture(scope="module")
def long_wav(tmp_path_factory):
    """A 2.5-minute 44.1 kHz stereo mix (the demo song looped with gain steps, driven into
    clipping in the last loop) written as 24-bit WAV."""
    mix, _ = render_song(SongConfig(duration_s=LOOP_S, sr=44_100, seed=2), peak_dbfs=-1.0)
    loops = int(LENGTH_S / LOOP_S)
    parts = [mix * np.float32(10 ** (-2.0 * (k % 3) / 20.0)) for k in range(loops - 1)]
    parts.append(np.clip(mix * np.float32(1.6), -1.0, 1.0))
    path = tmp_path_factory.mktemp("long") / "long_mix.wav"
    sf.write(path, np.concatenate(parts), 44_100, subtype="PCM_24")
    return path


def _report(audio) -> dict:
    rep = json.loads(analyze(audio).model_dump_json())
    rep.pop("timings_s")
    return rep


def _differences(a, b, path="") -> list[str]:
    if isinstance(a, dict):
        return [d for k in a for d in _differences(a[k], b.get(k), f"{path}.{k}")]
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} vs {len(b)} items"]
        return [d for i, (u, v) in enumerate(zip(a, b)) for d in _differences(u, v, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, float):
        return [] if abs(a - b) <= max(1e-6 * abs(a), 0.01) else [f"{path}: {a} vs {b}"]
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]


def test_spooled_mix_measures_as_in_memory(long_wav):
    in_memory = load_audio(long_wav)
    spooled = load_audio(long_wav, spool_above_s=60.0)
    assert in_memory.spool is None and spooled.spool is not None
    # block-wise resampling gives the samples one-shot resampling gives
    assert spooled.n_samples == in_memory.n_samples == int(LENGTH_S * 48_000)
    for a, block in spooled.spool.blocks(1_000_000):
        np.testing.assert_allclose(block, in_memory.samples[a:a + block.shape[0]], rtol=0, atol=1e-6)
    ref, got = _report(in_memory), _report(spooled)
    assert _differences(ref, got) == []
    assert ref["dynamics"]["clipping"]["runs"] > 0  # the clipped loop is found across block seams
    assert got["mix_estimate"] is not None and got["loudness"]["integrated_lufs"] is not None


def test_spool_reads_and_windows(long_wav):
    mix, stems = load_mix_and_stems(long_wav)  # over SPOOL_ABOVE_S? no: 150 s stays in memory
    assert stems is None and mix.spool is None and spool_mod.SPOOL_ABOVE_S > LENGTH_S
    spooled = load_audio(long_wav, spool_above_s=60.0)
    s = spooled.spool
    assert s.read(479_990, 480_010).shape == (20, 2)  # across a block seam
    np.testing.assert_array_equal(s.read(479_990, 480_010), spooled.samples[479_990:480_010])
    assert s.read(s.n - 5, s.n + 100).shape == (5, 2)  # clipped to the end
    # frame readers give every frame once, whole
    frames = list(spool_mod.frame_blocks(s, 16_384, 16_384))
    assert sum((f.shape[0] - 16_384) // 16_384 + 1 for f in frames) == s.n // 16_384
    # the loudest windows read block-wise are the in-memory ones
    assert loudest_windows(s, 48_000, 10.0, 3) == loudest_windows(spooled.stereo(), 48_000, 10.0, 3)
    np.testing.assert_array_equal(spooled.read_stereo(1000, 2000), spooled.samples[1000:2000])


@pytest.mark.parametrize("fmt", ["m4a", "mp3"])
def test_spooled_lossy_file_decodes_as_in_memory(long_wav, tmp_path, fmt):
    """ffmpeg's path (AAC in M4A) and an MP3 (whose length libsndfile only estimates, so it is
    read to its end) spool too: the same samples and the same report."""
    from conftest import write_av

    x, sr = sf.read(long_wav, dtype="float32", frames=40 * 44_100)
    if fmt == "m4a":
        path = write_av(tmp_path / "long.m4a", x, sr, container="ipod")
    else:
        path = tmp_path / "long.mp3"
        sf.write(path, x, sr, format="MP3")
    in_memory = load_audio(path)
    spooled = load_audio(path, spool_above_s=20.0)
    assert in_memory.spool is None and spooled.spool is not None
    assert spooled.source_format == in_memory.source_format
    np.testing.assert_allclose(spooled.samples, in_memory.samples, rtol=0, atol=1e-6)
    assert _differences(_report(in_memory), _report(spooled)) == []


def test_long_stems_are_spooled_and_balanced_on_the_loudest_windows(tmp_path, monkeypatch):
    """Stems longer than the spool threshold are summed per role block by block into spools, and
    the stem balance is measured on the mix's loudest windows, read from them: the same numbers
    as the in-memory stems cut to those windows."""
    from mixingbuddy.tools.io import ingest
    from mixingbuddy.tools.io import stems as stems_mod
    from mixingbuddy.tools.measure import long_mix
    from mixingbuddy.tools.measure.stem_balance import measure_stem_balance

    mix, stems = render_song(SongConfig(duration_s=LOOP_S, sr=44_100, seed=4), peak_dbfs=-1.0)
    folder = tmp_path / "stems"
    folder.mkdir()
    loops = 3
    for role, x in stems.items():
        sf.write(folder / f"{role}.wav", np.tile(x, (loops, 1)), 44_100, subtype="FLOAT")
    sf.write(tmp_path / "mix.wav", np.tile(mix, (loops, 1)), 44_100, subtype="FLOAT")
    plain_mix, plain = load_mix_and_stems(tmp_path / "mix.wav", folder)
    monkeypatch.setattr(stems_mod, "SPOOL_ABOVE_S", 60.0)
    monkeypatch.setattr(ingest, "SPOOL_ABOVE_S", 60.0)
    long_mix_audio, long_stems = load_mix_and_stems(tmp_path / "mix.wav", folder)
    assert plain.stems["vocals"].spool is None
    assert long_mix_audio.spool is not None and all(a.spool is not None for a in long_stems.stems.values())
    np.testing.assert_array_equal(long_stems.stems["drums"].spool.read(0, 96_000),
                                  plain.stems["drums"].samples[:96_000])
    rep = analyze(long_mix_audio, long_stems)
    assert any("loudest 10 s windows" in w for w in rep.warnings)
    wins = loudest_windows(plain_mix.samples, 48_000, long_mix.STEM_WINDOW_S, long_mix.STEM_WINDOWS)
    cut = {r: np.concatenate([a.samples[lo:hi] for lo, hi in wins]) for r, a in plain.stems.items()}
    expected = measure_stem_balance(cut, 48_000)
    assert rep.stem_balance.model_dump() == expected.model_dump()
    assert rep.masking is not None
