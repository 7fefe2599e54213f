"""Known-answer tests for tools/measure/stereo.py. Every signal is synthesised here (numpy)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mixingbuddy.tools.errors import InvalidArgumentError
from mixingbuddy.tools.measure.stereo import StereoResult, correlation, measure_stereo

SR = 48000
N = SR * 6


def noise(seed: int, n: int = N, scale: float = 0.1) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(n) * scale).astype(np.float32)


def band_noise(lo: float, hi: float, seed: int, n: int = N) -> np.ndarray:
    """Noise with a brick-wall band limit lo..hi Hz (frequency-domain)."""
    X = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / SR)
    X[(f < lo) | (f > hi)] = 0
    x = np.fft.irfft(X, n=n)
    return (0.1 * x / np.sqrt(np.mean(x ** 2))).astype(np.float32)


def region(res: StereoResult, name: str):
    return next(g for g in res.regions if g.name == name)


def test_identical_channels():
    a = noise(1)
    res = measure_stereo(np.c_[a, a], SR)
    assert res.correlation == pytest.approx(1.0, abs=0.01)
    assert res.fold_down_loss_db == pytest.approx(0.0, abs=0.01)
    assert res.width_ratio == pytest.approx(0.0, abs=0.01)
    assert res.side_to_mid_db <= -59
    assert res.low_end.status == "pass"
    assert all(g.correlation == pytest.approx(1.0, abs=0.01) for g in res.regions)
    assert "identical" in res.verdict
    assert correlation(np.c_[a, a]) == pytest.approx(1.0, abs=1e-6)


def test_polarity_inverted_channels():
    a = noise(2)
    res = measure_stereo(np.c_[a, -a], SR)
    assert res.correlation == pytest.approx(-1.0, abs=0.01)
    assert res.fold_down_loss_db > 20  # total cancellation (capped at 60)
    assert res.side_to_mid_db >= 59
    assert res.low_end.status == "fail"
    assert "out of phase" in res.verdict and "polarity" in res.verdict
    assert correlation(np.c_[a, -a]) == pytest.approx(-1.0, abs=1e-6)


def test_independent_noises():
    a, b = noise(3), noise(4)
    res = measure_stereo(np.c_[a, b], SR)
    assert res.correlation == pytest.approx(0.0, abs=0.05)
    assert correlation(np.c_[a, b]) == pytest.approx(0.0, abs=0.05)
    # equal-level unrelated channels: mono keeps half the power -> 3.01 dB
    assert res.fold_down_loss_db == pytest.approx(10 * math.log10(2), abs=0.15)
    assert res.side_to_mid_db == pytest.approx(0.0, abs=0.2)
    assert res.width_ratio > 0.95
    assert res.low_end.status == "fail"  # decorrelated lows


def test_partial_correlation_known_answers():
    # L = a + g b, R = a - g b with unit-power a, b: r = (1-g^2)/(1+g^2), S/M = g^2,
    # fold-down loss = 10 log10(1 + g^2) (same K-weighting on every term: both are white)
    g = 0.5
    a, b = noise(5), noise(6)
    res = measure_stereo(np.c_[a + g * b, a - g * b], SR)
    assert res.correlation == pytest.approx((1 - g * g) / (1 + g * g), abs=0.03)
    assert res.side_to_mid_db == pytest.approx(20 * math.log10(g), abs=0.3)
    assert res.width_ratio == pytest.approx(g * g, abs=0.03)
    assert res.fold_down_loss_db == pytest.approx(10 * math.log10(1 + g * g), abs=0.1)
    assert res.low_end.status == "fail"  # r = 0.6 < 0.8
    assert "Stereo" in res.verdict


def test_anti_phase_only_in_the_low_band():
    common = band_noise(300, 18000, seed=7)  # identical in both channels
    low = band_noise(80, 200, seed=8)  # opposite polarity in L and R
    res = measure_stereo(np.c_[common + low, common - low], SR)
    assert region(res, "low").correlation < -0.9
    assert region(res, "low").fold_down_loss_db > 20
    for name in ("mid", "presence", "brilliance"):
        assert region(res, name).correlation > 0.99
        assert region(res, name).fold_down_loss_db < 0.1
    assert res.low_end.status == "fail" and res.low_end.correlation < -0.9
    assert "bass" in res.verdict and "mono" in res.verdict


def test_stereo_mix_with_mono_bass_passes_low_end():
    bass = band_noise(30, 140, seed=9)
    l_, r_ = band_noise(200, 16000, seed=10), band_noise(200, 16000, seed=11)
    res = measure_stereo(np.c_[bass + l_, bass + r_], SR)
    assert res.low_end.status == "pass"
    assert res.low_end.correlation > 0.95 and res.low_end.side_to_mid_db < -20
    assert region(res, "mid").correlation == pytest.approx(0.0, abs=0.1)


def test_hard_panned_signal_is_full_width():
    a = noise(12)
    res = measure_stereo(np.c_[a, np.zeros_like(a)], SR)
    assert res.width_ratio > 0.95
    assert res.correlation == pytest.approx(0.0, abs=0.01)
    assert res.side_to_mid_db == pytest.approx(0.0, abs=0.1)


@pytest.mark.parametrize("shape", ["1d", "col"])
def test_mono_file(shape):
    a = noise(13)
    x = a if shape == "1d" else a[:, None]
    res = measure_stereo(x, SR)
    assert res.mono_input is True
    assert res.correlation == 1.0 and res.width_ratio == 0.0 and res.fold_down_loss_db == 0.0
    assert res.verdict.lower().startswith("mono file: no stereo image")
    assert correlation(x) == 1.0


def test_short_term_catches_an_anti_phase_moment():
    a = noise(14, n=SR * 10)
    b = a.copy()
    b[SR * 4:SR * 5] *= -1  # one second flipped in R
    res = measure_stereo(np.c_[a, b], SR)
    st = res.short_term
    assert st.window_s == 0.4 and st.n_windows == 25
    assert st.correlation_min == pytest.approx(-1.0, abs=0.01)
    assert 3.6 <= st.worst_at_s <= 5.0
    assert st.anti_phase_pct == pytest.approx(100 * 2 / 25, abs=0.05)  # windows 4.0-4.4, 4.4-4.8 s
    assert st.correlation_median == pytest.approx(1.0, abs=0.01)
    assert "anti-phase moments" in res.verdict


def test_silence():
    res = measure_stereo(np.zeros((SR, 2), np.float32), SR)
    assert res.correlation is None and res.width_ratio is None
    assert res.verdict.startswith("Silent")
    json.loads(res.model_dump_json())
    assert correlation(np.zeros((SR, 2), np.float32)) is None


def test_json_is_strict_for_extreme_cases():
    a = noise(15)
    for x in (np.c_[a, -a], np.c_[a, np.zeros_like(a)], np.c_[a, a]):
        json.loads(measure_stereo(x, SR).model_dump_json())


@pytest.mark.parametrize("samples,sr,msg", [
    (np.zeros((SR, 3), np.float32), SR, "at most 2 channels"),
    (np.zeros((2, SR), np.float32), SR, "channels-first"),
    (np.full((SR, 2), np.inf, np.float32), SR, "NaN or infinite"),
    (np.zeros((0, 2), np.float32), SR, "empty"),
    (np.zeros((SR, 2), np.float32), 0, "sr"),
])
def test_bad_input_raises_invalid_argument(samples, sr, msg):
    with pytest.raises(InvalidArgumentError, match=msg):
        measure_stereo(samples, sr)


@pytest.mark.parametrize("left, right", [(0.5, 0.5), (0.5, -0.2), ("noise", 0.0), ("noise", 0.3)])
def test_constant_or_silent_channels_get_a_verdict_not_a_crash(left, right):
    """Pure DC, a DC offset per channel, a silent or constant channel beside music: the
    correlation is undefined and the verdict says so instead of failing to format it."""
    n = 48_000 * 3
    noise = np.random.default_rng(2).standard_normal(n).astype(np.float32) * 0.1
    ch = [noise if v == "noise" else np.full(n, v, np.float32) for v in (left, right)]
    res = measure_stereo(np.stack(ch, axis=1), 48_000)
    assert res.verdict and "None" not in res.verdict


def test_k_weighting_response_is_scipy_sosfreqz_without_importing_scipy_signal():
    """The fold-down's K-weighting curve comes from numpy (tools.measure.iir) in scipy's
    operand order: the same numbers as scipy.signal.sosfreqz, bit for bit."""
    from scipy.signal import sosfreqz

    from mixingbuddy.tools.measure.iir import sos_frequency_response
    from mixingbuddy.tools.measure.loudness import k_weighting_sos
    from mixingbuddy.tools.measure.stereo import k_weighting_power

    f = np.fft.rfftfreq(8192, 1.0 / SR)
    sos = k_weighting_sos(SR)
    _, h = sosfreqz(sos, worN=f, fs=SR)
    assert np.array_equal(sos_frequency_response(sos, f, SR), h)
    assert np.array_equal(k_weighting_power(f), np.abs(h) ** 2)


def test_analyze_imports_no_scipy_signal():
    """`mixingbuddy analyze` starts without scipy.signal (which loads scipy.stats, interpolate,
    spatial and optimize: most of a cold start); a fresh interpreter checks the import graph."""
    import subprocess
    import sys

    code = ("import sys; import mixingbuddy.tools.measure.analyze, mixingbuddy.tools.io.ingest; "
            "print(sorted(m for m in ('scipy.signal', 'scipy.stats', 'scipy.ndimage') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
