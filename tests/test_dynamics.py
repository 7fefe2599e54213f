"""Known-answer tests for tools/measure/dynamics.py: crest factor, PSR, clipping runs, DC offset."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mixingbuddy.agent.grounding import read_numbers, scalar_values
from mixingbuddy.tools.errors import InvalidArgumentError
from mixingbuddy.tools.measure.dynamics import (
    ClippingResult,
    DynamicsResult,
    clipping_runs,
    crest_factor_db,
    dc_offset,
    measure_dynamics,
    psr_db,
)
from mixingbuddy.tools.measure.loudness import measure_loudness

SR = 48_000


def sine(amplitude: float, seconds: float, freq: float = 1000.0, sr: int = SR) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return amplitude * np.sin(2 * np.pi * freq * t)


def stereo(y: np.ndarray) -> np.ndarray:
    return np.stack([y, y], axis=1).astype(np.float32)


# --- crest factor, PSR ------------------------------------------------------------------------


def test_crest_factor_of_sine_square_and_silence():
    assert crest_factor_db(sine(0.5, 1.0)) == pytest.approx(10 * math.log10(2), abs=0.01)  # 3.01 dB
    square = np.sign(sine(0.7, 1.0, freq=100.0))
    square[square == 0] = 1.0
    assert crest_factor_db(0.7 * square) == pytest.approx(0.0, abs=1e-6)
    assert crest_factor_db(np.zeros((100, 2))) is None


def test_crest_factor_pools_channels():
    # left: sine at 1.0 (mean square 0.5); right: silence -> pooled mean square 0.25 -> 6.02 dB
    x = np.stack([sine(1.0, 1.0), np.zeros(SR)], axis=1)
    assert crest_factor_db(x) == pytest.approx(10 * math.log10(4), abs=0.01)


def test_psr_of_mono_sine_is_the_channel_count_offset():
    # mono 1 kHz sine at -20 dBFS: true peak -20 dBTP, short-term -23.01 LUFS (one channel)
    y = sine(10 ** (-20 / 20), 5.0)
    assert psr_db(y, SR) == pytest.approx(3.01, abs=0.1)
    # stereo: both channels count, short-term -20 LUFS, PSR about 0
    assert psr_db(stereo(y), SR) == pytest.approx(0.0, abs=0.1)


def test_psr_uses_given_values_and_none_when_too_short():
    y = stereo(sine(0.1, 5.0))
    assert psr_db(y, SR, true_peak_dbtp=-1.0, max_short_term_lufs=-9.0) == pytest.approx(8.0)
    assert psr_db(stereo(sine(0.1, 2.0)), SR) is None


# --- clipping --------------------------------------------------------------------------------------


def clipped_sine(seconds: float = 1.0, drive: float = 1.5, freq: float = 100.0) -> np.ndarray:
    return np.clip(sine(drive, seconds, freq=freq), -1.0, 1.0)


def test_clipped_sine_runs_counted():
    # 100 Hz sine driven 1.5x into +-1: each half period has one flat top where
    # |sin| >= 1/1.5, i.e. 96.4 of 360 degrees of the 480-sample period: about 128.5 samples
    res = clipping_runs(clipped_sine(), SR)
    assert isinstance(res, ClippingResult)
    assert res.mode == "full_scale"
    assert res.runs == 200  # 100 periods x 2 half periods
    flat = 480 * (2 * math.degrees(math.acos(1 / 1.5))) / 360
    assert flat - 1.5 <= res.longest_run_samples <= flat + 1.5
    assert res.clipped_samples == pytest.approx(200 * flat, rel=0.01)
    assert res.clipped_pct == pytest.approx(100 * 200 * flat / SR, rel=0.01)
    assert len(res.worst_runs) == 10
    assert "Clipping at full scale" in res.verdict


def test_clean_full_scale_sine_is_not_clipped():
    # 1 kHz at exactly full scale: at most one sample per crest lies within 0.1 % of it
    assert clipping_runs(sine(1.0, 1.0), SR).runs == 0
    res = clipping_runs(stereo(sine(0.8, 1.0, freq=50.0)), SR)  # below full scale: flat-top rule
    assert res.mode == "flat_top" and res.runs == 0
    assert res.verdict.startswith("No clipping")


def test_clipped_then_turned_down_is_found_as_flat_tops():
    x = stereo(0.5 * clipped_sine())
    res = clipping_runs(x, SR)
    assert res.mode == "flat_top"
    assert res.level_dbfs == pytest.approx(20 * math.log10(0.5), abs=0.01)
    assert res.runs == 400  # 200 per channel


def test_single_run_time_length_and_channel():
    y = sine(0.5, 2.0)
    x = np.stack([y, y], axis=1)
    start = int(1.25 * SR)
    x[start: start + 20, 1] = 1.0  # 20 samples stuck at full scale on the right
    x[SR // 2: SR // 2 + 2, 0] = 1.0  # 2 samples: shorter than min_run
    res = clipping_runs(x, SR)
    assert res.runs == 1 and res.clipped_samples == 20 and res.longest_run_samples == 20
    run = res.worst_runs[0]
    assert run.channel == 1 and run.start_s == pytest.approx(1.25) and run.n_samples == 20
    assert run.duration_s == pytest.approx(20 / SR, abs=1e-5)
    assert "1.25 s on the right channel" in res.verdict
    assert clipping_runs(x, SR, min_run=2).runs == 2


def test_explicit_threshold_and_negative_side():
    y = sine(0.5, 1.0, freq=100.0)
    y = np.where(y > 0, 0.6 * y, np.maximum(y, -0.4))  # crests +0.3; troughs flattened at -0.4
    res = clipping_runs(y, SR, threshold=0.399)
    assert res.mode == "threshold" and res.runs == 100
    auto = clipping_runs(y, SR)  # the flat troughs are the file's maximum |x|
    assert auto.mode == "flat_top" and auto.runs == 100
    # flattened at -0.4 but with untouched +0.5 crests: the maximum is not flat, nothing found
    y2 = np.maximum(sine(0.5, 1.0, freq=100.0), -0.4)
    assert clipping_runs(y2, SR).runs == 0
    assert clipping_runs(y2, SR, threshold=0.399).runs == 200  # troughs and crests both reach it


def test_worst_runs_are_longest_first():
    x = np.zeros(SR)
    for k, length in enumerate([3, 9, 5, 9, 4]):
        x[1000 * (k + 1): 1000 * (k + 1) + length] = 1.0
    res = clipping_runs(x, SR)
    assert [w.n_samples for w in res.worst_runs] == [9, 9, 5, 4, 3]
    assert res.worst_runs[0].start_s < res.worst_runs[1].start_s  # ties: earliest first


# --- DC offset --------------------------------------------------------------------------------------


def test_dc_offset_flagged_per_channel():
    y = sine(0.5, 1.0)
    x = np.stack([y + 0.01, y + 0.0005], axis=1)
    res = dc_offset(x)
    left, right = res.channels
    assert left.offset_ratio == pytest.approx(0.01, abs=1e-5)
    assert left.offset_dbfs == pytest.approx(-40.0, abs=0.01) and left.flagged
    assert right.offset_ratio == pytest.approx(0.0005, abs=1e-5) and not right.flagged
    assert res.flagged and "left" in res.verdict and "right" not in res.verdict


def test_no_dc_on_clean_sine_and_negative_offset():
    assert not dc_offset(sine(0.9, 1.0)).flagged
    assert dc_offset(sine(0.9, 1.0) - 0.002).channels[0].offset_ratio == pytest.approx(-0.002, abs=1e-5)


# --- the measurement ---------------------------------------------------------------------------------


def test_measure_dynamics_reuses_loudness_and_agrees_without_it():
    y = np.concatenate([sine(0.2, 4.0), clipped_sine(4.0, drive=1.2)])
    x = stereo(y) + np.float32(0.003)
    loud = measure_loudness(x, SR)
    with_l = measure_dynamics(x, SR, loudness=loud)
    alone = measure_dynamics(x, SR)
    assert isinstance(with_l, DynamicsResult)
    assert with_l.psr_db == pytest.approx(alone.psr_db, abs=0.02)
    assert with_l.crest_factor_db == pytest.approx(alone.crest_factor_db, abs=0.02)
    assert with_l.psr_db == pytest.approx(with_l.true_peak_dbtp - with_l.max_short_term_lufs, abs=0.011)
    # 400 periods of 100 Hz in 4 s, 2 channels; the +0.003 offset lifts the lower flat tops to
    # -0.997, under the full-scale level: only the upper ones (at 1.003) count
    assert with_l.clipping.runs == 400 * 2
    assert with_l.dc.flagged
    assert "clipped runs" in with_l.verdict and "DC offset" in with_l.verdict
    json.loads(with_l.model_dump_json())




@pytest.mark.parametrize("case", ["clean", "clipped", "dc", "mono_short", "silent"])
def test_every_number_in_the_verdict_is_a_field(case):
    if case == "clean":
        x = stereo(sine(0.3, 5.0))
    elif case == "clipped":
        x = stereo(clipped_sine(5.0))
    elif case == "dc":
        x = stereo(sine(0.3, 5.0)) + np.float32(0.02)
    elif case == "mono_short":
        x = sine(0.3, 1.0)
    else:
        x = np.zeros((SR * 4, 2), np.float32)
    res = measure_dynamics(x, SR)
    fields = [abs(v) for v in scalar_values(res.model_dump(exclude={"verdict"}))]
    for num in (n.value for n in read_numbers(res.verdict)):
        assert any(abs(abs(num) - f) <= 0.0051 + 0.05 * (f != int(f)) for f in fields), (num, res.verdict)
    json.loads(res.model_dump_json())


@pytest.mark.parametrize("call", [
    lambda: crest_factor_db(np.zeros(0)),
    lambda: crest_factor_db(np.array([np.nan, 0.0])),
    lambda: clipping_runs(np.zeros(100), 0),
    lambda: clipping_runs(np.zeros(100), SR, min_run=0),
    lambda: clipping_runs(np.zeros(100), SR, threshold=-1.0),
    lambda: dc_offset(np.zeros((3, 3, 3))),
    lambda: psr_db(np.zeros(100), -1),
    lambda: measure_dynamics(np.zeros((2, 10_000)), SR),
])
def test_bad_input_raises_invalid_argument(call):
    with pytest.raises(InvalidArgumentError):
        call()


def _runs_by_brute_force(x: np.ndarray, level: float, min_run: int) -> list[tuple[int, int, int]]:
    """(channel, start, length) of every run of >= min_run samples with |x| >= level, sample by
    sample over the whole signal: what clipping_runs computed before it screened blocks."""
    out = []
    for c in range(x.shape[1]):
        hot = np.abs(x[:, c]) >= level
        d = np.diff(np.concatenate([[0], hot.astype(np.int8), [0]]))
        for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)):
            if b - a >= min_run:
                out.append((c, int(a), int(b - a)))
    return sorted(out, key=lambda t: (-t[2], t[1]))


@pytest.mark.parametrize("mode_threshold", [None, 0.8])
def test_clipping_block_screening_finds_the_same_runs(mode_threshold):
    """Runs that cross the 4096-frame screening blocks, sit in the partial last block, start
    at sample 0, or touch only one channel are all found, exactly as a sample-by-sample scan."""
    rng = np.random.default_rng(11)
    n = 4096 * 5 + 1234
    x = (rng.uniform(-0.5, 0.5, (n, 2))).astype(np.float32)
    for c, a, length, sign in ((0, 0, 4, 1), (1, 4093, 7, -1), (0, 8190, 3, 1), (1, 4096 * 5 + 100, 5, 1),
                               (0, n - 3, 3, -1), (1, 12_000, 2, 1), (0, 16_380, 30, -1)):
        x[a: a + length, c] = sign * 0.9
    res = clipping_runs(x, SR, threshold=mode_threshold)
    level = 0.9 * (1.0 - 1e-6) if mode_threshold is None else mode_threshold
    expected = _runs_by_brute_force(x, level, 3)
    assert res.runs == len(expected) == 6
    assert res.clipped_samples == sum(t[2] for t in expected)
    got = [(w.channel, w.start_s, w.n_samples) for w in res.worst_runs]
    assert got == [(c, round(a / SR, 3), length) for c, a, length in expected]
