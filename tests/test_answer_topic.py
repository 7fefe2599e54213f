"""The ``answer_topic`` tool: with a language model configured, the model routes a question with
the router's own intents and gets the composer's grounded answer for that part. The whole agent
(MixingBuddy, the LangGraph graph, the SQLite checkpointer, the openai client) against a real
HTTP server on 127.0.0.1 speaking the chat-completions protocol (``fake_openai``)."""
from __future__ import annotations

import json

import pytest
from fake_openai import FakeOpenAI, text, tool_call
from test_agent_llm_e2e import assert_well_formed, cfg_for, friendly_rewrite, render_mix, tool_results

from mixingbuddy.agent.api import MixingBuddy
from mixingbuddy.agent.grounding import check_grounding, conversation_evidence
from mixingbuddy.agent.nodes.followup import ANSWER_TOPIC, AnswerTopicArgs
from mixingbuddy.agent.nodes.tools import openai_tools


@pytest.fixture(scope="module")
def mix(tmp_path_factory):
    return render_mix(tmp_path_factory.mktemp("topic") / "song.wav")


@pytest.fixture
def server():
    with FakeOpenAI() as s:
        yield s


def composer_answer(home, mix, question: str) -> str:
    """What the embedded composer answers for ``question`` (no language model)."""
    with MixingBuddy(home, llm=None, use_model=False) as plain:
        plain.review(mix, thread_id="plain")
        return plain.ask("plain", question).answer


def test_the_model_is_offered_the_routers_intents():
    spec = next(t["function"] for t in openai_tools() if t["function"]["name"] == ANSWER_TOPIC)
    props = spec["parameters"]["properties"]
    assert "dynamics" in props["intent"]["enum"] and "out_of_scope" in props["intent"]["enum"]
    assert {"stem", "region", "platform", "gain_db", "about", "reference"} <= set(props)
    with pytest.raises(ValueError):
        AnswerTopicArgs(intent="lyrics")
    with pytest.raises(ValueError):
        AnswerTopicArgs(intent="whatif", stem="vocals", gain_db=60.0)


def test_the_model_routes_a_question_and_gets_the_composers_answer(tmp_path, mix, server):
    server.reply_fn = friendly_rewrite
    with MixingBuddy(tmp_path / "home", llm=cfg_for(server), use_model=False) as buddy:
        buddy.review(mix, thread_id="t")
        # the model answers "does it still breathe?" by asking for the dynamics part
        server.reply_fn = None
        server.push(tool_call(ANSWER_TOPIC, {"intent": "dynamics"}))
        server.reply_fn = lambda body: "Here is what I measured. " + tool_results(body)[-1]["answer"]
        turn = buddy.ask("t", "does it still breathe?")
        state = buddy.state("t")
    want = composer_answer(tmp_path / "plain", mix, "is it too compressed?")

    second = server.requests[-1]
    result = tool_results(second)[-1]
    assert result["tool"] == ANSWER_TOPIC and result["part"] == {"intent": "dynamics"}
    assert result["answer"] == want  # the same words and numbers as the router's own answer
    assert turn.source == "llm" and turn.degradations == []
    assert turn.answer.strip() == ("Here is what I measured. " + want).strip()
    assert_well_formed(second["messages"])
    assert check_grounding(turn.answer, conversation_evidence(state)).ok


def test_a_gain_move_is_simulated_as_the_router_would(tmp_path, mix, server):
    server.reply_fn = friendly_rewrite
    with MixingBuddy(tmp_path / "home", llm=cfg_for(server), use_model=False) as buddy:
        buddy.review(mix, thread_id="t")
        server.reply_fn = None
        server.push(tool_call(ANSWER_TOPIC, {"intent": "whatif", "stem": "bass", "gain_db": -2.0}))
        server.reply_fn = lambda body: tool_results(body)[-1]["answer"]
        before = {(e["tool"], e["quantity"]) for e in buddy.state("t")["evidence"]}
        turn = buddy.ask("t", "could the low guitar come down a touch?")
        state = buddy.state("t")
    want = composer_answer(tmp_path / "plain", mix, "what if I turn the bass down 2 dB?")
    assert tool_results(server.requests[-1])[-1]["part"] == {"intent": "whatif", "stem": "bass", "gain_db": -2.0}
    assert turn.answer.strip() == want.strip()
    # the simulation's numbers are new; they came back as the tool's evidence, so the grounding
    # guard let the model's answer through
    new = [e for e in state["evidence"] if (e["tool"], e["quantity"]) not in before]
    assert new, "the what-if should measure something the review did not"
    assert turn.source == "llm" and turn.degradations == []
    assert check_grounding(turn.answer, conversation_evidence(state)).ok


def test_bad_arguments_are_an_error_result_and_the_turn_is_answered(tmp_path, mix, server):
    server.reply_fn = friendly_rewrite
    with MixingBuddy(tmp_path / "home", llm=cfg_for(server), use_model=False) as buddy:
        buddy.review(mix, thread_id="t")
        server.reply_fn = None
        server.push(tool_call(ANSWER_TOPIC, {"intent": "lyrics"}),
                    text("I can only answer about this mix."))
        turn = buddy.ask("t", "write me a verse")
    back = json.loads(server.requests[-1]["messages"][-1]["content"])
    assert "error" in back and ANSWER_TOPIC in back["error"]
    assert turn.answer.strip() and any(ANSWER_TOPIC in d for d in turn.degradations)
