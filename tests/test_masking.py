"""Known-answer tests for tools.measure.masking with band-limited noises."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from mixingbuddy.tools.errors import InvalidArgumentError
from mixingbuddy.tools.measure.masking import measure_masking

SR = 48_000


def band_noise(lo_hz: float, hi_hz: float, rms_db: float, seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(seconds * SR))
    y = sosfilt(butter(8, [lo_hz, hi_hz], btype="band", fs=SR, output="sos"), x)
    y *= 10 ** (rms_db / 20) / np.sqrt(np.mean(y ** 2))
    return y.astype(np.float32)


def pair(res, masker, target):
    return next(p for p in res.pairs if p.masker == masker and p.target == target)


def test_same_band_noises_mask_each_other_and_remedy_names_that_band():
    stems = {"keys": band_noise(900, 1100, -20, 6.0, 1), "vocals": band_noise(900, 1100, -20, 6.0, 2)}
    res = measure_masking(stems, SR)
    p = pair(res, "keys", "vocals")
    assert p.masked_pct > 60.0
    wb = p.worst_bands[0]
    assert 850 <= wb.centre_hz <= 1150 and wb.masked_pct > 60.0
    assert abs(wb.median_masker_minus_target_db) < 2.0  # equal levels
    assert f"{wb.centre_hz:.0f} Hz" in p.remedy and p.remedy_cut_hz == wb.centre_hz
    assert p.remedy.startswith("cut ") and "on keys" in p.remedy and "on vocals" in p.remedy
    assert 1.0 <= p.remedy_cut_min_db <= p.remedy_cut_max_db <= 6.0
    # the per-band list is aligned with the band centres; outside 0.8-1.3 kHz nothing is active
    for c, v in zip(res.band_centres_hz, p.per_band_masked_pct):
        if c < 700 or c > 1400:
            assert v is None
    assert len(res.pairs) == 2 and "keys -> vocals" in res.worst_pairs
    assert res.verdict.startswith("Worst masking:")


def test_disjoint_bands_do_not_mask():
    stems = {"bass": band_noise(100, 200, -20, 4.0, 3), "hats": band_noise(5000, 8000, -20, 4.0, 4)}
    res = measure_masking(stems, SR)
    for p in res.pairs:
        assert p.masked_pct < 2.0
    assert res.worst_pairs == [] and res.verdict.startswith("Little masking")


def test_level_difference_decides_masking():
    target = band_noise(1800, 2200, -20, 4.0, 5)
    loud = measure_masking({"m": band_noise(1800, 2200, -5, 4.0, 6), "t": target}, SR)
    quiet = measure_masking({"m": band_noise(1800, 2200, -35, 4.0, 6), "t": target}, SR)
    assert pair(loud, "m", "t").masked_pct > 98.0
    assert pair(quiet, "m", "t").masked_pct < 2.0
    # the remedy is sized from the median excess: about 15 dB + 3 dB, capped at 6 dB
    assert pair(loud, "m", "t").remedy_cut_max_db == 6.0
    assert pair(loud, "m", "t").worst_bands[0].median_masker_minus_target_db == pytest.approx(15.0, abs=1.5)
    # and the loud masker is not masked by the quiet target
    assert pair(loud, "t", "m").masked_pct < 2.0


def test_threshold_changes_the_answer():
    a, b = band_noise(900, 1100, -20, 4.0, 7), band_noise(900, 1100, -26, 4.0, 8)
    strict = measure_masking({"a": a, "b": b}, SR, threshold_db=0.0)
    loose = measure_masking({"a": a, "b": b}, SR, threshold_db=10.0)
    assert pair(strict, "b", "a").masked_pct < pair(loose, "b", "a").masked_pct
    assert pair(loose, "b", "a").masked_pct > 80.0


def test_worst_time_range_is_where_the_masker_plays():
    target = band_noise(900, 1100, -20, 8.0, 9)
    masker = band_noise(900, 1100, -14, 8.0, 10)
    masker[: 2 * SR] = 0.0
    masker[5 * SR:] = 0.0
    res = measure_masking({"guitar": masker, "vocals": target}, SR)
    p = pair(res, "guitar", "vocals")
    r0 = p.worst_ranges[0]
    assert r0.start_s == pytest.approx(2.0, abs=0.15) and r0.end_s == pytest.approx(5.0, abs=0.15)
    assert len(p.worst_ranges) == 1 and r0.masked_pct > 90.0
    assert p.masked_pct == pytest.approx(3 / 8 * 100, abs=6.0)


def test_silent_target_and_stereo_input():
    noise = band_noise(300, 3000, -20, 3.0, 11)
    stems = {"synth": np.column_stack([noise, noise]), "vocals": np.zeros((3 * SR, 2), np.float32),
             "pad": band_noise(300, 3000, -22, 3.0, 12)}
    res = measure_masking(stems, SR)
    assert res.silent_stems == ["vocals"]
    p = pair(res, "synth", "vocals")
    assert p.masked_pct is None and p.remedy is None and "silent" in p.verdict
    assert pair(res, "vocals", "synth").masked_pct == 0.0
    assert len(res.pairs) == 6 and res.pairs[-1].masked_pct is None  # ranked last


@pytest.mark.parametrize("stems, kwargs, msg", [
    ({"a": np.zeros(SR, np.float32)}, {}, "at least two stems"),
    ({"a": np.zeros(SR, np.float32), "b": np.full(SR, np.nan, np.float32)}, {}, "NaN"),
    ({"a": np.zeros(SR, np.float32), "b": np.zeros(SR, np.float32)}, {"threshold_db": -1.0}, "threshold_db"),
    ({"a": np.zeros(SR, np.float32), "b": np.zeros(SR // 2 - 1, np.float32)}, {}, "differ in length"),
    ({"a": np.zeros(100, np.float32), "b": np.zeros(100, np.float32)}, {}, "at least"),
])
def test_bad_input_raises(stems, kwargs, msg):
    with pytest.raises(InvalidArgumentError, match=msg):
        measure_masking(stems, SR, **kwargs)


def test_batched_band_levels_equal_one_transform_of_the_whole_signal():
    """_stft_band_db transforms frames in batches; every level equals the one-shot computation."""
    import scipy.fft
    from numpy.lib.stride_tricks import sliding_window_view

    from mixingbuddy.tools.measure import masking
    from mixingbuddy.tools.measure.bands import band_matrix, erb_bands_hz

    x = band_noise(200, 5000, -20, 3.3, 4)
    n_fft, hop = 4096, 2048
    _, lo, hi = erb_bands_hz(36, 50.0, 16000.0)
    w = band_matrix(lo, hi, SR, n_fft).astype(np.float32)
    win = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    spec = scipy.fft.rfft(sliding_window_view(x, n_fft)[::hop] * win, axis=1, workers=2)
    scale = np.float32(2.0 / (n_fft * float(np.sum(win.astype(np.float64) ** 2))))
    ref = 10.0 * np.log10(np.maximum(((spec.real ** 2 + spec.imag ** 2) @ w.T) * scale, 1e-20))
    assert np.array_equal(masking._stft_band_db(x, n_fft, hop, w), ref)


def test_clip_levels_in_chunks_equal_the_whole_signal_formula():
    """measure_clip_levels sums squares chunk by chunk (no whole-song float64 copies); the levels
    equal 10 log10(mean(x^2)) of the stems, rests and mix built whole, to the 4 decimals kept."""
    from mixingbuddy.tools.measure.clip_levels import measure_clip_levels, rms_dbfs

    rng = np.random.default_rng(9)
    n = (1 << 16) * 2 + 777  # two whole chunks and a partial one
    stems = {"vocals": rng.standard_normal((n, 2)).astype(np.float32) * 0.1,
             "drums": rng.standard_normal((n, 2)).astype(np.float32) * 0.3,
             "bass": rng.standard_normal(n).astype(np.float32) * 0.05}  # mono: duplicated
    out = measure_clip_levels(stems, "drums")
    full = {s: np.repeat(x[:, None], 2, axis=1) if x.ndim == 1 else x for s, x in stems.items()}
    full = {s: x.astype(np.float64) for s, x in full.items()}
    mix = sum(full.values())
    for s, x in full.items():
        own = rms_dbfs(x)
        assert out[s]["rms_dbfs"] == round(own, 4)
        assert out[s]["vs_rest_db"] == round(own - rms_dbfs(mix - x), 4)
        assert out[s]["vs_mix_db"] == round(own - rms_dbfs(mix), 4)
        assert out[s]["vs_anchor_db"] == round(own - rms_dbfs(full["drums"]), 4)
    assert out["other"] == {"rms_dbfs": None, "vs_rest_db": None, "vs_mix_db": None, "vs_anchor_db": None}
