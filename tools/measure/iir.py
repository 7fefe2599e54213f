"""Cascaded second-order-section (biquad) filtering without importing ``scipy.signal``.

The measurements need only the biquad cascade loop behind ``scipy.signal.sosfilt`` (K-weighting,
ITU-R BS.1770-4 Annex 1) and the frequency response of a cascade; the loop is loaded on its own
(:mod:`.scipy_kernels`: ``import scipy.signal`` would cost about 0.7 s).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .scipy_kernels import load_kernel

_KERNEL_MODULE = "scipy.signal._sosfilt"


def _cascade_kernel() -> Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None:
    """scipy's compiled ``_sosfilt(sos, x, zi)`` (filters the rows of ``x`` in place, updates
    ``zi`` in place), or None when it cannot be loaded on its own."""
    module = load_kernel(_KERNEL_MODULE)
    return None if module is None else module._sosfilt


def sosfilt_axis0(sos: np.ndarray, x: np.ndarray, zi: np.ndarray | None = None
                  ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """``scipy.signal.sosfilt(sos, x, axis=0, zi=zi)`` for a 1-D or 2-D ``x`` (time first).

    Parameters
    ----------
    sos : ndarray, shape (n_sections, 6)
        Rows ``b0 b1 b2 a0 a1 a2`` with ``a0 = 1``.
    x : ndarray, shape (n,) or (n, ch)
        Float input (float32 or float64); the computation runs in the common type of ``sos``,
        ``x`` and ``zi``, as scipy's does.
    zi : ndarray, shape (n_sections, 2) or (n_sections, 2, ch), optional
        Initial section states; with it, the final states are returned too.

    Returns
    -------
    y : ndarray
        Filtered signal, shape of ``x`` (a time-first view of a channel-first array, the layout
        scipy returns).
    zf : ndarray
        Final states, shape of ``zi`` (only when ``zi`` is given).

    Notes
    -----
    Runs scipy's own compiled cascade loop (``scipy/signal/_sosfilt``, transposed direct form
    II per section), loaded as a single extension module without the package's ``__init__``. It
    is the same loop on the same numbers with the same memory layout as
    ``scipy.signal.sosfilt(sos, x, axis=0, zi=zi)``, so results are bit-identical (a test
    checks). If scipy's layout ever changes, the public function is used instead.
    """
    kernel = _cascade_kernel()
    if kernel is None:
        from scipy.signal import sosfilt

        return sosfilt(sos, x, axis=0) if zi is None else sosfilt(sos, x, axis=0, zi=zi)
    sos = np.asarray(sos)
    x = np.asarray(x)
    n_sections = sos.shape[0]
    dtype = np.result_type(sos, x, *(() if zi is None else (np.asarray(zi),)))
    if x.ndim == 2 and x.shape[1] == 2 and dtype in (np.float32, np.float64) and np.isrealobj(sos):
        return _pair_as_complex(kernel, sos, x, zi, dtype)
    rows = np.array(np.moveaxis(x, 0, -1).reshape(-1, x.shape[0]), dtype=dtype, order="C")
    if zi is None:
        state = np.zeros((rows.shape[0], n_sections, 2), dtype=dtype)
    else:  # (sections, 2, ch...) -> (ch, sections, 2), the kernel's layout
        state = np.ascontiguousarray(
            np.moveaxis(np.asarray(zi, dtype=dtype), (0, 1), (-2, -1)).reshape(-1, n_sections, 2))
    kernel(np.ascontiguousarray(sos, dtype=dtype), rows, state)
    y = np.moveaxis(rows.reshape(x.shape[1:] + x.shape[:1]), -1, 0)
    if zi is None:
        return y
    zf = np.moveaxis(state.reshape(x.shape[1:] + (n_sections, 2)), (-2, -1), (0, 1))
    return y, zf


def _pair_as_complex(kernel, sos: np.ndarray, x: np.ndarray, zi: np.ndarray | None, dtype):
    """:func:`sosfilt_axis0` of a stereo pair ``x`` (n, 2) filtered as the one complex signal
    ``L + iR``: the coefficients are real, so the real and imaginary parts never mix and each is
    the channel's own output, computed by the same operations (a product with a zero imaginary
    part adds an exact zero), bit for bit the same as filtering the channels one after the other
    (``tests/test_loudness.py`` compares with ``scipy.signal.sosfilt``). The two recursions run
    interleaved in one loop, so the processor overlaps them: 0.10 -> 0.07 s of CPU for the
    K-weighting of a 3-minute stereo mix."""
    n_sections = sos.shape[0]
    ctype = np.complex64 if dtype == np.float32 else np.complex128
    z = np.empty((1, x.shape[0]), ctype)
    z.real[0] = x[:, 0]
    z.imag[0] = x[:, 1]
    state = np.zeros((1, n_sections, 2), ctype)
    if zi is not None:
        zi = np.asarray(zi, dtype=dtype)  # (sections, 2, 2 channels)
        state.real[0] = zi[..., 0]
        state.imag[0] = zi[..., 1]
    kernel(np.ascontiguousarray(sos, dtype=ctype), z, state)
    rows = np.empty((2, x.shape[0]), dtype)  # channel-major, the layout of the one-channel-at-a-time path
    rows[0] = z.real[0]
    rows[1] = z.imag[0]
    y = rows.T
    if zi is None:
        return y
    zf = np.stack([state.real[0], state.imag[0]], axis=-1)
    return y, zf


def sos_frequency_response(sos: np.ndarray, freqs_hz: np.ndarray, sr: float) -> np.ndarray:
    """Complex frequency response of a biquad cascade at ``freqs_hz`` (sampled at ``sr`` Hz).

    Parameters
    ----------
    sos : ndarray, shape (n_sections, 6)
        Rows ``b0 b1 b2 a0 a1 a2``.
    freqs_hz : ndarray
        Frequencies in Hz.
    sr : float
        Sample rate in Hz.

    Returns
    -------
    ndarray of complex128
        ``H(z) = prod_k (b0 + b1 z^-1 + b2 z^-2) / (a0 + a1 z^-1 + a2 z^-2)`` at
        ``z = exp(j 2 pi f / sr)``, computed with numpy (what ``scipy.signal.sosfreqz``
        computes).
    """
    omega = 2.0 * np.pi * np.asarray(freqs_hz, dtype=np.float64) / float(sr)  # rad / sample
    z1 = np.exp(-1j * omega)  # z^-1
    h = np.ones_like(z1)
    for row in np.asarray(sos, dtype=np.float64):
        h *= _polyval(row[:3], z1) / _polyval(row[3:], z1)
    return h


def _polyval(coefs: np.ndarray, z1: np.ndarray) -> np.ndarray:
    """``c0 + c1 z1 + c2 z1^2 + ...`` by Horner's rule, highest power first, in the operand order
    of ``scipy.signal.freqz`` (so the rounding is the same)."""
    acc = np.full_like(z1, coefs[-1])
    for c in coefs[-2::-1]:
        acc = c + acc * z1
    return acc
