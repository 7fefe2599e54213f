"""Balance-benchmark metrics, as in the MixingBuddy-gain study, plus a norm-referenced score.

Input: pairs ``(row, parsed)`` of a corpus manifest row (its ``published`` and ``norm``
labels) and the :class:`~mixingbuddy.model.data.advice_parser.ParsedAdvice` of a system's text;
:func:`compute_metrics` defines every metric. Pure functions; no I/O.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from ..model.data.advice_parser import ParsedAdvice
from ..model.data.templates import CATEGORIES, CORRECTION_RANGES_DB
from ..model.data.templates import STEMS as TARGET_STEMS

DIRECTIONS = ("increase", "decrease")
_SIGN = {"increase": "+", "decrease": "-"}
TRUE_CLASSES = ("no_error",) + tuple(f"{s}{_SIGN[d]}" for s in TARGET_STEMS for d in DIRECTIONS)
PRED_CLASSES = ("no_adjustment",) + TRUE_CLASSES[1:] + ("unclear",)


# --------------------------------------------------------------------------- per row

def truth_of(row: dict) -> dict:
    """The published and norm-referenced truth of a manifest row, flattened."""
    pub = row["published"]
    cat = pub["category"]
    rng = pub.get("correction_range_db")
    if rng is None and cat in CORRECTION_RANGES_DB:
        rng = CORRECTION_RANGES_DB[cat]
    norm = row.get("norm") or {}
    return {
        "category": cat,
        "is_error": cat != "no_error",
        "target": pub.get("target") if cat != "no_error" else None,
        "direction": pub.get("direction") if cat != "no_error" else None,
        "correction_range_db": tuple(float(v) for v in rng) if rng else None,
        "gain_db": float(pub.get("gain_db") or 0.0),
        "norm_label": norm.get("label"),
        "norm_direction": norm.get("direction"),
    }


def magnitude_overlaps(pred: tuple[float, float] | None, true: tuple[float, float] | None) -> bool:
    """Predicted range overlaps the true one by a positive length, or a point lies inside (ends
    included). Touching at one end does not count: "6-12 dB" for a 3-6 dB fix is wrong."""
    if pred is None or true is None:
        return False
    a, b = sorted(pred)
    lo, hi = sorted(true)
    if a == b:
        return lo <= a <= hi
    return min(b, hi) - max(a, lo) > 0


def predicted_class(p: ParsedAdvice) -> str:
    """Column of the confusion matrix for a parsed prediction."""
    if p.no_adjustment:
        return "no_adjustment"
    if p.stem in TARGET_STEMS and p.direction in DIRECTIONS:
        return f"{p.stem}{_SIGN[p.direction]}"
    return "unclear"


def true_class(t: dict) -> str:
    if not t["is_error"]:
        return "no_error"
    return f"{t['target']}{_SIGN[t['direction']]}"


def score_row(row: dict, p: ParsedAdvice, p_norm: ParsedAdvice | None = None) -> dict:
    """Correctness flags of one prediction (None where a flag does not apply). ``p_norm``: the
    system's answer to the norm-referenced question when it gives one apart (default ``p``)."""
    t = truth_of(row)
    claims = p.is_error_claim
    if t["is_error"]:
        joint = claims and p.stem == t["target"] and p.direction == t["direction"]
        stem = p.stem == t["target"] and claims
        direction = p.direction == t["direction"] and claims
        mag = magnitude_overlaps(p.magnitude_db, t["correction_range_db"])
        mag_exact = (p.magnitude_db is not None and t["correction_range_db"] is not None
                     and tuple(sorted(p.magnitude_db)) == tuple(sorted(t["correction_range_db"])))
        g = abs(t["gain_db"])
        mag_cover = p.magnitude_db is not None and min(p.magnitude_db) <= g <= max(p.magnitude_db)
    else:
        joint = p.no_adjustment
        stem = direction = mag = mag_exact = mag_cover = None
    norm = None
    q = p if p_norm is None else p_norm
    if t["norm_label"] is not None:
        if t["norm_label"] == "balanced":
            norm = q.no_adjustment
        else:
            want = "increase" if t["norm_direction"] == "too_quiet" else "decrease"
            norm = q.is_error_claim and q.stem == t["norm_label"] and q.direction == want
    return {"joint": bool(joint), "stem": stem, "direction": direction, "magnitude": mag,
            "magnitude_exact": mag_exact, "magnitude_covers_gain": mag_cover,
            "norm": norm, "true_class": true_class(t), "pred_class": predicted_class(p)}


# --------------------------------------------------------------------------- aggregates

def _mean(flags: Iterable) -> float | None:
    vals = [bool(f) for f in flags if f is not None]
    return sum(vals) / len(vals) if vals else None


def prf(tp: int, fp: int, fn: int) -> dict:
    """Precision, recall, F1 (0 where a denominator is 0) with the counts."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "tp": tp, "fp": fp, "fn": fn, "support": tp + fn}


def _per_class_prf(true: Sequence, pred: Sequence, classes: Sequence[str]) -> dict:
    out = {}
    for c in classes:
        tp = sum(1 for a, b in zip(true, pred) if a == c and b == c)
        fp = sum(1 for a, b in zip(true, pred) if a != c and b == c)
        fn = sum(1 for a, b in zip(true, pred) if a == c and b != c)
        out[c] = prf(tp, fp, fn)
    macro = {k: sum(out[c][k] for c in classes) / len(classes) for k in ("precision", "recall", "f1")}
    return {"per_class": out, "macro": macro}


def _breakdown(scores: list[dict]) -> dict:
    return {"n": len(scores),
            "joint": _mean(s["joint"] for s in scores),
            "stem": _mean(s["stem"] for s in scores),
            "direction": _mean(s["direction"] for s in scores),
            "magnitude": _mean(s["magnitude"] for s in scores),
            "norm": _mean(s["norm"] for s in scores)}


def compute_metrics(pairs: Sequence[tuple[dict, ParsedAdvice]]) -> dict:
    """Every metric for a list of (manifest row, parsed advice), or of (row, advice, answer to
    the norm-referenced question) for systems that answer it apart.

    Notes
    -----
    Definitions (``error rows`` = rows whose published category is not ``no_error``):

    - **joint accuracy** (all rows): an error row is right when the predicted stem is the target
      and the predicted direction is the corrective direction (and the text is not a
      no-adjustment statement); a ``no_error`` row is right when the text says no adjustment.
    - **stem / direction accuracy** (error rows): the predicted stem (direction) equals the
      target (corrective direction), whatever the other field says.
    - **magnitude accuracy** (error rows): the predicted range ``[a, b]`` overlaps the true
      correction range ``[lo, hi]`` (``CORRECTION_RANGES_DB`` of the category) by a positive length,
      or, for a single value ``a == b``, lies inside ``[lo, hi]`` (ends included). Touching at one
      end does not count: "6-12 dB" for a 3-6 dB fix is wrong. No magnitude = wrong. Two stricter
      variants are reported too: ``exact`` (the same range) and ``covers_gain`` (the range contains
      the magnitude of the applied flaw gain).
    - **error detection** P/R/F1: positive class = error row; a prediction is positive when the text
      claims a change (names a stem or a direction and is not a no-adjustment statement).
    - **stem identification** P/R/F1 per stem of bass/drums/vocals over all rows: TP = target s and
      predicted s; FP = predicted s on a row whose target is not s (``no_error`` rows included);
      FN = target s and not predicted s. Macro = unweighted mean over the three stems.
    - **direction** P/R/F1 per direction (increase/decrease), same construction, macro over both.
      Zero denominators give 0 (as sklearn's ``zero_division=0``).
    - **norm-referenced accuracy** (all rows): the prediction against the ``norm`` label:
      ``balanced`` <-> no adjustment; otherwise the stem must be the label and the direction must
      undo it (``too_quiet`` -> increase, ``too_loud`` -> decrease).
    - **confusion matrix**: rows = true class (``no_error`` or target stem with the corrective
      direction, e.g. ``vocals+`` = vocals need raising), columns = predicted class (the same six
      stem/direction classes, ``no_adjustment`` and ``unclear``: unparsed, stem or direction
      missing, or "other").
    """
    truths = [truth_of(x[0]) for x in pairs]
    preds = [x[1] for x in pairs]
    scores = [score_row(*x) for x in pairs]
    err = [s for s, t in zip(scores, truths) if t["is_error"]]
    ok_rows = [s for s, t in zip(scores, truths) if not t["is_error"]]

    det_tp = sum(1 for t, p in zip(truths, preds) if t["is_error"] and p.is_error_claim)
    det_fp = sum(1 for t, p in zip(truths, preds) if not t["is_error"] and p.is_error_claim)
    det_fn = sum(1 for t, p in zip(truths, preds) if t["is_error"] and not p.is_error_claim)

    true_stem = [t["target"] for t in truths]
    pred_stem = [p.stem if p.is_error_claim else None for p in preds]
    true_dir = [t["direction"] for t in truths]
    pred_dir = [p.direction if p.is_error_claim else None for p in preds]

    by_cat = defaultdict(list)
    by_target = defaultdict(list)
    by_dir = defaultdict(list)
    for s, t in zip(scores, truths):
        by_cat[t["category"]].append(s)
        if t["is_error"]:
            by_target[t["target"]].append(s)
            by_dir[t["direction"]].append(s)
    norm_bal = [s for s, t in zip(scores, truths) if t["norm_label"] == "balanced"]
    norm_unbal = [s for s, t in zip(scores, truths)
                  if t["norm_label"] is not None and t["norm_label"] != "balanced"]

    cm = {a: {b: 0 for b in PRED_CLASSES} for a in TRUE_CLASSES}
    for s in scores:
        cm[s["true_class"]][s["pred_class"]] += 1
    cat_dir = {c: Counter() for c in CATEGORIES}
    for t, p in zip(truths, preds):
        col = ("no_adjustment" if p.no_adjustment else p.direction if p.direction else "unclear")
        cat_dir.setdefault(t["category"], Counter())[col] += 1

    return {
        "n": len(pairs), "n_error": len(err), "n_no_error": len(ok_rows),
        "joint_accuracy": _mean(s["joint"] for s in scores),
        "stem_accuracy": _mean(s["stem"] for s in err),
        "direction_accuracy": _mean(s["direction"] for s in err),
        "magnitude_accuracy": _mean(s["magnitude"] for s in err),
        "magnitude_exact_accuracy": _mean(s["magnitude_exact"] for s in err),
        "magnitude_covers_gain_accuracy": _mean(s["magnitude_covers_gain"] for s in err),
        "no_error_accuracy": _mean(s["joint"] for s in ok_rows),
        "error_accuracy": _mean(s["joint"] for s in err),
        "unparsed_rate": (sum(1 for p in preds if p.is_unparsed) / len(preds)) if preds else None,
        "error_detection": prf(det_tp, det_fp, det_fn),
        "stem_identification": _per_class_prf(true_stem, pred_stem, TARGET_STEMS),
        "direction_identification": _per_class_prf(true_dir, pred_dir, DIRECTIONS),
        "norm_referenced_accuracy": _mean(s["norm"] for s in scores),
        "norm_referenced": {"balanced": _breakdown(norm_bal), "unbalanced": _breakdown(norm_unbal),
                            "n_labelled": len(norm_bal) + len(norm_unbal)},
        "by_category": {c: _breakdown(by_cat[c]) for c in CATEGORIES if c in by_cat},
        "by_target": {s: _breakdown(by_target[s]) for s in TARGET_STEMS if s in by_target},
        "by_direction": {d: _breakdown(by_dir[d]) for d in DIRECTIONS if d in by_dir},
        "confusion": {"rows": list(TRUE_CLASSES), "cols": list(PRED_CLASSES),
                      "matrix": [[cm[a][b] for b in PRED_CLASSES] for a in TRUE_CLASSES]},
        "category_vs_predicted_direction": {
            "rows": [c for c in CATEGORIES if c in cat_dir],
            "cols": ["no_adjustment", "increase", "decrease", "unclear"],
            "matrix": [[cat_dir[c][k] for k in ("no_adjustment", "increase", "decrease", "unclear")]
                       for c in CATEGORIES if c in cat_dir]},
    }


# --------------------------------------------------------------------------- rendering

def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def metrics_markdown(m: dict, title: str = "") -> str:
    """A readable markdown report of :func:`compute_metrics` output (percentages)."""
    lines = []
    if title:
        lines += [f"## {title}", ""]
    lines += [(f"{m['n']} samples ({m['n_error']} with a flaw, {m['n_no_error']} without). "
              "Accuracies and P/R/F1 in %."), "",
              "| metric | value |", "|---|---|"]
    for key, label in [("joint_accuracy", "joint (stem + direction)"),
                       ("stem_accuracy", "stem (flawed rows)"),
                       ("direction_accuracy", "direction (flawed rows)"),
                       ("magnitude_accuracy", "magnitude, range overlaps (flawed rows)"),
                       ("magnitude_exact_accuracy", "magnitude, exact range"),
                       ("magnitude_covers_gain_accuracy", "magnitude, covers applied gain"),
                       ("no_error_accuracy", "no-error rows: says no adjustment"),
                       ("norm_referenced_accuracy", "norm-referenced"),
                       ("unparsed_rate", "unparsed texts")]:
        lines.append(f"| {label} | {_pct(m[key])} |")
    d = m["error_detection"]
    lines.append(f"| error detection P / R / F1 | {_pct(d['precision'])} / {_pct(d['recall'])} / {_pct(d['f1'])} |")
    for key, label in [("stem_identification", "stem identification"),
                       ("direction_identification", "direction")]:
        mac = m[key]["macro"]
        per = ", ".join(f"{c} {_pct(v['f1'])}" for c, v in m[key]["per_class"].items())
        lines.append(f"| {label} macro P / R / F1 | {_pct(mac['precision'])} / {_pct(mac['recall'])} / "
                     f"{_pct(mac['f1'])} (F1: {per}) |")
    for key, label in [("by_category", "category"), ("by_target", "target stem"),
                       ("by_direction", "corrective direction")]:
        lines += ["", f"| {label} | n | joint | stem | direction | magnitude | norm |",
                  "|---|---|---|---|---|---|---|"]
        for name, b in m[key].items():
            lines.append(f"| {name} | {b['n']} | {_pct(b['joint'])} | {_pct(b['stem'])} | "
                         f"{_pct(b['direction'])} | {_pct(b['magnitude'])} | {_pct(b['norm'])} |")
    nb = m["norm_referenced"]
    lines += ["", (f"Norm-referenced: {_pct(nb['balanced']['norm'])} on {nb['balanced']['n']} rows "
              f"labelled balanced, {_pct(nb['unbalanced']['norm'])} on {nb['unbalanced']['n']} "
              "rows with a stem outside the professional p10-p90 range.")]
    c = m["confusion"]
    lines += ["", "Confusion (rows: true class, `+` = needs raising; columns: predicted):", "",
              "| true \\ pred | " + " | ".join(c["cols"]) + " |",
              "|---|" + "---|" * len(c["cols"])]
    for name, row in zip(c["rows"], c["matrix"]):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    c = m["category_vs_predicted_direction"]
    lines += ["", "| category \\ predicted | " + " | ".join(c["cols"]) + " |",
              "|---|" + "---|" * len(c["cols"])]
    for name, row in zip(c["rows"], c["matrix"]):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"
