"""A song's natural stem balance: drawn from how professionals balance stems, then imposed.

Synthetic songs rendered at one fixed balance would make the flaw-injection task artificially
easy, so every synthetic song gets a balance drawn from the professional distribution
(:func:`draw_natural_balance`) and imposed on its stems (:func:`apply_balance`). The level is
``vs_rest``, the quantity of the packaged reference table (:func:`measure_vs_rest`).
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from ...tools.io.audio import ALL_STEMS
from ...tools.measure.stem_balance import (
    ACTIVE_FRAME_DBFS,
    ACTIVE_SEGMENT_RATIO,
    FRAME_S,
    MIN_TAIL_FRAMES,
    SEGMENT_FRAMES,
    load_balance_reference,
)

PERCENTILES = (5, 10, 25, 50, 75, 90, 95)
MAX_ABS_Z = 3.0  # truncation of the copula's normal scores

# Normal-score (Gaussian copula) correlation of vs_rest between stems, order ALL_STEMS,
# over the 1,800 MUSDB18-HQ 10 s segments where all four stems are active (published segment
# table of the MixingBuddy-gain study; recomputed with ``fit_vs_rest_copula``). The four values
# are strongly tied (a loud bass leaves less room for the rest), so they are not drawn
# independently.
VS_REST_NORMAL_SCORE_CORR = np.array([
    [1.000, -0.318, -0.355, -0.421],
    [-0.318, 1.000, -0.191, -0.397],
    [-0.355, -0.191, 1.000, -0.118],
    [-0.421, -0.397, -0.118, 1.000],
])


# --------------------------------------------------------------------------- drawing

def _quantile_table(population: str = "all") -> np.ndarray:
    """(4 stems, 7 percentiles) of vs_rest in dB from the packaged reference table."""
    ref = load_balance_reference(population)["vs_rest"]
    return np.array([[ref[s][f"p{p}_db"] for p in PERCENTILES] for s in ALL_STEMS])


def _inverse_cdf(z: np.ndarray, q_db: np.ndarray) -> np.ndarray:
    """Value at normal score ``z`` of a distribution given by its PERCENTILES ``q_db``:
    linear in z between the percentiles (inverse-CDF sampling), end slopes beyond them, ``z``
    truncated at +-``MAX_ABS_Z``."""
    zq = ndtri(np.asarray(PERCENTILES, dtype=float) / 100.0)
    z = np.clip(np.asarray(z, dtype=float), -MAX_ABS_Z, MAX_ABS_Z)
    out = np.interp(z, zq, q_db)
    lo, hi = z < zq[0], z > zq[-1]
    out[lo] = q_db[0] + (q_db[1] - q_db[0]) / (zq[1] - zq[0]) * (z[lo] - zq[0])
    out[hi] = q_db[-1] + (q_db[-1] - q_db[-2]) / (zq[-1] - zq[-2]) * (z[hi] - zq[-1])
    return out


def consistent_vs_rest(vs_rest_db: dict[str, float]) -> dict[str, float]:
    """Project four vs_rest values (dB) onto the set a real four-stem mix can have: the power
    fractions implied by each value are renormalised to sum to one.
    Values that are already consistent come back unchanged (to rounding).

    Four vs_rest values have only three degrees of freedom (with power fractions
    q_i = P_i / sum P, vs_rest_i = q_i / (1 - q_i) and sum q_i = 1). The projection is
    q_i = (r_i / (1 + r_i)) / sum_j (r_j / (1 + r_j)) with r_i = 10^(v_i/10).
    """
    names = list(vs_rest_db)
    r = 10.0 ** (np.array([vs_rest_db[s] for s in names], dtype=float) / 10.0)
    q = r / (1.0 + r)
    q = q / q.sum()
    return {s: float(10.0 * np.log10(qi / (1.0 - qi))) for s, qi in zip(names, q)}


def draw_natural_balances(rng: np.random.Generator, n: int,
                          population: str = "all") -> np.ndarray:
    """``n`` draws at once, (n, 4) vs_rest dB in ALL_STEMS order (see ``draw_natural_balance``)."""
    chol = np.linalg.cholesky(VS_REST_NORMAL_SCORE_CORR)
    z = rng.standard_normal((n, len(ALL_STEMS))) @ chol.T
    q_db = _quantile_table(population)
    v = np.stack([_inverse_cdf(z[:, i], q_db[i]) for i in range(len(ALL_STEMS))], axis=1)
    r = 10.0 ** (v / 10.0)
    frac = r / (1.0 + r)
    frac /= frac.sum(axis=1, keepdims=True)
    return 10.0 * np.log10(frac / (1.0 - frac))


def draw_natural_balance(rng: np.random.Generator, population: str = "all") -> dict[str, float]:
    """One song's natural balance: level vs the rest of the mix (dB, power-sum form) for bass,
    drums, vocals and other, drawn from the professional distribution. The four values are
    mutually consistent, so ``apply_balance`` can meet all of them.

    Notes
    -----
    The flaw-injection benchmark (MixingBuddy-gain study protocol) moves one stem by 3-12 dB
    and asks for the fix. On real songs the task is ambiguous because the untouched balance
    already varies a lot between songs (a decision rule that knows every stem's level tops out
    near 61 % joint accuracy on MUSDB18-HQ, as the balance statistics of the real songs show);
    this draw gives synthetic songs the same spread.

    The draw is a Gaussian copula: each stem's marginal is its vs_rest quantile function from
    the reference table (:func:`_inverse_cdf` through p5..p95), the dependence is
    ``VS_REST_NORMAL_SCORE_CORR``, and the result is projected onto the values a four-stem mix
    can have (:func:`consistent_vs_rest`). Measured on 200,000 draws, the projected values keep
    every stem's p10, p50 and p90 within 0.35 dB of the table (p5/p95 within 0.7 dB), and the
    pairwise level differences (vocals - drums, bass - drums, vocals - bass) match the
    MUSDB18-HQ segments' within 0.6 dB at p5, p25, p50, p75 and p95.

    The table pools 10 s segments, so a draw stands for a segment as much as for a song.
    Rendered songs vary little around their drawn balance (about 0.7-1.5 dB sd between 10 s
    chunks, against 1.7-2.0 dB within real songs), so chunk-level spread is close to the
    table's.
    """
    v = draw_natural_balances(rng, 1, population)[0]
    return {s: round(float(x), 3) for s, x in zip(ALL_STEMS, v)}


def fit_vs_rest_copula(segment_csv: str) -> np.ndarray:
    """Normal-score correlation (4x4, ALL_STEMS order) of vs_rest over the segments of a
    MUSDB18-style segment table (columns split, track, stem, start_sec, rms_dbfs,
    active_frame_ratio; stems mixture, bass, drums, vocals, other) where all four stems are
    active (ratio >= 0.5). This is how ``VS_REST_NORMAL_SCORE_CORR`` was obtained from
    the MUSDB18-HQ segment table (``musdb18hq_segment_rms.csv``)."""
    from scipy.stats import rankdata

    seg: dict[tuple, dict[str, tuple[float, float]]] = {}
    with open(segment_csv, newline="") as fh:
        for row in csv.DictReader(fh):
            key = (row["split"], row["track"], row["start_sec"])
            seg.setdefault(key, {})[row["stem"]] = (float(row["rms_dbfs"]),
                                                   float(row["active_frame_ratio"]))
    levels = [[s[k][0] for k in ALL_STEMS] for s in seg.values()
              if all(k in s and s[k][1] >= ACTIVE_SEGMENT_RATIO for k in ALL_STEMS)]
    if len(levels) < 3:
        raise ValueError(f"{segment_csv}: fewer than 3 segments with all four stems active")
    p = 10.0 ** (np.array(levels) / 10.0)
    v = 10.0 * np.log10(p / (p.sum(axis=1, keepdims=True) - p))
    z = ndtri((np.apply_along_axis(rankdata, 0, v) - 0.5) / len(v))
    return np.corrcoef(z.T)


# --------------------------------------------------------------------------- measuring

@dataclass
class FrameStats:
    """Per-50 ms-frame statistics of a set of stems, enough to measure vs_rest under any
    per-stem gains without touching the samples again.

    ``mono_gram[f, i, j]``: sum over frame f of m_i * m_j, m = mean of the channels (activity
    gate, as in tools.measure.stem_balance); ``energy[f, i]``: sum over frame f and channels of x_i^2
    (segment RMS, channels pooled); ``peak[i]``: stem sample peak."""

    names: list[str]
    frame: int
    n_channels: int
    mono_gram: np.ndarray
    energy: np.ndarray
    peak: np.ndarray
    seg_bounds: list[tuple[int, int]]

    @classmethod
    def from_stems(cls, stems: dict[str, np.ndarray], sr: int) -> FrameStats:
        names = list(stems)
        arrays = [_as_2d(stems[s]) for s in names]
        n, ch = arrays[0].shape
        if any(a.shape != (n, ch) for a in arrays):
            raise ValueError("apply_balance: stems must share one shape (n, channels)")
        frame = max(1, int(sr * FRAME_S))
        n_frames = n // frame
        if n_frames == 0:
            raise ValueError(f"apply_balance: stems shorter than one {FRAME_S * 1000:.0f} ms frame")
        cut = n_frames * frame
        mono = np.empty((cut, len(names)), dtype=np.float64)
        for i, a in enumerate(arrays):
            mono[:, i] = a[:cut].sum(axis=1)
        mono *= 1.0 / ch
        m = mono.reshape(n_frames, frame, len(names))
        gram = np.matmul(m.transpose(0, 2, 1), m)  # (F, S, S), batched BLAS
        energy = np.empty((n_frames, len(names)), dtype=np.float64)
        for i, a in enumerate(arrays):
            r = a[:cut].reshape(n_frames, frame * ch).astype(np.float64)
            energy[:, i] = np.einsum("ij,ij->i", r, r)
        peak = np.array([float(np.max(np.abs(a))) if a.size else 0.0 for a in arrays])
        bounds = [(a, min(a + SEGMENT_FRAMES, n_frames)) for a in range(0, n_frames, SEGMENT_FRAMES)]
        if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < MIN_TAIL_FRAMES:
            bounds.pop()
        return cls(names, frame, ch, gram, energy, peak, bounds)

    def measure(self, gains_db: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """vs_rest (dB, power-sum form, NaN where never gated) per stem under ``gains_db``, and
        the mean segment power per stem over the gated segments (for the Jacobian)."""
        s = len(self.names)
        a = 10.0 ** (np.asarray(gains_db, dtype=float) / 20.0)
        w_rest = np.tile(a, (s, 1)) * (1.0 - np.eye(s))
        e_stem = np.einsum("fii,i->if", self.mono_gram, a * a)
        e_rest = np.einsum("fjk,ij,ik->if", self.mono_gram, w_rest, w_rest)
        with np.errstate(divide="ignore"):
            act_stem = 10.0 * np.log10(np.maximum(e_stem, 0.0) / self.frame) > ACTIVE_FRAME_DBFS
            act_rest = 10.0 * np.log10(np.maximum(e_rest, 0.0) / self.frame) > ACTIVE_FRAME_DBFS
        on_stem = np.stack([act_stem[:, x:y].mean(axis=1) for x, y in self.seg_bounds], 1)
        on_rest = np.stack([act_rest[:, x:y].mean(axis=1) for x, y in self.seg_bounds], 1)
        on_stem, on_rest = on_stem >= ACTIVE_SEGMENT_RATIO, on_rest >= ACTIVE_SEGMENT_RATIO
        lens = np.array([y - x for x, y in self.seg_bounds], dtype=float)
        seg_p = np.stack([self.energy[x:y].sum(axis=0) for x, y in self.seg_bounds], 1)
        seg_p = seg_p * (a * a)[:, None] / (lens * self.frame * self.n_channels)  # (S, seg)
        silent = ~act_stem.any(axis=1)
        nonsilent = ~silent
        all_on = on_stem[nonsilent].all(axis=0) if nonsilent.any() else np.zeros(len(lens), bool)
        vs_rest = np.full(s, np.nan)
        for i in range(s):
            if silent[i] or s < 2:
                continue
            gate = all_on & on_stem[i] & on_rest[i]
            if not gate.any():
                gate = on_stem[i] & on_rest[i]
            if not gate.any():
                continue
            rest = seg_p.sum(axis=0) - seg_p[i]
            with np.errstate(divide="ignore", invalid="ignore"):
                d = 10.0 * np.log10(seg_p[i, gate] / rest[gate])
            d = d[np.isfinite(d)]
            if d.size:
                vs_rest[i] = float(np.median(d))
        gated = all_on if all_on.any() else np.ones(len(lens), bool)
        mean_p = seg_p[:, gated].mean(axis=1)
        return vs_rest, mean_p


def _as_2d(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x[:, None] if x.ndim == 1 else x


def measure_vs_rest(stems: dict[str, np.ndarray], sr: int) -> dict[str, float | None]:
    """Each stem's level vs the power sum of the others (dB), median over gated 10 s segments:
    the quantity of the reference table, same gating as ``tools.measure.stem_balance`` (its
    ``level_vs_rest_power_sum_db``). None for a silent or never-gated stem.

    ``vs_rest`` is the stem's RMS minus the power sum of the other stems' RMS (dB), over 10 s
    segments where all four stems are active (>= 50 % of 50 ms frames above -50 dBFS), the
    song's value being the median over its gated segments. The packaged reference table
    (``tools/data/balance_reference.json``: MUSDB18-HQ, Rafii et al. 2019, segment table of the
    MixingBuddy-gain study) uses the same definition.
    """
    stats = FrameStats.from_stems(stems, sr)
    v, _ = stats.measure(np.zeros(len(stats.names)))
    return {s: (None if math.isnan(x) else float(x)) for s, x in zip(stats.names, v)}


# --------------------------------------------------------------------------- imposing

def solve_balance_gains(stems: dict[str, np.ndarray], target_vs_rest_db: dict[str, float], *,
                        sr: int, iterations: int = 20, tol_db: float = 0.02,
                        peak_dbfs: float | None = None, weights: dict[str, float] | None = None,
                        stats: FrameStats | None = None) -> tuple[dict[str, float], dict[str, float | None]]:
    """Gains (dB) per stem that bring each targeted stem's measured vs_rest to its target,
    and the vs_rest achieved with them. Stems not in ``target_vs_rest_db`` keep gain 0 (before
    the common peak scaling). With ``peak_dbfs`` the gains include a common scaling that puts
    the larger of the mix peak and every stem's peak at ``peak_dbfs`` (the activity gate is
    absolute, so levels are measured where they will end up).

    With all four stems targeted over several segments the medians are not always jointly
    reachable (each stem's median may come from a different segment); the steps then minimise
    the ``weights``-weighted squared misses (default 1 per stem); weight 0 drops a stem's
    target from the fit (its gain still moves), which puts the whole miss on that stem (e.g.
    "other", never a benchmark target).

    The gains come from Gauss-Newton steps on the measured vs_rest: the Jacobian of vs_rest_i
    in dB with respect to gain_j in dB is 1 on the diagonal and -P_j / sum_{k != i} P_k off
    it; its null space is the common gain, handled by a minimum-norm step. Each step
    re-measures with the segment/gating procedure of ``tools.measure.stem_balance`` (computed
    from per-frame statistics, :class:`FrameStats`, so that a step costs milliseconds) until
    every target is met within ``tol_db``.
    """
    unknown = sorted(set(target_vs_rest_db) - set(stems))
    if unknown:
        raise ValueError(f"apply_balance: targets for unknown stems {unknown}")
    stats = stats or FrameStats.from_stems(stems, sr)
    names = stats.names
    s = len(names)
    idx = [names.index(k) for k in target_vs_rest_db]
    t = np.array([float(target_vs_rest_db[names[i]]) for i in idx])
    w = np.array([float((weights or {}).get(names[i], 1.0)) for i in idx])
    g = np.zeros(s)
    arrays = [_as_2d(stems[k]) for k in names] if peak_dbfs is not None else None

    def rescale(g: np.ndarray) -> np.ndarray:
        if arrays is None:
            return g
        a = 10.0 ** (g / 20.0)
        mix = np.zeros_like(arrays[0], dtype=np.float32)
        for ai, x in zip(a, arrays):
            mix += np.float32(ai) * x
        peak = max(float(np.max(np.abs(mix))), float(np.max(a * stats.peak)))
        if peak <= 0:
            return g
        return g + (peak_dbfs - 20.0 * math.log10(peak))

    g = rescale(g)
    v, mean_p = stats.measure(g)
    for _ in range(max(0, iterations)):
        resid = t - v[idx]
        if np.all(np.isfinite(resid)) and np.max(np.abs(resid)[w > 0], initial=0.0) <= tol_db:
            break
        ok = np.isfinite(resid) & (w > 0)
        if not ok.any():
            break
        # Jacobian d vs_rest_i / d g_j (dB/dB) from the mean gated segment powers.
        p = mean_p
        rest = p.sum() - p
        jac = -p[None, :] / np.maximum(rest[:, None], 1e-30)
        np.fill_diagonal(jac, 1.0)
        rows = [i for i, k in zip(idx, ok) if k]
        step = np.zeros(s)
        cols = idx  # only targeted stems move
        sw = np.sqrt(w[ok])[:, None]
        sol, *_ = np.linalg.lstsq(sw * jac[np.ix_(rows, cols)], sw[:, 0] * resid[ok], rcond=None)
        step[cols] = np.clip(sol, -12.0, 12.0)
        if np.max(np.abs(step)) < 1e-4:
            break
        g = rescale(g + step)
        v, mean_p = stats.measure(g)
    achieved = {k: (None if math.isnan(x) else float(x)) for k, x in zip(names, v)}
    return {k: float(x) for k, x in zip(names, g)}, achieved


def apply_balance(stems: dict[str, np.ndarray], target_vs_rest_db: dict[str, float], *,
                  sr: int, iterations: int = 20, tol_db: float = 0.02,
                  peak_dbfs: float | None = None, weights: dict[str, float] | None = None,
                  ) -> tuple[dict[str, np.ndarray], dict[str, float | None]]:
    """Scale the stems so that each targeted stem's level vs the rest of the mix (power-sum
    form, median over gated 10 s segments, the reference's quantity) matches
    ``target_vs_rest_db`` within ``tol_db`` (when the targets are consistent, e.g. from
    ``draw_natural_balance`` or ``consistent_vs_rest``). Returns the scaled stems (float32) and
    the achieved vs_rest per stem (None for a stem never gated). See ``solve_balance_gains``."""
    gains, achieved = solve_balance_gains(stems, target_vs_rest_db, sr=sr, iterations=iterations,
                                          tol_db=tol_db, peak_dbfs=peak_dbfs, weights=weights)
    out = {k: (_as_2d(x) * np.float32(10.0 ** (gains[k] / 20.0))).astype(np.float32)
           for k, x in stems.items()}
    return out, achieved
