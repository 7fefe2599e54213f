"""The balance judge: the audio model's class posterior and the measurements weighed together.

The balance question of the MixingBuddy-gain protocol ("relative to the anchor, which stem is
off, which way, by how much?") has 13 answers (:data:`CLASSES`). Two witnesses speak to it, the
audio model and a levels expert, and the judge is their product of experts (:class:`PoolVariant`).
Without a fitted judge (:func:`load_judge`) or without a model posterior, the agent keeps its
rule-based verdicts (:mod:`.claims`).
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..model.data.templates import CLASSES, STEMS, class_parts
from ..tools.io.audio import ALL_STEMS
from ..tools.measure.mix_estimate import ESTIMATE_ROLES

JUDGE_FILE = "balance_judge.json"
PROB_FLOOR = 1e-4  # log posterior floor: a class the model rules out still has a finite feature
MISSING_DB = -60.0  # stand-in for an undefined level; a flag feature says so
VARIANTS = ("mix", "stems", "separated")


# --------------------------------------------------------------------------- features

def _num(v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return MISSING_DB
    return f if math.isfinite(f) else MISSING_DB


def _get(obj, key: str, default=None):
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def posterior_features(class_probs: Mapping[str, float]) -> np.ndarray:
    """log p for each of the 13 classes (floored at ``PROB_FLOOR``)."""
    return np.asarray([math.log(max(float(class_probs.get(c, 0.0) or 0.0), PROB_FLOOR)) for c in CLASSES])


def _anchor_onehot(anchor: str | None) -> list[float]:
    return [1.0 if anchor == s else 0.0 for s in STEMS]


def estimate_vector(mix_estimate) -> list[float]:
    """Per role (drums, bass, vocals, other) the estimated level against the mix and the raw
    calibration feature (dB), from a :class:`~mixingbuddy.tools.measure.mix_estimate` result (the
    benchmark's ``dsp`` features, :func:`mixingbuddy.evals.systems.dsp_audio_features`)."""
    by = {_get(s, "role"): s for s in (_get(mix_estimate, "stems") or [])}
    f = []
    for role in ESTIMATE_ROLES:
        s = by.get(role)
        f += [_num(_get(s, "estimated_level_vs_mix_db")), _num(_get(s, "feature_db"))]
    return f


def mix_level_features(estimate: Sequence[float], anchor: str | None) -> list[float]:
    """The ``mix`` expert's features: the anchor, the 8 estimate values of
    :func:`estimate_vector`, and each benchmark stem's estimated level against the anchor's."""
    est = dict(zip(ESTIMATE_ROLES, list(estimate)[0::2]))
    a = est.get(anchor) if anchor else None
    return _anchor_onehot(anchor) + [float(v) for v in estimate] + [
        (est[s] - a) if a is not None else 0.0 for s in STEMS]


def stem_level_features(levels: Mapping[str, Mapping], anchor: str | None) -> list[float]:
    """The ``stems`` expert's features from whole-clip levels (:mod:`mixingbuddy.tools.measure.clip_levels`
    output, or a corpus row's ``true_levels``, the same measurement): the anchor; per stem
    (bass, drums, vocals, other) its level against the rest and against the mix (dB) and a flag
    when undefined; per benchmark stem its RMS against the anchor's."""
    f = _anchor_onehot(anchor)
    for s in ALL_STEMS:
        d = levels.get(s) or {}
        f += [_num(d.get("vs_rest_db")), _num(d.get("vs_mix_db")), 1.0 if d.get("vs_rest_db") is None else 0.0]
    a = (levels.get(anchor) or {}).get("rms_dbfs") if anchor else None
    for s in STEMS:
        own = (levels.get(s) or {}).get("rms_dbfs")
        f.append(_num(None if own is None or a is None else float(own) - float(a)))
    return f


# --------------------------------------------------------------------------- the fitted judge

@dataclass
class JudgeModel:
    """A levels expert: ``p(class | x) = softmax(W ((x - mean) / scale) + b)``.

    A multinomial logistic regression on the measured levels. Without stems (variant ``mix``)
    they are the mix-only estimate
    (:func:`mixingbuddy.tools.measure.mix_estimate.estimate_stem_levels`: each role's estimated
    level against the mix, its raw band feature, and the estimates against the anchor); with
    stems (variant ``stems``) the whole-clip levels of the stems
    (:mod:`mixingbuddy.tools.measure.clip_levels`: each stem against the rest and the mix, and
    against the anchor). It is fitted on the corpora's training clips; it never sees the audio
    model.
    """

    variant: str
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (13, F)
    intercept: np.ndarray  # (13,)

    def proba(self, x: Sequence[float]) -> np.ndarray:
        z = (np.asarray(x, dtype=np.float64) - self.mean) / self.scale
        logits = self.coef @ z + self.intercept
        logits -= logits.max()
        p = np.exp(logits)
        return p / p.sum()

    def to_json(self) -> dict:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.round(6).tolist(), "intercept": self.intercept.round(6).tolist()}

    @classmethod
    def from_json(cls, variant: str, d: dict) -> JudgeModel:
        m = cls(variant, np.asarray(d["mean"], float), np.asarray(d["scale"], float),
                np.asarray(d["coef"], float), np.asarray(d["intercept"], float))
        if m.coef.shape != (len(CLASSES), m.mean.size) or m.intercept.shape != (len(CLASSES),) \
                or m.scale.shape != m.mean.shape:
            raise ValueError(f"balance judge '{variant}': coefficient shapes do not match its features")
        return m


def fit_judge_model(variant: str, X: np.ndarray, y: Sequence[str], C: float = 1.0, seed: int = 0) -> JudgeModel:
    """Fit a levels expert (standardisation + L2 multinomial logistic regression, scikit-learn)."""
    from sklearn.linear_model import LogisticRegression

    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale < 1e-9] = 1.0
    idx = np.asarray([CLASSES.index(c) for c in y])
    clf = LogisticRegression(C=float(C), max_iter=5000, random_state=seed)
    clf.fit((X - mean) / scale, idx)
    coef = np.zeros((len(CLASSES), X.shape[1]))
    icpt = np.full(len(CLASSES), -30.0)  # a class never seen in fitting: never chosen
    for k, ci in enumerate(clf.classes_):
        coef[ci] = clf.coef_[k] if len(clf.classes_) > 2 else (clf.coef_[0] if k else -clf.coef_[0])
        icpt[ci] = clf.intercept_[k] if len(clf.classes_) > 2 else (clf.intercept_[0] if k else -clf.intercept_[0])
    return JudgeModel(variant, mean, scale, coef, icpt)


def valid_classes(anchor: str | None, present: Sequence[str] | None) -> list[str]:
    """Classes that answer the question: no_error, or a bench stem that is present and not the
    anchor."""
    pres = set(present) if present else set(STEMS)
    ok = {s for s in STEMS if s != anchor and s in pres}
    return [c for c in CLASSES if c == "no_error" or c.split(":")[1] in ok]


@dataclass
class Judgement:
    """The judge's answer: the chosen class, its probability and the posterior (valid classes,
    renormalised)."""

    variant: str
    cls: str
    p: float
    posterior: dict[str, float]
    uses_model: bool = True  # False when the pool gives the audio model no weight
    abstain: bool = False  # the reading's stem-and-direction probability is under the calibrated line
    p_group: float | None = None  # probability of the reading's stem and direction (both sizes)

    @property
    def stem(self) -> str | None:
        return class_parts(self.cls)[0]

    @property
    def direction(self) -> str | None:
        return class_parts(self.cls)[1]

    def to_json(self) -> dict:
        return {"variant": self.variant, "class": self.cls, "p": round(self.p, 4), "uses_model": self.uses_model,
                "abstain": self.abstain, "p_group": None if self.p_group is None else round(self.p_group, 4),
                "posterior": {k: round(v, 4) for k, v in self.posterior.items()}}


@dataclass
class PoolVariant:
    """One variant of the judge: the levels expert and the two pool weights.

    The 13 classes are ``no_error`` and ``<category>:<stem>`` for the four flaw categories (very
    quiet -12..-6 dB, quiet -6..-3, loud +3..+6, very loud +6..+12) on bass, drums or vocals.
    The judge is a product of experts (Hinton 2002, "Training products of experts"; a
    logarithmic opinion pool)::

        log p(class) = w_model * log p_model(class) + w_levels * log p_levels(class) + const

    ``p_model`` is the audio model's auxiliary classifier posterior over the 13 classes
    (:attr:`mixingbuddy.model.listen.ListenResult.class_probs`), ``p_levels`` the levels
    expert's (:class:`JudgeModel`). ``w_model`` and ``w_levels`` are chosen on the validation
    clips (which the audio model never trained on), so the pool trusts the model only as far as
    it earns it on unseen audio.
    """

    expert: JudgeModel
    w_model: float
    w_levels: float
    abstain_below: float = 0.0  # say "cannot tell" when the reading's group probability is under this

    def log_pool(self, class_probs: Mapping[str, float], x: Sequence[float]) -> np.ndarray:
        return (self.w_model * posterior_features(class_probs)
                + self.w_levels * np.log(np.maximum(self.expert.proba(x), PROB_FLOOR)))

    def to_json(self) -> dict:
        return {"w_model": self.w_model, "w_levels": self.w_levels, "abstain_below": self.abstain_below,
                "expert": self.expert.to_json()}

    @classmethod
    def from_json(cls, variant: str, d: dict) -> PoolVariant:
        return cls(JudgeModel.from_json(variant, d["expert"]), float(d["w_model"]), float(d["w_levels"]),
                   float(d.get("abstain_below", 0.0)))


def pool_decision(log_pool: np.ndarray, anchor: str | None, present: Sequence[str] | None) -> tuple[str, dict]:
    """The decided class and the posterior over the valid classes of a pooled log score.

    Only classes valid for the question are chosen (:func:`valid_classes`: the target must be
    one of bass/drums/vocals, present, and not the anchor). The answer is the
    stem-and-direction group with the most probability (what the protocol's joint accuracy
    scores), then the likelier size in it (:func:`decide`).
    """
    valid = valid_classes(anchor, present)
    z = np.asarray([log_pool[CLASSES.index(c)] for c in valid], dtype=np.float64)
    z = np.exp(z - z.max())
    post = {c: float(v) for c, v in zip(valid, z / z.sum())}
    return decide(post), post


class BalanceJudge:
    """The fitted variants read from ``balance_judge.json`` (``mix`` and/or ``stems``)."""

    def __init__(self, models: dict[str, PoolVariant], meta: dict | None = None):
        self.models = models
        self.meta = meta or {}

    @classmethod
    def from_file(cls, path: str | Path) -> BalanceJudge:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        if tuple(d.get("classes", ())) != CLASSES:
            raise ValueError(f"{path}: the judge's classes are not {CLASSES}")
        models = {v: PoolVariant.from_json(v, m) for v, m in (d.get("variants") or {}).items() if v in VARIANTS}
        return cls(models, {k: v for k, v in d.items() if k != "variants"})

    def save(self, path: str | Path) -> None:
        d = dict(self.meta)
        d["classes"] = list(CLASSES)
        d["variants"] = {v: m.to_json() for v, m in self.models.items()}
        tmp = Path(path).with_suffix(".tmp")
        tmp.write_text(json.dumps(d, indent=1), encoding="utf-8")
        tmp.replace(path)

    def judge(self, variant: str, class_probs: Mapping[str, float], x: Sequence[float], anchor: str | None,
              present: Sequence[str] | None) -> Judgement | None:
        m = self.models.get(variant)
        if m is None and variant == "separated":  # a judge fitted before separation: the stems expert
            m = self.models.get("stems")
        if m is None:
            return None
        cls, post = pool_decision(m.log_pool(class_probs, x), anchor, present)
        p_group = sum(v for c, v in post.items() if group_of(c) == group_of(cls))
        return Judgement(variant, cls, post[cls], post, uses_model=m.w_model > 0,
                         abstain=p_group < m.abstain_below, p_group=p_group)


def group_of(cls: str) -> str:
    """The benchmark's joint answer of a class: ``no_error`` or ``<stem><+|->`` (stem and the
    corrective direction; the two sizes of one direction answer it alike)."""
    stem, direction, _ = class_parts(cls)
    return cls if stem is None else stem + ("+" if direction == "increase" else "-")


def decide(posterior: Mapping[str, float]) -> str:
    """The class to answer with: the (stem, direction) group with the most probability (the
    published protocol scores stem and direction jointly), then the more probable size within
    it. Ties go to the earlier class."""
    groups: dict[str, float] = {}
    for c, p in posterior.items():
        groups[group_of(c)] = groups.get(group_of(c), 0.0) + p
    order = {g: min(CLASSES.index(c) for c in posterior if group_of(c) == g) for g in groups}
    best = max(groups, key=lambda g: (groups[g], -order[g]))
    members = [c for c in posterior if group_of(c) == best]
    return max(members, key=lambda c: (posterior[c], -CLASSES.index(c)))


_CACHE: dict[str, BalanceJudge | None] = {}


def judge_path(weights: str | Path | None) -> Path:
    """Where the judge of a weights folder lives (default: the shipped weights)."""
    if weights is None:
        from ..model.listen import DEFAULT_WEIGHTS

        weights = DEFAULT_WEIGHTS
    return Path(weights) / JUDGE_FILE


def load_judge(weights: str | Path | None = None) -> BalanceJudge | None:
    """The judge fitted for ``weights`` (cached), or None when that folder has none or it is
    unreadable (the agent then keeps its rule-based verdicts). The coefficients are a small JSON
    file beside the audio-model weights they were fitted for (``balance_judge.json``;
    ``mixingbuddy eval fit-judge`` writes it)."""
    p = judge_path(weights)
    key = str(p)
    if key not in _CACHE:
        try:
            _CACHE[key] = BalanceJudge.from_file(p) if p.is_file() else None
        except (OSError, ValueError, KeyError, TypeError) as e:
            import logging

            logging.getLogger("mixingbuddy.agent").warning("balance judge %s unreadable: %s", p, e)
            _CACHE[key] = None
    return _CACHE[key]


def features_for(class_probs: Mapping[str, float] | None, report, anchor: str | None,
                 present: Sequence[str] | None) -> tuple[str, list[float]] | None:
    """(variant, levels-expert features) of one review: ``stems`` when the report has a stem
    balance with whole-clip levels (``separated`` when the stems were separated from the mix and
    none of bass, drums, vocals looks badly separated), else ``mix`` on the mix-only estimate;
    None without a posterior, a model anchor (bass, drums or vocals) or either measurement."""
    if not class_probs or anchor not in STEMS:
        return None
    sb = _get(report, "stem_balance")
    if sb is not None and _get(sb, "source") == "separated" and any(
            _get(st, "separation_suspect") and (_get(st, "role") or _get(st, "name")) in STEMS
            for st in (_get(sb, "stems") or [])):
        sb = None  # a stem looks badly separated: the judge falls back to the mix-only estimate
    if sb is not None:
        levels = _get(sb, "clip_levels")
        variant = "separated" if _get(sb, "source") == "separated" else "stems"
        return (variant, stem_level_features(levels, anchor)) if levels else None
    est = _get(report, "mix_estimate")
    if est is not None:
        return "mix", mix_level_features(estimate_vector(est), anchor)
    return None


__all__ = ["BalanceJudge", "JUDGE_FILE", "Judgement", "PoolVariant", "decide", "estimate_vector",
           "features_for", "fit_judge_model", "group_of", "judge_path", "load_judge",
           "mix_level_features", "pool_decision", "stem_level_features", "valid_classes"]
