"""Shared frequency-band definitions: 1/3-octave bands, named mixing regions, the ERB-rate scale,
and the matrix that sums STFT power bins into bands.

Everything here is a pure function of numbers (no audio), so any measurement can build the same
bands: ``spectral`` and ``stereo`` use the 1/3-octave bands and the regions, ``masking`` uses the
ERB scale.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import InvalidArgumentError
from ..io.validate import check_sr

# Named regions used in every verdict (Hz, [lo, hi)). The usual engineering vocabulary.
REGIONS_HZ: dict[str, tuple[float, float]] = {
    "sub": (20.0, 60.0),
    "low": (60.0, 250.0),
    "low_mid": (250.0, 500.0),
    "mid": (500.0, 2000.0),
    "presence": (2000.0, 5000.0),
    "brilliance": (5000.0, 10000.0),
    "air": (10000.0, 20000.0),
}
# How a producer would say them.
REGION_LABELS: dict[str, str] = {
    "sub": "sub-bass", "low": "bass", "low_mid": "low-mids", "mid": "mids",
    "presence": "presence", "brilliance": "brilliance", "air": "air",
}

_R10 = (1.0, 1.25, 1.6, 2.0, 2.5, 3.15, 4.0, 5.0, 6.3, 8.0)  # ISO 266 R10 preferred numbers


def _check_range(f_lo_hz: float, f_hi_hz: float, what: str) -> None:
    try:
        lo, hi = float(f_lo_hz), float(f_hi_hz)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{what}: frequency range must be numbers") from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InvalidArgumentError(f"{what}: frequency range must be finite, got {lo}..{hi} Hz")
    if lo < 0 or hi <= lo:
        raise InvalidArgumentError(f"{what}: need 0 <= f_lo < f_hi, got {lo}..{hi} Hz")


def third_octave_bands_hz(f_lo: float = 20.0, f_hi: float = 20000.0
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact base-10 1/3-octave bands (IEC 61260-1:2014) whose centres lie in [f_lo, f_hi].

    Centres are ``1000 * 10**(x/10)`` Hz, edges ``centre * 10**(-+1/20)``. A band is included
    when its exact centre is within 1/12 of a band (a factor 10**(1/40)) of the range, so the
    default 20 Hz..20 kHz gives the 31 bands with nominal centres 20, 25, 31.5 ... 16000, 20000
    (exact 19.95 ... 19953 Hz). Returns ``(centres, lower, upper)`` float64 arrays in Hz.

    References
    ----------
    IEC 61260-1:2014 "Electroacoustics - Octave-band and fractional-octave-band filters" (and
    ANSI S1.11-2004), base-10 system: octave ratio G = 10**(3/10), reference 1 kHz, exact
    mid-band frequencies f_m = 1000 * G**(x/3) = 1000 * 10**(x/10) Hz for integer x, band edges
    f_m * G**(+-1/6) = f_m * 10**(+-1/20). The nominal labels (20, 25, 31.5, ... 20000 Hz) are
    the R10 preferred numbers of ISO 266 (:func:`nominal_hz`).
    """
    _check_range(f_lo, f_hi, "third_octave_bands_hz")
    if f_lo <= 0:
        raise InvalidArgumentError("third_octave_bands_hz: f_lo must be > 0 Hz")
    tol = 1.0 / 40.0  # in log10 units: 1/4 of a 1/3-octave step (step = 1/10)
    x_lo = math.ceil(10.0 * (math.log10(f_lo / 1000.0) - tol))
    x_hi = math.floor(10.0 * (math.log10(f_hi / 1000.0) + tol))
    if x_hi < x_lo:
        raise InvalidArgumentError(f"third_octave_bands_hz: no 1/3-octave centre in {f_lo}..{f_hi} Hz")
    x = np.arange(x_lo, x_hi + 1, dtype=np.float64)
    centres = 1000.0 * 10.0 ** (x / 10.0)
    return centres, centres * 10.0 ** (-1.0 / 20.0), centres * 10.0 ** (1.0 / 20.0)


def nominal_hz(centre_hz: float) -> float:
    """The nominal (ISO 266 R10) label of an exact base-10 1/3-octave centre, e.g. 31.62 -> 31.5."""
    x = round(10.0 * math.log10(float(centre_hz) / 1000.0))
    decade, idx = divmod(x, 10)
    return float(round(_R10[idx] * 10.0 ** (decade + 3), 6))


def erb_hz(f_hz):
    """Equivalent rectangular bandwidth of the auditory filter at ``f_hz`` (Glasberg & Moore 1990):
    ERB = 24.7 * (4.37 f/1000 + 1) Hz.

    B. R. Glasberg and B. C. J. Moore, "Derivation of auditory filter shapes from notched-noise
    data", Hearing Research 47 (1990) 103-138; the same paper gives the ERB-number (Cams)
    E(f) = 21.4 * log10(4.37 f/1000 + 1) of :func:`erb_number`."""
    return 24.7 * (4.37e-3 * np.asarray(f_hz, dtype=np.float64) + 1.0)


def erb_number(f_hz):
    """ERB-rate (Cams) of ``f_hz`` (Glasberg & Moore 1990): E = 21.4 * log10(4.37 f/1000 + 1).
    Works on scalars and arrays; 0 Hz -> 0 Cam, 1 kHz -> 15.6 Cam, 20 kHz -> 41.7 Cam."""
    f = np.asarray(f_hz, dtype=np.float64)
    if np.any(f < 0):
        raise InvalidArgumentError("erb_number: frequencies must be >= 0 Hz")
    out = 21.4 * np.log10(4.37e-3 * f + 1.0)
    return float(out) if out.ndim == 0 else out


def erb_number_to_hz(e_cam):
    """Inverse of :func:`erb_number`: f = (10**(E/21.4) - 1) / 4.37e-3 Hz."""
    e = np.asarray(e_cam, dtype=np.float64)
    out = (10.0 ** (e / 21.4) - 1.0) / 4.37e-3
    return float(out) if out.ndim == 0 else out


def erb_band_edges_hz(n_bands: int, f_lo_hz: float, f_hi_hz: float) -> np.ndarray:
    """``n_bands + 1`` band edges (Hz, ascending, float64) equally spaced on the ERB-rate scale
    from ``f_lo_hz`` to ``f_hi_hz`` (Glasberg & Moore 1990), so every band is the same number of
    Cams wide. Band i spans ``edges[i] .. edges[i+1]``; the first and last edges are exactly
    ``f_lo_hz`` and ``f_hi_hz``. Feed ``edges[:-1], edges[1:]`` to :func:`band_matrix`.
    """
    if isinstance(n_bands, bool) or not isinstance(n_bands, (int, np.integer)) or n_bands < 1:
        raise InvalidArgumentError(f"erb_band_edges_hz: n_bands must be an integer >= 1, got {n_bands!r}")
    _check_range(f_lo_hz, f_hi_hz, "erb_band_edges_hz")
    e = np.linspace(erb_number(float(f_lo_hz)), erb_number(float(f_hi_hz)), int(n_bands) + 1)
    edges = erb_number_to_hz(e)
    edges[0], edges[-1] = float(f_lo_hz), float(f_hi_hz)
    return edges


def erb_bands_hz(n_bands: int, f_lo_hz: float, f_hi_hz: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ERB-spaced bands as ``(centres, lower, upper)`` like :func:`third_octave_bands_hz`; each
    centre is the ERB-rate midpoint of its band."""
    edges = erb_band_edges_hz(n_bands, f_lo_hz, f_hi_hz)
    e = erb_number(edges)
    centres = erb_number_to_hz(0.5 * (e[:-1] + e[1:]))
    return np.atleast_1d(centres), edges[:-1].copy(), edges[1:].copy()


def band_matrix(edges_lower_hz, edges_upper_hz, sr: int, n_fft: int) -> np.ndarray:
    """Summation matrix ``W`` (n_bands, n_fft//2 + 1) from one-sided STFT power bins to bands:
    ``band_power = W @ bin_power``.

    Bin k is taken to cover ``[(k - 1/2) df, (k + 1/2) df]`` (df = sr/n_fft, clipped to
    0..sr/2, so the DC and Nyquist bins are half as wide) with its power spread evenly over that
    width. ``W[b, k]`` is the fraction of bin k's width that lies inside band b. A band narrower
    than a bin therefore still gets the matching fraction of that bin's power (never an empty
    row), bands that tile a range share each bin's power exactly (columns sum to 1 there), and
    a band above Nyquist gets a zero row.
    """
    lo = np.atleast_1d(np.asarray(edges_lower_hz, dtype=np.float64))
    hi = np.atleast_1d(np.asarray(edges_upper_hz, dtype=np.float64))
    if lo.ndim != 1 or lo.shape != hi.shape or lo.size == 0:
        raise InvalidArgumentError("band_matrix: lower and upper edges must be 1-D arrays of equal, non-zero length")
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise InvalidArgumentError("band_matrix: band edges must be finite")
    if np.any(lo < 0) or np.any(hi <= lo):
        raise InvalidArgumentError("band_matrix: every band needs 0 <= lower < upper")
    check_sr(sr, "band_matrix", integer_only=True)
    if isinstance(n_fft, bool) or not isinstance(n_fft, (int, np.integer)) or n_fft < 2:
        raise InvalidArgumentError(f"band_matrix: n_fft must be an integer >= 2, got {n_fft!r}")
    nyq = sr / 2.0
    df = sr / float(n_fft)
    k = np.arange(n_fft // 2 + 1, dtype=np.float64)
    b_lo = np.clip((k - 0.5) * df, 0.0, nyq)
    b_hi = np.clip((k + 0.5) * df, 0.0, nyq)
    width = b_hi - b_lo
    overlap = np.minimum(hi[:, None], b_hi[None, :]) - np.maximum(lo[:, None], b_lo[None, :])
    np.clip(overlap, 0.0, None, out=overlap)
    return overlap / np.where(width > 0, width, 1.0)[None, :]


def region_band_weights(lower_hz, upper_hz,
                        regions: dict[str, tuple[float, float]] | None = None) -> np.ndarray:
    """(n_regions, n_bands) weights for averaging per-band values (e.g. dB deviations) into the
    named regions: each band counts with the fraction of its width *on a log-frequency axis*
    that lies inside the region; rows are normalised to sum to 1. Region order follows
    ``regions`` (default :data:`REGIONS_HZ`)."""
    regions = REGIONS_HZ if regions is None else regions
    lo = np.log2(np.asarray(lower_hz, dtype=np.float64))
    hi = np.log2(np.asarray(upper_hz, dtype=np.float64))
    rows = []
    for name, (r_lo, r_hi) in regions.items():
        ov = np.minimum(hi, math.log2(r_hi)) - np.maximum(lo, math.log2(r_lo))
        w = np.clip(ov, 0.0, None) / (hi - lo)
        s = w.sum()
        if s <= 0:
            raise InvalidArgumentError(f"region_band_weights: no band overlaps region {name!r}")
        rows.append(w / s)
    return np.vstack(rows)
