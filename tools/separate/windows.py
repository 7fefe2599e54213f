"""The stretches of a song worth separating: its loudest windows, which on a full song are
where every stem plays (chorus, drop), and where a balance judgement matters."""
from __future__ import annotations

import numpy as np

__all__ = ["loudest_windows"]


def loudest_windows(audio: np.ndarray, sr: int, window_s: float, n: int = 1,
                    hop_s: float = 0.5) -> list[tuple[int, int]]:
    """The ``n`` non-overlapping ``window_s`` stretches with the highest mean power.

    Greedy: the loudest window (hop ``hop_s``) first, then the loudest that does not overlap a
    chosen one, and so on; returned in time order. Audio no longer than one window is returned
    whole; fewer than ``n`` windows come back when the song has no room for more.

    Parameters
    ----------
    audio : np.ndarray or Spool
        (n_samples,) or (n_samples, n_channels); or a long file's
        :class:`~mixingbuddy.tools.io.spool.Spool`, read a block at a time.
    sr : int
        Sample rate in Hz.
    window_s : float
        Window length in seconds.
    n : int
        How many windows.
    hop_s : float
        Step between candidate starts in seconds.

    Returns
    -------
    list of (int, int)
        (start, stop) sample indices.
    """
    length = audio.shape[0]
    win = int(round(window_s * sr))
    if length <= win:
        return [(0, length)]
    hop = max(1, int(round(hop_s * sr)))
    starts = np.arange(0, length - win + 1, hop)
    if hasattr(audio, "read"):  # a long file's Spool: cumulative power read a block at a time
        energy = _cumulative_power_at(audio, starts + win) - _cumulative_power_at(audio, starts)
    elif win % hop == 0:  # windows made of whole hops: a window's power is the sum of its hops'
        hop_power = _hop_power(audio, hop, starts.size - 1 + win // hop)
        cum = np.concatenate(([0.0], np.cumsum(hop_power)))
        energy = cum[np.arange(starts.size) + win // hop] - cum[:starts.size]
    else:
        csum = np.zeros(length + 1)
        np.cumsum(_channel_mean_power(audio), out=csum[1:])
        energy = csum[starts + win] - csum[starts]
    chosen: list[int] = []
    free = np.ones(starts.size, bool)
    for _ in range(max(1, int(n))):
        if not free.any():
            break
        i = int(np.flatnonzero(free)[np.argmax(energy[free])])
        s = int(starts[i])
        chosen.append(s)
        free &= (starts + win <= s) | (starts >= s + win)
    return [(s, s + win) for s in sorted(chosen)]


def _hop_power(audio: np.ndarray, hop: int, n_hops: int, hops_per_block: int = 16) -> np.ndarray:
    """The channel-mean power summed over each of the first ``n_hops`` stretches of ``hop``
    samples, in float64, a few hops at a time (sums along contiguous rows: about 4x faster than a
    per-sample cumulative sum, which it replaces when windows are whole hops)."""
    x = audio.reshape(audio.shape[0], -1)
    ch = x.shape[1]
    out = np.empty(n_hops)
    for k in range(0, n_hops, hops_per_block):
        m = min(hops_per_block, n_hops - k)
        rows = x[k * hop:(k + m) * hop].reshape(m, hop * ch).astype(np.float64)
        out[k:k + m] = np.einsum("ij,ij->i", rows, rows) / ch
    return out


def _channel_mean_power(audio: np.ndarray, block_n: int = 1 << 18) -> np.ndarray:
    """The channel-mean power of each sample in float64, a block at a time (no float64 copy
    of the whole signal; the same values as ``np.square(audio.astype(np.float64)).mean(axis=1)``)."""
    x = audio.reshape(audio.shape[0], -1)
    out = np.empty(x.shape[0])
    for a in range(0, x.shape[0], block_n):
        sq = np.square(x[a:a + block_n].astype(np.float64))
        out[a:a + sq.shape[0]] = sq.mean(axis=1)
    return out


def _cumulative_power_at(src, positions: np.ndarray) -> np.ndarray:
    """The sum of the channel-mean power of the samples before each of the sorted ``positions``
    of a :class:`~mixingbuddy.tools.io.spool.Spool`, read a block at a time."""
    out = np.zeros(positions.size)
    total = 0.0
    for a, block in src.blocks():
        c = np.cumsum(np.square(block.astype(np.float64)).mean(axis=1))
        lo = int(np.searchsorted(positions, a + 1, side="left"))
        hi = int(np.searchsorted(positions, a + block.shape[0], side="right"))
        out[lo:hi] = total + c[positions[lo:hi] - a - 1]
        total += float(c[-1]) if c.size else 0.0
    return out
