"""Input checks shared by the measurement tools: sample rate, a signal, a dict of stems.

Every measurement takes plain numpy input, so every measurement has to refuse the same
mistakes (integer PCM, channels-first arrays, NaN, ``sr=0``...). The checks live here once; a
caller passes its own name as ``who`` so that the message says which tool complained, e.g.
``"measure_spectrum: samples look channels-first (shape (2, 48000)); ..."``. Every check
raises :class:`~.errors.InvalidArgumentError` with a one-line message.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError

__all__ = ["check_sr", "check_array", "check_samples", "check_stems"]


def _prefix(who: str | None) -> str:
    return f"{who}: " if who else ""


def _duration(seconds: float) -> str:
    """``"0.5 s"``, ``"21.3 ms"``: three significant digits, in ms below 0.1 s."""
    return f"{seconds:.3g} s" if seconds >= 0.1 else f"{1000 * seconds:.3g} ms"


def check_sr(sr: Any, who: str | None = None, *, minimum: int = 1, integer_only: bool = False) -> int:
    """``sr`` as a positive ``int`` number of Hz, at least ``minimum``.

    Python and numpy integers are accepted, and so are floats holding a whole number
    (``48000.0``) unless ``integer_only``; ``bool`` never is.
    """
    pre = _prefix(who)
    if isinstance(sr, (float, np.floating)) and not integer_only:
        if not float(sr).is_integer():  # also NaN and inf
            raise InvalidArgumentError(f"{pre}sr must be a whole number of Hz, got {sr!r}")
    elif isinstance(sr, bool) or not isinstance(sr, (int, np.integer)):
        raise InvalidArgumentError(f"{pre}sr must be an integer number of Hz, got {sr!r}")
    sr = int(sr)
    if sr <= 0:
        raise InvalidArgumentError(f"{pre}sr must be a positive integer number of Hz, got {sr}")
    if sr < minimum:
        raise InvalidArgumentError(f"{pre}sr {sr} Hz is too low; need at least {minimum} Hz")
    return sr


def check_array(samples: Any, who: str | None = None, *, max_channels: int = 2, min_samples: int = 1,
                sr: int | None = None, float32: bool = False) -> np.ndarray:
    """Check the type, shape and length of a signal (not its values) and return it as a 2-D
    ``(n_samples, n_channels)`` view.

    Refused: anything that is not a float array (integer PCM gets its own message), more than
    two dimensions, no samples or no channels, more than ``max_channels`` channels (with a
    hint when the array looks channels-first, ``(2, n)``), fewer than ``min_samples`` samples
    (``sr``, when given, lets the message say it in seconds). ``float32`` converts the result
    (no copy when it already is float32); otherwise the input's float dtype is kept.

    A signal is accepted as float samples (full scale 1.0) shaped ``(n,)`` (taken as one
    channel) or ``(n, channels)``; integer arrays are refused rather than scaled, because the
    scale (16, 24 or 32 bits) cannot be known.
    """
    pre = _prefix(who)
    try:
        x = np.asarray(samples)
    except Exception:  # noqa: BLE001 - anything that is not array-like
        raise InvalidArgumentError(f"{pre}samples must be a numeric array") from None
    if x.dtype.kind in "iu":
        raise InvalidArgumentError(
            f"{pre}samples must be float with full scale 1.0, got integer dtype {x.dtype} "
            "(divide PCM by 2**(bits-1) first)")
    if x.dtype.kind != "f":
        raise InvalidArgumentError(f"{pre}samples must be a real float array, got dtype {x.dtype}")
    if x.ndim == 1:
        x = x.reshape(-1, 1)
    elif x.ndim != 2:
        raise InvalidArgumentError(f"{pre}samples must be shaped (n,) or (n, channels), got {x.shape}")
    n, ch = x.shape
    if n == 0 or ch == 0:
        raise InvalidArgumentError(f"{pre}samples are empty (shape {x.shape})")
    if ch > max_channels:
        if n <= max_channels:
            raise InvalidArgumentError(
                f"{pre}samples look channels-first (shape {x.shape}); pass them shaped "
                "(n_samples, n_channels)")
        raise InvalidArgumentError(
            f"{pre}samples must be shaped (n,) or (n, channels) with at most {max_channels} "
            f"channels, got {x.shape}")
    if n < min_samples:
        if sr:
            raise InvalidArgumentError(
                f"{pre}only {n} samples ({_duration(n / sr)} at {sr} Hz); need at least "
                f"{_duration(min_samples / sr)} ({min_samples} samples)")
        raise InvalidArgumentError(f"{pre}only {n} samples; need at least {min_samples}")
    if float32:
        x = x.astype(np.float32, copy=False)
    return x


def check_samples(samples: Any, who: str | None = None, *, max_channels: int = 2, min_samples: int = 1,
                  sr: int | None = None, float32: bool = False) -> tuple[np.ndarray, float]:
    """:func:`check_array`, then refuse NaN and infinite values; returns ``(x, peak)``, the
    2-D signal and its largest absolute sample value (linear), from the same pass."""
    x = check_array(samples, who, max_channels=max_channels, min_samples=min_samples, sr=sr,
                    float32=float32)
    hi = float(np.max(x))
    lo = float(np.min(x))
    if not (math.isfinite(hi) and math.isfinite(lo)):
        raise InvalidArgumentError(f"{_prefix(who)}samples contain NaN or infinite values")
    return x, max(hi, -lo)


def check_stems(stems: Any, sr: int, who: str, *, min_s: float) -> tuple[list[str], list[np.ndarray]]:
    """Check a dict of stem name -> samples (each as :func:`check_array` with at most two
    channels, in float32) of one common length of at least ``min_s`` seconds at ``sr``.

    Returns the names and the arrays, all ``(n, C)`` with one ``C``: mono stems are
    duplicated to two channels when any stem is stereo. Values are not checked here (the
    stem tools find NaN and inf in their own sums, without another pass over the samples).
    """
    if not isinstance(stems, dict) or not stems:
        raise InvalidArgumentError(f"{who}: stems must be a non-empty dict of name -> samples")
    names, arrays = [], []
    for name, x in stems.items():
        if not isinstance(name, str) or not name.strip():
            raise InvalidArgumentError(f"{who}: stem names must be non-empty strings, got {name!r}")
        arrays.append(check_array(x, f"{who}: stem {name!r}", max_channels=2, float32=True))
        names.append(name)
    n = arrays[0].shape[0]
    for name, a in zip(names, arrays):
        if a.shape[0] != n:
            raise InvalidArgumentError(
                f"{who}: stems differ in length ({names[0]!r} has {n} samples, {name!r} has "
                f"{a.shape[0]}); align them first")
    if n < round(min_s * sr):
        raise InvalidArgumentError(
            f"{who}: stems are {n / sr:.3f} s long; need at least {min_s:g} s")
    if any(a.shape[1] == 2 for a in arrays):
        arrays = [a if a.shape[1] == 2 else np.repeat(a, 2, axis=1) for a in arrays]
    return names, arrays
