"""The whole agent (MixingBuddy.review / ask) with a language model configured, against a real
HTTP server on 127.0.0.1 speaking the OpenAI chat-completions protocol (``fake_openai``).

Everything the user runs is real: WAV files rendered here, the LangGraph graph, the SQLite
checkpointer in tmp_path, the openai client, the measurement tools. The mixes are 3 s of a
110 Hz bass tone, a 220 Hz harmonic tone and a noise bed (stereo, 48 kHz); mix "b" is the same
song 6 dB louder, so that a measurement of the wrong conversation's audio would show.
"""
from __future__ import annotations

import itertools
import json
import logging
import re
import socket
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fake_openai import (
    FakeOpenAI,
    delay,
    empty_message,
    http_error,
    text,
    tool_call,
    tool_calls,
)

from mixingbuddy.agent.api import MixingBuddy
from mixingbuddy.agent.endpoint import (
    NOTE_UNGROUNDED,
    NOTE_UNREACHABLE,
    NOTE_UNUSABLE,
    SYSTEM_PROMPT,
    EndpointConfig,
)
from mixingbuddy.agent.grounding import check_grounding, conversation_evidence
from mixingbuddy.tools.io.ingest import load_audio
from mixingbuddy.tools.measure.loudness import measure_loudness

SR = 48_000
SECONDS = 3.0
TIMEOUT_S = 1.0
AGENT_LOG = "mixingbuddy.agent"
NOTES = (NOTE_UNREACHABLE, NOTE_UNUSABLE, NOTE_UNGROUNDED)
REVIEW_RE = re.compile(r"<review>\n(.*)\n</review>", re.DOTALL)


def render_mix(path: Path, gain_db: float = 0.0, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    t = np.arange(int(SECONDS * SR)) / SR
    bass = 0.25 * np.sin(2 * np.pi * 110 * t)
    tone = sum(0.12 / k * np.sin(2 * np.pi * 220 * k * t) for k in range(1, 6))
    left = bass + tone + 0.02 * rng.standard_normal(t.size)
    right = bass + 0.8 * tone + 0.02 * rng.standard_normal(t.size)
    x = np.stack([left, right], 1) * 10 ** (gain_db / 20)
    sf.write(path, x.astype(np.float32), SR, subtype="PCM_24")
    return path


@pytest.fixture(scope="module")
def mixes(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e_mixes")
    return {"a": render_mix(root / "song_a.wav"), "b": render_mix(root / "song_b.wav", gain_db=6.0, seed=1)}


@pytest.fixture
def server():
    with FakeOpenAI() as s:
        yield s


def cfg_for(server: FakeOpenAI) -> EndpointConfig:
    return EndpointConfig(base_url=server.base_url, model="fake-model", timeout_s=TIMEOUT_S)


def closed_port_cfg() -> EndpointConfig:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return EndpointConfig(base_url=f"http://127.0.0.1:{port}/v1", model="fake-model", timeout_s=TIMEOUT_S)


def integrated_lufs(path: Path) -> float:
    a = load_audio(path)
    return float(measure_loudness(a.samples, a.sr).integrated_lufs)


def draft_of(request: dict) -> str:
    """The composer's draft inside a review request."""
    m = REVIEW_RE.search(request["messages"][-1]["content"])
    assert m, "the review request carries no draft"
    return m.group(1)


def tool_results(request: dict) -> list[dict]:
    return [json.loads(m["content"]) for m in request["messages"] if m["role"] == "tool"]


def assert_well_formed(messages: list[dict]) -> None:
    """A conversation every chat template accepts: one system message first, then user and
    assistant turns alternating (a tool round = an assistant message with tool calls followed by
    its tool messages), ending with a user or tool message."""
    allowed = {"system": {"user"}, "user": {"assistant", "calls"}, "assistant": {"user"},
               "calls": {"tool"}, "tool": {"tool", "calls", "assistant"}}
    kinds = [("calls" if m["role"] == "assistant" and m.get("tool_calls") else m["role"]) for m in messages]
    assert kinds[0] == "system", kinds
    for prev, cur in itertools.pairwise(kinds):
        assert cur in allowed[prev], f"{prev} -> {cur} in {kinds}"
    assert kinds[-1] in ("user", "tool"), kinds


def friendly_rewrite(body: dict) -> str:
    """A model that rewrites the review and keeps it whole (every finding with its numbers)."""
    return "A friendly review. " + draft_of(body)


def answers_from_the_tool(body: dict) -> str:
    """A model that reads the loudness tool's result and cites it."""
    res = tool_results(body)[-1]["result"]
    return f"Measured just now: your mix sits at {res['integrated_lufs']:.1f} LUFS integrated."


# --- the review ---------------------------------------------------------------------------------


def test_review_prose_from_the_llm_keeps_the_numbers(tmp_path, mixes, server):
    def rewrite(body: dict) -> str:  # a model that shortens the draft to its findings to fix, numbers kept
        # (with what each number is about: the guard checks claims, not digit strings)
        lines = [ln for ln in draft_of(body).splitlines() if ln.startswith(("- [fix first]", "- [worth fixing]"))]
        lines = lines or [ln for ln in draft_of(body).splitlines()
                          if ln.startswith("- ") and re.search(r"\d+\.\d+ (?:dB|LUFS|LU|dBTP)", ln)][:3]
        assert lines, "the draft should state measured numbers"
        return "Here is the short version.\n" + "\n".join(lines)

    server.reply_fn = rewrite
    with MixingBuddy(tmp_path / "home", llm=cfg_for(server), use_model=False) as buddy:
        rv = buddy.review(mixes["a"])
        state = buddy.state(rv.thread_id)
    with MixingBuddy(tmp_path / "plain", llm=None, use_model=False) as plain:
        composer = plain.review(mixes["a"])

    assert rv.source == "llm"
    assert len(server.requests) == 1
    req = server.requests[0]
    assert rv.answer == rewrite(req) and rv.answer.startswith("Here is the short version.")
    assert not any(n in rv.answer for n in NOTES)
    assert not any("grounding" in d or "language model" in d for d in rv.degradations)
    # the endpoint saw the system prompt and the composer's own draft (what the embedded
    # default answers for the same file), and no tools for a review
    assert req["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert draft_of(req) == composer.answer and composer.source == "composer"
    assert "tools" not in req and req["model"] == "fake-model"
    assert_well_formed(req["messages"])
    # the LLM's text is what the conversation remembers, and every number in it is measured
    assert state["messages"][-1] == {"role": "assistant", "content": rv.answer}
    assert check_grounding(rv.answer, conversation_evidence(state)).ok


def test_review_with_a_number_invented_twice_is_the_composers(tmp_path, mixes, server, caplog):
    invented = "41.237 dB"  # three decimals: nothing measured is written that finely
    server.push(text(f"Boost the lows by {invented}, that will do it."),
                text(f"Honestly, {invented} of low boost, trust me."))
    with caplog.at_level(logging.WARNING, logger=AGENT_LOG), \
            MixingBuddy(tmp_path / "home", llm=cfg_for(server), use_model=False) as buddy:
        rv = buddy.review(mixes["a"])
        state = buddy.state(rv.thread_id)

    assert not check_grounding(invented, conversation_evidence(state)).ok  # really not measured
    assert len(server.requests) == 2  # the answer, then one regeneration
    retry = server.requests[1]["messages"]
    assert retry[-1]["role"] == "user" and "41.237" in retry[-1]["content"]
    assert_well_formed(retry)
    assert rv.source == "composer"
    draft = draft_of(server.requests[0])
    assert rv.answer == f"{draft.rstrip()}\n\n{NOTE_UNGROUNDED}"  # says it comes from the fallback
    assert "41.237" not in rv.answer
    guard = [d for d in rv.degradations if "grounding guard" in d]
    assert len(guard) == 2 and "41.237" in guard[0] and "composer" in guard[1]
    assert "grounding guard" in caplog.text and "41.237" in caplog.text
    assert state["messages"][-1]["content"] == rv.answer


def test_a_rewrite_that_drops_a_finding_worth_fixing_is_not_used(tmp_path, mixes, server):
    server.reply_fn = lambda body: "Your mix sounds great, nothing to change."
    with MixingBuddy(tmp_path / "home", llm=cfg_for(server), use_model=False) as buddy:
        rv = buddy.review(mixes["a"])
    worth = [f for f in rv.findings if f.severity in ("high", "medium")]
    assert worth, "the test mix should have a finding worth fixing"
    assert len(server.requests) == 2 and worth[0].title in server.requests[1]["messages"][-1]["content"]
    assert rv.source == "composer" and any("dropped findings" in d for d in rv.degradations)
    assert worth[0].title in rv.answer


def test_review_with_the_endpoint_down_says_it_used_the_fallback(tmp_path, mixes, caplog):
    with caplog.at_level(logging.WARNING, logger=AGENT_LOG), \
            MixingBuddy(tmp_path / "home", llm=closed_port_cfg(), use_model=False) as buddy:
        rv = buddy.review(mixes["a"])
        turn = buddy.ask(rv.thread_id, "is it loud enough for Spotify?")
    assert rv.source == "composer" and rv.answer.endswith(NOTE_UNREACHABLE)
    assert any("connection failed" in d for d in rv.degradations)
    assert "connection failed" in caplog.text
    assert turn.source == "composer" and turn.answer.endswith(NOTE_UNREACHABLE)
    assert f"{integrated_lufs(mixes['a']):.1f} LUFS" in turn.answer  # the composer still measured


# --- follow-ups with tool calls -----------------------------------------------------------------


def test_followup_tool_call_measures_only_this_conversations_audio(tmp_path, mixes, server):
    lufs_a, lufs_b = integrated_lufs(mixes["a"]), integrated_lufs(mixes["b"])
    assert abs(lufs_b - lufs_a) > 5.0
    server.reply_fn = friendly_rewrite
    with MixingBuddy(tmp_path / "home", llm=cfg_for(server), use_model=False) as buddy:
        a = buddy.review(mixes["a"], thread_id="song-a")
        b = buddy.review(mixes["b"], thread_id="song-b")
        assert (a.source, b.source) == ("llm", "llm")
        server.requests.clear()

        server.reply_fn = answers_from_the_tool
        server.push(tool_call("measure_loudness", {"audio": "mix", "platform": "spotify"}))
        turn_a = buddy.ask("song-a", "How loud is it, measured?")
        server.push(tool_call("measure_loudness", {"audio": "mix"}))
        turn_b = buddy.ask("song-b", "How loud is it, measured?")

        assert turn_a.source == "llm" and turn_a.degradations == []
        assert turn_a.answer == f"Measured just now: your mix sits at {lufs_a:.1f} LUFS integrated."
        assert turn_b.answer == f"Measured just now: your mix sits at {lufs_b:.1f} LUFS integrated."
        first, second = server.requests[:2]
        assert {t["function"]["name"] for t in first["tools"]} >= {"measure_loudness", "measure_masking"}
        assert first["messages"][-1] == {"role": "user", "content": "How loud is it, measured?"}
        assert_well_formed(first["messages"])
        # the measured result went back as a tool message answering the call
        call = second["messages"][-2]
        back = second["messages"][-1]
        assert call["role"] == "assistant" and call["tool_calls"][0]["function"]["name"] == "measure_loudness"
        assert back["role"] == "tool" and back["tool_call_id"] == call["tool_calls"][0]["id"]
        assert json.loads(back["content"])["result"]["integrated_lufs"] == pytest.approx(lufs_a, abs=1e-6)
        assert_well_formed(second["messages"])
        # grounded, and the tool's numbers are now part of the conversation's evidence
        state = buddy.state("song-a")
        rows = [e for e in state["evidence"] if e["tool"] == "measure_loudness"]
        assert any(e["quantity"] == "integrated_lufs" and e["value"] == pytest.approx(lufs_a) for e in rows)
        assert check_grounding(turn_a.answer, conversation_evidence(state)).ok
        assert state["messages"][-2:] == [{"role": "user", "content": "How loud is it, measured?"},
                                          {"role": "assistant", "content": turn_a.answer}]

        # a call naming another file, another conversation or audio this one lacks is refused
        server.requests.clear()
        server.reply_fn = None
        server.push(tool_calls([("measure_loudness", {"audio": str(mixes["b"])}),
                                ("measure_loudness", {"audio": "song-b:mix"}),
                                ("measure_loudness", {"audio": "mix", "path": str(mixes["b"])}),
                                ("measure_stereo", {"audio": "stem:vocals"})]),
                    text("I can only measure the audio of this conversation."))
        refused = buddy.ask("song-a", "Measure the other song for me")
    errors = [r.get("error", "") for r in tool_results(server.requests[1])]
    assert len(errors) == 4 and all(errors), errors
    assert "audio" in errors[0] and "pattern" in errors[0].lower()
    assert "audio" in errors[1] and "pattern" in errors[1].lower()
    assert "path" in errors[2] and "extra" in errors[2].lower()
    assert "no stems" in errors[3]
    assert not any("result" in r for r in tool_results(server.requests[1]))
    assert refused.source == "llm" and refused.answer == "I can only measure the audio of this conversation."
    assert len(refused.degradations) == 4 and all("failed" in d for d in refused.degradations)


# --- faults during a conversation ---------------------------------------------------------------

FAULT_TURNS = [
    # (question, scripted replies, phrase in the degradation, expected source, note in the answer)
    ("is it loud enough for Spotify?", [http_error(500)], "HTTP 500", "composer", NOTE_UNREACHABLE),
    ("what about the low end?", [delay(3 * TIMEOUT_S)], "timed out", "composer", NOTE_UNREACHABLE),
    ("how is the dynamics?", [empty_message()], "neither content nor tool calls", "composer", NOTE_UNUSABLE),
    ("how wide is the stereo?", [tool_call("measure_stereo", "{not json"), text("I could not measure the width.")],
     "not valid JSON", "llm", None),
    ("any clipping?", [tool_call("wipe_disk", {"path": "/"}), text("That tool does not exist here.")],
     "unknown tool 'wipe_disk'", "llm", None),
    ("what is masking the vocals?", [tool_call("measure_masking", {}), text("Masking needs the stems.")],
     "stems", "llm", None),
]


def test_faults_during_a_conversation_answer_every_turn_and_survive_a_restart(tmp_path, mixes, server, caplog):
    home = tmp_path / "home"
    song = tmp_path / "my song.wav"
    song.write_bytes(mixes["a"].read_bytes())
    lufs = integrated_lufs(song)
    turns = []
    server.reply_fn = friendly_rewrite
    with caplog.at_level(logging.WARNING, logger=AGENT_LOG):
        with MixingBuddy(home, llm=cfg_for(server), use_model=False) as buddy:
            rv = buddy.review(song, thread_id="faulty")
            assert rv.source == "llm" and rv.answer.startswith("A friendly review.")
            server.reply_fn = None
            for question, steps, phrase, source, note in FAULT_TURNS:
                caplog.clear()
                server.push(*steps)
                turn = buddy.ask("faulty", question)
                turns.append(turn)
                assert turn.answer.strip(), question
                assert turn.source == source, (question, turn.degradations)
                assert any(phrase in d for d in turn.degradations), (question, turn.degradations)
                assert phrase in caplog.text, question
                if note:  # the composer's own answer, saying it stands in for the model
                    assert turn.answer.endswith(note) and len(turn.answer) > len(note) + 20
                else:
                    assert not any(n in turn.answer for n in NOTES)
                assert server.remaining == 0, question
            # the composer's stand-in answers are measured answers, not apologies
            assert f"{lufs:.1f} LUFS" in turns[0].answer and "Spotify" in turns[0].answer

        # "restart" with the endpoint down: a new process on the same home continues the thread
        caplog.clear()
        with MixingBuddy(home, llm=closed_port_cfg(), use_model=False) as down:
            assert "faulty" in down.threads()
            turns.append(down.ask("faulty", "why?"))
        assert turns[-1].source == "composer" and turns[-1].answer.endswith(NOTE_UNREACHABLE)
        assert any("connection failed" in d for d in turns[-1].degradations)
        assert "connection failed" in caplog.text

    # back up, after a restart with nothing cached and the user's file gone: the tool reads the
    # conversation's stored copy, and the whole conversation is there
    song.unlink()
    with MixingBuddy(home, llm=cfg_for(server), use_model=False) as again:
        again.store.forget("faulty")
        server.requests.clear()
        server.reply_fn = answers_from_the_tool
        server.push(tool_call("measure_loudness", {}))
        last = again.ask("faulty", "measure the loudness again please")
        after_restart = list(server.requests)
        # a long conversation: the endpoint gets a trimmed history that still starts with a user turn
        server.reply_fn = None
        extra = ["thanks", "and the stereo?", "anything else?"]
        for i, q in enumerate(extra):
            server.push(text(f"Noted, reply {chr(ord('a') + i)}."))
            assert again.ask("faulty", q).source == "llm"
        long_request = server.requests[-1]["messages"]
        history = again.history("faulty")
        stored = again.state("faulty")
    turns.append(last)
    assert last.source == "llm" and last.degradations == []
    assert last.answer == f"Measured just now: your mix sits at {lufs:.1f} LUFS integrated."
    questions = [q for q, *_ in FAULT_TURNS] + ["why?", "measure the loudness again please"]
    assert [m["role"] for m in history] == ["user", "assistant"] * (1 + len(questions) + len(extra))
    assert [m["content"] for m in history[2::2]] == questions + extra
    assert [m["content"] for m in history[3::2]][:len(turns)] == [t.answer for t in turns]
    assert history[-1]["content"] == "Noted, reply c."
    assert history[1]["content"] == rv.answer
    assert stored["report"]["loudness"]["integrated_lufs"] == pytest.approx(lufs, abs=0.05)
    # what the endpoint saw after the restart: the whole conversation, well formed
    for req in server.requests:
        assert_well_formed(req["messages"])
    sent = after_restart[0]["messages"]
    assert sent[-1] == {"role": "user", "content": "measure the loudness again please"}
    assert {"role": "assistant", "content": turns[0].answer} in sent
    assert len(history) > len(long_request) and len(long_request) <= 21  # system + at most 20
    assert long_request[-1] == {"role": "user", "content": "anything else?"}


def test_chat_history_alternates_for_strict_chat_templates():
    """The history handed to the backend: no two turns of one role in a row, first a user turn."""
    from mixingbuddy.agent.context import chat_history

    u = lambda c: {"role": "user", "content": c}
    a = lambda c: {"role": "assistant", "content": c}
    # review: the ingest's request is dropped (the backend adds the review request)
    assert chat_history([u("Review my mix")], None) == []
    # follow-up: the current question ends it; an unanswered earlier question (a crash) goes
    convo = [u("Review my mix"), a("Review."), u("lost question"), u("why?")]
    assert chat_history(convo, "why?") == [u("Review my mix"), a("Review."), u("why?")]
    assert chat_history(convo[:2], "why?") == [u("Review my mix"), a("Review."), u("why?")]
    # consecutive assistant messages merge; empty and foreign messages are skipped
    odd = [u("q"), a("one"), {"role": "tool", "content": "x"}, a("two"), a("  "), u("next")]
    assert chat_history(odd, "next") == [u("q"), a("one\n\ntwo"), u("next")]
    # trimmed to the limit, still starting with a user turn
    long = [m for i in range(15) for m in (u(f"q{i}"), a(f"a{i}"))] + [u("last")]
    out = chat_history(long, "last", limit=20)
    assert len(out) <= 20 and out[0]["role"] == "user" and out[-1] == u("last")
    assert all(x["role"] != y["role"] for x, y in itertools.pairwise(out))
    assert out[-2] == a("a14")
