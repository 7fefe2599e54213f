"""Shared test fixtures: synthetic signals and writers for test audio files.

Everything is generated inside the test's own ``tmp_path``; nothing here reads
``/work/shared`` or the network.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest

from mixingbuddy.evals.audio_files import write_av  # noqa: F401 - the tests' audio writer

# Reviews in the suite run the mix-only path (what a machine without the separator's weights
# runs); tests/test_separate*.py switch separation on explicitly (MixingBuddy(separate=True)).
os.environ.setdefault("MIXINGBUDDY_SEPARATE", "0")


def make_sine(freq_hz: float, dur_s: float, sr: int, amp: float = 0.5, channels: int = 1) -> np.ndarray:
    """float32 (n, channels) sine; every channel carries the same signal."""
    n = int(round(dur_s * sr))
    x = (amp * np.sin(2 * np.pi * freq_hz * np.arange(n) / sr)).astype(np.float32)
    return np.repeat(x[:, None], channels, axis=1)


def write_audio(path, x: np.ndarray, sr: int, fmt: str | None = None, subtype: str | None = None) -> Path:
    """Write ``x`` ((n,) or (n, ch) float) to ``path``. ``fmt`` is a soundfile format
    ("WAV", "FLAC", "OGG", "AIFF", "MP3") or "M4A" (AAC via PyAV); default from the
    extension."""
    import soundfile as sf

    path = Path(path)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    fmt = (fmt or path.suffix.lstrip(".")).upper()
    if fmt in ("M4A", "MP4", "AAC"):
        return write_av(path, x, sr)
    if fmt == "AIF":
        fmt = "AIFF"
    sf.write(str(path), x, sr, format=fmt, subtype=subtype)
    return path


def write_wav_header(path, *, sr: int, channels: int = 1, bits: int = 16, n_frames: int,
                     data: bytes = b"", fmt_tag: int = 1) -> Path:
    """A hand-made RIFF/WAVE file: 44-byte header declaring ``n_frames`` frames, followed
    by ``data`` (which may be shorter than declared, to fake truncation)."""
    align = channels * bits // 8
    data_size = n_frames * align
    header = b"RIFF" + struct.pack("<I", 36 + data_size) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, fmt_tag, channels, sr, sr * align, align, bits)
    header += b"data" + struct.pack("<I", data_size)
    Path(path).write_bytes(header + data)
    return Path(path)


@pytest.fixture
def sine():
    return make_sine


@pytest.fixture
def audio_writer():
    """The ``write_audio`` helper (write_audio(path, x, sr, fmt=None, subtype=None))."""
    return write_audio


@pytest.fixture
def av_writer():
    return write_av


@pytest.fixture
def audio_dir(tmp_path: Path) -> Path:
    """An empty folder for test files (pytest's per-test tmp dir)."""
    d = tmp_path / "audio"
    d.mkdir()
    return d


@pytest.fixture
def no_tempfile_leak(tmp_path: Path, monkeypatch):
    """Points Python's temp dir (``tempfile.gettempdir()``, $TMPDIR) at a private empty
    folder for the test and fails if anything is left in it afterwards. A private folder
    rather than /tmp itself, because other processes write to /tmp concurrently."""
    import tempfile

    private = tmp_path / "systmp"
    private.mkdir()
    monkeypatch.setenv("TMPDIR", str(private))
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    assert tempfile.gettempdir() == str(private)
    yield private
    left = sorted(os.listdir(private))
    assert not left, f"temporary files leaked: {left[:5]}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test that used an app process (a fixture with ``log_tail``) shows the app's log."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            tail = getattr(value, "log_tail", None)
            if callable(tail):
                report.sections.append(("app log (tail)", tail()))
