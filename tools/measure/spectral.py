"""Spectral balance of a mix: long-term average spectrum, 1/3-octave levels, named-region levels,
spectral tilt, centroid, and the deviation from a professional target curve.

Each convention (Welch LTAS, IEC 61260-1 bands, tilt, centroid, normalisation) is documented at
the function that computes it.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

import numpy as np

from ..errors import InvalidArgumentError
from ..io.validate import check_samples, check_sr
from ..results import Measurement, r
from ..results import Row as _Row
from .bands import REGION_LABELS, REGIONS_HZ, band_matrix, nominal_hz, region_band_weights, third_octave_bands_hz
from .fft import rfft

DEFAULT_N_FFT = 16384
MIN_SAMPLES = 1024  # shortest signal analysed (21 ms at 48 kHz)
NORM_RANGE_HZ = (100.0, 10000.0)  # bands whose mean dB level is the 0 dB reference
TILT_RANGE_HZ = (50.0, 16000.0)
# Region levels use the bands centred up to 16 kHz (so "air" is judged on 10-17.8 kHz): the
# reference excerpts are AAC-coded with a ~17 kHz low-pass, so nothing above can be compared.
REGION_MAX_CENTRE_HZ = 16000.0
SPECTRUM_RANGE_HZ = (20.0, 20000.0)
DYNAMIC_RANGE_DB = 100.0  # bands below (loudest band - this) are counted at that floor
LEVEL_FLOOR_DB = -150.0  # absolute floor for empty bins/bands (dB re mean square 1)
NORMALISATION_RULE = (
    "Each 1/3-octave band level (IEC 61260-1 base-10 bands 20 Hz-20 kHz, Welch LTAS with Hann "
    "frames of 16384 samples at 48 kHz, channel powers averaged) minus the mean of the dB levels "
    "of the 21 bands centred 100 Hz-10 kHz; bands more than 100 dB below the loudest band are "
    "counted at that floor. Region levels are log-frequency-overlap-weighted means of the "
    "normalised levels of the bands centred up to 16 kHz.")
TARGET_RESOURCE = "target_curve.json"
# Advice ("issues") needs a strong deviation: at least ISSUE_SD between-song standard deviations
# from the target mean (the outer ~5 % of professional mixes if the spread were normal). Merely
# leaving the p10-p90 range (1 mix in 5 does, per region) is reported as outside_target_range.
ISSUE_SD = 2.0
BIG_BAND_DEVIATION_DB = 6.0  # a single band also needs at least this deviation to be an issue
NARROW_CONTRAST_DB = 5.0  # ... and must stand this far above/below its +-2 neighbours' mean


# ----------------------------------------------------------------------------- spectrum

def _hop_for(n: int, n_fft: int) -> int:
    return n_fft if n >= 32 * n_fft else n_fft // 2


def ltas_power(samples: np.ndarray, sr: int, n_fft: int = DEFAULT_N_FFT
               ) -> tuple[np.ndarray, np.ndarray]:
    """Long-term average power spectrum: ``(freqs_hz, power)`` with one-sided power per bin
    (linear, mean square units; the bins sum to the mean square of the signal). Signals shorter
    than ``n_fft`` use the largest power of two that fits.

    Notes
    -----
    Welch's method (P. D. Welch, "The use of fast Fourier transform for the estimation of power
    spectra", IEEE Trans. Audio Electroacoust. 15(2), 1967): periodic Hann frames of ``n_fft``
    samples (default 16384, 2.9 Hz bins at 48 kHz), no overlap for long signals and 50 % overlap
    for short ones (fewer than 32 frames), mean power over frames. Each channel is analysed
    separately and the channel powers are averaged, so content in anti-phase between the
    channels is not cancelled (that is the stereo tool's business).

    Scaling: one-sided power per bin, ``P_k = c_k |X_k|^2 / (n_fft * sum(w^2))`` with c_k = 2
    except at DC and Nyquist, so the bins sum to the signal's mean square (Parseval). Levels are
    in dB re a mean square of 1.0 (digital full scale: a full-scale sine reads -3.01 dB), and the
    level of a band is the power sum of its bins
    (:func:`mixingbuddy.tools.measure.bands.band_matrix`).
    """
    sr = check_sr(sr, "ltas")
    x, _ = check_samples(samples, "ltas", max_channels=64, min_samples=MIN_SAMPLES, sr=sr, float32=True)
    if isinstance(n_fft, bool) or not isinstance(n_fft, (int, np.integer)) or n_fft < 16:
        raise InvalidArgumentError(f"ltas: n_fft must be an integer >= 16, got {n_fft!r}")
    n_fft = int(n_fft)
    n, ch = x.shape
    if n < n_fft:
        n_fft = 1 << int(math.floor(math.log2(n)))
    hop = _hop_for(n, n_fft)
    return _ltas_from_stretches([x], ch, sr, n_fft, hop)


def ltas_power_blocks(src, sr: int, n_fft: int = DEFAULT_N_FFT) -> tuple[np.ndarray, np.ndarray]:
    """:func:`ltas_power` of a long signal (a :class:`~mixingbuddy.tools.io.spool.Spool` of at
    least 32 frames, or an array), read a stretch of whole frames at a time: the same frames."""
    from ..io.spool import frame_blocks

    n, ch = src.shape
    if n < 32 * n_fft:
        return ltas_power(src[:] if not hasattr(src, "read") else src.read(0, n), sr, n_fft)
    hop = _hop_for(n, n_fft)
    return _ltas_from_stretches(frame_blocks(src, n_fft, hop), ch, sr, n_fft, hop)


def _ltas_from_stretches(stretches, ch: int, sr: int, n_fft: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """Welch's mean power over the frames (``n_fft`` every ``hop``) of each (m, ch) stretch."""
    w = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)  # periodic Hann
    acc = np.zeros(n_fft // 2 + 1, dtype=np.float64)
    n_frames = 0
    for x in stretches:
        for c in range(ch):
            xc = x[:, c]  # frames are read strided: `frames * w` makes the contiguous copy anyway
            frames = np.lib.stride_tricks.sliding_window_view(xc, n_fft)[::hop]
            for i in range(0, frames.shape[0], 64):  # chunks keep the working set small
                spec = rfft(frames[i:i + 64] * w, axis=1, workers=2)
                acc += (spec.real ** 2 + spec.imag ** 2).sum(axis=0, dtype=np.float64)
        n_frames += frames.shape[0]
    scale = 2.0 / (n_fft * float(np.sum(w.astype(np.float64) ** 2)) * n_frames * ch)
    power = acc * scale
    power[0] *= 0.5
    if n_fft % 2 == 0:
        power[-1] *= 0.5
    return np.fft.rfftfreq(n_fft, 1.0 / sr), power


def _to_db(p: np.ndarray) -> np.ndarray:
    return 10.0 * np.log10(np.maximum(p, 10.0 ** (LEVEL_FLOOR_DB / 10.0)))


def ltas_db(samples: np.ndarray, sr: int, n_fft: int = DEFAULT_N_FFT
            ) -> tuple[np.ndarray, np.ndarray]:
    """Long-term average spectrum ``(freqs_hz, power_db)``: :func:`ltas_power` per bin in dB re
    a mean square of 1.0 (floored at -150 dB). Summing bins (in power) over a band gives that
    band's level, so levels stay meaningful whatever ``n_fft`` is."""
    f, p = ltas_power(samples, sr, n_fft)
    return f, _to_db(p)


def third_octave_levels_db(samples: np.ndarray, sr: int, n_fft: int = DEFAULT_N_FFT,
                           f_lo: float = 20.0, f_hi: float = 20000.0
                           ) -> tuple[np.ndarray, np.ndarray]:
    """``(centres_hz, level_db)``: power sum of the LTAS in each exact 1/3-octave band
    (IEC 61260-1:2014 base 10; 31 bands for the default 20 Hz - 20 kHz), dB re a mean square
    of 1.0."""
    freqs, p = ltas_power(samples, sr, n_fft)
    c, lo, hi = third_octave_bands_hz(f_lo, f_hi)
    W = band_matrix(lo, hi, sr, 2 * (len(freqs) - 1))
    return c, _to_db(W @ p)


def spectral_tilt_db_per_oct(centres_hz: np.ndarray, levels_db: np.ndarray,
                             f_lo: float = TILT_RANGE_HZ[0], f_hi: float = TILT_RANGE_HZ[1]) -> float:
    """Least-squares slope (dB/octave) of band levels against log2(centre) over bands centred in
    [f_lo, f_hi]. With 1/3-octave band powers: pink noise 0, white noise +3.01 dB/oct.

    The band-power tilt convention, over the bands centred 50 Hz - 16 kHz by default:
    constant-percentage bands make pink noise (equal power per octave) read 0 dB/oct; commercial
    mixes are typically well below 0 (more energy in the lows).
    """
    c = np.asarray(centres_hz, dtype=np.float64)
    lv = np.asarray(levels_db, dtype=np.float64)
    m = (c >= f_lo * 0.97) & (c <= f_hi * 1.03)
    if m.sum() < 2:
        raise InvalidArgumentError(f"spectral tilt: fewer than 2 bands between {f_lo} and {f_hi} Hz")
    return float(np.polyfit(np.log2(c[m]), lv[m], 1)[0])


def normalise_band_levels_db(centres_hz: np.ndarray, levels_db: np.ndarray) -> np.ndarray:
    """The target-comparison normalisation: floor at the loudest band minus 100 dB, then subtract
    the mean dB level of the bands centred 100 Hz - 10 kHz.

    The one rule shared with ``build_target_curve`` (``NORMALISATION_RULE``): each 1/3-octave
    level minus the mean of the dB levels of the 21 bands centred 100 Hz - 10 kHz. The curve's
    shape is compared, not its loudness; no loudness normalisation is needed. The floor keeps an
    empty band (e.g. above a lossy codec's cut-off) from dominating the tilt or the mean.
    """
    c = np.asarray(centres_hz, dtype=np.float64)
    lv = np.asarray(levels_db, dtype=np.float64)
    lv = np.maximum(lv, lv.max() - DYNAMIC_RANGE_DB)
    m = (c >= NORM_RANGE_HZ[0] * 0.97) & (c <= NORM_RANGE_HZ[1] * 1.03)
    return lv - lv[m].mean()


@dataclass
class SpectralProfile:
    """Everything measured from one signal, in the shared frames (used by measure_spectrum and
    by build_target_curve, so the packaged target and a measured mix are computed alike)."""

    centres_hz: np.ndarray
    lower_hz: np.ndarray
    upper_hz: np.ndarray
    band_power_db: np.ndarray  # absolute, dB re mean square 1
    band_level_db: np.ndarray  # normalised (NORMALISATION_RULE)
    region_names: list[str]
    region_share_db: np.ndarray  # region power re total 20 Hz-20 kHz power, dB
    region_level_db: np.ndarray  # weighted mean of normalised band levels
    tilt_db_per_oct: float | None
    centroid_hz: float | None
    total_power_db: float
    silent: bool


def region_weights(lower_hz: np.ndarray, upper_hz: np.ndarray, centres_hz: np.ndarray) -> np.ndarray:
    """(n_regions, n_bands) weights turning normalised band levels into region levels: the
    log-overlap weights of :func:`mixingbuddy.tools.measure.bands.region_band_weights`, restricted to the
    bands centred up to ``REGION_MAX_CENTRE_HZ`` and renormalised."""
    W = region_band_weights(lower_hz, upper_hz)
    W[:, np.asarray(centres_hz) > REGION_MAX_CENTRE_HZ * 1.03] = 0.0
    return W / W.sum(axis=1, keepdims=True)


def spectral_profile(samples: np.ndarray, sr: int, n_fft: int = DEFAULT_N_FFT) -> SpectralProfile:
    """Measure the LTAS once and derive bands, regions, tilt and centroid from it.

    Region values: the region's share of the total 20 Hz - 20 kHz power (``share_db``), and the
    weighted mean of the normalised band levels overlapping the region (``level_db``, the frame
    of the target; :func:`region_weights`). Centroid: amplitude-weighted mean frequency of the
    LTAS between 20 Hz and 20 kHz, ``sum f_k sqrt(P_k) / sum sqrt(P_k)`` (librosa's
    spectral-centroid weighting, applied to the long-term spectrum instead of per frame).
    """
    return profile_from_power(*ltas_power(samples, sr, n_fft), sr)


def profile_from_power(freqs: np.ndarray, p: np.ndarray, sr: int) -> SpectralProfile:
    """:func:`spectral_profile` from the LTAS ``(freqs_hz, power)`` of :func:`ltas_power`."""
    n_fft_used = 2 * (len(freqs) - 1)
    c, lo, hi = third_octave_bands_hz(*SPECTRUM_RANGE_HZ)
    band_p = band_matrix(lo, hi, sr, n_fft_used) @ p
    names = list(REGIONS_HZ)
    r_lo = np.array([REGIONS_HZ[k][0] for k in names])
    r_hi = np.array([REGIONS_HZ[k][1] for k in names])
    region_p = band_matrix(r_lo, r_hi, sr, n_fft_used) @ p
    total_p = float((band_matrix([SPECTRUM_RANGE_HZ[0]], [SPECTRUM_RANGE_HZ[1]], sr, n_fft_used) @ p)[0])
    floor_p = 10.0 ** (LEVEL_FLOOR_DB / 10.0)
    silent = total_p <= floor_p
    band_db = _to_db(band_p)
    level_db = normalise_band_levels_db(c, band_db)
    region_level = region_weights(lo, hi, c) @ level_db
    share_db = _to_db(region_p) - _to_db(np.array([total_p]))[0]
    tilt = None if silent else spectral_tilt_db_per_oct(c, np.maximum(band_db, band_db.max() - DYNAMIC_RANGE_DB))
    m = (freqs >= SPECTRUM_RANGE_HZ[0]) & (freqs <= SPECTRUM_RANGE_HZ[1])
    amp = np.sqrt(p[m])
    centroid = None if silent or amp.sum() <= 0 else float((freqs[m] * amp).sum() / amp.sum())
    return SpectralProfile(c, lo, hi, band_db, level_db, names, share_db, region_level, tilt,
                           centroid, float(_to_db(np.array([total_p]))[0]), bool(silent))


# ----------------------------------------------------------------------------- target curve

class TargetStat(_Row):
    """Between-song statistics of one quantity."""

    mean: float
    sd: float
    p10: float
    p90: float


class TargetBand(_Row):
    centre_hz: float
    nominal_hz: float
    mean_db: float
    sd_db: float
    p10_db: float
    p90_db: float
    n_songs: int


class TargetRegion(_Row):
    name: str
    lo_hz: float
    hi_hz: float
    mean_db: float
    sd_db: float
    p10_db: float
    p90_db: float


class TargetCurve(_Row):
    """A professional target: per 1/3-octave band and per region, the between-song mean and
    spread of the normalised level (see ``normalisation``)."""

    name: str
    source: str
    normalisation: str
    script_version: str
    analysis_sr_hz: int
    n_fft: int
    n_songs: int
    reliable_range_hz: tuple[float, float]  # bands outside it are shown but never drive advice
    bands: list[TargetBand]
    regions: list[TargetRegion]
    tilt_db_per_oct: TargetStat | None = None
    centroid_hz: TargetStat | None = None
    notes: list[str] = []


def flat_target_curve(spread_db: float = 3.0) -> TargetCurve:
    """A flat target (equal power in every 1/3-octave band, i.e. pink noise) with a +-spread_db
    10th-90th percentile range everywhere. For tests and as a neutral reference."""
    c, lo, hi = third_octave_bands_hz(*SPECTRUM_RANGE_HZ)
    s = float(spread_db)
    return TargetCurve(
        name="flat (pink)", source="synthetic: 0 dB in every band", normalisation=NORMALISATION_RULE,
        script_version="flat", analysis_sr_hz=48000, n_fft=DEFAULT_N_FFT, n_songs=0,
        reliable_range_hz=SPECTRUM_RANGE_HZ,
        bands=[TargetBand(centre_hz=float(f), nominal_hz=nominal_hz(f), mean_db=0.0, sd_db=s / 1.2816,
                          p10_db=-s, p90_db=s, n_songs=0) for f in c],
        regions=[TargetRegion(name=k, lo_hz=a, hi_hz=b, mean_db=0.0, sd_db=s / 1.2816, p10_db=-s, p90_db=s)
                 for k, (a, b) in REGIONS_HZ.items()],
        tilt_db_per_oct=TargetStat(mean=0.0, sd=1.0, p10=-1.28, p90=1.28))


@lru_cache(maxsize=1)
def _load_packaged() -> TargetCurve:
    text = resources.files("mixingbuddy.tools.data").joinpath(TARGET_RESOURCE).read_text("utf-8")
    return TargetCurve.model_validate(json.loads(text))


def load_target_curve() -> TargetCurve:
    """The packaged professional target (``mixingbuddy.tools.data/target_curve.json``, built by
    ``python -m mixingbuddy.tools.data.build_target_curve``). Cached after the first call."""
    return _load_packaged().model_copy(deep=True)


# ----------------------------------------------------------------------------- result

Outside = Literal["above", "below"] | None


class SpectrumBand(_Row):
    centre_hz: float  # exact IEC 61260 base-10 centre
    nominal_hz: float  # its label (20, 25, 31.5 ... 20000)
    power_db: float  # absolute band power, dB re full-scale mean square (full-scale sine = -3.01)
    level_db: float  # normalised: power_db minus the mean over the 100 Hz-10 kHz bands
    target_db: float | None = None
    deviation_db: float | None = None  # level_db - target_db
    target_p10_db: float | None = None
    target_p90_db: float | None = None
    target_sd_db: float | None = None
    outside_target_range: Outside = None  # level beyond the target's p10-p90 range


class SpectrumRegion(_Row):
    name: str
    label: str
    lo_hz: float
    hi_hz: float
    share_db: float  # region power relative to the total 20 Hz-20 kHz power
    level_db: float  # normalised, same frame as the bands and the target
    target_db: float | None = None
    deviation_db: float | None = None
    target_p10_db: float | None = None
    target_p90_db: float | None = None
    target_sd_db: float | None = None
    outside_target_range: Outside = None  # level beyond the target's p10-p90 range
    action: str | None = None  # EQ move towards the target mean, when outside the range


class SpectralIssue(_Row):
    """A strong excess or deficit (|deviation| >= ISSUE_SD target sd), with an EQ move."""

    kind: Literal["region", "band"]
    name: str  # region name or nominal band label
    lo_hz: float
    hi_hz: float
    deviation_db: float
    target_sd_db: float
    direction: Literal["excess", "deficit"]
    text: str


class SpectrumResult(Measurement):
    bands: list[SpectrumBand]
    regions: list[SpectrumRegion]
    tilt_db_per_oct: float | None  # band-power convention: pink 0, white +3.01
    centroid_hz: float | None
    total_power_db: float  # 20 Hz-20 kHz, dB re full-scale mean square
    target_name: str | None = None
    target_tilt_p10_db_per_oct: float | None = None
    target_tilt_p90_db_per_oct: float | None = None
    issues: list[SpectralIssue] = []  # biggest first
    normalisation: str = NORMALISATION_RULE


def _fmt_hz(f: float) -> str:
    return f"{f / 1000:g} kHz" if f >= 1000 else f"{f:g} Hz"


def _fmt_range(lo: float, hi: float) -> str:
    if lo >= 1000:
        return f"{lo / 1000:g}-{hi / 1000:g} kHz"
    if hi >= 1000:
        return f"{lo:g} Hz-{hi / 1000:g} kHz"
    return f"{lo:g}-{hi:g} Hz"


def _outside(level: float, p10: float, p90: float) -> Outside:
    return "above" if level > p90 else "below" if level < p10 else None


def _action(dev: float, lo: float, hi: float, label: str) -> str:
    verb = "cut" if dev > 0 else "boost"
    return f"{verb} ~{abs(dev):.1f} dB around {_fmt_range(lo, hi)} ({label})"


def _check_target(target: TargetCurve, centres: np.ndarray) -> None:
    tc = np.array([b.centre_hz for b in target.bands])
    if tc.shape != centres.shape or not np.allclose(tc, centres, rtol=1e-3):
        raise InvalidArgumentError(
            f"target curve {target.name!r} does not use the 31 IEC 1/3-octave bands 20 Hz-20 kHz")
    names = [g.name for g in target.regions]
    if names != list(REGIONS_HZ):
        raise InvalidArgumentError(
            f"target curve {target.name!r} regions {names} differ from {list(REGIONS_HZ)}")


def measure_spectrum(samples: np.ndarray, sr: int, target: TargetCurve | None = None, *,
                     compare: bool = True) -> SpectrumResult:
    """Spectral balance of ``samples`` ((n,) or (n, channels) float, full scale 1.0) at ``sr`` Hz.

    Measures the 1/3-octave LTAS, region levels, tilt and centroid (see :func:`ltas_power` and
    :func:`spectral_profile` for the conventions) and, unless ``compare`` is False, the deviation from ``target`` (default:
    the packaged professional curve from :func:`load_target_curve`). A band or region whose
    level lies outside the target's between-song 10th-90th percentile range is marked
    ``outside_target_range``; it becomes an issue (with a concrete EQ move, in the verdict) when
    it is also at least ``ISSUE_SD`` = 2 between-song sd from the target mean (single bands: and
    at least 6 dB off, standing at least 5 dB out from the mean deviation of its symmetric
    neighbour bands (+-1 and +-2 where both exist), and not inside a region already flagged the
    same way). Bands and regions outside the target's
    ``reliable_range_hz`` get no target values (None) and drive no advice.
    """
    sr = check_sr(sr, "measure_spectrum")
    x, _ = check_samples(samples, "measure_spectrum", min_samples=MIN_SAMPLES, sr=sr, float32=True)
    return spectrum_result(spectral_profile(x, sr), sr, target, compare=compare)


def spectrum_result(prof: SpectralProfile, sr: int, target: TargetCurve | None = None, *,
                    compare: bool = True) -> SpectrumResult:
    """:func:`measure_spectrum` from the signal's :class:`SpectralProfile`."""
    if compare and target is None:
        target = load_target_curve()
    if not compare:
        target = None
    if target is not None:
        _check_target(target, prof.centres_hz)

    c = prof.centres_hz
    if target is not None:
        rel_lo, rel_hi = target.reliable_range_hz
        band_ok = (c >= rel_lo * 0.97) & (c <= rel_hi * 1.03)
        region_ok = ~np.any((region_weights(prof.lower_hz, prof.upper_hz, c) > 0) & ~band_ok[None, :], axis=1)

    bands: list[SpectrumBand] = []
    for i, f in enumerate(c):
        b = SpectrumBand(centre_hz=r(f, 2), nominal_hz=nominal_hz(f), power_db=r(prof.band_power_db[i], 1),
                         level_db=r(prof.band_level_db[i], 1))
        if target is not None and band_ok[i]:
            tb = target.bands[i]
            b.target_db, b.target_p10_db, b.target_p90_db = r(tb.mean_db, 1), r(tb.p10_db, 1), r(tb.p90_db, 1)
            b.target_sd_db = r(tb.sd_db, 1)
            b.deviation_db = r(b.level_db - b.target_db, 1)
            b.outside_target_range = _outside(b.level_db, b.target_p10_db, b.target_p90_db)
        bands.append(b)

    regions: list[SpectrumRegion] = []
    for j, name in enumerate(prof.region_names):
        lo, hi = REGIONS_HZ[name]
        g = SpectrumRegion(name=name, label=REGION_LABELS[name], lo_hz=lo, hi_hz=hi,
                           share_db=r(prof.region_share_db[j], 1), level_db=r(prof.region_level_db[j], 1))
        if target is not None and region_ok[j]:
            tg = target.regions[j]
            g.target_db, g.target_p10_db, g.target_p90_db = r(tg.mean_db, 1), r(tg.p10_db, 1), r(tg.p90_db, 1)
            g.target_sd_db = r(tg.sd_db, 1)
            g.deviation_db = r(g.level_db - g.target_db, 1)
            g.outside_target_range = _outside(g.level_db, g.target_p10_db, g.target_p90_db)
            if g.outside_target_range and g.deviation_db != 0:
                g.action = _action(g.deviation_db, lo, hi, g.label)
        regions.append(g)

    issues: list[SpectralIssue] = []
    if target is not None and not prof.silent:
        for g in regions:
            if g.action and abs(g.deviation_db) >= ISSUE_SD * g.target_sd_db:
                word = "too much" if g.deviation_db > 0 else "too little"
                issues.append(SpectralIssue(
                    kind="region", name=g.name, lo_hz=g.lo_hz, hi_hz=g.hi_hz, deviation_db=g.deviation_db,
                    target_sd_db=g.target_sd_db, direction="excess" if g.deviation_db > 0 else "deficit",
                    text=f"{word} {g.label} ({g.deviation_db:+.1f} dB vs the target mean): {g.action}"))
        for i, b in enumerate(bands):
            if (b.outside_target_range and abs(b.deviation_db) >= BIG_BAND_DEVIATION_DB
                    and abs(b.deviation_db) >= ISSUE_SD * b.target_sd_db):
                # symmetric neighbour pairs only, so a slope (or the curve's edge) is no "peak"
                nb = [v for d in (1, 2) if 0 <= i - d and i + d < len(bands)
                      and None not in (bands[i - d].deviation_db, bands[i + d].deviation_db)
                      for v in (bands[i - d].deviation_db, bands[i + d].deviation_db)]
                if not nb:
                    continue
                contrast = b.deviation_db - sum(nb) / len(nb)
                if abs(contrast) < NARROW_CONTRAST_DB or (contrast > 0) != (b.deviation_db > 0):
                    continue
                lo, hi = float(prof.lower_hz[i]), float(prof.upper_hz[i])
                # a band inside a region already flagged in the same direction adds nothing
                if any(s.kind == "region" and s.lo_hz <= b.nominal_hz < s.hi_hz
                       and (s.deviation_db > 0) == (b.deviation_db > 0) for s in issues):
                    continue
                word = "peak" if b.deviation_db > 0 else "dip"
                verb = "cut" if b.deviation_db > 0 else "boost"
                issues.append(SpectralIssue(
                    kind="band", name=f"{b.nominal_hz:g}", lo_hz=r(lo, 1), hi_hz=r(hi, 1),
                    deviation_db=b.deviation_db, target_sd_db=b.target_sd_db,
                    direction="excess" if b.deviation_db > 0 else "deficit",
                    text=(f"narrow {word} at {_fmt_hz(b.nominal_hz)} ({b.deviation_db:+.1f} dB vs the "
                          f"target mean): {verb} ~{abs(b.deviation_db):.1f} dB with a narrow "
                          f"(third-octave) bell at {_fmt_hz(b.nominal_hz)}")))
        issues.sort(key=lambda s: -abs(s.deviation_db))

    res = SpectrumResult(
        verdict="", bands=bands, regions=regions, tilt_db_per_oct=r(prof.tilt_db_per_oct, 2),
        centroid_hz=r(prof.centroid_hz, 0), total_power_db=r(prof.total_power_db, 1),
        target_name=target.name if target is not None else None,
        target_tilt_p10_db_per_oct=r(target.tilt_db_per_oct.p10, 2) if target is not None and target.tilt_db_per_oct else None,
        target_tilt_p90_db_per_oct=r(target.tilt_db_per_oct.p90, 2) if target is not None and target.tilt_db_per_oct else None,
        issues=issues)
    res.verdict = _verdict(res, prof.silent)
    return res


def _verdict(res: SpectrumResult, silent: bool) -> str:
    if silent:
        return "Silent: no energy between 20 Hz and 20 kHz, so there is no spectral balance to judge."
    tilt = res.tilt_db_per_oct
    tilt_txt = f"tilt {tilt:+.2f} dB/oct"
    if res.target_tilt_p10_db_per_oct is not None and tilt is not None:
        if tilt < res.target_tilt_p10_db_per_oct:
            tilt_txt += f", darker than most professional mixes (their p10 {res.target_tilt_p10_db_per_oct:+.2f})"
        elif tilt > res.target_tilt_p90_db_per_oct:
            tilt_txt += f", brighter than most professional mixes (their p90 {res.target_tilt_p90_db_per_oct:+.2f})"
    if res.target_name is None:
        top = max(res.regions, key=lambda g: g.share_db)
        return (f"Spectrum: {tilt_txt}; centroid {res.centroid_hz:g} Hz; most energy in the {top.label} "
                f"({top.share_db:+.1f} dB of the total); no target comparison.")
    tilt_txt = tilt_txt[0].upper() + tilt_txt[1:]
    if res.issues:
        moves = "; ".join(s.text for s in res.issues[:2])
        more = f" (and {len(res.issues) - 2} more)" if len(res.issues) > 2 else ""
        return f"Spectrum vs {res.target_name}: {moves}{more}. {tilt_txt}."
    mild = sorted((g for g in res.regions if g.outside_target_range), key=lambda g: -abs(g.deviation_db))
    if mild:
        txt = ", ".join(f"{g.label} {g.deviation_db:+.1f} dB" for g in mild[:2])
        return (f"Spectral balance close to {res.target_name}; slightly outside their usual range: "
                f"{txt} vs their mean. {tilt_txt}.")
    rel = [g for g in res.regions if g.deviation_db is not None]
    big = max(rel, key=lambda g: abs(g.deviation_db))
    return (f"Spectral balance within the usual range of {res.target_name} in every region; largest "
            f"deviation {big.label} {big.deviation_db:+.1f} dB. {tilt_txt}.")
