"""The standing measurements of a long (spooled) mix, read a block at a time: the same numbers as
the in-memory tools, with memory that does not grow with the length.

Each function here is the block-wise twin of one tool and ends in that tool's own result builder
(``loudness_result``, ``dynamics_result``, ``spectrum_result``, ``estimate_from_features``; the
stereo tool reads any signal a block at a time itself, ``stereo_of_blocks``), so the rules and
constants are written once, in the tool.
:class:`LoudnessFeed` is ``measure_loudness`` of signals handed over a block at a time, for
signals made on the fly from long stems (``agent.whatif``: the mix before and after a move).
"""
from __future__ import annotations

import math

import numpy as np

from ..io.audio import Audio, StemSet
from ..io.spool import BLOCK_N, blocks_of, read_span
from .bandwidth import MAX_ANALYSED_S, BandwidthResult, _channel_mean, _welch_db, measure_bandwidth
from .dynamics import DynamicsResult, clipping_runs_blocks, dc_from_means, dynamics_result
from .iir import sosfilt_axis0
from .loudness import (
    _METER_CHUNK_SUBS,
    _TP_ROW,
    METER_HOP_S,
    LoudnessMeter,
    LoudnessResult,
    _band_matrices,
    _block_true_peak,
    _interpolation_phases,
    _k_sos,
    _sub_block_energy,
    loudness_result,
    oversampling_factor,
    true_peak_blocks,
)
from .mix_estimate import MixEstimateResult, estimate_from_features, features_blocks
from .reference_compare import ReferenceComparison, SideMeasures, compare_to_reference
from .spectral import SpectrumResult, ltas_power_blocks, profile_from_power, spectrum_result
from .stereo import StereoResult, stereo_of_blocks

__all__ = ["loudness_and_dynamics_long", "spectrum_long", "bandwidth_long", "stereo_long", "side_long",
           "reference_comparison",
           "mix_estimate_long", "stem_windows", "stem_window_spans", "window_note", "loudness_block_n",
           "LoudnessFeed", "STEM_WINDOWS", "STEM_WINDOW_S"]

# Long stems (spooled) are balanced and checked for masking on the mix's loudest windows, where
# every stem plays (as the separator's windows of a bounced mix): a minute of four stems instead of
# the whole song keeps the memory bounded.
STEM_WINDOWS = 6
STEM_WINDOW_S = 10.0


def _scan(src) -> tuple[float, float, np.ndarray, int]:
    """Sample peak, mean square (channels pooled) and per-channel means of ``src``, one pass."""
    peak, sq, sums = 0.0, 0.0, np.zeros(src.shape[1])
    for _, x in blocks_of(src):
        peak = max(peak, float(x.max()), -float(x.min()))
        flat = x.ravel()
        sq += float(np.dot(flat, flat))  # float32 products summed as loudness.mean_square does
        sums += [x[:, c].sum(dtype=np.float64) for c in range(x.shape[1])]
    n = src.shape[0]
    return peak, sq / (n * src.shape[1]), sums / n, n


def loudness_block_n(sr: int) -> int:
    """Frames per block for block-wise loudness: whole K-weighting chunks (the in-memory meter's,
    so the same numbers bit for bit) and whole true-peak rows; ``BLOCK_N`` at 48 kHz."""
    block_n = math.lcm(_METER_CHUNK_SUBS * int(round(METER_HOP_S * sr)), _TP_ROW)
    return block_n * max(1, BLOCK_N // block_n)


class LoudnessFeed:
    """``measure_loudness`` of a signal handed over a block at a time (:meth:`push`), in one pass:
    the K-weighted meter (filter state carried), the sample peak and mean square, and the true
    peak (each block searched with its neighbours' edge rows, one block behind). Several feeds
    take signals made from the same reads (the mix before and after a move) without a second
    pass. Every block but the last must be :func:`loudness_block_n` frames (any multiple of it
    works too). The numbers are ``measure_loudness``'s on the whole signal: the meter and the
    peaks bit for bit, the mean square (crest factor) summed per block."""

    def __init__(self, sr: int) -> None:
        self.sr = int(sr)
        self._hop_n = int(round(METER_HOP_S * self.sr))
        self._sos = _k_sos(self.sr)
        self._zi: np.ndarray | None = None
        self._sub: list[np.ndarray] = [np.zeros(0)]
        self.peak, self._sq, self.n, self._ch = 0.0, 0.0, 0, 1
        factor = oversampling_factor(self.sr)
        self._mats = _band_matrices(factor) if factor != 1 else None
        # as true_peak_blocks: float32 sums may exceed the exact bound by a few ulps
        self._bound = float(np.abs(_interpolation_phases(factor)).sum(axis=1).max()) * (1.0 + 1e-5)
        self._best = 0.0
        self._prev: np.ndarray | None = None
        self._before: np.ndarray | None = None

    def push(self, x: np.ndarray) -> None:
        """The next (m, ch) frames."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.shape[0] == 0:
            return
        if self._zi is None:
            self._zi = np.zeros((self._sos.shape[0], 2, x.shape[1]))
            self._ch = x.shape[1]
        hop, n_sub = self._hop_n, x.shape[0] // self._hop_n
        for a in range(0, n_sub, _METER_CHUNK_SUBS):  # as k_weighted_sub_energy_blocks
            b = min(a + _METER_CHUNK_SUBS, n_sub)
            w, self._zi = sosfilt_axis0(self._sos, x[a * hop: b * hop], zi=self._zi)
            self._sub.append(_sub_block_energy(w, hop))
        self.peak = max(self.peak, float(x.max()), -float(x.min()))
        flat = x.ravel()
        self._sq += float(np.dot(flat, flat))  # float32 products, as loudness.mean_square
        self.n += x.shape[0]
        if self._mats is not None:  # as true_peak_blocks, the search floor the peak so far
            if self._prev is not None:
                self._best = _block_true_peak(self._prev, self._before, x[:_TP_ROW], False,
                                              max(self._best, self.peak), self._bound, self._mats)
                self._before = self._prev[-_TP_ROW:]
            self._prev = x

    def true_peak(self) -> float:
        """The true peak (linear) of what was pushed; the last block is searched once, here."""
        if self._mats is None or self.peak == 0.0 or self._prev is None:
            return self.peak
        self._best = _block_true_peak(self._prev, self._before, None, True, max(self._best, self.peak),
                                      self._bound, self._mats)
        self._prev = None
        return self._best

    def result(self, platform: str | None = None) -> LoudnessResult:
        """The :class:`LoudnessResult` of everything pushed (``platform`` as in ``measure_loudness``)."""
        meter = LoudnessMeter(None, self.sr, np.concatenate(self._sub))
        ms = self._sq / (self.n * self._ch) if self.n else 0.0
        return loudness_result(meter, self.n, self.peak, self.true_peak(), ms, platform)


def loudness_and_dynamics_long(mix: Audio, platform: str | None) -> tuple[LoudnessResult, DynamicsResult]:
    """``measure_loudness`` and ``measure_dynamics`` of a spooled mix (three passes: the meter,
    the peaks and sums, the true peak). Clipping is the one counted at the file's own rate when
    ingest counted it (always, for a spooled file)."""
    src, sr = mix.source(), mix.sr
    block_n = loudness_block_n(sr)
    meter = LoudnessMeter.from_blocks(blocks_of(src, block_n), sr)
    peak, ms, means, n = _scan(src)
    tp = true_peak_blocks(blocks_of(src, block_n), sr, peak)
    loud = loudness_result(meter, n, peak, tp, ms, platform)
    clip = mix.source_clipping if mix.source_clipping is not None else clipping_runs_blocks(src, sr, peak)
    dyn = dynamics_result(loud.true_peak_dbtp, loud.max_short_term_lufs, loud.crest_factor_db, clip,
                          dc_from_means(means), src.shape[1])
    return loud, dyn


def side_long(audio: Audio) -> SideMeasures:
    """What the reference comparison needs of a spooled file (``reference_compare.measure_side``
    a block at a time)."""
    loud, _ = loudness_and_dynamics_long(audio, None)
    profile = profile_from_power(*ltas_power_blocks(audio.source(), audio.sr), audio.sr)
    return SideMeasures(loud.integrated_lufs, loud.loudness_range_lu, loud.crest_factor_db, loud.true_peak_dbtp,
                        stereo_long(audio).width_ratio, profile)


def reference_comparison(mix: Audio, reference: Audio) -> ReferenceComparison:
    """``compare_to_reference`` of two decoded files; a spooled one (a long file) is measured a
    block at a time and never read whole."""
    ms = side_long(mix) if mix.spool is not None else None
    rs = side_long(reference) if reference.spool is not None else None
    return compare_to_reference(None if ms else mix.samples, None if rs else reference.samples, mix.sr,
                                mix_side=ms, reference_side=rs)


def spectrum_long(mix: Audio) -> SpectrumResult:
    """``measure_spectrum`` of a spooled mix."""
    return spectrum_result(profile_from_power(*ltas_power_blocks(mix.source(), mix.sr), mix.sr), mix.sr)


def bandwidth_long(mix: Audio) -> BandwidthResult:
    """``measure_bandwidth`` of a spooled mix: the same twelve evenly spaced 5 s stretches it
    reads of any file over ``MAX_ANALYSED_S``."""
    src, sr = mix.source(), mix.sr
    if src.shape[0] <= MAX_ANALYSED_S * sr:
        return measure_bandwidth(read_span(src, 0, src.shape[0]), sr)
    n, starts = int(5 * sr), np.linspace(0, src.shape[0] - int(5 * sr), 12).astype(int)
    mono = np.concatenate([_channel_mean(read_span(src, a, a + n)) for a in starts])
    freqs_hz, psd_db = _welch_db(mono, sr)
    return measure_bandwidth(mono, sr, psd_db=psd_db, freqs_hz=freqs_hz)


def stereo_long(mix: Audio) -> StereoResult:
    """``measure_stereo`` of a spooled mix (``stereo_of_blocks`` reads any signal a block at a time)."""
    return stereo_of_blocks(mix.source(), mix.sr)


def mix_estimate_long(mix: Audio) -> MixEstimateResult:
    """``estimate_stem_levels`` of a spooled mix."""
    return estimate_from_features(features_blocks(mix.source(), mix.sr), mix.duration_s)


def stem_window_spans(mix_src, sr: int, n: int) -> list[tuple[int, int]]:
    """The (start, stop) frames of the :data:`STEM_WINDOWS` loudest :data:`STEM_WINDOW_S` windows
    of ``mix_src`` (an array or a spool; ``tools.separate.windows``), cut to the first ``n`` frames
    (the stems' length): the stretches long stems are measured on."""
    from ..separate.windows import loudest_windows

    return [(a, min(b, n)) for a, b in loudest_windows(mix_src, sr, STEM_WINDOW_S, STEM_WINDOWS) if a < n]


def window_note(spans: list[tuple[int, int]], sr: int) -> str:
    """The windows as the report names them: ``0:42.0-0:52.0, ...``."""
    return ", ".join(f"{_clock(lo / sr)}-{_clock(hi / sr)}" for lo, hi in spans)


def stem_windows(mix: Audio, stems: StemSet) -> tuple[dict[str, np.ndarray], str]:
    """The stems' samples in the mix's :data:`STEM_WINDOWS` loudest :data:`STEM_WINDOW_S` windows
    (:func:`stem_window_spans`), concatenated per role, read from their spools; and a note for
    the report saying which stretches were measured."""
    n = min(mix.n_samples, min(a.n_samples for a in stems.stems.values()))
    wins = stem_window_spans(mix.source(), mix.sr, n)
    arrays = {role: np.concatenate([read_span(a.source(), lo, hi) for lo, hi in wins])
              for role, a in stems.stems.items()}
    note = (f"long stems: stem balance and masking measured on the mix's {len(wins)} loudest "
            f"{STEM_WINDOW_S:g} s windows ({window_note(wins, mix.sr)}), not the whole song")
    return arrays, note


def _clock(seconds: float) -> str:
    """``m:ss.s``."""
    m, sec = divmod(seconds, 60.0)
    return f"{int(m)}:{sec:04.1f}"
