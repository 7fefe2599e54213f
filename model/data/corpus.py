"""Corpus builder: flawed mixes (FLAC) plus a JSONL manifest with both label sets.

``mixingbuddy data build --source synth|musdb|folder [PATH] --n N --out DIR --seed S``

Follows the MixingBuddy-gain study's data recipe (:mod:`.flaws` holds the protocol). Songs are
assigned to splits by song, the corpus is filled up to a quota per split and category, and the
result is the same for a seed whatever the number of workers (:func:`build_corpus`).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing as mp
import os
import re
import shutil
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ...tools.errors import InvalidArgumentError, MixingBuddyError
from . import flaws as fl
from .sources import SongRef, derive_seed, list_songs, load_song, synth_refs, synth_song_id
from .templates import CATEGORIES, STEMS, format_instruction, format_response, pick

SPLITS = ("train", "val", "test")
MANIFEST = "manifest.jsonl"
CORPUS_JSON = "corpus.json"
PARTS = "parts"
SETTINGS_FILE = "_settings.json"
DEFAULT_PER_CHUNK = {"synth": 1, "musdb": 5, "folder": 5}
SYNTH_CHUNKS_PER_SONG = 3  # default synthetic song length = 3 chunks


@dataclass(frozen=True)
class CorpusConfig:
    """Everything that decides a corpus's content (``n`` only decides how much of it)."""

    source: str
    path: str | None
    seed: int
    chunk_s: float = 10.0
    per_chunk: int = 1
    sr: int = 44_100
    splits: tuple[float, float, float] = (0.8, 0.1, 0.1)
    augment: bool = True
    song_s: float | None = None  # synth song length (s)
    soundfont: str | None = None
    flaw: fl.FlawConfig = field(default_factory=fl.FlawConfig)
    # splits whose flawed stems are written beside the mix (for with-stems evaluations); it
    # does not change any label, so it is not part of the settings a resume must match
    keep_stems: tuple[str, ...] = ()

    def settings(self) -> dict:
        d = asdict(self)
        d.pop("keep_stems", None)
        d["splits"] = list(self.splits)
        d["flaw"]["aug_noise_dbfs"] = list(self.flaw.aug_noise_dbfs)
        d["flaw"]["gain_ranges_db"] = {k: list(v) for k, v in self.flaw.gain_ranges_db.items()}
        return d


# --------------------------------------------------------------------------- names and splits

def song_key(song_id: str) -> str:
    """File-name-safe, unique key for a song id: the id reduced to ``[A-Za-z0-9._-]`` (at most
    48 characters) plus 8 hex digits of its SHA-1."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", song_id).strip("._-")[:48] or "song"
    return f"{base}-{hashlib.sha1(song_id.encode()).hexdigest()[:8]}"


def _unit_hash(*parts) -> float:
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "big") / 2.0 ** 64


def split_of(seed: int, song_id: str, splits=(0.8, 0.1, 0.1)) -> str:
    """The split of a song: a hash of (seed, song id), uniform in [0, 1), against the
    cumulative split fractions, so no song is in two splits."""
    u = _unit_hash("split", seed, song_id)
    total = float(sum(splits))
    acc = 0.0
    for name, frac in zip(SPLITS, splits):
        acc += frac / total
        if u < acc:
            return name
    return [s for s, f in zip(SPLITS, splits) if f > 0][-1]


def quotas(n: int, splits=(0.8, 0.1, 0.1)) -> dict[str, dict[str, int]]:
    """Samples wanted per (split, category): split sizes by largest remainder of ``n`` times
    the fractions, each split divided equally among the five categories; the splits' remainders
    go to the categories in one round-robin, so the corpus totals per category differ by at
    most one (and are equal when ``n`` is a multiple of five)."""
    total = float(sum(splits))
    raw = [n * f / total for f in splits]
    size = [math.floor(x) for x in raw]
    for i in sorted(range(3), key=lambda i: (-(raw[i] - size[i]), i))[: n - sum(size)]:
        size[i] += 1
    out = {}
    k = len(CATEGORIES)
    start = 0
    for name, m in zip(SPLITS, size):
        base, rem = divmod(m, k)
        extra = {(start + j) % k for j in range(rem)}
        out[name] = {c: base + (1 if ci in extra else 0) for ci, c in enumerate(CATEGORIES)}
        start = (start + rem) % k
    return out


# --------------------------------------------------------------------------- one song

def _write_flac(path: Path, mix: np.ndarray, sr: int) -> None:
    import soundfile as sf

    q = np.clip(np.round(mix.astype(np.float64) * 32767.0), -32768, 32767).astype(np.int16)
    tmp = path.with_name(path.name + ".tmp")
    sf.write(str(tmp), q, sr, format="FLAC", subtype="PCM_16")
    os.replace(tmp, path)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def song_samples(song, split: str, cfg: CorpusConfig, out_dir: Path | None) -> list[dict]:
    """All manifest rows of one loaded song (:class:`.sources.SongStems`); writes their audio
    under ``out_dir`` (nothing written when ``out_dir`` is None).

    The song is cut into chunks (:func:`.flaws.chunk_bounds`); chunks with fewer than two active
    stems among bass, drums and vocals are skipped, and every kept chunk yields
    ``cfg.per_chunk`` samples (default 1 for synth, 5 for musdb/folder, so that a real chunk
    appears once per category). Within a song the categories follow consecutive shuffled blocks
    of the five categories; the target cycles over the chunk's active stems. Every random draw
    comes from generators seeded by (seed, song id, chunk, sample), never from the order in
    which workers finish.
    """
    key = song_key(song.song_id)
    sr = song.sr
    n = next(iter(song.stems.values())).shape[0]
    bounds = fl.chunk_bounds(n, sr, cfg.chunk_s, cfg.flaw.min_song_s)
    eligible = []
    for c, (a, b) in enumerate(bounds):
        chunk = {r: x[a:b] for r, x in song.stems.items()}
        ratios = {r: fl.active_ratio(x, sr) for r, x in chunk.items()}
        active = [s for s in STEMS if ratios.get(s, 0.0) >= fl.ACTIVE_SEGMENT_RATIO]
        if len(active) < 2:
            continue
        present = [s for s in fl.ALL_STEMS if ratios.get(s, 0.0) >= fl.PRESENT_RATIO]
        eligible.append((c, a, b, chunk, active, present))
    sid = derive_seed("song", cfg.seed, song.song_id)
    cats = fl.category_sequence(len(eligible) * cfg.per_chunk, np.random.default_rng([cfg.seed, sid, 1]))
    augment = cfg.augment and split == "train"
    rows = []
    for e, (c, a, b, chunk, active, present) in enumerate(eligible):
        order = fl.target_order(active, np.random.default_rng([cfg.seed, sid, 2, c]))
        for k in range(cfg.per_chunk):
            rng = np.random.default_rng([cfg.seed, sid, 3, c, k])
            category = cats[e * cfg.per_chunk + k]
            target, anchor = fl.choose_pair(order, k, rng)
            i_ins, j_res = pick(rng)
            s = fl.make_sample(chunk, sr, category, target, anchor, rng, augment=augment, cfg=cfg.flaw,
                               active=active, present=present)
            sample_id = f"{key}-c{c:03d}-k{k}"
            rel = f"audio/{split}/{sample_id}.flac"
            stem_paths = None
            if split in cfg.keep_stems and s.augment is None:
                stem_paths = {st: f"stems/{split}/{sample_id}/{st}.flac" for st in sorted(s.stems)}
            if out_dir is not None:
                _write_flac(out_dir / rel, s.mix, sr)
                for st, sp in (stem_paths or {}).items():
                    (out_dir / sp).parent.mkdir(parents=True, exist_ok=True)
                    _write_flac(out_dir / sp, s.stems[st], sr)
            row = {
                "id": sample_id,
                "split": split,
                "song_id": song.song_id,
                "source": song.source,
                "audio_path": rel,
                "sr": int(sr),
                "duration_s": round((b - a) / sr, 4),
                "start_s": round(a / sr, 4),
                "stems_present": s.stems_present,
                "anchor": anchor,
                "instruction": format_instruction(i_ins, s.stems_present, anchor),
                "response": format_response(category, j_res, s.target),
                "published": s.published,
                "norm": s.norm,
                "true_levels": s.true_levels,
                "original_levels": s.original_levels,
                "augment": s.augment,
                "style": song.style if song.source == "synth" else None,
                "common_gain_db": round(s.common_gain_db, 4),
            }
            if stem_paths:
                row["stem_paths"] = stem_paths
            rows.append(row)
    return rows


def _part_path(out_dir: Path, ref: SongRef) -> Path:
    return out_dir / PARTS / f"{song_key(ref.song_id)}.jsonl"


def _read_part(out_dir: Path, ref: SongRef, keep_stems: Sequence[str] = ()) -> list[dict] | None:
    """Rows of a finished song, or None when it must be (re)done (no part, audio missing, or
    stems wanted for its split and not written)."""
    p = _part_path(out_dir, ref)
    if not p.is_file():
        return None
    rows = [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    if any(not (out_dir / r["audio_path"]).is_file() for r in rows):
        return None
    for r in rows:
        if r["split"] in keep_stems and r.get("augment") is None:
            paths = r.get("stem_paths")
            if not paths or any(not (out_dir / sp).is_file() for sp in paths.values()):
                return None
    return rows


def _process_song(job) -> tuple[int, list[dict] | None, str | None]:
    """Worker: load/render one song, write its audio and its part file."""
    idx, ref, split, cfg, out_dir = job
    out_dir = Path(out_dir)
    try:
        song = load_song(ref, cfg.sr)
        rows = song_samples(song, split, cfg, out_dir)
    except MixingBuddyError as e:
        return idx, None, f"{e.code}: {e}"
    except Exception as e:
        if os.environ.get("MIXINGBUDDY_DEBUG"):
            raise
        return idx, None, f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"
    _write_atomic(_part_path(out_dir, ref), "".join(json.dumps(r) + "\n" for r in rows))
    return idx, rows, None


def _worker_init() -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


# --------------------------------------------------------------------------- the builder

def _check_args(source, path, n, chunk_s, per_chunk, sr, splits, workers):
    if source not in ("synth", "musdb", "folder"):
        raise InvalidArgumentError(f"--source must be synth, musdb or folder, got {source!r}")
    if source != "synth" and (path is None or not Path(path).exists()):
        raise InvalidArgumentError(f"--source {source} needs an existing PATH, got {path!r}")
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise InvalidArgumentError(f"--n must be a positive integer, got {n!r}")
    if not (chunk_s > 0.5):
        raise InvalidArgumentError(f"--chunk-s must be above 0.5 s, got {chunk_s!r}")
    if per_chunk is not None and (int(per_chunk) < 1 or int(per_chunk) > 20):
        raise InvalidArgumentError(f"--per-chunk must be in 1..20, got {per_chunk!r}")
    if not 8000 <= int(sr) <= 192_000:
        raise InvalidArgumentError(f"--sr must be in 8000..192000 Hz, got {sr!r}")
    if len(splits) != 3 or any(f < 0 for f in splits) or sum(splits) <= 0:
        raise InvalidArgumentError(f"--splits needs three non-negative fractions (train,val,test), got {splits!r}")
    if int(workers) < 1:
        raise InvalidArgumentError(f"--workers must be at least 1, got {workers!r}")


def build_corpus(source: str, path: str | os.PathLike | None, n: int, out_dir: str | os.PathLike, seed: int, *,
                 chunk_s: float = 10.0, per_chunk: int | None = None, sr: int = 44_100,
                 splits=(0.8, 0.1, 0.1), workers: int = 2, resume: bool = True, progress: bool = True,
                 augment: bool = True, song_s: float | None = None, soundfont: str | None = None,
                 keep_stems: Sequence[str] = ()) -> dict:
    """Build a flawed-mix corpus in ``out_dir`` and return the ``corpus.json`` dict.

    ``n``: samples wanted (synth renders songs until the quotas are met; musdb/folder stop
    when their songs run out). ``per_chunk``: samples per chunk (default 1 synth, 5 real).
    ``song_s``: synthetic song length (default 3 chunks). ``resume``: reuse finished songs'
    part files (settings must match those the folder was started with). ``keep_stems``: splits
    whose flawed stems (at the mix's common gain, so they sum to the mix) are written under
    ``stems/<split>/<id>/<stem>.flac``, listed in the row's ``stem_paths``.

    Notes
    -----
    Splits are by song (:func:`split_of`). The corpus is filled greedily, songs in a fixed order
    (synth: song index; real sources: hash order), up to a quota per (split, category)
    (:func:`quotas`): the split sizes are ``n`` times the fractions and each split holds the
    five categories in equal shares (exactly, up to the remainder of a division by five); songs
    whose split is full are not rendered. A real source has one quota per category over the
    whole corpus (its split sizes follow the song hashes) and stops when its songs run out:
    then every sample of every song is kept, and ``per_chunk=5`` keeps the categories balanced.

    Since every draw is seeded per song (:func:`song_samples`), the manifest and the audio are
    identical for a seed whatever the number of workers, and across reruns.

    Worker processes each handle whole songs. A finished song is recorded in
    ``parts/<song key>.jsonl`` (written atomically after its audio); a rerun with the same
    settings reads those parts instead of loading the song again (a part whose audio is
    missing is redone). ``manifest.jsonl`` is merged in song order at the end, and audio of
    samples that did not make it into the manifest is removed.

    Everything is written inside ``out_dir``: ``audio/<split>/<id>.flac`` (16-bit, stereo,
    ``sr``), ``manifest.jsonl`` (one row per sample, the shared manifest contract),
    ``corpus.json`` (settings, counts per split / category / target / anchor, build time) and
    ``parts/`` (resume state).
    """
    splits = tuple(float(x) for x in splits)
    _check_args(source, path, n, chunk_s, per_chunk, sr, splits, workers)
    t0 = time.perf_counter()
    out = Path(out_dir)
    cfg = CorpusConfig(source=source, path=str(Path(path).resolve()) if path is not None else None,
                       seed=int(seed), chunk_s=float(chunk_s),
                       per_chunk=int(per_chunk or DEFAULT_PER_CHUNK[source]), sr=int(sr), splits=splits,
                       augment=bool(augment),
                       song_s=(float(song_s) if song_s else SYNTH_CHUNKS_PER_SONG * float(chunk_s))
                       if source == "synth" else None,
                       soundfont=soundfont, keep_stems=tuple(keep_stems))
    bad = [k for k in cfg.keep_stems if k not in SPLITS]
    if bad:
        raise InvalidArgumentError(f"--keep-stems takes splits of {SPLITS}, got {bad}")
    for d in (out, out / PARTS, *(out / "audio" / s for s in SPLITS)):
        d.mkdir(parents=True, exist_ok=True)
    settings_path = out / PARTS / SETTINGS_FILE
    settings = cfg.settings()
    if settings_path.is_file():
        old = json.loads(settings_path.read_text())
        if old != settings and resume:
            raise InvalidArgumentError(
                f"{out} holds a corpus built with other settings; use another --out, or delete it")
        if not resume:
            for p in (out / PARTS).glob("*.jsonl"):
                p.unlink()
    elif not resume:
        for p in (out / PARTS).glob("*.jsonl"):
            p.unlink()
    _write_atomic(settings_path, json.dumps(settings, indent=1, sort_keys=True))

    # Quotas: synth, per (split, category) so that every split has its size; a real source,
    # per category over the whole corpus (its split sizes follow the songs' hashes).
    if source == "synth":
        want = quotas(int(n), splits)
        bucket = {s: s for s in SPLITS}
    else:
        want = {"all": quotas(int(n), (1.0, 0.0, 0.0))["train"]}
        bucket = {s: "all" for s in SPLITS}
    kept = {b: Counter() for b in want}

    def split_full(split: str) -> bool:
        b = bucket[split]
        return all(kept[b][c] >= want[b][c] for c in CATEGORIES)

    def all_full() -> bool:
        return all(split_full(s) for s in SPLITS)

    # Song stream: synth refs by index (generated lazily), real refs in hash order.
    if source == "synth":
        finite = None
        per_song0 = max(1, int(cfg.song_s // cfg.chunk_s) if cfg.song_s >= cfg.chunk_s else 1) * cfg.per_chunk
    else:
        refs = list_songs(source, path)
        if not refs:
            raise InvalidArgumentError(f"no songs found in {path} for --source {source}")
        finite = sorted(refs, key=lambda r: (_unit_hash("order", cfg.seed, r.song_id), r.song_id))
        per_song0 = cfg.per_chunk
    max_songs = 50 * int(n) // max(1, per_song0) + 200

    selected: list[tuple[int, list[dict]]] = []
    failed: list[dict] = []
    produced = loaded = 0
    next_idx = 0
    pos = {sp: 0 for sp in SPLITS}  # synth: next song index to look at, per split
    songs_by_split = {s: set() for s in SPLITS}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=int(n), desc=f"corpus ({source})", unit="sample", file=sys.stderr,
                   disable=None, dynamic_ncols=True)
    ctx = None
    pool = None
    try:
        while not all_full():
            per_song = max(produced / loaded if loaded else per_song0, 0.5)
            cands: list[tuple[int, SongRef, str]] = []
            if finite is not None:
                # one stream in hash order; a song is skipped only when its quota is full
                remaining = sum(max(0, want["all"][c] - kept["all"][c]) for c in CATEGORIES)
                round_size = max(2 * int(workers), math.ceil(remaining / per_song))
                while len(cands) < round_size and next_idx < len(finite):
                    ref = finite[next_idx]
                    split = split_of(cfg.seed, ref.song_id, splits)
                    if not split_full(split):
                        cands.append((next_idx, ref, split))
                    next_idx += 1
            else:
                # one stream per split (the songs whose hash falls in it, by index): each split
                # is filled greedily from its own stream, so what a round renders never
                # changes which samples are kept
                need = {}
                for sp in SPLITS:
                    rem = sum(max(0, want[sp][c] - kept[sp][c]) for c in CATEGORIES)
                    if rem:
                        need[sp] = math.ceil(rem / per_song)
                open_splits = list(need)
                j = 0
                while open_splits and sum(need.values()) < int(workers):
                    need[open_splits[j % len(open_splits)]] += 1
                    j += 1
                for sp, k in need.items():
                    for _ in range(k):
                        i = pos[sp]
                        while split_of(cfg.seed, synth_song_id(cfg.seed, i), splits) != sp:
                            i += 1
                            if i >= max_songs:
                                raise RuntimeError(
                                    f"went through {i} synthetic songs without reaching {n} samples; "
                                    "check the renderer and the split fractions")
                        pos[sp] = i + 1
                        ref = synth_refs(1, cfg.seed, cfg.song_s, cfg.soundfont, start=i)[0]
                        cands.append((i, ref, sp))
                cands.sort(key=lambda t: t[0])
                next_idx = max(pos.values())
            if not cands:
                break
            results: dict[int, list[dict]] = {}
            todo = []
            for idx, ref, split in cands:
                rows = _read_part(out, ref, cfg.keep_stems) if resume else None
                if rows is not None:
                    results[idx] = rows
                    if bar is not None:
                        bar.update(min(len(rows), bar.total - bar.n))
                else:
                    todo.append((idx, ref, split, cfg, str(out)))
            if todo:
                if int(workers) > 1 and len(todo) > 1:
                    if pool is None:
                        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
                        pool = ctx.Pool(int(workers), initializer=_worker_init)
                    it = pool.imap_unordered(_process_song, todo, chunksize=1)
                else:
                    it = map(_process_song, todo)
                for idx, rows, err in it:
                    if err is not None:
                        ref = next(r for i, r, _ in cands if i == idx)
                        failed.append({"song_id": ref.song_id, "error": err})
                        continue
                    results[idx] = rows
                    if bar is not None:
                        bar.update(min(len(rows), bar.total - bar.n))
            # greedy fill in song order (independent of worker timing and of round sizes)
            for idx, ref, split in cands:
                rows = results.get(idx)
                if rows is None:
                    continue
                loaded += 1
                produced += len(rows)
                keep = []
                for r in rows:
                    c = r["published"]["category"]
                    if kept[bucket[split]][c] < want[bucket[split]][c]:
                        kept[bucket[split]][c] += 1
                        keep.append(r)
                if keep:
                    selected.append((idx, keep))
                    songs_by_split[split].add(ref.song_id)
            if source == "synth" and loaded == 0 and next_idx >= 4 * int(workers) and failed:
                raise RuntimeError(f"every synthetic song failed; first error: {failed[0]['error']}")
    except BaseException:
        if pool is not None:  # interrupted or failed: stop the workers now (parts stay for resume)
            pool.terminate()
            pool.join()
            pool = None
        raise
    finally:
        if pool is not None:
            pool.close()
            pool.join()
        if bar is not None:
            bar.total = bar.n
            bar.refresh()
            bar.close()

    selected.sort(key=lambda t: t[0])
    manifest = [r for _, rows in selected for r in rows]
    _write_atomic(out / MANIFEST, "".join(json.dumps(r) + "\n" for r in manifest))
    # remove audio of samples that are not in the manifest (only our own .flac names)
    keep_paths = {r["audio_path"] for r in manifest}
    for s in SPLITS:
        for p in (out / "audio" / s).glob("*.flac*"):
            if f"audio/{s}/{p.name}" not in keep_paths:
                p.unlink()
        kept_ids = {r["id"] for r in manifest if r["split"] == s}
        stems_dir = out / "stems" / s
        if stems_dir.is_dir():
            for d in stems_dir.iterdir():
                if d.is_dir() and d.name not in kept_ids:
                    shutil.rmtree(d, ignore_errors=True)
    elapsed = time.perf_counter() - t0
    info = _summary(cfg, int(n), manifest, songs_by_split, failed, next_idx, loaded, elapsed, int(workers))
    _write_atomic(out / CORPUS_JSON, json.dumps(info, indent=1))
    return info


def _summary(cfg, n, manifest, songs_by_split, failed, considered, loaded, elapsed, workers) -> dict:
    by = lambda key: dict(sorted(Counter(key(r) for r in manifest).items(), key=lambda kv: str(kv[0])))
    return {
        "description": "Flawed-mix corpus (MixingBuddy-gain protocol): one stem of bass/drums/vocals "
                       "moved by a category gain, anchor named; published and norm-referenced labels.",
        "source": cfg.source,
        "seed": cfg.seed,
        "config": cfg.settings(),
        "n_requested": n,
        "n_samples": len(manifest),
        "counts": {
            "split": {s: sum(1 for r in manifest if r["split"] == s) for s in SPLITS},
            "category": {c: sum(1 for r in manifest if r["published"]["category"] == c) for c in CATEGORIES},
            "split_category": {s: {c: sum(1 for r in manifest if r["split"] == s and r["published"]["category"] == c)
                                   for c in CATEGORIES} for s in SPLITS},
            "target": by(lambda r: r["published"]["target"] or "none"),
            "anchor": by(lambda r: r["anchor"]),
            "norm_label": by(lambda r: r["norm"]["label"]),
            "style": by(lambda r: r["style"] or "none"),
            "songs": {s: len(v) for s, v in songs_by_split.items()},
        },
        "songs_considered": considered,
        "songs_loaded": loaded,
        "failed_songs": failed,
        "workers": workers,
        "build_time_s": round(elapsed, 3),
        "samples_per_s": round(len(manifest) / elapsed, 3) if elapsed > 0 else None,
    }


def read_manifest(corpus_dir: str | os.PathLike) -> list[dict]:
    """The rows of ``corpus_dir/manifest.jsonl``."""
    p = Path(corpus_dir) / MANIFEST
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


# --------------------------------------------------------------------------- CLI

def _parse_splits(text: str) -> tuple[float, float, float]:
    try:
        vals = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--splits expects three numbers like 0.8,0.1,0.1, got {text!r}") from None
    if len(vals) != 3:
        raise argparse.ArgumentTypeError(f"--splits expects three numbers like 0.8,0.1,0.1, got {text!r}")
    return vals


def cmd_data_build(args) -> int:
    info = build_corpus(args.source, args.path, args.n, args.out, args.seed, chunk_s=args.chunk_s,
                        per_chunk=args.per_chunk, sr=args.sr, splits=args.splits, workers=args.workers,
                        resume=not args.no_resume, progress=True, augment=not args.no_augment,
                        song_s=args.song_s, soundfont=args.soundfont,
                        keep_stems=[k for k in (args.keep_stems or "").split(",") if k.strip()])
    c = info["counts"]
    print(f"{info['n_samples']} samples in {args.out} ({info['build_time_s']:.1f} s, "
          f"{info['samples_per_s']} samples/s)")
    print("  splits:     " + ", ".join(f"{k} {v}" for k, v in c["split"].items()))
    print("  categories: " + ", ".join(f"{k} {v}" for k, v in c["category"].items()))
    print("  songs:      " + ", ".join(f"{k} {v}" for k, v in c["songs"].items()))
    if info["failed_songs"]:
        print(f"  {len(info['failed_songs'])} song(s) skipped (see corpus.json failed_songs)")
    if info["n_samples"] < info["n_requested"]:
        print(f"  note: fewer than the {info['n_requested']} samples asked for (the source ran out)")
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``data`` (with its ``build`` sub-command) to the top-level sub-parsers."""
    data = subparsers.add_parser("data", help="build training and benchmark corpora")
    dsub = data.add_subparsers(dest="data_command", required=True)
    b = dsub.add_parser("build", help="build a flawed-mix corpus (FLAC + manifest.jsonl)")
    b.add_argument("--source", required=True, choices=["synth", "musdb", "folder"])
    b.add_argument("path", nargs="?", default=None,
                   help="musdb: folder of .stem.mp4 (MUSDB18) or of song folders (MUSDB18-HQ); "
                        "folder: folder of per-song stem folders")
    b.add_argument("--n", type=int, required=True, help="samples wanted")
    b.add_argument("--out", required=True, help="output folder")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--chunk-s", type=float, default=10.0, help="chunk length (s); shorter songs are used whole")
    b.add_argument("--per-chunk", type=int, default=None,
                   help="samples per chunk (default 1 for synth, 5 for musdb/folder)")
    b.add_argument("--sr", type=int, default=44_100)
    b.add_argument("--splits", type=_parse_splits, default=(0.8, 0.1, 0.1), help="train,val,test fractions")
    b.add_argument("--workers", type=int, default=2)
    b.add_argument("--no-augment", action="store_true", help="no gain/DC/noise augmentation on train")
    b.add_argument("--no-resume", action="store_true", help="redo every song even if a part file exists")
    b.add_argument("--song-s", type=float, default=None, help="synth: song length (default 3 chunks)")
    b.add_argument("--soundfont", default=None, help="synth: .sf2/.sf3 file (default: pretty_midi's)")
    b.add_argument("--keep-stems", default="", metavar="SPLITS",
                   help="comma-separated splits (e.g. val,test) whose flawed stems are written too, "
                        "for with-stems evaluations")
    b.set_defaults(func=cmd_data_build)
    return data
