"""Masking between stems: where, in frequency and time, one stem covers another.

Energetic masking on an auditory (ERB) band scale, with a complementary-EQ remedy per pair of
stems; the method and its sources are in the Notes of :func:`measure_masking`.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import InvalidArgumentError
from ..io.validate import check_sr, check_stems
from ..results import Measurement, Row, r
from .bands import band_matrix, erb_bands_hz
from .fft import rfft

FFT_S = 0.085  # target STFT length (s); rounded up to a power of two
MIN_RANGE_S = 0.5  # shortest reported masked time range
FRAME_MASKED_RATIO = 0.5  # a frame is "masked" when >= this share of active bands are masked
CORE_RANGE_DB = 20.0  # worst bands are taken among the target's bands within this of its strongest
BOOST_RANGE_DB = 12.0  # the boost frequency is taken among bands within this of its strongest


class MaskedBand(Row):
    centre_hz: float
    lower_hz: float
    upper_hz: float
    masked_pct: float  # of the target's active frames in this band
    active_frames: int
    median_masker_minus_target_db: float | None  # over the target's active frames here


class MaskedRange(Row):
    start_s: float
    end_s: float
    masked_pct: float  # mean share of the target's active bands masked in the range


class MaskingPair(Measurement):
    masker: str
    target: str
    masked_pct: float | None  # of the target's active time-band cells; None if target silent
    target_active_cells: int
    per_band_masked_pct: list[float | None]  # aligned with MaskingResult.band_centres_hz
    worst_bands: list[MaskedBand]
    worst_ranges: list[MaskedRange]
    remedy: str | None
    remedy_cut_hz: float | None
    remedy_cut_min_db: float | None
    remedy_cut_max_db: float | None
    remedy_boost_hz: float | None
    remedy_boost_min_db: float | None
    remedy_boost_max_db: float | None


class MaskingResult(Measurement):
    threshold_db: float
    activity_range_db: float
    n_bands: int
    band_centres_hz: list[float]
    band_lower_hz: list[float]
    band_upper_hz: list[float]
    n_fft: int
    hop_s: float
    duration_s: float
    silent_stems: list[str]
    pairs: list[MaskingPair]  # every ordered pair, most masked first
    worst_pairs: list[str]  # "masker -> target", most masked first (masked_pct >= 10 %)
    method: str


_FRAMES_PER_BATCH = 128  # STFT frames transformed at a time (keeps the spectra in cache)


def _stft_band_db(x: np.ndarray, n_fft: int, hop: int, w_band: np.ndarray) -> np.ndarray:
    """(frames, bands) band levels in dB of a mono float32 signal (Hann window).

    Frames go through the FFT and the band sums in batches of ``_FRAMES_PER_BATCH`` (each
    frame's numbers are those of one transform of the whole signal)."""
    if x.shape[0] < n_fft:
        x = np.pad(x, (0, n_fft - x.shape[0]))
    win = np.hanning(n_fft + 1)[:-1].astype(np.float32)  # periodic Hann
    frames = sliding_window_view(x, n_fft)[::hop]
    band = np.empty((frames.shape[0], w_band.shape[0]), np.float32)
    for i in range(0, frames.shape[0], _FRAMES_PER_BATCH):
        spec = rfft(frames[i: i + _FRAMES_PER_BATCH] * win, axis=1, workers=2)
        band[i: i + _FRAMES_PER_BATCH] = (spec.real ** 2 + spec.imag ** 2) @ w_band.T
    # one-sided power -> mean square: 2 / (N * sum(w^2)) per bin
    band *= np.float32(2.0 / (n_fft * float(np.sum(win.astype(np.float64) ** 2))))
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(np.maximum(band, 1e-20))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index runs of True."""
    if not mask.any():
        return []
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def measure_masking(stems: dict[str, np.ndarray], sr: int, threshold_db: float = 3.0, *,
                    n_bands: int = 36, f_lo_hz: float = 50.0, f_hi_hz: float = 16000.0,
                    activity_range_db: float = 30.0, floor_db: float = -80.0,
                    min_band_active_pct: float = 5.0) -> MaskingResult:
    """Masking between every ordered pair of stems.

    ``stems``: name -> samples (n,) or (n, 2) float, all the same length, at least two stems.
    ``threshold_db``: a target cell is masked where the masker is at most this many dB below it.

    Notes
    -----
    Energetic masking on an auditory band scale:

    1. Each stem is summed to mono and analysed with a Hann-windowed STFT of about 85 ms
       (4096 points at 48 kHz, half-overlapping: a hop of 43 ms at 48 kHz, 46 ms at 44.1 kHz).
    2. The power spectrum of every frame is summed into ``n_bands`` bands equally spaced on the
       ERB-rate scale between ``f_lo_hz`` and ``f_hi_hz`` (default 36 bands, 50 Hz-16 kHz, about
       one ERB each; Glasberg & Moore 1990, via ``tools.measure.bands``). Band levels are in dB
       re full scale (a full-scale sine reads about -3 dB in its band).
    3. A time-band cell of the *target* is **active** when its level is no more than
       ``activity_range_db`` (30 dB) below the target's reference level (the highest, over
       bands, of each band's 95th-percentile level) and above ``floor_db`` (-80 dB): the target
       has something to lose there.
    4. An active target cell is **masked** by a *masker* when the masker's level in that cell
       reaches the target's level minus ``threshold_db`` (default 3 dB): masker-to-target ratio
       ``L_masker - L_target >= -threshold_db``. This is the energetic, within-band picture of
       masking used in automatic mixing: a source is hard to hear where another source has
       comparable or more energy in the same auditory band at the same time (Hafezi & Reiss,
       "Autonomous multitrack equalization based on masking reduction", JAES 63(5), 2015; the
       cross-adaptive masking measures of Aichinger et al., "Describing the transparency of
       mixdowns: the masked-to-unmasked ratio", AES 130th Convention, 2011). It ignores the
       spread of masking across bands and temporal masking, so it is a map of *where to look*,
       not a loudness model.

    Per ordered pair (masker, target): the share of the target's active cells that are masked
    (overall and per band), the 3 worst bands (among the target's core bands: median level
    within 20 dB of its strongest band, and at least ``min_band_active_pct`` of the frames
    active, so that a remedy never aims at a band where the target has only a fringe of
    energy), the worst time ranges (frames where at least half of the target's active bands
    are masked, merged into ranges of >= 0.5 s, the 3 longest), and an EQ remedy: at the worst
    band's centre f, the separation needed is ``need = median(L_masker - L_target) +
    threshold_db`` over the masked cells; "cut need/2..need dB (1-6 dB) on the masker around f
    (Q ~ 2) and/or boost need/4..need/2 dB (0.5-3 dB) on the target at f'", where f' is the
    target's most distinctive strong band (largest median target-over-masker level among the
    bands where the target's median level is within 12 dB of its strongest band): the classic
    complementary-EQ move.

    All 12 ordered pairs of 4 stems are computed at once (arrays of shape
    (maskers, targets, frames, bands)).
    """
    sr = check_sr(sr, "measure_masking", integer_only=True)
    for name, v in (("threshold_db", threshold_db), ("activity_range_db", activity_range_db),
                    ("floor_db", floor_db), ("min_band_active_pct", min_band_active_pct)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InvalidArgumentError(f"measure_masking: {name} must be a finite number, got {v!r}")
    if not 0.0 <= threshold_db <= 40.0:
        raise InvalidArgumentError(f"measure_masking: threshold_db must be in 0..40 dB, got {threshold_db}")
    if activity_range_db <= 0:
        raise InvalidArgumentError("measure_masking: activity_range_db must be > 0")
    names, arrays = check_stems(stems, sr, "measure_masking", min_s=0.5)
    if len(names) < 2:
        raise InvalidArgumentError("measure_masking: needs at least two stems")
    f_hi_hz = min(float(f_hi_hz), 0.5 * sr * 0.98)
    if f_hi_hz <= f_lo_hz:
        raise InvalidArgumentError(
            f"measure_masking: sample rate {sr} Hz leaves no band above {f_lo_hz} Hz")
    centres, lower, upper = erb_bands_hz(int(n_bands), f_lo_hz, f_hi_hz)
    n_fft = 1 << math.ceil(math.log2(FFT_S * sr))
    hop = n_fft // 2
    w_band = band_matrix(lower, upper, sr, n_fft).astype(np.float32)

    levels = []
    for a in arrays:
        mono = a[:, 0] if a.shape[1] == 1 else (a[:, 0] + a[:, 1]) * np.float32(0.5)
        lv = _stft_band_db(np.ascontiguousarray(mono, dtype=np.float32), n_fft, hop, w_band)
        if not np.isfinite(lv).all():
            raise InvalidArgumentError(
                f"measure_masking: stem {names[len(levels)]!r} contains NaN or infinite samples")
        levels.append(lv)
    L = np.stack(levels)  # (S, F, B) dB
    s, n_frames, nb = L.shape

    # Target activity.
    ref = np.percentile(L, 95, axis=1).max(axis=1)  # (S,)
    active = (L >= (ref - activity_range_db)[:, None, None]) & (L > floor_db)  # (S, F, B)
    silent = [names[i] for i in range(s) if not active[i].any()]

    # All ordered pairs at once: diff[m, t] = L_m - L_t.
    diff = L[:, None] - L[None, :]  # (S, S, F, B)
    masked = (diff >= -float(threshold_db)) & active[None, :]
    act_cells_band = active.sum(axis=1)  # (S, B): frames active per band, per target
    masked_band = masked.sum(axis=2)  # (S, S, B)
    act_per_frame = active.sum(axis=2)  # (S, F)
    masked_per_frame = masked.sum(axis=3)  # (S, S, F)

    hop_s = hop / sr
    pairs: list[MaskingPair] = []
    for t in range(s):
        total_active = int(act_cells_band[t].sum())
        # target's strong bands and median levels, for the boost frequency
        with np.errstate(invalid="ignore"):
            t_med = np.array([np.median(L[t, active[t, :, b], b]) if act_cells_band[t, b] else -np.inf
                              for b in range(nb)])
        for m in range(s):
            if m == t:
                continue
            pairs.append(_pair(names[m], names[t], L, m, t, active, masked, diff, act_cells_band,
                               masked_band, act_per_frame, masked_per_frame, total_active, t_med,
                               centres, lower, upper, float(threshold_db), min_band_active_pct,
                               hop_s, n_frames, arrays[0].shape[0] / sr))
    pairs.sort(key=lambda p: -(p.masked_pct if p.masked_pct is not None else -1.0))
    worst = [f"{p.masker} -> {p.target}" for p in pairs
             if p.masked_pct is not None and p.masked_pct >= 10.0]
    return MaskingResult(
        verdict=_verdict(pairs, silent), threshold_db=float(threshold_db),
        activity_range_db=float(activity_range_db), n_bands=nb,
        band_centres_hz=[float(round(c)) for c in centres],
        band_lower_hz=[r(x, 1) for x in lower], band_upper_hz=[r(x, 1) for x in upper],
        n_fft=n_fft, hop_s=round(hop_s, 4), duration_s=round(arrays[0].shape[0] / sr, 3),
        silent_stems=silent, pairs=pairs, worst_pairs=worst,
        method=(f"STFT {n_fft} pt Hann, hop {hop_s * 1000:.0f} ms, mono per stem; {nb} ERB-spaced "
                f"bands {f_lo_hz:g}-{f_hi_hz:g} Hz (Glasberg & Moore 1990); target cell active within "
                f"{activity_range_db:g} dB of its reference level; masked where masker >= target - "
                f"{threshold_db:g} dB"))


def _pair(masker, target, L, m, t, active, masked, diff, act_cells_band, masked_band,
          act_per_frame, masked_per_frame, total_active, t_med, centres, lower, upper,
          thr, min_band_active_pct, hop_s, n_frames, duration_s) -> MaskingPair:
    nb = L.shape[2]
    if total_active == 0:
        return MaskingPair(
            verdict=f"{target} is silent (no active band), so {masker} cannot mask it.",
            masker=masker, target=target, masked_pct=None, target_active_cells=0,
            per_band_masked_pct=[None] * nb, worst_bands=[], worst_ranges=[], remedy=None,
            remedy_cut_hz=None, remedy_cut_min_db=None, remedy_cut_max_db=None,
            remedy_boost_hz=None, remedy_boost_min_db=None, remedy_boost_max_db=None)
    acb = act_cells_band[t]
    with np.errstate(invalid="ignore", divide="ignore"):
        band_pct = np.where(acb > 0, 100.0 * masked_band[m, t] / np.maximum(acb, 1), np.nan)
    overall = 100.0 * masked_band[m, t].sum() / total_active

    # Worst bands: among the target's core bands (median active level within CORE_RANGE_DB of
    # its strongest band) with enough activity, the highest share masked.
    min_frames = max(1, math.ceil(min_band_active_pct / 100.0 * n_frames))
    finite = np.isfinite(t_med)
    core = finite & (t_med >= (np.max(t_med[finite]) if finite.any() else 0.0) - CORE_RANGE_DB)
    eligible = np.flatnonzero(core & (acb >= min_frames) & (masked_band[m, t] > 0))
    order = eligible[np.lexsort((-acb[eligible], -band_pct[eligible]))][:3]
    worst_bands = []
    for b in order:
        cells = active[t, :, b]
        med = float(np.median(diff[m, t, cells, b])) if cells.any() else None
        worst_bands.append(MaskedBand(
            centre_hz=float(round(centres[b])), lower_hz=r(lower[b], 1), upper_hz=r(upper[b], 1),
            masked_pct=round(float(band_pct[b]), 1), active_frames=int(acb[b]),
            median_masker_minus_target_db=r(med, 1)))

    # Worst time ranges.
    apf = act_per_frame[t]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(apf > 0, masked_per_frame[m, t] / np.maximum(apf, 1), 0.0)
    bad = frac >= FRAME_MASKED_RATIO
    ranges = []
    for a, b in _runs(bad):
        dur = (b - a) * hop_s
        if dur >= MIN_RANGE_S:
            ranges.append((dur, a, b))
    ranges.sort(key=lambda x: (-x[0], x[1]))
    # frame f is centred at (f + 1) * hop (window = 2 hops); a run [a, b) spans the centres
    # of its frames, half a hop either side
    worst_ranges = [MaskedRange(start_s=round((a + 0.5) * hop_s, 2),
                                end_s=round(min((b + 0.5) * hop_s, duration_s), 2),
                                masked_pct=round(100.0 * float(frac[a:b].mean()), 1))
                    for _, a, b in ranges[:3]]

    # Remedy at the worst band.
    remedy = None
    cut_hz = cut_lo = cut_hi = boost_hz = boost_lo = boost_hi = None
    if len(order):
        b0 = order[0]
        cells = masked[m, t, :, b0]
        need = float(np.median(diff[m, t, cells, b0])) + thr
        cut_hz = float(round(centres[b0]))
        cut_lo = round(float(np.clip(need / 2.0, 1.0, 6.0)), 1)
        cut_hi = round(float(np.clip(need, 1.0, 6.0)), 1)
        boost_lo = round(float(np.clip(need / 4.0, 0.5, 3.0)), 1)
        boost_hi = round(float(np.clip(need / 2.0, 0.5, 3.0)), 1)
        # the target's most distinctive strong band: largest median target-over-masker level
        strong = finite & (t_med >= np.max(t_med[finite]) - BOOST_RANGE_DB)
        with np.errstate(invalid="ignore"):
            margin = np.array([np.median(-diff[m, t, active[t, :, b], b]) if strong[b] else -np.inf
                               for b in range(nb)])
        boost_hz = float(round(centres[int(np.argmax(margin))])) if np.isfinite(margin).any() else cut_hz
        remedy = (f"cut {_rng(cut_lo, cut_hi)} dB on {masker} around {cut_hz:.0f} Hz (Q ~ 2) and/or "
                  f"boost {_rng(boost_lo, boost_hi)} dB on {target} at {boost_hz:.0f} Hz")

    overall_r = round(float(overall), 1)
    if worst_bands:
        wb = worst_bands[0]
        verdict = (f"{masker} masks {target} in {overall_r:.1f}% of the {target} stem's active time-band cells, "
                   f"worst around {wb.centre_hz:.0f} Hz ({wb.masked_pct:.1f}% there): {remedy}.")
    else:
        verdict = f"{masker} masks {target} in {overall_r:.1f}% of the {target} stem's active time-band cells."
    return MaskingPair(
        verdict=verdict, masker=masker, target=target, masked_pct=overall_r,
        target_active_cells=total_active,
        per_band_masked_pct=[None if not np.isfinite(v) else round(float(v), 1) for v in band_pct],
        worst_bands=worst_bands, worst_ranges=worst_ranges, remedy=remedy,
        remedy_cut_hz=cut_hz, remedy_cut_min_db=cut_lo, remedy_cut_max_db=cut_hi,
        remedy_boost_hz=boost_hz, remedy_boost_min_db=boost_lo, remedy_boost_max_db=boost_hi)


def _rng(lo: float, hi: float) -> str:
    return f"{lo:.1f}" if abs(hi - lo) < 0.05 else f"{lo:.1f}-{hi:.1f}"


def _verdict(pairs: list[MaskingPair], silent: list[str]) -> str:
    tail = f" Silent: {', '.join(silent)}." if silent else ""
    judged = [p for p in pairs if p.masked_pct is not None]
    if not judged:
        return "No stem has audible content to mask." + tail
    top = judged[0]
    if top.masked_pct < 10.0:
        return (f"Little masking: the worst pair, {top.masker} over {top.target}, covers "
                f"{top.masked_pct:.1f}% of the {top.target} stem's active time-band cells." + tail)
    bad = [p for p in judged if p.masked_pct >= 10.0][:3]
    parts = [f"{p.masker} over {p.target} {p.masked_pct:.1f}%" for p in bad]
    fix = f" First fix: {top.remedy}." if top.remedy else ""
    return "Worst masking: " + "; ".join(parts) + "." + fix + tail
