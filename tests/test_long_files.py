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


# --------------------------------------------------------------------------- the app-side paths on long stems


def write_song_with_master(folder, loops: int = 3, seed: int = 4):
    """A mix (its stems' sum through a gentle bus saturation, so the stems do not add up to it:
    a master residual) and its four stems (vocals 9 dB low: the review suggests moves), the demo
    song looped ``loops`` times with a 2 dB step per loop (distinct loudest windows), written as
    float WAV at 44.1 kHz; returns (mix path, stems folder)."""
    mix, stems = render_song(SongConfig(duration_s=LOOP_S, sr=44_100, seed=seed), gains_db={"vocals": -9.0},
                             peak_dbfs=-1.0)
    steps = np.repeat(10 ** (-2.0 * np.arange(loops) / 20.0), mix.shape[0])[:, None].astype(np.float32)
    stems = {role: np.tile(x, (loops, 1)) * steps for role, x in stems.items()}
    total = sum(stems.values())
    (folder / "stems").mkdir(parents=True, exist_ok=True)
    for role, x in stems.items():
        sf.write(folder / "stems" / f"{role}.wav", x, 44_100, subtype="FLOAT")
    sf.write(folder / "mix.wav", total - np.float32(0.2) * total ** 3, 44_100, subtype="FLOAT")
    return folder / "mix.wav", folder / "stems"


def load_twice(mix_path, stems_dir):
    """(in memory, spooled): the same mix and stems decoded whole, and through the spool (threshold
    60 s, as a long file is)."""
    from mixingbuddy.tools.io import ingest
    from mixingbuddy.tools.io import stems as stems_mod

    plain = load_mix_and_stems(mix_path, stems_dir)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stems_mod, "SPOOL_ABOVE_S", 60.0)
        mp.setattr(ingest, "SPOOL_ABOVE_S", 60.0)
        long = load_mix_and_stems(mix_path, stems_dir)
    assert plain[0].spool is None and all(a.spool is None for a in plain[1].stems.values())
    assert long[0].spool is not None and all(a.spool is not None for a in long[1].stems.values())
    return plain, long


@pytest.fixture(scope="module")
def two_ways(tmp_path_factory):
    """A 90 s mix with a master residual and its stems, in memory and spooled, with the master
    residual of each (an array; a block-wise MasterResidual)."""
    from mixingbuddy.agent.whatif import MasterResidual, master_residual

    plain, long = load_twice(*write_song_with_master(tmp_path_factory.mktemp("master")))
    res_plain, kind_plain = master_residual(*plain)
    res_long, kind_long = master_residual(*long)
    assert kind_plain == kind_long == "master"
    assert isinstance(res_plain, np.ndarray) and isinstance(res_long, MasterResidual)
    return {"plain": (*plain, res_plain), "long": (*long, res_long)}


def _windows_cut(stems, spans, gains=None):
    """The in-memory stems (stereo) cut to ``spans`` and concatenated, with ``gains``: what the
    long path measures the balance on."""
    from mixingbuddy.agent.whatif import apply_gains

    cut = {r: np.concatenate([a.stereo()[lo:hi] for lo, hi in spans]) for r, a in stems.stems.items()}
    return apply_gains(cut, gains or {})


def test_long_master_residual_is_the_in_memory_one(two_ways):
    """The block-wise residual (mix minus the stems' sum, computed on read) holds the in-memory
    residual's samples exactly, across block seams too."""
    res_plain, res_long = two_ways["plain"][2], two_ways["long"][2]
    assert res_long.shape == res_plain.shape
    np.testing.assert_array_equal(res_long.read(0, res_long.n), res_plain)
    np.testing.assert_array_equal(res_long.read(479_990, 480_010), res_plain[479_990:480_010])
    with pytest.raises(TypeError):
        res_long.array()  # never whole in memory


def test_loudness_feed_is_measure_loudness(two_ways):
    """measure_loudness of a signal pushed a block at a time is the whole array's: the meter and
    the peaks bit for bit, the crest factor (mean square summed per block) within 0.01 dB."""
    from mixingbuddy.tools.measure.long_mix import LoudnessFeed, loudness_block_n
    from mixingbuddy.tools.measure.loudness import measure_loudness

    x = two_ways["plain"][0].stereo()
    feed = LoudnessFeed(48_000)
    step = loudness_block_n(48_000)
    for a in range(0, x.shape[0], step):
        feed.push(x[a:a + step])
    got = feed.result("spotify").model_dump()
    ref = measure_loudness(x, 48_000, platform="spotify").model_dump()
    assert _differences(ref, got) == []
    assert {k: v for k, v in got.items() if k != "crest_factor_db"} == \
        {k: v for k, v in ref.items() if k != "crest_factor_db"}


def test_long_what_if_measures_as_in_memory(two_ways):
    """The what-if on long stems: the mix's loudness and true peak before and after are the
    in-memory path's (whole song, block by block); the stem levels are measured on the mix's
    loudest windows, as the review measures long stems, so they are the in-memory stems cut to
    those windows."""
    from mixingbuddy.agent.whatif import simulate_gain, stem_level_db
    from mixingbuddy.tools.measure import long_mix
    from mixingbuddy.tools.measure.stem_balance import measure_stem_balance
    from mixingbuddy.tools.registry import AudioContext

    (pm, ps, pr), (lm, ls, lr) = two_ways["plain"], two_ways["long"]
    plain = simulate_gain(AudioContext(mix=pm, stems=ps), "vocals", 3.0, residual=pr, residual_kind="master")
    long = simulate_gain(AudioContext(mix=lm, stems=ls), "vocals", 3.0, residual=lr, residual_kind="master")
    assert long["approximate"] and long["residual"] == "master"
    for side in ("before", "after"):
        assert _differences(plain[side]["mix"], long[side]["mix"]) == [], side
    assert long["after"]["mix"]["integrated_lufs"] > long["before"]["mix"]["integrated_lufs"]
    spans = long_mix.stem_window_spans(pm.samples, 48_000, pm.n_samples)
    for side, gains in (("before", {}), ("after", {"vocals": 3.0})):
        expected = measure_stem_balance(_windows_cut(ps, spans, gains), 48_000)
        for st in expected.stems:
            assert long[side]["stems"][st.name]["level_vs_rest_db"] == stem_level_db(st), (side, st.name)
    d = long["after"]["stems"]["vocals"]["level_vs_rest_db"] - long["before"]["stems"]["vocals"]["level_vs_rest_db"]
    assert d == pytest.approx(3.0, abs=0.3)


def test_long_spectrum_after_moves_as_in_memory(two_ways):
    """The spectrum after the review's moves on long stems (mixes computed on read, measured over
    the same frames) gives the in-memory region shifts within 0.01 dB."""
    from mixingbuddy.agent.findings import joint_moves
    from mixingbuddy.agent.spectrum_after_moves import region_shifts_db, spectrum_after_moves

    (_, ps, pr), (lm, ls, lr) = two_ways["plain"], two_ways["long"]
    sol = joint_moves(analyze(lm, ls).stem_balance)
    got = spectrum_after_moves(sol, ls, lr, "stems")
    assert got is not None and got.gains_db.get("vocals", 0) > 0
    ref = region_shifts_db({r: a.stereo() for r, a in ps.stems.items()}, 48_000, got.gains_db, pr)
    assert set(got.region_shift_db) == set(ref)
    for name, v in ref.items():
        assert got.region_shift_db[name] == pytest.approx(v, abs=0.01), name
    assert max(abs(v) for v in ref.values()) > 0.1  # the moves do change the spectrum


def test_long_stem_paths_hold_blocks_not_the_song():
    """Peak memory regression check (tracemalloc; no timing): on six minutes of spooled stems the
    master residual, the loudness of the mixes before and after a move and the spectrum after the
    moves hold a few 10 s blocks at a time, well under one whole-length stereo array (138 MB;
    the in-memory path holds several)."""
    import tracemalloc

    from mixingbuddy.agent.spectrum_after_moves import region_shifts_db_long
    from mixingbuddy.agent.whatif import MasterResidual, master_residual, mixes_loudness
    from mixingbuddy.tools.io.audio import Audio, StemSet

    sr, n = 48_000, 6 * 60 * 48_000
    rng = np.random.default_rng(0)
    noise = {r: rng.standard_normal((spool_mod.BLOCK_N, 2), dtype=np.float32) * np.float32(0.05 * (k + 1))
             for k, r in enumerate(("vocals", "drums", "bass", "other"))}
    spools = {r: spool_mod.Spool(2) for r in noise}
    mix_spool = spool_mod.Spool(2)
    for k, a in enumerate(range(0, n, spool_mod.BLOCK_N)):  # a gain step per block: not one loop
        blocks = {r: x[:n - a] * np.float32(1.0 - 0.01 * k) for r, x in noise.items()}
        for r, x in blocks.items():
            spools[r].append(x)
        total = sum(blocks.values())
        mix_spool.append(total - np.float32(0.2) * total ** 3)
    stems = StemSet(stems={r: Audio(samples=s.array(), sr=sr, name=r, spool=s) for r, s in spools.items()}, sr=sr)
    mix = Audio(samples=mix_spool.array(), sr=sr, name="mix", spool=mix_spool)
    whole_mb = n * 2 * 4 / 1e6
    for step in ("residual", "loudness", "spectrum"):
        tracemalloc.start()
        try:
            res, kind = master_residual(mix, stems)
            assert kind == "master" and isinstance(res, MasterResidual)
            if step == "loudness":
                before, after = mixes_loudness(stems, [{}, {"vocals": 3.0}], res, "spotify")
                assert after.integrated_lufs > before.integrated_lufs
            elif step == "spectrum":
                assert region_shifts_db_long(stems, {"vocals": 3.0}, res)
            peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
        finally:
            tracemalloc.stop()
        assert peak_mb < 100.0 < whole_mb, (step, peak_mb)


def test_a_long_reference_is_compared_a_block_at_a_time(two_ways):
    """A spooled mix against a spooled reference (``long_mix.reference_comparison``: each side
    measured a block at a time) gives the in-memory comparison's numbers (crest factor within
    0.01 dB, as ``LoudnessFeed``), and the comparison tool of a conversation takes that path."""
    from mixingbuddy.tools.measure import long_mix
    from mixingbuddy.tools.registry import AudioContext, call_tool

    (pm, ps, _), (lm, ls, _) = two_ways["plain"], two_ways["long"]
    want = long_mix.reference_comparison(pm, ps.stems["vocals"]).model_dump()
    got = long_mix.reference_comparison(lm, ls.stems["vocals"]).model_dump()

    def close(a, b, path="") -> None:
        if isinstance(a, dict):
            assert a.keys() == b.keys(), path
            for k in a:
                close(a[k], b[k], f"{path}.{k}")
        elif isinstance(a, list):
            assert len(a) == len(b), path
            for i, (x, y) in enumerate(zip(a, b)):
                close(x, y, f"{path}[{i}]")
        elif isinstance(a, float) and isinstance(b, float):
            assert abs(a - b) <= 0.011, (path, a, b)
        elif path != ".verdict":
            assert a == b, (path, a, b)

    close(got, want)
    assert got["mix_integrated_lufs"] == want["mix_integrated_lufs"]
    assert got["reference_true_peak_dbtp"] == want["reference_true_peak_dbtp"]
    out = call_tool(AudioContext(mix=lm, reference=ls.stems["vocals"]), "compare_to_reference", {})
    assert abs(out.matched_gain_db - want["matched_gain_db"]) <= 0.011
