"""MixingBuddy's agent: a LangGraph graph that listens (audio model), verifies the model's claims
with the measurement tools, composes grounded advice and answers follow-up questions.

The public entry point is :class:`mixingbuddy.agent.api.MixingBuddy` (also importable from here;
imported lazily so that ``import mixingbuddy.agent.<module>`` stays light).
"""
from __future__ import annotations

from typing import Any

__all__ = ["MixingBuddy", "balance_verdict"]


def __getattr__(name: str) -> Any:
    if name == "MixingBuddy":
        from .api import MixingBuddy

        return MixingBuddy
    if name == "balance_verdict":
        from .claims import balance_verdict

        return balance_verdict
    raise AttributeError(name)
