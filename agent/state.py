"""The graph's state: one conversation, as the SQLite checkpointer stores it.

Only JSON-serialisable values live here (pydantic models as dicts, no numpy arrays, no audio):
the audio itself stays in the thread's folder and is rebuilt by ``store.ThreadStore.context``.
``messages`` and ``evidence`` accumulate over the conversation (list-append reducers); every
other key holds the latest value. ``degradations`` and ``timings_s`` describe the current turn
(the turn's first node resets them).
"""
from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


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
    listen: dict[str, Any] | None  # the audio model's output: text, class_probs, window_s
    report: dict[str, Any]  # tools.measure.analyze.AnalysisReport.model_dump(mode="json")
    claims: list[dict[str, Any]]  # schema.Claim dicts
    balance_judgement: dict[str, Any] | None  # balance_judge.Judgement.to_json(), or None
    findings: list[dict[str, Any]]  # schema.Finding dicts, ranked
    evidence: Annotated[list[dict[str, Any]], operator.add]  # schema.Evidence dicts said so far
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


class AgentInput(TypedDict, total=False):
    """What a caller passes in: a review request or a question on a thread."""

    thread_id: str
    mode: Literal["review", "followup"]
    inputs: dict[str, Any]
    question: str
