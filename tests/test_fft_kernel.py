"""The measurements' real FFT (tools.measure.fft) against scipy.fft.rfft, and the cold import of
the measurement modules (no scipy.fft / scipy.signal package)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_rfft_is_scipy_fft_bit_for_bit(dtype, axis):
    import scipy.fft

    from mixingbuddy.tools.measure.fft import rfft

    x = (np.random.default_rng(3).standard_normal((6, 513, 2)) * 1000).astype(dtype)
    got, want = rfft(x, axis=axis, workers=2), scipy.fft.rfft(x, axis=axis, workers=2)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got, want)


def test_rfft_falls_back_to_scipy_fft(monkeypatch):
    """Where scipy's layout changes and pocketfft cannot be loaded alone, the public function
    answers (the same numbers)."""
    from mixingbuddy.tools.measure import fft

    x = np.random.default_rng(4).standard_normal((8, 1024)).astype(np.float32)
    expected = fft.rfft(x, axis=1)
    monkeypatch.setattr(fft, "load_kernel", lambda module: None)
    assert np.array_equal(fft.rfft(x, axis=1), expected)


def test_rfft_refuses_an_empty_axis():
    from mixingbuddy.tools.measure.fft import rfft

    with pytest.raises(ValueError, match="invalid number of data points"):
        rfft(np.zeros((3, 0), np.float32), axis=1)


def test_measurement_modules_import_without_scipy_packages():
    """`mixingbuddy analyze` starts without importing scipy.fft or scipy.signal (issue 14: the
    cold command line); their compiled loops are loaded on their own."""
    code = ("import sys; import mixingbuddy.tools.measure.analyze, mixingbuddy.tools.io.ingest; "
            "print(sorted(m for m in ('scipy.fft', 'scipy.signal', 'scipy.special', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
