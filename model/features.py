"""Audio features for the encoder: mid/side log-mel and per-frame band levels.

:func:`compute_features` turns a clip into a float16 ``(T, 136)`` array, about 101 frames per
second, in dB relative to the clip's level; :func:`build_feature_cache` keeps one ``.npz`` per
manifest row under ``<corpus>/features/<config hash>/``.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

import numpy as np

from .config import FeatureConfig

_EPS = 1e-10


_MELS: dict[tuple, np.ndarray] = {}


def _mel_key(cfg: FeatureConfig) -> tuple:
    return (int(cfg.sr_hz), int(cfg.n_fft), int(cfg.n_mels), float(cfg.fmin_hz), float(cfg.fmax_hz))


def mel_matrix(cfg: FeatureConfig) -> np.ndarray:
    """librosa's mel filterbank (Slaney) for ``cfg``, (n_mels, n_fft // 2 + 1) float32, computed
    once per process, or handed over by :func:`remember_mel_matrix` (the inference cache keeps
    it: importing librosa.filters costs 0.4-1 s)."""
    key = _mel_key(cfg)
    m = _MELS.get(key)
    if m is None:
        import librosa

        sr, n_fft, n_mels, fmin, fmax = key
        m = _MELS[key] = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin,
                                             fmax=fmax).astype(np.float32)
    return m


def remember_mel_matrix(cfg: FeatureConfig, matrix: np.ndarray) -> None:
    """Use ``matrix`` as :func:`mel_matrix` of ``cfg`` in this process (it must be what librosa gives)."""
    _MELS[_mel_key(cfg)] = np.asarray(matrix, dtype=np.float32)


@lru_cache(maxsize=8)
def _band_matrix(sr: int, n_fft: int, edges: tuple[float, ...]) -> np.ndarray:
    """(n_bands, n_bins) 0/1 matrix summing FFT bins into the level bands."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    m = np.zeros((len(edges) - 1, freqs.size), np.float32)
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        m[i, (freqs >= lo) & (freqs < hi if i < len(edges) - 2 else freqs <= hi)] = 1.0
    return m


def to_stereo(audio: np.ndarray) -> np.ndarray:
    """(n,) or (n, c) -> (n, 2) float32 (mono duplicated, > 2 channels: first two)."""
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    if x.shape[1] == 1:
        x = np.repeat(x, 2, axis=1)
    return x[:, :2]


def resample(audio: np.ndarray, sr: int, target_sr: int) -> np.ndarray:
    if sr == target_sr:
        return audio.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(audio, sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def loudest_window(audio: np.ndarray, sr: int, window_s: float, hop_s: float = 0.5) -> tuple[int, int]:
    """(start, stop) sample indices of the ``window_s`` stretch with the highest mean power
    (:func:`mixingbuddy.tools.separate.windows.loudest_windows` with one window). Used by
    ``listen``: on a long song the loudest stretch is where every stem plays (chorus), which is
    where a balance judgement matters and where the corpus' activity gate would keep a chunk."""
    from ..tools.separate.windows import loudest_windows

    return loudest_windows(audio, sr, window_s, 1, hop_s)[0]


def compute_features(audio: np.ndarray, sr: int, cfg: FeatureConfig | None = None) -> dict[str, np.ndarray]:
    """Features of one clip: ``frames`` (T, F) float16, ``ref_db`` scalar, and ``wave``
    (16 kHz mid, float16) when ``cfg.keep_wave``.

    Notes
    -----
    From a clip ``(n, 2)`` (or ``(n,)``) at any rate (values of the default ``FeatureConfig``):

    1. resample to 16 kHz with soxr (HQ);
    2. mid = (L + R) / 2, side = (L - R) / 2 (side carries the stereo image: wide guitars and
       reverbs live there, centred vocals and bass do not);
    3. STFT (25 ms Hann window, 10 ms hop, 512-point FFT), power spectrum;
    4. per frame: 64 log-mel bands (Slaney mel filters, 20 Hz-8 kHz) of mid and of side, the
       total level of mid and of side, and the mid level in six bands (20-150, 150-400, 400-1k,
       1k-2.5k, 2.5k-6k, 6k-8k Hz), all in dB;
    5. level normalisation: every dB value is taken relative to the clip's overall level
       (10 log10 of the mean power of mid + side over all frames, i.e. the mean channel power,
       since mid^2 + side^2 = (L^2 + R^2) / 2) and floored at -80 dB. The task is the
       *relative* balance of the stems, so the absolute level (which the training augmentation
       moves by +-3 dB, and which a user's export level moves by far more) is removed;
       within-clip level differences between bands, channels and frames are kept exactly.

    ``frames`` has ``F = 2 * 64 + 2 + 6 = 136`` columns, about 101 frames per second.
    ``ref_db`` (the removed overall level) is for inspection only.
    """
    cfg = cfg or FeatureConfig()
    x = to_stereo(audio)
    if x.shape[0] == 0:
        raise ValueError("empty audio")
    x = resample(x, sr, cfg.sr_hz)
    mid = 0.5 * (x[:, 0] + x[:, 1])
    side = 0.5 * (x[:, 0] - x[:, 1])

    win = int(round(cfg.win_ms * cfg.sr_hz / 1000.0))
    hop = int(round(cfg.hop_ms * cfg.sr_hz / 1000.0))
    p_mid = _power_spectrogram(mid, cfg.n_fft, win, hop)  # (T, bins)
    p_side = _power_spectrogram(side, cfg.n_fft, win, hop)

    mel = mel_matrix(cfg)
    bands = _band_matrix(cfg.sr_hz, cfg.n_fft, tuple(cfg.band_edges_hz))
    # frame power = mean over the bins (Parseval up to a constant that cancels after
    # normalisation)
    frame_mid = p_mid.mean(axis=1)
    frame_side = p_side.mean(axis=1)
    ref_db = 10.0 * np.log10(frame_mid.mean() + frame_side.mean() + _EPS)

    def rel_db(p: np.ndarray) -> np.ndarray:
        return np.maximum(10.0 * np.log10(p + _EPS) - ref_db, cfg.floor_db)

    frames = np.concatenate(
        [
            rel_db(p_mid @ mel.T),
            rel_db(p_side @ mel.T),
            rel_db(frame_mid)[:, None],
            rel_db(frame_side)[:, None],
            rel_db(p_mid @ bands.T / np.maximum(bands.sum(axis=1), 1.0)),
        ],
        axis=1,
    )
    out = {"frames": frames.astype(np.float16), "ref_db": np.float32(ref_db)}
    if cfg.keep_wave:
        out["wave"] = mid.astype(np.float16)
    return out


def _power_spectrogram(x: np.ndarray, n_fft: int, win: int, hop: int) -> np.ndarray:
    """|STFT|^2, centred frames (reflect padding), Hann window of ``win`` samples zero-padded
    to ``n_fft``; (T, n_fft // 2 + 1) float32 with T = 1 + len(x) // hop."""
    import torch

    with torch.no_grad():
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        if t.numel() < n_fft // 2 + 1:  # reflect padding needs a few samples
            t = torch.nn.functional.pad(t, (0, n_fft // 2 + 1 - t.numel()))
        spec = torch.stft(t, n_fft=n_fft, hop_length=hop, win_length=win,
                          window=torch.hann_window(win), center=True, pad_mode="reflect",
                          return_complex=True)
        return (spec.real.square() + spec.imag.square()).T.contiguous().numpy()


# --- disk cache ----------------------------------------------------------------------------

def config_hash(cfg: FeatureConfig) -> str:
    """Short hash of the feature settings; the cache folder name, so a changed setting never
    reads stale features."""
    blob = json.dumps(asdict(cfg), sort_keys=True, default=list).encode()
    return hashlib.sha1(blob).hexdigest()[:10]


def cache_dir(corpus_dir: str | Path, cfg: FeatureConfig) -> Path:
    return Path(corpus_dir) / "features" / config_hash(cfg)


def safe_id(row_id: str) -> str:
    """File name for a row id: letters, digits, ``._-``; anything else gets a hash suffix."""
    clean = re.sub(r"[^A-Za-z0-9._-]", "_", row_id)[:120]
    if clean != row_id:
        clean += "-" + hashlib.sha1(row_id.encode()).hexdigest()[:8]
    return clean


def feature_path(corpus_dir: str | Path, row_id: str, cfg: FeatureConfig) -> Path:
    return cache_dir(corpus_dir, cfg) / f"{safe_id(row_id)}.npz"


def load_clip(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a corpus clip (FLAC/WAV) as float32 (n, 2) at its own rate."""
    import soundfile as sf

    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return to_stereo(x), int(sr)


def _build_one(args: tuple[str, str, dict]) -> str:
    audio_path, out_path, cfg_dict = args
    cfg = FeatureConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg_dict.items()})
    x, sr = load_clip(audio_path)
    feats = compute_features(x, sr, cfg)
    tmp = out_path + f".tmp{os.getpid()}.npz"
    np.savez(tmp, **feats)
    os.replace(tmp, out_path)  # atomic: an interrupted build never leaves a half file
    return out_path


def build_feature_cache(corpus_dir: str | Path, rows: list[dict], cfg: FeatureConfig, *,
                        workers: int = 2, progress: bool = True) -> int:
    """Compute the missing feature files for ``rows`` of the corpus at ``corpus_dir``.
    Returns the number of files written. Parallel over ``workers`` processes (process pool),
    with a progress bar; one ``.npz`` per row under :func:`cache_dir`."""
    out_dir = cache_dir(corpus_dir, cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = []
    for row in rows:
        dst = feature_path(corpus_dir, row["id"], cfg)
        if not dst.exists():
            jobs.append((str(Path(corpus_dir) / row["audio_path"]), str(dst), asdict(cfg)))
    if not jobs:
        return 0
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc=f"features {Path(corpus_dir).name}", unit="clip",
               disable=not progress, file=sys.stderr)
    if workers <= 1 or len(jobs) < 8:
        for job in jobs:
            _build_one(job)
            bar.update(1)
    else:
        import multiprocessing as mp

        # spawn: safe with torch (fork after torch threads started can deadlock)
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                 initializer=_worker_init) as pool:
            for _ in pool.map(_build_one, jobs, chunksize=16):
                bar.update(1)
    bar.close()
    return len(jobs)


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def load_cached(corpus_dir: str | Path, row_id: str, cfg: FeatureConfig) -> dict[str, np.ndarray]:
    with np.load(feature_path(corpus_dir, row_id, cfg)) as z:
        return {k: z[k] for k in z.files}
