"""Samples kept in an unlinked float32 temporary file and read back a block at a time.

A long file is decoded and resampled block by block into a :class:`Spool` (see
``tools.io.decode``), so no full-length copy of it lives in memory: reads go through the page
cache (``os.pread``), which the kernel can drop and which is not the process's resident set.
``Spool.array()`` maps the whole file read-only for code that still needs one array (touching
all of it costs its full size in resident pages, so the measurements read blocks instead).
"""
from __future__ import annotations

import os
import tempfile
from typing import Iterator

import numpy as np

__all__ = ["Spool", "ComputedSpool", "BLOCK_N", "SPOOL_ABOVE_S", "blocks_of", "frame_blocks", "read_span"]

# Frames per block for block-wise measurement: 10 s at 48 kHz, a whole number of the loudness
# meter's 100 ms sub-blocks and of the true-peak interpolator's 16-sample rows. Frame-based
# measurements whose frames do not divide it read with :func:`frame_blocks`.
BLOCK_N = 480_000
# A mix longer than this is spooled: a three- or four-minute song stays in memory (a few hundred
# MB at most, the fastest path); above it memory would grow with the length.
SPOOL_ABOVE_S = 240.0


class Spool:
    """A growing (then read-only) float32 (n, channels) signal in an unlinked temporary file.

    Parameters
    ----------
    channels : int
        Channels per frame.
    folder : str, optional
        Where the temporary file is made (default: the system's temporary folder).
    """

    def __init__(self, channels: int, folder: str | None = None) -> None:
        fd, path = tempfile.mkstemp(prefix="mixingbuddy-", suffix=".f32", dir=folder)
        os.unlink(path)  # freed by the kernel when the descriptor closes
        self._fd = fd
        self.channels = int(channels)
        self.n = 0
        self._map: np.ndarray | None = None

    def __len__(self) -> int:
        return self.n

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.channels)

    def append(self, block: np.ndarray) -> None:
        """Add (m, channels) frames at the end."""
        data = np.ascontiguousarray(block, dtype=np.float32)
        if data.ndim != 2 or data.shape[1] != self.channels:
            raise ValueError(f"spool of {self.channels} channel(s) given a block of shape {data.shape}")
        view = memoryview(data).cast("B")
        off = self.n * 4 * self.channels
        while view:
            k = os.pwrite(self._fd, view, off)
            view, off = view[k:], off + k
        self.n += data.shape[0]

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start`` to ``stop`` (clipped to the signal) as a new float32 (m, channels) array."""
        start, stop = max(0, int(start)), min(self.n, int(stop))
        m = max(0, stop - start)
        out = np.empty((m, self.channels), np.float32)
        view = memoryview(out).cast("B")
        off = start * 4 * self.channels
        while view:
            k = os.preadv(self._fd, [view], off)
            if k <= 0:
                raise OSError("the spool file ended early")
            view, off = view[k:], off + k
        return out

    def blocks(self, block_n: int = 0, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """``(offset, block)`` for consecutive blocks of ``block_n`` frames (the last may be shorter)."""
        block_n = int(block_n) or BLOCK_N
        stop = self.n if stop is None else min(self.n, int(stop))
        for a in range(int(start), stop, block_n):
            yield a, self.read(a, min(a + block_n, stop))

    def array(self) -> np.ndarray:
        """The whole signal as a read-only memory map (n, channels)."""
        if self._map is None:
            if self.n == 0:
                return np.zeros((0, self.channels), np.float32)
            self._map = np.memmap(os.fdopen(os.dup(self._fd), "rb"), dtype=np.float32, mode="r",
                                  shape=(self.n, self.channels))
        return self._map

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:  # the descriptor is the only reference to the unlinked file
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


class ComputedSpool(Spool):
    """A read-only float32 (n, channels) signal computed on each read by ``fn(start, stop)``
    (e.g. other spools' blocks gained and summed), so that a signal made of long ones is never
    whole in memory. Every block-wise reader here (:meth:`Spool.blocks`, :func:`blocks_of`,
    :func:`read_span`, :func:`frame_blocks`) takes it as it takes a :class:`Spool`; no file backs
    it, and :meth:`array` refuses (a whole array is what it exists to avoid).

    Parameters
    ----------
    n, channels : int
        Frames and channels of the signal.
    fn : callable
        ``fn(start, stop)`` -> the (stop - start, channels) frames, ``0 <= start <= stop <= n``.
    """

    def __init__(self, n: int, channels: int, fn) -> None:  # no temporary file: nothing to open
        self._fd = -1
        self._map = None
        self.channels = int(channels)
        self.n = int(n)
        self._fn = fn

    def append(self, block: np.ndarray) -> None:
        raise TypeError("a computed spool is read-only")

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start`` to ``stop`` (clipped to the signal), computed now, as float32 (m, channels)."""
        start = min(max(0, int(start)), self.n)
        stop = max(start, min(self.n, int(stop)))
        out = np.ascontiguousarray(self._fn(start, stop), dtype=np.float32)
        if out.shape != (stop - start, self.channels):
            raise ValueError(f"computed spool gave a block of shape {out.shape} for frames {start}-{stop}")
        return out

    def array(self) -> np.ndarray:
        raise TypeError("a computed spool is read a block at a time; it has no whole array")


def blocks_of(x, block_n: int = 0) -> Iterator[tuple[int, np.ndarray]]:
    """``(offset, block)`` over an in-memory (n, ch) array (views, no copies) or a :class:`Spool`."""
    if isinstance(x, Spool):
        yield from x.blocks(block_n)
        return
    block_n = int(block_n) or BLOCK_N
    for a in range(0, x.shape[0], block_n):
        yield a, x[a:a + block_n]


def read_span(x, start: int, stop: int) -> np.ndarray:
    """Frames ``start`` to ``stop`` of an in-memory array (a view) or a :class:`Spool` (a copy)."""
    return x.read(start, stop) if isinstance(x, Spool) else x[start:stop]


def frame_blocks(x, frame_n: int, hop_n: int, frames_per_block: int = 0) -> Iterator[np.ndarray]:
    """Stretches of ``x`` (an (n, ch) array or a :class:`Spool`) holding consecutive whole frames
    of ``frame_n`` samples every ``hop_n``: frames ``k .. k + m - 1`` of the whole signal are the
    frames of the stretch (``sliding_window_view(stretch, frame_n)[::hop_n]``), and every frame
    that fits in the signal (starts ``0, hop_n, ...`` up to ``n - frame_n``) comes exactly once.
    """
    n = x.shape[0]
    n_frames = (n - frame_n) // hop_n + 1 if n >= frame_n else 0
    per = int(frames_per_block) or max(1, (BLOCK_N - frame_n) // hop_n + 1)
    for k in range(0, n_frames, per):
        m = min(per, n_frames - k)
        yield read_span(x, k * hop_n, (k + m - 1) * hop_n + frame_n)
