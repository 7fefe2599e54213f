"""Listen: the audio model's balance judgement on the loudest 10 s of the mix, parsed into a
Claim. Without weights (or when listening fails) a degradation is recorded and the review goes
on with the measurements alone."""
from __future__ import annotations

from ..claims import parse_claim
from ..context import AgentContext
from ..schema import Heard
from ..state import AgentState
from ..store import stems_present

NO_MODEL = "the review uses the measurements alone"


def listen(state: AgentState, ctx: AgentContext) -> dict:
    if not ctx.use_model:
        return {"listen": None, "degradations": [f"audio model switched off; {NO_MODEL}"]}
    anchor = state.get("model_anchor")
    if anchor is None:
        return {"listen": None, "degradations": [
            f"audio model not used: it needs vocals, drums or bass among the stems as its anchor; {NO_MODEL}"]}
    try:
        from ...model.listen import Listener, ModelWeightsNotFoundError
    except Exception as e:  # noqa: BLE001 - torch or the model package missing or broken
        return {"listen": None, "degradations": [f"audio model unavailable ({type(e).__name__}); {NO_MODEL}"]}
    try:
        lst = Listener.load(ctx.weights)
    except ModelWeightsNotFoundError:
        ctx.log.info("no audio-model weights in %s", ctx.weights or "model/weights/")
        return {"listen": None, "degradations": [f"audio model unavailable: no trained weights found; {NO_MODEL}"]}
    except Exception as e:
        ctx.log.warning("audio model failed to load", exc_info=True)
        return {"listen": None, "degradations": [
            f"audio model unavailable: it failed to load ({type(e).__name__}); {NO_MODEL}"]}
    actx = ctx.store.context(state["thread_id"], state.get("audio") or {})
    x, sr = actx.mix.stereo(), actx.mix.sr
    present = stems_present(actx.stems)
    try:
        if hasattr(lst, "listen"):
            res = lst.listen(x, sr, anchor, present)
            text = str(res.text)
            probs = {str(k): float(v) for k, v in dict(getattr(res, "class_probs", {}) or {}).items()}
            window = [float(v) for v in (getattr(res, "window_s", None) or (0.0, min(actx.mix.duration_s, 10.0)))]
        else:  # a Listener without listen(): plain advice, window as the model chooses it
            from ...model.features import loudest_window

            text = lst.advise(x, sr, anchor, present)
            a, b = loudest_window(x, sr, lst.cfg.features.clip_s)
            probs, window = {}, [a / sr, b / sr]
    except Exception as e:
        ctx.log.warning("audio model failed to listen", exc_info=True)
        return {"listen": None, "degradations": [
            f"audio model unavailable: listening failed ({type(e).__name__}); {NO_MODEL}"]}
    return {"listen": Heard(text=text, class_probs=probs, window_s=window, anchor=anchor, stems_present=present),
            "claims": [parse_claim(text)]}
