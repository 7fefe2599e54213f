"""Flaw injection: chunking, activity gate, gains, mixdown, levels, labels, augmentation."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from mixingbuddy.model.data import flaws as fl
from mixingbuddy.model.data.templates import CATEGORIES, GAIN_RANGES_DB, STEMS
from mixingbuddy.tools.measure.stem_balance import load_balance_reference

SR = 8000


def _tone(f, dur, amp, sr=SR, phase=0.0):
    t = np.arange(int(dur * sr)) / sr
    x = amp * np.sin(2 * np.pi * f * t + phase)
    return np.stack([x, 0.8 * x], axis=1).astype(np.float32)


def _chunk(dur=2.0, seed=0):
    rng = np.random.default_rng(seed)
    n = int(dur * SR)
    drums = (rng.standard_normal((n, 2)) * 0.05).astype(np.float32)
    return {"bass": _tone(55, dur, 0.3), "drums": drums, "vocals": _tone(330, dur, 0.1, phase=1.0),
            "other": _tone(523, dur, 0.05, phase=2.0)}


def test_chunk_bounds():
    assert fl.chunk_bounds(int(6.8 * SR), SR, 10.0) == [(0, int(6.8 * SR))]  # used whole
    b = fl.chunk_bounds(int(25.5 * SR), SR, 10.0)
    assert b == [(0, 10 * SR), (10 * SR, 20 * SR)]  # tail shorter than a chunk dropped
    assert fl.chunk_bounds(int(0.5 * SR), SR, 10.0) == []  # below min_song_s


def test_activity_gate_matches_reference_definition():
    x = _tone(200, 2.0, 0.1)
    assert fl.active_ratio(x, SR) == 1.0
    y = x.copy()
    y[: len(y) // 2 + SR // 20] = 0  # a bit more than half silent
    assert fl.active_ratio(y, SR) < 0.5 and not fl.is_active(y, SR)
    z = x.copy()
    z[: len(z) // 2 - SR // 20] = 0  # a bit less than half silent
    assert fl.is_active(z, SR)
    quiet = _tone(200, 2.0, 10 ** (-55 / 20) * np.sqrt(2))  # RMS (mean of channels) below -50 dBFS
    assert fl.active_ratio(quiet, SR) == 0.0


def test_category_sequence_is_balanced():
    rng = np.random.default_rng(3)
    seq = fl.category_sequence(100, rng)
    assert Counter(seq) == {c: 20 for c in CATEGORIES}
    for i in range(0, 100, 5):
        assert sorted(seq[i:i + 5]) == sorted(CATEGORIES)
    assert len({tuple(seq[i:i + 5]) for i in range(0, 100, 5)}) > 1  # shuffled, not fixed


def test_gains_inside_ranges():
    rng = np.random.default_rng(0)
    for c in CATEGORIES:
        lo, hi = GAIN_RANGES_DB[c]
        g = [fl.draw_gain_db(c, rng) for _ in range(300)]
        assert min(g) >= lo and max(g) <= hi
        if lo != hi:
            assert max(g) - min(g) > 0.8 * (hi - lo)  # spread over the range
        else:
            assert set(g) == {0.0}


def test_target_and_anchor():
    rng = np.random.default_rng(1)
    order = fl.target_order(["bass", "drums", "vocals"], rng)
    targets = []
    for k in range(30):
        t, a = fl.choose_pair(order, k, rng)
        assert t != a and t in STEMS and a in STEMS
        targets.append(t)
    assert Counter(targets) == {"bass": 10, "drums": 10, "vocals": 10}
    t, a = fl.choose_pair(["vocals", "drums"], 0, rng)
    assert {t, a} == {"vocals", "drums"}
    with pytest.raises(ValueError):
        fl.choose_pair(["vocals"], 0, rng)
    with pytest.raises(ValueError):
        fl.choose_pair(["vocals", "other"], 0, rng)


def test_measure_levels_arithmetic():
    x = _tone(100, 1.0, 0.2)
    lv = fl.measure_levels({"bass": x, "drums": x.copy(), "vocals": 0.5 * x}, anchor="drums")
    # identical bass and drums: bass vs rest = bass - (drums + 0.5 bass) = -20 log10(1.5)
    assert lv["bass"]["vs_rest_db"] == pytest.approx(-20 * np.log10(1.5), abs=1e-3)
    assert lv["bass"]["vs_mix_db"] == pytest.approx(-20 * np.log10(2.5), abs=1e-3)
    assert lv["vocals"]["vs_anchor_db"] == pytest.approx(20 * np.log10(0.5), abs=1e-3)
    assert lv["drums"]["vs_anchor_db"] == 0.0
    assert lv["other"]["rms_dbfs"] is None and lv["other"]["vs_rest_db"] is None
    rms = np.sqrt(np.mean(x.astype(np.float64) ** 2))
    assert lv["bass"]["rms_dbfs"] == pytest.approx(20 * np.log10(rms), abs=1e-3)


def test_flaw_moves_target_by_the_gain_and_peak_is_limited():
    chunk = _chunk()
    rng = np.random.default_rng(5)
    for category, target, anchor in [("very_loud", "vocals", "bass"), ("very_quiet", "bass", "drums"),
                                     ("loud", "drums", "vocals"), ("quiet", "vocals", "drums")]:
        s = fl.make_sample(chunk, SR, category, target, anchor, rng, augment=False)
        lo, hi = GAIN_RANGES_DB[category]
        assert lo <= s.gain_db <= hi and s.published["gain_db"] == pytest.approx(s.gain_db, abs=1e-3)
        moved = s.true_levels[target]["vs_anchor_db"] - s.original_levels[target]["vs_anchor_db"]
        assert moved == pytest.approx(s.gain_db, abs=0.1)
        for other in ("bass", "drums", "vocals", "other"):
            if other != target:
                assert s.true_levels[other]["vs_anchor_db"] == pytest.approx(
                    s.original_levels[other]["vs_anchor_db"], abs=1e-3)
        assert np.max(np.abs(s.mix)) <= 10 ** (-1 / 20) + 1e-6
        assert s.published["direction"] == ("increase" if "quiet" in category else "decrease")
        assert s.published["target"] == target and s.anchor == anchor
        assert s.augment is None
    s = fl.make_sample(chunk, SR, "no_error", "bass", "vocals", rng, augment=False)
    assert s.gain_db == 0.0 and s.target is None and s.published["direction"] is None
    assert s.published["correction_range_db"] is None
    assert s.true_levels == s.original_levels


def test_norm_labels_on_constructed_levels():
    ref = load_balance_reference("all")["vs_rest"]
    lv = {"bass": {"vs_rest_db": ref["bass"]["p10_db"] - 4.0},
          "drums": {"vs_rest_db": ref["drums"]["p50_db"]},
          "vocals": {"vs_rest_db": ref["vocals"]["p90_db"] + 1.5}}
    out = fl.norm_labels(lv)
    assert out["label"] == "bass" and out["direction"] == "too_quiet"
    assert out["distance_db"] == pytest.approx(4.0, abs=1e-3)
    assert out["per_stem"]["vocals"]["status"] == "too_loud"
    assert out["per_stem"]["vocals"]["distance_db"] == pytest.approx(1.5, abs=1e-3)
    assert out["per_stem"]["drums"]["status"] == "within_range" and out["per_stem"]["drums"]["distance_db"] == 0
    lv["vocals"]["vs_rest_db"] = ref["vocals"]["p90_db"] + 6.0
    out = fl.norm_labels(lv)
    assert out["label"] == "vocals" and out["direction"] == "too_loud"
    balanced = {s: {"vs_rest_db": ref[s]["p50_db"]} for s in STEMS}
    out = fl.norm_labels(balanced)
    assert out["label"] == "balanced" and out["direction"] is None and out["distance_db"] == 0.0
    # stems without a level (silent, or not active) are left out
    out = fl.norm_labels({"bass": {"vs_rest_db": None}, "drums": {"vs_rest_db": 0.0}}, stems=["bass", "drums"])
    assert set(out["per_stem"]) == {"drums"} and out["label"] == "drums"


def test_augmentation_ranges_and_determinism():
    mix = _tone(200, 1.0, 0.3)
    y1, a1 = fl.augment_mix(mix, np.random.default_rng(9))
    y2, a2 = fl.augment_mix(mix, np.random.default_rng(9))
    assert np.array_equal(y1, y2) and a1 == a2
    assert -3.0 <= a1["gain_db"] <= 3.0 and -0.005 <= a1["dc_offset"] <= 0.005
    assert -70.0 <= a1["noise_dbfs"] <= -50.0
    assert np.mean(y1) == pytest.approx(a1["dc_offset"], abs=5e-4)
    g = 10 ** (a1["gain_db"] / 20)
    resid = y1 - mix * g - a1["dc_offset"]
    assert 20 * np.log10(np.sqrt(np.mean(resid.astype(np.float64) ** 2))) == pytest.approx(a1["noise_dbfs"], abs=0.5)
    draws = [fl.augment_mix(mix, np.random.default_rng(i))[1] for i in range(200)]
    assert max(d["gain_db"] for d in draws) > 2.5 and min(d["gain_db"] for d in draws) < -2.5
