"""Audio files written with ffmpeg (PyAV) for the benchmarks and the tests: AAC in MP4/M4A, or a
MUSDB18-style ``.stem.mp4`` with one stream per array."""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["write_av"]


def write_av(path, signals, sr: int, *, codec: str = "aac", container: str | None = None,
             bit_rate: int = 192_000) -> Path:
    """Write one audio stream per array in ``signals`` (each (n, 1|2) float) with PyAV
    (ffmpeg): e.g. AAC in MP4/M4A, or five streams for a ``.stem.mp4``."""
    import av

    if isinstance(signals, np.ndarray):
        signals = [signals]
    path = Path(path)
    with av.open(str(path), "w", format=container or "mp4") as out:
        streams = []
        for x in signals:
            layout = "stereo" if x.shape[1] == 2 else "mono"
            st = out.add_stream(codec, rate=sr, layout=layout)
            st.bit_rate = bit_rate
            streams.append(st)
        for st, x in zip(streams, signals):
            layout = "stereo" if x.shape[1] == 2 else "mono"
            block = 4096
            for i in range(0, x.shape[0], block):
                chunk = np.ascontiguousarray(x[i : i + block].T, dtype=np.float32)
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
                frame.sample_rate = sr
                frame.pts = i
                for pkt in st.encode(frame):
                    out.mux(pkt)
            for pkt in st.encode(None):
                out.mux(pkt)
    return path
