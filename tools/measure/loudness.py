"""Loudness, loudness range and peaks per ITU-R BS.1770-4 and EBU R 128.

Each rule is documented, with its clause of the standard, at the function that applies it.
Windows are only ever complete: values are reported at block *end* times (the first momentary
value covers 0-0.4 s and is reported at 0.4 s, as a meter shows it and as ffmpeg's ``ebur128``
filter prints ``t``). Digital silence is ``-inf`` in numpy arrays and ``None`` in result models.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from ..errors import InvalidArgumentError
from ..io.validate import check_samples, check_sr
from ..results import Measurement, Row, db, r
from .iir import sosfilt_axis0

# --- constants (BS.1770-4, EBU Tech 3341 / 3342) -------------------------------------------

LOUDNESS_OFFSET_DB = -0.691  # BS.1770-4 eq. 2: makes a 1 kHz stereo sine at -23 dBFS read -23 LUFS
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0  # integrated loudness (BS.1770-4)
LRA_RELATIVE_GATE_LU = -20.0  # loudness range (EBU Tech 3342)
LRA_LOW_PERCENTILE = 0.10
LRA_HIGH_PERCENTILE = 0.95
MOMENTARY_S = 0.4
SHORT_TERM_S = 3.0
METER_HOP_S = 0.1  # 10 values per second (EBU Tech 3341 meter update rate)
REPORT_HOP_S = 1.0  # the short-term series kept in a LoudnessResult
# BS.1770-4 Table 4 channel weights in its channel order L, R, C, Ls, Rs (no LFE).
# BS.1770-4 channel weights G_c: 1.0 for L, R and C, 1.41 for the surrounds (a mono signal is
# one channel, weight 1.0).
CHANNEL_WEIGHTS = (1.0, 1.0, 1.0, 1.41, 1.41)
MIN_SR = 8_000  # Hz; below this the K-filter's 1.7 kHz shelf is too close to Nyquist.
MAX_CHANNELS = len(CHANNEL_WEIGHTS)  # L, R, C, Ls, Rs

# Analogue prototypes that reproduce BS.1770-4's 48 kHz coefficients (the fit published with
# libebur128; pyloudnorm carries the same numbers as its "DeMan" filter class).
_SHELF_F0_HZ = 1681.974450955533
_SHELF_GAIN_DB = 3.999843853973347
_SHELF_Q = 0.7071752369554196
_SHELF_VB_EXPONENT = 0.4996667741545416
_HIGHPASS_F0_HZ = 38.13547087602444
_HIGHPASS_Q = 0.5003270373238773

_TP_TAPS_PER_PHASE = 16  # BS.1770-4 Annex 2 shows 12 (48 taps at 4x); 16 is flatter to 19 kHz
_TP_KAISER_BETA = 5.0
_TP_CHUNK = 16_384  # samples per channel processed at a time (bounds memory, stays in cache)
_TP_ROW = 16  # output positions per row of the interpolator's matrix products (see _band_matrices)


# --- K-weighting -----------------------------------------------------------------------------


def k_weighting_sos(sr: int) -> np.ndarray:
    """The K-weighting filter (BS.1770-4 Annex 1) at ``sr`` Hz as second-order sections (2, 6).

    Stage 1 is the shelf, stage 2 the RLB high-pass; both come from their analogue prototypes
    through the bilinear transform with the cut-off pre-warped (``K = tan(pi f0 / sr)``). At 48 kHz
    this reproduces the standard's tabulated coefficients to about 1e-9.

    The shelf raises the highs by about +4 dB above ~1.7 kHz; the "RLB" high-pass is at about
    38 Hz. The standard tabulates coefficients for 48 kHz only; for other rates both biquads are
    rebuilt from the analogue prototype that reproduces those 48 kHz coefficients (the
    parameterisation used by libebur128 and by pyloudnorm's "DeMan" filter).
    """
    sr = check_sr(sr, "k_weighting_sos", minimum=MIN_SR)
    k = math.tan(math.pi * _SHELF_F0_HZ / sr)
    vh = 10.0 ** (_SHELF_GAIN_DB / 20.0)
    vb = vh ** _SHELF_VB_EXPONENT
    a0 = 1.0 + k / _SHELF_Q + k * k
    shelf_b = [(vh + vb * k / _SHELF_Q + k * k) / a0, 2.0 * (k * k - vh) / a0,
               (vh - vb * k / _SHELF_Q + k * k) / a0]
    shelf_a = [1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / _SHELF_Q + k * k) / a0]
    k = math.tan(math.pi * _HIGHPASS_F0_HZ / sr)
    a0 = 1.0 + k / _HIGHPASS_Q + k * k
    hp_b = [1.0, -2.0, 1.0]  # as in BS.1770-4 (not normalised to unity gain; the -0.691 dB offset accounts for it)
    hp_a = [1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / _HIGHPASS_Q + k * k) / a0]
    return np.array([shelf_b + shelf_a, hp_b + hp_a], dtype=np.float64)


@lru_cache(maxsize=16)
def _k_sos_cached(sr: int) -> tuple[tuple[float, ...], ...]:
    return tuple(map(tuple, k_weighting_sos(sr)))


def _k_sos(sr: int) -> np.ndarray:
    return np.array(_k_sos_cached(sr))


def k_weight(samples: np.ndarray, sr: int) -> np.ndarray:
    """K-weighted copy of ``samples`` (float64, same shape), filter state starting at zero."""
    x = check_samples(samples, "k_weight", max_channels=MAX_CHANNELS)[0]
    sr = check_sr(sr, "k_weight", minimum=MIN_SR)
    y = sosfilt_axis0(_k_sos(sr), x)  # float64, the coefficients' type
    return y.reshape(np.shape(samples))


# --- block loudness ----------------------------------------------------------------------------


def _channel_weights(n_channels: int) -> np.ndarray:
    return np.asarray(CHANNEL_WEIGHTS[:n_channels], dtype=np.float64)


def _sub_block_energy(w: np.ndarray, sub_n: int) -> np.ndarray:
    """Channel-weighted sum of squares of each complete run of ``sub_n`` samples of ``w`` (n, ch)."""
    n, ch = w.shape
    n_sub = n // sub_n
    a = w[: n_sub * sub_n].reshape(n_sub, sub_n, ch)
    g = _channel_weights(ch)
    if np.all(g == 1.0):
        return np.einsum("ijk,ijk->i", a, a)
    return np.einsum("ijk,ijk->ik", a, a) @ g


def _block_power(sub_energy: np.ndarray, sub_n: int, block_subs: int, hop_subs: int) -> np.ndarray:
    """Mean-square power of every complete block of ``block_subs`` sub-blocks, every ``hop_subs``.

    Differences of a cumulative sum over sub-block energies: exact zero for digitally silent
    blocks (a cumulative sum does not move when zeros are added), clipped at zero otherwise.
    """
    n_sub = sub_energy.shape[0]
    if n_sub < block_subs:
        return np.zeros(0)
    c = np.concatenate(([0.0], np.cumsum(sub_energy)))
    starts = np.arange(0, n_sub - block_subs + 1, hop_subs)
    z = (c[starts + block_subs] - c[starts]) / float(block_subs * sub_n)
    return np.maximum(z, 0.0)


def power_to_lufs(z: np.ndarray | float) -> np.ndarray:
    """Loudness in LUFS of channel-weighted mean-square power ``z`` (BS.1770-4 eq. 2:
    ``-0.691 + 10 log10(z)``); ``-inf`` for zero power, without a divide-by-zero warning."""
    with np.errstate(divide="ignore"):
        return LOUDNESS_OFFSET_DB + 10.0 * np.log10(z)


def _lufs_to_power(lufs: float) -> float:
    return 10.0 ** ((lufs - LOUDNESS_OFFSET_DB) / 10.0)


def _block_sizes(sr: int, block_s: float, hop_s: float) -> tuple[int, int]:
    if not (isinstance(block_s, (int, float)) and math.isfinite(block_s) and block_s > 0):
        raise InvalidArgumentError(f"block length must be a positive number of seconds, got {block_s!r}")
    if not (isinstance(hop_s, (int, float)) and math.isfinite(hop_s) and hop_s > 0):
        raise InvalidArgumentError(f"hop must be a positive number of seconds, got {hop_s!r}")
    block_n = int(round(block_s * sr))
    hop_n = int(round(hop_s * sr))
    if block_n < 1 or hop_n < 1:
        raise InvalidArgumentError(
            f"block {block_s} s / hop {hop_s} s is shorter than one sample at {sr} Hz")
    return block_n, hop_n


def _block_loudness(w: np.ndarray, sr: int, block_s: float, hop_s: float) -> tuple[np.ndarray, np.ndarray]:
    block_n, hop_n = _block_sizes(sr, block_s, hop_s)
    sub_n = math.gcd(block_n, hop_n)
    z = _block_power(_sub_block_energy(w, sub_n), sub_n, block_n // sub_n, hop_n // sub_n)
    times = (np.arange(z.shape[0]) * hop_n + block_n) / float(sr)
    return times, power_to_lufs(z)


def block_loudness_lkfs(weighted: np.ndarray, sr: int, block_s: float, hop_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Loudness of every complete block of a K-weighted signal (BS.1770-4 eq. 2-4).

    ``weighted`` is the output of :func:`k_weight`, shape (n,) or (n, ch); blocks are
    ``block_s`` long and start every ``hop_s`` seconds, the first at 0. Returns ``(times_s,
    loudness)``: block end times and loudness in LKFS (= LUFS), ``-inf`` for digital silence.
    ``L = -0.691 + 10 log10(sum_c G_c * z_c)`` where ``z_c`` is the mean square of the K-weighted
    channel ``c`` over the block and ``G_c`` its weight (:data:`CHANNEL_WEIGHTS`).
    Vectorised: sums of squares per ``gcd(block, hop)`` samples, then a cumulative sum over those.
    """
    sr = check_sr(sr, "block_loudness_lkfs")
    w = check_samples(weighted, "block_loudness_lkfs", max_channels=MAX_CHANNELS)[0]
    return _block_loudness(w, sr, block_s, hop_s)


_METER_CHUNK_SUBS = 100  # sub-blocks K-weighted at a time (10 s at the 100 ms meter hop)


def _k_weighted_sub_energy(x: np.ndarray, sr: int, sub_n: int) -> np.ndarray:
    """:func:`_sub_block_energy` of the K-weighted ``x`` (n, ch), filtering ``_METER_CHUNK_SUBS``
    sub-blocks at a time with the filter state carried over (the same numbers as filtering the
    whole signal, bit for bit, without a whole-song float64 copy; samples after the last
    complete sub-block are not needed)."""
    return k_weighted_sub_energy_blocks([(0, x)], sr, sub_n)


def k_weighted_sub_energy_blocks(blocks, sr: int, sub_n: int) -> np.ndarray:
    """:func:`_k_weighted_sub_energy` of a signal given as ``(offset, block)`` pairs in order,
    every block but the last a whole number of ``sub_n`` samples (the filter state is carried
    from block to block; blocks of ``_METER_CHUNK_SUBS * sub_n`` give the same numbers bit for bit)."""
    sos = _k_sos(sr)
    state = None
    parts = [np.zeros(0)]
    for _, x in blocks:
        if state is None:
            state = np.zeros((sos.shape[0], 2, x.shape[1]))
        n_sub = x.shape[0] // sub_n
        for a in range(0, n_sub, _METER_CHUNK_SUBS):
            b = min(a + _METER_CHUNK_SUBS, n_sub)
            w, state = sosfilt_axis0(sos, x[a * sub_n: b * sub_n], zi=state)
            parts.append(_sub_block_energy(w, sub_n))
    return np.concatenate(parts)


class LoudnessMeter:
    """K-weighted signal reduced to channel-weighted energies per 100 ms; every loudness measure
    of one signal derives from that, so ``measure_loudness`` (and ``measure_dynamics``) filter
    once.

    ``x`` is an already checked ``(n, ch)`` float signal and ``sr`` a checked rate of at least
    ``MIN_SR`` (see :mod:`.validate`); nothing is checked here. :meth:`blocks` gives block
    powers; :func:`power_to_lufs` turns them into loudness.
    """

    def __init__(self, x: np.ndarray | None, sr: int, sub_energy: np.ndarray | None = None):
        self.sr = sr
        self.hop_n = int(round(METER_HOP_S * sr))
        self._x = x
        self._weighted: np.ndarray | None = None
        self.sub_energy = _k_weighted_sub_energy(x, sr, self.hop_n) if sub_energy is None else sub_energy

    @classmethod
    def from_blocks(cls, blocks, sr: int) -> LoudnessMeter:
        """The meter of a long signal read as ``(offset, block)`` pairs (blocks of
        ``_METER_CHUNK_SUBS`` hops); only block lengths that 100 ms divides can be asked of it."""
        hop_n = int(round(METER_HOP_S * sr))
        return cls(None, sr, k_weighted_sub_energy_blocks(blocks, sr, hop_n))

    @property
    def weighted(self) -> np.ndarray:
        """The whole K-weighted signal, float64 (n, ch), filtered on first use: only block
        lengths that 100 ms does not divide need it."""
        if self._weighted is None:
            self._weighted = sosfilt_axis0(_k_sos(self.sr), self._x)
        return self._weighted

    def blocks(self, block_s: float) -> tuple[np.ndarray, np.ndarray]:
        """(end times s, mean-square power) of complete blocks of ``block_s``, hop 100 ms."""
        block_n = int(round(block_s * self.sr))
        if block_n % self.hop_n:  # rates where 100 ms does not divide the block: exact path
            sub_n = math.gcd(block_n, self.hop_n)
            z = _block_power(_sub_block_energy(self.weighted, sub_n), sub_n, block_n // sub_n,
                             self.hop_n // sub_n)
        else:
            z = _block_power(self.sub_energy, self.hop_n, block_n // self.hop_n, 1)
        times = (np.arange(z.shape[0]) * self.hop_n + block_n) / float(self.sr)
        return times, z


def integrated_from_block_power(z: np.ndarray) -> float | None:
    """BS.1770-4 gating over 400 ms block powers ``z`` (channel-weighted mean squares, eq. 2-6):
    the one implementation of the gates, also used by the stem balance; None when every block
    is gated out."""
    kept = z[z > _lufs_to_power(ABSOLUTE_GATE_LUFS)]
    if kept.size == 0:
        return None
    relative_gate = _lufs_to_power(float(power_to_lufs(kept.mean())) + RELATIVE_GATE_LU)
    kept = kept[kept > relative_gate]
    if kept.size == 0:  # cannot happen (the loudest block is above the mean), kept for safety
        return None
    return float(power_to_lufs(kept.mean()))


def _lra_from_power(z: np.ndarray) -> float | None:
    """EBU Tech 3342 loudness range from 3 s block powers ``z`` (see :func:`loudness_range_lu`)."""
    kept = z[z >= _lufs_to_power(ABSOLUTE_GATE_LUFS)]
    if kept.size == 0:
        return None
    relative_gate = _lufs_to_power(float(power_to_lufs(kept.mean())) + LRA_RELATIVE_GATE_LU)
    kept = np.sort(kept[kept >= relative_gate])
    if kept.size == 0:
        return None
    top = kept.size - 1
    low = kept[int(math.floor(top * LRA_LOW_PERCENTILE + 0.5))]
    high = kept[int(math.floor(top * LRA_HIGH_PERCENTILE + 0.5))]
    return float(power_to_lufs(high) - power_to_lufs(low))


# --- public loudness functions -----------------------------------------------------------------


def integrated_loudness_lufs(samples: np.ndarray, sr: int) -> float | None:
    """Integrated (programme) loudness in LUFS per ITU-R BS.1770-4 / EBU R 128.

    400 ms blocks with 75 % overlap, absolute gate -70 LUFS, relative gate -10 LU (both
    strict, as the standard's ``>``). Returns None when no block passes the gates (silence, or
    a signal shorter than one 400 ms block). BS.1770-4 eq. 5-7: blocks at or below -70 LUFS are
    dropped, then blocks at or below (loudness of the kept blocks - 10 LU); the result is the
    loudness of the mean power of what is left.
    """
    x = check_samples(samples, "integrated_loudness_lufs", max_channels=MAX_CHANNELS)[0]
    sr = check_sr(sr, "integrated_loudness_lufs", minimum=MIN_SR)
    return integrated_from_block_power(LoudnessMeter(x, sr).blocks(MOMENTARY_S)[1])


def momentary_lufs(samples: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Momentary loudness (EBU Tech 3341: 400 ms window) every 100 ms.

    Returns ``(times_s, lufs)``: window end times and loudness (``-inf`` for digital silence).
    Only complete windows are reported, so the first value is at 0.4 s.
    """
    x = check_samples(samples, "momentary_lufs", max_channels=MAX_CHANNELS)[0]
    sr = check_sr(sr, "momentary_lufs", minimum=MIN_SR)
    t, z = LoudnessMeter(x, sr).blocks(MOMENTARY_S)
    return t, power_to_lufs(z)


def short_term_lufs(samples: np.ndarray, sr: int, hop_s: float = METER_HOP_S) -> tuple[np.ndarray, np.ndarray]:
    """Short-term loudness (EBU Tech 3341: 3 s window), by default every 100 ms.

    Returns ``(times_s, lufs)`` with window end times; ``-inf`` for digital silence. A
    ``hop_s`` that is a multiple of 0.1 s returns the decimated 10 Hz series (e.g. 1.0 for a
    compact report). Signals shorter than 3 s have no short-term value (empty arrays).
    """
    x = check_samples(samples, "short_term_lufs", max_channels=MAX_CHANNELS)[0]
    sr = check_sr(sr, "short_term_lufs", minimum=MIN_SR)
    ok = isinstance(hop_s, (int, float)) and not isinstance(hop_s, bool) and math.isfinite(hop_s)
    step = int(round(hop_s / METER_HOP_S)) if ok else 0
    if step < 1 or not math.isclose(step * METER_HOP_S, hop_s, rel_tol=1e-9):
        raise InvalidArgumentError(f"short-term hop must be a multiple of 0.1 s, got {hop_s!r}")
    t, z = LoudnessMeter(x, sr).blocks(SHORT_TERM_S)
    return t[::step], power_to_lufs(z[::step])


def loudness_range_lu(samples: np.ndarray, sr: int) -> float | None:
    """Loudness range (LRA) in LU per EBU Tech 3342.

    Short-term (3 s) loudness every 100 ms (the 10 Hz meter rate of Tech 3341, which is also
    what ffmpeg's ``ebur128`` filter uses; libebur128 uses a 1 s hop instead, which changes
    LRA by a few tenths of an LU on real music); blocks below -70 LUFS dropped; then blocks below
    (power-mean loudness of the rest - 20 LU) dropped; LRA is the 95th minus the 10th
    percentile of what remains.

    Percentiles are nearest-rank on the sorted values, index ``floor((n - 1) p + 0.5)``, the rule
    of libebur128 (ffmpeg's histogram walk is equivalent to 0.01 LU). Why: every percentile is
    then the loudness of a real 3 s window rather than an interpolation between two, and results
    match the reference meters that producers and the lead compare against.

    Returns None when no block passes the gates (silence, or shorter than 3 s).
    """
    x = check_samples(samples, "loudness_range_lu", max_channels=MAX_CHANNELS)[0]
    sr = check_sr(sr, "loudness_range_lu", minimum=MIN_SR)
    return _lra_from_power(LoudnessMeter(x, sr).blocks(SHORT_TERM_S)[1])


# --- peaks ---------------------------------------------------------------------------------


def oversampling_factor(sr: int) -> int:
    """True-peak oversampling per BS.1770-4 Annex 2 (as libebur128): 4x below 96 kHz, 2x below
    192 kHz, none at 192 kHz and above."""
    return 4 if sr < 96_000 else (2 if sr < 192_000 else 1)


@lru_cache(maxsize=8)
def _interpolation_phases(factor: int) -> np.ndarray:
    """Polyphase interpolator: row ``p - 1`` gives the value at ``i + p/factor`` from samples
    ``i-7 .. i+8`` (16 taps a phase; BS.1770-4's example filter has 12). Kaiser-windowed sinc
    (beta 5), cut-off at the input Nyquist, each phase scaled to unity gain at DC. Phase 0 is
    the sample itself (the sinc is zero at every other integer), so only ``factor - 1`` phases
    are computed. Worst-case interpolation error for a sine at 48 kHz: under 0.04 dB up to
    19 kHz, 0.33 dB at 20 kHz (the 12-tap Hann-windowed sinc of libebur128: 0.03 dB at 12 kHz,
    0.19 dB at 18 kHz, 0.7 dB at 19 kHz)."""
    half = _TP_TAPS_PER_PHASE // 2
    m = np.arange(-half * factor, half * factor + 1)
    h = np.sinc(m / factor) * np.kaiser(m.size, _TP_KAISER_BETA)
    d = np.arange(-(half - 1), half + 1)  # sample offsets -7 .. 8
    phases = np.stack([h[(p - d * factor) + half * factor] for p in range(1, factor)])
    phases /= phases.sum(axis=1, keepdims=True)  # unity gain at DC for every phase
    return phases.astype(np.float32)


@lru_cache(maxsize=8)
def _band_matrices(factor: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The polyphase interpolator as three matrix products over rows of ``_TP_ROW`` samples.

    With the signal cut into rows ``X[b] = x[bJ .. bJ + J - 1]`` (J = ``_TP_ROW``), every
    interpolated value of row b, ``y_p(i) = sum_k c_p[k] x[i - 7 + k]`` for ``i`` in the row and
    ``p = 1 .. factor - 1`` (BS.1770-4 Annex 2: the signal oversampled ``factor`` times; phase 0
    is the sample itself), is one entry of
    ``X[b - 1, J - 7:] @ W_prev + X[b] @ W_cur + X[b + 1, :8] @ W_next``, column
    ``j (factor - 1) + p - 1`` for ``i = bJ + j``. Three BLAS products over all rows replace
    a loop over taps; the sums are the same up to float32 rounding order.
    """
    phases = _interpolation_phases(factor)
    n_phases, taps = phases.shape
    before = taps // 2 - 1  # 7 samples before i, 8 after
    span = _TP_ROW + taps - 1
    w = np.zeros((span, _TP_ROW * n_phases), np.float32)
    for j in range(_TP_ROW):
        w[j: j + taps, j * n_phases: (j + 1) * n_phases] = phases.T
    return w[:before], w[before: before + _TP_ROW], w[before + _TP_ROW:]


_BOUND_ROWS = 16_384  # rows bounded at a time (1 MB of float32): the temporaries stay in cache


def _row_bounds(rows: np.ndarray) -> np.ndarray:
    """Largest |sample| of each row of ``rows`` (n_rows, J) and of its two neighbours: an
    interpolated value in a row reads samples from 7 before to 8 after it, all inside those
    three rows (J >= 8). (Halving the rows with ``np.maximum``, J being a power of two, is
    ten times faster than numpy's reduction over a short last axis; ``_BOUND_ROWS`` rows at a
    time, so a 3-minute channel makes no 35 MB temporaries, whose fresh pages cost more than
    the arithmetic.)"""
    row_max = np.empty(rows.shape[0], rows.dtype)
    for a in range(0, rows.shape[0], _BOUND_ROWS):
        half = np.abs(rows[a: a + _BOUND_ROWS])
        while half.shape[1] > 1:
            width = half.shape[1] // 2
            half = np.maximum(half[:, :width], half[:, width:])
        row_max[a: a + _BOUND_ROWS] = half[:, 0]
    near = row_max.copy()
    near[1:] = np.maximum(near[1:], row_max[:-1])
    near[:-1] = np.maximum(near[:-1], row_max[1:])
    return near


def _rows_peak(rows: np.ndarray, idx: np.ndarray, mats: tuple[np.ndarray, np.ndarray, np.ndarray],
               last_row: int, valid_in_last: int) -> float:
    """Largest |interpolated value| in the rows ``idx`` (sorted) of the zero-padded row array
    ``rows`` (row 0 and the final row are padding), counting only the first ``valid_in_last``
    positions of row ``last_row`` (the signal ends there)."""
    w_prev, w_cur, w_next = mats
    before, after = w_prev.shape[0], w_next.shape[0]
    if idx[-1] - idx[0] + 1 == idx.size:  # a whole stretch of rows: slices, no copies
        a, b = int(idx[0]), int(idx[-1]) + 1
        y = rows[a:b] @ w_cur
        y += rows[a - 1: b - 1, _TP_ROW - before:] @ w_prev
        y += rows[a + 1: b + 1, :after] @ w_next
    else:
        y = rows[idx] @ w_cur
        y += rows[idx - 1, _TP_ROW - before:] @ w_prev
        y += rows[idx + 1, :after] @ w_next
    if idx[-1] == last_row:  # interpolated values past the last sample do not count
        y[-1, valid_in_last * (y.shape[1] // _TP_ROW):] = 0.0
    return max(float(y.max()), -float(y.min()))


def true_peak_linear(x: np.ndarray, sr: int, sample_peak: float) -> float:
    """Largest absolute value of the oversampled signal (linear), ``x`` 2-D (n, ch), already
    checked; ``sample_peak`` is its largest absolute sample value (the ``peak`` that
    :func:`~.validate.check_samples` returns). :func:`true_peak_dbtp` is the checked, dB form.

    Exact with respect to the interpolator (up to float32 rounding), but skips what cannot beat
    the running maximum: an interpolated value is at most ``sum|taps| * max|x|`` over its 16
    input samples (:func:`_row_bounds`). Chunks are visited loudest first and, inside a chunk,
    only the rows of ``_TP_ROW`` samples whose bound beats the maximum so far are evaluated, as
    three matrix products (:func:`_band_matrices`); on dynamic material most are skipped.
    """
    factor = oversampling_factor(sr)
    if factor == 1 or sample_peak == 0.0:
        return sample_peak
    mats = _band_matrices(factor)
    # float32 sums may exceed the exact bound by a few ulps: a margin keeps the skipping safe
    bound = float(np.abs(_interpolation_phases(factor)).sum(axis=1).max()) * (1.0 + 1e-5)
    return _block_true_peak(np.ascontiguousarray(x, dtype=np.float32), None, None, True, sample_peak,
                            bound, mats)


def _block_true_peak(x: np.ndarray, before: np.ndarray | None, after: np.ndarray | None, final: bool,
                     best: float, bound: float, mats) -> float:
    """:func:`true_peak_linear`'s search over the samples of ``x`` (n, ch), with the
    ``_TP_ROW`` samples ``before`` and after it as context (None: zeros, the signal's ends);
    unless ``final``, ``x`` holds whole rows and values past its end are real."""
    n = x.shape[0]
    n_rows = -(-n // _TP_ROW)
    valid_in_last = n - (n_rows - 1) * _TP_ROW
    last_row = n_rows if final else -1
    rows_per_chunk = _TP_CHUNK // _TP_ROW
    starts = np.arange(1, n_rows + 1, rows_per_chunk)
    padded = np.zeros(((n_rows + 2) * _TP_ROW,), np.float32)  # one context row either side
    for c in range(x.shape[1]):
        padded[_TP_ROW: _TP_ROW + n] = x[:, c]
        if before is not None:
            padded[:_TP_ROW] = before[:, c]
        if after is not None:
            padded[(n_rows + 1) * _TP_ROW: (n_rows + 1) * _TP_ROW + after.shape[0]] = after[:, c]
        rows = padded.reshape(n_rows + 2, _TP_ROW)
        near = _row_bounds(rows)
        chunk_near = np.maximum.reduceat(near[1: n_rows + 1], starts - 1)
        for i in np.argsort(-chunk_near, kind="stable"):
            if chunk_near[i] * bound <= best:
                break  # sorted: no later chunk can beat it either
            first = int(starts[i])
            last = min(first + rows_per_chunk, n_rows + 1)
            idx = first + np.flatnonzero(near[first:last] * bound > best)
            if idx.size:
                best = max(best, _rows_peak(rows, idx, mats, last_row, valid_in_last))
    return best


def true_peak_blocks(blocks, sr: int, sample_peak: float) -> float:
    """:func:`true_peak_linear` of a long signal read as ``(offset, block)`` pairs in order (every
    block but the last a whole number of ``_TP_ROW`` samples): the same interpolated values, each
    block searched with its neighbours' edge rows as context."""
    factor = oversampling_factor(sr)
    if factor == 1 or sample_peak == 0.0:
        return sample_peak
    mats = _band_matrices(factor)
    bound = float(np.abs(_interpolation_phases(factor)).sum(axis=1).max()) * (1.0 + 1e-5)
    best, prev, before = sample_peak, None, None
    for _, x in blocks:
        if prev is not None:
            best = _block_true_peak(prev, before, x[:_TP_ROW], False, best, bound, mats)
            before = prev[-_TP_ROW:]
        prev = np.ascontiguousarray(x, dtype=np.float32)
    if prev is not None:
        best = _block_true_peak(prev, before, None, True, best, bound, mats)
    return best


def true_peak_dbtp(samples: np.ndarray, sr: int) -> float:
    """True peak in dBTP (BS.1770-4 Annex 2): ``20 log10`` of the largest absolute value of the
    signal oversampled 4x (2x at 96-192 kHz) with a 16-tap-per-phase polyphase interpolator,
    over all channels. Never below the sample peak. Digital silence reads -200 dBTP."""
    x, peak = check_samples(samples, "true_peak_dbtp", max_channels=MAX_CHANNELS)
    sr = check_sr(sr, "true_peak_dbtp")
    return db(true_peak_linear(x, sr, peak))


def sample_peak_dbfs(samples: np.ndarray) -> float:
    """Largest absolute sample value over all channels in dBFS (1.0 = 0 dBFS; silence -200)."""
    return db(check_samples(samples, "sample_peak_dbfs", max_channels=MAX_CHANNELS)[1])


# --- platform targets ------------------------------------------------------------------------


QuietTrackPolicy = Literal["never", "peak_limited", "always"]


@dataclass(frozen=True)
class PlatformTarget:
    """A loudness-normalisation reference.

    Every platform turns tracks louder than its target down. ``raises_quiet_tracks`` says what
    it does with quieter ones: "never" (assumed wherever a platform does not say it raises
    them: the safe assumption for a producer), "peak_limited" (raised only as far as the true
    peak stays under ``ceiling_dbtp``; Spotify documents this for its normal setting), or
    "always" (broadcast: every programme is normalised to the target).
    """

    key: str
    label: str
    target_lufs: float
    ceiling_dbtp: float
    raises_quiet_tracks: QuietTrackPolicy
    source: str
    tolerance_lu: float | None = None


# Reference levels as the services state them in their loudness-normalisation help pages and
# as commonly cited for their default ("normal") playback setting; AES TD1008 ("Recommendations
# for loudness of internet audio streaming and on-demand distribution") is the background for
# streaming targets and the -1 dBTP ceiling. Services change their policies: check before
# quoting one as a rule, and treat "never" below as "not documented to raise quiet tracks".
PLATFORM_TARGETS: dict[str, PlatformTarget] = {
    p.key: p
    for p in (
        PlatformTarget("spotify", "Spotify", -14.0, -1.0, "peak_limited",
                       "Spotify for Artists, 'Loudness normalization' (normal setting)"),
        PlatformTarget("apple_music", "Apple Music", -16.0, -1.0, "peak_limited",
                       "Apple Digital Masters / Sound Check guidance"),
        PlatformTarget("youtube", "YouTube", -14.0, -1.0, "never",
                       "YouTube loudness normalisation (turns down only)"),
        PlatformTarget("amazon_music", "Amazon Music", -14.0, -2.0, "never",
                       "Amazon Music loudness normalisation guidance"),
        PlatformTarget("deezer", "Deezer", -15.0, -1.0, "never", "Deezer loudness normalisation"),
        PlatformTarget("tidal", "Tidal", -14.0, -1.0, "never", "Tidal loudness normalisation"),
        PlatformTarget("ebu_r128", "EBU R128 broadcast", -23.0, -1.0, "always",
                       "EBU R 128 (2020): -23.0 LUFS, max true peak -1 dBTP", tolerance_lu=1.0),
    )
}


class PlatformDelta(Row):
    name: str  # key of PLATFORM_TARGETS
    label: str
    target_lufs: float
    ceiling_dbtp: float
    tolerance_lu: float | None = None
    delta_lu: float | None  # integrated - target (positive: louder than the target)
    raises_quiet_tracks: QuietTrackPolicy
    gain_change_db: float | None  # what the platform's normalisation applies (negative: down)
    peak_after_normalisation_dbtp: float | None  # true peak + gain change
    headroom_after_normalisation_db: float | None  # ceiling - peak after normalisation
    true_peak_over_ceiling: bool  # the file's own true peak is above the platform's ceiling


class LoudnessResult(Measurement):
    duration_s: float
    integrated_lufs: float | None
    loudness_range_lu: float | None
    true_peak_dbtp: float
    sample_peak_dbfs: float
    plr_db: float | None  # peak-to-loudness ratio: true peak - integrated
    crest_factor_db: float | None  # sample peak over RMS, channels pooled
    max_momentary_lufs: float | None
    max_short_term_lufs: float | None
    short_term_times_s: list[float]  # window end times, one a second
    short_term_lufs: list[float | None]  # None for digitally silent windows
    platforms: list[PlatformDelta]
    platform: str | None = None  # the platform the verdict talks about


def platform_delta(target: PlatformTarget, integrated_lufs: float | None,
                   true_peak_dbtp: float) -> PlatformDelta:
    """What a platform's normalisation does to a track of this loudness and true peak."""
    over = true_peak_dbtp > target.ceiling_dbtp
    if integrated_lufs is None:
        return PlatformDelta(name=target.key, label=target.label, target_lufs=target.target_lufs,
                             ceiling_dbtp=target.ceiling_dbtp, tolerance_lu=target.tolerance_lu,
                             delta_lu=None, raises_quiet_tracks=target.raises_quiet_tracks,
                             gain_change_db=None, peak_after_normalisation_dbtp=None,
                             headroom_after_normalisation_db=None, true_peak_over_ceiling=over)
    delta = integrated_lufs - target.target_lufs
    if delta >= 0 or target.raises_quiet_tracks == "always":
        gain = -delta
    elif target.raises_quiet_tracks == "peak_limited":
        gain = min(-delta, max(0.0, target.ceiling_dbtp - true_peak_dbtp))
    else:
        gain = 0.0
    gain = r(gain) + 0.0  # no "-0.0"
    peak_after = true_peak_dbtp + gain
    return PlatformDelta(
        name=target.key, label=target.label, target_lufs=target.target_lufs,
        ceiling_dbtp=target.ceiling_dbtp, tolerance_lu=target.tolerance_lu, delta_lu=r(delta),
        raises_quiet_tracks=target.raises_quiet_tracks, gain_change_db=gain,
        peak_after_normalisation_dbtp=r(peak_after),
        headroom_after_normalisation_db=r(target.ceiling_dbtp - peak_after),
        true_peak_over_ceiling=over)


# --- the measurement ------------------------------------------------------------------------


def crest_db(peak: float, mean_square: float) -> float | None:
    """Crest factor in dB from a linear peak and a mean square; None for silence."""
    if peak <= 0.0 or mean_square <= 0.0:
        return None
    return 20.0 * math.log10(peak) - 10.0 * math.log10(mean_square)


def mean_square(x: np.ndarray) -> float:
    """Mean of the squares of all samples of ``x`` (all channels pooled)."""
    flat = np.ascontiguousarray(x).ravel()
    return float(np.dot(flat, flat)) / flat.size


def fmt1(v: float, signed: bool = False) -> str:
    """One decimal for a verdict, never "-0.0"."""
    s = f"{v:+.1f}" if signed else f"{v:.1f}"
    return "0.0" if s == "-0.0" else s



def _tgt(v: float) -> str:
    return f"{v:g}"


def _loudness_verdict(res: dict, platform: str | None) -> str:
    i = res["integrated_lufs"]
    tp = res["true_peak_dbtp"]
    if i is None:
        if res["sample_peak_dbfs"] <= -200.0:
            return "No integrated loudness: the signal is digital silence."
        return (f"No integrated loudness: the signal never rises above the absolute gate "
                f"(sample peak {fmt1(res['sample_peak_dbfs'])} dBFS), or is too short to measure.")
    rows = {p.name: p for p in res["platforms"]}
    head = f"Integrated {fmt1(i)} LUFS, true peak {fmt1(tp, True)} dBTP"
    if platform is None:
        lra = res["loudness_range_lu"]
        if lra is not None:
            head += f", LRA {fmt1(lra)} LU"
        ref = rows["spotify"]
        d = ref.delta_lu
        if abs(d) < 0.5:
            body = f"right at the {_tgt(ref.target_lufs)} LUFS most streaming services play at"
        elif d > 0:
            body = (f"{fmt1(d)} LU above the {_tgt(ref.target_lufs)} LUFS most streaming services "
                    f"play at, so they will turn it down")
        else:
            body = (f"{fmt1(-d)} LU below the {_tgt(ref.target_lufs)} LUFS most streaming services "
                    f"play at, so it will sound quieter next to other tracks on those that "
                    f"do not turn quiet tracks up")
        if ref.true_peak_over_ceiling:
            body += (f"; the true peak is above the {_tgt(ref.ceiling_dbtp)} dBTP ceiling they "
                     f"recommend, so lossy encoding may clip")
        return f"{head}: {body}."
    p = rows[platform]
    d, g = p.delta_lu, p.gain_change_db
    name, tgt = p.label, _tgt(p.target_lufs)
    if p.tolerance_lu is not None and abs(d) <= p.tolerance_lu:
        body = (f"{fmt1(abs(d))} LU from {name}'s {tgt} LUFS target, inside its "
                f"±{_tgt(p.tolerance_lu)} LU tolerance")
    elif abs(d) < 0.05:
        body = f"on {name}'s {tgt} LUFS target"
    elif d > 0:
        body = f"{fmt1(d)} LU louder than {name}'s {tgt} LUFS target; {name} will turn it down {fmt1(-g)} dB"
    elif g >= 0.05:
        body = f"{fmt1(-d)} LU quieter than {name}'s {tgt} LUFS target; {name} will turn it up {fmt1(g)} dB"
        if g < -d - 0.05:
            body += f", only as far as its {_tgt(p.ceiling_dbtp)} dBTP peak ceiling allows"
    elif p.raises_quiet_tracks == "peak_limited":
        body = (f"{fmt1(-d)} LU quieter than {name}'s {tgt} LUFS target; its true peak already "
                f"reaches {name}'s {_tgt(p.ceiling_dbtp)} dBTP ceiling, so it will not be turned up")
    else:
        body = (f"{fmt1(-d)} LU quieter than {name}'s {tgt} LUFS target; {name} does not turn "
                f"quiet tracks up, so it will play quieter than tracks at the target")
    if p.true_peak_over_ceiling:
        body += (f"; the true peak is above {name}'s {_tgt(p.ceiling_dbtp)} dBTP ceiling, so "
                 f"lossy encoding may clip")
    return f"{head}: {body}."


def measure_loudness(samples: np.ndarray, sr: int, platform: str | None = None) -> LoudnessResult:
    """Loudness summary of a mix: integrated loudness, LRA, true and sample peak, PLR, crest
    factor, loudest momentary and short-term values, a 1 s short-term series, and what each
    streaming platform's loudness normalisation would do (see :data:`PLATFORM_TARGETS`).

    ``platform`` (a key of ``PLATFORM_TARGETS``) makes the verdict talk about that platform.
    """
    x, peak = check_samples(samples, "measure_loudness", max_channels=MAX_CHANNELS)
    sr = check_sr(sr, "measure_loudness", minimum=MIN_SR)
    if platform is not None and platform not in PLATFORM_TARGETS:
        raise InvalidArgumentError(
            f"unknown platform {platform!r}; choose one of {', '.join(PLATFORM_TARGETS)}")
    meter = LoudnessMeter(x, sr)
    return loudness_result(meter, x.shape[0], peak, true_peak_linear(x, sr, peak), mean_square(x), platform)


def loudness_result(meter: LoudnessMeter, n: int, peak: float, true_peak: float, ms: float,
                    platform: str | None) -> LoudnessResult:
    """The :class:`LoudnessResult` of an ``n``-sample signal from its meter, sample peak and true
    peak (linear) and mean square (all channels pooled); ``platform`` as in :func:`measure_loudness`."""
    sr = meter.sr
    _, z_m = meter.blocks(MOMENTARY_S)
    t_s, z_s = meter.blocks(SHORT_TERM_S)
    integrated = integrated_from_block_power(z_m)
    lra = _lra_from_power(z_s)
    tp = db(true_peak)
    sp = db(peak)
    step = int(round(REPORT_HOP_S / METER_HOP_S))
    st_report = power_to_lufs(z_s[::step])
    res: dict[str, Any] = dict(
        duration_s=r(n / sr, 3),
        integrated_lufs=r(integrated),
        loudness_range_lu=r(lra),
        true_peak_dbtp=r(tp),
        sample_peak_dbfs=r(sp),
        plr_db=r(tp - integrated) if integrated is not None else None,
        crest_factor_db=r(crest_db(peak, ms)),
        max_momentary_lufs=r(float(power_to_lufs(z_m.max()))) if z_m.size else None,
        max_short_term_lufs=r(float(power_to_lufs(z_s.max()))) if z_s.size else None,
        short_term_times_s=[round(float(t), 2) for t in t_s[::step]],
        short_term_lufs=[r(max(float(v), -200.0)) if np.isfinite(v) else None for v in st_report],
        platforms=[platform_delta(p, r(integrated), r(tp)) for p in PLATFORM_TARGETS.values()],
        platform=platform,
    )
    res["verdict"] = _loudness_verdict(res, platform)
    return LoudnessResult(**res)
