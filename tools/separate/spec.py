"""The spectrogram conventions of HT-Demucs, in numpy (the ONNX graph leaves them outside).

HT-Demucs (Rouard, Massa & Défossez, ICASSP 2023; ``demucs/htdemucs.py``) feeds its frequency
branch a normalised STFT (``torch.stft``, Hann window of 4096, hop 1024, ``normalized=True``,
``center=True`` with reflect padding) of the segment, itself reflect-padded by ``3 * hop / 2``
on each side and to a whole number of hops; the last frequency bin and the first two frames are
dropped so the spectrogram is 2048 bins by ``ceil(L / 1024)`` frames. The real and imaginary
parts go in as channels ("complex as channels"). :func:`ispec` undoes it for the branch's output.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["HOP", "N_FFT", "spec", "ispec", "complex_as_channels", "channels_as_complex"]

N_FFT = 4096
HOP = 1024
_PAD = HOP // 2 * 3  # 1536 samples of reflect padding around the segment


def _hann(n: int) -> np.ndarray:
    """The periodic Hann window (``torch.hann_window`` default)."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(np.float64)


def _stft(x: np.ndarray) -> np.ndarray:
    """``torch.stft(x, 4096, 1024, hann, normalized=True, center=True, pad_mode='reflect')``:
    x (..., L) -> (..., 2049, 1 + L // 1024) complex."""
    x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(N_FFT // 2, N_FFT // 2)], mode="reflect")
    frames = sliding_window_view(x, N_FFT, axis=-1)[..., ::HOP, :]  # (..., T, N_FFT)
    z = np.fft.rfft(frames * _hann(N_FFT), axis=-1) / np.sqrt(N_FFT)
    return np.swapaxes(z, -1, -2)


def _istft(z: np.ndarray, length: int) -> np.ndarray:
    """``torch.istft(z, 4096, 1024, hann, normalized=True, center=True, length=length)``:
    (..., 2049, T) complex -> (..., length); overlap-add divided by the summed squared window."""
    win = _hann(N_FFT)
    frames = np.fft.irfft(np.swapaxes(z, -1, -2), n=N_FFT, axis=-1) * np.sqrt(N_FFT) * win
    n_frames = frames.shape[-2]
    k = N_FFT // HOP
    blocks = frames.reshape(frames.shape[:-1] + (k, HOP))  # frame t, block j -> output block t + j
    out = np.zeros(frames.shape[:-2] + (n_frames + k - 1, HOP))
    env = np.zeros((n_frames + k - 1, HOP))
    wb = (win * win).reshape(k, HOP)
    for j in range(k):
        out[..., j:j + n_frames, :] += blocks[..., :, j, :]
        env[j:j + n_frames] += wb[j]
    out = out.reshape(out.shape[:-2] + (-1,))
    env = env.reshape(-1)
    start = N_FFT // 2
    y = out[..., start:start + length]
    e = env[start:start + length]
    return y / np.where(e > 1e-11, e, 1.0)


def spec(x: np.ndarray) -> np.ndarray:
    """The model's input spectrogram of a segment.

    Parameters
    ----------
    x : np.ndarray
        (..., L) float samples at 44.1 kHz.

    Returns
    -------
    np.ndarray
        (..., 2048, ceil(L / 1024)) complex128.
    """
    length = x.shape[-1]
    le = -(-length // HOP)
    x = np.pad(np.asarray(x, np.float64), [(0, 0)] * (x.ndim - 1) + [(_PAD, _PAD + le * HOP - length)],
               mode="reflect")
    z = _stft(x)
    return z[..., :-1, 2:2 + le]


def ispec(z: np.ndarray, length: int) -> np.ndarray:
    """Samples from a spectrogram shaped like :func:`spec`'s output.

    Parameters
    ----------
    z : np.ndarray
        (..., 2048, T) complex.
    length : int
        Samples to return (the segment's length ``L``).

    Returns
    -------
    np.ndarray
        (..., length) float64.
    """
    pads = [(0, 0)] * (z.ndim - 2)
    z = np.pad(z, pads + [(0, 1), (2, 2)])
    le = HOP * -(-length // HOP) + 2 * _PAD
    x = _istft(z, le)
    return x[..., _PAD:_PAD + length]


def complex_as_channels(z: np.ndarray) -> np.ndarray:
    """(B, C, F, T) complex -> (B, 2C, F, T) float32, channels ``re0, im0, re1, im1``."""
    b, c, f, t = z.shape
    return np.stack([z.real, z.imag], axis=2).reshape(b, 2 * c, f, t).astype(np.float32)


def channels_as_complex(m: np.ndarray) -> np.ndarray:
    """(B, S, 2C, F, T) float -> (B, S, C, F, T) complex (the inverse of :func:`complex_as_channels`)."""
    b, s, c2, f, t = m.shape
    m = m.reshape(b, s, c2 // 2, 2, f, t).astype(np.float64)
    return m[:, :, :, 0] + 1j * m[:, :, :, 1]
