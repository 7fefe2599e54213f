"""Loudness-matched reference comparison with known answers."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from mixingbuddy.tools.errors import InvalidArgumentError
from mixingbuddy.tools.measure.reference_compare import compare_to_reference

SR = 48_000


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    rng = np.random.default_rng(1)
    return (0.05 * rng.standard_normal((8 * SR, 2))).astype(np.float32)


def test_same_music_at_another_level_differs_only_in_loudness(noise):
    res = compare_to_reference(noise, noise * 10 ** (-6 / 20), SR)
    assert res.loudness_delta_lu == pytest.approx(6.0, abs=0.05)
    assert res.matched_gain_db == pytest.approx(6.0, abs=0.05)
    assert all(abs(b.difference_db) < 0.05 for b in res.bands)
    assert all(abs(g.difference_db) < 0.05 for g in res.regions)
    assert res.crest_factor_delta_db == pytest.approx(0.0, abs=0.01)
    assert "6.0 LU louder" in res.verdict


def test_a_low_mid_boost_shows_in_that_region_only(noise):
    sos = signal.butter(4, [280, 450], "bandpass", fs=SR, output="sos")
    boosted = noise + 1.5 * signal.sosfilt(sos, noise, axis=0).astype(np.float32)
    res = compare_to_reference(boosted, noise, SR)
    regions = {g.region: g.difference_db for g in res.regions}
    assert regions["low_mid"] > 3.0  # boosted by up to +8 dB in 280-450 Hz
    assert max(abs(v) for k, v in regions.items() if k != "low_mid") < 1.5
    assert "low-mids" in res.verdict


def test_width_and_mono_reference(noise):
    mono_ref = noise[:, :1]
    res = compare_to_reference(noise, mono_ref, SR)
    assert res.reference_width_ratio == 0.0
    assert res.mix_width_ratio > 0.9  # two unrelated channels
    assert res.width_delta_ratio > 0.9


def test_silent_reference_is_refused(noise):
    with pytest.raises(InvalidArgumentError, match="reference is too quiet"):
        compare_to_reference(noise, np.zeros_like(noise), SR)
