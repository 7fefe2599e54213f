"""The language model's answer streamed to the user sentence by sentence, each sentence shown only
once the guard accepts its numbers (issue 16), against a real HTTP server on 127.0.0.1 that
streams server-sent events (``fake_openai.streamed``)."""
from __future__ import annotations

import re

import pytest
from fake_openai import FakeOpenAI, streamed
from test_agent_llm_e2e import draft_of, render_mix

from mixingbuddy.agent.api import MixingBuddy
from mixingbuddy.agent.endpoint import EndpointConfig, chat_completion

INVENTED = "41.237 dB"  # three decimals: nothing measured is written that finely


@pytest.fixture(scope="module")
def mix(tmp_path_factory):
    return render_mix(tmp_path_factory.mktemp("stream") / "song.wav")


def _cfg(server: FakeOpenAI, **kw) -> EndpointConfig:
    return EndpointConfig(base_url=server.base_url, model="fake-model", **{"stream": True, "timeout_s": 20.0, **kw})


def test_a_streamed_reply_is_told_piece_by_piece():
    seen: list[str] = []
    reply = "The vocals sit 7 dB under the drums. Raise them 4-6 dB. That is all."
    with FakeOpenAI([streamed(reply, 0.01)]) as server:
        msg = chat_completion(_cfg(server), [{"role": "user", "content": "hi"}], on_text=seen.append)
    assert msg["content"] == reply
    assert len(seen) >= 3 and seen[-1] == reply
    assert all(b.startswith(a) and len(b) > len(a) for a, b in zip(seen, seen[1:]))

    def broken(_text: str) -> None:
        raise RuntimeError("listener failed")

    with FakeOpenAI([streamed(reply)]) as server:  # a failing listener does not break the reply
        assert chat_completion(_cfg(server), [{"role": "user", "content": "hi"}], on_text=broken)["content"] == reply


def test_the_review_streams_checked_sentences_then_the_whole_answer(tmp_path, mix):
    shown: list[str] = []
    with FakeOpenAI(reply_fn=lambda body: streamed("A friendly review. " + draft_of(body), 0.002)) as server, \
            MixingBuddy(tmp_path / "home", llm=_cfg(server), use_model=False) as buddy:
        rv = buddy.review(mix, on_text=shown.append)
    assert rv.source == "llm" and rv.answer.startswith("A friendly review.")
    assert len(shown) >= 2, shown
    # each update is longer, ends at a sentence or line end, and is the start of the final answer
    assert all(b.startswith(a) and len(b) > len(a) for a, b in zip(shown, shown[1:]))
    assert all(rv.answer.startswith(s) for s in shown)
    assert all(re.search(r"[.!?:]\s*$|\n\s*$", s + "\n") for s in shown)


def test_a_sentence_with_an_unmeasured_number_is_never_shown(tmp_path, mix):
    """The stream stops before the first sentence the guard refuses; the final answer is the
    composer's (the model repeated the invented number when asked again)."""
    shown: list[str] = []

    def reply(body: dict) -> object:
        return streamed(f"A friendly review. Boost the lows by {INVENTED}, that will do it. More text follows.", 0.002)

    with FakeOpenAI(reply_fn=reply) as server, \
            MixingBuddy(tmp_path / "home", llm=_cfg(server), use_model=False) as buddy:
        rv = buddy.review(mix, on_text=shown.append)
    assert shown and all(INVENTED not in s and "41.237" not in s for s in shown)
    assert shown[-1].strip() == "A friendly review."
    assert rv.source == "composer" and "41.237" not in rv.answer


def test_without_streaming_nothing_is_told_before_the_answer(tmp_path, mix):
    shown: list[str] = []
    with FakeOpenAI(reply_fn=lambda body: "A friendly review. " + draft_of(body)) as server, \
            MixingBuddy(tmp_path / "home", llm=_cfg(server, stream=False), use_model=False) as buddy:
        rv = buddy.review(mix, on_text=shown.append)
    assert rv.source == "llm" and shown == []
