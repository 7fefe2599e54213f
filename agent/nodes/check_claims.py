"""Check claims: a verdict for each claim (confirmed, adjusted, refuted, unverifiable; see
``agent.claims``), the standing findings, and the two merged: a finding the model also heard is
marked ``model+tools``; an unverifiable model impression becomes a hedged low-priority finding;
a refuted one becomes no finding at all."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ...tools.measure.analyze import AnalysisReport
from ..balance_judge import BalanceJudge, Judgement, features_for, load_judge
from ..claims import verify_claim
from ..context import AgentContext
from ..findings import cap, rank, standing_findings, stem_word
from ..schema import Claim, Finding
from ..state import AgentState


@dataclass
class BalanceCheck:
    """The claims with their verdicts and the judge's reading of the balance."""

    claims: list[Claim]
    judgement: Judgement | None
    features: tuple[str, list[float]] | None  # the judge's inputs: variant and feature vector


def check_balance(claims: Sequence[Claim], report: AnalysisReport, class_probs: Mapping[str, float] | None,
                  anchor: str | None, present: Sequence[str] | None, judge: BalanceJudge | None) -> BalanceCheck:
    """Each claim checked against the measurements (``claims.verify_claim``) and, with the
    model's posterior, the judge's pooled reading (``balance_judge``); the benchmark's fast
    path calls this too."""
    checked = [verify_claim(c, report) for c in claims]
    vf = features_for(class_probs, report, anchor, present)
    j = None
    if judge is not None and vf is not None and class_probs:
        j = judge.judge(vf[0], class_probs, vf[1], anchor, present)
    return BalanceCheck(checked, j, vf)


def merge_claims(findings: list[Finding], claims: list[Claim]) -> list[Finding]:
    by_id = {f.id: f for f in findings}
    out = list(findings)
    for c in claims:
        if c.no_adjustment or not c.stem or not c.direction:
            continue
        fid = f"balance:{c.stem}"
        if c.verdict in ("confirmed", "adjusted") and fid in by_id:
            i = out.index(by_id[fid])
            out[i] = by_id[fid].model_copy(update={"source": "model+tools"})
        elif c.verdict == "unverifiable" and fid not in by_id:
            word = "quiet" if c.direction == "increase" else "loud"
            verb = "raise" if c.direction == "increase" else "lower"
            out.append(Finding(
                id=fid, topic="balance", severity="low", source="model",
                title=f"The audio model hears {stem_word(c.stem)} as too {word}",
                detail=f"{cap(c.note)}." if c.note else "The measurements could not check it.",
                action=f"If it sounds that way to you too, {verb} {stem_word(c.stem)} a little and compare.",
                evidence=list(c.evidence)))
    return rank(out)


def check_claims(state: AgentState, ctx: AgentContext) -> dict:
    rep, heard = state["report"], state.get("listen")
    claims = list(state.get("claims") or [])
    try:
        judge = load_judge(ctx.weights) if heard is not None and heard.class_probs else None
        check = check_balance(claims, rep, heard.class_probs if heard else None,
                              (heard.anchor if heard else None) or state.get("model_anchor"),
                              heard.stems_present if heard else None, judge)
    except Exception:  # noqa: BLE001 - the review goes on with the rule-based verdicts
        ctx.log.warning("balance judge failed", exc_info=True)
        check = check_balance(claims, rep, None, None, None, None)
    claims = check.claims
    findings = merge_claims(standing_findings(rep, state.get("platform") or "spotify",
                                          state.get("after_moves")), claims)
    evidence = [e for f in findings for e in f.evidence] + [e for c in claims for e in c.evidence]
    focus = [f.id for f in findings if f.severity != "ok"][:2]
    return {"balance_judgement": check.judgement.to_json() if check.judgement is not None else None,
            "claims": claims, "findings": findings,
            "evidence": evidence, "focus": focus}
