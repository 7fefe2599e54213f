"""Listen: the audio model's balance judgement on the loudest 10 s of the mix, parsed into a
Claim. Without weights (or when listening fails) a degradation is recorded and the review goes
on with the measurements alone."""
from __future__ import annotations

import threading

import numpy as np

from ..claims import parse_claim
from ..context import AgentContext
from ..schema import Heard
from ..state import AgentState
from ..store import stems_present

NO_MODEL = "the review uses the measurements alone"


def preload(ctx: AgentContext) -> None:
    """Load the audio model on a background thread (importing torch, reading the merged cache)
    once ingest has decoded the files, while it stores them and the measurements run;
    :func:`listen`'s own load then finds it loaded, or waits for it. A failure is left for
    :func:`listen` to meet and report."""
    if not ctx.use_model:
        return

    def load() -> None:
        try:
            from ...model.listen import Listener

            Listener.load(ctx.weights)
        except Exception:  # noqa: BLE001 - listen() loads again and says what went wrong
            ctx.log.debug("preloading the audio model failed", exc_info=True)

    threading.Thread(target=load, name="listen-preload").start()


def _heard_audio(mix, lst) -> tuple[np.ndarray, int, float]:
    """What the model is given: the whole mix in stereo, or for a long (spooled) mix only its
    loudest clip (the window the model would choose itself), read from the spool; with the
    clip's start in seconds."""
    if mix.spool is None:
        return mix.stereo(), mix.sr, 0.0
    from ...tools.separate.windows import loudest_windows

    clip_s = float(getattr(getattr(getattr(lst, "cfg", None), "features", None), "clip_s", 10.0))
    a, b = loudest_windows(mix.source(), mix.sr, clip_s, 1)[0]
    return mix.read_stereo(a, b), mix.sr, a / mix.sr


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
    x, sr, start_s = _heard_audio(actx.mix, lst)
    present = stems_present(actx.stems)
    try:
        if hasattr(lst, "listen"):
            res = lst.listen(x, sr, anchor, present)
            text = str(res.text)
            probs = {str(k): float(v) for k, v in dict(getattr(res, "class_probs", {}) or {}).items()}
            window = [start_s + float(v) for v in
                      (getattr(res, "window_s", None) or (0.0, min(x.shape[0] / sr, 10.0)))]
        else:  # a Listener without listen(): plain advice, window as the model chooses it
            from ...model.features import loudest_window

            text = lst.advise(x, sr, anchor, present)
            a, b = loudest_window(x, sr, lst.cfg.features.clip_s)
            probs, window = {}, [start_s + a / sr, start_s + b / sr]
    except Exception as e:
        ctx.log.warning("audio model failed to listen", exc_info=True)
        return {"listen": None, "degradations": [
            f"audio model unavailable: listening failed ({type(e).__name__}); {NO_MODEL}"]}
    return {"listen": Heard(text=text, class_probs=probs, window_s=window, anchor=anchor, stems_present=present),
            "claims": [parse_claim(text)]}
