"""Stems separated from each benchmark clip's mix, cached beside the corpus.

``sep`` and ``agent-sep`` read a row's mix as a user's bounced mix: ingested like the agent
ingests it (48 kHz), separated whole by :func:`mixingbuddy.tools.separate.separate_mix` (a
clip is shorter than a window), and kept as float32 ``.npy`` under
``<corpus>/separated/<row id>/`` so reruns and the other system reuse them.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["separated_clip"]


def separated_clip(row: dict, corpus_dir):
    """The :class:`~mixingbuddy.tools.separate.Separation` of a row's mix (cached)."""
    from ..tools.io.ingest import load_audio
    from ..tools.separate import Separation, separate_mix

    folder = Path(corpus_dir) / "separated" / str(row["id"]).replace("/", "_")
    sep = Separation.load(folder)
    if sep is None:
        mix = load_audio(Path(corpus_dir) / row["audio_path"])
        sep = separate_mix(mix, n_windows=None, overlap=0.0)
        sep.save(folder)
    return sep
