"""Follow-up turns: route the question (``agent.intents.route``), simulate a gain move when it
asks for one (``whatif``), and answer from the stored analysis; with a language model
configured, the answer opens the model's turn (``nodes.llm_loop``)."""
from __future__ import annotations

from ...tools.errors import MixingBuddyError
from ..answers import answer as compose_answer
from ..context import AgentContext
from ..intents import route
from ..state import AgentState
from ..whatif import master_residual, simulate_gain
from .llm_loop import start_turn


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
