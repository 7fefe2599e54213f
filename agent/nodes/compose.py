"""Compose: the review's Markdown from the checked findings and claims (``agent.composer``); with
a language model configured, this draft opens the model's turn (``nodes.llm_loop``)."""
from __future__ import annotations

from ...tools.measure.loudness import PLATFORM_TARGETS
from ..composer import compose_review
from ..context import AgentContext
from ..state import AgentState
from .common import note_evidence
from .llm_loop import start_turn


def compose(state: AgentState, ctx: AgentContext) -> dict:
    findings, claims, report = state.get("findings") or [], state.get("claims") or [], state["report"]
    warnings = list(report.warnings)
    notes = list(state.get("degradations") or []) + warnings
    platform = state.get("platform") or "spotify"
    label = PLATFORM_TARGETS[platform].label if platform in PLATFORM_TARGETS else platform
    stems = [s.name for s in report.stem_balance.stems] if report.stem_balance is not None else []
    text, led = compose_review(findings, claims, platform_label=label, stems=stems,
                               model_used=state.get("listen") is not None, notes=notes,
                               judgement=state.get("balance_judgement"),
                               anchor=state["listen"].anchor if state.get("listen") else None,
                               separation=report.separation)
    note_evidence(warnings, led)
    return {**start_turn(state, ctx, text), "evidence": list(led.items)}
