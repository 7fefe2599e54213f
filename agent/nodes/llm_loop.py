"""The language-model loop, as LangGraph's agent templates draw it: ``llm`` -> (tool calls?)
``tools`` -> ``llm`` ... -> ``guard`` -> (regenerate once?) ``llm``, else the end.

Opened by :func:`start_turn`, driven by :func:`call_model` and checked by :func:`guard`. An
endpoint fault ends the turn with the draft and a note naming it; so does any unexpected error.
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, RemoveMessage, SystemMessage, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import REMOVE_ALL_MESSAGES
from langgraph.prebuilt import tools_condition

from ..context import AgentContext, chat_history
from ..endpoint import (
    FOLLOWUP_CONTEXT,
    KEEP_FINDINGS_REQUEST,
    MAX_REPLY_CHARS,
    NOTE_REJECTED,
    NOTE_UNGROUNDED,
    NOTE_UNREACHABLE,
    NOTE_UNUSABLE,
    REFUSE_REQUEST,
    REGENERATE_REQUEST,
    REVIEW_REQUEST,
    SYSTEM_PROMPT,
    EndpointConfig,
    EndpointFault,
    LLMAnswer,
    chat_completion,
    endpoint_messages,
    reply_message,
    reply_text,
)
from ..grounding import check_grounding, conversation_evidence, said_evidence
from ..schema import Evidence
from ..screen import clean_text, lost_findings, reversed_findings, unsafe_instruction
from ..state import AgentState
from .common import timed
from .tools import openai_tools, tool_node

REGENERATE = "guard"  # the name on the message that asks for a regenerated answer
REVERSED_REQUEST = """\
Your answer turns round what the measurements say: {what}. \
Write the answer again with every finding and every number in the direction the review gives it \
(too loud or too quiet, above or below, raise or cut)."""


def finish(state: AgentState, text: str, source: str) -> dict:
    """The turn's answer, said and remembered."""
    out = {"answer": text, "source": source, "messages": [{"role": "assistant", "content": text}]}
    if state.get("mode") != "followup":
        out["review_answer"] = text
    return out


def with_note(draft: str, note: str) -> str:
    return f"{draft.rstrip()}\n\n{note}" if draft.strip() else note


def start_turn(state: AgentState, ctx: AgentContext, draft: str) -> dict:
    """The composer's ``draft`` as the turn's answer (no language model configured), or the
    opening of the language-model loop.

    Called by the composing nodes, it opens a turn's ``llm_messages``: the system prompt, the
    conversation so far and either the review to rewrite or the question (with the composer's
    answer as measured context)."""
    if ctx.llm is None:
        return {**finish(state, draft, "composer"), "llm_status": None}
    question = state.get("question") if state.get("mode") == "followup" else None
    history = chat_history(list(state.get("messages") or []), question)
    if question is None:
        convo = [SystemMessage(SYSTEM_PROMPT), *_as_messages(history), HumanMessage(REVIEW_REQUEST.format(draft=draft))]
    else:
        convo = [SystemMessage(SYSTEM_PROMPT + FOLLOWUP_CONTEXT.format(draft=draft)), *_as_messages(history)]
    return {"draft": draft, "llm_status": "pending", "llm_deadline_unix": time.time() + ctx.llm.timeout_s,
            "llm_messages": [RemoveMessage(id=REMOVE_ALL_MESSAGES), *convo]}


def _as_messages(history: list[dict]) -> list:
    return [HumanMessage(m["content"]) if m["role"] == "user" else AIMessage(m["content"]) for m in history]


def _this_turn(state: AgentState) -> list:
    return list(state.get("llm_messages") or [])


def _tool_rounds(msgs: list) -> int:
    return sum(1 for m in msgs if isinstance(m, AIMessage) and m.tool_calls)


def _regenerating(msgs: list) -> bool:
    return bool(msgs) and isinstance(msgs[-1], HumanMessage) and msgs[-1].name == REGENERATE


def _new_tool_results(msgs: list) -> tuple[list[dict], list[str]]:
    """Evidence and degradations from the tool results after the model's last request."""
    evidence: list[dict] = []
    degradations: list[str] = []
    for m in reversed(msgs):
        if not isinstance(m, ToolMessage):
            break
        art = m.artifact if isinstance(m.artifact, dict) else {}
        if art.get("ok"):
            evidence = [Evidence.model_validate(r) for r in art.get("evidence") or []] + evidence
        else:
            degradations.insert(0, f"tool call {m.name or '(unnamed)'} failed: {art.get('error') or m.content}")
    return evidence, degradations


def _fault(state: AgentState, ctx: AgentContext, message: str, note: str, *, evidence: list,
           degradations: list[str]) -> dict:
    """End the turn with the composer's draft and ``note``; the round's tool evidence is kept."""
    ctx.log.warning("llm: %s", message)
    return {**finish(state, with_note(state.get("draft") or "", note), "composer"),
            "llm_status": "fault", "evidence": evidence, "degradations": [*degradations, message]}


def call_model(state: AgentState, ctx: AgentContext) -> dict:
    """Ask the endpoint for the next step of the turn (a reply, or tool calls).

    Tools are offered in a follow-up, at most ``max_tool_rounds`` rounds of at most
    ``max_tool_calls`` calls, and never when regenerating; the previous round's tool results
    become evidence (or degradations, for failed calls)."""
    cfg: EndpointConfig = ctx.llm
    msgs = _this_turn(state)
    evidence, degradations = _new_tool_results(msgs)
    base = {"evidence": evidence, "degradations": degradations}
    offer = state.get("mode") == "followup" and ctx.tools_available
    last_round = _tool_rounds(msgs) >= cfg.max_tool_rounds or _regenerating(msgs)
    remaining = float(state.get("llm_deadline_unix") or 0.0) - time.time()
    try:
        reply = chat_completion(cfg, endpoint_messages(msgs), tools=openai_tools() if offer else None,
                                tool_choice="none" if last_round else "auto",
                                deadline=time.monotonic() + remaining, on_text=_checked_stream(state, ctx))
        msg = reply_message(reply)
    except EndpointFault as f:
        return _fault(state, ctx, str(f), f.note, evidence=evidence, degradations=degradations)
    except Exception as e:  # noqa: BLE001 - never let the language model end a turn
        ctx.log.warning("llm: unexpected error", exc_info=True)
        return _fault(state, ctx, f"language model turn failed unexpectedly ({type(e).__name__}: "
                                  f"{' '.join(str(e).split())[:160]})", NOTE_UNREACHABLE,
                      evidence=evidence, degradations=degradations)
    calls = msg.tool_calls
    if calls and offer and not last_round:
        if len(calls) > cfg.max_tool_calls:
            degradations.append(f"language model asked for {len(calls)} tool calls in one round; the first "
                                f"{cfg.max_tool_calls} were run")
            ctx.log.warning("llm: %s", degradations[-1])
            calls = calls[:cfg.max_tool_calls]
        return {**base, "llm_messages": [AIMessage(content=msg.content, tool_calls=calls)]}
    text = reply_text(msg.content)
    if not text:
        why = (f"language model kept calling tools after {_tool_rounds(msgs)} round(s) and gave no answer"
               if calls else "language model reply had neither content nor tool calls")
        if _regenerating(msgs):
            why = "language model's regenerated reply was empty"
        return _fault(state, ctx, why, NOTE_UNUSABLE, evidence=evidence, degradations=degradations)
    if len(text) > MAX_REPLY_CHARS:
        return _fault(state, ctx, f"language model reply was too long ({len(text)} characters)", NOTE_UNUSABLE,
                      evidence=evidence, degradations=degradations)
    if calls:
        degradations.append(f"language model asked for tools beyond the {cfg.max_tool_rounds}-round limit; "
                            f"its text answer was used")
        ctx.log.warning("llm: %s", degradations[-1])
    return {**base, "llm_messages": [AIMessage(content=text)]}


_SENTENCE_END = re.compile(r"(?:[.!?:;](?=\s)|\n)")


def _checked_stream(state: AgentState, ctx: AgentContext) -> Callable[[str], None] | None:
    """A listener for a streamed reply (``chat_completion(on_text=...)``) that tells the user
    (``ctx.text``) the reply's complete sentences as they arrive, each time the prefix up to the
    last complete sentence passes the guard's rule (:func:`judge_reply`, without the check for
    dropped findings, which a beginning cannot pass). At the first prefix the rule refuses it
    stops: nothing after an unchecked or refused sentence is shown, and the guard then judges
    the whole reply as always (the final answer may differ from what was shown). None when
    nobody listens."""
    if ctx.on_text is None:
        return None
    draft = state.get("draft") or ""
    question = state.get("question") if state.get("mode") == "followup" else None
    shown = {"upto": 0, "stopped": False}
    inputs: list = []  # judge_inputs, computed at the first sentence

    def on_text(text: str) -> None:
        if shown["stopped"]:
            return
        ends = [m.end() for m in _SENTENCE_END.finditer(text)]
        cut = ends[-1] if ends else 0
        if cut <= shown["upto"]:
            return
        prefix = clean_text(reply_text(text[:cut]))
        if not prefix:
            return
        inputs[:] = inputs or [judge_inputs(state, draft, question)]
        if judge_reply(state, prefix, draft=draft, question=question, partial=True, inputs=inputs[0]).kind is not None:
            shown["stopped"] = True
            return
        shown["upto"] = cut
        ctx.text(prefix)

    return on_text


@dataclass(frozen=True)
class Verdict:
    """The guard's reading of a reply: ``kind`` None (accepted), "unsafe", "ungrounded",
    "reversed" or "lost"; the problem in words and the request that asks for a new answer."""

    kind: str | None
    problem: str | None = None
    request: str = ""


def judge_inputs(state: Mapping[str, Any], draft: str, question: str | None) -> tuple[list, list]:
    """What :func:`judge_reply` checks a reply against: the conversation's typed evidence, and the
    claims the question and the draft make (allowed as they were said)."""
    allowed = said_evidence(question or "", "question", question=True) + said_evidence(draft, "draft")
    return conversation_evidence(state, ledger_strict=True), allowed


def judge_reply(state: Mapping[str, Any], text: str, *, draft: str, question: str | None,
                partial: bool = False, inputs: tuple[list, list] | None = None) -> Verdict:
    """The guard's rule for one reply (used by :func:`guard` and by ``mixingbuddy eval redteam``).

    Parameters
    ----------
    state : mapping
        The conversation (evidence ledger, report, findings, this turn's tool results).
    text : str
        The language model's reply, cleaned.
    draft : str
        The composer's answer for this turn.
    question : str or None
        The follow-up question; None for the review.
    partial : bool
        ``text`` is the beginning of a reply still streaming: findings it has not reached yet
        are not "dropped".
    inputs : (evidence, allowed), optional
        :func:`judge_inputs` of this turn, computed once by a caller that judges many texts.

    Returns
    -------
    Verdict
    """
    findings = state.get("findings") or []
    unsafe = unsafe_instruction(text)
    if unsafe:
        return Verdict("unsafe", f"told the user to run a command or give up a secret ({unsafe!r})", REFUSE_REQUEST)
    evidence, allowed = inputs if inputs is not None else judge_inputs(state, draft, question)
    check = check_grounding(text, evidence, allowed=allowed)
    if check.ungrounded:
        named = ", ".join(check.ungrounded[:12])
        return Verdict("ungrounded", f"cited unmeasured numbers ({named})", REGENERATE_REQUEST.format(numbers=named))
    turned = [t for t in reversed_findings(text, findings) if t not in reversed_findings(draft, findings)]
    if check.reversed or turned:
        what = "; ".join([*(f"{n} said in the opposite direction" for n in check.reversed[:8]),
                          *(f"finding '{t}' said the other way round" for t in turned[:4])])
        return Verdict("reversed", f"reversed a direction ({what})", REVERSED_REQUEST.format(what=what))
    lost = lost_findings(text, findings) if question is None and not partial else []
    if lost:
        return Verdict("lost", f"dropped findings worth fixing ({'; '.join(lost[:4])})",
                       KEEP_FINDINGS_REQUEST.format(titles="; ".join(lost)))
    return Verdict(None)


def guard(state: AgentState, ctx: AgentContext) -> dict:
    """Accept the reply when every quantitative statement in it is grounded and the review's top
    findings survive with their direction; else ask once more; else answer with the composer's
    draft.

    Every number of the reply is a claim with a unit, a subject and a direction, checked against
    the conversation's typed evidence (:func:`..grounding.check_grounding`); the claims of the
    question and of the composer's draft are allowed as they were said (same unit, same subject,
    same direction). A rewrite of the review must keep its top findings
    (:func:`..screen.lost_findings`), and no reply may turn a finding's direction round
    (:func:`..screen.reversed_findings`, beyond what the draft itself says). A failing reply is
    sent back once with the problem named; failing again, the draft is the answer (source
    "composer") with a note."""
    msgs = _this_turn(state)
    text = clean_text(reply_text(msgs[-1].content) if msgs and isinstance(msgs[-1], AIMessage) else "")
    draft = state.get("draft") or ""
    question = state.get("question") if state.get("mode") == "followup" else None
    verdict = judge_reply(state, text, draft=draft, question=question)
    problem, request = verdict.problem, verdict.request
    if problem is None:
        return {**finish(state, text, "llm"), "llm_status": "done", "guard_verdict": "pass"}
    regenerated = any(isinstance(m, HumanMessage) and m.name == REGENERATE for m in msgs)
    if not regenerated:
        note = f"grounding guard: the language model's answer {problem}; asked it once to answer again"
        ctx.log.warning("llm: %s", note)
        return {"guard_verdict": "regenerate", "degradations": [note],
                "llm_messages": [HumanMessage(request, name=REGENERATE)]}
    note = f"grounding guard: the regenerated answer still {problem}; the built-in composer's answer was used"
    ctx.log.warning("llm: %s", note)
    return {**finish(state, with_note(draft, NOTE_UNGROUNDED if verdict.kind == "ungrounded" else NOTE_REJECTED),
                     "composer"),
            "llm_status": "done", "guard_verdict": "fallback", "degradations": [note]}


# --- the edges ----------------------------------------------------------------------------------

def after_draft(state: AgentState) -> str:
    """To the language model when one is configured, else the draft is the answer."""
    return "llm" if state.get("llm_status") == "pending" else END


def after_model(state: AgentState) -> str:
    """``tools_condition`` on the turn's messages; a reply goes to the guard, a fault ends the turn."""
    if state.get("llm_status") == "fault":
        return END
    return "tools" if tools_condition(state, messages_key="llm_messages") == "tools" else "guard"


def after_guard(state: AgentState) -> str:
    return "llm" if state.get("guard_verdict") == "regenerate" else END


def add_llm_loop(g: StateGraph, wrap: Callable[[str, Callable], Callable]) -> None:
    """Add the ``llm``, ``tools`` and ``guard`` nodes and their edges to ``g``."""
    g.add_node("llm", wrap("llm", call_model))
    g.add_node("tools", tool_node())
    g.add_node("guard", wrap("guard", guard))
    g.add_conditional_edges("llm", after_model, ["tools", "guard", END])
    g.add_edge("tools", "llm")
    g.add_conditional_edges("guard", after_guard, ["llm", END])


# --- one turn without a conversation store -----------------------------------------------------

def run_llm_turn(cfg: EndpointConfig, *, messages: list[dict], question: str | None, draft: str,
                 evidence_values: list[float], ctx_factory: Callable[[], Any] | None,
                 log: logging.Logger) -> LLMAnswer:
    """The loop above on its own (``agent.endpoint.llm_answer``); never raises."""
    g = StateGraph(AgentState, context_schema=AgentContext)
    add_llm_loop(g, timed)
    g.add_edge(START, "llm")
    ctx = AgentContext(store=None, llm=cfg, log=log,
                       audio_factory=(lambda state: ctx_factory()) if ctx_factory is not None else None)
    state: dict[str, Any] = {"mode": "followup" if question is not None else "review", "question": question,
                             "messages": list(messages), "evidence": [], "degradations": []}
    given = [Evidence(tool="given", quantity="", value=float(v), unit="", decimals=3) for v in evidence_values]
    state.update(start_turn(state, ctx, draft))
    state["evidence"] = given
    try:
        out = g.compile().invoke(state, context=ctx)
    except Exception as e:  # noqa: BLE001 - the turn is still answered
        log.warning("llm: unexpected error", exc_info=True)
        return LLMAnswer(text=with_note(draft, NOTE_UNREACHABLE), source="composer", tool_calls=[],
                         degradations=[f"language model turn failed unexpectedly ({type(e).__name__})"],
                         new_evidence=[])
    calls = [{"id": m.tool_call_id, "name": m.name, **{k: (m.artifact or {}).get(k) for k in ("ok", "error", "seconds")}}
             for m in out.get("llm_messages") or [] if isinstance(m, ToolMessage)]
    return LLMAnswer(text=out.get("answer") or draft, source=out.get("source") or "composer",
                     degradations=list(out.get("degradations") or []), tool_calls=calls,
                     new_evidence=[e.model_dump() for e in (out.get("evidence") or [])[len(given):]])
