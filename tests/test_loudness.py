"""Known-answer tests for tools/measure/loudness.py (BS.1770-4, EBU Tech 3341 / 3342).

Every signal is built here with numpy; levels of sines are peak amplitudes in dBFS, as in the
EBU test sequences (a 1 kHz stereo sine at -23 dBFS reads -23 LUFS).
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mixingbuddy.agent.grounding import read_numbers, scalar_values
from mixingbuddy.evals.compliance import SR, faded, sine, stereo
from mixingbuddy.tools.errors import InvalidArgumentError
from mixingbuddy.tools.measure.loudness import (
    PLATFORM_TARGETS,
    LoudnessResult,
    block_loudness_lkfs,
    integrated_loudness_lufs,
    k_weight,
    k_weighting_sos,
    loudness_range_lu,
    measure_loudness,
    momentary_lufs,
    platform_delta,
    sample_peak_dbfs,
    short_term_lufs,
    true_peak_dbtp,
)

# --- K-weighting ------------------------------------------------------------------------------


def test_k_filter_reproduces_bs1770_coefficients_at_48k():
    sos = k_weighting_sos(48_000)
    # BS.1770-4 Annex 1, Tables 1 and 2 (b0 b1 b2 / 1 a1 a2)
    np.testing.assert_allclose(sos[0], [1.53512485958697, -2.69169618940638, 1.19839281085285,
                                        1.0, -1.69065929318241, 0.73248077421585], atol=1e-9)
    np.testing.assert_allclose(sos[1], [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621],
                               atol=1e-9)


def test_k_weight_keeps_shape_and_dtype():
    x = np.random.default_rng(0).standard_normal((4800, 2)).astype(np.float32)
    y = k_weight(x, SR)
    assert y.shape == x.shape and y.dtype == np.float64
    assert k_weight(x[:, 0], SR).shape == (4800,)
    # the shelf adds about 4 dB at high frequencies: white noise gets louder
    assert np.mean(y**2) > 2.0 * np.mean(x.astype(np.float64) ** 2)


# --- EBU Tech 3341 minimum requirements -----------------------------------------------------------


def test_3341_case1_sine_minus23_official_length():
    x = stereo((-23.0, 20.0))
    assert integrated_loudness_lufs(x, SR) == pytest.approx(-23.0, abs=0.1)
    _, m = momentary_lufs(x, SR)
    _, s = short_term_lufs(x, SR)
    assert m.max() == pytest.approx(-23.0, abs=0.1) and m.min() == pytest.approx(-23.0, abs=0.1)
    assert s.max() == pytest.approx(-23.0, abs=0.1) and s.min() == pytest.approx(-23.0, abs=0.1)


def test_3341_case2_sine_minus33():
    x = stereo((-33.0, 20.0))
    assert integrated_loudness_lufs(x, SR) == pytest.approx(-33.0, abs=0.1)


def test_3341_case3_relative_gate():
    x = stereo((-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0))
    assert integrated_loudness_lufs(x, SR) == pytest.approx(-23.0, abs=0.1)


def test_3341_case4_absolute_and_relative_gate():
    x = stereo((-72.0, 10.0), (-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0), (-72.0, 10.0))
    assert integrated_loudness_lufs(x, SR) == pytest.approx(-23.0, abs=0.1)


def test_3341_case5_power_average():
    x = stereo((-26.0, 20.0), (-20.0, 20.1), (-26.0, 20.0))
    assert integrated_loudness_lufs(x, SR) == pytest.approx(-23.0, abs=0.1)


def test_3341_case9_short_term_constant_over_alternating_tone():
    # 1.34 s at -20 dBFS then 1.66 s at -30 dBFS, repeated: every 3 s window reads -23 LUFS
    x = stereo(*[seg for _ in range(8) for seg in ((-20.0, 1.34), (-30.0, 1.66))])
    t, s = short_term_lufs(x, SR)
    assert t[0] == pytest.approx(3.0) and np.allclose(np.diff(t), 0.1)
    assert np.all(np.abs(s - (-23.0)) <= 0.1)


def test_3341_case12_momentary_constant_over_alternating_tone():
    # 0.18 s at -20 dBFS then 0.22 s at -30 dBFS, repeated: every 400 ms window reads -23 LUFS
    x = stereo(*[seg for _ in range(25) for seg in ((-20.0, 0.18), (-30.0, 0.22))])
    t, m = momentary_lufs(x, SR)
    assert t[0] == pytest.approx(0.4)
    assert np.all(np.abs(m - (-23.0)) <= 0.1)


def test_max_momentary_and_short_term_find_a_loud_burst():
    x = stereo((-30.0, 5.0), (-18.0, 4.0), (-30.0, 5.0))
    res = measure_loudness(x, SR)
    assert res.max_momentary_lufs == pytest.approx(-18.0, abs=0.1)
    assert res.max_short_term_lufs == pytest.approx(-18.0, abs=0.1)
    # the loudest 3 s windows end between 8 and 9 s (the burst covers 5-9 s)
    loudest_end = res.short_term_times_s[int(np.argmax(res.short_term_lufs))]
    assert 8.0 <= loudest_end <= 9.0


@pytest.mark.parametrize("phase_deg", [0.0, 45.0, 60.0, 67.5])
def test_3341_true_peak_cases_15_to_18(phase_deg):
    # fs/4 sine (12 kHz at 48 kHz) at -6 dBFS; the samples miss the crest by up to 45 degrees
    y = faded(sine(-6.0, 1.0, freq=SR / 4, phase_deg=phase_deg))
    x = np.stack([y, y], axis=1)
    tp = true_peak_dbtp(x, SR)
    assert -6.4 <= tp <= -5.8  # Tech 3341 tolerance +0.2 / -0.4 dB
    # tighter: 4x oversampling sees the wave at phase + k * 22.5 degrees (60 deg misses by 7.5)
    on_grid = max(abs(math.sin(math.radians(phase_deg + 22.5 * k))) for k in range(16))
    assert tp == pytest.approx(-6.0 + 20 * math.log10(on_grid), abs=0.05)


def test_3341_true_peak_case19_samples_at_full_scale_peak_over_it():
    # fs/4 at 45 degrees with every sample at +-1.0: the wave itself crests at sqrt(2)
    y = faded(math.sqrt(2.0) * np.sin(2 * np.pi * np.arange(SR) / 4 + np.pi / 4))
    assert sample_peak_dbfs(y) == pytest.approx(0.0, abs=1e-6)
    tp = true_peak_dbtp(y, SR)
    assert 3.01 - 0.4 <= tp <= 3.01 + 0.2
    assert tp == pytest.approx(3.01, abs=0.05)


def test_true_peak_of_sine_whose_samples_miss_the_crest():
    # 6 kHz (fs/8) at 22.5 degrees: sample peak is cos(22.5 deg) = -0.69 dB under the crest
    y = faded(sine(-3.0, 1.0, freq=6000.0, phase_deg=22.5))
    assert sample_peak_dbfs(y) == pytest.approx(-3.0 + 20 * math.log10(math.cos(math.pi / 8)), abs=0.01)
    assert true_peak_dbtp(y, SR) == pytest.approx(-3.0, abs=0.05)


@pytest.mark.parametrize("sr,freq", [(44_100, 11_025.0 * 0.9), (96_000, 17_000.0), (192_000, 5_000.0)])
def test_true_peak_at_other_rates(sr, freq):
    y = faded(sine(-1.0, 0.5, freq=freq, sr=sr, phase_deg=30.0), sr=sr)
    tp = true_peak_dbtp(y, sr)
    assert tp >= sample_peak_dbfs(y)
    tolerance = 0.1 if sr < 192_000 else 0.4  # 192 kHz: no oversampling (BS.1770-4), sample peak
    assert tp == pytest.approx(-1.0, abs=tolerance)


def test_true_peak_never_below_sample_peak_and_silence():
    x = np.random.default_rng(1).uniform(-0.5, 0.5, (10_000, 2))
    assert true_peak_dbtp(x, SR) >= sample_peak_dbfs(x)
    assert true_peak_dbtp(np.zeros((1000, 2)), SR) == -200.0
    assert sample_peak_dbfs(np.zeros(10)) == -200.0


def test_true_peak_exact_against_direct_polyphase_filter():
    """The chunk skipping and the symmetric evaluation must not change the answer."""
    from mixingbuddy.tools.measure.loudness import _interpolation_phases

    rng = np.random.default_rng(7)
    n = 50_021  # spans several chunks, not a multiple of the chunk
    envelope = np.exp(3 * rng.standard_normal(n // 500 + 1)).repeat(500)[:n, None]
    x = np.clip(rng.standard_normal((n, 2)) * envelope, -50, 50)
    x[30_000:30_100] = np.clip(x[30_000:30_100] * 100, -1e3, 1e3)  # a loud spot deep inside
    phases = _interpolation_phases(4).astype(np.float64)
    taps = phases.shape[1]
    before = taps // 2 - 1
    ref = np.abs(x).max()
    for c in range(2):
        padded = np.concatenate([np.zeros(before), x[:, c], np.zeros(taps - before - 1)])
        for row in phases:
            ref = max(ref, np.abs(np.correlate(padded, row, mode="valid")).max())
    assert true_peak_dbtp(x, SR) == pytest.approx(20 * math.log10(ref), abs=1e-4)


def _direct_true_peak(x: np.ndarray) -> float:
    """The 4x interpolator of loudness._interpolation_phases applied tap by tap (np.correlate,
    float64): the oversampler the true-peak meter used before its matrix form, kept as the
    reference."""
    from mixingbuddy.tools.measure.loudness import _interpolation_phases

    phases = _interpolation_phases(4).astype(np.float64)
    taps = phases.shape[1]
    before = taps // 2 - 1
    x = np.asarray(x, dtype=np.float32).astype(np.float64).reshape(len(x), -1)
    best = np.abs(x).max()
    for c in range(x.shape[1]):
        padded = np.concatenate([np.zeros(before), x[:, c], np.zeros(taps - before - 1)])
        for row in phases:
            best = max(best, np.abs(np.correlate(padded, row, mode="valid")).max())
    return 20 * math.log10(best)


@pytest.mark.parametrize("freq,phase_deg,n", [
    (997.0, 0.0, 48_000), (SR / 4, 45.0, 48_000), (SR / 8, 22.5, 20_001), (11_025.0, 60.0, 16_399),
    (19_000.0, 30.0, 33), (5_000.0, 10.0, 15), (440.0, 80.0, 16_384 * 3 + 17),
])
def test_matrix_oversampler_agrees_with_the_direct_filter_on_sines(freq, phase_deg, n):
    """The matrix form of the 4x interpolator (rows of 16, chunk skipping, float32) reads the
    same true peak as the tap-by-tap filter, within 0.01 dB (in fact 1e-4), at lengths that are
    and are not multiples of a row or a chunk, down to shorter than one row."""
    t = np.arange(n) / SR
    y = 0.5 * np.sin(2 * np.pi * freq * t + math.radians(phase_deg))
    x = np.stack([y, -0.7 * y], axis=1)
    assert true_peak_dbtp(x, SR) == pytest.approx(_direct_true_peak(x), abs=1e-4)


def test_matrix_oversampler_agrees_on_noise_clipping_mono_and_five_channels():
    rng = np.random.default_rng(3)
    noise = rng.standard_normal((70_001, 2)) * 0.2
    square = np.clip(3.0 * np.sin(2 * np.pi * 1000.0 * np.arange(30_000) / SR), -1.0, 1.0)
    five = rng.uniform(-0.9, 0.9, (5_000, 5))
    edge = np.zeros((40_000, 1))
    edge[-1], edge[0] = 0.9, -0.95  # peaks in the first and last sample: the zero padding counts
    for x in (noise, square, five, edge):
        assert true_peak_dbtp(x, SR) == pytest.approx(_direct_true_peak(x), abs=1e-4)


def test_k_weighting_filter_is_scipy_sosfilt_bit_for_bit():
    """K-weighting runs scipy's own cascade loop, loaded without importing scipy.signal: the
    same numbers as scipy.signal.sosfilt, bit for bit, with and without initial states."""
    from scipy.signal import sosfilt

    from mixingbuddy.tools.measure.iir import sosfilt_axis0

    rng = np.random.default_rng(5)
    x = rng.standard_normal((9_999, 2)).astype(np.float32)
    sos = k_weighting_sos(44_100)
    assert np.array_equal(sosfilt_axis0(sos, x), sosfilt(sos, x, axis=0))
    assert np.array_equal(sosfilt_axis0(sos, x[:, 0]), sosfilt(sos, x[:, 0], axis=0))
    sos32 = sos.astype(np.float32)
    zi = rng.standard_normal((2, 2, 2)).astype(np.float32)
    (y, zf), (y_ref, zf_ref) = sosfilt_axis0(sos32, x, zi=zi), sosfilt(sos32, x, axis=0, zi=zi)
    assert y.dtype == np.float32 and np.array_equal(y, y_ref) and np.array_equal(zf, zf_ref)
    assert np.array_equal(k_weight(x, SR), sosfilt(k_weighting_sos(SR), x.astype(np.float64), axis=0))


def test_k_weighting_falls_back_to_scipy_signal(monkeypatch):
    """Where scipy's layout changes and the loop cannot be loaded alone, the public function
    gives the same result."""
    from mixingbuddy.tools.measure import iir

    x = np.random.default_rng(6).standard_normal((4_800, 2))
    expected = k_weight(x, SR)
    monkeypatch.setattr(iir, "_cascade_kernel", lambda: None)
    assert np.array_equal(k_weight(x, SR), expected)
    y, zf = iir.sosfilt_axis0(k_weighting_sos(SR), x, zi=np.zeros((2, 2, 2)))
    assert np.array_equal(y, expected) and zf.shape == (2, 2, 2)


# --- EBU Tech 3342 loudness range ---------------------------------------------------------------


@pytest.mark.parametrize("segments,expected", [
    (((-20.0, 20.0), (-30.0, 20.0)), 10.0),
    (((-20.0, 20.0), (-15.0, 20.0)), 5.0),
    (((-40.0, 20.0), (-20.0, 20.0)), 20.0),
    (((-50.0, 20.0), (-35.0, 20.0), (-20.0, 20.0), (-35.0, 20.0), (-50.0, 20.0)), 15.0),
])
def test_3342_lra_cases_1_to_4(segments, expected):
    assert loudness_range_lu(stereo(*segments), SR) == pytest.approx(expected, abs=1.0)


def test_lra_of_steady_tone_is_zero_and_none_when_too_short_or_silent():
    assert loudness_range_lu(stereo((-20.0, 10.0)), SR) == pytest.approx(0.0, abs=0.05)
    assert loudness_range_lu(stereo((-20.0, 2.9)), SR) is None
    assert loudness_range_lu(np.zeros((SR * 5, 2)), SR) is None


# --- gating, blocks, silence --------------------------------------------------------------------


def test_silence_does_not_lower_integrated_loudness():
    tone = stereo((-23.0, 10.0))

    def padded(seconds):
        pad = np.zeros((int(SR * seconds), 2), np.float32)
        return np.concatenate([pad, tone, pad])

    # 97 full blocks plus, at each edge, blocks 3/4, 1/2 and 1/4 full (all above the relative
    # gate): mean power 100/103 of the tone's. However much silence surrounds it.
    expected = -23.0 + 10 * math.log10(100 / 103)
    assert integrated_loudness_lufs(padded(1.0), SR) == pytest.approx(expected, abs=0.02)
    assert integrated_loudness_lufs(padded(10.0), SR) == pytest.approx(expected, abs=0.02)


def test_everything_gated_gives_none():
    assert integrated_loudness_lufs(np.zeros((SR, 2)), SR) is None
    assert integrated_loudness_lufs(stereo((-80.0, 2.0)), SR) is None
    assert integrated_loudness_lufs(stereo((-20.0, 0.3)), SR) is None  # shorter than one block


def test_mono_is_one_channel_weight_one():
    y = sine(-23.0, 5.0)
    # BS.1770: a mono signal is one channel; the same sine on two channels is 3 dB louder
    assert integrated_loudness_lufs(y, SR) == pytest.approx(-26.01, abs=0.1)
    assert integrated_loudness_lufs(np.stack([y, y], 1), SR) == pytest.approx(-23.0, abs=0.1)


def test_44k1_rate_uses_derived_filter():
    assert integrated_loudness_lufs(stereo((-23.0, 10.0), sr=44_100), 44_100) == pytest.approx(-23.0, abs=0.1)


def test_block_loudness_times_counts_and_silent_blocks():
    x = stereo((-23.0, 2.0))
    x[: SR] = 0.0  # first second digitally silent
    w = k_weight(x, SR)
    t, lk = block_loudness_lkfs(w, SR, 0.4, 0.1)
    # complete 400 ms blocks every 100 ms in 2 s: 17, ending at 0.4 ... 2.0 s
    assert len(t) == 17 and t[0] == pytest.approx(0.4) and t[-1] == pytest.approx(2.0)
    assert np.all(np.isneginf(lk[t <= 1.0]))  # silent blocks are -inf, not a huge negative
    assert lk[-1] == pytest.approx(-23.0, abs=0.1)
    # block length not a multiple of the hop still works (gcd path)
    t2, lk2 = block_loudness_lkfs(w, SR, 0.25, 0.1)
    assert t2[0] == pytest.approx(0.25) and lk2[-1] == pytest.approx(-23.0, abs=0.1)


def test_short_term_report_hop():
    x = stereo((-23.0, 12.0))
    t, s = short_term_lufs(x, SR, hop_s=1.0)
    np.testing.assert_allclose(t, np.arange(3.0, 12.01, 1.0))
    with pytest.raises(InvalidArgumentError):
        short_term_lufs(x, SR, hop_s=0.25)


# --- cross-check with pyloudnorm ---------------------------------------------------------------------


def _music_like(seconds: float = 8.0, sr: int = SR) -> np.ndarray:
    """Kick-like decaying bursts, a bass line, a chord pad and hi-hat noise, with a quieter
    second half: a crude mix whose loudness varies."""
    rng = np.random.default_rng(3)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    beat = (t % 0.5)
    kick = np.sin(2 * np.pi * (50 + 80 * np.exp(-beat * 30)) * beat) * np.exp(-beat * 8)
    bass = 0.3 * np.sin(2 * np.pi * np.where(t % 2 < 1, 55.0, 73.4) * t)
    pad = 0.1 * sum(np.sin(2 * np.pi * f * t + k) for k, f in enumerate((220.0, 277.2, 329.6, 440.0)))
    hats = 0.05 * rng.standard_normal(n) * np.exp(-(t % 0.25) * 40)
    left = 0.4 * kick + bass + pad + hats
    right = 0.4 * kick + bass + 0.8 * pad + np.roll(hats, 100)
    x = np.stack([left, right], 1) * np.where(t < seconds / 2, 1.0, 0.3)[:, None]
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


@pytest.mark.parametrize("kind", ["noise", "music"])
def test_agrees_with_pyloudnorm(kind):
    import pyloudnorm as pyln
    if kind == "noise":
        x = (0.05 * np.random.default_rng(5).standard_normal((SR * 6, 2))).astype(np.float32)
    else:
        x = _music_like()
    x64 = x.astype(np.float64)
    ours = integrated_loudness_lufs(x, SR)
    # pyloudnorm's default K filter is an RBJ-cookbook approximation of BS.1770's: within 0.05 LU
    assert ours == pytest.approx(pyln.Meter(SR).integrated_loudness(x64), abs=0.05)
    # its "DeMan" class is the standard's filter, as ours: the same number
    assert ours == pytest.approx(pyln.Meter(SR, filter_class="DeMan").integrated_loudness(x64), abs=0.005)


# --- platforms, PLR, the result model -----------------------------------------------------------------


def test_platform_table():
    expected = {"spotify": (-14, -1), "apple_music": (-16, -1), "youtube": (-14, -1),
                "amazon_music": (-14, -2), "deezer": (-15, -1), "ebu_r128": (-23, -1)}
    for key, (target, ceiling) in expected.items():
        assert (PLATFORM_TARGETS[key].target_lufs, PLATFORM_TARGETS[key].ceiling_dbtp) == (target, ceiling)
    assert PLATFORM_TARGETS["ebu_r128"].tolerance_lu == 1.0


def test_platform_delta_loud_track_is_turned_down():
    d = platform_delta(PLATFORM_TARGETS["spotify"], -9.0, 0.5)
    assert d.delta_lu == 5.0 and d.gain_change_db == -5.0
    assert d.peak_after_normalisation_dbtp == -4.5 and d.headroom_after_normalisation_db == 3.5
    assert d.true_peak_over_ceiling


def test_platform_delta_quiet_track_up_only_where_the_platform_does_it():
    spotify = platform_delta(PLATFORM_TARGETS["spotify"], -18.0, -6.0)
    assert spotify.delta_lu == -4.0 and spotify.gain_change_db == 4.0  # peak allows the full 4 dB
    limited = platform_delta(PLATFORM_TARGETS["spotify"], -18.0, -3.0)
    assert limited.gain_change_db == 2.0 and limited.peak_after_normalisation_dbtp == -1.0
    youtube = platform_delta(PLATFORM_TARGETS["youtube"], -18.0, -6.0)
    assert youtube.gain_change_db == 0.0 and not youtube.true_peak_over_ceiling
    broadcast = platform_delta(PLATFORM_TARGETS["ebu_r128"], -18.0, -6.0)
    assert broadcast.delta_lu == 5.0 and broadcast.gain_change_db == -5.0
    amazon = platform_delta(PLATFORM_TARGETS["amazon_music"], -14.0, -1.5)
    assert amazon.true_peak_over_ceiling  # Amazon's ceiling is -2 dBTP


def test_measure_loudness_fields_plr_crest_and_platforms():
    x = stereo((-20.0, 10.0))
    res = measure_loudness(x, SR, platform="spotify")
    assert isinstance(res, LoudnessResult)
    assert res.integrated_lufs == pytest.approx(-20.0, abs=0.1)
    assert res.true_peak_dbtp == pytest.approx(-20.0, abs=0.05)
    assert res.plr_db == pytest.approx(res.true_peak_dbtp - res.integrated_lufs, abs=0.011)
    assert res.crest_factor_db == pytest.approx(3.01, abs=0.02)
    assert res.loudness_range_lu == pytest.approx(0.0, abs=0.05)
    assert len(res.short_term_times_s) == len(res.short_term_lufs) == 8  # 3 s ... 10 s
    spotify = next(p for p in res.platforms if p.name == "spotify")
    assert spotify.delta_lu == pytest.approx(-6.0, abs=0.1)
    assert {p.name for p in res.platforms} == set(PLATFORM_TARGETS)
    assert "Spotify" in res.verdict and "turn it up" in res.verdict
    yt = measure_loudness(x, SR, platform="youtube")
    assert "YouTube does not turn quiet tracks up" in yt.verdict


def test_short_term_series_is_compact_for_a_long_file():
    x = (0.1 * np.random.default_rng(2).standard_normal((SR * 60, 2))).astype(np.float32)
    res = measure_loudness(x, SR)
    assert len(res.short_term_lufs) <= 2 * 60




@pytest.mark.parametrize("level,platform", [(-9.0, None), (-18.0, None), (-9.0, "apple_music"),
                                            (-18.0, "spotify"), (-23.4, "ebu_r128"), (-20.0, "youtube")])
def test_every_number_in_the_verdict_is_a_field(level, platform):
    x = stereo((level, 6.0), (level - 8.0, 4.0))
    res = measure_loudness(np.clip(x * 1.0, -1, 1), SR, platform=platform)
    fields = [abs(v) for v in scalar_values(res.model_dump(exclude={"verdict"}))]
    for num in (n.value for n in read_numbers(res.verdict)):
        assert any(abs(abs(num) - f) <= 0.051 for f in fields), (num, res.verdict)


def test_silence_serialises_to_strict_json():
    res = measure_loudness(np.zeros((SR * 4, 2), np.float32), SR, platform="spotify")
    assert res.integrated_lufs is None and res.loudness_range_lu is None
    assert res.true_peak_dbtp == -200.0 and res.short_term_lufs == [None, None]
    text = res.model_dump_json()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert "digital silence" in res.verdict


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("samples,sr", [
    (np.zeros(0), SR),
    (np.zeros((0, 2)), SR),
    (np.array([0.1, np.nan, 0.2]), SR),
    (np.array([0.1, np.inf]), SR),
    (np.zeros((2, 48_000)), SR),  # (channels, n)
    (np.zeros((10, 2, 2)), SR),
    (np.zeros(1000, dtype=np.int16), SR),
    (np.zeros(1000), 0),
    (np.zeros(1000), -48_000),
    (np.zeros(1000), 44_100.5),
    (np.zeros(1000), 4_000),  # too low for the K filter
])
def test_bad_input_raises_invalid_argument(samples, sr):
    with pytest.raises(InvalidArgumentError):
        measure_loudness(samples, sr)


def test_bad_platform_and_block_arguments():
    with pytest.raises(InvalidArgumentError, match="unknown platform"):
        measure_loudness(np.zeros(SR), SR, platform="napster")
    with pytest.raises(InvalidArgumentError):
        block_loudness_lkfs(np.zeros(SR), SR, 0.0, 0.1)
    with pytest.raises(InvalidArgumentError):
        true_peak_dbtp(np.array([np.nan]), SR)


def test_quiet_track_already_at_the_ceiling_is_not_said_to_be_turned_up():
    # a crest-y signal: true peak at the -1 dBTP ceiling but integrated far below -14 LUFS
    rng = np.random.default_rng(3)
    x = 0.02 * rng.standard_normal((SR * 6, 2))
    x[SR, :] = 0.85  # one click sets the peak near -1.4 dBFS
    x = (x * 10 ** (-1.0 / 20) / np.abs(x).max()).astype(np.float32)
    res = measure_loudness(x, SR, platform="spotify")
    sp = next(p for p in res.platforms if p.name == "spotify")
    assert sp.gain_change_db is not None and sp.gain_change_db < 0.05
    assert "will not be turned up" in res.verdict and "turn it up 0.0" not in res.verdict
