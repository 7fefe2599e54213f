"""Flaw injection: break one stem's level on purpose and label the result.

A re-implementation of the MixingBuddy-gain study's published data recipe: songs are cut into
chunks, one of bass, drums or vocals is moved by a gain from one of five categories, the stems
are mixed down (and augmented on the training split), and each sample gets the study's label
and a label referenced to the professional balance table.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ...tools.io.audio import ALL_STEMS
from ...tools.measure.clip_levels import measure_clip_levels, stereo
from ...tools.measure.stem_balance import (
    ACTIVE_FRAME_DBFS,
    ACTIVE_SEGMENT_RATIO,
    FRAME_S,
    load_balance_reference,
)
from .templates import (
    CATEGORIES,
    CORRECTION_RANGES_DB,
    CORRECTIVE_DIRECTION,
    GAIN_RANGES_DB,
    STEMS,
)

PRESENT_RATIO = 0.1  # a stem is named as present when >= 10% of its frames are active


@dataclass(frozen=True)
class FlawConfig:
    """Settings of the flaw-injection protocol (defaults: the study's values)."""

    chunk_s: float = 10.0
    min_song_s: float = 1.0  # shorter songs are not used
    peak_dbfs: float = -1.0  # the flawed mix is scaled down to peak at most here
    aug_gain_db: float = 3.0  # +- overall gain
    aug_dc: float = 0.005  # +- DC offset
    aug_noise_dbfs: tuple[float, float] = (-70.0, -50.0)  # white-noise RMS range
    gain_ranges_db: dict = field(default_factory=lambda: dict(GAIN_RANGES_DB))


# --------------------------------------------------------------------------- measurement

def frame_rms_dbfs(x: np.ndarray, sr: int, frame_s: float = FRAME_S) -> np.ndarray:
    """RMS (dBFS) of consecutive ``frame_s`` frames of the mean of the channels; a partial
    last frame is dropped (one frame if the signal is shorter than a frame)."""
    x = np.asarray(x, dtype=np.float64)
    sig = x.mean(axis=1) if x.ndim == 2 else x
    frame = max(1, round(sr * frame_s))
    n_frames = max(1, len(sig) // frame)
    seg = sig[: n_frames * frame] if len(sig) >= frame else sig
    power = (seg.reshape(n_frames, -1) ** 2).mean(axis=1)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(np.maximum(power, 1e-30))


def active_ratio(x: np.ndarray, sr: int) -> float:
    """Share of 50 ms frames whose RMS (mean of the channels) is above -50 dBFS.

    The gate of the professional reference table (``tools/data/balance_reference.json``, built
    from MUSDB18-HQ, Rafii et al. 2019).
    """
    return float(np.mean(frame_rms_dbfs(x, sr) > ACTIVE_FRAME_DBFS))


def is_active(x: np.ndarray, sr: int) -> bool:
    """A stem is active in a chunk when at least 50% of its 50 ms frames pass the gate of
    :func:`active_ratio`. Target and anchor must both be active."""
    return active_ratio(x, sr) >= ACTIVE_SEGMENT_RATIO


# the levels that label a clip are the toolbox's whole-clip levels (tools.measure.clip_levels), so the
# agent measures a user's stems on the same scale. ``rms_dbfs`` is the RMS of the chunk, both
# channels pooled, the quantity of the reference table (one 10 s segment = one chunk);
# ``vs_rest_db`` is the stem against the actual audio sum of the other stems, ``vs_mix_db``
# against the mix (all stems summed), ``vs_anchor_db`` against the anchor stem.
measure_levels = measure_clip_levels


# --------------------------------------------------------------------------- labels

def norm_labels(levels: dict[str, dict], stems: Sequence[str] = STEMS, reference: dict | None = None) -> dict:
    """Norm-referenced label from measured levels (as returned by :func:`measure_levels`).

    For each stem in ``stems`` with a defined ``vs_rest_db``: below the reference p10 ->
    ``too_quiet`` (distance p10 - level), above p90 -> ``too_loud`` (level - p90), else
    ``within_range`` (distance 0). The label is the stem with the largest distance (ties: the
    first in ``stems`` order), or ``"balanced"`` when every stem is inside its range.
    ``reference``: a population dict of the balance table (default ``all``).

    The reference measures the rest as the power sum of the other stems; ``levels`` measure it
    as the actual audio sum (the two agree for uncorrelated stems).
    """
    ref = reference if reference is not None else load_balance_reference("all")
    per_stem: dict[str, dict] = {}
    for s in stems:
        lvl = (levels.get(s) or {}).get("vs_rest_db")
        if lvl is None:
            continue
        p10 = float(ref["vs_rest"][s]["p10_db"])
        p90 = float(ref["vs_rest"][s]["p90_db"])
        if lvl < p10:
            status, dist = "too_quiet", p10 - lvl
        elif lvl > p90:
            status, dist = "too_loud", lvl - p90
        else:
            status, dist = "within_range", 0.0
        per_stem[s] = {"level_vs_rest_db": round(float(lvl), 3), "p10_db": p10, "p90_db": p90,
                       "status": status, "distance_db": round(float(dist), 3)}
    worst = None
    for s, d in per_stem.items():
        if d["distance_db"] > 0 and (worst is None or d["distance_db"] > per_stem[worst]["distance_db"]):
            worst = s
    if worst is None:
        return {"label": "balanced", "direction": None, "distance_db": 0.0, "per_stem": per_stem}
    return {"label": worst, "direction": per_stem[worst]["status"],
            "distance_db": per_stem[worst]["distance_db"], "per_stem": per_stem}


def published_labels(category: str, target: str | None, gain_db: float) -> dict:
    """The study's (*published*) label: category, target (None for no_error), corrective
    direction, applied gain and the corrective range (dB) of :mod:`.templates` that the
    response names."""
    if category == "no_error":
        return {"category": category, "target": None, "direction": None, "gain_db": 0.0,
                "correction_range_db": None}
    lo, hi = CORRECTION_RANGES_DB[category]
    return {"category": category, "target": target, "direction": CORRECTIVE_DIRECTION[category],
            "gain_db": round(float(gain_db), 4), "correction_range_db": [lo, hi]}


# --------------------------------------------------------------------------- planning

def chunk_bounds(n_samples: int, sr: int, chunk_s: float, min_song_s: float = 1.0) -> list[tuple[int, int]]:
    """(start, stop) sample indices of the chunks of a song: hop = chunk length, the tail
    shorter than a chunk dropped; a song shorter than one chunk (but at least ``min_song_s``)
    is one chunk, used whole (so the 6.8 s MUSDB18 preview excerpts are used whole at the
    default 10 s chunks)."""
    size = round(chunk_s * sr)
    if n_samples < size:
        return [(0, n_samples)] if n_samples >= min_song_s * sr else []
    return [(i, i + size) for i in range(0, n_samples - size + 1, size)]


def category_sequence(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` categories: consecutive blocks of 5 are shuffled permutations of CATEGORIES, so
    every block holds each category once (exact 20% per full block; a partial last block
    differs by at most one per category)."""
    out: list[str] = []
    while len(out) < n:
        out.extend(CATEGORIES[i] for i in rng.permutation(len(CATEGORIES)))
    return out[:n]


def draw_gain_db(category: str, rng: np.random.Generator, ranges: dict | None = None) -> float:
    """The gain (dB) for ``category``, uniform inside its range in ``ranges`` (default
    ``GAIN_RANGES_DB``, the study's: very quiet -12..-6, quiet -6..-3, no error 0, loud
    +3..+6, very loud +6..+12)."""
    lo, hi = (ranges or GAIN_RANGES_DB)[category]
    return 0.0 if lo == hi else float(rng.uniform(lo, hi))


def target_order(active: Sequence[str], rng: np.random.Generator) -> list[str]:
    """The active stems of bass, drums, vocals in a shuffled order (targets cycle over it)."""
    pool = [s for s in STEMS if s in active]
    return [pool[i] for i in rng.permutation(len(pool))]


def choose_pair(order: Sequence[str], k: int, rng: np.random.Generator) -> tuple[str, str]:
    """Target and anchor for the ``k``-th sample of a chunk: the target cycles over ``order``
    (see :func:`target_order`; at least two stems), the anchor is drawn from the others.

    The anchor is named in the instruction and assumed correct; "other" is never target nor
    anchor.
    """
    order = [s for s in order if s in STEMS]
    if len(order) < 2:
        raise ValueError("need at least two active stems among bass, drums, vocals")
    target = order[k % len(order)]
    others = [s for s in STEMS if s in order and s != target]
    anchor = others[int(rng.integers(len(others)))]
    return target, anchor


# --------------------------------------------------------------------------- audio

def apply_flaw(stems: dict[str, np.ndarray], target: str | None, gain_db: float,
               peak_dbfs: float = -1.0) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray], float]:
    """Apply ``gain_db`` to ``target`` and mix down.

    Returns ``(mix, flawed_stems, original_stems, common_gain_db)``: the mix (float32, (n, 2))
    scaled by one common gain so that its peak is at most ``peak_dbfs`` (never boosted), the
    flawed stems and the unflawed stems, both at that common gain (float64)."""
    orig = {s: stereo(x).astype(np.float64) for s, x in stems.items()}
    g = 10.0 ** (gain_db / 20.0)
    flawed = {s: (x * g if s == target else x) for s, x in orig.items()}
    mix = np.sum(list(flawed.values()), axis=0)
    peak = float(np.max(np.abs(mix))) if mix.size else 0.0
    limit = 10.0 ** (peak_dbfs / 20.0)
    common = 1.0 if peak <= limit or peak == 0.0 else limit / peak
    if common != 1.0:
        mix = mix * common
        flawed = {s: x * common for s, x in flawed.items()}
        orig = {s: x * common for s, x in orig.items()}
    common_db = 0.0 if common == 1.0 else 20.0 * math.log10(common)
    return mix.astype(np.float32), flawed, orig, common_db


def augment_mix(mix: np.ndarray, rng: np.random.Generator, cfg: FlawConfig = FlawConfig()) -> tuple[np.ndarray, dict]:
    """Training augmentation of the study: overall gain (uniform +-``aug_gain_db``), DC offset
    (uniform +-``aug_dc``, same on both channels), white Gaussian noise with an RMS uniform in
    ``aug_noise_dbfs``; then clipped to [-1, 1]. Returns the audio and the drawn values."""
    gain_db = float(rng.uniform(-cfg.aug_gain_db, cfg.aug_gain_db))
    dc = float(rng.uniform(-cfg.aug_dc, cfg.aug_dc))
    noise_dbfs = float(rng.uniform(*cfg.aug_noise_dbfs))
    noise = rng.standard_normal(mix.shape) * (10.0 ** (noise_dbfs / 20.0))
    y = mix.astype(np.float64) * (10.0 ** (gain_db / 20.0)) + dc + noise
    clipped = float(np.mean(np.abs(y) > 1.0))
    y = np.clip(y, -1.0, 1.0).astype(np.float32)
    return y, {"gain_db": round(gain_db, 4), "dc_offset": round(dc, 6), "noise_dbfs": round(noise_dbfs, 3),
               "clipped_frac": round(clipped, 6)}


@dataclass
class FlawedSample:
    """One flawed chunk: the mix to write and its labels (manifest fields)."""

    mix: np.ndarray  # float32 (n, 2), augmented when ``augment`` is set
    category: str
    target: str | None
    anchor: str
    gain_db: float
    common_gain_db: float
    stems_present: list[str]
    published: dict
    norm: dict
    true_levels: dict  # on the final (flawed, peak-normalised, not augmented) stems
    original_levels: dict  # without the flaw, same common gain: the target's vs_anchor_db moves by the gain
    augment: dict | None
    stems: dict = field(default_factory=dict)  # flawed stems at the mix's common gain, (n, 2)


def make_sample(chunk: dict[str, np.ndarray], sr: int, category: str, target: str, anchor: str,
                rng: np.random.Generator, *, augment: bool, cfg: FlawConfig = FlawConfig(),
                active: Sequence[str] | None = None, present: Sequence[str] | None = None) -> FlawedSample:
    """Flaw one chunk. ``target`` is the stem that gets the gain (its name is kept in the
    published label only when the category is not no_error); ``rng`` draws the gain and the
    augmentation. ``active``: stems that pass the gate (default: measured here), used for the
    norm label; ``present``: stems named in the instruction (default: measured here)."""
    if target not in STEMS or anchor not in STEMS or target == anchor:
        raise ValueError(f"target and anchor must be two different stems of {STEMS}")
    if active is None:
        active = [s for s in STEMS if s in chunk and is_active(chunk[s], sr)]
    if present is None:
        present = [s for s in ALL_STEMS if s in chunk and active_ratio(chunk[s], sr) >= PRESENT_RATIO]
    gain_db = draw_gain_db(category, rng, cfg.gain_ranges_db)
    applied_to = target if category != "no_error" else None
    mix, flawed, orig, common_db = apply_flaw(chunk, applied_to, gain_db, cfg.peak_dbfs)
    true_levels = measure_levels(flawed, anchor)
    original_levels = measure_levels(orig, anchor)
    norm = norm_labels(true_levels, stems=[s for s in STEMS if s in active])
    aug = None
    if augment:
        mix, aug = augment_mix(mix, rng, cfg)
    return FlawedSample(mix=mix, category=category, target=applied_to, anchor=anchor, gain_db=gain_db,
                        common_gain_db=common_db, stems_present=list(present),
                        published=published_labels(category, target, gain_db), norm=norm,
                        true_levels=true_levels, original_levels=original_levels, augment=aug,
                        stems={k: v.astype(np.float32) for k, v in flawed.items()})
