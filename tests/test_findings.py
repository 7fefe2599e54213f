"""Findings size their advice from the measurements: EQ moves to the edge of the professional
range (never past a single sensible move), a DC offset with its level and only when it matters.

EQ: 
A noise mix rolled off above 1.5 kHz (12 dB per octave) has little in the upper regions: the review must say how
far those regions sit outside the range professional mixes span, ask for at most
``MAX_EQ_MOVE_DB`` at once, and say that a larger gap is a source problem; every number it says
is in the finding's evidence."""
from __future__ import annotations

import re

import numpy as np
from scipy.signal import butter, sosfilt

from mixingbuddy.agent.findings import DC_MATTERS_DBFS, MAX_EQ_MOVE_DB, dynamics_finding, spectrum_findings
from mixingbuddy.tools.io.audio import Audio
from mixingbuddy.tools.measure.analyze import analyze

SR = 48_000


def _dull_mix() -> Audio:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((SR * 12, 2)) * 0.1
    x = sosfilt(butter(2, 1500, fs=SR, output="sos"), x, axis=0)  # dull, but rolled off, not cut off
    return Audio(samples=x.astype(np.float32), sr=SR, name="dull.wav")


def test_eq_moves_reach_the_range_edge_and_are_capped():
    rep = analyze(_dull_mix())
    assert not rep.bandwidth.band_limited  # a roll-off, not a lossy cut-off: its top end still gets advice
    found = spectrum_findings(rep)
    boosts = [f for f in found if f.action and re.search(r"[Bb]oost (about|at most|\d)", f.action)]
    assert boosts, [f.action for f in found]
    regions = {g.name: g for g in rep.spectrum.regions}
    ranged = 0
    for f in boosts:
        moves = re.findall(r"(?:[Cc]ut|[Bb]oost) (?:about |at most )?(\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))? dB", f.action)
        amounts = [float(a) for a, _ in moves]
        uppers = [float(b) for _, b in moves if b]
        assert amounts and all(0 < a <= MAX_EQ_MOVE_DB for a in amounts + uppers), f.action
        # a broad move is a range from the professional range's edge into its middle half, capped
        assert all(a < b for (a, b) in zip(amounts, uppers)) and all(b in {round(e.value, 1) for e in f.evidence} for b in uppers)
        ranged += len(uppers)
        evidence = {round(e.value, 1) for e in f.evidence}
        assert all(a in evidence for a in amounts)
        if f.id.startswith("spectrum:") and f.id.split(":")[1] in regions:
            g = regions[f.id.split(":")[1]]
            gap = g.target_p10_db - g.target_db - g.deviation_db  # dB below the p10 edge
            assert gap > 0
            assert amounts[0] == round(min(gap, MAX_EQ_MOVE_DB), 1)
            if gap > MAX_EQ_MOVE_DB:  # the gap is said, and the move is a first step, not "the fix"
                assert "check the source" in f.action and "at most" in f.action
                assert f"{gap:.1f} dB" in f.action and "to bring it inside" not in f.action
    assert ranged  # at least one broad move within reach is given as a range


def test_dc_offset_is_sized_and_only_acted_on_when_it_matters():
    rng = np.random.default_rng(1)
    noise = rng.standard_normal((SR * 5, 2)) * 0.1
    small = dynamics_finding(analyze(Audio(samples=(noise + 10 ** (-57 / 20)).astype(np.float32), sr=SR, name="a.wav")))
    big = dynamics_finding(analyze(Audio(samples=(noise + 0.05).astype(np.float32), sr=SR, name="b.wav")))
    for f in (small, big):
        level = re.search(r"(-\d+\.\d) dBFS", f.detail)
        assert level and float(level.group(1)) in {e.value for e in f.evidence}, f.detail
    assert float(re.search(r"(-\d+\.\d) dBFS", small.detail).group(1)) < DC_MATTERS_DBFS
    assert small.title != "DC offset" and "high-pass" not in (small.action or "")
    assert "too small to matter" in small.detail
    assert big.severity != "ok" and "high-pass" in big.action and "headroom" in big.detail


def test_low_end_in_phase_but_panned_is_off_centre_not_mono_unsafe():
    """A bass in phase on both channels but 8 dB louder on the left folds to mono without loss:
    it is off-centre, and the advice is to pan it, not to 'make it mono' for a phase problem."""
    from mixingbuddy.agent.findings import low_end_finding

    rng = np.random.default_rng(0)
    n = SR * 8
    bass = sosfilt(butter(4, 120, fs=SR, output="sos"), rng.standard_normal(n)) * 0.3
    air = rng.standard_normal((n, 2)) * 0.02
    panned = np.stack([bass, bass * 0.4], axis=1) + air
    rep = analyze(Audio(samples=panned.astype(np.float32), sr=SR, name="panned.wav"))
    assert rep.stereo.low_end.status == "fail" and rep.stereo.low_end.correlation > 0.9
    f = low_end_finding(rep)
    assert "off-centre" in f.detail and "not mono-safe" not in f.detail and "Pan the bass" in f.action
    assert "off-centre" in rep.stereo.verdict
    inverted = np.stack([bass, -bass * 0.9], axis=1) + air
    g = low_end_finding(analyze(Audio(samples=inverted.astype(np.float32), sr=SR, name="inv.wav")))
    assert "not mono-safe" in g.detail and "mono" in g.action
