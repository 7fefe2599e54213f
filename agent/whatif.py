"""What-if questions ("what if I turn the bass down 3 dB?"): apply a gain to one stem, measure again.

The method is in the Notes of :func:`simulate_gain`.
"""
from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..tools.errors import InvalidArgumentError
from ..tools.measure.loudness import measure_loudness
from ..tools.measure.stem_balance import StemBalanceResult, measure_stem_balance
from ..tools.registry import AudioContext
from ..tools.separate.separation import residual_level_db

__all__ = ["MAX_GAIN_DB", "apply_gains", "master_residual", "simulate_gain", "stem_level_db", "sum_mix"]

MAX_GAIN_DB = 24.0  # a move beyond this is a different mix, not a fix (the what-if and the audition)
SILENT_RESIDUAL_DB = -60.0  # a mix this close to its stems' sum is their plain sum
UNMATCHED_RESIDUAL_DB = -6.0  # a residual this loud means the stems are not this mix's (shifted, other take)


def apply_gains(arrays: Mapping[str, np.ndarray], gains_db: Mapping[str, float]) -> dict[str, np.ndarray]:
    """Each stem scaled by ``10^(gain/20)`` (missing gains are 0 dB; unchanged stems are not copied)."""
    return {role: (x * np.float32(10.0 ** (gains_db[role] / 20.0)) if gains_db.get(role) else x)
            for role, x in arrays.items()}


def sum_mix(arrays: Mapping[str, np.ndarray], residual: np.ndarray | None = None) -> np.ndarray:
    """The mix the stems make (float32), plus ``residual`` (what a separator left out of a bounced mix)."""
    mix = np.sum(list(arrays.values()), axis=0, dtype=np.float32)
    return mix + residual if residual is not None else mix


def master_residual(mix, stems) -> tuple[np.ndarray | None, str]:
    """The mix file minus the sum of its stems (both as ingested: 48 kHz, stereo), so a move
    re-measured on ``stems + residual`` starts from the mix the review measured.

    Returns ``(residual, kind)``: ``(array, "master")`` when the mix adds something to the sum (bus
    processing, a limiter); ``(None, "sum")`` when the sum is the mix (residual under
    ``SILENT_RESIDUAL_DB``); ``(None, "unmatched")`` when the stems cannot be this mix's (another
    length, or a residual over ``UNMATCHED_RESIDUAL_DB``: shifted or different takes), where the
    stems' sum is all there is."""
    if stems is None or mix is None or mix.sr != stems.sr:
        return None, "unmatched"
    x = mix.stereo()
    total = sum_mix({r: a.stereo() for r, a in stems.stems.items()})
    if total.shape != x.shape:
        return None, "unmatched"
    res = (x - total).astype(np.float32)
    level = residual_level_db(x, res)
    if level is None or level < SILENT_RESIDUAL_DB:
        return None, "sum"
    if level > UNMATCHED_RESIDUAL_DB:
        return None, "unmatched"
    return res, "master"


def stem_level_db(st) -> float | None:
    """The stem level shown before and after a move: against the power sum of the other stems,
    the quantity the professional range is given in and the review judges."""
    return st.level_vs_rest_power_sum_db


def simulate_gain(ctx: AudioContext, stem: str, gain_db: float, *, anchor: str | None = None,
                  platform: str = "spotify", before: StemBalanceResult | None = None,
                  residual: np.ndarray | None = None, residual_kind: str = "separated") -> dict:
    """Before/after numbers for ``gain_db`` on ``stem`` (JSON-ready dict). ``before``: the
    stem balance already measured on these stems (the review's), reused instead of measured
    again; the three remaining measurements run on two threads. ``residual``: added to both
    mixes (``residual_kind`` "separated": the part of a bounced mix its separated stems leave
    out; "master": what the mix file adds to the user's stems), and the result is marked
    ``approximate``; without one, ``residual_kind`` says why ("sum": the stems add up to the mix;
    "unmatched": they do not, and before is their plain sum).

    Notes
    -----
    The stems of the conversation (its :class:`AudioContext` only) are summed with the chosen
    stem scaled by ``10^(gain_db/20)``; the tools then measure, before and after, the stem
    balance (``measure_stem_balance``: every stem against the rest, placed in the professional
    range) and the summed mix's loudness and true peak (``measure_loudness``, ITU-R BS.1770).
    "Before" is the user's mix file itself: what the master adds to the stems' sum (bus
    processing, a limiter) is kept as a residual added to both sides (:func:`master_residual`),
    so the before numbers are the review's and the after numbers are approximate when that
    residual is not silent.

    On a bounced mix the stems are the ones separated from it (``tools.separate``): the move is
    applied to the separated stem and the mix rebuilt as the separated stems plus the residual
    (what the separator left out), so "before" is the mix's own windows; the result is marked
    approximate.
    """
    if ctx.stems is None:
        raise InvalidArgumentError("a what-if on a stem needs the stems; this conversation has the mix only")
    if stem not in ctx.stems.stems:
        raise InvalidArgumentError(
            f"no {stem} stem in this conversation (stems: {', '.join(ctx.stems.roles)})")
    if not np.isfinite(gain_db) or abs(gain_db) > MAX_GAIN_DB:
        raise InvalidArgumentError(f"a what-if gain must be within +-{MAX_GAIN_DB:g} dB, got {gain_db:g} dB")
    sr = ctx.stems.sr
    arrays = {role: a.stereo() for role, a in ctx.stems.stems.items()}
    after = apply_gains(arrays, {stem: float(gain_db)})
    anchor = anchor if anchor in arrays else None
    mix_before, mix_after = sum_mix(arrays, residual), sum_mix(after, residual)
    jobs = {"bal_after": lambda: measure_stem_balance(after, sr, anchor=anchor),
            "loud_before": lambda: measure_loudness(mix_before, sr, platform=platform),
            "loud_after": lambda: measure_loudness(mix_after, sr, platform=platform)}
    if before is None or {s.name for s in before.stems} != set(arrays):
        jobs["bal_before"] = lambda: measure_stem_balance(arrays, sr, anchor=anchor)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {k: pool.submit(fn) for k, fn in jobs.items()}
        out = {k: f.result() for k, f in futures.items()}
    bal_before = out.get("bal_before", before)
    bal_after, loud_before, loud_after = out["bal_after"], out["loud_before"], out["loud_after"]

    def stems_rows(res) -> dict:
        return {st.name: {"level_vs_rest_db": stem_level_db(st), "status": st.status,
                          "integrated_lufs": st.integrated_lufs,
                          "p10_db": st.vs_rest.reference.p10_db if st.vs_rest and st.vs_rest.reference else None,
                          "p90_db": st.vs_rest.reference.p90_db if st.vs_rest and st.vs_rest.reference else None}
                for st in res.stems}

    def loud_row(res) -> dict:
        p = next(p for p in res.platforms if p.name == platform)
        return {"integrated_lufs": res.integrated_lufs, "true_peak_dbtp": res.true_peak_dbtp,
                "platform_delta_lu": p.delta_lu, "ceiling_dbtp": p.ceiling_dbtp,
                "platform_label": p.label}

    return {"stem": stem, "gain_db": float(gain_db), "platform": platform, "approximate": residual is not None,
            "residual": residual_kind,
            "before": {"stems": stems_rows(bal_before), "mix": loud_row(loud_before)},
            "after": {"stems": stems_rows(bal_after), "mix": loud_row(loud_after)}}
