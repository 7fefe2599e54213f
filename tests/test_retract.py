"""``MixingBuddy.retract_last_turn`` (the app's undo, and half of its retry and edit) on a real
review: a real rendered song with its stems, the real graph, a real SQLite home in tmp_path.
A retracted question leaves the history, the index and the context later answers use; the
conversation then answers exactly as if it had never been asked, across a restart too."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mixingbuddy.agent.api import MixingBuddy
from mixingbuddy.tools.errors import InvalidArgumentError

SR = 44_100
ROLES = ("vocals", "drums", "bass", "other")
CONTEXT_KEYS = ("focus", "focus_stem", "route", "answer", "evidence", "messages")


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    """An 8 s demo song, vocals 10 dB down, with its four stems."""
    from mixingbuddy.model.data.demo_song import SongConfig, render_song

    d = tmp_path_factory.mktemp("song")
    mix, parts = render_song(SongConfig(duration_s=8.0, seed=3), gains_db={"vocals": -10.0})
    sf.write(d / "mix.wav", np.clip(mix, -1.0, 1.0), SR, subtype="PCM_16")
    for role in ROLES:
        sf.write(d / f"{role}.wav", parts[role], SR, subtype="FLOAT")
    return d


def _context(mb: MixingBuddy, tid: str) -> dict:
    st = mb.state(tid)
    return {k: st.get(k) for k in CONTEXT_KEYS}


def test_retract_restores_the_conversation(song, tmp_path):
    home = tmp_path / "home"
    with MixingBuddy(home, llm=None, use_model=False, separate=False) as mb:
        tid = mb.review(song / "mix.wav", stems=[song / f"{r}.wav" for r in ROLES]).thread_id
        with pytest.raises(InvalidArgumentError, match="no follow-up question"):
            mb.retract_last_turn(tid)  # the review itself is not a turn to take back
        with pytest.raises(InvalidArgumentError, match="unknown conversation"):
            mb.retract_last_turn("0123456789abcdef")

        mb.ask(tid, "What should I fix first?")
        base = _context(mb, tid)
        assert base["focus"], "the first answer focuses the conversation on findings"
        why = mb.ask(tid, "why?").answer
        assert mb.retract_last_turn(tid) == {"question": "why?", "answer": why}
        assert _context(mb, tid) == base

        # a question that moves the conversation elsewhere, then taken back
        turn = mb.ask(tid, "Is it loud enough for Apple Music?")
        moved = _context(mb, tid)
        assert moved["focus"] != base["focus"] or moved["route"] != base["route"]
        assert [m["content"] for m in mb.history(tid)][-2:] == ["Is it loud enough for Apple Music?", turn.answer]
        out = mb.retract_last_turn(tid)
        assert out["question"] == "Is it loud enough for Apple Music?"
        assert _context(mb, tid) == base
        assert "Is it loud enough for Apple Music?" not in [m["content"] for m in mb.history(tid)]
        assert next(t for t in mb.thread_summaries() if t.thread_id == tid).turns == 1

    # across a restart: the follow-up "why?" uses the earlier focus, and answers as before
    with MixingBuddy(home, llm=None, use_model=False, separate=False) as mb:
        review = mb.history(tid)[:2]  # the review's request and answer
        assert [m["content"] for m in mb.history(tid)[2:] if m["role"] == "user"] == ["What should I fix first?"]
        assert mb.ask(tid, "why?").answer == why
        mb.retract_last_turn(tid)
        mb.retract_last_turn(tid)
        assert mb.history(tid) == review  # the review alone
        assert next(t for t in mb.thread_summaries() if t.thread_id == tid).turns == 0
        with pytest.raises(InvalidArgumentError, match="no follow-up question"):
            mb.retract_last_turn(tid)
        assert mb.ask(tid, "What should I fix first?").answer  # the conversation goes on
