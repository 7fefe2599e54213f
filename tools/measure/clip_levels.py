"""Whole-clip stem levels: each stem's RMS against the rest, the mix and an anchor stem.

The plain levels of the MixingBuddy-gain protocol (defined at :func:`measure_clip_levels`). The
gated, segment-wise measurement judged against the professional range is :mod:`.stem_balance`.
"""
from __future__ import annotations

import math

import numpy as np
from threadpoolctl import threadpool_limits

from ..io.audio import ALL_STEMS

SILENT_DBFS = -150.0  # below this a stem counts as silent: its levels are None


def stereo(x: np.ndarray) -> np.ndarray:
    """``x`` as (n, 2) float32: a mono signal is duplicated, extra channels are dropped."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    return x if x.shape[1] == 2 else np.repeat(x[:, :1], 2, axis=1)


def rms_dbfs(x: np.ndarray) -> float | None:
    """RMS of the whole signal, channels pooled, in dBFS; None when silent."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return None
    return _level_db(float(np.mean(x * x)))


def _level_db(mean_square: float) -> float | None:
    """``10 log10(mean_square)`` dBFS; None at or below ``SILENT_DBFS``."""
    if mean_square <= 10 ** (SILENT_DBFS / 10):
        return None
    return 10.0 * math.log10(mean_square)


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 4)


_CHUNK = 1 << 16  # samples per pass (float64 copies of every stem stay in cache)


def _pooled_energies(arrays: dict[str, np.ndarray]) -> tuple[dict[str, float], dict[str, float], float]:
    """Sums of squares (channels pooled, float64) of each stem, of each stem's rest (the mix
    minus the stem) and of the mix (the sum of the stems, in the order given), accumulated over
    chunks of ``_CHUNK`` samples so that no whole-song float64 copy is made."""
    n = next(iter(arrays.values())).shape[0]
    own = dict.fromkeys(arrays, 0.0)
    rest = dict.fromkeys(arrays, 0.0)
    mix_e = 0.0
    # one BLAS thread: for dot products this size, more threads only add waiting (15x slower)
    with threadpool_limits(limits=1, user_api="blas"):
        for a in range(0, n, _CHUNK):
            chunk = {s: x[a: a + _CHUNK].astype(np.float64).ravel() for s, x in arrays.items()}
            mix = np.zeros_like(next(iter(chunk.values())))
            for v in chunk.values():
                mix += v
            mix_e += float(np.dot(mix, mix))
            for s, v in chunk.items():
                own[s] += float(np.dot(v, v))
                d = mix - v
                rest[s] += float(np.dot(d, d))
    return own, rest, mix_e


def measure_clip_levels(stems: dict[str, np.ndarray], anchor: str | None) -> dict[str, dict]:
    """Per stem of bass, drums, vocals, other (missing ones count as silent): ``rms_dbfs``,
    ``vs_rest_db``, ``vs_mix_db`` and ``vs_anchor_db``. ``stems``: role -> samples, (n,) or
    (n, c), all the same length. None where a level is undefined (silent stem, silent rest, no
    anchor).

    Notes
    -----
    The plain definition of the MixingBuddy-gain protocol's levels: the RMS of the whole clip
    with both channels pooled, in dBFS (``10 log10(mean(x^2))``), and differences of those
    levels:

    - ``vs_rest_db``: the stem against the audio sum of the other stems;
    - ``vs_mix_db``: the stem against the sum of all stems (the mix);
    - ``vs_anchor_db``: the stem against the anchor stem.

    A stem below ``SILENT_DBFS`` has no level (None). The flawed-mix corpus labels its clips
    with this function (``model.data.flaws``) and the agent measures a user's stems with it, so
    a rule fitted on the corpus's levels reads the user's levels on the same scale.
    """
    arrays = {s: stereo(stems[s]) for s in stems}
    n_values = 2 * next(iter(arrays.values())).shape[0]  # samples x 2 channels, pooled
    own_e, rest_e, mix_e = _pooled_energies(arrays)
    mix_db = _level_db(mix_e / n_values) if n_values else None
    own = {s: (_level_db(own_e[s] / n_values) if s in arrays and n_values else None) for s in ALL_STEMS}
    anchor_db = own.get(anchor) if anchor else None
    out = {}
    for s in ALL_STEMS:
        rest_db = (_level_db(rest_e[s] / n_values) if n_values else None) if s in arrays else mix_db
        lvl = own[s]
        out[s] = {
            "rms_dbfs": None if lvl is None else round(lvl, 4),
            "vs_rest_db": _diff(lvl, rest_db),
            "vs_mix_db": _diff(lvl, mix_db),
            "vs_anchor_db": _diff(lvl, anchor_db),
        }
    return out
