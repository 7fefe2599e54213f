"""Compose: the review's Markdown from the checked findings and claims (``agent.composer``); with
a language model configured, this draft opens the model's turn (``nodes.llm_loop``)."""
from __future__ import annotations

from ...tools.measure.loudness import PLATFORM_TARGETS
from ..composer import compose_review
from ..context import AgentContext
from ..schema import Claim, Finding
from ..state import AgentState
from .common import note_evidence
from .llm_loop import start_turn


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
    return {**start_turn(state, ctx, text), "evidence": led.dump()}
