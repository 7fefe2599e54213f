"""The audio model's balance claim: parse it, check it against the tools, give it a verdict.

:func:`parse_claim` reads the model's text, :func:`verify_claim` checks it against the stem
measurements (or the mix-only estimate), and :func:`balance_verdict` turns a checked review into
one sentence in the benchmark's wording.
"""
from __future__ import annotations

from typing import Any

from ..model.data.advice_parser import parse_advice
from ..model.data.templates import class_parts
from ..tools.measure.analyze import AnalysisReport
from .findings import balance_stem_sentence, cap, joint_moves, moves_words, stem_word
from .numbers import Ledger
from .schema import Claim, Evidence

MAGNITUDE_TOLERANCE_DB = 1.0
BENCHMARK_STEMS = ("bass", "drums", "vocals")
BIG_MOVE_DB = 6.0  # the benchmark's boundary between the 3-6 dB and 6-12 dB corrections


def low(s: str) -> str:
    return s[:1].lower() + s[1:]


def parse_claim(text: str) -> Claim:
    """The model's text as a Claim (stem, corrective direction, size, or "no adjustment").

    Parsing is the deterministic parser of the advice language (``model.data.advice_parser``,
    which the benchmark imports too), so the agent reads the model exactly as the benchmark
    scores it.
    """
    p = parse_advice(text or "")
    return Claim(text=text or "", stem=p.stem, direction=p.direction,
                 magnitude_db=tuple(p.magnitude_db) if p.magnitude_db else None,
                 no_adjustment=p.no_adjustment)


def _measured_direction(status: str) -> str | None:
    return {"too_quiet": "increase", "too_loud": "decrease"}.get(status)


def verify_claim(claim: Claim, rep: AnalysisReport) -> Claim:
    """``claim`` with its verdict, its evidence and a note (numbers via a Ledger).

    Notes
    -----
    With stems, ``measure_stem_balance`` decides (status from the stem's level against the power
    sum of the other stems, placed in the professional p10-p90 range):

    - **confirmed**: the claimed stem is outside the range in the claimed direction and the claimed
      size overlaps the measured one (the suggested move, from reaching the professional p25-p75
      band to reaching the median; ``MAGNITUDE_TOLERANCE_DB`` either way), or no size was claimed;
    - **adjusted**: right stem and direction, a different size: the measured size is given;
    - **refuted**: the stem is within the range, or outside it the opposite way;
    - **unverifiable**: no such stem, a silent stem, no reference for its role, or a claim that
      names no stem or direction.

    A "no adjustment" claim is confirmed when every judged stem is within range, refuted otherwise.

    Without stems, ``estimate_stem_levels`` (an estimate from the mix, with a confidence) is weaker
    evidence: it judges a stem only when its own confidence rule allows (status other than
    ``uncertain``); the claim is confirmed when the estimate puts the stem outside the range the
    claimed way, refuted when it puts it outside the other way, and otherwise stays unverifiable
    (inside the range is no disproof: a stem moved a few dB can stay inside the professional spread,
    and the estimate under-sizes differences, so its size is not checked either).
    """
    if rep.stem_balance is not None:
        return _verify_with_stems(claim, rep)
    if rep.mix_estimate is not None:
        return _verify_with_estimate(claim, rep)
    return claim.model_copy(update={"verdict": "unverifiable",
                                    "note": "no stem measurement was available to check it"})


def _done(claim: Claim, verdict: str, note: str, led: Ledger) -> Claim:
    return claim.model_copy(update={"verdict": verdict, "note": note, "evidence": list(led.items)})


def _verify_with_stems(claim: Claim, rep: AnalysisReport) -> Claim:
    B = rep.stem_balance
    led = Ledger()
    judged = [st for st in B.stems if st.status in ("within_range", "too_loud", "too_quiet")]
    if claim.no_adjustment:
        if not judged:
            return _done(claim, "unverifiable", "no stem could be compared with the professional range", led)
        out = [st for st in judged if st.status != "within_range"]
        if not out:
            parts = [f"{st.role or st.name} at {led.num(st.vs_rest.value_db, tool='stem_balance', quantity=f'{st.name}.level_vs_rest_power_sum_db', unit='dB')}"
                     for st in judged]
            return _done(claim, "confirmed", "every judged stem is within the professional range ("
                         + ", ".join(parts) + ")", led)
        worst = max(out, key=lambda st: st.distance_db or 0.0)
        word = "below" if worst.status == "too_quiet" else "above"
        return _done(claim, "refuted", low(balance_stem_sentence(led, worst)) + f", {word} that range", led)
    if claim.stem is None or claim.direction is None:
        return _done(claim, "unverifiable", "the model's text names no stem and direction to check", led)
    st = next((s for s in B.stems if (s.role or s.name) == claim.stem), None)
    if st is None:
        return _done(claim, "unverifiable", f"there is no {claim.stem} stem in this conversation", led)
    if st.status in ("silent", "no_reference") or st.vs_rest is None or st.vs_rest.value_db is None:
        return _done(claim, "unverifiable", f"the {claim.stem} stem could not be compared with the "
                     "professional range", led)
    if getattr(st, "separation_suspect", None):
        return _done(claim, "unverifiable", f"{st.separation_suspect}, so the separated {claim.stem} "
                     "cannot check it", led)
    sentence = low(balance_stem_sentence(led, st))
    measured = _measured_direction(st.status)
    if measured is None:
        return _done(claim, "refuted", sentence + ", inside that range", led)
    if measured != claim.direction:
        word = "below" if st.status == "too_quiet" else "above"
        return _done(claim, "refuted", sentence + f", {word} that range", led)
    sol = joint_moves(B)
    if sol is not None and st.name in sol.follow and all(m.stem != st.name for m in sol.moves):
        # one story: the level is as heard, but the fix is the other stems' move (see the balance finding)
        word = "below" if st.status == "too_quiet" else "above"
        movers = [m.stem for m in sol.moves]
        fix = " and ".join(moves_words(sol, {s.name: s for s in B.stems}))
        done = _done(claim, "confirmed", sentence + f", {word} that range, but only because of the other "
                     f"stems: {fix} brings {stem_word(st.role or st.name)} inside", led)
        return done.model_copy(update={"caused_by": movers})
    move = next((m for m in sol.moves if m.stem == st.name), None) if sol is not None else None
    if move is not None:  # the size of the review's own joint solution (the balance finding's numbers)
        lo, hi = sorted((abs(move.gain_db), abs(move.gain_max_db)))
        size = led.rng(lo, hi, tool="rule:joint_balance",
                       quantity=f"{st.name}.move (every stem in range .. this stem at the median)")
    else:
        lo, hi = sorted((abs(st.suggested_gain_min_db or 0.0), abs(st.suggested_gain_db or 0.0)))
        size = led.rng(lo, hi, tool="stem_balance", quantity=f"{st.name}.suggested_gain (p25-p75 .. median)")
    if claim.magnitude_db is None:
        return _done(claim, "confirmed", sentence + f"; the measured move is {size}", led)
    c_lo, c_hi = claim.magnitude_db
    if c_lo <= hi + MAGNITUDE_TOLERANCE_DB and lo <= c_hi + MAGNITUDE_TOLERANCE_DB:
        return _done(claim, "confirmed", sentence + f"; the measured move is {size}, consistent with "
                     "the model's size", led)
    return _done(claim, "adjusted", sentence + f"; the measured move is {size}, "
                 f"{'larger' if lo > c_hi else 'smaller'} than the model's size", led)


def _verify_with_estimate(claim: Claim, rep: AnalysisReport) -> Claim:
    E = rep.mix_estimate
    led = Ledger()
    judged = [s for s in E.stems if s.status != "uncertain"]
    hedge = "as far as a mix-only estimate can tell"
    if claim.no_adjustment:
        if not judged:
            return _done(claim, "unverifiable", "the mix-only estimate is too uncertain to judge the balance", led)
        out = [s for s in judged if s.status != "within_range"]
        if not out:
            return _done(claim, "confirmed", f"every stem the estimate can judge is within the professional range, {hedge}", led)
        worst = max(out, key=lambda s: s.distance_db or 0.0)
        return _done(claim, "refuted", _estimate_sentence(led, worst) + f", {hedge}", led)
    if claim.stem is None or claim.direction is None:
        return _done(claim, "unverifiable", "the model's text names no stem and direction to check", led)
    se = next((s for s in E.stems if s.role == claim.stem), None)
    if se is None or se.status == "uncertain":
        conf = (f" (confidence {led.num(se.confidence, tool='mix_estimate', quantity=f'{se.role}.confidence', decimals=2)})"
                if se is not None else "")
        return _done(claim, "unverifiable", f"the mix-only estimate of the {claim.stem} level is too uncertain "
                     f"to check it{conf}; give stems to measure it", led)
    sentence = _estimate_sentence(led, se)
    measured = _measured_direction(se.status)
    if measured is None:
        # Inside the range is no disproof from a mix-only estimate: a stem moved 3-6 dB can stay
        # inside the professional p10-p90 spread (about 7 dB wide), and the estimate under-sizes
        # moves; only an estimate outside the range the other way refutes the claim.
        return _done(claim, "unverifiable", sentence + f", inside the professional range, {hedge}; that neither "
                     "confirms nor rules out a move of a few dB: give stems to measure it", led)
    if measured != claim.direction:
        return _done(claim, "refuted", sentence + f", on the other side of the professional range, {hedge}", led)
    return _done(claim, "confirmed", sentence + f", outside the professional range the same way, {hedge}", led)


def _estimate_sentence(led: Ledger, se) -> str:
    est = led.num(se.estimated_level_vs_mix_db, tool="mix_estimate", quantity=f"{se.role}.estimated_level_vs_mix_db", unit="dB")
    conf = led.num(se.confidence, tool="mix_estimate", quantity=f"{se.role}.confidence", decimals=2)
    return (f"estimated from the mix alone, {stem_word(se.role)} sit{'' if se.role in ('vocals', 'drums', 'other') else 's'} "
            f"at {est} against the mix (confidence {conf})")


def claim_summary(claim: Claim) -> str:
    """How the review reports a claim. A refuted claim is never repeated as advice: only the
    stem it was about and the measurement that settled it are named."""
    note = claim.note
    if not claim.no_adjustment and not claim.stem and not claim.direction:
        return "The audio model's answer named no stem or direction, so there was nothing to check."
    if claim.verdict == "refuted":
        subject = f"about {stem_word(claim.stem)}" if claim.stem else "that the balance is fine"
        return f"The audio model's impression {subject} was checked and not borne out: {note}."
    if claim.no_adjustment:
        what = "heard the balance as fine"
    elif claim.stem and claim.direction:
        what = f"heard {stem_word(claim.stem)} as too {'quiet' if claim.direction == 'increase' else 'loud'}"
    else:
        what = "gave no balance judgement the tools could check"
    if claim.verdict == "confirmed" and claim.caused_by:
        return f"The audio model {what}; the level bears it out, but the cause is elsewhere: {note}."
    if claim.verdict == "confirmed":
        return f"The audio model {what}, and the tools confirm it: {note}."
    if claim.verdict == "adjusted":
        return f"The audio model {what}; the tools agree on the direction and size the move: {note}."
    return f"The audio model {what}; this could not be checked: {note}."


# --------------------------------------------------------------------------- the benchmark's sentence

def _get(obj: Any, key: str, default=None):
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _bucket(size_db: float) -> tuple[float, float]:
    return (6.0, 12.0) if abs(size_db) >= BIG_MOVE_DB else (3.0, 6.0)


def _sentence(stem: str, direction: str, mag: tuple[float, float]) -> str:
    verb = "Raise" if direction == "increase" else "Lower"
    return f"{verb} the {stem} by {mag[0]:g} to {mag[1]:g} dB."


BALANCED_SENTENCE = "The balance is fine; no adjustment is needed."


def class_sentence(cls: str) -> str:
    """A balance class (``model.data.templates.CLASSES``) in the benchmark's wording."""
    stem, direction, mag = class_parts(cls)
    return BALANCED_SENTENCE if stem is None else _sentence(stem, direction, mag)


def _stem_balance_picks(rep: AnalysisReport, allowed) -> list[tuple[float, str, str, float | None]]:
    """(distance outside the range, stem, corrective direction, measured move) of each stem of
    ``allowed`` the stem-balance measurement places outside the professional range."""
    picks = []
    for st in rep.stem_balance.stems:
        role = st.role or st.name
        if role in allowed and st.status in ("too_quiet", "too_loud"):
            picks.append((st.distance_db or 0.0, role, "increase" if st.status == "too_quiet" else "decrease",
                          st.suggested_gain_db))
    return picks


def _furthest_sentence(picks) -> str:
    _, stem, direction, size = max(picks, key=lambda p: p[0])
    return _sentence(stem, direction, _bucket(size) if size is not None else (3.0, 6.0))


def balance_verdict(state_or_review: Any) -> str:
    """One sentence in the benchmark's wording ("Raise the vocals by 3 to 6 dB." / "The balance
    is fine; no adjustment is needed.") from a review's reconciled claim and tool evidence.

    Order: the balance judge's class when the review has one (the model's posterior weighed
    with the measurements, :mod:`.balance_judge`); else a confirmed or adjusted model claim (its stem and direction; the model's size when
    confirmed, else the measured size in the benchmark's 3-6 / 6-12 dB classes); a confirmed
    "balanced" claim; without stems, a claim the estimate could not check, as the model said it;
    else the stem the tools place furthest outside the professional range
    (not the anchor, one of bass/drums/vocals); else an unverifiable model claim as the model
    said it; else balanced. A refuted claim is never used.
    """
    judgement = _get(state_or_review, "balance_judgement")
    if judgement:
        # the balance judge (agent.balance_judge) weighed the model's posterior with the
        # measurements: its class is the answer to the anchor-relative question
        return class_sentence(str(_get(judgement, "class")))
    report = _get(state_or_review, "report") or {}
    rep = report if isinstance(report, AnalysisReport) else AnalysisReport.model_validate(report)
    anchor = rep.anchor or _get(state_or_review, "anchor")
    claims = [c if isinstance(c, Claim) else Claim.model_validate(c)
              for c in (_get(state_or_review, "claims") or [])]
    allowed = [s for s in BENCHMARK_STEMS if s != anchor]
    claim = claims[0] if claims else None

    def measured_size(stem: str) -> float | None:
        if rep.stem_balance is not None:
            st = next((s for s in rep.stem_balance.stems if (s.role or s.name) == stem), None)
            return st.suggested_gain_db if st is not None else None
        if rep.mix_estimate is not None:
            se = next((s for s in rep.mix_estimate.stems if s.role == stem), None)
            if se is not None and se.reference is not None and se.estimated_level_vs_mix_db is not None:
                return se.reference.p50_db - se.estimated_level_vs_mix_db
        return None

    if claim is not None and claim.verdict in ("confirmed", "adjusted") and not claim.no_adjustment \
            and claim.stem in allowed and claim.direction:
        mag = claim.magnitude_db if claim.verdict == "confirmed" and claim.magnitude_db else None
        if mag is None:
            size = measured_size(claim.stem)
            mag = _bucket(size) if size is not None else (3.0, 6.0)
        return _sentence(claim.stem, claim.direction, tuple(mag))
    if claim is not None and claim.verdict == "confirmed" and claim.no_adjustment:
        return BALANCED_SENTENCE
    if (claim is not None and claim.verdict == "unverifiable" and rep.stem_balance is None
            and claim.stem in allowed and claim.direction):
        # mix only: the model heard a move the estimate can neither confirm nor refute; the model
        # is the better judge of a single clip (benchmark: model > dsp), so its claim stands
        return _sentence(claim.stem, claim.direction, tuple(claim.magnitude_db or (3.0, 6.0)))
    picks: list[tuple[float, str, str, float | None]] = []
    if rep.stem_balance is not None:
        picks = _stem_balance_picks(rep, allowed)
    elif rep.mix_estimate is not None:
        for se in rep.mix_estimate.stems:
            if se.role in allowed and se.status in ("too_quiet", "too_loud"):
                picks.append((se.distance_db or 0.0, se.role, "increase" if se.status == "too_quiet" else "decrease",
                              measured_size(se.role)))
    if picks:
        return _furthest_sentence(picks)
    if claim is not None and claim.verdict == "unverifiable":
        if claim.stem in allowed and claim.direction:
            return _sentence(claim.stem, claim.direction, tuple(claim.magnitude_db or (3.0, 6.0)))
        if claim.no_adjustment:
            return BALANCED_SENTENCE
    return BALANCED_SENTENCE


def norm_verdict(state_or_review: Any) -> str:
    """One sentence answering the norm-referenced question ("is any stem outside the
    professional balance, and which way?"): with stems, the stem of bass/drums/vocals that the
    stem-balance measurement places furthest outside the professional p10-p90 range (whatever
    the anchor), with its measured move; else "balanced". Without stems the mix alone cannot
    measure it, so the answer is the review's balance sentence (:func:`balance_verdict`)."""
    report = _get(state_or_review, "report") or {}
    rep = report if isinstance(report, AnalysisReport) else AnalysisReport.model_validate(report)
    if rep.stem_balance is None:
        return balance_verdict(state_or_review)
    picks = _stem_balance_picks(rep, BENCHMARK_STEMS)
    return _furthest_sentence(picks) if picks else BALANCED_SENTENCE


def evidence_of(claims: list[Claim]) -> list[Evidence]:
    return [e for c in claims for e in c.evidence]


__all__ = ["BALANCED_SENTENCE", "balance_verdict", "class_sentence", "norm_verdict", "cap", "claim_summary", "parse_claim", "verify_claim"]
