"""The LangGraph graph: a review, or a follow-up on a stored one, then the language-model loop
when an endpoint is configured (``python -m mixingbuddy.agent.graph`` prints it as the README's
Mermaid block).

review:    START -> ingest -> listen -> measure -> check_claims -> compose
follow-up: START -> route -> (whatif, when the question asks for a gain move) -> answer
then:      compose | answer -> END (the composer's answer), or -> llm
           llm -> tools_condition -> tools (ToolNode) -> llm ... -> guard -> END, or -> llm once more
"""
from __future__ import annotations

from collections.abc import Callable

from langgraph.graph import END, START, StateGraph

from .context import AgentContext
from .nodes.check_claims import check_claims
from .nodes.common import timed
from .nodes.compose import compose
from .nodes.followup import answer, route_question, whatif
from .nodes.ingest import ingest
from .nodes.listen import listen
from .nodes.llm_loop import add_llm_loop, after_draft
from .nodes.measure import measure
from .state import AgentInput, AgentState

REVIEW_NODES: tuple[tuple[str, Callable], ...] = (
    ("ingest", ingest), ("listen", listen), ("measure", measure), ("check_claims", check_claims),
    ("compose", compose))
FOLLOWUP_NODES: tuple[tuple[str, Callable], ...] = (
    ("route", route_question), ("whatif", whatif), ("answer", answer))
LLM_NODES = ("llm", "tools", "guard")
NODE_NAMES = tuple(n for n, _ in REVIEW_NODES + FOLLOWUP_NODES) + LLM_NODES


def _entry(state: AgentState) -> str:
    return "route" if state.get("mode") == "followup" else "ingest"


def _after_route(state: AgentState) -> str:
    return "whatif" if (state.get("route") or {}).get("needs_tools") else "answer"


def build_graph() -> StateGraph:
    """The uncompiled graph. The entry is chosen from ``state["mode"]``. Each node times itself
    (``timings_s``), reports progress (``on_progress(node, status)``) and carries the turn's
    degradations (``nodes.common.timed``)."""
    g = StateGraph(AgentState, input_schema=AgentInput, context_schema=AgentContext)
    for name, fn in REVIEW_NODES + FOLLOWUP_NODES:
        g.add_node(name, timed(name, fn))
    g.add_conditional_edges(START, _entry, ["ingest", "route"])
    g.add_edge("ingest", "listen")
    g.add_edge("listen", "measure")
    g.add_edge("measure", "check_claims")
    g.add_edge("check_claims", "compose")
    g.add_conditional_edges("route", _after_route, ["whatif", "answer"])
    g.add_edge("whatif", "answer")
    for drafted in ("compose", "answer"):
        g.add_conditional_edges(drafted, after_draft, ["llm", END])
    add_llm_loop(g, timed)
    return g


def compile_graph(checkpointer=None):
    """The compiled graph. With a checkpointer (``SqliteSaver`` in ``api.MixingBuddy``), one
    ``thread_id`` per conversation, so a follow-up sees the stored analysis."""
    return build_graph().compile(checkpointer=checkpointer)


def mermaid() -> str:
    """The graph as Mermaid text (no PNG, no network)."""
    return compile_graph().get_graph().draw_mermaid()


def mermaid_markdown() -> str:
    """A fenced Mermaid block for the README."""
    return "```mermaid\n" + mermaid().rstrip() + "\n```\n"


if __name__ == "__main__":
    print(mermaid_markdown(), end="")
