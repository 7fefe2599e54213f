"""What every node gets besides the state: the run-scoped context (LangGraph ``context_schema``)
and the optional language-model hook.

The context is never checkpointed: it holds the thread store (audio access), the audio-model
settings, the LLM configuration (None = the embedded default, no network), the progress
callback and a logger.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..tools.errors import InvalidArgumentError
from .schema import Evidence
from .store import DEFAULT_MAX_DURATION_S, ThreadStore

log = logging.getLogger("mixingbuddy.agent")


@dataclass
class AgentContext:
    store: ThreadStore
    weights: str | None = None
    use_model: bool = True
    llm: Any = None  # mixingbuddy.agent.llm.LLMConfig, or None for the embedded default
    on_progress: Callable[[str, str], None] | None = None
    log: logging.Logger = field(default_factory=lambda: log)
    max_duration_s: float = DEFAULT_MAX_DURATION_S
    # separate a bounced mix into stems when the user gives none (tools.separate; on when the
    # weights are installed, unless MIXINGBUDDY_SEPARATE=0)
    separate: bool = True

    def progress(self, node: str, status: str) -> None:
        if self.on_progress is None:
            return
        try:
            self.on_progress(node, status)
        except Exception:  # a broken progress callback must not break the turn
            self.log.warning("on_progress callback failed for %s", node, exc_info=True)


def resolve_llm(llm: Any) -> Any:
    """``"env"`` -> the config from MIXINGBUDDY_LLM_* (None when unset or when the backend
    module is not installed); None -> None; an LLMConfig -> itself."""
    if llm is None:
        return None
    if isinstance(llm, str):
        if llm != "env":
            raise InvalidArgumentError(f"llm must be 'env', None or an LLMConfig, got {llm!r}")
        try:
            from .llm import llm_config_from_env
        except ImportError:
            return None
        return llm_config_from_env()
    return llm


HISTORY_LIMIT = 20  # the backend keeps at most this many messages (llm.MAX_HISTORY_MESSAGES)


def chat_history(messages: list[dict], question: str | None, limit: int = HISTORY_LIMIT) -> list[dict]:
    """The conversation as the endpoint should see it, so that strict chat templates (which
    require user and assistant turns to alternate, starting with a user turn) accept it.

    Only non-empty user/assistant messages are kept and consecutive ones of one role are merged.
    A review (``question`` None) drops the trailing user message: the backend adds the review
    request as the user turn. A follow-up ends with ``question``: the current question is taken
    off the end, earlier unanswered questions (a turn cut short by a crash) are dropped, and the
    question is put back. At most ``limit`` messages are kept, starting with a user message."""
    turns: list[dict] = []
    for m in messages or []:
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            continue
        content = m.get("content")
        if not isinstance(content, str) or not content.strip():
            continue
        if turns and turns[-1]["role"] == m["role"]:
            turns[-1] = {"role": m["role"], "content": f"{turns[-1]['content']}\n\n{content}"}
        else:
            turns.append({"role": m["role"], "content": content})
    if question is not None and turns and turns[-1] == {"role": "user", "content": question}:
        turns.pop()
    while turns and turns[-1]["role"] == "user":
        turns.pop()
    tail = [{"role": "user", "content": question}] if question is not None else []
    keep = max(0, limit - len(tail))
    turns = turns[-keep:] if keep else []
    while turns and turns[0]["role"] != "user":
        turns.pop(0)
    return turns + tail


@dataclass
class LLMResult:
    text: str
    source: str
    degradations: list[str]
    new_evidence: list[dict]


def run_llm(ctx: AgentContext, state: dict, *, question: str | None, draft: str,
            evidence_values: list[float], history: list[dict]) -> LLMResult:
    """The composer's ``draft`` rewritten by the configured language model, or the draft
    itself on the embedded default or when the backend fails (a degradation says so)."""
    if ctx.llm is None:
        return LLMResult(draft, "composer", [], [])
    try:
        from .llm import llm_answer
    except ImportError as e:
        note = f"language model backend not installed ({type(e).__name__}); answered by the built-in composer"
        return LLMResult(draft, "composer", [note], [])
    tid, audio = state.get("thread_id"), state.get("audio") or {}
    try:
        ans = llm_answer(ctx.llm, messages=chat_history(history, question), question=question, draft=draft,
                         evidence_values=evidence_values, ctx_factory=lambda: ctx.store.context(tid, audio),
                         log=ctx.log)
    except Exception as e:  # the turn is still answered
        ctx.log.warning("llm_answer failed", exc_info=True)
        note = f"language model failed ({type(e).__name__}); answered by the built-in composer"
        return LLMResult(draft, "composer", [note], [])
    new = []
    for item in getattr(ans, "new_evidence", None) or []:
        try:
            new.append(Evidence.model_validate(item).model_dump())
        except (ValueError, TypeError):
            ctx.log.warning("dropped malformed evidence from the LLM backend: %r", item)
    source = ans.source if getattr(ans, "source", None) in ("llm", "composer") else "composer"
    return LLMResult(ans.text or draft, source, list(getattr(ans, "degradations", None) or []), new)
