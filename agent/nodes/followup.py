"""Follow-up turns: route the question (``agent.intents.route``), simulate a gain move when it
asks for one (``whatif``), and answer from the stored analysis; with a language model
configured, the answer opens the model's turn (``nodes.llm_loop``), where the model can ask for
the answer about any other part with the same intents (the ``answer_topic`` tool)."""
from __future__ import annotations

import json
from typing import Any, Literal

from langchain_core.tools import StructuredTool
from langgraph.prebuilt import ToolRuntime
from pydantic import BaseModel, ConfigDict, Field

from ...tools.errors import InvalidArgumentError, MixingBuddyError
from ...tools.measure.loudness import PLATFORM_TARGETS
from ..answers import answer as compose_answer
from ..context import AgentContext
from ..intents import REGIONS, TOPICS, Intent, Part, Route, route
from ..state import AgentState
from ..whatif import MAX_GAIN_DB, master_residual, simulate_gain
from .llm_loop import start_turn

__all__ = ["ANSWER_TOPIC", "AnswerTopicArgs", "answer", "answer_topic", "answer_topic_tool", "route_question",
           "whatif"]


def route_question(state: AgentState, ctx: AgentContext) -> dict:
    q = state.get("question") or ""
    return {"route": route(q, dict(state)).as_state(), "tool_results": None,
            "messages": [{"role": "user", "content": q}]}


def whatif(state: AgentState, ctx: AgentContext) -> dict:
    rt = state.get("route") or {}
    try:
        actx = ctx.store.context(state["thread_id"], state.get("audio") or {})
        sb = state["report"].stem_balance
        residual, kind = master_residual(actx.mix, actx.stems)  # the master's own part, kept in both
        if actx.stems is None and sb is not None and sb.source == "separated":
            # a bounced mix: the what-if runs on the stems separated during the review
            from ...tools.registry import AudioContext

            sep = ctx.store.separation(state["thread_id"])
            if sep is not None:
                actx = AudioContext(mix=sep.mix_audio(), stems=sep.stem_set(), reference=None)
                residual, kind = sep.residual, "separated"
        res = simulate_gain(actx, rt["stem"], float(rt["gain_db"]),
                            anchor=(state.get("inputs") or {}).get("anchor"),
                            platform=state.get("platform") or "spotify",
                            before=sb, residual=residual, residual_kind=kind)
        return {"tool_results": res}
    except MixingBuddyError as e:
        return {"tool_results": {"error": str(e)}}
    except Exception as e:  # a tool raising: the turn is still answered
        ctx.log.warning("what-if simulation failed", exc_info=True)
        return {"tool_results": {"error": f"the measurement failed ({type(e).__name__})"},
                "degradations": [f"a measurement failed ({type(e).__name__})"]}


def answer(state: AgentState, ctx: AgentContext) -> dict:
    degr: list[str] = []
    rt = state.get("route") or {}
    try:
        a = compose_answer(rt, dict(state), state["report"], state.get("findings") or [],
                           state.get("claims") or [], state.get("tool_results"))
        text, new = a.text(), list(a.led.items)
        focus, focus_stem = a.focus, a.focus_stem
    except Exception as e:  # never lose the turn
        ctx.log.warning("follow-up answer failed", exc_info=True)
        text = ("Sorry, I could not answer that from the measurements (an internal error: "
                f"{type(e).__name__}). The conversation is intact; try asking another way.\n")
        new, focus, focus_stem = [], None, None
        degr.append(f"the answer failed ({type(e).__name__})")
    out = {**start_turn(state, ctx, text), "degradations": degr, "evidence": new}
    if focus:
        out["focus"] = focus
    if focus_stem:
        out["focus_stem"] = focus_stem
    return out


# --------------------------------------------------------------------------- the routing tool

ANSWER_TOPIC = "answer_topic"
ANSWER_TOPIC_DESCRIPTION = (
    "The measured answer about one topic of this mix, as MixingBuddy's own router would answer it "
    "(the numbers come from the stored review; a what-if with a stem and gain_db is simulated). "
    "Call it once per part of the user's question that the measured context does not answer yet. "
    "intent: whatif (a gain move on a stem: stem and signed gain_db), platform (loudness; platform "
    "when named), masking (stem = the covered stem), low_end (region sub or low), stereo, peaks, "
    "dynamics, dc_offset, spectrum (tone; region low_mid, mid, presence, brilliance or air), reference "
    "(against the user's reference track), stem_info / stem_fix (one stem), balance (stem levels; stem "
    "when named), why / fix (about: the topic intent), fix_first, overview, help, out_of_scope.")


class AnswerTopicArgs(BaseModel):
    """The ``answer_topic`` tool's arguments: one part of a question (``agent.intents.Part``)."""

    model_config = ConfigDict(extra="forbid")

    intent: Intent = Field(description="what the part asks for")
    stem: Literal["vocals", "drums", "bass", "other"] | None = Field(None, description="the stem it is about")
    region: Literal[REGIONS] | None = Field(None, description="the spectral region it is about")  # type: ignore[valid-type]
    platform: Literal[tuple(PLATFORM_TARGETS)] | None = Field(  # type: ignore[valid-type]
        None, description="the streaming or broadcast platform it is about")
    gain_db: float | None = Field(None, ge=-MAX_GAIN_DB, le=MAX_GAIN_DB,
                                  description="a what-if's gain move in dB, signed (+ up, - down)")
    about: Literal[TOPICS] | None = Field(None, description="why / fix: the topic intent asked about")  # type: ignore[valid-type]
    reference: bool = Field(False, description="against the user's reference track")


def answer_topic(state: dict, ctx: AgentContext, args: AnswerTopicArgs) -> tuple[str, list[dict]]:
    """The composer's answer for one part (``answer_topic`` tool): (the result as JSON text, its
    numbers as evidence rows). The part goes through :func:`whatif` when it asks for a gain move, then
    :func:`agent.answers.answer`, exactly as a routed question does.

    Raises
    ------
    InvalidArgumentError
        When the conversation holds no review to answer from.
    """
    if state.get("report") is None:
        raise InvalidArgumentError(f"{ANSWER_TOPIC}: no review in this conversation to answer from")
    part = Part(**args.model_dump()).kept()
    rt = Route(question=state.get("question") or "", parts=[part], method="llm").as_state()
    tool_results = whatif({**state, "route": rt}, ctx).get("tool_results") if rt["needs_tools"] else None
    a = compose_answer(rt, dict(state), state["report"], state.get("findings") or [], state.get("claims") or [],
                       tool_results)
    shown = {k: v for k, v in part.model_dump(exclude={"confidence", "mono"}).items() if v not in (None, False)}
    content = json.dumps({"tool": ANSWER_TOPIC, "part": shown, "answer": a.text()})
    return content, [e.model_dump(mode="json") for e in a.led.items]


def answer_topic_tool() -> StructuredTool:
    """:func:`answer_topic` as a LangChain tool run by the ``tools`` node on the conversation's state."""

    def run(runtime: ToolRuntime, **arguments: Any) -> tuple[str, dict]:
        content, evidence = answer_topic(dict(runtime.state), runtime.context, AnswerTopicArgs(**arguments))
        return content, {"evidence": evidence}

    schema = type("AnswerTopicArgs", (AnswerTopicArgs,), {"model_config": ConfigDict(extra="ignore")})
    return StructuredTool.from_function(func=run, name=ANSWER_TOPIC, description=ANSWER_TOPIC_DESCRIPTION,
                                        args_schema=schema, response_format="content_and_artifact")
