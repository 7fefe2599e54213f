"""Dynamics and technical faults of a mix: crest factor, PSR, clipping, DC offset.

Each quantity is defined, with its source, at the function that measures it: :func:`crest_factor_db`,
:func:`psr_db`, :func:`clipping_runs` and :func:`dc_offset`.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError
from ..io.validate import check_samples, check_sr
from ..results import Measurement, Row, db, r
from .loudness import (
    MAX_CHANNELS,
    MIN_SR,
    SHORT_TERM_S,
    LoudnessMeter,
    LoudnessResult,
    crest_db,
    fmt1,
    mean_square,
    power_to_lufs,
    true_peak_linear,
)

FULL_SCALE_CLIP_LEVEL = 0.999  # linear; -0.0087 dBFS
FLAT_TOP_TOLERANCE = 1e-6  # relative: samples this close to the file's maximum count as "at" it
DC_FLAG_RATIO = 0.001  # -60 dBFS
MAX_REPORTED_RUNS = 10


# --- crest factor and PSR -----------------------------------------------------------------------


def crest_factor_db(samples: np.ndarray) -> float | None:
    """Crest factor in dB: sample peak over the RMS of all samples of all channels pooled.

    A sine reads 3.01 dB, a square wave 0 dB, a heavily limited master 8-10 dB, an open
    acoustic mix 15-20 dB. None for digital silence.
    """
    x, peak = check_samples(samples, "crest_factor_db", max_channels=MAX_CHANNELS)
    return crest_db(peak, mean_square(x))


def psr_db(samples: np.ndarray, sr: int, *, true_peak_dbtp: float | None = None,
           max_short_term_lufs: float | None = None) -> float | None:
    """Peak to short-term loudness ratio in dB: true peak (dBTP) minus the loudest short-term
    (3 s) loudness (LUFS) of the track.

    Pass ``true_peak_dbtp`` and ``max_short_term_lufs`` when already measured (e.g. from a
    :class:`~mixingbuddy.tools.measure.loudness.LoudnessResult`) to skip recomputing them. None when
    the signal is shorter than 3 s or silent.

    Notes
    -----
    PSR is the measure Ian Shepherd introduced with the MeterPlugs Dynameter: true peak (dBTP,
    BS.1770-4 Annex 2) minus short-term loudness (LUFS, 3 s window, EBU Tech 3341). The meter
    shows it over time; as one number for a track this takes the track's true peak minus its
    loudest 3 s, i.e. how much the peaks stand above the loudest passage. Low values mean heavy
    limiting.
    """
    x, peak = check_samples(samples, "psr_db", max_channels=MAX_CHANNELS)
    sr = check_sr(sr, "psr_db", minimum=MIN_SR)
    if max_short_term_lufs is None:
        z = LoudnessMeter(x, sr).blocks(SHORT_TERM_S)[1]
        if z.size == 0 or not z.max() > 0.0:
            return None
        max_short_term_lufs = float(power_to_lufs(z.max()))
    if true_peak_dbtp is None:
        true_peak_dbtp = db(true_peak_linear(x, sr, peak))
    return float(true_peak_dbtp - max_short_term_lufs)


# --- clipping ---------------------------------------------------------------------------------


class ClipRun(Row):
    channel: int  # 0-based
    start_s: float
    duration_s: float
    n_samples: int


class ClippingResult(Measurement):
    mode: str  # "full_scale" (|x| >= threshold), "flat_top" (at the file's own maximum), "threshold"
    level_dbfs: float  # the level a sample must reach to count
    runs: int  # runs of at least min_run consecutive samples at or above the level
    clipped_samples: int  # samples in those runs, all channels
    clipped_pct: float  # of all samples (all channels)
    longest_run_samples: int
    worst_runs: list[ClipRun]  # longest first (earliest first among equals), at most 10
    min_run: int


def _runs(idx: np.ndarray, min_run: int) -> tuple[np.ndarray, np.ndarray]:
    """Starts and lengths of runs of consecutive integers in sorted ``idx`` of length >= min_run."""
    if idx.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    breaks = np.flatnonzero(np.diff(idx) != 1)
    starts = idx[np.concatenate(([0], breaks + 1))]
    ends = idx[np.concatenate((breaks, [idx.size - 1]))]
    lengths = ends - starts + 1
    keep = lengths >= min_run
    return starts[keep], lengths[keep]


_SCAN_BLOCK = 4096  # frames per block when looking for blocks that reach the clip level


def _hot_blocks(x: np.ndarray, level: float) -> np.ndarray:
    """Indices of the ``_SCAN_BLOCK``-frame blocks of ``x`` (n, ch) where any channel reaches
    ``|x| >= level`` (one pass over the interleaved samples)."""
    n_full = x.shape[0] // _SCAN_BLOCK
    blocks = x[: n_full * _SCAN_BLOCK].reshape(n_full, -1)
    return np.flatnonzero((blocks.max(axis=1) >= level) | (blocks.min(axis=1) <= -level))


def _indices_at_level(col: np.ndarray, level: float, hot: np.ndarray) -> np.ndarray:
    """Sorted indices of the samples of ``col`` with ``|x| >= level``, comparing sample by sample
    only inside the ``hot`` blocks and after the last whole block (a run never continues
    through a block that does not reach the level)."""
    def at_level(start: int, stop: int) -> np.ndarray:
        seg = col[start:stop]
        return start + np.flatnonzero((seg >= level) | (seg <= -level))

    tail = (col.shape[0] // _SCAN_BLOCK) * _SCAN_BLOCK
    parts = [at_level(int(b) * _SCAN_BLOCK, (int(b) + 1) * _SCAN_BLOCK) for b in hot]
    parts.append(at_level(tail, col.shape[0]))
    return np.concatenate(parts)


def clipping_runs(samples: np.ndarray, sr: int, threshold: float | None = None,
                  min_run: int = 3) -> ClippingResult:
    """Find runs of clipped samples.

    A run is at least ``min_run`` consecutive samples of one channel with ``|x| >= level``.
    ``level`` is ``threshold`` (linear, 1.0 = full scale) when given; otherwise 0.999
    (-0.0087 dBFS) when the file reaches full scale, else the file's own maximum (within a
    relative 1e-6), which catches a mix clipped and then turned down: its flat tops sit at
    the new maximum. A clean signal rarely holds its exact maximum for three samples (a
    50 Hz sine at 48 kHz stays within 1e-6 of its crest for one), while content peaking at
    full scale with slow crests can read as short runs in full-scale mode.

    Decoded lossy files (MP3/AAC) and resampled files smear flat tops into ripples, so only
    the full-scale rule finds their clipping, and only where the ripple stays above 0.999.
    """
    x, peak = check_samples(samples, "clipping_runs", max_channels=MAX_CHANNELS)
    sr = check_sr(sr, "clipping_runs")
    if isinstance(min_run, bool) or not isinstance(min_run, (int, np.integer)) or min_run < 1:
        raise InvalidArgumentError(f"min_run must be a positive whole number of samples, got {min_run!r}")
    min_run = int(min_run)
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating, np.integer)) \
                or not math.isfinite(threshold) or threshold <= 0:
            raise InvalidArgumentError(
                f"clipping threshold must be a positive linear amplitude (1.0 = full scale), got {threshold!r}")
        level, mode = float(threshold), "threshold"
    else:
        level, mode = _clip_level(peak)
    return _clipping_result([(0, x)], x.shape[0], x.shape[1], peak, level, mode, sr, min_run)


def _clip_level(peak: float) -> tuple[float, str]:
    """The clip level and its mode for a signal whose largest |sample| is ``peak``."""
    if peak >= FULL_SCALE_CLIP_LEVEL:
        return FULL_SCALE_CLIP_LEVEL, "full_scale"
    return peak * (1.0 - FLAT_TOP_TOLERANCE), "flat_top"


def clipping_runs_blocks(src, sr: int, peak: float, min_run: int = 3) -> ClippingResult:
    """:func:`clipping_runs` (default level) of a long signal read a block at a time: ``src`` is a
    :class:`~mixingbuddy.tools.io.spool.Spool` (or an (n, ch) array) of finite samples whose
    largest |sample| is ``peak``. The same runs, also across block seams."""
    from ..io.spool import blocks_of

    level, mode = _clip_level(peak)
    return _clipping_result(blocks_of(src), src.shape[0], src.shape[1], peak, level, mode, sr, min_run)


def _clipping_result(blocks, n: int, n_ch: int, peak: float, level: float, mode: str, sr: int,
                     min_run: int) -> ClippingResult:
    """Runs of ``|x| >= level`` in the signal given as ``(offset, block)`` pairs in order."""
    all_starts, all_lengths, all_channels = [], [], []
    if peak > 0.0 and level <= peak:
        idx: list[list[np.ndarray]] = [[] for _ in range(n_ch)]
        for a, block in blocks:
            hot = _hot_blocks(block, level)
            for c in range(n_ch):
                idx[c].append(a + _indices_at_level(block[:, c], level, hot))
        for c in range(n_ch):
            starts, lengths = _runs(np.concatenate(idx[c]), min_run)
            all_starts.append(starts)
            all_lengths.append(lengths)
            all_channels.append(np.full(starts.size, c))
    starts = np.concatenate(all_starts) if all_starts else np.zeros(0, np.int64)
    lengths = np.concatenate(all_lengths) if all_lengths else np.zeros(0, np.int64)
    channels = np.concatenate(all_channels) if all_channels else np.zeros(0, np.int64)
    order = np.lexsort((starts, -lengths))[:MAX_REPORTED_RUNS]
    worst = [ClipRun(channel=int(channels[i]), start_s=round(float(starts[i]) / sr, 3),
                     duration_s=round(float(lengths[i]) / sr, 5), n_samples=int(lengths[i]))
             for i in order]
    total = int(lengths.sum())
    res: dict[str, Any] = dict(
        mode=mode, level_dbfs=r(db(level), 3), runs=int(lengths.size), clipped_samples=total,
        clipped_pct=round(100.0 * total / (n * n_ch), 4),
        longest_run_samples=int(lengths.max()) if lengths.size else 0,
        worst_runs=worst, min_run=min_run)
    res["verdict"] = _clipping_verdict(res, n_ch)
    return ClippingResult(**res)


def _channel_name(c: int, n_ch: int) -> str:
    if n_ch == 1:
        return "mono"
    if n_ch == 2:
        return ("left", "right")[c]
    return f"channel {c}"


def _clip_phrase(runs: int, clipped_samples: int, longest: int, worst: list[ClipRun], n_ch: int) -> str:
    if runs == 0:
        return "no clipping"
    w = worst[0]
    where = f" on the {_channel_name(w.channel, n_ch)} channel" if n_ch > 1 else ""
    count = "1 clipped run" if runs == 1 else f"{runs} clipped runs"
    return (f"{count} ({clipped_samples} samples), longest {longest} samples at "
            f"{w.start_s:.2f} s{where}")


def _clipping_verdict(res: dict, n_ch: int) -> str:
    if res["runs"] == 0:
        return "No clipping: no run of samples stuck at the peak level."
    kind = {"full_scale": "at full scale", "flat_top": "flat-topped at the file's maximum",
            "threshold": "at or above the threshold"}[res["mode"]]
    phrase = _clip_phrase(res["runs"], res["clipped_samples"], res["longest_run_samples"],
                          res["worst_runs"], n_ch)
    return f"Clipping {kind}: {phrase}."


# --- DC offset --------------------------------------------------------------------------------


class ChannelDc(Row):
    channel: int  # 0-based
    offset_ratio: float  # mean sample value, full scale = 1
    offset_dbfs: float  # 20 log10 |mean|, -200 for none
    flagged: bool  # |offset| > 0.001 (-60 dBFS)


class DcOffsetResult(Measurement):
    channels: list[ChannelDc]
    flagged: bool


def _dc_phrase(chans: list[ChannelDc], n_ch: int) -> str:
    bad = [c for c in chans if c.flagged]
    if not bad:
        return "no DC offset"
    return "DC offset " + ", ".join(
        f"{c.offset_ratio:+.4f} ({fmt1(c.offset_dbfs)} dBFS) on {_channel_name(c.channel, n_ch)}"
        for c in bad)


def dc_offset(samples: np.ndarray) -> DcOffsetResult:
    """DC offset of each channel: its mean sample value (accumulated in float64), as a fraction
    of full scale (``offset_ratio``) and in dBFS; flagged when ``|mean| > 0.001`` (-60 dBFS),
    where it starts to eat headroom and can click at edits. A high-pass at a few Hz removes it."""
    return _dc_offset(check_samples(samples, "dc_offset", max_channels=MAX_CHANNELS)[0])


def _dc_offset(x: np.ndarray) -> DcOffsetResult:
    """:func:`dc_offset` of an already checked (n, ch) signal."""
    n, n_ch = x.shape
    return dc_from_means(np.array([x[:, c].sum(dtype=np.float64) for c in range(n_ch)]) / n)  # a pass per column


def dc_from_means(means: np.ndarray) -> DcOffsetResult:
    """:func:`dc_offset` from each channel's mean sample value (float64)."""
    n_ch = len(means)
    chans = [ChannelDc(channel=c, offset_ratio=round(float(m), 6), offset_dbfs=r(db(abs(float(m)))),
                       flagged=bool(abs(m) > DC_FLAG_RATIO)) for c, m in enumerate(means)]
    phrase = _dc_phrase(chans, n_ch)
    verdict = (phrase[0].upper() + phrase[1:] + ("; remove it with a gentle high-pass." if
               any(c.flagged for c in chans) else "."))
    return DcOffsetResult(channels=chans, flagged=any(c.flagged for c in chans), verdict=verdict)


# --- the measurement ------------------------------------------------------------------------------


class DynamicsResult(Measurement):
    crest_factor_db: float | None
    psr_db: float | None
    true_peak_dbtp: float
    max_short_term_lufs: float | None
    clipping: ClippingResult
    dc: DcOffsetResult


def _psr_words(psr: float) -> str:
    # Ranges after Ian Shepherd's guidance for the Dynameter: under about 6 dB is extreme,
    # 8 dB or more keeps transients; unmastered mixes usually sit well above 12.
    if psr < 6.0:
        return "crushed: the loudest passage is limited very hard"
    if psr < 8.0:
        return "heavily limited"
    if psr < 12.0:
        return "controlled, typical of a modern master"
    return "open and dynamic"


def measure_dynamics(samples: np.ndarray, sr: int, loudness: LoudnessResult | None = None,
                     clipping: ClippingResult | None = None) -> DynamicsResult:
    """Crest factor, PSR, clipping runs and DC offset of a mix, with a one-line verdict.

    ``loudness``: the :class:`LoudnessResult` of the same samples, if already measured; its
    true peak, loudest short-term loudness and crest factor are reused (otherwise they are
    measured here, which costs K-weighting and oversampling again).
    ``clipping``: the clipping measured on the file's own samples before resampling
    (``Audio.source_clipping``); resampling rounds off flat tops, so it is the better count.
    """
    x, peak = check_samples(samples, "measure_dynamics", max_channels=MAX_CHANNELS)
    sr = check_sr(sr, "measure_dynamics", minimum=MIN_SR)
    if loudness is not None:
        tp, st_max, crest = loudness.true_peak_dbtp, loudness.max_short_term_lufs, loudness.crest_factor_db
    else:
        z = LoudnessMeter(x, sr).blocks(SHORT_TERM_S)[1]
        st_max = r(float(power_to_lufs(z.max()))) if z.size and z.max() > 0.0 else None
        tp = r(db(true_peak_linear(x, sr, peak)))
        crest = r(crest_db(peak, mean_square(x)))
    clip = clipping if clipping is not None else clipping_runs(x, sr)
    dc = _dc_offset(x)  # x is checked above: no second pass for NaN and inf
    return dynamics_result(tp, st_max, crest, clip, dc, x.shape[1])


def dynamics_result(tp: float, st_max: float | None, crest: float | None, clip: ClippingResult,
                    dc: DcOffsetResult, n_ch: int) -> DynamicsResult:
    """The :class:`DynamicsResult` and its verdict from the measured parts (true peak dBTP, loudest
    short-term LUFS, crest factor dB, clipping, DC offset) of an ``n_ch``-channel signal."""
    psr = r(tp - st_max) if st_max is not None else None
    parts = []
    if crest is not None:
        parts.append(f"crest factor {fmt1(crest)} dB")
    if psr is not None:
        parts.append(f"PSR {fmt1(psr)} dB ({_psr_words(psr)})")
    head = ", ".join(parts) if parts else "silent or too short for crest factor and PSR"
    clip_phrase = _clip_phrase(clip.runs, clip.clipped_samples, clip.longest_run_samples,
                               clip.worst_runs, n_ch)
    verdict = f"{head[0].upper() + head[1:]}; {clip_phrase}; {_dc_phrase(dc.channels, n_ch)}."

    return DynamicsResult(crest_factor_db=crest, psr_db=psr, true_peak_dbtp=tp,
                          max_short_term_lufs=st_max, clipping=clip, dc=dc, verdict=verdict)
