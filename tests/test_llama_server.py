"""The language-model path end to end against a real OpenAI-compatible server: llama-cpp-python's
server running the bundled SmolLM2-135M-Instruct GGUF (``tests/llama_server.py``).

Nothing is scripted: the review's rewrite, the follow-ups and the tool round are whatever the
135M model writes. Either outcome of a turn is acceptable (the guard-accepted rewrite, or the
composer's answer with a logged degradation), so each test asserts which one happened and that
the answer the user gets is grounded; every turn must end within the configured timeout + 5 s.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import make_sine, write_audio
from llama_server import LlamaServer, llama_cpp_missing, start_llama_server

from mixingbuddy.agent.api import MixingBuddy
from mixingbuddy.agent.endpoint import (
    NOTE_REJECTED,
    NOTE_UNGROUNDED,
    NOTE_UNREACHABLE,
    NOTE_UNUSABLE,
    EndpointConfig,
    EndpointFault,
    chat_completion,
    endpoint_config_from_env,
    llm_answer,
)
from mixingbuddy.agent.grounding import check_grounding, conversation_evidence
from mixingbuddy.agent.schema import Evidence
from mixingbuddy.agent.screen import clean_text
from mixingbuddy.tools.errors import InvalidArgumentError

SR = 48_000
TIMEOUT_S = 30.0  # the whole language-model part of one turn
TOOL_TIMEOUT_S = 90.0  # a follow-up whose request carries the tool schemas
SLACK_S = 5.0  # the bound: every turn answered within the timeout + 5 s
MAX_TOKENS = 160
AGENT_LOG = "mixingbuddy.agent"
NOTES = (NOTE_UNREACHABLE, NOTE_UNUSABLE, NOTE_UNGROUNDED, NOTE_REJECTED)
LLM_NODES = ("llm", "tools", "guard")


def _server(tmp_path_factory, chat_format: str | None):
    why = llama_cpp_missing()
    if why:
        pytest.skip(why)
    from mixingbuddy.model.llm import smollm2_location

    try:
        gguf = Path(*smollm2_location())
    except FileNotFoundError as e:
        pytest.skip(str(e))
    server = start_llama_server(gguf, tmp_path_factory.mktemp("llama_log"), chat_format=chat_format)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    """The server with the chat template inside the GGUF (ChatML)."""
    yield from _server(tmp_path_factory, None)


@pytest.fixture(scope="module")
def llama_tools(tmp_path_factory):
    """The server with llama-cpp-python's ``chatml-function-calling`` format (ChatML plus tool calls)."""
    yield from _server(tmp_path_factory, "chatml-function-calling")


@pytest.fixture(scope="module", autouse=True)
def warm_router():
    """The follow-up router builds its intent classifier on its first question (4 to 11 s on 2
    busy cores), outside the language-model path these tests time; build it first."""
    from mixingbuddy.agent.intents import route

    route("Is it loud enough?", {})


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of 1/f noise (power falling 3 dB per octave, no DC), peak 1."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f_hz = np.fft.rfftfreq(n, 1 / SR)
    spectrum[0] = 0.0
    spectrum[1:] /= np.sqrt(f_hz[1:])
    x = np.fft.irfft(spectrum, n)
    return x / np.abs(x).max()


@pytest.fixture(scope="module")
def mix(tmp_path_factory) -> Path:
    """3 s of a pink-noise bed (partly decorrelated left and right) over a 110 Hz bass, stereo,
    48 kHz: broadband, so its review is short enough (about 900 tokens) for a 135M model on
    two cores to read within the timeout."""
    rng = np.random.default_rng(0)
    n = 3 * SR
    common = pink_noise(n, rng)
    bed = np.stack([common + 0.4 * pink_noise(n, rng), common + 0.4 * pink_noise(n, rng)], 1)
    x = 0.2 * bed + make_sine(110, 3.0, SR, amp=0.15, channels=2)
    return write_audio(tmp_path_factory.mktemp("llama_mix") / "song.wav", x, SR, subtype="PCM_24")


def cfg_for(server: LlamaServer, **kw) -> EndpointConfig:
    return EndpointConfig(base_url=server.base_url, model=server.model,
                          **{"timeout_s": TIMEOUT_S, "max_tokens": MAX_TOKENS, **kw})


def model_turn(state: dict, question: str | None) -> list[dict]:
    """This turn's messages from the model's first reply on (the history and request before it dropped)."""
    sent = list(state.get("llm_messages") or [])
    opening = [i for i, m in enumerate(sent) if m["role"] == "user"
               and (m["content"] == question if question is not None else "<review>" in m["content"])]
    assert opening, "the turn's request is not in its messages"
    return sent[opening[-1] + 1:]


def check_turn(turn, state: dict, server: LlamaServer, took_s: float, caplog,
               timeout_s: float = TIMEOUT_S) -> tuple[str, float]:
    """Assert what every turn against the real server must hold; returns (the turn's source, ``took_s``).

    In time; each reply of the model within ``max_tokens``; the answer either the guard-accepted
    reply (no fallback note, every number grounded in the conversation's evidence) or the
    composer's answer with its note and a logged degradation."""
    assert took_s < timeout_s + SLACK_S, (took_s, turn.timings_s, turn.degradations)
    llm_s = sum(turn.timings_s.get(n, 0.0) for n in LLM_NODES)
    assert 0.0 < llm_s < timeout_s + 1.0, turn.timings_s
    replies = [m["content"] for m in model_turn(state, getattr(turn, "question", None))
               if m["role"] == "assistant" and m.get("content")]
    for reply in replies:
        assert server.n_tokens(reply) <= MAX_TOKENS + 2, reply  # re-tokenised text may merge differently
    if turn.source == "llm":
        assert not any(n in turn.answer for n in NOTES)
        assert turn.answer == clean_text(replies[-1])  # the model's own last reply, as the guard passed it
        assert check_grounding(turn.answer, conversation_evidence(state)).ok
        print(f"turn: llm in {took_s:.1f} s; degradations: {turn.degradations}")
        return "llm", round(took_s, 1)
    print(f"turn: composer in {took_s:.1f} s; degradations: {turn.degradations}")
    assert turn.source == "composer"
    assert turn.answer.endswith(NOTES) and turn.degradations, turn.degradations
    assert any(d.split(" (")[0][:40] in caplog.text for d in turn.degradations)
    draft = turn.answer.rsplit("\n\n", 1)[0]
    assert check_grounding(draft, conversation_evidence(state)).ok  # the composer's numbers are measured
    return "composer", round(took_s, 1)


@pytest.mark.slow
def test_max_tokens_cuts_a_long_reply(llama):
    cfg = cfg_for(llama, max_tokens=24)
    t0 = time.perf_counter()
    msg = chat_completion(cfg, [{"role": "user", "content": "Write a long essay about mixing drums, "
                                                              "at least 2000 words."}])
    took_s = time.perf_counter() - t0
    assert msg["content"] and 12 <= llama.n_tokens(msg["content"]) <= 24 + 2, msg
    assert took_s < TIMEOUT_S


@pytest.mark.slow
def test_streamed_review_and_followups_end_in_time_and_grounded(tmp_path, mix, llama, caplog):
    """The review is streamed (it offers no tools); the follow-ups offer the tools, so they are
    sent whole, to a server whose GGUF template shows the model no tools."""
    turns = []
    with caplog.at_level(logging.WARNING, logger=AGENT_LOG), \
            MixingBuddy(tmp_path / "home", llm=cfg_for(llama, stream=True), use_model=False) as buddy:
        t0 = time.perf_counter()
        rv = buddy.review(mix)
        turns.append(check_turn(rv, buddy.state(rv.thread_id), llama, time.perf_counter() - t0, caplog))
        for question in ("Is it loud enough for Spotify?", "What should I fix first?"):
            caplog.clear()
            t0 = time.perf_counter()
            turn = buddy.ask(rv.thread_id, question)
            turns.append(check_turn(turn, buddy.state(rv.thread_id), llama, time.perf_counter() - t0, caplog))
        history = buddy.history(rv.thread_id)
    assert [m["role"] for m in history] == ["user", "assistant"] * 3
    assert history[1]["content"] == rv.answer and history[-1]["content"] == turn.answer
    print(f"turns (source, wall s): {turns}")


@pytest.mark.slow
def test_tool_round_with_chatml_function_calling(tmp_path, mix, llama_tools, caplog):
    """A follow-up that asks for a measurement, against the server's ``chatml-function-calling``
    format. Whatever the model does, the loop ends cleanly; a call it makes is run by the tool
    node on the conversation's audio, and its numbers become evidence. The request carries the
    tools' JSON schemas (about 1,800 tokens) besides the conversation, more than the 135M model
    reads in ``TIMEOUT_S`` on two shared cores, hence the longer ``TOOL_TIMEOUT_S``."""
    home = tmp_path / "home"
    with MixingBuddy(home, llm=None, use_model=False) as plain:  # the review itself needs no model
        thread = plain.review(mix).thread_id
    question = "Measure the loudness of my mix with the measure_loudness tool."
    with caplog.at_level(logging.WARNING, logger=AGENT_LOG), \
            MixingBuddy(home, llm=cfg_for(llama_tools, timeout_s=TOOL_TIMEOUT_S), use_model=False) as buddy:
        t0 = time.perf_counter()
        turn = buddy.ask(thread, question)
        took_s = time.perf_counter() - t0
        state = buddy.state(thread)
    source, _ = check_turn(turn, state, llama_tools, took_s, caplog, timeout_s=TOOL_TIMEOUT_S)
    sent = model_turn(state, question)
    calls = [c for m in sent if m["role"] == "assistant" for c in m.get("tool_calls") or []]
    results = [m for m in sent if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in results] == [c["id"] for c in calls]  # each call answered once
    ran = [c for c in calls if c["function"]["name"] == "measure_loudness"]
    if ran:  # the tool really measured this conversation's audio
        assert any(e["tool"] == "measure_loudness" and e["quantity"] == "integrated_lufs" for e in state["evidence"])
    print(f"tool calls: {[c['function']['name'] for c in calls]}, source: {source}, "
          f"degradations: {turn.degradations}")


@pytest.mark.slow
def test_tool_round_without_a_store(mix, llama_tools, caplog):
    """The same loop through ``llm_answer`` (no conversation store, no history): the shortest
    request that offers the tools. A call the model makes measures the mix, and its numbers are
    the turn's new evidence."""
    from mixingbuddy.tools.io.ingest import load_audio
    from mixingbuddy.tools.registry import AudioContext

    audio = load_audio(mix)
    t0 = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger=AGENT_LOG):
        ans = llm_answer(cfg_for(llama_tools, timeout_s=TOOL_TIMEOUT_S), messages=[],
                         question="Measure the loudness of my mix with the measure_loudness tool.",
                         draft="Not measured yet.", evidence_values=[],
                         ctx_factory=lambda: AudioContext(mix=audio), log=logging.getLogger(AGENT_LOG))
    took_s = time.perf_counter() - t0
    assert took_s < TOOL_TIMEOUT_S + SLACK_S, (took_s, ans.degradations)
    ran = [c for c in ans.tool_calls if c["name"] == "measure_loudness" and c["ok"]]
    if ran:
        assert any(e["tool"] == "measure_loudness" and e["quantity"] == "integrated_lufs" for e in ans.new_evidence)
    if ans.source == "llm":
        assert not any(n in ans.text for n in NOTES)
        # the draft and the question state no number: every number of the answer was measured by a tool
        assert check_grounding(ans.text, [Evidence.model_validate(e) for e in ans.new_evidence]).ok
    else:
        assert ans.text.endswith(NOTES) and ans.degradations
    print(f"store-less tool turn in {took_s:.1f} s: calls {[(c['name'], c['ok']) for c in ans.tool_calls]}, "
          f"source {ans.source}, degradations {ans.degradations}")


ESSAY = [{"role": "user", "content": "Write a long essay about mixing drums, at least 2000 words."}]
HELLO = [{"role": "user", "content": "Say hello."}]


def _hello_s(server: LlamaServer) -> float:
    """The seconds a short request takes."""
    t0 = time.perf_counter()
    assert chat_completion(cfg_for(server, max_tokens=8), HELLO)["content"]
    return time.perf_counter() - t0


def _cut_then_next(server: LlamaServer, *, stream: bool, max_tokens: int) -> float:
    """A request cut by its 1.5 s deadline, then the seconds a short request takes after it."""
    t0 = time.perf_counter()
    with pytest.raises(EndpointFault, match="timed out"):
        chat_completion(cfg_for(server, stream=stream, timeout_s=1.5, max_tokens=max_tokens), ESSAY)
    assert time.perf_counter() - t0 < 1.5 + 1.0
    return _hello_s(server)


@pytest.mark.slow
def test_a_streamed_turn_past_its_deadline_is_cut_and_frees_the_server(llama):
    """The model writes on (the essay fills any max_tokens); the turn ends at its deadline either
    way, but only a closed stream stops the server's generation: after a whole (non-streamed)
    request is abandoned the server generates on to max_tokens, and the next request waits."""
    idle_s = _hello_s(llama)
    after_stream_s = _cut_then_next(llama, stream=True, max_tokens=1500)
    assert "Disconnected from client" in llama.log_tail(20_000)  # the server saw the stream closed
    after_whole_s = _cut_then_next(llama, stream=False, max_tokens=300)
    print(f"a short request: idle {idle_s:.1f} s, after a cut stream {after_stream_s:.1f} s, after an "
          f"abandoned whole request {after_whole_s:.1f} s")
    assert after_stream_s < idle_s + 2.0
    assert after_whole_s > after_stream_s


@pytest.mark.parametrize("raw, stream", [("1", True), ("on", True), ("0", False), ("False", False), ("", False)])
def test_streaming_is_chosen_by_the_environment(raw, stream):
    env = {"MIXINGBUDDY_LLM_BASE_URL": "http://127.0.0.1:8000/v1", "MIXINGBUDDY_LLM_MODEL": "m",
           "MIXINGBUDDY_LLM_STREAM": raw}
    assert endpoint_config_from_env(env).stream is stream


def test_a_bad_stream_flag_is_a_clear_error():
    env = {"MIXINGBUDDY_LLM_BASE_URL": "http://127.0.0.1:8000/v1", "MIXINGBUDDY_LLM_MODEL": "m",
           "MIXINGBUDDY_LLM_STREAM": "sometimes"}
    with pytest.raises(InvalidArgumentError, match="MIXINGBUDDY_LLM_STREAM must be 1 or 0"):
        endpoint_config_from_env(env)
    with pytest.raises(InvalidArgumentError, match="stream must be True or False"):
        EndpointConfig(base_url="http://127.0.0.1:8000/v1", model="m", stream="yes")
