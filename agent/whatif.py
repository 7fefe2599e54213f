"""What-if questions ("what if I turn the bass down 3 dB?"): apply a gain to one stem, measure again.

The method is in the Notes of :func:`simulate_gain`.

Long stems (spooled by ingest, ``tools.io.spool``) are never summed whole: the mix a set of
gains makes is computed a block at a time on read (:func:`mix_spool`, :func:`mixes_loudness`:
the whole song's loudness, several mixes in one pass), the master's residual too
(:class:`MasterResidual`), and the stem balance is measured on the mix's loudest windows, as the
review measures long stems (:func:`balance_audio`). This module, ``ui.audition`` and
``agent.spectrum_after_moves`` share these.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..tools.errors import InvalidArgumentError
from ..tools.io.spool import BLOCK_N, ComputedSpool, read_span
from ..tools.measure.loudness import LoudnessResult, measure_loudness
from ..tools.measure.stem_balance import StemBalanceResult, measure_stem_balance
from ..tools.registry import AudioContext
from ..tools.separate.separation import residual_level_db

__all__ = ["MAX_GAIN_DB", "MasterResidual", "apply_gains", "balance_audio", "blockwise", "is_long", "master_residual",
           "mix_spool", "mixes_loudness", "simulate_gain", "stem_blocks", "stem_level_db", "sum_mix"]

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


# ----------------------------------------------------------------------------- long stems, block by block


def is_long(stems) -> bool:
    """Whether ``stems`` (a ``StemSet``) holds a long (spooled) stem: then it is read a block at a
    time (the review's test for measuring stems on the loudest windows, ``tools.measure.analyze``)."""
    return stems is not None and any(a.spool is not None for a in stems.stems.values())


def _n_frames(stems) -> int:
    return min(a.n_samples for a in stems.stems.values())


def stem_blocks(stems, start: int, stop: int) -> dict[str, np.ndarray]:
    """Frames ``start`` to ``stop`` of every stem, stereo (``Audio.read_stereo``: from the spool
    of a long stem; the values of ``Audio.stereo()``)."""
    return {role: a.read_stereo(start, stop) for role, a in stems.stems.items()}


def _residual_of(mix_block: np.ndarray, blocks: Mapping[str, np.ndarray]) -> np.ndarray:
    return (mix_block - sum_mix(blocks)).astype(np.float32)  # master_residual's sum, per sample


class MasterResidual(ComputedSpool):
    """The mix file minus its stems' sum (stereo), computed a block at a time on read: the
    master's residual (:func:`master_residual`) of a long mix, never whole in memory. ``mix``
    and ``stems`` are kept, so a reader that has the stems' block already passes it to
    :meth:`block` instead of reading them again."""

    def __init__(self, mix, stems) -> None:
        self.mix, self.stems = mix, stems
        super().__init__(min(mix.n_samples, _n_frames(stems)), 2,
                         lambda a, b: self.block(a, b, stem_blocks(stems, a, b)))

    def block(self, start: int, stop: int, blocks: Mapping[str, np.ndarray]) -> np.ndarray:
        """Frames ``start`` to ``stop`` given the stems' (stereo) frames there."""
        return _residual_of(self.mix.read_stereo(start, stop), blocks)


def _residual_block(residual, start: int, stop: int, stems, blocks: Mapping[str, np.ndarray]):
    if residual is None:
        return None
    if isinstance(residual, MasterResidual) and residual.stems is stems:
        return residual.block(start, stop, blocks)
    return read_span(residual, start, stop)


def _mixes_block(stems, start: int, stop: int, gains_list: Sequence[Mapping[str, float]],
                 residual=None) -> list[np.ndarray]:
    """The mix each of ``gains_list`` makes at frames ``start`` to ``stop`` (each stem read once):
    ``sum_mix(apply_gains(...), residual)`` of those frames, the whole-array path's values."""
    blocks = stem_blocks(stems, start, stop)
    res = _residual_block(residual, start, stop, stems, blocks)
    return [sum_mix(apply_gains(blocks, g), res) for g in gains_list]


def mix_spool(stems, gains_db: Mapping[str, float] | None = None, residual=None) -> ComputedSpool:
    """The mix the stems make with ``gains_db`` (plus ``residual``: an array, a spool or a
    :class:`MasterResidual`), computed a block at a time on read (a ``ComputedSpool``)."""
    gains = dict(gains_db or {})
    return ComputedSpool(_n_frames(stems), 2, lambda a, b: _mixes_block(stems, a, b, [gains], residual)[0])


def blockwise(stems, residual=None) -> bool:
    """Whether the mixes of ``stems`` (plus ``residual``) are measured a block at a time."""
    return is_long(stems) or isinstance(residual, ComputedSpool)


def mixes_loudness(stems, gains_list: Sequence[Mapping[str, float]], residual=None,
                   platform: str | None = None) -> list[LoudnessResult]:
    """``measure_loudness`` of the mix each of ``gains_list`` makes (stems gained and summed, plus
    ``residual``), for the whole song. Long stems: one pass, a block at a time
    (``long_mix.LoudnessFeed``: the same numbers); else the whole arrays."""
    if not blockwise(stems, residual):
        arrays = {role: a.stereo() for role, a in stems.stems.items()}
        return [measure_loudness(sum_mix(apply_gains(arrays, g), residual), stems.sr, platform=platform)
                for g in gains_list]
    from ..tools.measure.long_mix import LoudnessFeed, loudness_block_n

    feeds = [LoudnessFeed(stems.sr) for _ in gains_list]
    n, block_n = _n_frames(stems), loudness_block_n(stems.sr)
    for a in range(0, n, block_n):
        for feed, x in zip(feeds, _mixes_block(stems, a, min(a + block_n, n), gains_list, residual)):
            feed.push(x)
    return [feed.result(platform) for feed in feeds]


def balance_audio(stems, mix=None, residual=None) -> tuple[dict[str, np.ndarray], object, list | None]:
    """What the stem balance of a move is measured on: ``(arrays, residual, spans)``. Stems in
    memory: every stem whole (stereo) and ``residual`` as it is, ``spans`` None. Long stems: the
    mix's loudest windows (``long_mix.stem_window_spans``, the review's: chosen on ``mix``, else on
    the residual's mix, else on the stems' sum), each stem's and the residual's frames there
    concatenated, and the windows as ``spans``."""
    if not is_long(stems):
        if isinstance(residual, ComputedSpool):  # short stems of a spooled mix
            residual = residual.read(0, residual.n)
        return {role: a.stereo() for role, a in stems.stems.items()}, residual, None
    from ..tools.measure.long_mix import stem_window_spans

    n = _n_frames(stems)
    if mix is None and isinstance(residual, MasterResidual):
        mix = residual.mix
    if mix is not None:
        spans = stem_window_spans(mix.source(), mix.sr, min(n, mix.n_samples))
    else:
        spans = stem_window_spans(mix_spool(stems, None, residual), stems.sr, n)
    arrays = {role: np.concatenate([a.read_stereo(lo, hi) for lo, hi in spans])
              for role, a in stems.stems.items()}
    res = None if residual is None else np.concatenate([read_span(residual, lo, hi) for lo, hi in spans])
    return arrays, res, spans


def _residual_level_long(res: MasterResidual) -> float | None:
    """``residual_level_db(mix, residual)`` summed a block at a time (the mix's frames read once)."""
    pm = pr = 0.0
    for a in range(0, res.n, BLOCK_N):
        b = min(a + BLOCK_N, res.n)
        x = res.mix.read_stereo(a, b)
        r = res.block(a, b, stem_blocks(res.stems, a, b))
        pm += float(np.square(x, dtype=np.float64).sum())
        pr += float(np.square(r, dtype=np.float64).sum())
    size = 2.0 * max(res.n, 1)
    if pm <= 0:
        return None
    return 10 * math.log10(max(pr / size, 1e-30) / (pm / size))


# ----------------------------------------------------------------------------- the master's residual


def master_residual(mix, stems) -> tuple[np.ndarray | MasterResidual | None, str]:
    """The mix file minus the sum of its stems (both as ingested: 48 kHz, stereo), so a move
    re-measured on ``stems + residual`` starts from the mix the review measured.

    Returns ``(residual, kind)``: ``(array, "master")`` when the mix adds something to the sum (bus
    processing, a limiter); ``(None, "sum")`` when the sum is the mix (residual under
    ``SILENT_RESIDUAL_DB``); ``(None, "unmatched")`` when the stems cannot be this mix's (another
    length, or a residual over ``UNMATCHED_RESIDUAL_DB``: shifted or different takes), where the
    stems' sum is all there is. A long (spooled) mix or stems give a :class:`MasterResidual`
    instead of the array: the same frames, computed a block at a time when read."""
    if stems is None or mix is None or mix.sr != stems.sr:
        return None, "unmatched"
    if mix.spool is not None or is_long(stems):
        if any(a.n_samples != mix.n_samples for a in stems.stems.values()):
            return None, "unmatched"
        long_res = MasterResidual(mix, stems)
        level = _residual_level_long(long_res)
        if level is None or level < SILENT_RESIDUAL_DB:
            return None, "sum"
        if level > UNMATCHED_RESIDUAL_DB:
            return None, "unmatched"
        return long_res, "master"
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
                  residual=None, residual_kind: str = "separated") -> dict:
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

    Long stems (spooled): the loudness is the whole song's, measured a block at a time
    (:func:`mixes_loudness`; the numbers of the whole arrays), and the stem balance is measured on
    the mix's loudest windows (:func:`balance_audio`), the stretches the review measured it on,
    so ``before`` is still the review's.
    """
    if ctx.stems is None:
        raise InvalidArgumentError("a what-if on a stem needs the stems; this conversation has the mix only")
    if stem not in ctx.stems.stems:
        raise InvalidArgumentError(
            f"no {stem} stem in this conversation (stems: {', '.join(ctx.stems.roles)})")
    if not np.isfinite(gain_db) or abs(gain_db) > MAX_GAIN_DB:
        raise InvalidArgumentError(f"a what-if gain must be within +-{MAX_GAIN_DB:g} dB, got {gain_db:g} dB")
    stems, sr, gains = ctx.stems, ctx.stems.sr, {stem: float(gain_db)}
    arrays, _, _ = balance_audio(stems, ctx.mix, residual)  # long stems: the review's windows
    after = apply_gains(arrays, gains)
    anchor = anchor if anchor in arrays else None
    jobs = {"bal_after": lambda: measure_stem_balance(after, sr, anchor=anchor)}
    if blockwise(stems, residual):  # both mixes in one pass over the long stems
        jobs["loud"] = lambda: mixes_loudness(stems, [{}, gains], residual, platform)
    else:
        jobs["loud_before"] = lambda: mixes_loudness(stems, [{}], residual, platform)
        jobs["loud_after"] = lambda: mixes_loudness(stems, [gains], residual, platform)
    if before is None or {s.name for s in before.stems} != set(arrays):
        jobs["bal_before"] = lambda: measure_stem_balance(arrays, sr, anchor=anchor)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {k: pool.submit(fn) for k, fn in jobs.items()}
        out = {k: f.result() for k, f in futures.items()}
    loud_before, loud_after = out["loud"] if "loud" in out else (out["loud_before"][0], out["loud_after"][0])
    bal_before = out.get("bal_before", before)
    bal_after = out["bal_after"]

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
