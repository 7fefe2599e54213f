"""The graph's nodes, one module per job. Each node is ``fn(state, ctx) -> dict`` (a partial
state update); ``agent.graph`` wraps them for timing and progress and wires them up:

review:    ingest -> listen -> measure -> check_claims -> compose
follow-up: route -> (whatif, for a gain move on a stem) -> answer
then the composer's answer, or the language-model loop: llm <-> tools, guard (``nodes.llm_loop``)
"""
