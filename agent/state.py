"""The graph's state: one conversation, as the SQLite checkpointer stores it.

The measurements, claims, findings and evidence are pydantic values (:data:`STATE_MODELS`, the
only classes a checkpoint may rebuild); the rest is plain JSON. No audio lives here: it stays in
the thread's folder (``store.ThreadStore``). ``messages`` and ``evidence`` accumulate over the
conversation; ``degradations`` and ``timings_s`` describe the current turn.
"""
from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from pydantic import BaseModel

from ..tools.measure.analyze import AnalysisReport
from .schema import Claim, Evidence, Finding, Heard
from .spectrum_after_moves import MovesSpectrum


class AgentState(TypedDict, total=False):
    thread_id: str
    mode: Literal["review", "followup"]
    # the review request: file paths as given, anchor, platform, genre, stem roles
    inputs: dict[str, Any]
    # stored copies of the audio (store.ThreadStore.save): mix, stems, stem_roles, reference, mix_name
    audio: dict[str, Any]
    anchor: str | None  # the stem assumed correct (resolved: vocals if present, else drums)
    model_anchor: str | None  # the anchor the audio model was told (bass, drums or vocals)
    platform: str
    genre: str | None
    listen: Heard | None  # what the audio model said, with its class posterior
    report: AnalysisReport  # every measurement of the review
    after_moves: MovesSpectrum | None  # the spectrum once the suggested balance moves are made
    claims: list[Claim]  # the audio model's claims, checked
    balance_judgement: dict[str, Any] | None  # balance_judge.Judgement.to_json(), or None
    findings: list[Finding]  # ranked
    evidence: Annotated[list[Evidence], operator.add]  # every number said so far, as said
    review_answer: str
    question: str | None
    route: dict[str, Any]  # followup.route(...) of the current question
    tool_results: dict[str, Any] | None  # new measurements made for the current question
    answer: str  # the current turn's answer (Markdown)
    source: Literal["composer", "llm"]
    focus: list[str]  # ids of the findings the conversation is about ("why?", "how do I fix it?")
    focus_stem: str | None  # the stem last talked about (for "what if I turn it down 2 dB?")
    messages: Annotated[list[dict[str, str]], operator.add]  # {"role": "user"|"assistant", "content"}
    degradations: list[str]  # this turn
    timings_s: dict[str, float]  # this turn, per node
    # the language-model loop of this turn (nodes.llm_loop), when an endpoint is configured
    draft: str  # the composer's answer, which the model rewrites or builds on
    llm_messages: Annotated[list[AnyMessage], add_messages]  # what the endpoint sees, tool results included
    llm_status: Literal["pending", "fault", "done"] | None
    llm_deadline_unix: float  # the turn's language-model time ends here
    guard_verdict: Literal["pass", "regenerate", "fallback"] | None
    # one entry per follow-up turn, oldest first: the conversation as it was before that turn
    # (``messages`` and ``evidence`` lengths, and the values of TURN_KEYS), so that
    # ``MixingBuddy.retract_last_turn`` restores it exactly (undo, retry and edit in the app)
    turn_undo: list[dict[str, Any]]


class AgentInput(TypedDict, total=False):
    """What a caller passes in: a review request or a question on a thread."""

    thread_id: str
    mode: Literal["review", "followup"]
    inputs: dict[str, Any]
    question: str
    turn_undo: list[dict[str, Any]]


# the keys a follow-up turn overwrites that later turns read (or that describe the last answer)
TURN_KEYS = ("question", "route", "answer", "source", "focus", "focus_stem", "degradations", "timings_s")

STATE_MODELS: tuple[type[BaseModel], ...] = (AnalysisReport, Claim, Evidence, Finding, Heard, MovesSpectrum)


def typed(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with the typed keys as pydantic values (a conversation stored before they were
    typed holds dicts): only the keys that needed converting."""
    out: dict[str, Any] = {}
    if isinstance(values.get("report"), Mapping):
        out["report"] = AnalysisReport.model_validate(values["report"])
    if isinstance(values.get("listen"), Mapping):
        out["listen"] = Heard.model_validate(values["listen"])
    if isinstance(values.get("after_moves"), Mapping):
        out["after_moves"] = MovesSpectrum.model_validate(values["after_moves"])
    for key, cls in (("claims", Claim), ("findings", Finding)):
        items = values.get(key) or []
        if any(isinstance(v, Mapping) for v in items):
            out[key] = [cls.model_validate(v) for v in items]
    return out


def as_json(value: Any) -> Any:
    """A state value as JSON (pydantic values dumped, containers walked)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    return value
