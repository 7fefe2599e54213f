"""The LangGraph graph.

review:    START -> ingest -> listen -> verify -> reconcile -> compose -> END
follow-up: START -> router -> (tools, when the question needs new measurements) -> answer -> END

The entry is chosen from ``state["mode"]``. Each node is wrapped to time itself (``timings_s``,
per turn), report progress (``on_progress(node, status)`` at its start and end) and carry the
turn's degradations. Compiled with a checkpointer (``SqliteSaver`` in ``api.MixingBuddy``), one
``thread_id`` per conversation, so a follow-up sees the stored analysis.

``python -m mixingbuddy.agent.graph`` prints the graph as a Mermaid block for the README.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from .context import AgentContext
from .nodes.compose import compose
from .nodes.followup import answer, router, tools
from .nodes.ingest import ingest
from .nodes.listen import listen
from .nodes.reconcile import reconcile
from .nodes.verify import verify
from .state import AgentState

REVIEW_NODES: tuple[tuple[str, Callable], ...] = (
    ("ingest", ingest), ("listen", listen), ("verify", verify), ("reconcile", reconcile),
    ("compose", compose))
FOLLOWUP_NODES: tuple[tuple[str, Callable], ...] = (("router", router), ("tools", tools), ("answer", answer))
NODE_NAMES = tuple(n for n, _ in REVIEW_NODES + FOLLOWUP_NODES)
ENTRY_NODES = ("ingest", "router")  # a turn starts here: its timings and degradations reset


def _wrap(name: str, fn: Callable[[dict, AgentContext], dict]):
    def node(state: AgentState, runtime: Runtime[AgentContext]) -> dict:
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
        timings[name] = round(dt, 3)
        out["timings_s"] = timings
        out["degradations"] = ([] if entry else list(state.get("degradations") or [])) + list(
            out.get("degradations") or [])
        ctx.progress(name, f"done ({dt:.2f} s)")
        return out

    node.__name__ = name
    return node


def _entry(state: AgentState) -> str:
    return "router" if state.get("mode") == "followup" else "ingest"


def _after_router(state: AgentState) -> str:
    return "tools" if (state.get("route") or {}).get("needs_tools") else "answer"


def build_graph() -> StateGraph:
    g = StateGraph(AgentState, context_schema=AgentContext)
    for name, fn in REVIEW_NODES + FOLLOWUP_NODES:
        g.add_node(name, _wrap(name, fn))
    g.add_conditional_edges(START, _entry, ["ingest", "router"])
    g.add_edge("ingest", "listen")
    g.add_edge("listen", "verify")
    g.add_edge("verify", "reconcile")
    g.add_edge("reconcile", "compose")
    g.add_edge("compose", END)
    g.add_conditional_edges("router", _after_router, ["tools", "answer"])
    g.add_edge("tools", "answer")
    g.add_edge("answer", END)
    return g


def compile_graph(checkpointer=None):
    return build_graph().compile(checkpointer=checkpointer)


def mermaid() -> str:
    """The graph as Mermaid text (no PNG, no network)."""
    return compile_graph().get_graph().draw_mermaid()


def mermaid_markdown() -> str:
    """A fenced Mermaid block for the README."""
    return "```mermaid\n" + mermaid().rstrip() + "\n```\n"


if __name__ == "__main__":
    print(mermaid_markdown(), end="")
