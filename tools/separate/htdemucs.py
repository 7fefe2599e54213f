"""HT-Demucs v4 on onnxruntime: one segment through the graph, and a signal through segments.

The graph's batch size is fixed at 1, so segments run one after another (:class:`HTDemucs`).
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SeparatorUnavailableError
from ..heap import trim_heap
from .spec import channels_as_complex, complex_as_channels, ispec, spec
from .weights import check_weights, quantized_weights

__all__ = ["MODEL_SR", "SEGMENT", "SOURCES", "HTDemucs", "SeparatorConfig", "load_separator", "segment_offsets"]

SOURCES = ("drums", "bass", "other", "vocals")  # the graph's output order
MODEL_SR = 44_100  # Hz
SEGMENT = int(7.8 * MODEL_SR)  # 343,980 samples: the training segment, fixed in the graph


@dataclass(frozen=True)
class SeparatorConfig:
    """How the separator runs.

    threads: onnxruntime intra-op threads (default: the machine's cores, at most 4).
    overlap: fraction of a segment shared by neighbours when a signal spans several (0 to 0.5).
    weights: the ONNX file (default :func:`.weights.weights_path`).
    precision: ``fp32`` (the published weights) or ``int8`` (dynamic quantisation of them,
        :func:`.weights.quantized_weights`; slower on x86 CPUs, see ``evals/bench_separate.py``).
    lean_memory: onnxruntime's buffer reuse and memory patterns off, its arena shrunk after
        every segment, and the process's free heap given back before each
        (:func:`..heap.trim_heap`). Measured on one segment (``evals/bench_separate.py``): a
        peak of about 1.05 GB instead of 5 GB, and faster (the planner's reuse of buffers keeps
        large ones alive far past their last use in this graph).
    """

    threads: int = 0
    overlap: float = 0.25
    weights: str | None = None
    precision: str = "fp32"
    lean_memory: bool = True

    def n_threads(self) -> int:
        return self.threads if self.threads > 0 else max(1, min(4, os.cpu_count() or 1))


def segment_offsets(n: int, overlap: float) -> list[int]:
    """Start samples of the model segments covering ``n`` samples at 44.1 kHz with ``overlap``
    (a last segment lying inside the one before it adds nothing and is dropped)."""
    stride = max(1, int((1.0 - overlap) * SEGMENT))
    offsets = list(range(0, max(1, n), stride))
    while len(offsets) > 1 and offsets[-2] + SEGMENT >= n:
        offsets.pop()
    return offsets


def _triangle(n: int) -> np.ndarray:
    """``demucs.apply``'s cross-fade weight: a triangle peaking at 1 in the middle."""
    w = np.concatenate([np.arange(1, n // 2 + 2), np.arange(n - n // 2 - 1, 0, -1)])[:n].astype(np.float64)
    return w / w.max()


class HTDemucs:
    """One onnxruntime session of the HT-Demucs graph."""

    def __init__(self, config: SeparatorConfig = SeparatorConfig()):
        path = check_weights(config.weights)
        if config.precision == "int8":
            path = quantized_weights(path)
        elif config.precision != "fp32":
            raise ValueError(f"precision must be fp32 or int8, got {config.precision!r}")
        try:
            import onnxruntime as ort
        except ImportError:
            raise SeparatorUnavailableError(
                "separation is off: onnxruntime is not installed (pip install onnxruntime)") from None
        so = ort.SessionOptions()
        so.intra_op_num_threads = config.n_threads()
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        self._run_options = ort.RunOptions()
        if config.lean_memory:
            so.enable_mem_pattern = False
            so.enable_mem_reuse = False
            self._run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        try:
            self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise SeparatorUnavailableError(f"separation is off: {Path(path).name} does not load ({e})"[:300]) from None
        self.config = config
        self.path = Path(path)
        self._names = [i.name for i in self.session.get_inputs()]
        self._lock = threading.Lock()  # one run at a time: the session already uses every thread
        if config.lean_memory:
            trim_heap()  # the parsed protobuf is freed once the session holds its tensors: ~0.2 GB

    def run_segment(self, x: np.ndarray) -> np.ndarray:
        """The four sources of one segment.

        The ONNX graph takes a 7.8 s stereo segment at 44.1 kHz and its spectrogram
        (:func:`.spec.spec`, complex as channels) and returns the four sources twice: the
        frequency branch as a complex spectrogram and the time branch as samples. The source is
        their sum (``demucs/htdemucs.py``, ``HTDemucs.forward``).

        Parameters
        ----------
        x : np.ndarray
            (2, SEGMENT) float32 at 44.1 kHz.

        Returns
        -------
        np.ndarray
            (4, 2, SEGMENT) float32, in :data:`SOURCES` order.
        """
        x = np.ascontiguousarray(x, dtype=np.float32)[None]
        z = complex_as_channels(spec(x))
        with self._lock:
            if self.config.lean_memory:
                trim_heap()  # what earlier steps freed goes back before ~2 GB of activations
            out_spec, out_time = self.session.run(None, {self._names[0]: x, self._names[1]: z}, self._run_options)
        freq = ispec(channels_as_complex(out_spec), SEGMENT)  # (1, 4, 2, SEGMENT)
        return (freq[0] + out_time[0]).astype(np.float32)

    def separate(self, x: np.ndarray, overlap: float | None = None,
                 progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Sources of a stereo signal of any length.

        The signal is cut into segments that overlap by ``overlap`` of a segment and
        cross-faded with triangular weights, as ``demucs.apply.apply_model`` does; a segment
        shorter than the model's is padded with the audio around it (zeros past the ends).

        Parameters
        ----------
        x : np.ndarray
            (2, n) float at 44.1 kHz.
        overlap : float, optional
            Fraction of a segment shared by neighbouring segments (default: the config's).
        progress : callable, optional
            ``progress(done, total)`` after each segment.

        Returns
        -------
        np.ndarray
            (4, 2, n) float32, in :data:`SOURCES` order.
        """
        x = np.asarray(x, dtype=np.float32)
        n = x.shape[-1]
        overlap = self.config.overlap if overlap is None else float(overlap)
        if not 0.0 <= overlap <= 0.5:
            raise ValueError(f"overlap must be within 0..0.5, got {overlap}")
        offsets = segment_offsets(n, overlap)
        weight = _triangle(SEGMENT)
        out = np.zeros((4, 2, n), np.float64)
        wsum = np.zeros(n, np.float64)
        for k, off in enumerate(offsets):
            length = min(SEGMENT, n - off)
            start = off - (SEGMENT - length) // 2  # centre a short chunk in the audio around it
            seg = np.zeros((2, SEGMENT), np.float32)
            lo, hi = max(0, start), min(n, start + SEGMENT)
            seg[:, lo - start:hi - start] = x[:, lo:hi]
            y = self.run_segment(seg)
            a = off - start
            w = weight[:length] if len(offsets) > 1 else np.ones(length)
            out[:, :, off:off + length] += y[:, :, a:a + length] * w
            wsum[off:off + length] += w
            if progress:
                progress(k + 1, len(offsets))
        return (out / np.maximum(wsum, 1e-12)).astype(np.float32)


_SESSIONS: dict[tuple, HTDemucs] = {}
_SESSIONS_LOCK = threading.Lock()


def load_separator(config: SeparatorConfig = SeparatorConfig()) -> HTDemucs:
    """A cached :class:`HTDemucs` per config (the session takes about a second and 0.7 GB)."""
    key = (config.n_threads(), config.overlap, config.weights, config.precision, config.lean_memory)
    with _SESSIONS_LOCK:
        if key not in _SESSIONS:
            _SESSIONS[key] = HTDemucs(config)
        return _SESSIONS[key]
