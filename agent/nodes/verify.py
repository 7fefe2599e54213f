"""Verify: run the measurements once (``tools.analyze``: the standing checks, and the tools the
model's claim needs: stem balance with stems, the mix-only stem estimate without) and keep the
report in the state."""
from __future__ import annotations

from ...tools.analyze import analyze
from ..context import AgentContext
from ..state import AgentState


def verify(state: AgentState, ctx: AgentContext) -> dict:
    actx = ctx.store.context(state["thread_id"], state.get("audio") or {})
    # only an anchor the user chose is passed to the tools (the default one only frames the
    # audio model's question)
    anchor = (state.get("inputs") or {}).get("anchor")
    if actx.stems is None or anchor not in actx.stems.stems:
        anchor = None
    rep = analyze(actx.mix, actx.stems, anchor=anchor, reference=actx.reference,
                  platform=state.get("platform") or "spotify", workers=2)
    return {"report": rep.model_dump(mode="json")}
