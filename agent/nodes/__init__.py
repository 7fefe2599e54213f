"""The graph's nodes, one module per job. Each node is ``fn(state, ctx) -> dict`` (a partial
state update); ``agent.graph`` wraps them for timing and progress and wires them up:

review:    ingest -> listen -> verify -> reconcile -> compose -> END
follow-up: router -> (tools, for a what-if on a stem) -> answer -> END
"""
