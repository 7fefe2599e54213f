"""Mix-only stem levels: estimate how loud the drums, bass, vocals and the rest sit in a mix
when no stems are given. Every number here is an *estimate* (``is_estimate: true``) with a
confidence; the stem-balance tool measures the same thing exactly when stems exist.
"""
from __future__ import annotations

import functools
import json
import math
from importlib import resources
from typing import Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import InvalidArgumentError
from ..io.decode import MIN_DURATION_S
from ..io.validate import check_array, check_sr
from ..results import Measurement, r
from .bands import band_matrix
from .fft import rfft
from .stem_balance import ReferenceRange, place_in_range, reference_range, resolve_reference

FEATURE_VERSION = 1  # bump when _features changes; the calibration must then be rebuilt
FFT_S = 0.085  # STFT length target (s), rounded up to a power of two
N_BANDS = 64
F_LO_HZ, F_HI_HZ = 30.0, 16000.0
HARM_KERNEL_S = 0.38  # median across time (harmonic part)
PERC_KERNEL_BANDS = 17  # median across bands (percussive part)
BASS_HI_HZ = 150.0
VOCAL_LO_HZ, VOCAL_HI_HZ = 200.0, 4000.0
OTHER_LO_HZ, OTHER_HI_HZ = 200.0, 8000.0
MIN_CONFIDENCE = 0.5
CLEAR_OUTLIER_ERRORS = 2.0  # judged anyway when this many expected errors outside p10..p90
CLAMP_DB = 3.0  # a feature is extrapolated at most this far past its calibrated range
ABSENT_BELOW_DB = 6.0  # further below the calibrated range than this: the stem may be absent
NOMINAL_SPREAD_DB = 3.5  # professional spread (sd) used when no reference is given
ESTIMATE_ROLES = ("drums", "bass", "vocals", "other")
CANDIDATES = {"drums": ["drums_perc"], "bass": ["bass_harm_low"],
              "vocals": ["vocals_centre_harm", "vocals_harm_mid"],
              "other": ["other_side_harm", "other_residual"]}

Status = Literal["within_range", "too_loud", "too_quiet", "uncertain"]


class StemEstimate(Measurement):
    role: str
    is_estimate: bool = True
    estimated_level_vs_mix_db: float | None
    estimated_level_vs_rest_db: float | None
    feature_db: float | None  # the raw feature the estimate is calibrated from
    feature_name: str
    expected_error_db: float | None  # calibration RMS error, inflated as described
    confidence: float  # [0, 1]
    confidence_basis: str
    reference: ReferenceRange | None  # professional stem-minus-mix range
    status: Status
    distance_db: float | None  # outside p10..p90 (0 inside); None when uncertain


class MixEstimateResult(Measurement):
    is_estimate: bool = True
    stems: list[StemEstimate]
    duration_s: float
    stereo: bool
    method: str
    calibration_source: str
    calibration_n: int


# --------------------------------------------------------------------------- calibration

@functools.lru_cache(maxsize=2)
def load_calibration() -> dict:
    """The packaged calibration (``data/mix_estimate_calibration.json``)."""
    path = resources.files("mixingbuddy.tools.data").joinpath("mix_estimate_calibration.json")
    cal = json.loads(path.read_text())
    if cal.get("feature_version") != FEATURE_VERSION:
        raise RuntimeError("mix_estimate_calibration.json is stale: rebuild it with "
                           "python -m mixingbuddy.tools.data.build_mix_estimate_calibration")
    return cal


def apply_line(cal_entry: dict, x: float) -> float:
    return float(cal_entry["intercept_db"] + cal_entry["slope"] * x)


# --------------------------------------------------------------------------- features

def _validate(samples, sr) -> tuple[np.ndarray, int]:
    """The mix as float32 (n, 1|2), at least 0.5 s, and ``sr`` (an integer >= 8000 Hz). NaN and
    inf are caught later, in the band powers of :func:`_features` (no extra pass here)."""
    sr = check_sr(sr, "estimate_stem_levels", minimum=8000, integer_only=True)
    x = check_array(samples, "estimate_stem_levels", min_samples=int(MIN_DURATION_S * sr), sr=sr, float32=True)
    return x, sr


_FRAMES_PER_BATCH = 128  # STFT frames transformed at a time (keeps the spectra in cache)


def _band_power(chan: np.ndarray, n_fft: int, hop: int, win: np.ndarray, w: np.ndarray,
                chan2: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(mid, side) band powers (frames, bands); side is zero for one channel.

    Frames are transformed in batches of ``_FRAMES_PER_BATCH``; every frame's numbers are the
    same as for one transform of the whole signal (each frame is its own FFT)."""
    def frames(c):
        if c.shape[0] < n_fft:
            c = np.pad(c, (0, n_fft - c.shape[0]))
        return sliding_window_view(c, n_fft)[::hop]

    fa = frames(chan)
    fb = None if chan2 is None else frames(chan2)
    n_frames = fa.shape[0]
    pm = np.empty((n_frames, w.shape[0]), np.float32)
    ps = np.zeros_like(pm)
    for i in range(0, n_frames, _FRAMES_PER_BATCH):
        j = min(i + _FRAMES_PER_BATCH, n_frames)
        a = rfft(fa[i:j] * win, axis=1, workers=2)
        if fb is None:
            pm[i:j] = (a.real ** 2 + a.imag ** 2) @ w.T
            continue
        b = rfft(fb[i:j] * win, axis=1, workers=2)
        m = (a + b) * np.float32(0.5)
        a -= b
        a *= np.float32(0.5)  # side
        pm[i:j] = (m.real ** 2 + m.imag ** 2) @ w.T
        ps[i:j] = (a.real ** 2 + a.imag ** 2) @ w.T
    return pm, ps


_MEDIAN_ROWS = 4096  # frames filtered at a time (the windows' copy is size x the rows)


def _median_filter(a: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Running median of odd length ``size`` along ``axis`` (0 or 1 of a 2-D array), the edges
    extended with the edge value (``scipy.ndimage.median_filter(mode="nearest")`` with a 1-D
    footprint; the same numbers, without importing scipy.ndimage), ``_MEDIAN_ROWS`` rows at a
    time (along axis 0 with ``size // 2`` rows of context either side)."""
    n, half = a.shape[0], size // 2
    if n <= _MEDIAN_ROWS:
        return _median_filter_all(a, size, axis)
    out = np.empty_like(a)
    for i in range(0, n, _MEDIAN_ROWS):
        j = min(i + _MEDIAN_ROWS, n)
        lo, hi = (max(0, i - half), min(n, j + half)) if axis == 0 else (i, j)
        out[i:j] = _median_filter_all(a[lo:hi], size, axis)[i - lo: i - lo + (j - i)]
    return out


def _median_filter_all(a: np.ndarray, size: int, axis: int) -> np.ndarray:
    """:func:`_median_filter` in one go."""
    half = size // 2
    pad = [(0, 0)] * a.ndim
    pad[axis] = (half, half)
    windows = sliding_window_view(np.pad(a, pad, mode="edge"), size, axis=axis)
    return np.partition(windows, half, axis=-1)[..., half]


def _features(x: np.ndarray, sr: int) -> dict:
    """Raw features (dB re the mix's total power) of a validated (n, C) float32 signal.

    Notes
    -----
    One STFT, no source separation:

    1. STFT of each channel (Hann, about 85 ms: 4096 points at 48 kHz, hop half of it), power
       summed into 64 log-spaced bands from 30 Hz to 16 kHz (``tools.measure.bands.band_matrix``);
       the mid ``M = (L+R)/2`` and side ``S = (L-R)/2`` powers are kept apart (``M + S`` = the
       pooled power of the two channels, the quantity of the professional reference).
    2. Harmonic-percussive split by median filtering (D. FitzGerald, "Harmonic/percussive
       separation using median filtering", DAFx 2010): a median across about 0.4 s of time gives
       the harmonic (steady) part, a median across 17 bands the percussive (broadband, short)
       part, and a soft mask ``P^2 / (H^2 + P^2)`` shares each cell's power between them.
    3. Features, each the energy of a part of the spectrogram relative to the whole mix (dB):

       - drums: the percussive energy;
       - bass: the harmonic energy below 150 Hz;
       - vocals: the harmonic energy from 200 Hz to 4 kHz, and, for a stereo mix, the
         centre-panned part of it, ``max(M - S, 0)`` (lead vocals are mixed to the centre; wide
         sources have M ~ S);
       - other: the side (``S``) harmonic energy from 200 Hz to 8 kHz (guitars, keys and pads are
         the sources usually spread wide); for mono, :func:`other_feature` instead.

    A stereo mix uses the first (stereo) feature of each pair (``CANDIDATES``). On the MUSDB18
    previews the plain harmonic energy does about as well for vocals (leave-one-out RMS error
    1.48 against 1.57 dB, 94 clips: not a significant difference), but the centre cue is what
    keeps a wide keyboard or guitar from reading as voice (a synthetic mix with wide chords raised
    6 dB moves the plain feature's vocal estimate up 1.2 dB, the centre feature's down 0.2 dB).
    """
    n_fft, hop, centres, w, win = _stft_setup(sr)
    stereo = x.shape[1] == 2 and not np.array_equal(x[:, 0], x[:, 1])
    if stereo:
        bm, bs = _band_power(x[:, 0], n_fft, hop, win, w, x[:, 1])  # strided frames: no column copies
    else:
        bm, bs = _band_power(x[:, 0], n_fft, hop, win, w)
    return _features_from_bands(bm, bs, stereo, centres, sr, hop)


def _stft_setup(sr: int) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray]:
    """(n_fft, hop, band centres Hz, band matrix, window) of :func:`_features` at ``sr``."""
    n_fft = 1 << math.ceil(math.log2(FFT_S * sr))
    f_hi = min(F_HI_HZ, 0.49 * sr)
    edges = np.geomspace(F_LO_HZ, f_hi, N_BANDS + 1)
    w = band_matrix(edges[:-1], edges[1:], sr, n_fft).astype(np.float32)
    win = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    return n_fft, n_fft // 2, np.sqrt(edges[:-1] * edges[1:]), w, win


def features_blocks(src, sr: int) -> dict:
    """:func:`_features` of a long signal (a :class:`~mixingbuddy.tools.io.spool.Spool` of at least
    one frame), read a stretch of whole STFT frames at a time: the same frames and numbers (two
    identical channels give the mono path's band powers exactly, so each stretch takes the mono
    path when its channels are equal and the stereo path otherwise)."""
    from ..io.spool import frame_blocks, read_span

    n_fft, hop, centres, w, win = _stft_setup(sr)
    two = src.shape[1] == 2
    same, parts_m, parts_s, end = True, [], [], 0
    for x in frame_blocks(src, n_fft, hop):
        equal = not two or np.array_equal(x[:, 0], x[:, 1])
        bm, bs = _band_power(x[:, 0], n_fft, hop, win, w, None if equal else x[:, 1])
        parts_m.append(bm)
        parts_s.append(bs)
        same = same and equal
        end += bm.shape[0] * hop
    if two and same:
        tail = read_span(src, end, src.shape[0])
        same = np.array_equal(tail[:, 0], tail[:, 1])
    return _features_from_bands(np.concatenate(parts_m), np.concatenate(parts_s), two and not same,
                                centres, sr, hop)


def _features_from_bands(bm: np.ndarray, bs: np.ndarray, stereo: bool, centres: np.ndarray, sr: int,
                         hop: int) -> dict:
    """:func:`_features` from the (frames, bands) mid and side powers."""
    bt = bm + bs
    total = float(bt.sum(dtype=np.float64))
    if not math.isfinite(total):
        raise InvalidArgumentError("estimate_stem_levels: samples contain NaN or infinite values")
    out = {"stereo": stereo, "silent": total <= 1e-12 * bt.size}
    if out["silent"]:
        return out
    kt = max(3, round(HARM_KERNEL_S * sr / hop) | 1)
    harm = _median_filter(bt, kt, axis=0)
    perc = _median_filter(bt, PERC_KERNEL_BANDS, axis=1)
    h2, p2 = harm * harm, perc * perc
    with np.errstate(invalid="ignore", divide="ignore"):
        mask_p = np.where(h2 + p2 > 0, p2 / (h2 + p2), 0.5).astype(np.float32)
    mask_h = 1.0 - mask_p

    def share_db(e: float) -> float:
        return 10.0 * math.log10(max(e, 1e-12 * total) / total)

    low = centres < BASS_HI_HZ
    vocal = (centres >= VOCAL_LO_HZ) & (centres < VOCAL_HI_HZ)
    out["drums_perc"] = share_db(float((mask_p * bt).sum(dtype=np.float64)))
    out["bass_harm_low"] = share_db(float((mask_h[:, low] * bt[:, low]).sum(dtype=np.float64)))
    out["vocals_harm_mid"] = share_db(float((mask_h[:, vocal] * bt[:, vocal]).sum(dtype=np.float64)))
    if stereo:
        centre = np.maximum(bm[:, vocal] - bs[:, vocal], 0.0)
        out["vocals_centre_harm"] = share_db(float((mask_h[:, vocal] * centre).sum(dtype=np.float64)))
        wide = (centres >= OTHER_LO_HZ) & (centres < OTHER_HI_HZ)
        out["other_side_harm"] = share_db(float((mask_h[:, wide] * bs[:, wide]).sum(dtype=np.float64)))
    return out


def _vs_rest(m: float | None) -> float | None:
    if m is None or m >= -0.01:
        return None
    return m - 10.0 * math.log10(1.0 - 10.0 ** (m / 10.0))


def other_feature(est_db: dict[str, float]) -> float:
    """What the drums, bass and vocals estimates leave of the mix (dB), floored at -20 dB.

    ``10*log10(1 - sum of their power shares)``: the "other" feature of a mono mix, which has no
    side signal.
    """
    rest = 1.0 - sum(10.0 ** (v / 10.0) for v in est_db.values())
    return 10.0 * math.log10(max(rest, 0.01))


# --------------------------------------------------------------------------- main function

def estimate_stem_levels(samples: np.ndarray, sr: int, reference=None) -> MixEstimateResult:
    """Estimate drums, bass, vocals and other levels relative to the mix from the mix alone.

    ``samples``: (n,) or (n, 2) float in [-1, 1]; ``sr`` in Hz. ``reference`` selects the
    professional range as in ``measure_stem_balance`` (None = MUSDB18-HQ all).

    Notes
    -----
    The features are those of :func:`_features`. Each is mapped to a level "stem RMS minus mix
    RMS (dB)" by a straight line fitted on real multitracks (``data/mix_estimate_calibration.json``,
    built by ``build_mix_estimate_calibration`` from the MUSDB18 train previews: 94 songs, 6.8 s
    each, Rafii et al. 2017, doi:10.5281/zenodo.1117372). The level against the rest of the mix
    follows as ``m - 10*log10(1 - 10^(m/10))`` (stem and rest taken as uncorrelated).

    Confidence in [0, 1] = ``max(0, 1 - (expected_error / spread)^2)``: the share of the spread
    of professional balances (the sd of stem-minus-mix over MUSDB18-HQ segments,
    ``data/balance_reference.json``) that the estimate resolves, like an R^2. The expected error
    is the leave-one-out RMS error of the calibration, x1.5 when the feature lies outside the
    range seen in calibration (by more than 1 dB), x1.5 for clips under 5 s. A constant guess
    (every mix at the professional median) scores about 0; an exact measurement 1. The estimate
    is compared with the professional range (p10..p90 of stem minus mix) when the confidence is
    at least ``MIN_CONFIDENCE`` (0.5), or when it lies more than ``CLEAR_OUTLIER_ERRORS`` (two)
    expected errors outside the range (an outlier that is clear despite the error); otherwise
    its status is ``uncertain``.
    """
    x, sr = _validate(samples, sr)
    return estimate_from_features(_features(x, sr), x.shape[0] / sr, reference)


def estimate_from_features(feats: dict, duration: float, reference=None) -> MixEstimateResult:
    """:func:`estimate_stem_levels` from the mix's :func:`_features` (or :func:`features_blocks`)
    and its duration in seconds."""
    cal = load_calibration()
    ref = resolve_reference(reference)
    pop = ref["population"] if ref else None
    stereo = bool(feats["stereo"])
    results: list[StemEstimate] = []
    if feats["silent"]:
        for role in ESTIMATE_ROLES:
            results.append(StemEstimate(
                verdict=f"The mix is silent: no {role} level to estimate.", role=role,
                estimated_level_vs_mix_db=None, estimated_level_vs_rest_db=None, feature_db=None,
                feature_name="-", expected_error_db=None, confidence=0.0,
                confidence_basis="silent mix", reference=None, status="uncertain", distance_db=None))
        return _result(results, duration, stereo, cal, "The mix is silent; nothing to estimate.")

    # per role, the first feature of its list that this mix provides
    names = {role: next(f for f in CANDIDATES[role] if f in feats or f == "other_residual")
             for role in ESTIMATE_ROLES}
    est: dict[str, float] = {}
    raw: dict[str, float] = {}
    for role in ("drums", "bass", "vocals"):
        raw[role] = feats[names[role]]
        est[role] = min(apply_line(cal["features"][names[role]], _clamp(cal, names[role], raw[role])), -0.5)
    raw["other"] = (other_feature(est) if names["other"] == "other_residual"
                    else feats[names["other"]])
    est["other"] = min(apply_line(cal["features"][names["other"]],
                                  _clamp(cal, names["other"], raw["other"])), -0.5)

    for role in ESTIMATE_ROLES:
        entry = cal["features"][names[role]]
        err = float(entry["loo_rmse_db"])
        basis = [f"leave-one-out RMS error {entry['loo_rmse_db']:.1f} dB on {entry['n']} MUSDB18 clips"]
        absent = raw[role] < entry["feature_min"] - ABSENT_BELOW_DB
        if absent:
            basis.append(f"feature {entry['feature_min'] - raw[role]:.0f} dB below anything calibrated: "
                         "this stem may be absent, so no level is judged")
        elif not entry["feature_min"] - 1.0 <= raw[role] <= entry["feature_max"] + 1.0:
            err *= 1.5
            basis.append("feature outside the calibrated range (x1.5)")
        if duration < 5.0:
            err *= 1.5
            basis.append("clip under 5 s (x1.5)")
        if role == "vocals" and not stereo:
            basis.append("mono mix: no centre cue")
        rng_ = reference_range(ref["vs_mix"].get(role), pop) if ref else None
        spread = rng_.sd_db if rng_ is not None and rng_.sd_db else NOMINAL_SPREAD_DB
        conf = float(np.clip(1.0 - (err / spread) ** 2, 0.0, 1.0))
        basis.append(f"1 - (error / professional spread sd {spread:.1f} dB)^2")
        m = est[role]
        status: Status = "uncertain"
        dist = None
        if rng_ is not None:
            status, dist = place_in_range(m, rng_)
            clear = dist > CLEAR_OUTLIER_ERRORS * err
            if absent or (conf < MIN_CONFIDENCE and not clear):
                status, dist = "uncertain", None
        se = StemEstimate(
            verdict="", role=role, estimated_level_vs_mix_db=r(m, 1),
            estimated_level_vs_rest_db=r(_vs_rest(m), 1), feature_db=r(raw[role]),
            feature_name=names[role], expected_error_db=r(err, 1), confidence=round(conf, 2),
            confidence_basis="; ".join(basis), reference=rng_, status=status, distance_db=r(dist, 1))
        se.verdict = _stem_verdict(se)
        results.append(se)
    return _result(results, duration, stereo, cal, _overall(results))


def _clamp(cal: dict, feature: str, value: float) -> float:
    """Keep a feature within CLAMP_DB of its calibrated range: the fitted line is not valid far
    outside it (a mix with no such stem would otherwise extrapolate to absurd levels)."""
    entry = cal["features"][feature]
    return float(np.clip(value, entry["feature_min"] - CLAMP_DB, entry["feature_max"] + CLAMP_DB))


def _result(stems, duration, stereo, cal, verdict) -> MixEstimateResult:
    return MixEstimateResult(
        verdict=verdict, stems=stems, duration_s=round(duration, 3), stereo=stereo,
        method=("HPSS by median filtering (FitzGerald 2010) on a 64-band STFT; drums = percussive "
                "energy, bass = harmonic energy < 150 Hz, vocals = centre harmonic energy "
                "200 Hz-4 kHz, other = remainder; linear calibration on MUSDB18 previews"),
        calibration_source=cal.get("source", "MUSDB18 train previews"),
        calibration_n=int(cal.get("n_clips", 0)))


def _stem_verdict(se: StemEstimate) -> str:
    name = se.role.capitalize()
    m = se.estimated_level_vs_mix_db
    head = f"{name} estimated at {m:.1f} dB vs the mix (confidence {se.confidence:.2f}, about +-{se.expected_error_db:.1f} dB)"
    if se.status == "uncertain" or se.reference is None:
        return head + "; too uncertain to judge against professional mixes."
    ref = se.reference
    rng = f"professional range {ref.p10_db:.1f} to {ref.p90_db:.1f} dB (p10-p90)"
    if se.status == "within_range":
        return f"{head}: within the {rng}, as far as a mix-only estimate can tell."
    word = "quieter" if se.status == "too_quiet" else "louder"
    extra = " (or absent)" if se.status == "too_quiet" and se.role != "other" else ""
    return f"{head}: {se.distance_db:.1f} dB {word} than the {rng}{extra}."


def _overall(stems: list[StemEstimate]) -> str:
    flagged = [s for s in stems if s.status in ("too_loud", "too_quiet")]
    judged = [s for s in stems if s.status != "uncertain"]
    if not judged:
        return "Estimated stem levels (no stems given) are too uncertain to judge the balance."
    if not flagged:
        return (f"Estimated from the mix alone, {', '.join(s.role for s in judged)} sit within the "
                "professional range (an estimate; give stems for a measurement).")
    parts = [f"{s.role} {'too quiet' if s.status == 'too_quiet' else 'too loud'} by about "
             f"{s.distance_db:.1f} dB (confidence {s.confidence:.2f})" for s in flagged]
    return ("Estimated from the mix alone: " + "; ".join(parts)
            + " (an estimate; give stems for a measurement).")
