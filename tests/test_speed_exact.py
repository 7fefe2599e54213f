"""The cold-start speed-ups of issue 14 give the same numbers, bit for bit, as the simple forms
they replace: per-channel resampling, batched Welch averaging, row bounds a block at a time."""
from __future__ import annotations

import numpy as np
import soxr

from mixingbuddy.tools.io.decode import _start_resampling
from mixingbuddy.tools.measure import bandwidth, loudness


def test_per_channel_resampling_equals_one_interleaved_call():
    rng = np.random.default_rng(3)
    x = (0.3 * rng.standard_normal((44_100 * 3 + 17, 2))).astype(np.float32)
    got = _start_resampling(x, 44_100, 48_000)()
    want = soxr.resample(x, 44_100, 48_000, quality="HQ")
    assert got.dtype == np.float32 and got.shape == want.shape
    assert np.array_equal(got, want)
    mono = x[:, :1].copy()
    assert np.array_equal(_start_resampling(mono, 44_100, 48_000)(), soxr.resample(mono, 44_100, 48_000, quality="HQ"))


def test_batched_welch_equals_the_whole_spectrogram_mean():
    rng = np.random.default_rng(4)
    sr = 48_000
    mono = (rng.standard_normal(sr * 25) * np.linspace(0.01, 1.0, sr * 25)).astype(np.float32)
    n = 8192  # the function's own choice at 48 kHz (about 10 Hz bins)
    frames = np.lib.stride_tricks.sliding_window_view(mono.astype(np.float64), n)[:: n // 2]
    assert frames.shape[0] > 2 * bandwidth._FRAMES_PER_BATCH  # several batches
    want = 10.0 * np.log10((np.abs(np.fft.rfft(frames * np.hanning(n), axis=1)) ** 2).mean(axis=0) + 1e-30)
    freqs, got = bandwidth._welch_db(mono, sr)
    assert np.array_equal(got, want)
    assert np.array_equal(freqs, np.fft.rfftfreq(n, 1.0 / sr))


def test_row_bounds_a_block_at_a_time_equal_the_whole_signal():
    rng = np.random.default_rng(5)
    n_rows = 2 * loudness._BOUND_ROWS + 123  # across two block seams
    rows = rng.standard_normal((n_rows, loudness._TP_ROW)).astype(np.float32)
    rows[loudness._BOUND_ROWS - 1, 3] = 9.0  # a peak on either side of a seam reaches its neighbours
    rows[loudness._BOUND_ROWS, 5] = -8.0
    row_max = np.abs(rows).max(axis=1)
    want = row_max.copy()
    want[1:] = np.maximum(want[1:], row_max[:-1])
    want[:-1] = np.maximum(want[:-1], row_max[1:])
    got = loudness._row_bounds(rows)
    assert np.array_equal(got, want)
    assert got[loudness._BOUND_ROWS] == 9.0 and got[loudness._BOUND_ROWS + 1] == 8.0


def test_a_kernel_loaded_by_many_threads_at_once_is_whole_in_each():
    """Two measurement tools that filter for the first time side by side once got scipy's biquad
    module half-initialised (a Cython module enters sys.modules as its initialisation starts):
    "module 'scipy.signal._sosfilt' has no attribute '_sosfilt'". Loads are serialised now."""
    import subprocess
    import sys

    code = (
        "import threading\n"
        "from mixingbuddy.tools.measure.scipy_kernels import load_kernel\n"
        "barrier = threading.Barrier(8); got = []\n"
        "def go():\n"
        "    barrier.wait()\n"
        "    got.append(hasattr(load_kernel('scipy.signal._sosfilt'), '_sosfilt')\n"
        "               and hasattr(load_kernel('scipy.fft._pocketfft.pypocketfft'), 'r2c'))\n"
        "ts = [threading.Thread(target=go) for _ in range(8)]\n"
        "[t.start() for t in ts]; [t.join() for t in ts]\n"
        "print(sum(got))\n"
    )
    for _ in range(3):  # a fresh interpreter each time: the first load is the one that races
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "8"
