"""The follow-up router (agent.intents) on the question benchmark, the questions users saw
answered wrong, compound and follow-on questions, and the answers end to end through
MixingBuddy on a rendered song with stems (real graph, real checkpointer, no mocks)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_agent import grounded, render_song

from mixingbuddy.agent.api import MixingBuddy
from mixingbuddy.agent.intents import Route, get_router, normalise, route
from mixingbuddy.evals import questions as Q
from mixingbuddy.tools.measure.analyze import AnalysisReport

HELDOUT_SHA256 = "ac37b7360711280979cc60f1180b18f8e4d5bcb52c5c70ab1b3babd631b5a025"


def parts(q: str, state: dict | None = None) -> list[dict]:
    return [{k: v for k, v in p.model_dump().items() if v not in (None, False) and k not in ("confidence", "mono")}
            for p in route(q, state or {}).parts]


def test_the_heldout_questions_are_the_ones_written_first():
    assert Q.sha256("heldout") == HELDOUT_SHA256, "the held-out questions must never be edited"
    rows = Q.load("heldout") + Q.load("dev")
    assert len(rows) >= 400 and len(Q.load("heldout")) >= 150


def test_benchmark_accuracy_on_every_part_and_against_the_regex_baseline():
    """Measured once when round 3 of issue 13 was finished (``mixingbuddy eval questions``): held-out
    97.8% intents / 98.3% slots, second held-out part 95.4% / 96.9%, dev 100% / 100%, dev2 (looked
    at) 99.1% / 98.7%, dev3 94.7% / 96.7% (odd ids looked at, even ids scored once: 90.0% / 93.3%);
    the regex baseline 56.5% / 72.2% held out. Asserted with a margin."""
    fn = Q.router_fn()
    h, d, d2 = Q.score(Q.load("heldout"), fn), Q.score(Q.load("dev"), fn), Q.score(Q.load("dev2"), fn)
    base = Q.score(Q.load("heldout"), Q.regex_fn)
    assert h["intent_acc"] >= 0.95 and h["slot_acc"] >= 0.96, (h["intent_acc"], h["slot_acc"])
    assert d["intent_acc"] >= 0.98 and d["slot_acc"] >= 0.98, (d["intent_acc"], d["slot_acc"])
    assert d2["intent_acc"] >= 0.97 and d2["slot_acc"] >= 0.96, (d2["intent_acc"], d2["slot_acc"])
    assert h["intent_acc"] >= base["intent_acc"] + 0.3
    assert h["median_ms"] < 10.0
    if (Q.QUESTIONS_DIR / "dev3.jsonl").is_file():
        d3 = Q.score(Q.load("dev3"), fn)
        assert d3["intent_acc"] >= 0.92 and d3["slot_acc"] >= 0.94, (d3["intent_acc"], d3["slot_acc"])
    if (Q.QUESTIONS_DIR / "heldout2.jsonl").is_file():
        h2 = Q.score(Q.load("heldout2"), fn)
        assert h2["intent_acc"] >= 0.93 and h2["slot_acc"] >= 0.94, (h2["intent_acc"], h2["slot_acc"])


@pytest.mark.parametrize("question, expected", [
    ("why do you think the vocals are too quiet?", [{"intent": "why", "stem": "vocals", "about": "balance"}]),
    ("Is the low end mono?", [{"intent": "low_end"}]),
    ("Is the mix muddy?", [{"intent": "spectrum", "region": "low_mid"}]),
    ("What should I fix first?", [{"intent": "fix_first"}]),
    ("Is there any DC offset?", [{"intent": "dc_offset"}]),
    ("tell me about the vocals", [{"intent": "stem_info", "stem": "vocals"}]),
    ("how do I fix the vocals?", [{"intent": "stem_fix", "stem": "vocals"}]),
    ("is it harsh?", [{"intent": "spectrum", "region": "presence"}]),
    ("is it too dull", [{"intent": "spectrum", "region": "air"}]),
    ("what if i raise the vocals by two dB", [{"intent": "whatif", "stem": "vocals", "gain_db": 2.0}]),
    ("bass -3db?", [{"intent": "whatif", "stem": "bass", "gain_db": -3.0}]),
    ("how does it compare to my reference?", [{"intent": "reference", "reference": True}]),
])
def test_the_questions_users_saw_answered_wrong_are_routed_right(question, expected):
    assert parts(question) == expected
    assert route(question).parts[0].intent == expected[0]["intent"]


def test_is_the_low_end_mono_asks_about_mono():
    assert route("Is the low end mono?").parts[0].mono


def test_compound_questions_are_answered_in_order():
    assert parts("is it loud enough for Spotify and is the low end mono?") == [
        {"intent": "platform", "platform": "spotify"}, {"intent": "low_end"}]
    assert parts("any clipping, and is it too compressed?") == [{"intent": "peaks"}, {"intent": "dynamics"}]
    assert parts("tell me about the bass then what if I cut it 3 dB") == [
        {"intent": "stem_info", "stem": "bass"}, {"intent": "whatif", "stem": "bass", "gain_db": -3.0}]
    # two stems named for one question: one part each; a stem list is not a second question
    assert parts("what about the drums and the bass") == [
        {"intent": "stem_info", "stem": "drums"}, {"intent": "stem_info", "stem": "bass"}]
    assert parts("is the bass masking the kick?") == [{"intent": "masking", "stem": "drums"}]


def test_follow_ons_use_the_conversation_state():
    prev = Route(question="tell me about the vocals", parts=[{"intent": "stem_info", "stem": "vocals"}]).as_state()
    assert parts("and the bass?", {"route": prev}) == [{"intent": "stem_info", "stem": "bass"}]
    plat = route("is it loud enough for spotify?").as_state()
    assert parts("and for apple music?", {"route": plat}) == [{"intent": "platform", "platform": "apple_music"}]
    assert parts("what if I turn it down 2 dB?", {"focus_stem": "bass"}) == [
        {"intent": "whatif", "stem": "bass", "gain_db": -2.0}]
    w = route("what if I turn the bass down 2 dB?").as_state()
    assert w["needs_tools"] and w["stem"] == "bass" and w["gain_db"] == -2.0
    assert parts("and the vocals?", {"route": w}) == [{"intent": "whatif", "stem": "vocals", "gain_db": -2.0}]
    assert parts("why?", {"focus": ["balance:vocals"], "route": prev}) == [{"intent": "why"}]
    spec = route("is it muddy?").as_state()
    assert parts("and the highs?", {"route": spec}) == [{"intent": "spectrum", "region": "brilliance"}]


def test_out_of_scope_help_and_typos():
    for q in ("what's the weather like?", "write me lyrics about summer", "who won the game last night"):
        assert route(q).intent == "out_of_scope", q
    assert route("what can you do?").intent == "help"
    assert normalise("is it lound enough for spotfy") == "is it loud enough for spotify"
    assert parts("any cliping?") == [{"intent": "peaks"}]
    assert route("").intent in ("help", "out_of_scope")


# --------------------------------------------------------------------------- the failure kinds fixed (issue 13)

VOCALS_BALANCE = {"route": {"intent": "balance", "parts": [{"intent": "balance", "stem": "vocals"}]}}


@pytest.mark.parametrize("question, expected", [
    # chat around a question is context, not a part of its own
    ("Hey, quick one. I've been working on this mix for weeks and I think it's finally there. Is it too compressed?",
     [{"intent": "dynamics"}]),
    ("my engineer says the master is too hot for apple music, is he right?",
     [{"intent": "platform", "platform": "apple_music"}]),
    ("Thanks that's helpful! What about the drums?", [{"intent": "stem_info", "stem": "drums"}]),
    ("I mixed it on headphones, so I'm not sure about the low end. Is the sub ok?", [{"intent": "low_end", "region": "sub"}]),
    # ... but gives the stem of "them" and the topic of a question too vague to stand alone
    ("i cant hear the vocals properly, is something masking them?", [{"intent": "masking", "stem": "vocals"}]),
    ("the label wants -14 for spotify. is it there?", [{"intent": "platform", "platform": "spotify"}]),
    ("The kick feels weak. Is the bass masking it?", [{"intent": "masking", "stem": "drums"}]),
    # a statement about the mix with no question is still asked; "also"/"then" join requests
    ("the vocals feel buried and the drums too loud", [{"intent": "balance", "stem": "vocals"},
                                                      {"intent": "balance", "stem": "drums"}]),
    ("summary and then what should I fix first", [{"intent": "overview"}, {"intent": "fix_first"}]),
    ("is it muddy, harsh, or both?", [{"intent": "spectrum", "region": "low_mid"},
                                      {"intent": "spectrum", "region": "presence"}]),
    ("check the LUFS for Spotify and YouTube", [{"intent": "platform", "platform": "spotify"},
                                                {"intent": "platform", "platform": "youtube"}]),
    # "each other" is no stem; a passive masking verb covers its subject
    ("are the vocals and the synths fighting each other", [{"intent": "masking", "stem": "vocals"}]),
    ("do the stems mask each other?", [{"intent": "masking"}]),
    ("does the kick get covered up by the bass", [{"intent": "masking", "stem": "drums"}]),
    ("are the pads clouding the vocal", [{"intent": "masking", "stem": "vocals"}]),
    # words the first paraphrases lacked
    ("i feel like the mix lacks sparkle", [{"intent": "spectrum", "region": "air"}]),
    ("how do i use this thing", [{"intent": "help"}]),
    ("is the bass boomy", [{"intent": "low_end", "region": "low"}]),
    ("too much 40hz?", [{"intent": "low_end", "region": "sub"}]),
    ("bass +1?", [{"intent": "whatif", "stem": "bass", "gain_db": 1.0}]),
    ("is my mix duller than the reference", [{"intent": "reference", "reference": True, "region": "air"}]),
])
def test_chatty_compound_and_unfamiliar_questions(question, expected):
    assert parts(question) == expected


@pytest.mark.parametrize("question, expected", [
    # a problem stated, then "how do I fix that?" / "why is that?": one part, about the problem
    ("The master sounds really squashed, I know. How do I get some life back into it?",
     [{"intent": "fix", "about": "dynamics"}]),
    ("OK so the true peak is over the limit. How do I sort that out?", [{"intent": "fix", "about": "peaks"}]),
    ("You said it's too wide but it sounds fine on my headphones. Why is that?", [{"intent": "why", "about": "stereo"}]),
    ("I can't hear any hum at all, so what makes you think there's DC offset?", [{"intent": "why", "about": "dc_offset"}]),
    ("My ceiling is at -0.2 dBTP because a tutorial said so. Is that too hot?", [{"intent": "peaks"}]),
    # a statement naming a stem, then a question pointing back at it
    ("I recorded the strings with one mic in my living room. How do they sound?", [{"intent": "stem_info", "stem": "other"}]),
    ("The snare is a sample I layered with a clap. What should I do to it?", [{"intent": "stem_fix", "stem": "drums"}]),
    ("I really cannot make out the vocals in the chorus, is something covering them?", [{"intent": "masking", "stem": "vocals"}]),
    # indirect questions and apologies
    ("Hi, excuse my english. I would like to know if the drums are too much loud.", [{"intent": "balance", "stem": "drums"}]),
    ("I was wondering whether the mix has any clipping.", [{"intent": "peaks"}]),
    ("hmm? why would it be harsh", [{"intent": "why", "about": "spectrum", "region": "presence"}]),
    # a proposed move, then "would that help?": the move, once per stem
    ("bring the guitars down 3 dB and the keys up 2, would that help?",
     [{"intent": "whatif", "stem": "other", "gain_db": -3.0}, {"intent": "whatif", "stem": "other", "gain_db": 2.0}]),
    ("My teacher told me to lower the bass by 2 dB. Would that make the mix better?",
     [{"intent": "whatif", "stem": "bass", "gain_db": -2.0}]),
    ("If I pushed the vocals up by four decibels, would the mix be better?", [{"intent": "whatif", "stem": "vocals", "gain_db": 4.0}]),
    ("Mate says the guitars are too loud and I think it's fine. Who is right?", [{"intent": "balance", "stem": "other"}]),
    # complaints about how it sounds are the topic's questions; thanks and career questions are not about the mix
    ("after ten minutes my ears hurt, something is shrill in there", [{"intent": "spectrum", "region": "presence"}]),
    ("the chorus has no impact at all, the quiet and loud bits are the same", [{"intent": "dynamics"}]),
    ("my meters keep going red when I play it back", [{"intent": "peaks"}]),
    ("thank you!", [{"intent": "out_of_scope"}]),
    ("how do I get more fans on instagram", [{"intent": "out_of_scope"}]),
    # help asked alongside; radio "on air" is broadcast, not the air band; "how do I get to X" is a fix
    ("what can you do, and is the low end ok?", [{"intent": "help"}, {"intent": "low_end"}]),
    ("the track is going to a community radio show. Could it go out on air as it is, loudness-wise?",
     [{"intent": "platform", "platform": "ebu_r128"}]),
    ("how can I get it to -9 LUFS", [{"intent": "fix", "about": "platform"}]),
    ("is it possible to make the mix wider? how?", [{"intent": "fix", "about": "stereo"}]),
    ("how do I get my mix closer to the reference", [{"intent": "reference", "reference": True}]),
    ("what's masking the bass and how are the drums", [{"intent": "masking", "stem": "bass"}, {"intent": "stem_info", "stem": "drums"}]),
])
def test_problem_statements_indirect_requests_proposals_and_complaints(question, expected):
    """Round 3 of issue 13: the kinds of phrasing a second independent writer used (sentences of our own)."""
    assert parts(question) == expected


def test_the_typo_fixer_leaves_english_words_alone():
    for q in ("same for the bass", "ok cool", "i asked about making it wider", "what is the main thing",
              "is it fine", "long story short"):
        assert normalise(q) == q, q
    assert normalise("is the mix mudy") == "is the mix muddy"  # a letter dropped from a common word
    assert normalise("teh vocals cliping") == "the vocals clipping"
    assert normalise("dc ofset") == "dc offset"
    assert parts("same for the bass?", VOCALS_BALANCE) == [{"intent": "balance", "stem": "bass"}]


def test_follow_ons_with_a_bare_amount_and_a_question_tag():
    w = {"route": {"intent": "whatif", "parts": [{"intent": "whatif", "stem": "vocals", "gain_db": -2.0}]},
         "focus_stem": "vocals"}
    assert parts("try -4 instead", w) == [{"intent": "whatif", "stem": "vocals", "gain_db": -4.0}]
    assert parts("raise the kick 1.5 db, how does that look") == [{"intent": "whatif", "stem": "drums", "gain_db": 1.5}]
    assert parts("ok and the vocals, are they loud enough?") == [{"intent": "balance", "stem": "vocals"}]


def test_the_router_is_offline_and_lazy():
    """The CLI's --help and analyze never import the router's models; the router itself needs
    scikit-learn only; WordLlama (the benchmark's alternative) loads from its wheel with every socket refused."""
    code = ("import sys\nfrom mixingbuddy.cli import build_parser\nbuild_parser(None)\n"
            "import mixingbuddy.agent.intents\n"
            "assert 'wordllama' not in sys.modules and 'sklearn' not in sys.modules, sorted(sys.modules)\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    pytest.importorskip("wordllama")
    code = ("import socket\n"
            "def no(*a, **k):\n    raise OSError('network touched')\n"
            "socket.socket.connect = no\nsocket.create_connection = no\nsocket.getaddrinfo = no\n"
            "from mixingbuddy.agent.intents import wordllama_model\n"
            "e = wordllama_model().embed(['is the low end mono?'])\nassert e.shape == (1, 256)\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# --------------------------------------------------------------------------- end to end

@pytest.fixture(scope="module")
def conversation(tmp_path_factory):
    root = tmp_path_factory.mktemp("intents")
    song = render_song(root / "quiet", vocals_db=-10.0)
    b = MixingBuddy(root / "home", llm=None, use_model=False)
    rv = b.review(song / "mix.wav", stems=[song / "stems"])
    yield b, rv
    b.close()


def test_answers_follow_what_was_asked(conversation):
    b, rv = conversation
    tid = rv.thread_id
    rep = AnalysisReport.model_validate(rv.report)
    vocals = next(s for s in rep.stem_balance.stems if s.name == "vocals")
    assert vocals.status == "too_quiet"

    ans = b.ask(tid, "why do you think the vocals are too quiet?").answer
    assert "vocals" in ans.lower().split("\n")[0]
    assert f"{vocals.level_vs_rest_power_sum_db:.1f} dB" in ans and "How this is measured" in ans

    ans = b.ask(tid, "is the mix muddy?").answer
    first = ans.splitlines()[0]
    assert "low-mids" in first and "250-500 Hz" in first
    low_mid = next(g for g in rep.spectrum.regions if g.name == "low_mid")
    assert f"{low_mid.deviation_db:+.1f} dB" in first

    top = next(f for f in rv.findings if f.severity != "ok" and f.action)
    ans = b.ask(tid, "what should I fix first?").answer
    assert ans.startswith("Fix this first") and top.title in ans.splitlines()[0]

    ans = b.ask(tid, "is there any DC offset?").answer
    worst = max(rep.dynamics.dc.channels, key=lambda c: c.offset_dbfs)
    assert "DC offset" in ans and f"{worst.offset_dbfs:.1f} dBFS" in ans

    info = b.ask(tid, "tell me about the vocals").answer
    fix = b.ask(tid, "how do I fix the vocals?").answer
    assert info != fix and "**Level**" in info and fix.startswith("What to change on the vocals")
    assert re.search(r"Raise the vocals by \d", fix)

    mono = b.ask(tid, "is the low end mono?").answer
    assert re.match(r"(Yes|No): the low end below \d+ Hz is (not )?mono-safe", mono)

    both = b.ask(tid, "is it loud enough for Spotify and is the low end mono?").answer
    lufs = rep.loudness.integrated_lufs
    assert f"{lufs:.1f} LUFS" in both and "mono-safe" in both
    assert both.index("LUFS") < both.index("mono-safe")

    refusal = b.ask(tid, "what's the capital of peru?").answer
    assert refusal.startswith("I can only talk about this mix and its measurements")

    state = b.state(tid)
    for m in state["messages"]:
        if m["role"] == "assistant":
            assert grounded(m["content"], state) == [], m["content"][:200]


def test_a_question_about_a_stem_without_stems_says_what_is_missing(tmp_path):
    song = render_song(tmp_path / "s", vocals_db=0.0, seed=3)
    with MixingBuddy(tmp_path / "home", llm=None, use_model=False, separate=False) as b:
        rv = b.review(song / "mix.wav")
        ans = b.ask(rv.thread_id, "are the vocals loud enough?").answer
        assert "estimated from the mix" in ans or "no measurement" in ans
        assert b.ask(rv.thread_id, "what is masking the vocals?").answer.startswith("Masking needs the stems")


def test_routes_stored_by_the_old_router_are_still_answered(conversation):
    from mixingbuddy.agent.answers import answer

    b, rv = conversation
    st = b.graph.get_state(b._config(rv.thread_id)).values
    a = answer({"intent": "stem", "stem": "bass", "why": False}, dict(st), st["report"], st["findings"], st["claims"])
    assert "bass" in a.text().lower()
    a = answer({"intent": "low_end", "why": True}, dict(st), st["report"], st["findings"], st["claims"])
    assert "How this is measured" in a.text()


def test_the_router_is_fitted_once_per_process():
    assert get_router() is get_router()
    assert Path(Q.QUESTIONS_DIR, "dev.jsonl").is_file()
