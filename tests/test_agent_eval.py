"""Scripted evaluations of the agent (evals/agent_eval.py, evals/recipes.py, evals/scenarios):
recipes render what they say, scenario files are validated with clear errors, the scoring
functions judge hand-made answers, and a few scenarios run end to end on the real agent."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mixingbuddy.evals import agent_eval as AE
from mixingbuddy.evals.recipes import (
    RecipeError,
    active_rms,
    parse_recipe,
    render_mix,
    render_recipe,
)

SHORT = 3.0  # seconds of audio in the recipe tests


def _db(x: float) -> float:
    return 20.0 * math.log10(x)


# =========================================================================== recipes

def test_stem_gain_moves_the_stem_level_by_that_many_db():
    base = {"seconds": SHORT, "loudness_lufs": None, "peak_dbfs": -6.0, "seed": 1}
    stems = {"drums": {"source": "drums"}, "vocals": {"source": "vocals", "gain_db": 0.0}}
    loud = render_mix(parse_recipe({**base, "stems": stems}))[1]
    quiet_stems = {**stems, "vocals": {"source": "vocals", "gain_db": -10.0}}
    quiet = render_mix(parse_recipe({**base, "stems": quiet_stems}))[1]
    sr = 44_100
    # vocals against the drums, in each render: the common mix gain cancels out
    rel_loud = _db(active_rms(loud["vocals"], sr)) - _db(active_rms(loud["drums"], sr))
    rel_quiet = _db(active_rms(quiet["vocals"], sr)) - _db(active_rms(quiet["drums"], sr))
    assert rel_loud - rel_quiet == pytest.approx(10.0, abs=0.2)


def test_stem_gain_is_measured_by_the_toolbox_stem_balance(tmp_path):
    from mixingbuddy.tools.measure.stem_balance import measure_stem_balance

    levels = {}
    for g in (0.0, -10.0):
        r = parse_recipe({"seconds": 4.0, "seed": 2, "loudness_lufs": None, "peak_dbfs": -3.0, "stems": {
            "drums": {"source": "drums"}, "bass": {"source": "bass"},
            "vocals": {"source": "vocals", "gain_db": g}}})
        _, stems, _ = render_mix(r)
        res = measure_stem_balance({k: v.astype(np.float32) for k, v in stems.items()}, 44_100,
                                   anchor="drums")
        levels[g] = next(s for s in res.stems if s.name == "vocals").level_vs_anchor_db
    # measured by the toolbox (activity-gated RMS against the drums), -10 dB reads as 10 dB lower
    assert levels[0.0] - levels[-10.0] == pytest.approx(10.0, abs=0.5)


def test_render_writes_files_with_the_loudness_asked(tmp_path):
    from mixingbuddy.tools.measure.loudness import integrated_loudness_lufs

    out = render_recipe({"seconds": SHORT, "loudness_lufs": -18.0}, tmp_path)
    x, sr = sf.read(out.mix_path, dtype="float32", always_2d=True)
    assert sr == 44_100 and x.shape == (int(SHORT * sr), 2)
    assert integrated_loudness_lufs(x, sr) == pytest.approx(-18.0, abs=0.1)
    assert sorted(out.stem_paths) == ["bass", "drums", "other", "vocals"]
    total = sum(sf.read(p, dtype="float64", always_2d=True)[0] for p in out.stem_paths.values())
    assert np.max(np.abs(total - x)) < 1e-4  # the mix is the sum of its stems (24-bit rounding)


def test_render_is_deterministic_and_the_seed_matters(tmp_path):
    r = parse_recipe({"seconds": 1.0, "seed": 3})
    a = render_mix(r)[0]
    b = render_mix(r)[0]
    c = render_mix(parse_recipe({"seconds": 1.0, "seed": 4}))[0]
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_clip_drive_clips_the_mix_not_the_stems(tmp_path):
    out = render_recipe({"seconds": SHORT, "loudness_lufs": -16, "clip_drive_db": 6}, tmp_path)
    x, _ = sf.read(out.mix_path, dtype="float32")
    at_full_scale = np.mean(np.abs(x) >= 0.999)
    assert at_full_scale > 0.001
    for p in out.stem_paths.values():
        assert np.max(np.abs(sf.read(p, dtype="float32")[0])) < 1.0


def test_peak_normalisation_and_accidental_clipping_is_refused(tmp_path):
    out = render_recipe({"seconds": SHORT, "loudness_lufs": None, "peak_dbfs": -0.5}, tmp_path)
    assert out.mix_sample_peak_dbfs == pytest.approx(-0.5, abs=0.01)
    with pytest.raises(RecipeError, match="clip"):
        render_recipe({"seconds": SHORT, "loudness_lufs": -3.0}, tmp_path / "loud")


def test_phase_inverted_stem_is_anti_correlated_and_width_zero_is_mono():
    r = parse_recipe({"seconds": 1.0, "loudness_lufs": None, "peak_dbfs": -6,
                      "stems": {"vocals": {"source": "vocals", "phase": "inverted"},
                                "other": {"source": "pad", "width": 0.0}}})
    _, stems, _ = render_mix(r)
    v, o = stems["vocals"], stems["other"]
    assert np.corrcoef(v[:, 0], v[:, 1])[0, 1] < -0.99
    assert np.allclose(o[:, 0], o[:, 1])


def test_noise_band_energy_sits_in_its_band():
    r = parse_recipe({"seconds": 2.0, "loudness_lufs": None, "peak_dbfs": -6,
                      "stems": {"other": {"source": "noise_band", "band_hz": [300, 1200]}}})
    x = render_mix(r)[0][:, 0]
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / 44_100)
    inside = spec[(f >= 250) & (f <= 1400)].sum()
    assert inside / spec.sum() > 0.9


def test_odd_inputs_render_as_described(tmp_path):
    mono = render_recipe({"seconds": 1.0, "channels": 1, "sr_hz": 96_000, "loudness_lufs": -20}, tmp_path / "m")
    info = sf.info(str(mono.mix_path))
    assert (info.channels, info.samplerate) == (1, 96_000)
    silent = render_recipe({"seconds": 1.0, "silence": True}, tmp_path / "s")
    assert not np.any(sf.read(silent.mix_path)[0])
    text = render_recipe({"corrupt": "text"}, tmp_path / "t")
    assert text.mix_path.read_bytes().startswith(b"This is a text file")


@pytest.mark.parametrize("bad, words", [
    ({"stems": {"vocals": {"source": "kazoo"}}}, "stems.vocals.source"),
    ({"stems": {"guitar": {"source": "pad"}}}, "stems.guitar"),
    ({"loudness_lufs": -14, "peak_dbfs": -1}, "not both"),
    ({"stems": {"other": {"source": "noise_band"}}}, "band_hz"),
    ({"stems": {"other": {"source": "noise_band", "band_hz": [900, 300]}}}, "band_hz"),
    ({"seconds": -1}, "seconds"),
    ({"colour": "blue"}, "colour"),
])
def test_bad_recipes_name_the_field(bad, words):
    with pytest.raises(RecipeError, match=words) as e:
        parse_recipe(bad)
    assert "\n" not in str(e.value) and e.value.code == "bad_recipe"


# =========================================================================== scenario files

GOOD = """\
name: tiny
audio: {seconds: 1}
review: {stems: false}
checks:
  - contains: LUFS
turns:
  - ask: "Is it loud enough for Spotify?"
    checks:
      - cites_measured: loudness.integrated_lufs
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_loader_reads_a_good_file(tmp_path):
    sc = AE.load_scenario_file(_write(tmp_path, "tiny.yaml", GOOD))
    assert sc.name == "tiny" and sc.audio.seconds == 1
    assert [c.kind for c in sc.checks] == ["contains"]
    assert sc.turns[0].checks[0].kind == "cites_measured"


@pytest.mark.parametrize("text, words", [
    ("name: x\naudio: {seconds: 1\n", r"not valid YAML at line \d+"),
    ("- just\n- a list\n", "is a mapping"),
    (GOOD.replace("contains: LUFS", "mentions: LUFS"), "unknown check 'mentions'"),
    (GOOD.replace("contains: LUFS", "contains: '(unclosed'"), "bad regex"),
    (GOOD.replace("audio: {seconds: 1}", "audio: {seconds: 1, stems: {vocals: {source: harp}}}"), "audio: stems.vocals.source"),
    (GOOD.replace("review: {stems: false}", "review: {stems: maybe}"), "review.stems"),
    (GOOD.replace("      - cites_measured: loudness.integrated_lufs", "      - names_band_hz_between: [100]"),
     r"turns\[0\].checks\[0\]: names_band_hz_between"),
    ("name: x\naudio: {seconds: 1}\n", "has no checks"),
    (GOOD.replace("name: tiny", "name: 'has spaces'"), "name"),
])
def test_loader_rejects_bad_files_with_one_clear_line(tmp_path, text, words):
    with pytest.raises(AE.ScenarioError, match=words) as e:
        AE.load_scenario_file(_write(tmp_path, "bad.yaml", text))
    msg = str(e.value)
    assert msg.startswith("bad.yaml") and "\n" not in msg and e.value.code == "bad_scenario"


def test_loader_folder_rules(tmp_path):
    _write(tmp_path, "a.yaml", GOOD)
    _write(tmp_path, "b.yaml", GOOD)  # the same name twice
    with pytest.raises(AE.ScenarioError, match="used twice"):
        AE.load_scenarios(tmp_path)
    (tmp_path / "b.yaml").write_text(GOOD.replace("name: tiny", "name: other_one"))
    assert [s.name for s in AE.load_scenarios(tmp_path, only=["oth*"])] == ["other_one"]
    with pytest.raises(AE.ScenarioError, match="no scenario matches"):
        AE.load_scenarios(tmp_path, only=["nope"])
    with pytest.raises(AE.ScenarioError, match="no such scenario folder"):
        AE.load_scenarios(tmp_path / "missing")


def test_packaged_scenarios_cover_the_brief():
    scs = AE.load_scenarios()
    assert len(scs) >= 25
    assert all(s.turns for s in scs), "every scenario is a multi-turn conversation"
    kinds = {c.kind for s in scs for c in [*s.checks, *(c for t in s.turns for c in t.checks)]}
    for k in ("cites_measured", "names_stem", "names_band_hz_between", "not_contains", "advises",
              "hedges", "expect_error", "refuted_claims_not_repeated", "has_finding", "no_finding"):
        assert k in kinds, k
    tags = {t for s in scs for t in s.tags}
    for t in ("loudness", "true_peak", "clipping", "masking", "balance", "claims", "low_end",
              "stereo", "whatif", "no_stems", "reference", "bad_input"):
        assert t in tags, t
    asks = " ".join(t.ask.lower() for s in scs for t in s.turns)
    for q in ("why?", "how do i fix it?", "spotify", "masking the vocals", "low end", "what if"):
        assert q in asks, q
    assert any(s.review.stems for s in scs) and any(not s.review.stems for s in scs)
    assert any(s.reference is not None for s in scs)


# =========================================================================== scoring helpers

def test_scenario_numbers_are_read_and_matched_by_the_grounding_rule():
    nums = AE.read_numbers("Integrated -14.2 LUFS, peak \u22120.3 dBTP, mp3 at 320 kbps, 7 dB under")
    assert [(n.value, n.decimals) for n in nums] == [(-14.2, 1), (-0.3, 1), (320.0, 0), (7.0, 0)]
    n = nums[0]
    assert n.states(-14.23, magnitude=False) and not n.states(-14.3, magnitude=False)
    assert not AE.read_numbers("-14 LUFS")[0].states(-14.23, min_decimals=1)
    seven = AE.read_numbers("7.3 dB")[0]
    assert seven.states(-7.31, magnitude=True) and not seven.states(-7.31, magnitude=False)


def test_frequencies_are_read_with_units_and_ranges():
    spans = AE.frequencies_hz("cut 6 dB around 1.1 kHz; the 250-500 Hz region; 2-5 kHz; 500 Hz-2 kHz; 4k")
    assert (1100.0, 1100.0) in spans and (250.0, 500.0) in spans and (2000.0, 5000.0) in spans
    assert (500.0, 2000.0) in spans and (4000.0, 4000.0) in spans
    assert AE.frequencies_hz("6 dB and 3 LU") == []


def test_resolve_path_forms():
    d = {"stem_balance": {"stems": [{"name": "vocals", "v": -9.5}, {"name": "bass", "v": 1.0}]},
         "masking": {"pairs": [{"masked_pct": 55.0}]}}
    assert AE.resolve_path(d, "stem_balance.stems.vocals.v") == -9.5
    assert AE.resolve_path(d, "stem_balance.stems[name=bass].v") == 1.0
    assert AE.resolve_path(d, "masking.pairs[0].masked_pct") == 55.0
    assert AE.resolve_path(d, "masking.pairs.5.masked_pct") is None
    assert AE.resolve_path(d, "loudness.integrated_lufs") is None


REPORT = {"loudness": {"integrated_lufs": -20.04, "true_peak_dbtp": -0.12},
          "stem_balance": {"stems": [{"name": "vocals", "level_vs_rest_power_sum_db": -14.24}]}}
FINDINGS = [{"topic": "balance", "severity": "high", "title": "Vocals too quiet",
             "evidence": [{"tool": "stem_balance", "quantity": "vocals vs rest", "value": -14.2,
                           "unit": "dB", "decimals": 1}]},
            {"topic": "loudness", "severity": "medium", "title": "Quiet for Spotify", "evidence": []}]


def _turn(answer: str, **kw) -> AE.TurnRecord:
    kw.setdefault("report", REPORT)
    kw.setdefault("findings", FINDINGS)
    return AE.TurnRecord(kind="ask", question="?", answer=answer, **kw)


def _run(kind: str, arg, answer: str, **kw) -> AE.CheckOutcome:
    spec = AE._parse_check({kind: arg}, "test")
    return AE.run_check(spec.kind, spec.arg, _turn(answer, **kw))


@pytest.mark.parametrize("kind, arg, good, bad", [
    ("cites_measured", "loudness.integrated_lufs",
     "It measures -20.0 LUFS, 6 LU under Spotify's target.", "It measures -20 LUFS."),
    ("cites_measured", {"path": "stem_balance.stems.vocals.level_vs_rest_power_sum_db", "magnitude": True},
     "The vocals sit 14.2 dB under the rest.", "The vocals sit 12.2 dB under the rest."),
    ("cites_measured", {"path": "stem_balance.stems.vocals.level_vs_rest_power_sum_db", "offset": 4, "magnitude": True},
     "Up 4 dB they would sit at -10.2 dB against the rest.", "Up 4 dB they would be fine."),
    ("names_stem", ["other", "vocals"], "The pads cover the vocal around 1 kHz.", "Something covers the vocal."),
    ("names_band_hz_between", [300, 1500], "Cut 6 dB on the pads around 1.1 kHz.", "Cut 6 dB around 4 kHz."),
    ("contains", ["spotify", "LUFS"], "Spotify plays it at -14 LUFS.", "Spotify will turn it up."),
    ("not_contains", "too loud", "It is quiet.", "It is too loud."),
    ("any_of", ["quiet", "below"], "Below the target.", "Above the target."),
    ("hedges", True, "Estimated from the mix alone, the vocals look low.", "The vocals are low."),
    ("advises", {"stem": "vocals", "direction": "increase"},
     "Everything else is fine. Raise the vocals by 4-6 dB.", "Lower the vocals by 2 dB."),
    ("not_advises", {"stem": "vocals", "direction": "decrease"},
     "The vocals are not too loud: they sit 14.2 dB under the rest.", "Yes, turn the vocals down 3 dB."),
    ("has_finding", {"topic": "balance", "severity_in": ["high"]}, "any", None),
    ("numbers_at_least", 2, "From -14.2 dB to -10.2 dB.", "Raise them a bit."),
])
def test_checks_on_hand_made_answers(kind, arg, good, bad):
    ok = _run(kind, arg, good)
    assert ok.passed, ok.detail
    if bad is not None:
        no = _run(kind, arg, bad)
        assert not no.passed, f"{kind} passed on {bad!r}"


def test_finding_checks_read_topics_and_severity():
    assert not _run("has_finding", {"topic": "clipping"}, "x").passed
    assert _run("no_finding", {"topic": "balance", "severity_in": ["medium"]}, "x").passed
    assert not _run("no_finding", {"topic": ["stereo", "balance"]}, "x").passed
    assert _run("cites_evidence", {"topic": "balance"}, "They sit 14.2 dB down.").passed
    assert not _run("cites_evidence", {"topic": "balance"}, "They sit 13 dB down.").passed


def test_refuted_claims_check():
    claims = [{"text": "The vocals are too loud; lower them 3-6 dB.", "stem": "vocals",
               "direction": "decrease", "verdict": "refuted"},
              {"text": "Raise the bass.", "stem": "bass", "direction": "increase", "verdict": "confirmed"}]
    good = _run("refuted_claims_not_repeated", True, "Raise the bass 2 dB; the vocals are fine.", claims=claims)
    assert good.passed and not good.vacuous
    echo = _run("refuted_claims_not_repeated", True,
                "The model said: The vocals are too loud; lower them 3-6 dB.", claims=claims)
    advice = _run("refuted_claims_not_repeated", True, "Pull the vocals down 4 dB.", claims=claims)
    assert not echo.passed and not advice.passed
    vac = _run("refuted_claims_not_repeated", True, "Anything.", claims=[])
    assert vac.passed and vac.vacuous


def test_error_checks_and_failed_turns():
    failed = AE.TurnRecord(kind="review", question=None, error_code="too_short",
                           error_message="mix.wav: is too short to measure: 0.20 s long, at least 0.5 s is needed")
    assert AE.run_check("expect_error", "too_short", failed).passed
    assert not AE.run_check("expect_error", "silent_audio", failed).passed
    assert AE.run_check("error_mentions", r"0\.5", failed).passed
    assert not AE.run_check("error_mentions", r"0\.4", failed).passed
    # every answer check fails (and says why) on a turn that errored
    out = AE.run_check("contains", "LUFS", failed)
    assert not out.passed and "too_short" in out.detail
    crash = AE.TurnRecord(kind="review", question=None, error_code="crash", error_message="KeyError: 'x'")
    assert not AE.run_check("expect_error", "too_short", crash).passed
    assert not AE.run_check("expect_error", "too_short", _turn("fine")).passed


def test_grounding_counts_traceable_numbers():
    series = [-30.0 + i for i in range(20)]
    state = {"report": {"loudness": {"integrated_lufs": -20.04, "short_term_lufs": series}},
             "evidence": [e for f in FINDINGS for e in f["evidence"]]}
    # a report field no answer has said is cited with what it is ("integrated"): the typed rule
    g = AE.ground("It sits at -20.0 LUFS integrated; the vocals are 14.2 dB under; turn up 3 dB; 37 dB of "
                  "headroom; -27 LUFS at one point.", state, ["What if I turn it up 3 dB?"])
    # the time series is not evidence (-27 is in it): the guard's rule, not a looser one
    assert g.numbers == 5 and g.grounded == 3 and g.ungrounded == ["37", "-27"]


def test_summary_rates_and_markdown():
    def tr(kind, passed, latency, source="composer", nums=(2, 2)):
        return AE.TurnResult(kind, None if kind == "review" else "q", "a", source, None, latency, [],
                             [AE.CheckOutcome("contains", "x", passed)], AE.GroundingOutcome(*nums, []))
    results = [AE.ScenarioResult("a", "", [], [tr("review", True, 1.0), tr("ask", True, 0.2)], "t1"),
               AE.ScenarioResult("b", "", [], [tr("review", True, 3.0, "llm", (4, 3)), tr("ask", False, 0.4)], "t2")]
    s = AE.summarize(results, llm_configured=True)
    assert s["passed"] == 1 and s["pass_rate"] == 0.5
    assert s["per_check"]["contains"] == {"n": 4, "passed": 3, "vacuous": 0, "rate": 0.75}
    assert s["groundedness"] == pytest.approx(9 / 10)
    assert s["fallback_rate"] == pytest.approx(3 / 4)
    assert s["latency_review_median_s"] == 2.0 and s["latency_followup_median_s"] == pytest.approx(0.3)
    assert AE.summarize(results, llm_configured=False)["fallback_rate"] is None
    md = AE.summary_markdown(s, results)
    assert "1/2 (50.0%)" in md and "| b | FAIL |" in md and "9/10 (90.0%)" in md


def test_cli_parser_registers_under_eval():
    import argparse

    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd")
    e = sub.add_parser("eval").add_subparsers(dest="eval_command")
    AE.add_agent_eval_parser(e)
    args = p.parse_args(["eval", "agent", "--only", "masking_*", "--out", "x", "--llm-base-url", "http://127.0.0.1:1/v1"])
    assert args.func is AE.cmd_agent_eval and args.only == ["masking_*"] and args.out == "x"


@pytest.mark.parametrize("sentence, level_advice", [
    ("Lower the drums by 6.3-8.9 dB.", True),
    ("My friend says the vocals are way too loud.", True),
    ("Yes, turn the vocals down 3 dB.", True),
    # measurements, masking, what-if restatements and EQ moves are not level advice
    ("The vocals sit at -4.4 dB against the rest of the mix; professional mixes put them between -8.8 and -1.5 dB.", False),
    ("The other instruments cover the vocals in 40.3% of the cells; the vocals are masked.", False),
    ("Turning the bass up by 6.0 dB, simulated on the stems and measured again:", False),
    ("Cut 6.0 dB on the other instruments around 235 Hz and/or boost 3.0 dB on the bass at 66 Hz.", False),
])
def test_level_advice_filter(sentence, level_advice):
    p = AE.advice_of(sentence)
    assert (p.direction is not None and AE.is_level_advice(p.cue, sentence)) is level_advice


# =========================================================================== end to end (the real agent)

E2E = ["loudness_spotify_quiet", "quiet_vocal_with_stems", "odd_input_very_short"]


def _cli_args(tmp_path, *extra):
    import argparse

    p = argparse.ArgumentParser()
    e = p.add_subparsers(dest="cmd").add_parser("eval").add_subparsers(dest="eval_command")
    AE.add_agent_eval_parser(e)
    return p.parse_args(["eval", "agent", "--out", str(tmp_path / "out"), "--home", str(tmp_path / "home"),
                         "--no-model", *extra])


def test_scenarios_end_to_end_through_the_cli(tmp_path, capsys):
    args = _cli_args(tmp_path, "--only", ",".join(E2E))
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert (tmp_path / "out" / "summary.md").read_text() in printed
    by = {s["name"]: s for s in data["scenarios"]}
    assert sorted(by) == sorted(E2E)
    for name in E2E:  # every check of these three passes on the embedded default
        failed = [(c["kind"], c["detail"]) for t in by[name]["turns"] for c in t["checks"] if not c["passed"]]
        assert by[name]["passed"], (name, failed)
    s = data["summary"]
    assert s["pass_rate"] == 1.0 and s["groundedness"] == 1.0 and s["numbers"] > 10
    assert s["fallback_rate"] is None and "n/a (no LLM configured)" in printed
    assert s["latency_review_median_s"] > 0 and s["followups"] == 4  # 2 + 1 + 1 follow-ups
    short = by["odd_input_very_short"]["turns"]
    assert short[0]["error"].startswith("error[too_short]") and short[1]["error"].startswith("error[invalid_argument]")
    # the conversations are in the SQLite home, and survive a new MixingBuddy on it
    from mixingbuddy.agent.api import MixingBuddy

    with MixingBuddy(home=tmp_path / "home", llm=None, use_model=False) as again:
        assert "eval-quiet_vocal_with_stems" in again.threads()
        assert len(again.history("eval-quiet_vocal_with_stems")) >= 6


def test_a_wrong_answer_fails_its_scenario(tmp_path):
    """The runner scores what the agent says: a scenario asking for a fact the answer does not
    hold fails, with the check named."""
    text = (AE.SCENARIO_DIR / "loudness_spotify_quiet.yaml").read_text()
    (tmp_path / "sc").mkdir()
    (tmp_path / "sc" / "x.yaml").write_text(text.replace('- contains: "spotify"', '- contains: "apple music"'))
    from mixingbuddy.agent.api import MixingBuddy

    with MixingBuddy(home=tmp_path / "home", llm=None, use_model=False) as buddy:
        s, res = AE.run_agent_eval(AE.load_scenarios(tmp_path / "sc"), None, buddy=buddy, progress=False)
    assert s["pass_rate"] == 0.0 and s["failed"] == ["loudness_spotify_quiet"]
    failed = [c for t in res[0].turns for c in t.checks if not c.passed]
    assert [c.kind for c in failed] == ["contains"] and "apple music" in failed[0].detail


@pytest.mark.parametrize("reply, source, fallback", [
    ("Your mix measures 987.6 LUFS, far too loud.", "composer", 1.0),  # an invented number: guarded
    ("Your mix is in good shape overall.", "llm", 0.0),
])
def test_fallback_rate_with_a_language_model_on_a_local_server(tmp_path, reply, source, fallback):
    from fake_openai import FakeOpenAI

    from mixingbuddy.agent.api import MixingBuddy
    from mixingbuddy.agent.endpoint import EndpointConfig

    sc = AE.load_scenarios(only=["loudness_spotify_quiet"])
    with FakeOpenAI(reply_fn=lambda body: reply) as server:
        llm = EndpointConfig(base_url=server.base_url, model="fake-model", timeout_s=5.0)
        with MixingBuddy(home=tmp_path / "home", llm=llm, use_model=False) as buddy:
            s, res = AE.run_agent_eval(sc, None, buddy=buddy, llm=llm, progress=False)
        assert server.requests, "the endpoint was asked"
    assert {t.source for t in res[0].turns} == {source}
    assert s["fallback_rate"] == fallback
    if source == "composer":  # the invented number never reached an answer
        assert s["groundedness"] == 1.0 and not any("987" in t.answer for t in res[0].turns)
    else:  # the model's answers state no number at all
        assert s["numbers"] == 0 and s["groundedness"] is None


# =========================================================================== the balance-benchmark system

def _tiny_corpus(tmp_path: Path) -> tuple[Path, list[dict]]:
    rows = []
    for i, (vocals_db, anchor) in enumerate([(0.0, "drums"), (-12.0, "drums"), (6.0, "bass")]):
        r = render_recipe({"seconds": 6.0, "seed": 30 + i, "loudness_lufs": -20, "stems": {
            "drums": {"source": "drums"}, "bass": {"source": "bass", "gain_db": -1},
            "other": {"source": "pad", "gain_db": -2}, "vocals": {"source": "vocals", "gain_db": vocals_db}}},
            tmp_path / "corpus" / f"c{i}", write_stems=False)
        rows.append({"id": f"row{i}", "audio_path": str(r.mix_path.relative_to(tmp_path / "corpus")),
                     "anchor": anchor, "stems_present": ["bass", "drums", "vocals", "other"]})
    return tmp_path / "corpus", rows


def test_agent_fast_path_gives_the_full_reviews_sentence(tmp_path):
    from mixingbuddy.evals import agent_system  # noqa: F401  (registers the systems)
    from mixingbuddy.evals.systems import SYSTEMS, get_system
    from mixingbuddy.model.data.advice_parser import parse_advice

    assert {"agent", "agent-full"} <= set(SYSTEMS)
    corpus, rows = _tiny_corpus(tmp_path)
    fast = get_system("agent", weights=tmp_path / "no_weights_here")
    full = get_system("agent-full", use_model=False)
    fast.progress = full.progress = False
    fast.prepare(rows, corpus)
    full.prepare(rows, corpus)
    try:
        for r in rows:
            a, b = fast.advise(r, None, None), full.advise(r, None, None)
            assert a == b, (r["id"], a, b)
            p = parse_advice(a)
            assert p.no_adjustment or (p.stem not in (None, r["anchor"]) and p.direction)
    finally:
        full.close()
    assert any("no trained" in d or "unavailable" in d for d in fast.degradations)


def test_agent_fast_path_matches_the_full_review_with_the_shipped_model_and_judge(tmp_path):
    """With the shipped weights (and the balance judge fitted for them), the fast path and a
    whole review still give the same sentence, and the review states the judge's reading."""
    from mixingbuddy.agent.balance_judge import load_judge
    from mixingbuddy.evals.systems import get_system
    from mixingbuddy.model.listen import DEFAULT_WEIGHTS

    assert (Path(DEFAULT_WEIGHTS) / "weights.safetensors").is_file(), "the shipped model/weights/ is missing"
    corpus, rows = _tiny_corpus(tmp_path)
    fast, full = get_system("agent"), get_system("agent-full")
    fast.progress = full.progress = False
    fast.prepare(rows, corpus)
    full.prepare(rows, corpus)
    try:
        for r in rows:
            assert fast.advise(r, None, None) == full.advise(r, None, None), r["id"]
        if load_judge(None) is not None:
            assert set(fast.judgements) == {r["id"] for r in rows}
            st = full.buddy().state("row000000")
            assert st.get("balance_judgement") and st["balance_judgement"]["variant"] == "mix"
            rv = full.buddy().review(str(corpus / rows[0]["audio_path"]), anchor="drums", thread_id="again")
            assert rv.balance_judgement == full.buddy().state("again")["balance_judgement"]
            # under its calibrated line the judge makes no confident call, and the review says so
            phrase = ("no confident call against the drums" if rv.balance_judgement.get("abstain")
                      else "most likely reading against the drums")
            assert phrase in rv.answer
    finally:
        full.close()


# =========================================================================== the review benchmark

def test_bench_review_times_each_node(tmp_path):
    from mixingbuddy.agent.api import MixingBuddy
    from mixingbuddy.evals import bench_review as BR

    mix, stems = BR.render_song_files(tmp_path / "song", 4.0)
    assert sf.info(str(mix)).samplerate == 44_100 and len(list(stems.glob("*.wav"))) == 4
    with MixingBuddy(home=tmp_path / "home", llm=None, use_model=False) as buddy:
        r = BR.time_reviews(buddy, mix, None, 1, "t")
    assert r["runs"] == 1 and r["median_s"] > 0
    assert {"ingest", "listen", "measure", "check_claims", "compose"} <= set(r["per_node_median_s"])
    assert sum(r["per_node_median_s"].values()) <= r["median_s"] + 0.05
    text = BR.table({"mix only": r}, [0, 1])
    assert "| mix only |" in text and "PASS" in text and "| measure |" in text


def test_cli_needs_a_model_name_with_an_llm_url(tmp_path, monkeypatch):
    from mixingbuddy.tools.errors import InvalidArgumentError

    monkeypatch.delenv("MIXINGBUDDY_LLM_MODEL", raising=False)
    args = _cli_args(tmp_path, "--only", "loudness_spotify_quiet", "--llm-base-url", "http://127.0.0.1:9/v1")
    with pytest.raises(InvalidArgumentError, match="--llm-model"):
        args.func(args)
    args = _cli_args(tmp_path, "--only", "nothing_by_this_name")
    with pytest.raises(AE.ScenarioError, match="no scenario matches"):
        args.func(args)
