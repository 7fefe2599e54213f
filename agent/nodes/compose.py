"""Compose: the review's Markdown from the reconciled findings and claims (``agent.compose``);
with a language model configured, the draft goes through it (grounding-guarded by the backend)."""
from __future__ import annotations

from ...tools.measure.loudness import PLATFORM_TARGETS
from ..compose import compose_review
from ..context import AgentContext, run_llm
from ..schema import Claim, Finding
from ..state import AgentState
from .common import evidence_values, note_evidence


def compose(state: AgentState, ctx: AgentContext) -> dict:
    findings = [Finding.model_validate(f) for f in state.get("findings") or []]
    claims = [Claim.model_validate(c) for c in state.get("claims") or []]
    report = state.get("report") or {}
    warnings = list(report.get("warnings") or [])
    notes = list(state.get("degradations") or []) + warnings
    platform = state.get("platform") or "spotify"
    label = PLATFORM_TARGETS[platform].label if platform in PLATFORM_TARGETS else platform
    stems = [s["name"] for s in (report.get("stem_balance") or {}).get("stems", [])]
    text, led = compose_review(findings, claims, platform_label=label, stems=stems,
                               model_used=state.get("listen") is not None, notes=notes,
                               judgement=state.get("balance_judgement"),
                               anchor=(state.get("listen") or {}).get("anchor"),
                               separation=report.get("separation"))
    note_evidence(warnings, led)
    new = led.dump()
    res = run_llm(ctx, state, question=None, draft=text, evidence_values=evidence_values(state, new),
                  history=list(state.get("messages") or []))
    new += res.new_evidence
    return {"answer": res.text, "review_answer": res.text, "source": res.source,
            "degradations": res.degradations, "evidence": new,
            "messages": [{"role": "assistant", "content": res.text}]}
