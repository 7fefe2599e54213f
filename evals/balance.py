"""The balance benchmark: run a system over a flawed-mix corpus, parse its advice, score it.

``mixingbuddy eval balance --system NAME [--system NAME ...|all] --data DIR --out DIR
[--limit N] [--split test] [--cv K]``

The protocol is the MixingBuddy-gain study's evaluation, on a corpus built by
``mixingbuddy data build`` (:func:`run_balance_eval`).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..model.data.advice_parser import parse_advice
from ..tools.errors import InvalidArgumentError
from .metrics import compute_metrics, metrics_markdown, score_row
from .systems import (
    REFERENCE_SYSTEMS,
    SYSTEMS,
    FittedClassifierSystem,
    System,
    get_system,
)

MANIFEST = "manifest.jsonl"
SPLITS = ("train", "val", "test", "all")


# --------------------------------------------------------------------------- data

def load_manifest(data_dir) -> list[dict]:
    """The corpus's manifest rows (``<data_dir>/manifest.jsonl``)."""
    path = Path(data_dir) / MANIFEST
    if not path.is_file():
        raise InvalidArgumentError(f"no {MANIFEST} in {data_dir}: build a corpus with "
                                   "`mixingbuddy data build` first", path=path)
    rows = []
    with path.open() as f:
        for i, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    raise InvalidArgumentError(f"line {i} is not JSON", path=path) from None
    if not rows:
        raise InvalidArgumentError("the manifest is empty", path=path)
    return rows


def select_rows(rows: Sequence[dict], split: str, limit: int | None, seed: int) -> list[dict]:
    """Rows of ``split`` ("all": every row), at most ``limit`` of them drawn with ``seed``
    (manifest order kept)."""
    out = [r for r in rows if split == "all" or r.get("split") == split]
    if limit is not None and 0 <= limit < len(out):
        keep = np.sort(np.random.default_rng([seed, 11]).choice(len(out), limit, replace=False))
        out = [out[i] for i in keep]
    return out


def load_mix(data_dir, row: dict) -> tuple[np.ndarray, int]:
    import soundfile as sf

    x, sr = sf.read(str(Path(data_dir) / row["audio_path"]), dtype="float32", always_2d=True)
    return x, int(sr)


def fold_of(song_id: str, k: int, seed: int = 0) -> int:
    """The cross-fitting fold of a song: a hash of the song id, so no song is in two folds."""
    return zlib.crc32(f"{seed}\x1f{song_id}".encode()) % k


# --------------------------------------------------------------------------- running

def _make(system, seed: int, options: dict) -> System:
    """A system instance; ``options`` (model, max_train) only go to the fitted classifiers."""
    if isinstance(system, System):
        return system
    if system in SYSTEMS:
        # classifier options go to the fitted classifiers, weights to the trained model's systems
        fitted = issubclass(SYSTEMS[system], FittedClassifierSystem)
        options = {k: v for k, v in options.items() if (k in ("model", "max_train")) == fitted}
    return get_system(system, seed=seed, **options)


def _advise_all(sysm: System, rows: Sequence[dict], data_dir, desc: str, progress: bool) -> list[str]:
    from tqdm import tqdm

    sysm.prepare(rows, data_dir)
    texts = []
    for r in tqdm(rows, desc=desc, unit="clip", file=sys.stderr, disable=not progress or None,
                  leave=False):
        audio, sr = load_mix(data_dir, r) if sysm.needs_audio_for(r) else (None, None)
        texts.append(str(sysm.advise(r, audio, sr)))
    return texts


def run_balance_eval(system, data_dir, out_dir, *, limit: int | None = None, split: str = "test",
                     seed: int = 0, cv: int = 0, workers: int = 2, progress: bool = True,
                     system_options: dict | None = None) -> dict:
    """Fit ``system`` (a registered name or a :class:`System`) on the train split, run it over
    ``split`` (at most ``limit`` rows), score the parsed advice and write the report files in
    ``<out_dir>/<system name>/``. ``cv`` > 1 cross-fits by song instead.
    Returns the metrics dict (with a ``meta`` entry).

    Notes
    -----
    The system is fitted on the corpus's train split (when it has a ``fit``), then run over the
    evaluation split; every text is parsed by the deterministic
    :func:`~mixingbuddy.model.data.advice_parser.parse_advice` and scored by
    :mod:`~mixingbuddy.evals.metrics` against the published label (stem, direction, magnitude)
    and the norm-referenced label.

    Small corpora (the 94 MUSDB18 previews make about 470 rows, 10% of them in the test split)
    are cross-fitted with ``cv`` = K: the evaluated rows are cut into K folds by song
    (:func:`fold_of`), and each fold is scored by a fresh system fitted on every corpus row
    whose song is outside the fold. With ``split="all"`` every row is scored once.

    Written in ``<out_dir>/<system>/``: ``predictions.jsonl`` (id, text, parsed fields,
    correctness flags), ``metrics.json``, ``metrics.md``, ``confusion.png``. Mix-only feature
    caches (``features_dsp.npz``) live in ``<out_dir>/`` so reruns are fast; with several
    systems :func:`run_many` also writes ``<out_dir>/summary.md``.
    """
    if split not in SPLITS:
        raise InvalidArgumentError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    t0 = time.perf_counter()
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    options = dict(system_options or {})
    all_rows = load_manifest(data_dir)
    rows = select_rows(all_rows, split, limit, seed)
    if not rows:
        raise InvalidArgumentError(f"no rows in split {split!r} of {data_dir}")

    def configure(s: System) -> System:
        s.cache_dir = out_dir
        s.workers = int(workers)
        s.progress = progress
        return s

    sysm = configure(_make(system, seed, options))
    name = sysm.name
    texts: dict[str, str] = {}
    if cv and cv > 1:
        for k in range(int(cv)):
            fold = [r for r in rows if fold_of(r["song_id"], cv, seed) == k]
            if not fold:
                continue
            songs = {r["song_id"] for r in fold}
            train = [r for r in all_rows if r["song_id"] not in songs]
            s = sysm if k == 0 else configure(_make(name, seed, options))
            s.fit(train, data_dir)
            texts.update(zip((r["id"] for r in fold),
                             _advise_all(s, fold, data_dir, f"{name} fold {k + 1}/{cv}", progress)))
    else:
        train = [r for r in all_rows if r.get("split") == "train"]
        if split in ("train", "all") and type(sysm).fit is not System.fit:
            print(f"warning: {name} is fitted on the train split and scored on {split!r} rows "
                  "that include it; use --cv for an honest score", file=sys.stderr)
        if type(sysm).fit is not System.fit and not train:
            raise InvalidArgumentError(f"{name} needs a train split to fit on, and {data_dir} has none "
                                       "(use --cv K)")
        sysm.fit(train, data_dir)
        texts = dict(zip((r["id"] for r in rows), _advise_all(sysm, rows, data_dir, name, progress)))

    pairs = []
    sys_dir = out_dir / name
    sys_dir.mkdir(parents=True, exist_ok=True)
    with (sys_dir / "predictions.jsonl").open("w") as f:
        for r in rows:
            text = texts[r["id"]]
            p = parse_advice(text)
            # a system may answer the norm-referenced question apart (the agent with stems
            # measures it); others are scored on their one answer for both label sets
            norm_text = sysm.advise_norm(r) if hasattr(sysm, "advise_norm") else None
            p_norm = parse_advice(norm_text) if norm_text is not None else None
            pairs.append((r, p, p_norm))
            flags = score_row(r, p, p_norm)
            f.write(json.dumps({
                "id": r["id"], "split": r.get("split"), "song_id": r.get("song_id"),
                "anchor": r.get("anchor"), "category": r["published"]["category"],
                "target": r["published"].get("target"), "norm_label": (r.get("norm") or {}).get("label"),
                "text": text, "parsed": p.to_dict(),
                **({"norm_text": norm_text} if norm_text is not None else {}),
                "true_class": flags.pop("true_class"), "pred_class": flags.pop("pred_class"),
                "correct": flags}) + "\n")
    m = compute_metrics(pairs)
    corpus_info = {}
    if (data_dir / "corpus.json").is_file():
        try:
            cj = json.loads((data_dir / "corpus.json").read_text())
            corpus_info = {k: cj.get(k) for k in ("source", "seed", "counts") if k in cj}
            if "config" in cj:
                corpus_info["config"] = cj["config"]
        except (OSError, json.JSONDecodeError):
            pass
    m["meta"] = {"system": name, "data_dir": str(data_dir), "split": split, "limit": limit,
                 "seed": seed, "cv": int(cv or 0), "n_rows": len(rows),
                 "n_train_rows": sum(1 for r in all_rows if r.get("split") == "train"),
                 "system_options": options, "elapsed_s": round(time.perf_counter() - t0, 2),
                 "corpus": corpus_info}
    (sys_dir / "metrics.json").write_text(json.dumps(m, indent=1))
    how = f"{cv}-fold cross-fit by song" if cv and cv > 1 else "fitted on train"
    (sys_dir / "metrics.md").write_text(metrics_markdown(
        m, f"{name} on {data_dir.name} ({split} split, {how})"))
    plot_confusion(m, sys_dir / "confusion.png", f"{name}: {data_dir.name} ({split})")
    return m


def run_many(names: Sequence[str], data_dir, out_dir, **kw) -> dict[str, dict]:
    """:func:`run_balance_eval` for several systems; writes and prints ``summary.md``."""
    results = {}
    for n in names:
        results[n] = run_balance_eval(n, data_dir, out_dir, **kw)
        print(f"{n}: joint {_pct(results[n]['joint_accuracy'])}% -> {Path(out_dir) / n}",
              file=sys.stderr)
    if len(results) > 1:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "summary.md").write_text(summary_markdown(results))
    return results


# --------------------------------------------------------------------------- reports

def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def summary_markdown(results: dict[str, dict]) -> str:
    """One row per system: the headline numbers (%)."""
    first = next(iter(results.values()))["meta"] if results else {}
    lines = [f"Balance benchmark on `{first.get('data_dir', '?')}`, split {first.get('split', '?')}, "
             f"{first.get('n_rows', '?')} samples"
             + (f", {first['cv']}-fold cross-fit by song" if first.get("cv") else "") + " (%).", "",
             "| system | joint | stem | direction | magnitude | no_error acc | error-det F1 | norm-referenced acc |",
             "|---|---|---|---|---|---|---|---|"]
    for name, m in results.items():
        lines.append(f"| {name} | {_pct(m['joint_accuracy'])} | {_pct(m['stem_accuracy'])} | "
                     f"{_pct(m['direction_accuracy'])} | {_pct(m['magnitude_accuracy'])} | "
                     f"{_pct(m['no_error_accuracy'])} | {_pct(m['error_detection']['f1'])} | "
                     f"{_pct(m['norm_referenced_accuracy'])} |")
    return "\n".join(lines) + "\n"


def plot_confusion(m: dict, path, title: str = "") -> None:
    """Row-normalised confusion matrix (true class x predicted class) with counts, as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = m["confusion"]
    mat = np.asarray(c["matrix"], dtype=float)
    norm = mat / np.maximum(mat.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(8.5, 5.5), dpi=110)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(c["cols"])), c["cols"], rotation=35, ha="right")
    ax.set_yticks(range(len(c["rows"])), c["rows"])
    for i in range(mat.shape[0]):
        for j in range(mat.shape[1]):
            if mat[i, j]:
                ax.text(j, i, f"{int(mat[i, j])}", ha="center", va="center", fontsize=8,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted (stem+ = raise, stem- = lower)")
    ax.set_ylabel("true (corrective direction)")
    ax.set_title(f"{title}\njoint accuracy {_pct(m['joint_accuracy'])}%", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# --------------------------------------------------------------------------- CLI

def cmd_balance(args) -> int:
    names: list[str] = []
    for s in args.system or ["all"]:
        for part in s.split(","):
            part = part.strip()
            if part == "all":
                names += [n for n in REFERENCE_SYSTEMS if n not in names]
            elif part and part not in names:
                if part not in SYSTEMS:
                    raise InvalidArgumentError(f"unknown system {part!r}; known: "
                                               f"{', '.join(sorted(SYSTEMS))}, all")
                names.append(part)
    if args.limit is not None and args.limit < 1:
        raise InvalidArgumentError(f"--limit must be at least 1, got {args.limit}")
    options = {}
    if args.model:
        options["model"] = args.model
    if args.max_train:
        options["max_train"] = args.max_train
    if args.weights:
        options["weights"] = args.weights
    if args.no_judge:
        options["use_judge"] = False
    results = run_many(names, args.data, args.out, limit=args.limit, split=args.split,
                       seed=args.seed, cv=args.cv, workers=args.workers, system_options=options)
    text = summary_markdown(results)
    print(text, end="")
    return 0


def add_balance_parser(eval_subparsers) -> argparse.ArgumentParser:
    """Register ``balance`` under an existing ``eval`` sub-command group."""
    b = eval_subparsers.add_parser(
        "balance", help="score advice systems on a flawed-mix corpus (stem, direction, dB)",
        description="Fit a system on the corpus's train split, run it over a split, parse its "
                    "advice and score it (MixingBuddy-gain metrics + norm-referenced accuracy).")
    b.add_argument("--system", action="append", metavar="NAME",
                   help=f"system to score: {', '.join(sorted(SYSTEMS))}, or 'all' for "
                        f"{', '.join(REFERENCE_SYSTEMS)}; repeat or comma-separate (default all)")
    b.add_argument("--data", required=True, metavar="DIR", help="corpus folder (manifest.jsonl)")
    b.add_argument("--out", required=True, metavar="DIR", help="report folder")
    b.add_argument("--limit", type=int, metavar="N", help="score at most N rows (a seeded draw)")
    b.add_argument("--split", default="test", choices=SPLITS, help="rows to score (default test)")
    b.add_argument("--cv", type=int, default=0, metavar="K",
                   help="cross-fit in K folds by song instead of fitting on train (small corpora)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--workers", type=int, default=2, help="processes for mix-only features")
    b.add_argument("--model", choices=["logreg", "hgb"], help="classifier of dsp/oracle (default logreg)")
    b.add_argument("--max-train", type=int, metavar="N", help="fit dsp/oracle on at most N train rows")
    b.add_argument("--weights", metavar="DIR",
                   help="trained model folder for the model/agent systems (default: the shipped weights)")
    b.add_argument("--no-judge", action="store_true",
                   help="agent systems: the rule-based verdicts only, without the balance judge")
    b.set_defaults(func=cmd_balance)
    return b


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``eval`` group (with ``balance``) to the top-level sub-commands."""
    e = subparsers.add_parser("eval", help="benchmarks: eval balance ..., eval agent ..., eval questions ...")
    esub = e.add_subparsers(dest="eval_command", required=True)
    add_balance_parser(esub)
    from .agent_eval import add_agent_eval_parser

    add_agent_eval_parser(esub)
    from .redteam import add_redteam_parser

    add_redteam_parser(esub)
    from .fit_judge import add_fit_judge_parser

    add_fit_judge_parser(esub)
    from .questions import add_questions_parser

    add_questions_parser(esub)
    from .adversarial import add_adversarial_parser

    add_adversarial_parser(esub)
    return e
