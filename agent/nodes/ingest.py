"""Ingest: decode and check the user's files, copy them into the thread's folder, resolve the
anchor stem. The decoded audio goes to the thread store's cache, never into the state."""
from __future__ import annotations

from ...tools.errors import InvalidArgumentError
from ...tools.io.audio import ALL_STEMS
from ..context import AgentContext
from ..state import AgentState
from .listen import preload
from .measure import start_early

MODEL_ANCHORS = ("vocals", "drums", "bass")


def model_anchor_for(anchor: str | None, present) -> str | None:
    """The anchor the audio model is told: ``anchor`` when the model knows it (vocals, drums or
    bass), else the first of those present; None when none is."""
    return anchor if anchor in MODEL_ANCHORS else next((r for r in MODEL_ANCHORS if r in present), None)


def default_anchor(stem_roles: list[str] | None) -> str | None:
    """Vocals if present (always, in a full mix), else drums, else None."""
    if stem_roles is None:
        return "vocals"
    for role in ("vocals", "drums"):
        if role in stem_roles:
            return role
    return None


def ingest(state: AgentState, ctx: AgentContext) -> dict:
    inp = state["inputs"]
    tid = state["thread_id"]
    actx = ctx.store.load(inp["mix"], inp.get("stems"), inp.get("reference"),
                          roles=inp.get("stem_roles") or None, max_duration_s=ctx.max_duration_s)
    if inp.get("anchor") and actx.stems is not None and inp["anchor"] not in actx.stems.stems:
        raise InvalidArgumentError(
            f"anchor stem {inp['anchor']!r} is not among the stems ({', '.join(actx.stems.roles)})")
    roles = actx.stems.roles if actx.stems is not None else None
    anchor = inp.get("anchor") or default_anchor(roles)
    model_anchor = model_anchor_for(anchor, roles if roles is not None else ALL_STEMS)
    # on the decoded audio, the audio model starts loading and the measurements start, both on
    # background threads, while the files are stored (the listen and measure nodes collect them)
    if model_anchor is not None:
        preload(ctx)
    start_early({**state, "platform": inp.get("platform") or "spotify"}, ctx, actx)
    audio = ctx.store.save(tid, actx, inp["mix"], inp.get("stems"), inp.get("reference"))
    what = f"with stems ({', '.join(roles)})" if roles else "without stems"
    ref = " and a reference track" if actx.reference is not None else ""
    request = f"Review my mix {what}{ref} for {inp.get('platform_label', inp.get('platform'))}."
    return {"audio": audio, "anchor": anchor, "model_anchor": model_anchor,
            "platform": inp.get("platform") or "spotify", "genre": inp.get("genre"),
            "claims": [], "focus": [], "focus_stem": None, "question": None, "tool_results": None,
            "messages": [{"role": "user", "content": request}]}
