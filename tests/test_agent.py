"""The agent end to end on the embedded default (no network, no keys, no model weights):
real WAV files rendered here, the real LangGraph graph, a real SQLite checkpointer in tmp_path.

Stems (6 s, 48 kHz, stereo, each normalised to the same RMS so that every stem sits near
-4.8 dB against the other three, inside the professional range): drums = noise bursts on a
noise bed, bass = a 55 Hz sine, vocals = a harmonic tone with vibrato around 220 Hz, other =
a four-note pad. The "quiet vocals" song pulls the vocals down 10 dB.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mixingbuddy.agent.api import MixingBuddy
from mixingbuddy.agent.claims import (
    BALANCED_SENTENCE,
    balance_verdict,
    claim_summary,
    parse_claim,
    verify_claim,
)
from mixingbuddy.agent.composer import compose_review
from mixingbuddy.agent.graph import NODE_NAMES, mermaid, mermaid_markdown
from mixingbuddy.agent.nodes.check_claims import merge_claims
from mixingbuddy.agent.schema import Finding
from mixingbuddy.model.data.advice_parser import parse_advice
from mixingbuddy.tools.errors import InvalidArgumentError, MixingBuddyError
from mixingbuddy.tools.measure.analyze import AnalysisReport

SR = 48_000
SECONDS = 6.0


def render_song(folder: Path, vocals_db: float = 0.0, seed: int = 0) -> Path:
    """Write ``stems/<role>.wav`` and their sum ``mix.wav`` into ``folder``."""
    rng = np.random.default_rng(seed)
    n = int(SECONDS * SR)
    t = np.arange(n) / SR
    env = np.full(n, 0.15)
    for s in range(0, n, SR // 4):
        k = min(n - s, int(0.12 * SR))
        env[s:s + k] += np.exp(-np.arange(k) / (0.02 * SR))
    drums = rng.standard_normal(n) * env
    bass = np.sin(2 * np.pi * 55 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t) ** 2)
    phase = 2 * np.pi * np.cumsum(220 * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))) / SR
    vocals = sum(np.sin(k * phase) / k for k in range(1, 8)) * (0.7 + 0.3 * np.sin(2 * np.pi * 0.7 * t))
    other = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in (261.6, 329.6, 392.0, 523.3))
    stems = {"drums": np.stack([drums, 0.9 * drums], 1), "bass": np.stack([bass, bass], 1),
             "vocals": np.stack([vocals, vocals], 1), "other": np.stack([other, np.roll(other, 40)], 1)}
    stems = {k: v * (10 ** (-20 / 20) / np.sqrt(np.mean(v ** 2))) for k, v in stems.items()}
    stems["vocals"] = stems["vocals"] * 10 ** (vocals_db / 20)
    (folder / "stems").mkdir(parents=True, exist_ok=True)
    for role, x in stems.items():
        sf.write(folder / "stems" / f"{role}.wav", x.astype(np.float32), SR, subtype="PCM_24")
    sf.write(folder / "mix.wav", sum(stems.values()).astype(np.float32), SR, subtype="PCM_24")
    return folder


def grounded(text: str, state: dict) -> list[str]:
    """Numbers of ``text`` that match no evidence of the conversation (the agent's guard)."""
    from mixingbuddy.agent.grounding import check_grounding, conversation_evidence

    return check_grounding(text, conversation_evidence(state)).ungrounded


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    root = tmp_path_factory.mktemp("songs")
    return {"quiet": render_song(root / "quiet", vocals_db=-10.0),
            "balanced": render_song(root / "balanced", vocals_db=0.0, seed=1)}


@pytest.fixture(scope="module")
def buddy(tmp_path_factory):
    # weights pointing at an empty folder: the listen node must degrade, not fail
    home = tmp_path_factory.mktemp("home")
    b = MixingBuddy(home, llm=None, weights=home / "no-weights")
    yield b
    b.close()


@pytest.fixture(scope="module")
def quiet_review(buddy, songs):
    events: list[tuple[str, str]] = []
    rv = buddy.review(songs["quiet"] / "mix.wav", stems=[songs["quiet"] / "stems"],
                      on_progress=lambda node, status: events.append((node, status)))
    return rv, events


def test_quiet_vocals_give_a_raise_finding_with_the_measured_numbers(quiet_review):
    rv, _ = quiet_review
    rep = AnalysisReport.model_validate(rv.report)
    vocals = next(s for s in rep.stem_balance.stems if s.name == "vocals")
    assert vocals.status == "too_quiet"
    f = next(f for f in rv.findings if f.id == "balance:vocals")
    assert f.topic == "balance" and f.severity in ("high", "medium")
    assert f.action.startswith("Raise the vocals by")
    level = f"{vocals.level_vs_rest_power_sum_db:.1f} dB"
    assert level in f.detail and level in rv.answer
    # the move of the joint solution: the smallest that puts every stem in range .. to the median
    from mixingbuddy.agent.balance_moves import solve_moves

    move = solve_moves(rep.stem_balance).moves[0]
    assert move.stem == "vocals"
    assert f"{move.gain_db:.1f}-{move.gain_max_db:.1f} dB" in f.action
    values = {e.value for e in f.evidence}
    assert round(vocals.level_vs_rest_power_sum_db, 1) in values
    # no other stem is told to move: the other three sit inside the professional range
    assert [x.id for x in rv.findings if x.topic == "balance" and x.severity != "ok"] == ["balance:vocals"]
    parsed = parse_advice(balance_verdict(rv))
    assert (parsed.stem, parsed.direction) == ("vocals", "increase")


def test_review_records_timings_progress_and_the_missing_model(quiet_review):
    rv, events = quiet_review
    assert set(rv.timings_s) == {"ingest", "listen", "measure", "check_claims", "compose"}
    assert [n for n, s in events if s == "started"] == ["ingest", "listen", "measure", "check_claims", "compose"]
    assert all(any(n == node and s.startswith("done") for n, s in events) for node in rv.timings_s)
    assert rv.source == "composer"
    assert any("audio model unavailable" in d for d in rv.degradations)
    assert rv.claims == []
    assert "audio model unavailable" in rv.answer.lower()


def test_balanced_mix_is_not_told_to_move_a_stem(buddy, songs):
    rv = buddy.review(songs["balanced"] / "mix.wav", stems=[songs["balanced"] / "stems"])
    rep = AnalysisReport.model_validate(rv.report)
    out_of_range = {s.name for s in rep.stem_balance.stems if s.status in ("too_quiet", "too_loud")}
    flagged = {f.id.split(":", 1)[1] for f in rv.findings if f.topic == "balance" and f.severity != "ok"}
    assert flagged == out_of_range  # the finding follows the measurement either way
    assert out_of_range == set(), "the constructed stems should sit inside the professional range"
    assert any(f.id == "balance" and f.severity == "ok" for f in rv.findings)
    assert balance_verdict(rv) == BALANCED_SENTENCE
    assert not re.search(r"(Raise|Lower) the (vocals|drums|bass|other)", rv.answer)


def test_platform_question_cites_the_measured_integrated_loudness(buddy, quiet_review):
    rv, _ = quiet_review
    lufs = rv.report["loudness"]["integrated_lufs"]
    turn = buddy.ask(rv.thread_id, "Is it loud enough for Spotify?")
    assert f"{lufs:.1f} LUFS" in turn.answer and "Spotify" in turn.answer
    apple = buddy.ask(rv.thread_id, "and for apple music?")
    assert "Apple Music" in apple.answer and "-16 LUFS" in apple.answer
    assert f"{lufs:.1f} LUFS" in apple.answer
    assert turn.timings_s.keys() == {"route", "answer"}


def test_masking_question_names_the_pair_and_a_band(buddy, quiet_review):
    rv, _ = quiet_review
    pairs = [p for p in rv.report["masking"]["pairs"] if p["target"] == "vocals" and p["masked_pct"] is not None]
    top = max(pairs, key=lambda p: p["masked_pct"])
    assert top["masked_pct"] >= 10.0  # the drum noise covers the quiet vocals
    ans = buddy.ask(rv.thread_id, "What is masking the vocals?").answer
    first = ans.splitlines()[0]
    assert top["masker"] in first and "vocals" in first
    assert re.search(r"\d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)? k?Hz", first)
    assert f"{top['masked_pct']:.1f}%" in first


def test_what_if_gain_returns_before_and_after_that_differ_by_the_gain(buddy, quiet_review):
    rv, _ = quiet_review
    turn = buddy.ask(rv.thread_id, "What if I turn the bass down 3 dB?")
    assert set(turn.timings_s) == {"route", "whatif", "answer"}
    res = buddy.state(rv.thread_id)["tool_results"]
    before, after = res["before"]["stems"]["bass"], res["after"]["stems"]["bass"]
    assert after["level_vs_rest_db"] - before["level_vs_rest_db"] == pytest.approx(-3.0, abs=0.15)
    assert res["after"]["mix"]["integrated_lufs"] < res["before"]["mix"]["integrated_lufs"]
    assert f"{before['level_vs_rest_db']:.1f} dB before" in turn.answer
    assert f"{after['level_vs_rest_db']:.1f} dB after" in turn.answer
    assert f"{res['before']['mix']['integrated_lufs']:.1f} LUFS" in turn.answer


def test_every_answer_passes_the_grounding_guard(buddy, quiet_review):
    rv, _ = quiet_review
    for q in ("why?", "how do I fix it?", "what about the low end?", "is the stereo ok",
              "tell me about the vocals", "any clipping?", "is it too compressed?", "what's wrong overall?",
              "what's the weather like?"):
        buddy.ask(rv.thread_id, q)
    state = buddy.state(rv.thread_id)
    answers = [m["content"] for m in state["messages"] if m["role"] == "assistant"]
    assert len(answers) >= 10
    for text in answers:
        assert grounded(text, state) == [], text[:200]
    for f in rv.findings:
        assert grounded(f"{f.detail} {f.action or ''}", {"evidence": [e.model_dump() for e in f.evidence]}) == []


def test_follow_up_router_answers_the_common_questions(buddy, quiet_review):
    rv, _ = quiet_review
    tid = rv.thread_id
    why = buddy.ask(tid, "why?").answer
    assert "How this is measured" in why
    fix = buddy.ask(tid, "How do I fix it?").answer
    top = next(f for f in rv.findings if f.severity != "ok")
    assert top.action in fix
    assert "Low end" in buddy.ask(tid, "What about the low end?").answer
    vocals = buddy.ask(tid, "Tell me about the vocals").answer
    assert "**Level**" in vocals and "Masked by" in vocals
    assert "I can answer" in buddy.ask(tid, "what's the weather like?").answer


def test_mix_only_review_hedges_and_says_what_needs_stems(buddy, songs):
    rv = buddy.review(songs["quiet"] / "mix.wav")
    assert rv.report["stem_balance"] is None and rv.report["mix_estimate"] is not None
    for f in rv.findings:
        if f.topic == "balance" and f.severity != "ok":
            assert "estimate" in f.detail.lower()
    assert "needs the stems" in buddy.ask(rv.thread_id, "what is masking the vocals?").answer
    assert "needs the stems" in buddy.ask(rv.thread_id, "what if I turn the bass down 3 dB?").answer


def test_conversation_survives_a_restart(tmp_path, songs):
    home = tmp_path / "home"
    first = MixingBuddy(home, llm=None, use_model=False)
    rv = first.review(songs["quiet"] / "mix.wav", stems=[songs["quiet"] / "stems"], thread_id="song-1")
    first.ask("song-1", "what about the low end?")
    first.close()
    del first
    second = MixingBuddy(home, llm=None, use_model=False)
    try:
        assert "song-1" in second.threads()
        second.store.forget("song-1")  # nothing cached: the audio must come from the stored copies
        lufs = rv.report["loudness"]["integrated_lufs"]
        turn = second.ask("song-1", "is it loud enough for Spotify?")
        assert f"{lufs:.1f} LUFS" in turn.answer
        whatif = second.ask("song-1", "what if I turn the vocals up 6 dB?")
        assert "before" in whatif.answer and "after" in whatif.answer
        hist = second.history("song-1")
        assert [m["role"] for m in hist] == ["user", "assistant"] * 4
        assert hist[1]["content"] == rv.answer
        stored = second.state("song-1")["audio"]
        assert Path(stored["mix"]).is_file() and str(home / "threads" / "song-1") in stored["mix"]
        assert len(stored["stems"]) == 4 and set(stored["stem_roles"].values()) == {"vocals", "drums", "bass", "other"}
    finally:
        second.close()


def test_bad_file_gives_a_clear_error_and_no_half_thread(tmp_path, songs):
    home = tmp_path / "home"
    b = MixingBuddy(home, llm=None, use_model=False)
    try:
        empty = tmp_path / "empty.wav"
        empty.write_bytes(b"")
        corrupt = tmp_path / "corrupt.wav"
        corrupt.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(40)))
        with pytest.raises(MixingBuddyError, match="empty"):
            b.review(empty, thread_id="t1")
        with pytest.raises(MixingBuddyError) as err:
            b.review(corrupt, thread_id="t1")
        assert "corrupt.wav" in str(err.value) and "\n" not in str(err.value)
        with pytest.raises(MixingBuddyError):  # a bad stem fails the whole review, cleanly
            b.review(songs["quiet"] / "mix.wav", stems=[songs["quiet"] / "stems" / "vocals.wav", empty],
                     thread_id="t1")
        assert b.threads() == []
        assert not (home / "threads" / "t1").exists()
        with pytest.raises(InvalidArgumentError):
            b.ask("t1", "why?")
        rv = b.review(songs["quiet"] / "mix.wav", thread_id="t1")  # the id is free again
        assert b.ask("t1", "why?").answer and b.threads() == ["t1"]
        with pytest.raises(InvalidArgumentError, match="already holds a review"):
            b.review(songs["quiet"] / "mix.wav", thread_id="t1")
        assert b.history("t1")[1]["content"] == rv.answer
        # half a thread left by a process killed mid-review (a checkpoint without a report)
        b.graph.update_state(b._config("t2"), {"thread_id": "t2", "mode": "review"})
        assert "t2" in b.threads()
        with pytest.raises(InvalidArgumentError, match="unknown conversation"):
            b.ask("t2", "why?")
        assert b.review(songs["quiet"] / "mix.wav", thread_id="t2").report["loudness"]
        assert b.ask("t2", "why?").answer
    finally:
        b.close()


def test_unknown_thread_and_bad_arguments_are_clear_errors(buddy, songs, quiet_review):
    with pytest.raises(InvalidArgumentError, match="unknown conversation 'nope'"):
        buddy.ask("nope", "why?")
    with pytest.raises(InvalidArgumentError, match="unknown conversation"):
        buddy.history("nope")
    with pytest.raises(InvalidArgumentError, match="thread id"):
        buddy.ask("../etc", "why?")
    with pytest.raises(InvalidArgumentError, match="thread id"):  # "$" would let a newline through
        buddy.ask("abc\n", "why?")
    with pytest.raises(InvalidArgumentError, match="unknown platform"):
        buddy.review(songs["quiet"] / "mix.wav", platform="napster")
    with pytest.raises(InvalidArgumentError, match="anchor"):
        buddy.review(songs["quiet"] / "mix.wav", anchor="kazoo")
    tid = quiet_review[0].thread_id  # a conversation that exists, whichever test ran first
    with pytest.raises(InvalidArgumentError, match="empty"):
        buddy.ask(tid, "   ")


@pytest.mark.parametrize("roles, message", [
    (["vocals"], "roles must be a dict"), ("vocals", "roles must be a dict"), (42, "roles must be a dict"),
    ({"vocals.wav": 5}, "unknown role '5'")])
def test_stem_roles_of_the_wrong_shape_are_clear_errors_and_leave_nothing(buddy, songs, roles, message):
    before = buddy.threads()
    stems = sorted((songs["quiet"] / "stems").glob("*.wav"))
    with pytest.raises(MixingBuddyError, match=message):
        buddy.review(songs["quiet"] / "mix.wav", stems=stems, stem_roles=roles)
    assert buddy.threads() == before


def test_claims_are_confirmed_adjusted_or_refuted_by_the_stems(quiet_review):
    rv, _ = quiet_review
    rep = AnalysisReport.model_validate(rv.report)
    vocals = next(s for s in rep.stem_balance.stems if s.name == "vocals")
    hi = max(abs(vocals.suggested_gain_db), abs(vocals.suggested_gain_min_db))
    small = verify_claim(parse_claim("The vocals sit a little low. Raise the vocals by 1 to 2 dB."), rep)
    assert small.verdict == "adjusted" if hi > 3.0 else "confirmed"
    right = verify_claim(parse_claim(f"The vocals are buried. Raise the vocals by {round(hi)} dB."), rep)
    assert right.verdict == "confirmed"
    wrong = verify_claim(parse_claim("The bass level is far too high. Lower the bass by 6 to 12 dB."), rep)
    bass = next(s for s in rep.stem_balance.stems if s.name == "bass")
    assert bass.status == "within_range" and wrong.verdict == "refuted"
    assert f"{bass.level_vs_rest_power_sum_db:.1f} dB" in wrong.note
    balanced = verify_claim(parse_claim("The mix is well balanced; no gain changes are necessary."), rep)
    assert balanced.verdict == "refuted"
    # the refuted claim is reported without repeating its advice
    text = claim_summary(wrong)
    p = parse_advice(text)
    assert not (p.stem == "bass" and p.direction == "decrease")
    # a confirmed claim marks its finding as heard by the model too
    findings = [Finding.model_validate(f) for f in rv.findings]
    merged = merge_claims(findings, [right, wrong])
    assert next(f for f in merged if f.id == "balance:vocals").source == "model+tools"
    assert not any(f.id == "balance:bass" for f in merged)
    md, _ = compose_review(merged, [right, wrong], platform_label="Spotify", stems=["vocals", "bass"],
                           model_used=True, notes=[])
    assert "not borne out" in md and "Lower the bass" not in md
    assert parse_advice(balance_verdict({"report": rv.report, "claims": [wrong.model_dump()]})).stem == "vocals"


def test_graph_draws_as_mermaid_with_every_node():
    text = mermaid()
    assert text.lstrip().startswith(("graph", "---"))
    for name in NODE_NAMES:
        assert re.search(rf"\b{name}\b", text), name
    assert set(NODE_NAMES) == {"ingest", "listen", "measure", "check_claims", "compose", "route", "whatif",
                               "answer", "llm", "tools", "guard"}
    # the tool loop is drawn as LangGraph's templates draw it
    for edge in ("llm -.-> tools", "tools --> llm", "llm -.-> guard", "guard -.-> llm"):
        assert edge in text, edge


def test_the_readme_diagram_is_the_compiled_graph():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- graph:start -->\n", 1)[1].split("<!-- graph:end -->", 1)[0]
    assert block == mermaid_markdown(), "regenerate it: python -m mixingbuddy.agent.graph"


def test_review_listens_with_a_saved_model(tmp_path, songs):
    """The listen node with a real (tiny, untrained) audio model saved to disk: its output is
    parsed into a claim that gets a verdict, and nothing it says is quoted as a number."""
    import torch

    from mixingbuddy.model import config as C
    from mixingbuddy.model.audio_lm import AudioLM

    cfg = C.load_train_config(Path(__file__).resolve().parents[1] / "model" / "configs" / "tiny.yaml")
    torch.manual_seed(0)
    AudioLM.build(cfg.model).save_pretrained(tmp_path / "weights")
    with MixingBuddy(tmp_path / "home", llm=None, weights=tmp_path / "weights") as b:
        rv = b.review(songs["quiet"] / "mix.wav", stems=[songs["quiet"] / "stems"])
        assert not any("audio model" in d for d in rv.degradations)
        assert len(rv.claims) == 1 and rv.claims[0].verdict in ("confirmed", "adjusted", "refuted", "unverifiable")
        heard = b.state(rv.thread_id)["listen"]
        assert heard["anchor"] == "vocals" and len(heard["class_probs"]) == 13
        assert heard["window_s"][0] == 0.0 and heard["window_s"][1] == pytest.approx(SECONDS, abs=0.01)
        assert "### What the audio model heard" in rv.answer
        assert grounded(rv.answer, b.state(rv.thread_id)) == []


def test_warm_up_loads_the_model_in_the_background_once(tmp_path):
    """The app's start-up warm-up puts the audio model in the per-process cache, so the first
    review finds it loaded; a second warm-up loads nothing new."""
    import torch

    from mixingbuddy.model import config as C
    from mixingbuddy.model import listen as L
    from mixingbuddy.model.audio_lm import AudioLM

    cfg = C.load_train_config(Path(__file__).resolve().parents[1] / "model" / "configs" / "tiny.yaml")
    torch.manual_seed(0)
    AudioLM.build(cfg.model).save_pretrained(tmp_path / "weights")
    key = str((tmp_path / "weights").resolve())
    assert key not in L._CACHE
    with MixingBuddy(tmp_path / "home", llm=None, weights=tmp_path / "weights") as b:
        th = b.warm_up()
        th.join(timeout=120)
        assert not th.is_alive() and th.daemon
        model = L._CACHE[key]
        b.warm_up().join(timeout=120)
        assert L._CACHE[key] is model


def test_state_holds_typed_values_and_a_stored_json_thread_is_upgraded(tmp_path, songs):
    from mixingbuddy.agent.schema import Claim, Evidence, Finding
    from mixingbuddy.tools.measure.analyze import AnalysisReport

    with MixingBuddy(tmp_path / "home", llm=None, use_model=False) as b:
        rv = b.review(songs["quiet"] / "mix.wav", stems=[songs["quiet"] / "stems"])
        cfg = {"configurable": {"thread_id": rv.thread_id}}
        raw = b.graph.get_state(cfg).values
        assert isinstance(raw["report"], AnalysisReport)
        assert raw["findings"] and all(isinstance(f, Finding) for f in raw["findings"])
        assert all(isinstance(e, Evidence) for e in raw["evidence"])
        # the public view is JSON
        st = b.state(rv.thread_id)
        assert isinstance(st["report"], dict) and isinstance(st["findings"][0], dict)
        # a conversation stored by an earlier version held dicts: it is upgraded on the next question
        b.graph.update_state(cfg, {"report": st["report"], "findings": st["findings"], "claims": st["claims"]})
        assert isinstance(b.graph.get_state(cfg).values["report"], dict)
    with MixingBuddy(tmp_path / "home", llm=None, use_model=False) as b:  # reopened: strict deserialisation
        turn = b.ask(rv.thread_id, "why?")
        assert turn.answer and not turn.degradations
        raw = b.graph.get_state(cfg).values
        assert isinstance(raw["report"], AnalysisReport) and isinstance(raw["findings"][0], Finding)
        assert all(isinstance(c, Claim) for c in raw["claims"])


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_damaged_conversation_database_is_set_aside_and_a_fresh_one_started(tmp_path, songs, damage):
    home = tmp_path / "home"
    with MixingBuddy(home, llm=None, use_model=False) as b:
        rv = b.review(songs["balanced"] / "mix.wav")
        assert b.notes == []
    db = home / "conversations.sqlite"
    raw = db.read_bytes()
    if damage == "garbage":
        db.write_bytes(b"this is not a database" * 100)
    elif damage == "truncated":
        db.write_bytes(raw[: len(raw) // 3])
    else:
        db.write_bytes(b"")
    with MixingBuddy(home, llm=None, use_model=False) as b:
        assert len(b.notes) == 1 and "moved aside" in b.notes[0]
        aside = list(home.glob("conversations.sqlite.damaged-*"))
        assert len(aside) == 1 and aside[0].stat().st_size > 0 or damage == "empty"
        with pytest.raises(InvalidArgumentError, match="unknown conversation"):
            b.state(rv.thread_id)
        again = b.review(songs["balanced"] / "mix.wav")  # the fresh database works
        assert b.ask(again.thread_id, "why?").answer
