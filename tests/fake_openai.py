"""A real HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions protocol, scripted.

Tests (and the scripted evaluations) point an OpenAI client at it; nothing is mocked in the
client. It answers:

- ``POST /v1/chat/completions`` with the next scripted :class:`Step`, or with what
  ``reply_fn(request_body)`` returns when the queue is empty; a request with ``"stream": true``
  gets a ``text`` step as server-sent events, a few words per chunk (``Step.seconds`` apart:
  ``streamed(content, every_s)``), ended by ``data: [DONE]``;
- ``GET /v1/models`` with the one model it serves.

Every chat request body is recorded (``server.requests``, parsed JSON) with its headers
(``server.headers``), so a test can assert what the client sent: that the tool schemas were
offered, that a tool result came back as a ``tool`` message.

Steps (build them with the functions below):

========================  ============================================================
``text(content)``          an assistant message with content, finish_reason "stop"
``tool_call(name, args)``  one tool call (``args`` a dict, or a raw string: use
                           ``"{not json"`` for malformed arguments); ``tool_calls([...])``
                           for several in one message
``http_error(status)``     an HTTP error with an OpenAI-style JSON error body (500, 400...)
``delay(seconds, then)``   wait (longer than the client's timeout), then send ``then``
``non_json(body)``         HTTP 200 with a body that is not JSON
``close_connection()``     close the socket without answering
``empty_choices()``        a completion whose ``choices`` list is empty
``empty_message()``        a message with neither content nor tool calls
========================  ============================================================

With no step left and no ``reply_fn``, the server answers HTTP 500 with the message
"fake server: no scripted reply left", so an unexpected extra request is visible.

Usage::

    with FakeOpenAI([text("hello")]) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x")
"""
from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

StepKind = Literal["text", "tool_calls", "http_error", "delay", "non_json", "close",
                   "empty_choices", "empty_message"]


@dataclass
class Step:
    """One scripted reply."""

    kind: StepKind
    content: str | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)  # [{"name", "arguments" (str)}]
    status: int = 200
    seconds: float = 0.0
    then: Step | None = None
    body: str = ""


def text(content: str) -> Step:
    return Step("text", content=content)


def _call(name: str, arguments: dict[str, Any] | str | None) -> dict[str, Any]:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
    return {"name": name, "arguments": args}


def tool_call(name: str, arguments: dict[str, Any] | str | None = None,
              content: str | None = None) -> Step:
    """One tool call. ``arguments`` as a dict is sent as JSON; a string is sent as is."""
    return Step("tool_calls", content=content, calls=[_call(name, arguments)])


def streamed(content: str, every_s: float = 0.0) -> Step:
    """A text reply; streamed (when the request asks for it) three words per chunk, ``every_s``
    seconds apart."""
    return Step("text", content=content, seconds=every_s)


def tool_calls(calls: Iterable[tuple[str, dict[str, Any] | str | None]]) -> Step:
    return Step("tool_calls", calls=[_call(n, a) for n, a in calls])


def http_error(status: int = 500, message: str | None = None) -> Step:
    return Step("http_error", status=status, content=message or f"fake server error {status}")


def delay(seconds: float, then: Step | None = None) -> Step:
    return Step("delay", seconds=seconds, then=then or text("a late reply"))


def trickle(every_s: float, then: Step | None = None) -> Step:
    """A 200 reply whose body arrives one byte every ``every_s`` seconds (an endpoint that holds a
    connection open without ever timing out a read)."""
    return Step("trickle", seconds=every_s, then=then or text("a very slow reply"))


def non_json(body: str = "<html><body>502 Bad Gateway</body></html>") -> Step:
    return Step("non_json", body=body)


def close_connection() -> Step:
    return Step("close")


def empty_choices() -> Step:
    return Step("empty_choices")


def empty_message() -> Step:
    return Step("empty_message")


ReplyFn = Callable[[dict[str, Any]], "Step | str"]


class FakeOpenAI:
    """The server. A context manager: entering starts it on a free port in a daemon thread,
    leaving shuts it down (a pending ``delay`` is cut short)."""

    def __init__(self, steps: Iterable[Step] = (), *, reply_fn: ReplyFn | None = None,
                 model: str = "fake-model"):
        self.model = model
        self.reply_fn = reply_fn
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._steps: deque[Step] = deque(steps)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ids = itertools.count(1)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- scripting ---------------------------------------------------------------------

    def push(self, *steps: Step) -> None:
        with self._lock:
            self._steps.extend(steps)

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._steps)

    def _next(self, body: dict[str, Any]) -> Step:
        with self._lock:
            if self._steps:
                return self._steps.popleft()
        if self.reply_fn is not None:
            out = self.reply_fn(body)
            return text(out) if isinstance(out, str) else out
        return http_error(500, "fake server: no scripted reply left")

    # --- lifecycle ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAI:
        server = self

        class Handler(_Handler):
            fake = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-openai",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- replies -----------------------------------------------------------------------

    def completion(self, step: Step, body: dict[str, Any]) -> dict[str, Any]:
        """The chat-completion JSON for a ``text``/``tool_calls``/``empty_*`` step."""
        n = next(self._ids)
        message: dict[str, Any] = {"role": "assistant", "content": step.content}
        finish = "stop"
        if step.kind == "tool_calls":
            message["tool_calls"] = [
                {"id": f"call_{n}_{i}", "type": "function",
                 "function": {"name": c["name"], "arguments": c["arguments"]}}
                for i, c in enumerate(step.calls)]
            finish = "tool_calls"
        prompt_words = sum(len(str(m.get("content") or "").split()) for m in body.get("messages", []))
        out_words = len((step.content or "").split())
        choices = [] if step.kind == "empty_choices" else [
            {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}]
        return {"id": f"chatcmpl-fake-{n}", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", self.model), "choices": choices,
                "usage": {"prompt_tokens": prompt_words, "completion_tokens": out_words,
                          "total_tokens": prompt_words + out_words}}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, payload: dict[str, Any] | str,
              content_type: str = "application/json") -> None:
        data = (json.dumps(payload) if isinstance(payload, dict) else payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"error": {"message": message, "type": "fake_error", "param": None,
                                      "code": str(status)}})

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            self._send(200, {"object": "list", "data": [
                {"id": self.fake.model, "object": "model", "created": 0, "owned_by": "fake"}]})
        else:
            self._error(404, f"no route {self.path}")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._error(404, f"no route {self.path}")
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._error(400, "request body is not JSON")
            return
        with self.fake._lock:
            self.fake.requests.append(body)
            self.fake.headers.append({k.lower(): v for k, v in self.headers.items()})
        step = self.fake._next(body)
        if body.get("stream"):
            if step.kind != "text":
                self._error(400, f"the fake server streams text replies only, not {step.kind}")
            else:
                self._stream(step, body)
            return
        self._reply(step, body)

    def _stream(self, step: Step, body: dict[str, Any]) -> None:
        """``step``'s content as server-sent events: chat.completion.chunk objects of three words."""
        words = (step.content or "").split(" ")
        pieces = [" ".join(words[i:i + 3]) + (" " if i + 3 < len(words) else "") for i in range(0, len(words), 3)]
        base = {"id": f"chatcmpl-fake-{next(self.fake._ids)}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": body.get("model", self.fake.model)}
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            first = True
            for piece in pieces:
                if step.seconds and self.fake._stop.wait(step.seconds):
                    return
                delta = {"role": "assistant", "content": piece} if first else {"content": piece}
                first = False
                chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            end = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            self.wfile.write(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode())
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass  # the client closed the stream

    def _reply(self, step: Step, body: dict[str, Any]) -> None:
        try:
            if step.kind == "delay":
                if self.fake._stop.wait(step.seconds):
                    return  # server shutting down
                self._reply(step.then or text(""), body)
            elif step.kind == "trickle":
                data = json.dumps(self.fake.completion(step.then, body)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                for i in range(len(data)):
                    if self.fake._stop.wait(step.seconds):
                        return
                    self.wfile.write(data[i:i + 1])
                    self.wfile.flush()
            elif step.kind == "http_error":
                self._error(step.status, step.content or "error")
            elif step.kind == "non_json":
                self._send(200, step.body, content_type="text/html")
            elif step.kind == "close":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            else:
                self._send(200, self.fake.completion(step, body))
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass  # the client gave up (timeout); nothing to answer
