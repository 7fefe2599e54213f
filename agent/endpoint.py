"""An OpenAI-compatible chat endpoint: its configuration, one bounded request, and the messages
converted both ways.

Any server that speaks the chat-completions protocol works (OpenAI, vLLM, Ollama, llama.cpp's
server...), chosen by :class:`EndpointConfig` or by the environment (:func:`endpoint_config_from_env`).
The embedded default needs none of this: with no endpoint configured the composer answers alone.
The tool loop and the grounding guard are nodes of the graph (``agent.nodes.llm_loop``);
:func:`llm_answer` runs those nodes on their own, for a caller without a conversation store.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlparse

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from pydantic import BaseModel

from ..tools.errors import InvalidArgumentError

log = logging.getLogger("mixingbuddy.agent")
ENV_BASE_URL = "MIXINGBUDDY_LLM_BASE_URL"
ENV_MODEL = "MIXINGBUDDY_LLM_MODEL"
ENV_API_KEY = "MIXINGBUDDY_LLM_API_KEY"
ENV_TIMEOUT_S = "MIXINGBUDDY_LLM_TIMEOUT_S"
ENV_STREAM = "MIXINGBUDDY_LLM_STREAM"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")

# Sent when no key is configured: local servers ignore it, and it stops the openai client from
# falling back to $OPENAI_API_KEY and sending that key to whatever base_url was configured.
PLACEHOLDER_API_KEY = "no-key"
MAX_REPLY_CHARS = 20_000  # a longer reply is refused (it would be stored in every checkpoint)
INVALID_ARGUMENTS = "__invalid_arguments__"  # a tool call whose arguments were not a JSON object

NOTE_UNREACHABLE = "(The language model was unreachable, so MixingBuddy's built-in composer answered.)"
NOTE_UNUSABLE = ("(The language model gave no usable reply, so MixingBuddy's built-in composer "
                 "answered.)")
NOTE_UNGROUNDED = ("(Answered by MixingBuddy's built-in composer: the language model's answer "
                   "cited numbers that were not measured.)")

SYSTEM_PROMPT = """\
You are MixingBuddy, a mix critic talking with a music producer about their mix.
MixingBuddy measured the mix with its own tools; everything you say must rest on those measurements.
Rules for numbers:
- Use only numbers that appear in the measured review below, in the user's own messages, or in a tool result in this conversation.
- Write each number as it was given (same value, same decimals, same unit: LUFS, LU, dBTP, dB, Hz, s).
- Never estimate, convert, add up or invent a number. If a number you would need is not there, call a tool to measure it or say plainly that it was not measured.
Be concrete and brief: say what to change, on which track, by how much, and why. Markdown is fine."""

REVIEW_REQUEST = """\
Here is the review MixingBuddy composed from its measurements:

<review>
{draft}
</review>

Rewrite it for the producer as clear, friendly prose. Keep every finding, its order of importance and every number exactly as written; add no number that is not in the review."""

FOLLOWUP_CONTEXT = """\

MixingBuddy's built-in answer to the user's latest question, composed from the measurements (its numbers are measured; use them, and call a tool for anything they do not cover):
<measured_answer>
{draft}
</measured_answer>"""

NOTE_REJECTED = ("(Answered by MixingBuddy's built-in composer: the language model's answer was "
                 "not usable as it stood.)")

REFUSE_REQUEST = """\
Your answer tells me to run a command or to share a password, key or other secret. A mix critic never \
does that. Answer again about the mix only, from the measurements."""

KEEP_FINDINGS_REQUEST = """\
Your rewrite dropped findings the review marked as worth fixing: {titles}. \
Write it again and keep every finding with its numbers, in the same order of importance."""

REGENERATE_REQUEST = """\
Your answer states numbers that are not in the measurements: {numbers}. \
Write the answer again using only numbers from the measured review, my messages or the tool results, \
exactly as written there; leave out any number you cannot trace to them."""


@dataclass
class EndpointConfig:
    """Where and how to reach the chat endpoint."""

    base_url: str  # e.g. "http://127.0.0.1:11434/v1" (Ollama), "https://api.openai.com/v1"
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 60.0  # the whole language-model part of one turn, every request included
    max_tool_rounds: int = 3
    max_tool_calls: int = 8  # per round; further calls are dropped with a degradation
    max_tokens: int = 1024  # per reply: a small model otherwise writes until its context is full
    temperature: float = 0.2
    # stream replies (server-sent events) to requests that offer no tools: a turn past its deadline
    # closes the connection, which stops a local server's generation instead of leaving it to run
    # on to max_tokens
    stream: bool = False

    def __post_init__(self) -> None:
        url = urlparse(self.base_url or "")
        if url.scheme not in ("http", "https") or not url.netloc:
            raise InvalidArgumentError(
                f"LLM base URL must be an http(s) URL such as http://127.0.0.1:11434/v1, got {self.base_url!r}")
        if not (self.model or "").strip():
            raise InvalidArgumentError("LLM model name is empty")
        if not (isinstance(self.timeout_s, (int, float)) and math.isfinite(self.timeout_s)
                and self.timeout_s > 0):
            raise InvalidArgumentError(f"LLM timeout must be a positive number of seconds, got {self.timeout_s!r}")
        for name in ("max_tool_rounds", "max_tool_calls", "max_tokens"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v >= (0 if name == "max_tool_rounds" else 1)):
                raise InvalidArgumentError(f"{name} must be a positive integer, got {v!r}")
        if not isinstance(self.stream, bool):
            raise InvalidArgumentError(f"stream must be True or False, got {self.stream!r}")


def endpoint_config_from_env(env: Mapping[str, str] = os.environ) -> EndpointConfig | None:
    """The endpoint named by ``MIXINGBUDDY_LLM_BASE_URL`` / ``_MODEL`` / ``_API_KEY`` /
    ``_TIMEOUT_S`` / ``_STREAM`` (1 or 0); None when no base URL is set (the embedded default, no
    network). A base URL without a model, a timeout that is not a positive number, or a stream
    flag that is not 1/0 (true/false, yes/no, on/off) is an :class:`InvalidArgumentError`."""
    base_url = (env.get(ENV_BASE_URL) or "").strip()
    if not base_url:
        return None
    model = (env.get(ENV_MODEL) or "").strip()
    if not model:
        raise InvalidArgumentError(f"{ENV_BASE_URL} is set but {ENV_MODEL} is not: name the model to use")
    kwargs: dict[str, Any] = {}
    raw_timeout = (env.get(ENV_TIMEOUT_S) or "").strip()
    if raw_timeout:
        try:
            kwargs["timeout_s"] = float(raw_timeout)
        except ValueError:
            raise InvalidArgumentError(f"{ENV_TIMEOUT_S} must be a number of seconds, got {raw_timeout!r}") from None
    raw_stream = (env.get(ENV_STREAM) or "").strip().lower()
    if raw_stream:
        if raw_stream not in _TRUE + _FALSE:
            raise InvalidArgumentError(f"{ENV_STREAM} must be 1 or 0, got {raw_stream!r}")
        kwargs["stream"] = raw_stream in _TRUE
    api_key = (env.get(ENV_API_KEY) or "").strip() or None
    return EndpointConfig(base_url=base_url, model=model, api_key=api_key, **kwargs)


class EndpointFault(Exception):
    """The endpoint failed this turn; ``unreachable`` picks the note shown to the user."""

    def __init__(self, message: str, *, unreachable: bool):
        super().__init__(message)
        self.unreachable = unreachable

    @property
    def note(self) -> str:
        return NOTE_UNREACHABLE if self.unreachable else NOTE_UNUSABLE


# --- one request --------------------------------------------------------------------------------

def _bounded(fn: Callable[[], Any], seconds: float) -> Any:
    """``fn()`` in a worker thread, abandoned (TimeoutError) when it has not returned within
    ``seconds``: a server that trickles a byte at a time cannot hold the turn."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = e

    worker = threading.Thread(target=run, name="mixingbuddy-llm-request", daemon=True)
    worker.start()
    worker.join(max(0.0, seconds))
    if worker.is_alive():
        raise TimeoutError
    if "error" in box:
        raise box["error"]
    return box["value"]


def chat_completion(cfg: EndpointConfig, messages: list[dict], *, tools: list[dict] | None = None,
                    tool_choice: str = "auto", deadline: float | None = None,
                    on_text: Callable[[str], None] | None = None) -> dict:
    """One chat-completions request; the reply's ``message`` dict, or an :class:`EndpointFault`.

    ``deadline``: a ``time.monotonic()`` instant the request must complete by (default: now +
    ``cfg.timeout_s``).

    Every request is bounded: the client has ``max_retries=0``, sends ``max_tokens``, and a
    request that has not completed by the turn's deadline (``timeout_s`` for the whole
    language-model part of a turn) is abandoned, however slowly the server trickles bytes
    (:func:`_bounded`). With ``cfg.stream`` a request that offers no tools is streamed
    (:func:`_streamed_message`) and closed at the deadline; one that offers tools is sent whole,
    since some servers cannot stream an automatic tool choice (llama-cpp-python's
    ``chatml-function-calling`` refuses it). Any fault is an :class:`EndpointFault`; the graph
    then answers with the composer's draft and a note.

    ``on_text``: with a streamed request, called with the reply's text so far after each piece
    (from the request's worker thread; unchecked endpoint text, for the caller to check)."""
    import openai  # imported here: the embedded default never needs it

    ends = deadline if deadline is not None else time.monotonic() + cfg.timeout_s
    remaining = ends - time.monotonic()
    if remaining <= 0:
        raise EndpointFault(f"language model endpoint timed out (the turn's {cfg.timeout_s:g} s were used up)",
                            unreachable=True)
    kwargs: dict[str, Any] = {"model": cfg.model, "messages": messages, "temperature": cfg.temperature,
                              "max_tokens": cfg.max_tokens}
    if tools:
        kwargs["tools"] = tools
        kwargs["tool_choice"] = tool_choice
    client = openai.OpenAI(base_url=cfg.base_url, api_key=cfg.api_key or PLACEHOLDER_API_KEY,
                           timeout=remaining, max_retries=0)
    try:
        if cfg.stream and not tools:
            return _bounded(lambda: _streamed_message(client, kwargs, ends, on_text), remaining + 0.5)
        raw = _bounded(lambda: client.chat.completions.with_raw_response.create(**kwargs), remaining + 0.5)
        body = raw.http_response.text
    except (TimeoutError, openai.APITimeoutError):
        raise EndpointFault(f"language model endpoint timed out (no complete reply within {cfg.timeout_s:g} s)",
                            unreachable=True) from None
    except openai.APIConnectionError as e:
        cause = f": {e.__cause__}" if e.__cause__ else ""
        raise EndpointFault(f"language model endpoint connection failed{cause}", unreachable=True) from None
    except openai.APIStatusError as e:
        detail = " ".join(str(e.message).split())[:160]
        raise EndpointFault(f"language model endpoint returned HTTP {e.status_code} ({detail})",
                            unreachable=True) from None
    except openai.OpenAIError as e:
        raise EndpointFault(f"language model client error: {' '.join(str(e).split())[:160]}",
                            unreachable=True) from None
    finally:
        client.close()
    try:
        data = json.loads(body)
    except ValueError:
        raise EndpointFault("language model endpoint replied with a body that is not JSON",
                            unreachable=False) from None
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices:
        raise EndpointFault("language model endpoint replied with an empty choice list", unreachable=False)
    msg = choices[0].get("message") if isinstance(choices[0], dict) else None
    if not isinstance(msg, dict):
        raise EndpointFault("language model reply had no message", unreachable=False)
    return msg


def _streamed_message(client: Any, kwargs: dict[str, Any], deadline: float,
                      on_text: Callable[[str], None] | None = None) -> dict:
    """One streamed chat completion accumulated into the ``message`` dict a non-streamed reply
    carries: content deltas joined, tool-call deltas merged by their ``index`` (id and name from
    the first delta that has them, argument fragments joined).

    ``deadline``: a ``time.monotonic()`` instant; a chunk arriving after it ends the stream
    (TimeoutError), and so does a reply past ``MAX_REPLY_CHARS`` (returned cut, for the caller to
    refuse). Either way the connection is closed, so the server stops generating. ``on_text`` is
    called with the text so far after each content piece; an error it raises is logged and
    streaming to it stops (the reply itself goes on)."""
    stream = client.chat.completions.create(**kwargs, stream=True)
    parts: list[str] = []
    n_chars = 0
    calls: dict[int, dict[str, Any]] = {}
    seen_choice = False
    try:
        for chunk in stream:
            if time.monotonic() > deadline:
                raise TimeoutError
            for choice in chunk.choices or []:
                if choice.index != 0 or choice.delta is None:
                    continue
                seen_choice = True
                delta = choice.delta
                if isinstance(delta.content, str) and delta.content:
                    parts.append(delta.content)
                    n_chars += len(delta.content)
                    if on_text is not None and n_chars <= MAX_REPLY_CHARS:
                        try:
                            on_text("".join(parts))
                        except Exception:  # noqa: BLE001 - a listener must not break the reply
                            log.warning("llm: the streamed-text listener failed", exc_info=True)
                            on_text = None
                for tc in delta.tool_calls or []:
                    slot = calls.setdefault(tc.index, {"id": None, "type": "function",
                                                       "function": {"name": "", "arguments": ""}})
                    slot["id"] = slot["id"] or tc.id
                    if tc.function is not None:
                        slot["function"]["name"] = slot["function"]["name"] or (tc.function.name or "")
                        slot["function"]["arguments"] += tc.function.arguments or ""
                        n_chars += len(tc.function.arguments or "")
            if n_chars > MAX_REPLY_CHARS:
                break
    finally:
        stream.close()
    if not seen_choice:
        raise EndpointFault("language model endpoint streamed no choices", unreachable=False)
    msg: dict[str, Any] = {"role": "assistant", "content": "".join(parts) or None}
    if calls:
        msg["tool_calls"] = [calls[i] for i in sorted(calls)]
    return msg


# --- messages both ways -------------------------------------------------------------------------

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)


def reply_text(content: Any) -> str:
    """The reply text, without a reasoning model's <think> block."""
    if isinstance(content, list):  # content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if not isinstance(content, str):
        return ""
    return _THINK.sub("", content).strip()


def reply_message(msg: dict) -> AIMessage:
    """An endpoint's reply as an AIMessage. Tool calls keep their ids; arguments that are not a
    JSON object are kept as ``{INVALID_ARGUMENTS: raw}`` so the tool node answers them with an error."""
    calls = []
    raw_calls = msg.get("tool_calls") if isinstance(msg.get("tool_calls"), list) else []
    for i, call in enumerate(raw_calls):
        call = call if isinstance(call, dict) else {}
        fn = call.get("function") if isinstance(call.get("function"), dict) else {}
        raw = fn.get("arguments")
        args: Any = raw
        if isinstance(raw, str):
            try:
                args = json.loads(raw) if raw.strip() else {}
            except ValueError:
                args = None
        if not isinstance(args, dict):
            args = {INVALID_ARGUMENTS: raw if isinstance(raw, str) else json.dumps(raw)[:200]}
        calls.append({"name": str(fn.get("name") or ""), "args": args,
                      "id": str(call.get("id") or f"call_{i}"), "type": "tool_call"})
    content = msg.get("content")
    return AIMessage(content=content if isinstance(content, (str, list)) else "", tool_calls=calls)


def endpoint_messages(messages: list[BaseMessage]) -> list[dict]:
    """LangChain messages in the chat-completions format (tool-call ids kept)."""
    out: list[dict] = []
    for m in messages:
        if isinstance(m, SystemMessage):
            out.append({"role": "system", "content": m.content})
        elif isinstance(m, HumanMessage):
            out.append({"role": "user", "content": m.content})
        elif isinstance(m, ToolMessage):
            out.append({"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content})
        elif isinstance(m, AIMessage):
            # "" rather than null beside tool calls: llama-cpp-python's server refuses a null content
            d: dict[str, Any] = {"role": "assistant", "content": m.content or ""}
            if m.tool_calls:
                d["tool_calls"] = [{
                    "id": c["id"], "type": "function",
                    "function": {"name": c["name"],
                                 "arguments": (c["args"][INVALID_ARGUMENTS] if INVALID_ARGUMENTS in c["args"]
                                               else json.dumps(c["args"]))}} for c in m.tool_calls]
            else:
                d["content"] = m.content
            out.append(d)
    return out


# --- a turn without a conversation store --------------------------------------------------------

class LLMAnswer(BaseModel):
    """One turn's answer and what happened on the way."""

    text: str
    source: Literal["llm", "composer"]
    degradations: list[str]
    tool_calls: list[dict]  # {"id", "name", "ok", "error", "seconds"}
    new_evidence: list[dict]  # {"tool", "quantity", "value", "unit", "decimals"}


def llm_answer(cfg: EndpointConfig, *, messages: list[dict], question: str | None, draft: str,
               evidence_values: list[float], ctx_factory: Callable[[], Any] | None,
               log: logging.Logger) -> LLMAnswer:
    """One turn through the graph's language-model nodes (model, tools, guard), without a
    conversation store: ``draft`` is the composer's grounded answer, ``evidence_values`` the
    measured numbers it may cite, ``ctx_factory`` builds the AudioContext the tools measure
    (None: no tools offered). Never raises."""
    from .nodes.llm_loop import run_llm_turn

    return run_llm_turn(cfg, messages=messages, question=question, draft=draft,
                        evidence_values=evidence_values, ctx_factory=ctx_factory, log=log)
