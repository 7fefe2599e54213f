"""The tools node: the measurement registry (``tools.registry``) as LangChain tools, run by
LangGraph's ``ToolNode`` on the conversation's own audio.

Each call is answered by a ``ToolMessage``: the result as JSON (long lists cut) with the result's
numbers as evidence rows in its ``artifact``, or ``{"error": ...}`` for an unknown tool, arguments
that are not a JSON object or fail the schema, or a tool that raised. A failing call never ends
the turn; the model node records it as a degradation.
"""
from __future__ import annotations

import json
import time
from typing import Any

from langchain_core.messages import ToolMessage
from langchain_core.tools import StructuredTool
from langgraph.prebuilt import ToolNode, ToolRuntime
from langgraph.prebuilt.tool_node import ToolInvocationError
from pydantic import ConfigDict

from ...tools.errors import MixingBuddyError
from ...tools.registry import TOOLS, call_tool
from ...tools.registry import openai_tools as registry_tools
from ..endpoint import INVALID_ARGUMENTS
from ..grounding import result_evidence

__all__ = ["MAX_LIST_ITEMS_SHOWN", "MAX_TOOL_RESULT_CHARS", "agent_tools", "measurement_tools", "openai_tools",
           "tool_node"]

MAX_LIST_ITEMS_SHOWN = 48  # longer lists in a tool result are cut before the model sees them
MAX_TOOL_RESULT_CHARS = 16_000


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


def _measurement_tool(name: str) -> StructuredTool:
    spec = TOOLS[name]

    def run(runtime: ToolRuntime, **arguments: Any) -> tuple[str, dict]:
        result = call_tool(runtime.context.audio_for(runtime.state), name, arguments)
        content = json.dumps({"tool": name, "result": _shown(result.model_dump(mode="json"))})
        if len(content) > MAX_TOOL_RESULT_CHARS:
            content = json.dumps({"tool": name, "verdict": result.verdict,
                                  "note": "full result too long to show; numbers above are measured"})
        return content, {"evidence": result_evidence(name, result)}

    # the schema the model sees; extra keys are refused in _call (the injected runtime is one)
    schema = type(spec.params.__name__, (spec.params,), {"model_config": ConfigDict(extra="ignore")})
    return StructuredTool.from_function(func=run, name=name, description=spec.description,
                                        args_schema=schema, response_format="content_and_artifact")


def measurement_tools() -> list[StructuredTool]:
    """Every registry tool, with its JSON schema, measuring the conversation's audio."""
    return [_measurement_tool(name) for name in TOOLS]


def agent_tools() -> list[StructuredTool]:
    """The measurement tools and ``answer_topic`` (``nodes.followup``: the composer's answer for one
    part of a question, routed by the model with the router's intents)."""
    from .followup import answer_topic_tool  # followup opens the model's turn: imported when used

    return [*measurement_tools(), answer_topic_tool()]


def openai_tools() -> list[dict[str, Any]]:
    """The tools the model is offered, in the chat-completions ``tools`` format: the registry's
    measurement tools and ``answer_topic``."""
    from .followup import ANSWER_TOPIC, ANSWER_TOPIC_DESCRIPTION, AnswerTopicArgs

    return [*registry_tools(), {"type": "function", "function": {
        "name": ANSWER_TOPIC, "description": ANSWER_TOPIC_DESCRIPTION, "parameters": AnswerTopicArgs.model_json_schema()}}]


def _params(request) -> type:
    """The argument model of a call's tool."""
    name = request.tool_call["name"]
    return TOOLS[name].params if name in TOOLS else request.tool.args_schema


def _error_text(name: str, e: BaseException) -> str:
    if isinstance(e, ToolInvocationError):
        first = (e.filtered_errors or e.source.errors() or [{}])[0]
        where = ".".join(str(x) for x in first.get("loc", ())) or "arguments"
        return f"{name}: {where}: {first.get('msg', 'invalid arguments')}"
    if isinstance(e, MixingBuddyError):
        return str(e)
    return f"{name}: internal error ({type(e).__name__}: {' '.join(str(e).split())[:160]})"


def _call(request, execute) -> ToolMessage:
    """Run one call (ToolNode's ``wrap_tool_call``): time it, and turn every failure into an
    error result the model can read."""
    call = request.tool_call
    name, call_id = call["name"], call["id"]
    ctx = request.runtime.context
    ctx.progress("tools", f"{name} started")
    t0 = time.perf_counter()
    error = None
    msg = None
    if request.tool is None:
        error = f"unknown tool {name!r}; the tools are: {', '.join(t.name for t in agent_tools())}"
    elif INVALID_ARGUMENTS in (call.get("args") or {}):
        error = f"{name}: arguments are not valid JSON (a JSON object is expected)"
    elif extra := sorted(set(call.get("args") or {}) - set(_params(request).model_fields)):
        error = f"{name}: {extra[0]}: extra inputs are not permitted"
    else:
        try:
            msg = execute(request)
        except Exception as e:  # noqa: BLE001 - a tool bug must not end the turn
            error = _error_text(name, e)
            if not isinstance(e, (MixingBuddyError, ToolInvocationError)):
                ctx.log.warning("tool %s raised", name, exc_info=True)
    seconds = round(time.perf_counter() - t0, 3)
    ctx.progress("tools", f"{name} done ({seconds:.2f} s)" if error is None else f"{name} failed")
    if error is not None:
        ctx.log.warning("llm: tool call %s failed: %s", name or "(unnamed)", error)
        return ToolMessage(content=json.dumps({"error": error}), tool_call_id=call_id, name=name, status="error",
                           artifact={"ok": False, "error": error, "seconds": seconds, "evidence": []})
    ctx.log.info("llm: tool %s ran in %.2f s", name, seconds)
    artifact = dict(msg.artifact or {})
    return msg.model_copy(update={"artifact": {"ok": True, "error": None, "seconds": seconds,
                                               "evidence": list(artifact.get("evidence") or [])}})


def tool_node() -> ToolNode:
    """LangGraph's ToolNode over the measurement tools and ``answer_topic``, on the ``llm_messages``
    channel."""
    return ToolNode(agent_tools(), messages_key="llm_messages", handle_tool_errors=False,
                    wrap_tool_call=_call)
