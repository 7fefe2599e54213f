"""The real FFT of scipy.fft (pocketfft) without importing the scipy.fft package."""
from __future__ import annotations

import threading
from contextlib import contextmanager

import numpy as np

from .scipy_kernels import load_kernel

__all__ = ["rfft", "one_thread_each"]

_KERNEL_MODULE = "scipy.fft._pocketfft.pypocketfft"
_side_by_side = 0  # pools running measurement tools side by side (see one_thread_each)
_lock = threading.Lock()


@contextmanager
def one_thread_each():
    """While the measurement tools run side by side on a pool (``analyze``), every transform uses
    one thread: a second pocketfft thread would only wait for a core the pool already uses
    (a 3-minute analysis: 0.33 -> 0.32 s on two cores). Results are the same either way."""
    global _side_by_side
    with _lock:
        _side_by_side += 1
    try:
        yield
    finally:
        with _lock:
            _side_by_side -= 1


def rfft(x: np.ndarray, axis: int = -1, workers: int = 1) -> np.ndarray:
    """``scipy.fft.rfft(x, axis=axis, workers=workers)``: the one-sided DFT of real ``x``.

    Parameters
    ----------
    x : ndarray
        Real input, float32 or float64 (float32 stays float32, as in scipy.fft; other types are
        converted to float64).
    axis : int
        The axis transformed.
    workers : int
        Threads pocketfft may use (>= 1); one inside :func:`one_thread_each`.

    Returns
    -------
    ndarray
        complex64 for float32 input, else complex128; ``x.shape[axis] // 2 + 1`` bins on ``axis``.

    Notes
    -----
    Calls the same compiled ``pypocketfft.r2c`` with the same arguments as
    ``scipy.fft.rfft`` (forward, no normalisation), so the result is bit-identical (a test
    checks), while the import costs no scipy.fft package (:mod:`.scipy_kernels`).
    """
    kernel = load_kernel(_KERNEL_MODULE)
    if kernel is None:
        import scipy.fft

        return scipy.fft.rfft(x, axis=axis, workers=workers)
    a = np.asarray(x)
    if a.dtype.kind != "f" or a.dtype == np.float16:
        a = a.astype(np.float32 if a.dtype == np.float16 else np.float64)
    a = np.require(a, a.dtype.newbyteorder("="), "A")  # native byte order, aligned
    if a.shape[axis] < 1:
        raise ValueError(f"invalid number of data points ({a.shape[axis]}) specified")
    return kernel.r2c(a, (axis,), True, 0, None, 1 if _side_by_side else int(workers))
