"""EQ advice is sized to the edge of the professional range, never past a single sensible move.

A noise mix low-passed at 3 kHz has almost nothing in the upper regions: the review must say how
far those regions sit outside the range professional mixes span, ask for at most
``MAX_EQ_MOVE_DB`` at once, and say that a larger gap is a source problem; every number it says
is in the finding's evidence."""
from __future__ import annotations

import re

import numpy as np
from scipy.signal import butter, sosfilt

from mixingbuddy.agent.findings import MAX_EQ_MOVE_DB, spectrum_findings
from mixingbuddy.tools.analyze import analyze
from mixingbuddy.tools.audio import Audio

SR = 48_000


def _dull_mix() -> Audio:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((SR * 12, 2)) * 0.1
    x = sosfilt(butter(8, 3000, fs=SR, output="sos"), x, axis=0)
    return Audio(samples=x.astype(np.float32), sr=SR, name="dull.wav")


def test_eq_moves_reach_the_range_edge_and_are_capped():
    rep = analyze(_dull_mix())
    found = spectrum_findings(rep)
    boosts = [f for f in found if f.action and re.search(r"[Bb]oost (about|at most)", f.action)]
    assert boosts, [f.action for f in found]
    regions = {g.name: g for g in rep.spectrum.regions}
    for f in boosts:
        amounts = [float(v) for v in re.findall(r"(?:[Cc]ut|[Bb]oost) (?:about|at most) (\d+(?:\.\d+)?) dB", f.action)]
        assert amounts and all(0 < a <= MAX_EQ_MOVE_DB for a in amounts), f.action
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
