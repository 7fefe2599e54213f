"""Bandwidth: a lossy or low-passed source is detected, said, and gets no advice from its empty bands."""
from __future__ import annotations

import re

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from mixingbuddy.agent.findings import standing_findings
from mixingbuddy.model.data.demo_song import SongConfig, render_song
from mixingbuddy.tools.errors import InvalidArgumentError
from mixingbuddy.tools.io.audio import Audio
from mixingbuddy.tools.measure.analyze import analyze
from mixingbuddy.tools.measure.bandwidth import measure_bandwidth

SR = 48_000


def _noise(seconds: float = 8.0) -> np.ndarray:
    return (0.1 * np.random.default_rng(1).standard_normal((int(SR * seconds), 2))).astype(np.float32)


def test_a_brick_wall_low_pass_is_found_and_a_gentle_roll_off_is_not():
    w = _noise()
    full = measure_bandwidth(w, SR)
    assert not full.band_limited and full.cutoff_hz > 22_000
    lp = measure_bandwidth(sosfilt(butter(16, 16_000, fs=SR, output="sos"), w, axis=0), SR)
    assert lp.band_limited and 15_500 < lp.cutoff_hz < 18_500 and lp.cliff_db >= 20
    assert "lossy or low-passed" in lp.verdict
    dull = measure_bandwidth(sosfilt(butter(2, 3_000, fs=SR, output="sos"), w, axis=0), SR)
    assert not dull.band_limited  # 12 dB/octave: music rolls off, it does not stop


def test_long_files_read_in_chunks_give_the_same_edge():
    w = sosfilt(butter(16, 14_000, fs=SR, output="sos"), _noise(90.0), axis=0)
    assert measure_bandwidth(w, SR).cutoff_hz == pytest.approx(measure_bandwidth(w[: SR * 30], SR).cutoff_hz, abs=300)


def test_bad_input_is_refused():
    with pytest.raises(InvalidArgumentError):
        measure_bandwidth(np.full((SR, 2), np.nan, np.float32), SR)


def test_a_low_passed_mix_is_said_and_not_told_to_boost_its_empty_top():
    mix, _ = render_song(SongConfig(duration_s=20, seed=2))
    x = sosfilt(butter(16, 12_000, fs=44_100, output="sos"), mix, axis=0).astype(np.float32)
    rep = analyze(Audio(x, 44_100, "mix.mp3"))
    assert rep.bandwidth is not None and rep.bandwidth.band_limited
    found = standing_findings(rep, "spotify")
    bw = next(f for f in found if f.id == "bandwidth")
    assert "lossy" in bw.detail and "WAV or FLAC" in bw.action
    advice = " ".join(f"{f.detail} {f.action or ''}" for f in found if f.id != "bandwidth")
    assert not re.search(r"Boost[^.]*(?:10-20 kHz|12\.5|16 kHz|20 kHz)", advice), advice
    assert not any(f.id in ("spectrum:air", "spectrum:brilliance") for f in found)
