"""Known-answer tests for tools.measure.stem_balance and the balance reference table.

Stems are independent white noises (uncorrelated, stationary), so every relative RMS level is
known from the construction to a few hundredths of a dB.
"""
from __future__ import annotations

import csv
import json
import math
from importlib import resources

import numpy as np
import pytest

from mixingbuddy.tools.data.build_balance_reference import build as build_reference
from mixingbuddy.tools.errors import InvalidArgumentError
from mixingbuddy.tools.measure.loudness import integrated_loudness_lufs
from mixingbuddy.tools.measure.stem_balance import (
    StemBalanceResult,
    load_balance_reference,
    measure_stem_balance,
    normalise_role,
)

SR = 48_000
REF = load_balance_reference("all")


def noise(seconds: float, rms_dbfs: float, seed: int, channels: int = 2) -> np.ndarray:
    """White noise with an exact pooled RMS of ``rms_dbfs``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((int(seconds * SR), channels))
    x *= 10 ** (rms_dbfs / 20) / np.sqrt(np.mean(x ** 2))
    x = x.astype(np.float32)
    return x[:, 0] if channels == 1 else x


def power_sum_db(*levels: float) -> float:
    return 10 * math.log10(sum(10 ** (v / 10) for v in levels))


def by_name(res: StemBalanceResult):
    return {s.name: s for s in res.stems}


def four(vocals_db: float, others_db: float = -20.0, seconds: float = 20.0) -> dict:
    return {"vocals": noise(seconds, vocals_db, 1), "drums": noise(seconds, others_db, 2),
            "bass": noise(seconds, others_db, 3), "other": noise(seconds, others_db, 4)}


def test_vocals_12_db_under_the_rest_is_too_quiet_by_the_right_distance():
    rest_db = power_sum_db(-20, -20, -20)  # -15.23 dBFS
    stems = four(vocals_db=rest_db - 12.0)
    res = measure_stem_balance(stems, SR)
    v = by_name(res)["vocals"]
    ref = REF["vs_rest"]["vocals"]
    assert v.level_vs_rest_power_sum_db == pytest.approx(-12.0, abs=0.05)
    assert v.level_vs_rest_db == pytest.approx(-12.0, abs=0.1)  # uncorrelated: same as power sum
    assert v.status == "too_quiet"
    assert v.distance_db == pytest.approx(ref["p10_db"] - (-12.0), abs=0.06)
    assert v.suggested_gain_db == pytest.approx(ref["p50_db"] + 12.0, abs=0.06)
    assert v.suggested_gain_min_db == pytest.approx(ref["p25_db"] + 12.0, abs=0.06)
    assert v.vs_rest.reference.p10_db == ref["p10_db"]
    assert "12.0 dB under the rest" in v.verdict and "raise them" in v.verdict
    assert f"{ref['p10_db']:.1f}" in v.verdict
    assert res.out_of_range == ["vocals"]
    assert "vocals too quiet" in res.verdict
    # the others stay in range (each is 4.8 dB under its rest here)
    assert all(s.status == "within_range" for s in res.stems if s.name != "vocals")


def test_level_vs_mix_and_lufs_match_construction_and_the_loudness_module():
    stems = four(vocals_db=-20.0, seconds=12.0)
    res = measure_stem_balance(stems, SR)
    v = by_name(res)["vocals"]
    # four equal uncorrelated stems: each is 10*log10(1/4) = -6.02 dB vs the mix
    assert v.level_vs_mix_db == pytest.approx(-6.02, abs=0.05)
    assert v.level_vs_rest_db == pytest.approx(-4.77, abs=0.05)
    assert v.rms_dbfs == pytest.approx(-20.0, abs=0.01)
    assert v.active_pct == 100.0
    assert v.integrated_lufs == pytest.approx(integrated_loudness_lufs(stems["vocals"], SR), abs=0.02)
    mix = sum(stems.values())
    assert res.mix_integrated_lufs == pytest.approx(integrated_loudness_lufs(mix, SR), abs=0.02)
    rest = mix - stems["vocals"]
    assert v.rest_integrated_lufs == pytest.approx(integrated_loudness_lufs(rest, SR), abs=0.02)
    assert v.short_term_median_lufs == pytest.approx(v.integrated_lufs, abs=0.1)


def test_balanced_construction_is_within_range_everywhere():
    res = measure_stem_balance(four(vocals_db=-20.0), SR)
    assert [s.status for s in res.stems] == ["within_range"] * 4
    assert all(s.distance_db == 0.0 for s in res.stems)
    assert res.out_of_range == []
    assert res.verdict.startswith("All 4 judged stems sit within")
    assert "no change needed" in by_name(res)["bass"].verdict


def test_too_loud_and_gain_is_clipped():
    rest_db = power_sum_db(-20, -20, -20)
    res = measure_stem_balance(four(vocals_db=rest_db + 10.0), SR)
    v = by_name(res)["vocals"]
    assert v.status == "too_loud"
    assert v.distance_db == pytest.approx(10.0 - REF["vs_rest"]["vocals"]["p90_db"], abs=0.06)
    assert v.suggested_gain_db == -12.0  # p50 - 10 is about -14.8, clipped
    assert "lower them" in v.verdict


def test_anchor_arithmetic_and_reference():
    stems = four(vocals_db=-14.0, others_db=-20.0, seconds=12.0)
    res = measure_stem_balance(stems, SR, anchor="drums")
    s = by_name(res)
    assert res.anchor == "drums"
    assert s["vocals"].level_vs_anchor_db == pytest.approx(6.0, abs=0.05)
    assert s["bass"].level_vs_anchor_db == pytest.approx(0.0, abs=0.05)
    assert s["drums"].is_anchor and s["drums"].vs_anchor is None
    assert "(the anchor)" in s["drums"].verdict
    ref = REF["vs_anchor"]["drums"]["vocals"]
    c = s["vocals"].vs_anchor
    assert c.reference.p50_db == ref["p50_db"]
    assert c.suggested_gain_db == pytest.approx(ref["p50_db"] - 6.0, abs=0.06)
    # anchor by role name in another spelling
    res2 = measure_stem_balance({"Lead Vocals": stems["vocals"], "Drums": stems["drums"]}, SR,
                                anchor="drums")
    assert res2.anchor == "Drums"


def test_anchor_not_among_stems_raises():
    with pytest.raises(InvalidArgumentError, match="anchor stem 'guitar' is not among"):
        measure_stem_balance(four(-20.0, seconds=2.0), SR, anchor="guitar")


def test_silent_stem_single_stem_and_unknown_role():
    stems = four(-20.0, seconds=12.0)
    stems["bass"] = np.zeros_like(stems["bass"])
    res = measure_stem_balance(stems, SR)
    b = by_name(res)["bass"]
    assert b.status == "silent" and b.integrated_lufs is None and b.active_pct == 0.0
    assert "silent" in b.verdict and "silent: bass" in res.verdict
    # the three others: each 3.01 dB under the sum of the other two
    assert by_name(res)["vocals"].level_vs_rest_db == pytest.approx(-3.01, abs=0.05)

    one = measure_stem_balance({"vocals": noise(3.0, -20, 5)}, SR)
    assert one.stems[0].status == "no_reference" and one.stems[0].level_vs_rest_db is None
    assert one.verdict.startswith("Only one stem")

    odd = measure_stem_balance({"vocals": noise(12.0, -20, 6), "guitar": noise(12.0, -23, 7)}, SR)
    g, v = by_name(odd)["guitar"], by_name(odd)["vocals"]
    assert g.role is None and g.status == "no_reference" and g.vs_rest.reference is None
    assert v.level_vs_rest_db == pytest.approx(3.0, abs=0.05)  # against the guitar
    assert v.status in ("too_loud", "within_range")


def test_mono_and_stereo_stems_mix():
    stems = four(-20.0, seconds=12.0)
    stereo_res = measure_stem_balance(stems, SR)
    mono_vocals = dict(stems, vocals=stems["vocals"][:, 0].copy())
    res = measure_stem_balance(mono_vocals, SR)
    v = by_name(res)["vocals"]
    # a mono stem is played on both channels: its pooled RMS is its channel RMS
    exp = 10 * np.log10(np.mean(stems["vocals"][:, 0].astype(np.float64) ** 2))
    assert v.rms_dbfs == pytest.approx(exp, abs=0.01)
    assert v.level_vs_rest_db == pytest.approx(by_name(stereo_res)["vocals"].level_vs_rest_db, abs=0.1)


def test_gate_uses_only_segments_where_the_stem_plays():
    # 20 s: vocals 6 dB under the rest in the first 10 s segment, silent in the second
    stems = four(vocals_db=-20.0, seconds=20.0)
    rest_db = power_sum_db(-20, -20, -20)
    v = noise(20.0, rest_db - 6.0, 9)
    v[10 * SR:] = 0.0
    stems["vocals"] = v
    res = measure_stem_balance(stems, SR)
    s = by_name(res)["vocals"]
    assert res.n_segments == 2 and s.active_segments == 1
    assert s.active_pct == pytest.approx(50.0, abs=0.5)
    assert s.level_vs_rest_db == pytest.approx(-6.0, abs=0.1)  # not diluted by the silence
    assert s.vs_rest.n_segments == 1


def test_correlated_stems_actual_sum_differs_from_power_sum():
    base = noise(12.0, -20.0, 11)
    stems = {"vocals": noise(12.0, -20.0, 12), "bass": base, "other": base.copy()}
    res = measure_stem_balance(stems, SR)
    v = by_name(res)["vocals"]
    # rest = 2 x the same signal: +6.02 dB in fact, +3.01 dB as a power sum
    assert v.level_vs_rest_db == pytest.approx(-6.02, abs=0.05)
    assert v.level_vs_rest_power_sum_db == pytest.approx(-3.01, abs=0.05)


@pytest.mark.parametrize("stems, sr, msg", [
    ({}, SR, "non-empty dict"),
    ({"vocals": np.zeros(1000, np.float32)}, 0, "positive integer"),
    ({"vocals": np.zeros((100, 2), np.float32)}, SR, "at least"),
    ({"vocals": np.zeros((SR, 2), np.float32), "bass": np.zeros((SR - 1, 2), np.float32)}, SR,
     "differ in length"),
    ({"vocals": np.zeros((2, SR), np.float32)}, SR, "shaped"),
    ({"vocals": np.zeros(SR, np.int16)}, SR, "float"),
    ({"vocals": np.full((SR, 2), np.nan, np.float32)}, SR, "NaN"),
])
def test_bad_input_raises_invalid_argument(stems, sr, msg):
    with pytest.raises(InvalidArgumentError, match=msg):
        measure_stem_balance(stems, sr)


def test_role_names():
    assert normalise_role("Vocals") == "vocals" and normalise_role("lead-vocals") == "vocals"
    assert normalise_role("Bass") == "bass" and normalise_role("guitar") is None


def test_packaged_reference_table_has_required_fields():
    text = resources.files("mixingbuddy.tools.data").joinpath("balance_reference.json").read_text()
    assert len(text.encode()) < 30_000
    table = json.loads(text)
    assert set(table["populations"]) == {"all", "train"}
    keys = {"p5_db", "p10_db", "p25_db", "p50_db", "p75_db", "p90_db", "p95_db", "mean_db", "sd_db",
            "n", "n_songs", "song_mean_sd_db"}
    for pop in ("all", "train"):
        p = load_balance_reference(pop)
        for stem in ("bass", "drums", "vocals", "other"):
            for q in (p["vs_mix"][stem], p["vs_rest"][stem]):
                assert keys <= set(q) and q["p10_db"] < q["p50_db"] < q["p90_db"]
            for anchor in ("bass", "drums", "vocals", "other"):
                if anchor != stem:
                    assert keys <= set(p["vs_anchor"][anchor][stem])
    allp = load_balance_reference("all")
    assert allp["vs_rest"]["vocals"]["n"] > 1000 and allp["n_songs"] >= 149
    # the README's figures (its population: all four stems active): vocals - drums p50 0.7,
    # vocals - mixture p50 -6.0; here each pair is gated on its own stems, so allow 0.3 dB
    assert allp["vs_anchor"]["drums"]["vocals"]["p50_db"] == pytest.approx(0.7, abs=0.3)
    assert allp["vs_mix"]["vocals"]["p50_db"] == pytest.approx(-6.0, abs=0.3)
    with pytest.raises(InvalidArgumentError):
        load_balance_reference("test")


def test_reference_builder_known_answers(tmp_path):
    """Three segments of two songs with hand-set levels."""
    path = tmp_path / "seg.csv"
    rows = []
    levels = [  # (split, track, start, {stem: (rms, active)})
        ("train", "A", 0, {"mixture": -10, "bass": -16, "drums": -16, "vocals": -16, "other": -16}),
        ("train", "A", 10, {"mixture": -10, "bass": -20, "drums": -16, "vocals": -14, "other": -16}),
        ("test", "B", 0, {"mixture": -10, "bass": -18, "drums": -16, "vocals": -12, "other": -16}),
    ]
    for split, track, start, st in levels:
        for stem, rms in st.items():
            act = 0.2 if (track == "B" and stem == "bass") else 1.0  # B's bass inactive
            rows.append([split, track, stem, f"{start:.3f}", f"{start + 10:.3f}", f"{rms:.3f}", act])
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["split", "track", "stem", "start_sec", "end_sec", "rms_dbfs", "active_frame_ratio"])
        w.writerows(rows)
    table = build_reference(str(path))
    allp, train = table["populations"]["all"], table["populations"]["train"]
    # vocals vs mix: -6, -4, -2 -> median -4 (B's bass does not matter here)
    assert allp["vs_mix"]["vocals"]["p50_db"] == -4.0 and allp["vs_mix"]["vocals"]["n"] == 3
    assert train["vs_mix"]["vocals"]["n"] == 2 and train["vs_mix"]["vocals"]["p50_db"] == -5.0
    # vocals vs rest needs all four active: only A's two segments
    r1 = -16 - power_sum_db(-16, -16, -16)
    r2 = -14 - power_sum_db(-20, -16, -16)
    assert allp["vs_rest"]["vocals"]["n"] == 2
    assert allp["vs_rest"]["vocals"]["p50_db"] == pytest.approx((r1 + r2) / 2, abs=0.01)
    # pair vocals - bass: only A; vocals - drums: all three
    assert allp["vs_anchor"]["bass"]["vocals"]["n"] == 2
    assert allp["vs_anchor"]["drums"]["vocals"]["n"] == 3
    assert allp["vs_anchor"]["drums"]["vocals"]["n_songs"] == 2


def _bursts(seconds: float, level_dbfs: float, on_s: float, period_s: float = 0.5) -> np.ndarray:
    """Stereo noise at ``level_dbfs`` (RMS while on) in bursts of ``on_s`` every ``period_s``."""
    x = noise(seconds, level_dbfs, 9)
    gate = np.zeros(x.shape[0], np.float32)
    for a in range(0, gate.size, int(period_s * SR)):
        gate[a:a + int(on_s * SR)] = 1.0
    return (x * gate[:, None]).astype(np.float32)


def test_buried_stem_is_measured_where_it_plays_not_left_without_a_level():
    """Drums heard in 150 ms bursts every 500 ms (30 % of the 50 ms frames), 20 dB under the
    rest while they play: no 10 s segment has them active in half its frames, yet they get
    their level over the frames where they play, and are called too quiet, the finding that
    matters most."""
    rest_db = power_sum_db(-20, -20, -20)
    stems = four(-20.0, seconds=20.0)
    stems["drums"] = _bursts(20.0, rest_db - 20.0, on_s=0.15)
    d = by_name(measure_stem_balance(stems, SR))["drums"]
    assert d.active_segments == 0 and d.active_pct == pytest.approx(30.0, abs=1.0)
    assert d.level_vs_rest_power_sum_db == pytest.approx(-20.0, abs=0.2)
    assert d.status == "too_quiet" and d.suggested_gain_db > 6.0
    assert "where this stem plays" in d.vs_rest.gate


def test_rarely_heard_stem_gets_no_level():
    """A part heard in 10 % of the frames (a fill) is not judged against the professional range."""
    stems = four(-20.0, seconds=20.0)
    stems["drums"] = _bursts(20.0, -40.0, on_s=0.05)
    d = by_name(measure_stem_balance(stems, SR))["drums"]
    assert d.status == "no_reference" and d.level_vs_rest_db is None and d.active_pct < 25.0
