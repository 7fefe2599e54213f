"""What every node gets besides the state: the run-scoped context (LangGraph ``context_schema``).

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
from .store import DEFAULT_MAX_DURATION_S, ThreadStore

log = logging.getLogger("mixingbuddy.agent")


@dataclass
class AgentContext:
    store: ThreadStore | None
    weights: str | None = None
    use_model: bool = True
    llm: Any = None  # mixingbuddy.agent.endpoint.EndpointConfig, or None for the embedded default
    on_progress: Callable[[str, str], None] | None = None
    # the language model's answer as it streams, each time a longer checked prefix of it
    # (``llm_loop``: sentences whose numbers the guard accepts); the final answer may differ
    on_text: Callable[[str], None] | None = None
    log: logging.Logger = field(default_factory=lambda: log)
    max_duration_s: float = DEFAULT_MAX_DURATION_S
    # separate a bounced mix into stems when the user gives none (tools.separate; on when the
    # weights are installed, unless MIXINGBUDDY_SEPARATE=0)
    separate: bool = True
    # the audio the LLM's tools measure, built from the state (default: the store's copy)
    audio_factory: Callable[[dict], Any] | None = None
    _audio: Any = field(default=None, init=False, repr=False)

    @property
    def tools_available(self) -> bool:
        return self.audio_factory is not None or self.store is not None

    def audio_for(self, state: dict) -> Any:
        """The conversation's AudioContext (``tools.registry``), built once per run."""
        if self._audio is None:
            if self.audio_factory is not None:
                self._audio = self.audio_factory(state)
            elif self.store is not None:
                self._audio = self.store.context(state["thread_id"], state.get("audio") or {})
            else:
                raise InvalidArgumentError("no measurement tools are available in this turn")
        return self._audio

    def progress(self, node: str, status: str) -> None:
        if self.on_progress is None:
            return
        try:
            self.on_progress(node, status)
        except Exception:  # a broken progress callback must not break the turn
            self.log.warning("on_progress callback failed for %s", node, exc_info=True)

    def text(self, checked_prefix: str) -> None:
        """Tell ``on_text`` the answer's checked text so far (a callback that fails is dropped)."""
        if self.on_text is None:
            return
        try:
            self.on_text(checked_prefix)
        except Exception:  # a broken callback must not break the turn
            self.log.warning("on_text callback failed", exc_info=True)
            self.on_text = None


def resolve_llm(llm: Any) -> Any:
    """``"env"`` -> the config from MIXINGBUDDY_LLM_* (None when unset or when the backend
    module is not installed); None -> None; an EndpointConfig -> itself."""
    if llm is None:
        return None
    if isinstance(llm, str):
        if llm != "env":
            raise InvalidArgumentError(f"llm must be 'env', None or an EndpointConfig, got {llm!r}")
        try:
            from .endpoint import endpoint_config_from_env
        except ImportError:
            return None
        return endpoint_config_from_env()
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
