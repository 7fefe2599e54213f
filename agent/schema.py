"""The agent's data contract: measured numbers, findings, the audio model's claims, and the
results of a review and of a follow-up turn.

Shared with the browser app and the language-model loop: field names
and types here are the API. Every model serialises to strict JSON (``model_dump(mode="json")``)
so it can live in the LangGraph state that the SQLite checkpointer stores.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Topic = Literal["loudness", "true_peak", "clipping", "spectrum", "low_end", "stereo", "balance",
                "masking", "dynamics", "reference"]
Severity = Literal["high", "medium", "low", "ok"]
SEVERITY_RANK: dict[str, int] = {"high": 0, "medium": 1, "low": 2, "ok": 3}


class Evidence(BaseModel):
    """One number an answer states: the tool that measured it (or the rule that derived it from
    measured numbers), what it is, its value as shown (rounded to ``decimals``) and its unit."""

    tool: str
    quantity: str
    value: float
    unit: str
    decimals: int = 1


class Finding(BaseModel):
    """One thing the review says about the mix, with the numbers behind it."""

    id: str
    topic: Topic
    severity: Severity
    title: str
    detail: str
    action: str | None = None
    evidence: list[Evidence] = Field(default_factory=list)
    # "model+tools": the audio model said it and the tools confirmed it; "model": the audio model's
    # impression that the tools could not check
    source: Literal["tools", "model+tools", "model"] = "tools"
    regions_s: list[tuple[float, float]] = Field(default_factory=list)


class Claim(BaseModel):
    """What the audio model said, parsed (``model.data.advice_parser``), and what the tools made of it."""

    text: str
    stem: str | None
    direction: Literal["increase", "decrease"] | None
    magnitude_db: tuple[float, float] | None
    no_adjustment: bool
    verdict: Literal["confirmed", "refuted", "adjusted", "unverifiable"] | None = None
    evidence: list[Evidence] = Field(default_factory=list)
    note: str = ""
    # the stems whose suggested moves bring the claimed stem into range (it reads out of range only
    # because of them: agent.balance_moves), so the claim is true of the level, not of the fix
    caused_by: list[str] = Field(default_factory=list)


class Heard(BaseModel):
    """What the audio model said about the loudest 10 s of the mix."""

    text: str
    class_probs: dict[str, float] = Field(default_factory=dict)  # its 13-class balance posterior
    window_s: list[float]  # [start, end] of the clip it heard
    anchor: str | None = None  # the stem it was told is right
    stems_present: list[str] = Field(default_factory=list)


class Review(BaseModel):
    thread_id: str
    answer: str  # Markdown
    findings: list[Finding]
    claims: list[Claim]
    report: dict
    source: Literal["composer", "llm"]
    degradations: list[str]
    timings_s: dict[str, float]
    # the balance judge's reading (agent.balance_judge.Judgement.to_json), None without one
    balance_judgement: dict | None = None


class Turn(BaseModel):
    thread_id: str
    question: str
    answer: str
    source: Literal["composer", "llm"]
    degradations: list[str]
    timings_s: dict[str, float]
