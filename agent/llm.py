"""An OpenAI-compatible chat endpoint as MixingBuddy's optional voice and tool orchestrator.

Any server that speaks the chat-completions protocol works (OpenAI, vLLM, Ollama, llama.cpp's
server...), chosen by :class:`LLMConfig` or by the environment (:func:`llm_config_from_env`).
The embedded default needs none of this: when no endpoint is configured, the agent's composer
answers alone.

:func:`llm_answer` does one turn:

- review (``question`` is None): the model rewrites the composer's draft as friendlier prose,
  keeping every number; no tools are offered;
- follow-up: the model answers the question with the draft (the composer's own answer) in its
  prompt and may call the measurement tools (``tools.registry``), at most
  ``cfg.max_tool_rounds`` rounds; each call is validated and run against the conversation's own
  :class:`~mixingbuddy.tools.registry.AudioContext`, and its result goes back as a ``tool``
  message. A bad call (unknown tool, malformed JSON arguments, arguments failing the schema, a
  tool raising) goes back to the model as an error in the tool result, and is logged and
  counted as a degradation; the turn goes on.

The final text passes the grounding guard (:mod:`.guard`); the numbers of the user's question
and of the draft are allowed besides the evidence. A failing answer is regenerated once with
the ungrounded numbers named; if it fails again the draft is returned (source "composer") with a
note. An endpoint fault (connection refused, timeout, an HTTP error status, a body that is not
JSON, no choices, a reply with neither content nor tool calls) never raises: the draft is
returned with a note, a degradation naming the fault and a log warning. The client is built with
``max_retries=0`` and ``cfg.timeout_s`` so that a dead endpoint costs one timeout per turn.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel

from ..tools.errors import InvalidArgumentError, MixingBuddyError
from ..tools.registry import TOOLS, AudioContext, call_tool, openai_tools
from .guard import check_grounding, text_values
from .nodes.common import SERIES_MIN_LEN  # a numeric list this long is a series, not evidence

ENV_BASE_URL = "MIXINGBUDDY_LLM_BASE_URL"
ENV_MODEL = "MIXINGBUDDY_LLM_MODEL"
ENV_API_KEY = "MIXINGBUDDY_LLM_API_KEY"
ENV_TIMEOUT_S = "MIXINGBUDDY_LLM_TIMEOUT_S"

# Sent when no key is configured: local servers ignore it, and it stops the openai client from
# falling back to $OPENAI_API_KEY and sending that key to whatever base_url was configured.
PLACEHOLDER_API_KEY = "no-key"
MAX_HISTORY_MESSAGES = 20
MAX_LIST_ITEMS_SHOWN = 48  # longer lists in a tool result are cut before the model sees them
MAX_TOOL_RESULT_CHARS = 16_000

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

REGENERATE_REQUEST = """\
Your answer states numbers that are not in the measurements: {numbers}. \
Write the answer again using only numbers from the measured review, my messages or the tool results, \
exactly as written there; leave out any number you cannot trace to them."""


@dataclass
class LLMConfig:
    """Where and how to reach the chat endpoint."""

    base_url: str  # e.g. "http://127.0.0.1:11434/v1" (Ollama), "https://api.openai.com/v1"
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 30.0  # per request, the openai client's own timeout
    max_tool_rounds: int = 3
    temperature: float = 0.2

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
        if not (isinstance(self.max_tool_rounds, int) and self.max_tool_rounds >= 0):
            raise InvalidArgumentError(f"max_tool_rounds must be an integer >= 0, got {self.max_tool_rounds!r}")


def llm_config_from_env(env: Mapping[str, str] = os.environ) -> LLMConfig | None:
    """The endpoint named by ``MIXINGBUDDY_LLM_BASE_URL`` / ``_MODEL`` / ``_API_KEY`` /
    ``_TIMEOUT_S``; None when no base URL is set (the embedded default, no network). A base URL
    without a model, or a timeout that is not a positive number, is an
    :class:`InvalidArgumentError`."""
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
    api_key = (env.get(ENV_API_KEY) or "").strip() or None
    return LLMConfig(base_url=base_url, model=model, api_key=api_key, **kwargs)


class LLMAnswer(BaseModel):
    """One turn's answer and what happened on the way."""

    text: str
    source: Literal["llm", "composer"]
    degradations: list[str]
    tool_calls: list[dict]  # {"id", "name", "arguments", "ok", "error", "seconds"}
    new_evidence: list[dict]  # {"tool", "quantity", "value", "unit", "decimals"}


class _Fault(Exception):
    """The endpoint failed this turn; ``unreachable`` picks the note shown to the user."""

    def __init__(self, message: str, *, unreachable: bool):
        super().__init__(message)
        self.unreachable = unreachable


# --- tool results -> evidence --------------------------------------------------------------

_UNIT_SUFFIXES = (("_db_per_oct", "dB/oct"), ("_lufs", "LUFS"), ("_dbfs", "dBFS"), ("_dbtp", "dBTP"),
                  ("_lu", "LU"), ("_db", "dB"), ("_khz", "kHz"), ("_hz", "Hz"), ("_pct", "%"),
                  ("_ms", "ms"), ("_s", "s"), ("_ratio", "ratio"))
_ROW_KEYS = ("name", "role", "pair", "band", "region", "label")


def unit_of(field_name: str) -> str:
    """The unit a result field carries in its name (``integrated_lufs`` -> ``LUFS``)."""
    for suffix, unit in _UNIT_SUFFIXES:
        if field_name.endswith(suffix):
            return unit
    return ""


def _decimals(v: float) -> int:
    s = repr(float(v))
    if "e" in s or "." not in s:
        return 0
    frac = s.split(".", 1)[1].rstrip("0")
    return min(len(frac), 3)


def result_evidence(tool: str, obj: Any, path: str = "", unit_key: str = "") -> list[dict]:
    """Every number in a tool result as an evidence row; ``quantity`` is its path in the result
    (a row of a list is named by its ``name``/``role``/``band``... when it has one)."""
    rows: list[dict] = []
    if isinstance(obj, BaseModel):
        obj = obj.model_dump()
    if isinstance(obj, dict):
        for k, v in obj.items():
            rows += result_evidence(tool, v, f"{path}.{k}" if path else str(k), str(k))
    elif isinstance(obj, (list, tuple)):
        if len(obj) >= SERIES_MIN_LEN and all(isinstance(x, (int, float)) or x is None for x in obj):
            # a plain numeric series (short-term loudness per second...): answers cite the
            # statistics the tools computed from it, and hundreds of points would let an
            # invented number pass the guard by chance
            return rows
        for i, v in enumerate(obj):
            label = str(i)
            if isinstance(v, dict):
                label = next((str(v[k]) for k in _ROW_KEYS if isinstance(v.get(k), (str, int))), label)
            rows += result_evidence(tool, v, f"{path}[{label}]", unit_key)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool) and math.isfinite(obj):
        rows.append({"tool": tool, "quantity": path, "value": float(obj), "unit": unit_of(unit_key),
                     "decimals": _decimals(obj)})
    return rows


def _shown(obj: Any) -> Any:
    """A tool result as the model sees it: long lists cut, with a count of what was left out."""
    if isinstance(obj, dict):
        return {k: _shown(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        items = [_shown(v) for v in obj[:MAX_LIST_ITEMS_SHOWN]]
        if len(obj) > MAX_LIST_ITEMS_SHOWN:
            items.append(f"... {len(obj) - MAX_LIST_ITEMS_SHOWN} more not shown")
        return items
    return obj


# --- one turn ------------------------------------------------------------------------------

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)


def _clean(content: Any) -> str:
    """The reply text, without a reasoning model's <think> block."""
    if isinstance(content, list):  # content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if not isinstance(content, str):
        return ""
    return _THINK.sub("", content).strip()


def _history(messages: list[dict]) -> list[dict]:
    out = [{"role": m["role"], "content": m["content"]} for m in messages
           if isinstance(m, dict) and m.get("role") in ("user", "assistant")
           and isinstance(m.get("content"), str) and m["content"].strip()]
    return out[-MAX_HISTORY_MESSAGES:]


class _Turn:
    def __init__(self, cfg: LLMConfig, log: logging.Logger,
                 ctx_factory: Callable[[], AudioContext] | None):
        import openai  # imported here: the embedded default never needs it

        self.openai = openai
        self.cfg = cfg
        self.log = log
        self.ctx_factory = ctx_factory
        self._ctx: AudioContext | None = None
        self.degradations: list[str] = []
        self.tool_calls: list[dict] = []
        self.new_evidence: list[dict] = []
        self.client = openai.OpenAI(base_url=cfg.base_url, api_key=cfg.api_key or PLACEHOLDER_API_KEY,
                                    timeout=cfg.timeout_s, max_retries=0)

    def close(self) -> None:
        self.client.close()

    def degrade(self, message: str) -> None:
        self.log.warning("llm: %s", message)
        self.degradations.append(message)

    # -- the endpoint --

    def chat(self, convo: list[dict], tools: list[dict] | None, tool_choice: str | None) -> dict:
        kwargs: dict[str, Any] = {"model": self.cfg.model, "messages": convo,
                                  "temperature": self.cfg.temperature}
        if tools:
            kwargs["tools"] = tools
            kwargs["tool_choice"] = tool_choice or "auto"
        oa = self.openai
        try:
            raw = self.client.chat.completions.with_raw_response.create(**kwargs)
            body = raw.http_response.text
        except oa.APITimeoutError:
            raise _Fault(f"language model endpoint timed out (no reply within {self.cfg.timeout_s:g} s)",
                         unreachable=True) from None
        except oa.APIConnectionError as e:
            cause = f": {e.__cause__}" if e.__cause__ else ""
            raise _Fault(f"language model endpoint connection failed{cause}", unreachable=True) from None
        except oa.APIStatusError as e:
            detail = " ".join(str(e.message).split())[:160]
            raise _Fault(f"language model endpoint returned HTTP {e.status_code} ({detail})",
                         unreachable=True) from None
        except oa.OpenAIError as e:
            raise _Fault(f"language model client error: {' '.join(str(e).split())[:160]}",
                         unreachable=True) from None
        try:
            data = json.loads(body)
        except ValueError:
            raise _Fault("language model endpoint replied with a body that is not JSON",
                         unreachable=False) from None
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or not choices:
            raise _Fault("language model endpoint replied with an empty choice list", unreachable=False)
        first = choices[0] if isinstance(choices[0], dict) else {}
        msg = first.get("message")
        if not isinstance(msg, dict):
            raise _Fault("language model reply had no message", unreachable=False)
        return msg

    # -- tools --

    def ctx(self) -> AudioContext:
        if self._ctx is None:
            if self.ctx_factory is None:
                raise InvalidArgumentError("no measurement tools are available in this turn")
            self._ctx = self.ctx_factory()
        return self._ctx

    def run_tool(self, call: dict, index: int) -> dict:
        """Run one requested call; return the ``tool`` message that answers it."""
        call_id = str(call.get("id") or f"call_{len(self.tool_calls)}_{index}")
        fn = call.get("function") if isinstance(call.get("function"), dict) else {}
        name = str(fn.get("name") or "")
        arguments = fn.get("arguments")
        record: dict[str, Any] = {"id": call_id, "name": name,
                                  "arguments": arguments if isinstance(arguments, (str, dict)) else None,
                                  "ok": False, "error": None, "seconds": 0.0}
        t0 = time.perf_counter()
        try:
            if name not in TOOLS:
                raise InvalidArgumentError(f"unknown tool {name!r}; the tools are: {', '.join(TOOLS)}")
            if not isinstance(arguments, (str, dict, type(None))):
                raise InvalidArgumentError(f"{name}: arguments must be a JSON object")
            result = call_tool(self.ctx(), name, arguments)
            content = json.dumps({"tool": name, "result": _shown(result.model_dump())})
            if len(content) > MAX_TOOL_RESULT_CHARS:
                content = json.dumps({"tool": name, "verdict": result.verdict,
                                      "note": "full result too long to show; numbers above are measured"})
            self.new_evidence += result_evidence(name, result)
            record["ok"] = True
            self.log.info("llm: tool %s ran in %.2f s", name, time.perf_counter() - t0)
        except MixingBuddyError as e:
            record["error"] = str(e)
            content = json.dumps({"error": str(e)})
            self.degrade(f"tool call {name or '(unnamed)'} failed: {e}")
        except Exception as e:  # a tool bug must not end the turn
            msg = f"{name}: internal error ({type(e).__name__}: {' '.join(str(e).split())[:160]})"
            record["error"] = msg
            content = json.dumps({"error": msg})
            self.log.exception("llm: tool %s raised", name)
            self.degradations.append(f"tool call {name} failed: {msg}")
        record["seconds"] = round(time.perf_counter() - t0, 3)
        self.tool_calls.append(record)
        return {"role": "tool", "tool_call_id": call_id, "content": content}

    # -- the turn --

    def answer(self, messages: list[dict], question: str | None, draft: str,
               evidence: list[float]) -> LLMAnswer:
        if question is None:
            convo = [{"role": "system", "content": SYSTEM_PROMPT},
                     *_history(messages),
                     {"role": "user", "content": REVIEW_REQUEST.format(draft=draft)}]
            tools = None
        else:
            convo = [{"role": "system", "content": SYSTEM_PROMPT + FOLLOWUP_CONTEXT.format(draft=draft)},
                     *_history(messages)]
            if not (convo[-1]["role"] == "user" and convo[-1]["content"] == question):
                convo.append({"role": "user", "content": question})
            tools = openai_tools() if self.ctx_factory is not None else None

        rounds = 0
        while True:
            last_round = rounds >= self.cfg.max_tool_rounds
            msg = self.chat(convo, tools, "none" if last_round else "auto")
            calls = msg.get("tool_calls") if isinstance(msg.get("tool_calls"), list) else []
            if calls and tools and not last_round:
                rounds += 1
                convo.append({"role": "assistant", "content": msg.get("content"),
                              "tool_calls": [_echo_call(c, i) for i, c in enumerate(calls)]})
                convo += [self.run_tool(c, i) for i, c in enumerate(calls)]
                continue
            text = _clean(msg.get("content"))
            if not text:
                if calls:
                    raise _Fault(f"language model kept calling tools after {rounds} round(s) and gave "
                                 f"no answer", unreachable=False)
                raise _Fault("language model reply had neither content nor tool calls", unreachable=False)
            if calls:
                self.degrade(f"language model asked for tools beyond the {self.cfg.max_tool_rounds}-round "
                             f"limit; its text answer was used")
            break

        allowed = text_values(question or "") + text_values(draft)
        all_evidence = [*evidence, *(row["value"] for row in self.new_evidence)]
        check = check_grounding(text, all_evidence, allowed=allowed)
        if check.ok:
            return self.result(text, "llm")
        named = ", ".join(check.ungrounded[:12])
        self.degrade(f"grounding guard: the language model's answer cited unmeasured numbers ({named}); "
                     f"asked it once to answer again")
        convo += [{"role": "assistant", "content": text},
                  {"role": "user", "content": REGENERATE_REQUEST.format(numbers=named)}]
        msg = self.chat(convo, tools, "none")
        text2 = _clean(msg.get("content"))
        if not text2:
            raise _Fault("language model's regenerated reply was empty", unreachable=False)
        check2 = check_grounding(text2, all_evidence, allowed=allowed)
        if check2.ok:
            return self.result(text2, "llm")
        named2 = ", ".join(check2.ungrounded[:12])
        self.degrade(f"grounding guard: the regenerated answer still cited unmeasured numbers ({named2}); "
                     f"the built-in composer's answer was used")
        return self.result(_with_note(draft, NOTE_UNGROUNDED), "composer")

    def result(self, text: str, source: Literal["llm", "composer"]) -> LLMAnswer:
        return LLMAnswer(text=text, source=source, degradations=list(self.degradations),
                         tool_calls=list(self.tool_calls), new_evidence=list(self.new_evidence))


def _echo_call(call: Any, index: int) -> dict:
    """A requested tool call as it goes back in the assistant message (ids kept)."""
    call = call if isinstance(call, dict) else {}
    fn = call.get("function") if isinstance(call.get("function"), dict) else {}
    args = fn.get("arguments")
    return {"id": str(call.get("id") or f"call_{index}"), "type": "function",
            "function": {"name": str(fn.get("name") or ""),
                         "arguments": args if isinstance(args, str) else json.dumps(args or {})}}


def _with_note(draft: str, note: str) -> str:
    return f"{draft.rstrip()}\n\n{note}" if draft.strip() else note


def llm_answer(cfg: LLMConfig, *, messages: list[dict], question: str | None, draft: str,
               evidence_values: list[float], ctx_factory: Callable[[], AudioContext] | None,
               log: logging.Logger) -> LLMAnswer:
    """Answer one turn through the endpoint; never raises (see the module docstring).

    ``messages``: the conversation so far, ``[{"role": "user"|"assistant", "content": str}]``
    (the current question may be its last item or not). ``question``: None for the review.
    ``draft``: the composer's grounded answer, which the model rewrites or builds on and which
    is returned when the model fails. ``evidence_values``: the measured numbers the answer may
    cite. ``ctx_factory``: builds this conversation's AudioContext on the first tool call
    (None: no tools offered).
    """
    turn: _Turn | None = None
    try:
        turn = _Turn(cfg, log, ctx_factory)
        return turn.answer(messages, question, draft, list(evidence_values))
    except _Fault as f:
        if turn is None:  # pragma: no cover - _Turn raises no _Fault
            raise
        turn.degrade(str(f))
        return turn.result(_with_note(draft, NOTE_UNREACHABLE if f.unreachable else NOTE_UNUSABLE),
                           "composer")
    except Exception as e:  # never let the language model end a turn
        log.exception("llm: unexpected error")
        msg = f"language model turn failed unexpectedly ({type(e).__name__}: {' '.join(str(e).split())[:160]})"
        if turn is None:
            return LLMAnswer(text=_with_note(draft, NOTE_UNREACHABLE), source="composer",
                             degradations=[msg], tool_calls=[], new_evidence=[])
        turn.degradations.append(msg)
        return turn.result(_with_note(draft, NOTE_UNREACHABLE), "composer")
    finally:
        if turn is not None:
            turn.close()
