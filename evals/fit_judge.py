"""``mixingbuddy eval fit-judge``: fit the agent's balance judge (:mod:`mixingbuddy.agent.balance_judge`).

Per variant, a levels expert is fitted on the corpora's train clips and its pool weights with
the audio model are chosen on validation clips (:func:`fit_all`). The validation accuracy of the
model alone, the levels alone and the pool is printed and stored with the coefficients in
``<weights>/balance_judge.json`` (or ``--out``).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import sys
from pathlib import Path

import numpy as np

from ..agent.balance_judge import (
    BalanceJudge,
    PoolVariant,
    fit_judge_model,
    group_of,
    judge_path,
    mix_level_features,
    pool_decision,
    stem_level_features,
)
from ..model.data.templates import CLASSES
from ..tools.errors import InvalidArgumentError
from .agent_system import AgentFastSystem, AgentSepSystem, AgentStemsSystem, _model_anchor, weights_fingerprint
from .balance import load_manifest
from .systems import DspSystem, class_of

W_GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
EXPERT_C = 1.0
AUGMENT_COPIES = 4
ABSTAIN_BELOW_ACC = 0.5  # abstain where a reading is more likely wrong than right
VARIANT_SYSTEMS = {"mix": AgentFastSystem, "stems": AgentStemsSystem, "separated": AgentSepSystem}


def noisy_levels(levels: dict, rng: np.random.Generator, sigma_db: dict[str, float]) -> dict:
    """Whole-clip levels as a separator might report them: each stem's power moved by
    N(0, sigma) dB, the mix and each rest recomputed as power sums (stems taken as uncorrelated).
    ``sigma_db`` is the separator's measured typical error (:func:`separation_sigmas`, from
    ``tools/data/separation_error.json``)."""
    pw = {s: 10 ** (d["rms_dbfs"] / 10) for s, d in levels.items() if d.get("rms_dbfs") is not None}
    if not pw:
        return levels
    s0 = next(iter(pw))
    mix_true = 10 ** ((levels[s0]["rms_dbfs"] - levels[s0]["vs_mix_db"]) / 10) if levels[s0].get("vs_mix_db") is not None \
        else sum(pw.values())
    new = {s: p * 10 ** (rng.normal(0.0, sigma_db.get(s, 1.5)) / 10) for s, p in pw.items()}
    mix = max(mix_true + sum(new.values()) - sum(pw.values()), 1e-20)
    out = {}
    for s, d in levels.items():
        if s not in new:
            out[s] = dict(d)
            continue
        rest = max(mix - new[s], 1e-20)
        db = 10 * np.log10(new[s])
        out[s] = {"rms_dbfs": db, "vs_rest_db": db - 10 * np.log10(rest), "vs_mix_db": db - 10 * np.log10(mix),
                  "vs_anchor_db": None}
    return out


def separation_sigmas() -> dict[str, float]:
    """Per stem, the Gaussian spread matching the separator's median absolute level error on
    real songs (median |e| = 0.674 sigma)."""
    from ..tools.separate.evidence import level_error_db

    return {s: level_error_db(s, None)[0] / 0.674 for s in ("vocals", "drums", "bass", "other")}


def abstain_line(pv: PoolVariant, items) -> tuple[float, dict]:
    """The probability line under which the judge says it cannot tell: readings are calibrated
    on ``items`` by isotonic regression of "right" on the reading's stem-and-direction
    probability (Zadrozny & Elkan 2002), and the line is the lowest probability whose calibrated
    accuracy reaches :data:`ABSTAIN_BELOW_ACC` (under it a reading is more likely wrong than
    right). Returns it with the coverage and the accuracy above and below it."""
    from sklearn.isotonic import IsotonicRegression

    scored = []
    for r, probs, x in items:
        cls, post = pool_decision(pv.log_pool(probs, x), _model_anchor(r.get("anchor")), None)
        pg = sum(v for c, v in post.items() if group_of(c) == group_of(cls))
        scored.append((pg, float(group_of(cls) == group_of(class_of(r)))))
    p = np.asarray([s[0] for s in scored])
    ok = np.asarray([s[1] for s in scored])
    iso = IsotonicRegression(increasing=True, out_of_bounds="clip").fit(p, ok)
    grid = np.unique(p)
    good = grid[iso.predict(grid) >= ABSTAIN_BELOW_ACC]
    line = 0.0 if not good.size or good[0] <= grid[0] else round(float(good[0]), 4)
    above, below = ok[p >= line], ok[p < line]
    return line, {"abstain_below": line, "coverage": round(float(above.size / max(1, ok.size)), 4),
                  "acc_answered": round(float(above.mean()), 4) if above.size else None,
                  "acc_abstained": round(float(below.mean()), 4) if below.size else None}


def expert_training_data(variant: str, d: Path, rows: list[dict], workers: int = 2) -> np.ndarray:
    """The levels expert's features of training rows (:func:`fit_all`, step 1)."""
    if variant == "stems":
        return np.asarray([stem_level_features(r["true_levels"], r["anchor"]) for r in rows], dtype=np.float64)
    if variant == "separated":
        rng, sig = np.random.default_rng(0), separation_sigmas()
        return np.asarray([stem_level_features(noisy_levels(r["true_levels"], rng, sig), r["anchor"])
                           for _ in range(AUGMENT_COPIES) for r in rows], dtype=np.float64)
    dsp = DspSystem()
    dsp.cache_dir = d / "judge_cache"
    dsp.workers = int(workers)
    dsp.progress = True
    feats = dsp.ensure_features(rows, d)
    return np.asarray([mix_level_features(list(a), r["anchor"]) for a, r in zip(feats, rows)], dtype=np.float64)


def pooled_inputs(system_cls, rows, corpus_dir, weights, variant: str | None = None) -> list[tuple[dict, dict, list[float]]]:
    """(row, model posterior, levels features) of the rows, through the agent's own steps; with
    ``variant``, only the rows the agent reads with that variant (a separation flagged as failed
    is read with the mix-only estimate instead)."""
    s = system_cls(weights=weights, use_judge=False)
    s.cache_dir = Path(corpus_dir) / "judge_cache"
    s.progress = True
    s.prepare(rows, corpus_dir)
    return [(r, s._listens[r["id"]]["class_probs"], s.features[r["id"]][1])
            for r in rows if r["id"] in s.features and r["id"] in s._listens
            and (variant is None or s.features[r["id"]][0] == variant)]


def joint_accuracy(pv: PoolVariant, items) -> float:
    hits = 0
    for r, probs, x in items:
        cls, _ = pool_decision(pv.log_pool(probs, x), _model_anchor(r.get("anchor")), None)
        hits += group_of(cls) == group_of(class_of(r))
    return hits / max(1, len(items))


def fit_all(data_dirs, split: str, weights, out: Path | None, seed: int = 0, min_rows: int = 50,
            workers: int = 2, variants: tuple[str, ...] = ("mix", "stems", "separated"),
            sep_limit: int | None = None) -> dict:
    """Fit the judge's variants, write it to ``out`` (default ``<weights>/balance_judge.json``,
    keeping the variants not refitted now) and return its metadata.

    Two steps per variant (``mix``: the mix-only estimate; ``stems``: whole-clip stem levels;
    ``separated``: whole-clip levels of stems separated from the mix):

    1. the levels expert, a multinomial logistic regression from the measured levels to the
       published class, fitted on the corpora's *train* clips (for ``mix`` the mix-only estimate
       of every training mix, cached like the ``dsp`` baseline's features; for ``stems`` the
       rows' ``true_levels``, the same whole-clip measurement the agent makes on a user's
       stems);
    2. the pool weights (audio model, levels expert), chosen on the ``split`` clips (default
       ``val``: never seen by the audio model in training) from :data:`W_GRID`, by joint
       accuracy; there the agent's own steps give the inputs: the model's posterior as the
       listen node asks for it, the estimate (``mix``) or the stems' levels (``stems``, corpora
       built with ``--keep-stems``).

    For ``separated`` two experts are candidates, both fitted on training rows' true levels
    (separating thousands of training clips would cost hours): one on the exact levels, one with
    separation errors added (:func:`noisy_levels`, ``AUGMENT_COPIES`` noisy copies per row); the
    ``stems`` variant's expert (fitted on its own training clips) is a third. The expert and the
    pool weights are chosen together on validation clips really separated (``agent-sep``'s
    steps), and so is the line under which the judge abstains (:func:`abstain_line`).
    """
    train_X: dict[str, list[np.ndarray]] = {v: [] for v in variants}
    train_y: dict[str, list[str]] = {v: [] for v in variants}
    val: dict[str, list] = {v: [] for v in variants}
    exact_X: list[np.ndarray] = []
    exact_y: list[str] = []
    for d in data_dirs:
        d = Path(d)
        all_rows = load_manifest(d)
        train = [r for r in all_rows if r.get("split") == "train"]
        rows = [r for r in all_rows if r.get("split") == split]
        if not rows:
            raise InvalidArgumentError(f"no rows in split {split!r} of {d}")
        if not train:
            raise InvalidArgumentError(f"no train rows in {d} to fit the levels expert on")
        for variant in variants:
            cls = VARIANT_SYSTEMS[variant]
            train_X[variant].append(expert_training_data(variant, d, train, workers))
            train_y[variant] += [class_of(r) for r in train] * (AUGMENT_COPIES if variant == "separated" else 1)
            if variant == "separated":  # the exact-level expert is the other candidate
                exact_X.append(expert_training_data("stems", d, train, workers))
                exact_y.extend(class_of(r) for r in train)
            if variant == "mix":
                use = rows
            elif variant == "separated":  # each validation clip is separated once (cached beside the corpus)
                use = rows if sep_limit is None else _seeded_sample(rows, sep_limit, seed)
            else:
                use = [r for r in rows if r.get("stem_paths")]
            if not use:
                print(f"{d}: no stems kept for {split}; the stems pool is chosen without it", file=sys.stderr)
                continue
            val[variant] += pooled_inputs(cls, use, d, weights, variant)
    models, report = {}, {}
    old = None
    if out is None and judge_path(weights).is_file():
        old = BalanceJudge.from_file(judge_path(weights))  # variants not refitted now are kept
    for variant in variants:
        items = val[variant]
        if len(items) < min_rows:
            print(f"{variant}: only {len(items)} {split} rows with the model's posterior; not fitted",
                  file=sys.stderr)
            continue
        X = np.concatenate(train_X[variant])
        candidates = {"noise-augmented" if variant == "separated" else "fitted":
                      fit_judge_model(variant, X, train_y[variant], C=EXPERT_C, seed=seed)}
        if variant == "separated":  # separated levels read by an expert fitted on exact levels
            candidates["exact levels"] = fit_judge_model(variant, np.concatenate(exact_X), exact_y, C=EXPERT_C,
                                                         seed=seed)
            stems_pv = models.get("stems") or (old.models.get("stems") if old is not None else None)
            if stems_pv is not None:  # the with-stems expert (its own training clips, often more)
                candidates["stems variant's expert"] = stems_pv.expert
        n_train = {"noise-augmented": len(train_y[variant]) // AUGMENT_COPIES, "exact levels": len(exact_y)}
        if old is not None and "stems" not in models:
            n_train["stems variant's expert"] = ((old.meta.get("variants_report") or {}).get("stems") or {}).get(
                "n_train_rows")
        elif "stems" in models:
            n_train["stems variant's expert"] = len(train_y["stems"])
        scores = {}
        for name, expert in candidates.items():
            for wm in W_GRID:
                for we in W_GRID:
                    if wm or we:
                        scores[(name, wm, we)] = joint_accuracy(PoolVariant(expert, wm, we), items)
        # the best expert and pool; ties go to the weights nearest (1, 1)
        key = max(scores, key=lambda k: (round(scores[k], 6), -abs(k[1] - 1) - abs(k[2] - 1)))
        chosen, best = key[0], key[1:]
        expert = candidates[chosen]
        grid = {k[1:]: v for k, v in scores.items() if k[0] == chosen}
        models[variant] = PoolVariant(expert, *best)
        abstain = {}
        if variant == "separated":
            models[variant].abstain_below, abstain = abstain_line(models[variant], items)
        model_alone = max(v for (wm, we), v in grid.items() if we == 0)
        levels_alone = max(v for (wm, we), v in grid.items() if wm == 0)
        report[variant] = {"fitted_on": [str(Path(d)) for d in data_dirs], "split": split,
                           "n_train_rows": n_train.get(chosen, len(train_y[variant])), "n_val_rows": len(items),
                           "n_val_songs": len({r["song_id"] for r, _, _ in items}),
                           "expert": chosen, "w_model": best[0], "w_levels": best[1],
                           "val_joint_by_expert": {n: round(max(v for k, v in scores.items() if k[0] == n), 4)
                                                   for n in candidates},
                           "val_joint_pool": round(grid[best], 4), "val_joint_model_alone": round(model_alone, 4),
                           "val_joint_levels_alone": round(levels_alone, 4), **abstain}
        print(f"{variant}: levels expert ({chosen}) on {n_train.get(chosen, len(train_y[variant]))} train rows; pool weights "
              f"model {best[0]}, levels {best[1]} on {len(items)} {split} rows: joint "
              f"{100 * grid[best]:.1f}% (model alone {100 * model_alone:.1f}, levels alone "
              f"{100 * levels_alone:.1f})", file=sys.stderr)
    if not models:
        raise InvalidArgumentError("no variant could be fitted (no rows with the model's posterior)")
    if old is not None:
        for v, m in old.models.items():
            if v not in models:
                models[v] = m
                report[v] = (old.meta.get("variants_report") or {}).get(v)
    meta = {"fitted_on": [str(Path(d)) for d in data_dirs], "split": split, "seed": seed,
            "weights_fingerprint": weights_fingerprint(weights),
            "date": _dt.date.today().isoformat(), "variants_report": report, "classes": list(CLASSES),
            "about": "MixingBuddy balance judge: a product of experts of the audio model's posterior and "
                     "a levels classifier (agent/balance_judge.py)"}
    judge = BalanceJudge(models, meta)
    path = Path(out) if out else judge_path(weights)
    judge.save(path)
    print(f"balance judge -> {path}", file=sys.stderr)
    return meta


def fit_abstention(data_dirs, split: str, weights, variants: tuple[str, ...]) -> dict:
    """Set only the line under which each variant says "no confident call" (:func:`abstain_line`),
    on the ``split`` clips, keeping the fitted experts and pool weights; returns the lines."""
    path = judge_path(weights)
    judge = BalanceJudge.from_file(path)
    out = {}
    for variant in variants:
        items = []
        for d in data_dirs:
            rows = [r for r in load_manifest(Path(d)) if r.get("split") == split]
            if variant == "stems":
                rows = [r for r in rows if r.get("stem_paths")]
            if rows:
                items += pooled_inputs(VARIANT_SYSTEMS[variant], rows, d, weights, variant)
        if not items:
            continue
        line, report = abstain_line(judge.models[variant], items)
        judge.models[variant].abstain_below = line
        judge.meta.setdefault("variants_report", {}).setdefault(variant, {}).update(
            {**report, "abstain_fitted_on": [str(Path(d)) for d in data_dirs], "abstain_split": split,
             "abstain_n_rows": len(items)})
        out[variant] = report
        print(f"{variant}: no confident call under {line:.2f} ({len(items)} {split} rows): {report}", file=sys.stderr)
    judge.save(path)
    return out


def _seeded_sample(rows: list[dict], n: int, seed: int) -> list[dict]:
    if len(rows) <= n:
        return rows
    keep = np.sort(np.random.default_rng([seed, 11]).choice(len(rows), n, replace=False))
    return [rows[i] for i in keep]


def cmd_fit_judge(args) -> int:
    if args.abstain_only:
        fit_abstention(args.data, args.split, args.weights, tuple(args.variants.split(",")))
        return 0
    fit_all(args.data, args.split, args.weights, Path(args.out) if args.out else None, args.seed,
            workers=args.workers, variants=tuple(args.variants.split(",")), sep_limit=args.sep_limit)
    return 0


def add_fit_judge_parser(eval_subparsers) -> argparse.ArgumentParser:
    p = eval_subparsers.add_parser(
        "fit-judge", help="fit the agent's balance judge (levels expert on train, pool weights on val)",
        description="Fit the balance judge: a levels expert on the train clips, the pool weights with the "
                    "audio model on clips it never trained on.")
    p.add_argument("--data", action="append", required=True, metavar="DIR", help="corpus folder (repeat)")
    p.add_argument("--split", default="val", choices=["val", "test"],
                   help="rows that choose the pool weights (default val: never seen by the audio model)")
    p.add_argument("--weights", metavar="DIR", help="audio-model folder (default: the shipped weights)")
    p.add_argument("--out", metavar="FILE", help="where to write the judge (default <weights>/balance_judge.json)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="processes for the training mixes' estimates")
    p.add_argument("--variants", default="mix,stems,separated",
                   help="variants to fit (default all; the others already in the file are kept)")
    p.add_argument("--abstain-only", action="store_true",
                   help="refit only the line under which each variant makes no confident call")
    p.add_argument("--sep-limit", type=int, default=None, metavar="N",
                   help="separate at most N validation clips per corpus for the 'separated' variant (seeded)")
    p.set_defaults(func=cmd_fit_judge)
    return p
