"""``mixingbuddy eval fit-judge``: fit the agent's balance judge (:mod:`mixingbuddy.agent.balance_judge`).

For every row of the chosen split (default ``val``: clips the audio model never trained on) of
each corpus, the agent's own steps give the judge's inputs: the audio model's posterior (as the
listen node asks it), the mix-only estimate (``mix`` variant) and, where the corpus kept the
stems (``--keep-stems``), the stem-balance measurement (``stems`` variant). Each variant is a
multinomial logistic regression on the published class; its L2 strength is chosen by 5-fold
cross-validation grouped by song, and the cross-validated accuracy is printed and stored with the
coefficients in ``<weights>/balance_judge.json`` (or ``--out``).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import sys
import zlib
from pathlib import Path

import numpy as np

from ..agent.balance_judge import (CLASSES, BalanceJudge, decide, fit_judge_model, group_of, judge_path,
                                   valid_classes)
from ..tools.errors import InvalidArgumentError
from .agent_system import AgentFastSystem, AgentStemsSystem, _model_anchor, weights_fingerprint
from .balance import load_manifest
from .systems import class_of

C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
FOLDS = 5


def collect(system_cls, rows, corpus_dir, weights, cache_dir) -> tuple[list[dict], np.ndarray]:
    """Rows that got features and their feature matrix, through the agent's own steps."""
    s = system_cls(weights=weights, use_judge=False)
    s.cache_dir = Path(cache_dir)
    s.progress = True
    s.prepare(rows, corpus_dir)
    kept = [r for r in rows if r["id"] in s.features]
    return kept, np.asarray([s.features[r["id"]][1] for r in kept], dtype=np.float64)


def _predict(model, X, rows) -> list[str]:
    out = []
    for x, r in zip(X, rows):
        p = model.proba(x)
        valid = valid_classes(_model_anchor(r.get("anchor")), None)
        out.append(decide({c: float(p[CLASSES.index(c)]) for c in valid}))
    return out


def cv_accuracy(variant: str, X: np.ndarray, rows: list[dict], C: float, seed: int = 0) -> float:
    """Joint accuracy (stem and direction, or "no error") of the judge by 5-fold
    cross-validation, folds by song."""
    y = [class_of(r) for r in rows]
    folds = np.asarray([zlib.crc32(f"{seed}\x1f{r['song_id']}".encode()) % FOLDS for r in rows])
    hits = 0
    for k in range(FOLDS):
        te = folds == k
        if not te.any() or te.all():
            continue
        m = fit_judge_model(variant, X[~te], [y[i] for i in np.flatnonzero(~te)], C=C, seed=seed)
        pred = _predict(m, X[te], [rows[i] for i in np.flatnonzero(te)])
        hits += sum(group_of(p) == group_of(y[i]) for p, i in zip(pred, np.flatnonzero(te)))
    return hits / len(rows)


def fit_all(data_dirs, split: str, weights, out: Path | None, seed: int = 0, min_rows: int = 50) -> dict:
    rows_by_variant: dict[str, list[dict]] = {"mix": [], "stems": []}
    X_by_variant: dict[str, list[np.ndarray]] = {"mix": [], "stems": []}
    for d in data_dirs:
        d = Path(d)
        rows = [r for r in load_manifest(d) if r.get("split") == split]
        if not rows:
            raise InvalidArgumentError(f"no rows in split {split!r} of {d}")
        cache = d / "judge_cache"
        for variant, cls in (("mix", AgentFastSystem), ("stems", AgentStemsSystem)):
            use = rows if variant == "mix" else [r for r in rows if r.get("stem_paths")]
            if not use:
                print(f"{d}: no stems kept for {split}; the stems variant skips it", file=sys.stderr)
                continue
            kept, X = collect(cls, use, d, weights, cache)
            rows_by_variant[variant] += kept
            X_by_variant[variant].append(X)
    models, report = {}, {}
    for variant in ("mix", "stems"):
        rows = rows_by_variant[variant]
        if len(rows) < min_rows:
            print(f"{variant}: only {len(rows)} rows with features; not fitted", file=sys.stderr)
            continue
        X = np.concatenate(X_by_variant[variant])
        scores = {C: cv_accuracy(variant, X, rows, C, seed) for C in C_GRID}
        best = max(C_GRID, key=lambda C: (round(scores[C], 4), -C))
        models[variant] = fit_judge_model(variant, X, [class_of(r) for r in rows], C=best, seed=seed)
        report[variant] = {"n_rows": len(rows), "n_songs": len({r["song_id"] for r in rows}),
                           "C": best, "cv_joint_accuracy": round(scores[best], 4),
                           "cv_by_C": {str(C): round(v, 4) for C, v in scores.items()}}
        print(f"{variant}: {len(rows)} rows, C={best}, {FOLDS}-fold CV joint accuracy "
              f"{100 * scores[best]:.1f}% (" + ", ".join(f"C={C}: {100 * v:.1f}" for C, v in scores.items())
              + ")", file=sys.stderr)
    if not models:
        raise InvalidArgumentError("no variant could be fitted (no rows with the model's posterior)")
    meta = {"fitted_on": [str(Path(d)) for d in data_dirs], "split": split, "seed": seed,
            "weights_fingerprint": weights_fingerprint(weights),
            "date": _dt.date.today().isoformat(), "variants_report": report,
            "about": "MixingBuddy balance judge: multinomial logistic regression over the audio "
                     "model's log posterior and the measurements (agent/balance_judge.py)"}
    judge = BalanceJudge(models, meta)
    path = Path(out) if out else judge_path(weights)
    judge.save(path)
    print(f"balance judge -> {path}", file=sys.stderr)
    return meta


def cmd_fit_judge(args) -> int:
    fit_all(args.data, args.split, args.weights, Path(args.out) if args.out else None, args.seed)
    return 0


def add_fit_judge_parser(eval_subparsers) -> argparse.ArgumentParser:
    p = eval_subparsers.add_parser(
        "fit-judge", help="fit the agent's balance judge on corpora the audio model did not train on",
        description=__doc__.split("\n\n")[1] if __doc__ else None)
    p.add_argument("--data", action="append", required=True, metavar="DIR", help="corpus folder (repeat)")
    p.add_argument("--split", default="val", choices=["train", "val", "test"],
                   help="rows to fit on (default val: never seen by the audio model)")
    p.add_argument("--weights", metavar="DIR", help="audio-model folder (default: the shipped weights)")
    p.add_argument("--out", metavar="FILE", help="where to write the judge (default <weights>/balance_judge.json)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_fit_judge)
    return p
