"""One balance story: the smallest set of stem gain moves that puts every judged stem inside the
professional range at once.

A stem's level against the rest of the mix depends on every other stem: one hot bass makes the
vocals, drums and the rest read "too quiet" although nothing is wrong with them. Judging each stem
on its own therefore tells several stories and sizes moves that do not add up. :func:`solve_moves`
searches the gain moves jointly, one stem first, then pairs, then triples, and keeps the set with
the fewest stems and then the smallest total move.
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

from ..tools.measure.stem_balance import StemBalanceResult

__all__ = ["MARGIN_DB", "MAX_MOVE_DB", "BalanceMoves", "Move", "solve_moves", "levels_after"]

MAX_MOVE_DB = 15.0  # the largest move searched on one stem
MARGIN_DB = 0.5  # a move aims this far inside p10..p90 (a stem measured from stems; more when separated)
GRID_DB = (0.1, 0.25, 0.5)  # search step for one, two and three moved stems


class Move(BaseModel):
    """A gain change on one stem: ``gain_db`` is the smallest change that works with the other
    moves; ``gain_max_db`` the change that brings the stem to the professional median, where the
    other stems stay in range (same sign, larger or equal)."""

    stem: str
    gain_db: float
    gain_max_db: float


class BalanceMoves(BaseModel):
    """The joint solution: the moves, each judged stem's level against the rest before and after
    (power-sum form, dB), and the stems out of range now that need no move of their own."""

    moves: list[Move]
    before_db: dict[str, float]
    after_db: dict[str, float]
    in_range_after: bool
    follow: list[str]  # out of range now, inside once the moves are made
    margin_db: float


def _powers(values_db: np.ndarray) -> np.ndarray:
    """Relative stem powers consistent with levels against the rest: ``v_i = 10 log10(P_i /
    sum_{j != i} P_j)`` gives ``P_i / S = r_i / (1 + r_i)`` with ``r_i = 10^(v_i / 10)``
    (normalised, since medians over segments need not sum exactly)."""
    r = 10.0 ** (values_db / 10.0)
    w = r / (1.0 + r)
    return w / w.sum()


def levels_after(values_db: Sequence[float], gains_db: np.ndarray) -> np.ndarray:
    """Each stem's level against the rest after ``gains_db`` (rows: candidate gain vectors).

    The change predicted by the power model is added to the measured level, so no move gives the
    measured levels back exactly."""
    v = np.asarray(values_db, float)
    p = _powers(v)
    g = np.atleast_2d(gains_db)
    pg = p[None, :] * 10.0 ** (g / 10.0)
    rest = pg.sum(axis=1, keepdims=True) - pg
    model = 10.0 * np.log10(pg / rest)
    model0 = 10.0 * np.log10(p / (p.sum() - p))
    return v[None, :] + (model - model0[None, :])


def _feasible(after: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.all((after >= lo[None, :]) & (after <= hi[None, :]), axis=1)


def solve_moves(sb: StemBalanceResult, *, anchor: str | None = None,
                margin_db: float | None = None) -> BalanceMoves | None:
    """The fewest stem moves (then the smallest total) that put every judged stem inside
    ``[p10 + margin, p90 - margin]`` of the professional range against the rest of the mix.

    Parameters
    ----------
    sb : StemBalanceResult
        A stem-balance measurement (stems given or separated).
    anchor : str, optional
        A stem the user says is right: moved only when no solution leaves it alone.
    margin_db : float, optional
        How far inside the range to aim; default :data:`MARGIN_DB`, or the largest separation
        error of the stems when they were separated from the mix.

    Returns
    -------
    BalanceMoves or None
        None when fewer than two stems have a level and a professional range.
    """
    rows = [st for st in sb.stems if st.vs_rest is not None and st.vs_rest.value_db is not None
            and st.vs_rest.reference is not None and st.status in ("within_range", "too_loud", "too_quiet")]
    if len(rows) < 2:
        return None
    if margin_db is None:
        errs = [st.separation_error_db for st in rows if st.separation_error_db is not None]
        margin_db = max([MARGIN_DB, *errs]) if sb.source == "separated" else MARGIN_DB
    names = [st.name for st in rows]
    v = np.array([st.vs_rest.value_db for st in rows], float)
    ref = [st.vs_rest.reference for st in rows]
    p10 = np.array([r.p10_db for r in ref])
    p90 = np.array([r.p90_db for r in ref])
    med = np.array([r.p50_db for r in ref])
    # a narrow range keeps at least its middle (the margin never crosses it)
    half = (p90 - p10) / 2.0
    m = np.minimum(margin_db, np.maximum(half - 0.1, 0.0))
    lo, hi = p10 + m, p90 - m
    before = {n: round(float(x), 2) for n, x in zip(names, v)}
    outside = [n for n, x, a, b in zip(names, v, p10, p90) if x < a or x > b]
    if not outside:
        return BalanceMoves(moves=[], before_db=before, after_db=before, in_range_after=True, follow=[],
                            margin_db=margin_db)
    order = [i for i in range(len(rows)) if names[i] != anchor] + [i for i in range(len(rows)) if names[i] == anchor]
    best = None
    for k, step in zip(range(1, min(3, len(rows)) + 1), GRID_DB):
        axis = np.arange(-MAX_MOVE_DB, MAX_MOVE_DB + step / 2, step)
        for subset in itertools.combinations(order, k):
            if anchor in [names[i] for i in subset] and best is not None:
                continue
            grids = np.meshgrid(*([axis] * k), indexing="ij")
            cand = np.zeros((grids[0].size, len(rows)))
            for j, i in enumerate(subset):
                cand[:, i] = grids[j].ravel()
            ok = _feasible(levels_after(v, cand), lo, hi)
            if not ok.any():
                continue
            cost = np.abs(cand[ok]).sum(axis=1) + 1e-6 * np.abs(cand[ok]).max(axis=1)
            g = cand[ok][int(np.argmin(cost))]
            total = float(np.abs(g).sum())
            uses_anchor = anchor in [names[i] for i in subset]
            key = (uses_anchor, total)
            if best is None or key < best[0]:
                best = (key, subset, g)
        if best is not None:
            break
    if best is None:
        after = {n: round(float(x), 2) for n, x in zip(names, v)}
        return BalanceMoves(moves=[], before_db=before, after_db=after, in_range_after=False, follow=[],
                            margin_db=margin_db)
    _, subset, g = best
    moves = []
    for i in subset:
        # how far this move may go towards the stem's median with the others still in range
        toward = med[i] - levels_after(v, g)[0, i]
        far = g[i]
        if toward * g[i] > 0:
            steps = np.linspace(0.0, toward, 41)
            cand = np.repeat(g[None, :], steps.size, axis=0)
            cand[:, i] = g[i] + steps
            ok = _feasible(levels_after(v, cand), lo, hi)
            far = float(cand[ok][-1, i]) if ok.any() else g[i]
        moves.append(Move(stem=names[i], gain_db=round(float(g[i]), 1), gain_max_db=round(far, 1)))
    after_v = levels_after(v, g)[0]
    moved = {names[i] for i in subset}
    follow = [n for n in outside if n not in moved]
    return BalanceMoves(moves=sorted(moves, key=lambda mv: -abs(mv.gain_db)), before_db=before,
                        after_db={n: round(float(x), 2) for n, x in zip(names, after_v)},
                        in_range_after=True, follow=follow, margin_db=round(float(margin_db), 2))

