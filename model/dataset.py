"""Training data: corpus manifest rows -> model batches.

:class:`CorpusDataset` reads the rows of one split with their cached features and targets;
:class:`Collator` pads items into a batch, with the tokenised chat prompt and response.
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .config import FeatureConfig
from .encoder import ANCHOR_STEMS, LEVEL_STEMS, N_COND, class_index
from .features import build_feature_cache, compute_features, load_cached


def read_manifest(corpus_dir: str | Path) -> list[dict]:
    path = Path(corpus_dir) / "manifest.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"no manifest.jsonl in {corpus_dir}")
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def condition_vector(anchor: str, stems_present: Sequence[str]) -> np.ndarray:
    """(7,) float32: anchor one-hot over bass/drums/vocals, then stems present over
    bass/drums/vocals/other."""
    v = np.zeros(N_COND, np.float32)
    v[ANCHOR_STEMS.index(anchor)] = 1.0
    for s in stems_present:
        if s in LEVEL_STEMS:
            v[len(ANCHOR_STEMS) + LEVEL_STEMS.index(s)] = 1.0
    return v


def _level(levels: dict | None, stem: str, key: str) -> float:
    try:
        v = levels[stem][key]
    except (KeyError, TypeError):
        return math.nan
    return float(v) if v is not None and math.isfinite(float(v)) else math.nan


def row_targets(row: dict) -> dict[str, np.ndarray | int]:
    """Auxiliary targets of a manifest row (NaN where a level is missing)."""
    lv = row.get("true_levels") or {}
    out: dict[str, np.ndarray | int] = {}
    for key in ("vs_rest_db", "vs_mix_db", "vs_anchor_db"):
        out[key] = np.array([_level(lv, s, key) for s in LEVEL_STEMS], np.float32)
    pub = row.get("published") or {}
    out["class_idx"] = class_index(pub.get("category", "no_error"), pub.get("target"))
    return out


class CorpusDataset(torch.utils.data.Dataset):
    """Rows of ``split`` from the corpora in ``corpus_dirs`` with their cached features.

    Reads one or several corpus folders (``manifest.jsonl`` each: e.g. the synthetic corpus and
    the flawed MUSDB18 one), keeps one split, makes sure the features of its rows are cached
    (``features.build_feature_cache``) and returns per row: the cached features, the condition
    (anchor one-hot, stems present), the auxiliary targets (true stem levels vs the rest, vs the
    mix, vs the anchor, with masks for missing values; the published class) and the
    instruction/response texts.
    """

    def __init__(self, corpus_dirs: Sequence[str | Path], split: str, feat: FeatureConfig, *,
                 limit: int | None = None, seed: int = 0, workers: int = 2, preload: bool = False,
                 progress: bool = True, build_cache: bool = True, repeat: Sequence[int] | None = None):
        self.feat = feat
        self.items: list[tuple[Path, dict]] = []
        for d in corpus_dirs:
            rows = [r for r in read_manifest(d) if r.get("split") == split]
            self.items += [(Path(d), r) for r in rows]
        if limit is not None and len(self.items) > limit:
            # a seeded subset, kept in manifest order (so it spreads over songs)
            keep = np.sort(np.random.default_rng(seed).choice(len(self.items), limit, replace=False))
            self.items = [self.items[i] for i in keep]
        self.n_unique = len(self.items)
        if repeat:
            if len(repeat) != len(corpus_dirs):
                raise ValueError(f"repeat needs one count per corpus ({len(corpus_dirs)}), got {list(repeat)}")
            times = {Path(d): int(k) for d, k in zip(corpus_dirs, repeat)}
            self.items = [it for it in self.items for _ in range(times[it[0]])]
        if build_cache:
            for d in dict.fromkeys(p for p, _ in self.items):
                rows = list({r["id"]: r for p, r in self.items if p == d}.values())
                build_feature_cache(d, rows, feat, workers=workers, progress=progress)
        self._memory: dict[tuple[Path, str], dict] | None = None
        if preload:
            self._memory = {}
            for d, r in self.items:
                if (d, r["id"]) not in self._memory:
                    self._memory[(d, r["id"])] = load_cached(d, r["id"], feat)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def rows(self) -> list[dict]:
        return [r for _, r in self.items]

    def __getitem__(self, i: int) -> dict:
        d, row = self.items[i]
        feats = self._memory[(d, row["id"])] if self._memory is not None else load_cached(d, row["id"], self.feat)
        return make_item(feats, row)


def make_item(feats: dict, row: dict) -> dict:
    """One dataset item from computed/cached features and a (manifest-like) row; rows without
    labels (inference) get zero targets."""
    item = {
        "id": row.get("id", ""),
        "frames": feats["frames"],
        "wave": feats.get("wave"),
        "cond": condition_vector(row["anchor"], row.get("stems_present") or LEVEL_STEMS),
        "instruction": row.get("instruction", ""),
        "response": row.get("response"),
    }
    if "published" in row or "true_levels" in row:
        item.update(row_targets(row))
    return item


def item_from_audio(audio: np.ndarray, sr: int, feat: FeatureConfig, anchor: str,
                    stems_present: Sequence[str], instruction: str) -> dict:
    """An inference item straight from audio."""
    return make_item(compute_features(audio, sr, feat),
                     {"anchor": anchor, "stems_present": list(stems_present), "instruction": instruction})


class Collator:
    """Pads items into a batch: ``frames`` (B, T, F) float32, ``n_frames``, ``cond``,
    targets with ``*_mask``, ``class_idx``, ``wave``/``n_wave`` when present, the strings, and,
    with a ``PromptBuilder``, the tokenised prompt + response (``input_ids``, ``labels``...).

    ``crop_min_ratio`` < 1 (training only): each clip is cut to a random window of
    U(ratio, 1) x its length (start uniform; torch's RNG, so a seeded step is reproducible), an
    augmentation that also teaches the encoder shorter clips. Levels change little over a
    window of most of the clip; the labels are kept. The waveform (HF encoder) is not cropped."""

    def __init__(self, prompts=None, crop_min_ratio: float = 1.0):
        self.prompts = prompts
        self.crop_min_ratio = float(crop_min_ratio)

    def _crop(self, x: np.ndarray) -> np.ndarray:
        if x.shape[0] < 4:
            return x
        r = self.crop_min_ratio + (1.0 - self.crop_min_ratio) * float(torch.rand(()))
        n = max(2, int(round(r * x.shape[0])))
        start = int(torch.randint(0, x.shape[0] - n + 1, ()))
        return x[start:start + n]

    def __call__(self, items: list[dict]) -> dict:
        B = len(items)
        if self.crop_min_ratio < 1.0:
            items = [{**it, "frames": self._crop(it["frames"])} for it in items]
        T = max(it["frames"].shape[0] for it in items)
        F = items[0]["frames"].shape[1]
        frames = torch.zeros((B, T, F), dtype=torch.float32)
        n_frames = torch.zeros(B, dtype=torch.long)
        for b, it in enumerate(items):
            x = torch.from_numpy(np.asarray(it["frames"], dtype=np.float32))
            frames[b, : x.shape[0]] = x
            n_frames[b] = x.shape[0]
        batch: dict = {
            "frames": frames,
            "n_frames": n_frames,
            "cond": torch.from_numpy(np.stack([it["cond"] for it in items])),
            "id": [it["id"] for it in items],
            "instruction": [it["instruction"] for it in items],
            "response": [it.get("response") for it in items],
        }
        if items[0].get("wave") is not None:
            n = max(len(it["wave"]) for it in items)
            wave = torch.zeros((B, n), dtype=torch.float32)
            n_wave = torch.zeros(B, dtype=torch.long)
            for b, it in enumerate(items):
                w = torch.from_numpy(np.asarray(it["wave"], dtype=np.float32))
                wave[b, : w.shape[0]] = w
                n_wave[b] = w.shape[0]
            batch["wave"], batch["n_wave"] = wave, n_wave
        if "class_idx" in items[0]:
            for key in ("vs_rest_db", "vs_mix_db", "vs_anchor_db"):
                v = torch.from_numpy(np.stack([it[key] for it in items]))
                batch[key + "_mask"] = torch.isfinite(v)
                batch[key] = torch.nan_to_num(v, nan=0.0)
            batch["class_idx"] = torch.tensor([it["class_idx"] for it in items], dtype=torch.long)
        if self.prompts is not None:
            responses = batch["response"] if all(r is not None for r in batch["response"]) else None
            batch.update(self.prompts.batch(batch["instruction"], responses))
        return batch


def to_device(batch: dict, device) -> dict:
    return {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
