"""Helpers shared by the nodes: each node timed and reporting progress, and notes as evidence."""
from __future__ import annotations

import time
from collections.abc import Callable

from langgraph.runtime import Runtime

from ..context import AgentContext
from ..grounding import read_numbers
from ..numbers import Ledger
from ..schema import Evidence

ENTRY_NODES = ("ingest", "route")  # a turn starts here: its timings and degradations reset


def timed(name: str, fn: Callable[[dict, AgentContext], dict]) -> Callable:
    """``fn(state, ctx)`` as a graph node: it reports ``on_progress(name, status)`` at its start
    and end, adds its time to the turn's ``timings_s`` and its degradations to the turn's."""
    def node(state: dict, runtime: Runtime[AgentContext]) -> dict:
        ctx = runtime.context
        ctx.progress(name, "started")
        t0 = time.perf_counter()
        try:
            out = dict(fn(state, ctx) or {})
        except BaseException:
            ctx.progress(name, "failed")
            raise
        dt = time.perf_counter() - t0
        entry = name in ENTRY_NODES
        timings = {} if entry else dict(state.get("timings_s") or {})
        timings[name] = round(timings.get(name, 0.0) + dt, 3)
        out["timings_s"] = timings
        out["degradations"] = ([] if entry else list(state.get("degradations") or [])) + list(
            out.get("degradations") or [])
        ctx.progress(name, f"done ({dt:.2f} s)")
        return out

    node.__name__ = name
    return node


def note_evidence(notes: list[str], led: Ledger, tool: str = "ingest") -> None:
    """Record the numbers written inside measured notes (ingest warnings: durations, rates)
    as evidence of ``tool``, at the rounding they are written with."""
    for note in notes:
        for n in read_numbers(note):
            led.items.append(Evidence(tool=tool, quantity="warning", value=n.value, unit="", decimals=n.decimals))
