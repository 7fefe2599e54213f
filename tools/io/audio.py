"""The in-memory audio type every measurement works on.

Ingest (``tools.io.ingest``) decodes any supported file, checks it, and resamples it with soxr
to ``ANALYSIS_SR`` so that every measurement sees one rate. Samples are float32 in
``[-1, 1]`` full scale (0 dBFS = 1.0), shape ``(n_samples, n_channels)`` with 1 or 2 channels.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ANALYSIS_SR = 48_000  # Hz; BS.1770-4 K-weighting is specified at 48 kHz.
# The four stem roles, defined once. ALL_STEMS is the canonical order (the corpus's, the audio
# model's and the benchmark's features are laid out in it); STEM_ROLES is the order a reader
# meets them in reports and the app (the voice first).
ALL_STEMS = ("bass", "drums", "vocals", "other")
STEM_ROLES = ("vocals", "drums", "bass", "other")


@dataclass
class Audio:
    samples: np.ndarray  # float32, (n_samples, n_channels)
    sr: int  # Hz, the analysis rate
    name: str  # display name (base name of the file, sanitised)
    source_sr: int | None = None  # Hz, the file's own rate
    source_channels: int | None = None
    source_format: str | None = None
    path: str | None = None
    warnings: list[str] = field(default_factory=list)
    # dynamics.ClippingResult measured on the file's own samples at its own rate (set by ingest
    # when it resamples or sees full-scale runs); None when the analysis samples are the source.
    source_clipping: object | None = None
    # a long file's samples live in a .spool.Spool (``samples`` is then a read-only memory map of
    # it); measurements read it a block at a time through :meth:`source`
    spool: object | None = None

    def source(self):
        """What block-wise readers take: the :class:`~.spool.Spool` of a long file, else ``samples``."""
        return self.spool if self.spool is not None else self.samples

    def read_stereo(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start`` to ``stop`` as (m, 2) float32 (mono duplicated), read from the spool
        of a long file without touching the rest."""
        x = self.spool.read(start, stop) if self.spool is not None else self.samples[start:stop]
        return x if x.shape[1] == 2 else np.repeat(x, 2, axis=1)

    @property
    def n_samples(self) -> int:
        return int(self.samples.shape[0])

    @property
    def n_channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_samples / float(self.sr)

    def mono(self) -> np.ndarray:
        """Mean of the channels, float32 (n_samples,)."""
        return self.samples.mean(axis=1) if self.n_channels > 1 else self.samples[:, 0]

    def stereo(self) -> np.ndarray:
        """(n_samples, 2); a mono file is duplicated to both channels."""
        return self.samples if self.n_channels == 2 else np.repeat(self.samples, 2, axis=1)


@dataclass
class StemSet:
    """Stems keyed by role (``vocals``, ``drums``, ``bass``, ``other``; several "other"
    stems are summed into one). All stems share ``sr`` and length after alignment."""

    stems: dict[str, Audio]
    sr: int
    warnings: list[str] = field(default_factory=list)
    sources: dict[str, list[str]] = field(default_factory=dict)  # role -> file names summed

    @property
    def roles(self) -> list[str]:
        return list(self.stems)

    def sum(self) -> np.ndarray:
        """Sum of all stems, (n_samples, 2) float32."""
        out = None
        for a in self.stems.values():
            out = a.stereo().astype(np.float32) if out is None else out + a.stereo()
        return out

    def sum_without(self, role: str) -> np.ndarray:
        """Sum of all stems but ``role``, (n_samples, 2); zeros if it is the only stem."""
        rest = [a.stereo() for r, a in self.stems.items() if r != role]
        if not rest:
            n = next(iter(self.stems.values())).n_samples
            return np.zeros((n, 2), np.float32)
        return np.sum(rest, axis=0, dtype=np.float32)
