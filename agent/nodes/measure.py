"""Measure: run the measurements once (``tools.measure.analyze``: the standing checks, and the tools the
model's claim needs: stem balance with stems; without stems, the mix-only estimate and, when the
separator is installed, stem balance on stems separated from the mix) and keep the report; with
balance moves to suggest, the spectrum is measured again as it would be once they are made. Unless
the mix is to be separated, ingest starts the measurements on a background thread as soon as the
files are decoded (:func:`start_early`), so that they run while the audio model loads and listens."""
from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor

from ...tools.measure.analyze import analyze
from ..context import AgentContext
from ..findings import joint_moves
from ..spectrum_after_moves import spectrum_after_moves
from ..state import AgentState
from ..whatif import master_residual

SEPARATE_WINDOWS = 3  # the loudest 10 s windows of a long mix are separated
SEPARATE_WINDOW_S = 10.0
SEPARATE_OVERLAP = 0.0  # model segments inside a window do not overlap (no level change, half the time)
MAX_EARLY = 8  # measurements started ahead and not yet collected (a review that failed leaves one)

_EARLY: OrderedDict[tuple[str, int], Future] = OrderedDict()
_EARLY_LOCK = threading.Lock()
_EARLY_POOL: ThreadPoolExecutor | None = None


def separation_for(state: AgentState, ctx: AgentContext, mix) -> tuple[object | None, list[str]]:
    """The conversation's separated stems (from its cache, else separated now and cached), or
    None and a note saying why separation is off."""
    from ...tools.separate import separate_mix, separator_status

    folder = ctx.store.separation_dir(state["thread_id"])
    cached = ctx.store.separation(state["thread_id"])
    if cached is not None:
        return cached, []
    st = separator_status()
    if not st.available:
        return None, [st.reason]

    def progress(done: int, total: int) -> None:
        ctx.progress("measure", f"separating the mix into stems: segment {done} of {total}")

    try:
        sep = separate_mix(mix, n_windows=SEPARATE_WINDOWS, window_s=SEPARATE_WINDOW_S, overlap=SEPARATE_OVERLAP,
                           progress=progress)
    except Exception as e:  # noqa: BLE001 - the review goes on with the mix-only estimate
        ctx.log.warning("separation failed", exc_info=True)
        return None, [f"separation failed ({type(e).__name__}); stem levels estimated from the mix alone"]
    try:
        sep.save(folder)
    except OSError:
        ctx.log.warning("could not cache the separated stems in %s", folder, exc_info=True)
    return sep, []


def start_early(state: AgentState, ctx: AgentContext, actx) -> bool:
    """Start :func:`measure` on a background thread, so that it runs while the audio model loads
    and listens (the node then collects the result); only when it will not separate the mix
    (separation reports its progress, and the listen step should finish first). ``state`` is the
    state ingest leaves, ``actx`` the conversation's decoded audio. Returns whether it was started."""
    global _EARLY_POOL
    if actx.stems is None and ctx.separate:
        return False
    key = (state["thread_id"], id(ctx))
    with _EARLY_LOCK:
        if _EARLY_POOL is None:
            _EARLY_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="measure-early")
        _EARLY[key] = _EARLY_POOL.submit(_measure_now, dict(state), ctx, actx)
        while len(_EARLY) > MAX_EARLY:
            _EARLY.popitem(last=False)
    return True


def measure(state: AgentState, ctx: AgentContext) -> dict:
    with _EARLY_LOCK:
        early = _EARLY.pop((state["thread_id"], id(ctx)), None)
    if early is not None:
        return early.result()  # its exception, if it raised, is raised here as in the node
    return _measure_now(state, ctx)


def _measure_now(state: AgentState, ctx: AgentContext, actx=None) -> dict:
    if actx is None:
        actx = ctx.store.context(state["thread_id"], state.get("audio") or {})
    # only an anchor the user chose is passed to the tools (the default one only frames the
    # audio model's question)
    anchor = (state.get("inputs") or {}).get("anchor")
    if actx.stems is None or anchor not in actx.stems.stems:
        anchor = None
    sep, notes = (None, [])
    if actx.stems is None and ctx.separate:
        sep, notes = separation_for(state, ctx, actx.mix)
    rep = analyze(actx.mix, actx.stems, anchor=anchor, reference=actx.reference,
                  platform=state.get("platform") or "spotify", workers=2, separation=sep)
    return {"report": rep, "degradations": notes, "after_moves": moves_spectrum(rep, actx, sep, ctx)}


def moves_spectrum(rep, actx, sep, ctx: AgentContext):
    """The spectrum's change once the review's balance moves are made, measured on the stems the
    balance was measured on (the user's, with the master's residual; else the separated windows,
    with what the separator left out), or None without a move."""
    sol = joint_moves(rep.stem_balance)
    if sol is None or not sol.moves:
        return None
    try:
        if actx.stems is not None:
            residual, _ = master_residual(actx.mix, actx.stems)
            return spectrum_after_moves(sol, actx.stems, residual, "stems")
        if sep is not None:
            return spectrum_after_moves(sol, sep.stem_set(), sep.residual, "separated")
    except Exception:  # noqa: BLE001 - the review goes on; EQ advice is then not re-measured
        ctx.log.warning("could not measure the spectrum after the balance moves", exc_info=True)
    return None
