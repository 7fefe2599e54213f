"""Known-answer tests for tools/measure/bands.py, tools/measure/spectral.py and tools/data/build_target_curve.py.

Every signal is synthesised here (numpy); nothing reads /work/shared.
"""
from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from mixingbuddy.tools.errors import InvalidArgumentError
from mixingbuddy.tools.measure.bands import (
    REGIONS_HZ,
    band_matrix,
    erb_band_edges_hz,
    erb_bands_hz,
    erb_hz,
    erb_number,
    erb_number_to_hz,
    nominal_hz,
    third_octave_bands_hz,
)
from mixingbuddy.tools.measure.spectral import (
    SpectrumResult,
    TargetCurve,
    flat_target_curve,
    load_target_curve,
    ltas_db,
    ltas_power,
    measure_spectrum,
    spectral_profile,
    third_octave_levels_db,
)

SR = 48000


def _shaped_noise(n: int, gain_fn, seed: int = 0, ch: int = 1, peak: float = 0.5) -> np.ndarray:
    """Gaussian noise shaped in the frequency domain by amplitude gain_fn(f) (f in Hz)."""
    rng = np.random.default_rng(seed)
    X = np.fft.rfft(rng.standard_normal((n, ch)), axis=0)
    f = np.fft.rfftfreq(n, 1.0 / SR)
    g = np.zeros_like(f)
    g[1:] = gain_fn(f[1:])
    x = np.fft.irfft(X * g[:, None], n=n, axis=0)
    x *= peak / np.abs(x).max()
    return x.astype(np.float32) if ch > 1 else x[:, 0].astype(np.float32)


def pink(n: int, seed: int = 0, ch: int = 1) -> np.ndarray:
    """Power spectral density ~ 1/f: amplitude 1/sqrt(f)."""
    return _shaped_noise(n, lambda f: 1.0 / np.sqrt(f), seed, ch)


# ----------------------------------------------------------------------------- bands

def test_third_octave_bands_are_iec_base10():
    c, lo, hi = third_octave_bands_hz()
    assert len(c) == 31
    assert [nominal_hz(f) for f in c[:6]] == [20, 25, 31.5, 40, 50, 63]
    assert nominal_hz(c[-1]) == 20000
    k = int(np.argmin(abs(c - 1000)))
    assert c[k] == pytest.approx(1000.0, abs=1e-9)
    assert np.allclose(c[1:] / c[:-1], 10 ** 0.1)  # base-10 third octave
    assert np.allclose(hi / lo, 10 ** 0.1)
    assert np.allclose(hi[:-1], lo[1:])  # contiguous
    c2, _, _ = third_octave_bands_hz(100, 10000)
    assert len(c2) == 21 and nominal_hz(c2[0]) == 100 and nominal_hz(c2[-1]) == 10000


def test_erb_scale_glasberg_moore():
    assert erb_hz(1000.0) == pytest.approx(24.7 * 5.37)
    assert erb_number(1000.0) == pytest.approx(21.4 * math.log10(5.37))
    assert erb_number(0.0) == 0.0
    f = np.array([50.0, 440.0, 3000.0, 15000.0])
    assert np.allclose(erb_number_to_hz(erb_number(f)), f)
    edges = erb_band_edges_hz(40, 50.0, 16000.0)
    assert edges.shape == (41,)
    assert edges[0] == 50.0 and edges[-1] == 16000.0
    assert np.all(np.diff(edges) > 0)
    assert np.allclose(np.diff(erb_number(edges)), (erb_number(16000.0) - erb_number(50.0)) / 40)
    c, lo, hi = erb_bands_hz(40, 50.0, 16000.0)
    assert np.all((lo < c) & (c < hi))
    for bad in ((0, 50, 16000), (10, 200, 100), (2.5, 50, 100), (10, -1, 100)):
        with pytest.raises(InvalidArgumentError):
            erb_band_edges_hz(*bad)


def test_band_matrix_partitions_and_narrow_bands():
    sr, n_fft = 48000, 1024
    df = sr / n_fft
    edges = erb_band_edges_hz(30, 0.0 + 1e-9, sr / 2)
    W = band_matrix(edges[:-1], edges[1:], sr, n_fft)
    assert W.shape == (30, n_fft // 2 + 1)
    assert np.allclose(W.sum(axis=0), 1.0)  # bands tiling 0..Nyquist share every bin exactly
    # a band 1/4 of a bin wide, inside bin 10, gets a quarter of that bin and nothing else
    w = band_matrix([10 * df - df / 8], [10 * df + df / 8], sr, n_fft)[0]
    assert w[10] == pytest.approx(0.25) and w.sum() == pytest.approx(0.25)
    assert band_matrix([30000.0], [40000.0], sr, n_fft).sum() == 0.0  # above Nyquist
    with pytest.raises(InvalidArgumentError):
        band_matrix([100.0], [50.0], sr, n_fft)
    with pytest.raises(InvalidArgumentError):
        band_matrix([10.0], [50.0], 0, n_fft)


# ----------------------------------------------------------------------------- spectrum

def test_ltas_sums_to_mean_square():
    x = (np.random.default_rng(3).standard_normal((SR * 4, 2)) * 0.1).astype(np.float32)
    f, p = ltas_power(x, SR)
    assert f[-1] == SR / 2
    assert p.sum() == pytest.approx(float(np.mean(x.astype(np.float64) ** 2)), rel=0.02)
    f2, d = ltas_db(x, SR, n_fft=4096)
    assert len(f2) == 2049 and np.all(np.isfinite(d))


def test_pink_noise_tilt_is_zero():
    res = measure_spectrum(pink(SR * 10, seed=1, ch=2), SR, compare=False)
    assert res.tilt_db_per_oct == pytest.approx(0.0, abs=0.5)
    levels = np.array([b.power_db for b in res.bands if 50 <= b.nominal_hz <= 16000])
    assert levels.max() - levels.min() < 3.0  # equal power per band


def test_white_noise_tilt_is_plus_3():
    x = (np.random.default_rng(2).standard_normal(SR * 10) * 0.1).astype(np.float32)
    res = measure_spectrum(x, SR, compare=False)
    assert res.tilt_db_per_oct == pytest.approx(10 * math.log10(2), abs=0.5)
    assert res.centroid_hz == pytest.approx(10000, rel=0.05)  # flat spectrum 20 Hz-20 kHz


def test_sine_1khz_lands_in_1khz_band():
    t = np.arange(SR * 3) / SR
    x = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    c, lv = third_octave_levels_db(x, SR)
    k = int(np.argmax(lv))
    assert nominal_hz(c[k]) == 1000
    assert lv[k] == pytest.approx(10 * math.log10(0.5 ** 2 / 2), abs=0.1)  # all the power
    assert np.all(np.delete(lv, k) < lv[k] - 60)
    res = measure_spectrum(x, SR, compare=False)
    assert res.centroid_hz == pytest.approx(1000, abs=5)
    mid = next(g for g in res.regions if g.name == "mid")
    assert mid.share_db == pytest.approx(0.0, abs=0.01)


def test_boosted_lows_deviate_positively_in_low_vs_flat_target():
    # pink noise with +8 dB between 60 and 250 Hz
    boost = 10 ** (8 / 20)
    x = _shaped_noise(SR * 10, lambda f: np.where((f >= 60) & (f < 250), boost, 1.0) / np.sqrt(f), seed=4, ch=2)
    res = measure_spectrum(x, SR, target=flat_target_curve(spread_db=3.0))
    reg = {g.name: g for g in res.regions}
    assert reg["low"].deviation_db > 4.0
    assert reg["low"].outside_target_range == "above"
    assert "cut" in reg["low"].action and "60-250 Hz" in reg["low"].action
    for name in ("low_mid", "mid", "presence", "brilliance"):
        assert abs(reg[name].deviation_db) < 2.5 and reg[name].outside_target_range is None
    assert res.issues and res.issues[0].name == "low" and res.issues[0].direction == "excess"
    assert "bass" in res.verdict and "cut" in res.verdict
    # band rows carry the target and its spread
    b = next(b for b in res.bands if b.nominal_hz == 125)
    assert b.target_db == 0.0 and b.target_p10_db == -3.0 and b.target_p90_db == 3.0
    assert b.deviation_db == pytest.approx(b.level_db - b.target_db)


def test_flat_mix_vs_flat_target_has_no_issues():
    res = measure_spectrum(pink(SR * 8, seed=5, ch=2), SR, target=flat_target_curve())
    assert res.issues == []
    assert all(g.outside_target_range is None for g in res.regions)
    assert "within the usual range" in res.verdict


def test_verdict_numbers_come_from_fields():
    boost = 10 ** (-9 / 20)  # a presence hole
    x = _shaped_noise(SR * 6, lambda f: np.where((f >= 2000) & (f < 5000), boost, 1.0) / np.sqrt(f), seed=6)
    res = measure_spectrum(x, SR, target=flat_target_curve())
    assert "boost" in res.verdict and "presence" in res.verdict
    values = set()

    def walk(v):
        if isinstance(v, dict):
            for u in v.values():
                walk(u)
        elif isinstance(v, list):
            for u in v:
                walk(u)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            values.add(round(abs(float(v)), 2))
            values.add(round(abs(float(v)) / 1000, 2))  # kHz spellings
    walk(res.model_dump())
    for num in re.findall(r"\d+(?:\.\d+)?", res.verdict):
        assert round(float(num), 2) in values, num


def test_packaged_target_curve_loads_and_is_consistent():
    t = load_target_curve()
    assert isinstance(t, TargetCurve)
    assert t.n_songs >= 1 and t.analysis_sr_hz == 48000
    assert "MUSDB18" in t.source and "10.5281/zenodo.1117372" in t.source
    assert "100 Hz-10 kHz" in t.normalisation and t.script_version
    assert len(t.bands) == 31 and [g.name for g in t.regions] == list(REGIONS_HZ)
    for b in t.bands:
        assert b.p10_db <= b.mean_db + 1e-6 or b.p10_db <= b.p90_db
        assert b.p10_db <= b.p90_db and b.sd_db >= 0 and b.n_songs == t.n_songs
    # the normalisation: bands 100 Hz-10 kHz average to 0 dB for every song, so their means do too
    mids = [b.mean_db for b in t.bands if 100 <= b.nominal_hz <= 10000]
    assert abs(float(np.mean(mids))) < 0.05
    lo, hi = t.reliable_range_hz
    assert lo <= 25 and 10000 <= hi <= 20000
    assert t.tilt_db_per_oct is not None and t.tilt_db_per_oct.p10 <= t.tilt_db_per_oct.p90


def test_measure_spectrum_default_target_and_json():
    x = pink(SR * 5, seed=7, ch=2)
    res = measure_spectrum(x, SR)  # packaged professional target
    assert isinstance(res, SpectrumResult) and res.target_name
    rel_hi = load_target_curve().reliable_range_hz[1]
    for b in res.bands:
        if b.centre_hz > rel_hi * 1.05:
            assert b.target_db is None and b.deviation_db is None
        else:
            assert b.target_db is not None
    json.loads(res.model_dump_json())  # strict JSON (no NaN)
    assert res.tilt_db_per_oct is not None and res.verdict


def test_mono_and_stereo_agree_and_short_signals_work():
    x = pink(SR * 3, seed=8)
    a = measure_spectrum(x, SR, compare=False)
    b = measure_spectrum(np.c_[x, x], SR, compare=False)
    assert a.tilt_db_per_oct == b.tilt_db_per_oct
    short = measure_spectrum(x[:4000], SR, compare=False)  # shorter than one FFT frame
    assert short.tilt_db_per_oct is not None


def test_silence_is_reported_not_crashed():
    res = measure_spectrum(np.zeros((SR, 2), np.float32), SR)
    assert res.tilt_db_per_oct is None and res.centroid_hz is None
    assert res.verdict.startswith("Silent")
    json.loads(res.model_dump_json())


@pytest.mark.parametrize("samples,sr,msg", [
    (np.zeros(0, np.float32), SR, "empty"),
    (np.full(SR, np.nan, np.float32), SR, "NaN"),
    (np.zeros((10, 10, 2), np.float32), SR, "shape"),
    (np.zeros((2, SR), np.float32), SR, "channels-first"),
    (np.zeros((SR, 2), np.float32), 0, "sr"),
    (np.zeros((SR, 2), np.float32), -48000, "sr"),
    (np.zeros(100, np.float32), SR, "at least"),
    (np.array(["a"] * 2000), SR, "float"),
    (np.zeros(2000, np.int16), SR, "integer"),
])
def test_bad_input_raises_invalid_argument(samples, sr, msg):
    with pytest.raises(InvalidArgumentError, match=msg):
        measure_spectrum(samples, sr)


# ----------------------------------------------------------------------------- build script

def test_build_target_curve_uses_the_same_normalisation(tmp_path, av_writer):
    """Encode three synthetic songs as AAC .stem.mp4 files, build a table from them, and check
    that measuring one of the songs against it gives ~0 dB deviation (same pipeline both sides)."""
    from mixingbuddy.tools.data import build_target_curve as btc
    from mixingbuddy.tools.io.ingest import load_audio

    sr_src = 44100
    for i in range(3):
        n = sr_src * 2
        rng = np.random.default_rng(10 + i)
        X = np.fft.rfft(rng.standard_normal((n, 2)), axis=0)
        f = np.fft.rfftfreq(n, 1.0 / sr_src)
        g = np.zeros_like(f)
        g[1:] = f[1:] ** (-0.5 - 0.1 * i)  # slopes -3, -3.6, -4.2 dB/oct in power density
        x = np.fft.irfft(X * g[:, None], n=n, axis=0)
        x = (0.3 * x / np.abs(x).max()).astype(np.float32)
        av_writer(tmp_path / f"song{i}.stem.mp4", [x, 0.5 * x], sr_src)  # mixture + one "stem"
    table = btc.build(str(tmp_path), verbose=False)
    t = TargetCurve.model_validate(table)
    assert t.n_songs == 3 and len(json.dumps(table)) < 20000
    assert table["normalisation"] == t.normalisation
    tilts = table["tilt_db_per_oct"]
    assert tilts["p10"] < tilts["mean"] < tilts["p90"]
    # song 1 is the middle slope: against the 3-song mean it deviates by ~0 in the mid bands
    y = load_audio(tmp_path / "song1.stem.mp4", stream=0).samples
    res = measure_spectrum(y, SR, target=t)
    mid_devs = [b.deviation_db for b in res.bands if 200 <= b.nominal_hz <= 5000]
    assert max(abs(d) for d in mid_devs) < 1.0
    prof = spectral_profile(y, SR)
    in_norm = (prof.centres_hz > 97) & (prof.centres_hz < 10300)
    assert np.mean(prof.band_level_db[in_norm]) == pytest.approx(0, abs=1e-9)


def test_mix_estimate_median_filters_and_batched_spectra_equal_the_one_shot_forms():
    """The mix-only estimate's running medians (numpy partition, not scipy.ndimage) and its
    batched STFT band powers give the same numbers as scipy.ndimage.median_filter and one
    transform of the whole signal."""
    import scipy.fft
    import scipy.ndimage as ndi
    from numpy.lib.stride_tricks import sliding_window_view

    from mixingbuddy.tools.measure import mix_estimate as me

    rng = np.random.default_rng(2)
    bt = (rng.standard_normal((1001, 64)) ** 2).astype(np.float32)
    assert np.array_equal(me._median_filter(bt, 9, axis=0), ndi.median_filter(bt, size=(9, 1), mode="nearest"))
    assert np.array_equal(me._median_filter(bt, 17, axis=1), ndi.median_filter(bt, size=(1, 17), mode="nearest"))

    left, right = (rng.standard_normal(SR * 7).astype(np.float32) * 0.1 for _ in range(2))
    n_fft, hop = 4096, 2048
    w = band_matrix(np.geomspace(30, 16000, 65)[:-1], np.geomspace(30, 16000, 65)[1:], SR, n_fft).astype(np.float32)
    win = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    a, b = (scipy.fft.rfft(sliding_window_view(c, n_fft)[::hop] * win, axis=1, workers=2) for c in (left, right))
    m = (a + b) * np.float32(0.5)
    s = (a - b) * np.float32(0.5)
    pm, ps = me._band_power(left, n_fft, hop, win, w, right)
    assert np.array_equal(pm, (m.real ** 2 + m.imag ** 2) @ w.T)
    assert np.array_equal(ps, (s.real ** 2 + s.imag ** 2) @ w.T)
