"""The grounding guard: claims said (number, unit, subject, direction) must match claims measured."""
from __future__ import annotations

import pytest
from pydantic import BaseModel

from mixingbuddy.agent.grounding import (
    SERIES_MIN_LEN,
    check_grounding,
    conversation_evidence,
    read_claims,
    read_numbers,
    result_evidence,
    said_evidence,
    scalar_values,
    text_values,
)
from mixingbuddy.agent.schema import Evidence, Finding
from mixingbuddy.agent.screen import lost_findings, reversed_findings


class _Row(BaseModel):
    name: str
    delta_lu: float
    over: bool


class _Result(BaseModel):
    integrated_lufs: float
    true_peak_dbtp: float
    rows: list[_Row]
    missing: float | None = None


EVIDENCE = [-20.3, -0.4, 7.3, 83.4, 0.42, 2510.0, 0.031, 6.1, 3.2]


def test_an_invented_number_is_rejected():
    res = check_grounding("Your mix is at -20.3 LUFS; push it up 37 dB.", EVIDENCE)
    assert not res.ok
    assert res.ungrounded == ["37"]
    assert res.numbers == [-20.3, 37.0]


def test_measured_numbers_pass_including_rounded_ones():
    text = "Integrated -20.3 LUFS (about -20 LUFS), true peak -0.4 dBTP, vocals 7 dB low."
    res = check_grounding(text, EVIDENCE)
    assert res.ok, res.ungrounded


@pytest.mark.parametrize("said, ok", [
    ("7 dB", True),      # 7.3 rounds to 7
    ("7.3 dB", True),
    ("7.35 dB", False),  # more precision than measured
    ("7.4 dB", False),
    ("8 dB", False),
    ("-20 LUFS", True),
    ("-21 LUFS", False),
])
def test_precision_written_sets_the_tolerance(said, ok):
    assert check_grounding(f"The level is {said}.", EVIDENCE).ok is ok


def test_signs_compare_by_magnitude():
    # "7 dB under" states the measured -7.3 dB as 7; a measured +7.3 may be said as "-7.3"
    assert check_grounding("the vocals sit 7 dB under the mix", [-7.3]).ok
    assert check_grounding("a change of -7.3 dB", [7.3]).ok
    assert check_grounding("a true peak of +0.4 dBTP", [-0.4]).ok
    assert check_grounding("\u22127.3 dB (Unicode minus)", [7.3]).ok
    assert not check_grounding("-7.3 dB", [-7.2]).ok


def test_kilohertz_percent_time_and_millisecond_forms():
    assert check_grounding("a build-up around 2.5 kHz", EVIDENCE).ok          # 2510 Hz
    assert check_grounding("a build-up around 2.5k", EVIDENCE).ok
    assert not check_grounding("a build-up around 3.5 kHz", EVIDENCE).ok
    assert check_grounding("masked 42% of the time", EVIDENCE).ok            # 0.42
    assert check_grounding("masked 42 percent of the time", EVIDENCE).ok
    assert not check_grounding("masked 45% of the time", EVIDENCE).ok
    assert check_grounding("the worst spot is at 1:23", EVIDENCE).ok         # 83.4 s
    assert not check_grounding("the worst spot is at 1:30", EVIDENCE).ok
    assert check_grounding("an attack near 31 ms", EVIDENCE).ok              # 0.031 s
    assert check_grounding("the worst spot is at 1:23.4", EVIDENCE).ok
    assert not check_grounding("the worst spot is at 1:23.9", EVIDENCE).ok


def test_ranges_need_both_ends_measured():
    assert check_grounding("raise them 3 to 6 dB", EVIDENCE).ok
    assert check_grounding("raise them 3-6 dB", EVIDENCE).ok
    assert check_grounding("raise them 3\u20136 dB", EVIDENCE).ok
    res = check_grounding("raise them 3-9 dB", EVIDENCE)
    assert not res.ok and res.ungrounded == ["9"]
    assert [n.value for n in read_numbers("3-6 dB")] == [3.0, 6.0]  # the dash is not a minus


def test_names_and_list_markers_are_not_numbers():
    text = ("1. Loudness per ITU-R BS.1770-4 and EBU R 128 (R128), EBU Tech 3342 LRA, IEC 61260-1 "
            "bands, compared with MUSDB18-HQ; your mp3 and stem:vocals, 24-bit, 1/3-octave bands.\n"
            "2) The 3rd chorus.\n  3. nothing measured here")
    res = check_grounding(text, [])
    assert res.ok and res.numbers == [], res
    assert check_grounding("The 2nd verse is at 37 LUFS", []).ungrounded == ["37"]


def test_allowed_numbers_from_the_question():
    res = check_grounding("Turning the bass down 3 dB would leave it 4.1 dB over.", [4.1])
    assert res.ungrounded == ["3"]
    assert check_grounding("Turning the bass down 3 dB would leave it 4.1 dB over.", [4.1],
                           allowed=text_values("what if I turn the bass down 3 dB?")).ok


def test_thousands_separator_and_ungrounded_forms_are_named_as_written():
    assert check_grounding("a peak at 2,510 Hz", EVIDENCE).ok
    res = check_grounding("cut 4.5 kHz and check 2:05, 99%", EVIDENCE)
    assert res.ungrounded == ["4.5 kHz", "2:05", "99%"]


def test_scalar_values_walks_models_dicts_and_lists_but_not_series():
    model = _Result(integrated_lufs=-14.2, true_peak_dbtp=-1.0,
                    rows=[_Row(name="spotify", delta_lu=-0.2, over=True)])
    series = [float(i) for i in range(100, 100 + SERIES_MIN_LEN)]
    vals = scalar_values({"m": model, "a": [1.5, {"b": 2}], "flag": True, "none": None,
                          "short_term_lufs": series, "short": series[:SERIES_MIN_LEN - 1]})
    assert vals == [-14.2, -1.0, -0.2, 1.5, 2.0, *series[:SERIES_MIN_LEN - 1]]  # bools/None/series skipped
    assert check_grounding("the platform turns it down by 0.2 LU", vals).ok
    assert not check_grounding(f"a value of {series[-1]:.0f}", vals).ok


def test_conversation_evidence_is_the_ledger_the_new_rows_and_the_report_scalars():
    state = {"evidence": [{"tool": "loudness", "quantity": "integrated_lufs", "value": -7.2, "unit": "LUFS"}],
             "report": {"loudness": {"integrated_lufs": -20.3, "short_term_lufs": [-20.0] * 40},
                        "timings_s": {"loudness": 3.0}}}
    items = conversation_evidence(state, [{"tool": "t", "quantity": "x_db", "value": 3.0, "unit": ""}])
    said = [(i.value, i.unit, i.quantity) for i in items if not i.quantity.startswith("method")]
    assert said == [(-7.2, "LUFS", "integrated_lufs"), (3.0, "dB", "x_db"),
                    (-20.3, "LUFS", "loudness.integrated_lufs")]  # no series, no timings
    assert [i.unsaid for i in items[:3]] == [False, True, True]


def test_result_evidence_names_rows_and_units():
    rows = result_evidence("measure_loudness", {"integrated_lufs": -14.25,
                                                "platforms": [{"name": "spotify", "delta_lu": -0.2}]})
    assert rows == [
        {"tool": "measure_loudness", "quantity": "integrated_lufs", "value": -14.25, "unit": "LUFS", "decimals": 2},
        {"tool": "measure_loudness", "quantity": "platforms[spotify].delta_lu", "value": -0.2, "unit": "LU",
         "decimals": 1}]




# --- typed claims: unit, subject, direction ---------------------------------------------------------

def ev(quantity: str, value: float, unit: str, tool: str = "stem_balance") -> dict:
    return {"tool": tool, "quantity": quantity, "value": value, "unit": unit, "decimals": 1}


LEDGER = [ev("vocals.level_vs_rest_power_sum_db", -14.2, "dB"), ev("vocals.distance_db", 5.5, "dB"),
          ev("drums.level_vs_rest_power_sum_db", -4.4, "dB"), ev("integrated_lufs", -16.0, "LUFS", "loudness"),
          ev("spotify.target_lufs", -14.0, "LUFS", "loudness"), ev("true_peak_dbtp", -1.3, "dBTP", "loudness"),
          ev("other->vocals.remedy_cut_hz", 235.0, "Hz", "masking"), ev("regions.air.deviation_db", 7.4, "dB", "spectrum"),
          ev("regions.air low edge", 10.0, "kHz", "spectrum"), ev("regions.air high edge", 20.0, "kHz", "spectrum")]
DRAFT = ("- [fix first] **Vocals too quiet**: The vocals sit at -14.2 dB against the rest of the mix, so they are "
         "5.5 dB below that range. *Do this:* Raise the vocals by 6.0 dB.\n"
         "- [minor] **Quieter than Spotify plays music**: Integrated loudness is -16.0 LUFS; Spotify plays music at "
         "-14 LUFS. True peak -1.3 dBTP.")


def guard_check(text: str, draft: str = DRAFT):
    """The guard's grounding rule for a rewrite of ``draft`` (the ledger stands for the draft)."""
    return check_grounding(text, conversation_evidence({"evidence": LEDGER}, ledger_strict=True),
                           allowed=said_evidence(draft, "draft"))


def test_claims_carry_unit_subject_and_direction():
    c = read_claims("The vocals sit 5.5 dB below the range; raise them 4-6 dB. Spotify plays at -14 LUFS, "
                    "a build-up around 2.5 kHz, six decibels of cut on the drums.")
    assert [(x.written, x.unit) for x in c] == [("5.5", "dB"), ("4", "dB"), ("6", "dB"), ("-14", "LUFS"),
                                                ("2.5 kHz", "Hz"), ("six", "dB")]
    assert c[0].subject.stems == {"vocals"} and "low" in c[0].direction
    assert c[1].subject.stems == {"vocals"} and c[1].direction == {"up"}  # "them": the sentence's stem
    assert c[3].subject.platforms == {"spotify"} and c[4].scale == 1000.0
    assert c[5].subject.stems == {"drums"} and c[5].number.word


def test_the_composer_draft_passes_as_written():
    assert guard_check(DRAFT).ok


@pytest.mark.parametrize("text, why", [
    ("The vocals sit at -16.2 dB against the rest of the mix.", "wrong number"),
    ("The drums sit at -14.2 dB against the rest of the mix.", "wrong stem"),
    ("Integrated loudness is -16.0 dB.", "wrong unit: the loudness is in LUFS"),
    ("The cut is at 235 kHz on the other instruments.", "wrong unit: Hz said as kHz"),
    ("The vocals sit at minus eleven dB against the rest of the mix.", "a number in words, wrong"),
    ("The other instruments are at 5.5 dB.", "a vocals figure said of another stem"),
])
def test_planted_errors_are_ungrounded(text, why):
    assert guard_check(text).ungrounded, why


def test_a_whole_number_no_longer_passes_by_chance():
    # 7 dB is near the air region's 7.4 dB, but nothing measured about the vocals is 7 dB
    assert guard_check("The vocals are 7 dB too quiet.").ungrounded == ["7"]
    assert guard_check("The air region deviates by 7 dB from the target.").ok  # rounded, same subject and quantity


@pytest.mark.parametrize("text", [
    "The vocals sit at -14.2 dB against the rest of the mix, so they are 5.5 dB above that range.",
    "*Do this:* Cut the vocals by 6.0 dB.",
])
def test_a_reversed_direction_is_caught(text):
    # "above" for "below" is the draft's number said the other way round; "cut" for "raise" is
    # also a different statement (its words are not the draft's): either way the rewrite fails
    res = guard_check(text)
    assert not res.ok and (res.reversed or res.ungrounded)
    assert guard_check(text.replace("above", "below").replace("Cut", "Raise")).ok


def test_correct_paraphrases_pass():
    assert guard_check("The vocals sit at about -14 dB against the rest of the mix, so they are 5.5 dB below "
                       "that range.").ok  # rounded
    assert guard_check("Spotify plays music at -14 LUFS. Integrated loudness is -16.0 LUFS.").ok  # reordered
    assert guard_check("The vocals sit at -14.2 dB against the rest of the mix.").ok  # trimmed


def test_question_numbers_are_allowed_with_their_unit():
    q = said_evidence("what if I turn the bass down 3 dB?", "question", question=True)
    led = conversation_evidence({"evidence": LEDGER})
    assert check_grounding("Turning the bass down by 3 dB leaves it fine.", led, allowed=q).ok
    assert not check_grounding("Turning the bass down by 3 LUFS.", led, allowed=q).ok
    assert not check_grounding("Turning the vocals down by 3 dB.", led, allowed=q).ok  # the question was the bass
    assert check_grounding("Turning the bass up by 3 dB.", led, allowed=q).reversed == ["3"]


def test_numbers_that_are_not_quantities():
    text = "1. In 2024 the 8-bar intro and the 4-stem session: a 3-minute song."
    assert [n.written for n in read_numbers(text)] == ["3"]  # the list marker, the year, the counts skipped
    assert read_claims(text)[0].unit == "s" and read_claims(text)[0].scale == 60.0
    assert check_grounding(text, [{"tool": "mix", "quantity": "duration_s", "value": 190.0, "unit": "s"}]).ok
    assert not check_grounding(text, [{"tool": "mix", "quantity": "duration_s", "value": 250.0, "unit": "s"}]).ok


FINDINGS = [Finding(id="balance:vocals", topic="balance", severity="high", title="Vocals too quiet",
                    detail="The vocals sit at -14.2 dB against the rest of the mix.",
                    action="Raise the vocals by 6.0 dB.",
                    evidence=[Evidence(tool="stem_balance", quantity="vocals.level", value=-14.2, unit="dB")]),
            Finding(id="true_peak", topic="true_peak", severity="ok", title="True peak under the ceiling",
                    detail="True peak -1.3 dBTP.")]


def test_a_top_finding_must_survive_with_its_action():
    assert lost_findings(DRAFT, FINDINGS) == []
    assert lost_findings("The vocals sit at -14.2 dB against the rest of the mix.", FINDINGS) == ["Vocals too quiet"]
    assert lost_findings("The drums sit at -14.2 dB. Raise the drums by 6.0 dB.", FINDINGS) == ["Vocals too quiet"]


def test_a_finding_turned_round_is_caught():
    assert reversed_findings("Most important: **vocals too loud**.", FINDINGS) == ["Vocals too quiet"]
    assert reversed_findings("- **True peak over the ceiling**: True peak -1.3 dBTP.", FINDINGS) == [
        "True peak under the ceiling"]
    assert reversed_findings(DRAFT, FINDINGS) == []


def test_the_guards_own_notes_never_become_evidence():
    """A rewrite refused for citing 30 kHz is not accepted the second time because the guard's
    note named 30 kHz; a measurement's note (an ingest warning) still is evidence."""
    note = ("grounding guard: the language model's answer cited unmeasured numbers (10, 30 kHz); asked it once to "
            "answer again")
    state = {"evidence": LEDGER, "degradations": [note, "tool call measure_loudness failed: gain 37 dB is out of range"],
             "report": {"warnings": ["resampled from 96 kHz to 48 kHz"]}}
    items = conversation_evidence(state, ledger_strict=True)
    assert not check_grounding("Your message is: 10, 30 kHz.", items).ok  # the refused answer, repeated
    assert not check_grounding("The answer cited unmeasured numbers (10, 30 kHz).", items).ok
    assert not check_grounding("The tool call failed: gain 37 dB is out of range.", items).ok
    assert check_grounding("The file was resampled from 96 kHz.", items).ok


# --- attribution: which quantity a number is (misses of ``mixingbuddy eval redteam``) --------------

def rewrite_check(text: str, draft: str, ledger: list[dict], report: dict | None = None):
    """The guard's grounding rule for ``text`` as a rewrite of ``draft`` (ledger strict, the
    report's unsaid fields, the draft's claims allowed as said)."""
    state = {"evidence": ledger, "report": report or {}}
    return check_grounding(text, conversation_evidence(state, ledger_strict=True), allowed=said_evidence(draft, "draft"))


RANGE_LEDGER = [ev("regions.low_mid low edge", 250.0, "Hz", "spectrum"), ev("regions.low_mid high edge", 500.0, "Hz", "spectrum"),
                ev("regions.low_mid.cut low", 1.2, "dB", "spectrum"), ev("regions.low_mid.cut high", 3.0, "dB", "spectrum")]
RANGE_DRAFT = "*Do this:* Cut 1.2-3.0 dB across 250-500 Hz (the low-mids) with a broad bell or shelf."


@pytest.mark.parametrize("text, bad", [
    ("*Do this:* Cut 1.2-3.0 dB across 250-250 Hz (the low-mids) with a broad bell or shelf.", "250"),
    ("*Do this:* Cut 1.2-1.2 dB across 250-500 Hz (the low-mids) with a broad bell or shelf.", "1.2"),
    ("*Do this:* Cut 3.0-3.0 dB across 250-500 Hz (the low-mids) with a broad bell or shelf.", "3.0"),
])
def test_a_range_end_is_not_the_other_end(text, bad):
    # the low edge (or the smaller cut) said as the high one: the value is measured, but not as that end
    assert rewrite_check(text, RANGE_DRAFT, RANGE_LEDGER).ungrounded == [bad]


@pytest.mark.parametrize("text", [
    RANGE_DRAFT,
    "Cut 1.2 to 3.0 dB across 250 to 500 Hz (the low-mids).",
    "*Do this:* Cut 1.2-3.0 dB across 250-500 Hz (the low-mids), at most 3.0 dB.",  # an end said on its own
])
def test_a_range_said_in_order_passes(text):
    assert rewrite_check(text, RANGE_DRAFT, RANGE_LEDGER).ok


def test_a_range_is_read_as_one_statement():
    # "3 s" is a number of the method (BS.1770's three-second window), but as the start of the
    # separated stretch "0 s-8 s" it is not that stretch's start
    ledger = [ev("separation.window_start_s", 0.0, "s", "separation"), ev("separation.window_end_s", 8.0, "s", "separation")]
    draft = "- Stems separated from the mix on its loudest stretch (0 s-8 s)."
    assert rewrite_check(draft, draft, ledger).ok
    assert rewrite_check("- Stems separated from the mix on its loudest stretch, from 0 to 8 s.", draft, ledger).ok
    assert rewrite_check("- Stems separated from the mix on its loudest stretch (3 s-8 s).", draft, ledger).ungrounded == ["3"]
    assert rewrite_check("PSR uses the loudest 3 s of the song.", draft, ledger).ok  # the method's window on its own


STAT_LEDGER = [ev("drums.level_vs_rest_power_sum_db", -4.1, "dB"), ev("bass.level_vs_rest_power_sum_db", -3.5, "dB"),
               ev("bass.reference.p10_db", -11.1, "dB"), ev("bass.reference.p90_db", -0.5, "dB")]
STAT_DRAFT = ("- **Stem balance**: Every judged stem sits within the professional range against the rest of the mix "
              "(drums at -4.1 dB, bass at -3.5 dB).\n"
              "- The bass sits at -3.5 dB against the rest of the mix; in professional mixes it ranges from p10 at "
              "-11.1 dB to p90 at -0.5 dB.")


@pytest.mark.parametrize("level", ["-0.5 dB", "minus one dB"])
def test_a_statistic_of_the_range_is_not_the_tracks_level(level):
    text = STAT_DRAFT.replace("bass at -3.5 dB", f"bass at {level}")
    assert rewrite_check(text, STAT_DRAFT, STAT_LEDGER).ungrounded == [level.removesuffix(" dB")]


@pytest.mark.parametrize("text", [
    STAT_DRAFT,
    "For the bass, p90 in professional mixes is -0.5 dB.",
    "The bass reference's 90th percentile is -0.5 dB and its 10th percentile -11.1 dB.",
])
def test_a_statistic_named_passes(text):
    assert rewrite_check(text, STAT_DRAFT, STAT_LEDGER).ok


def test_a_platforms_target_in_the_report_is_not_the_mixs_loudness():
    report = {"loudness": {"integrated_lufs": -18.0, "platforms": [{"name": "spotify", "target_lufs": -14.0},
                                                                  {"name": "apple_music", "target_lufs": -16.0}]}}
    ledger = [ev("integrated_lufs", -18.0, "LUFS", "loudness")]
    draft = "The integrated loudness is -18.0 LUFS."
    assert rewrite_check(draft, draft, ledger, report).ok
    assert rewrite_check("The integrated loudness is -14.0 LUFS.", draft, ledger, report).ungrounded == ["-14.0"]
    assert rewrite_check("The integrated loudness is -16.0 LUFS.", draft, ledger, report).ungrounded == ["-16.0"]
    assert rewrite_check("Apple Music's target loudness is -16.0 LUFS.", draft, ledger, report).ok  # its platform named


def test_an_unsaid_field_is_cited_in_its_own_clause():
    report = {"loudness": {"short_term_lufs": [-12.0, -10.7]}}
    ledger = [ev("psr_db", 10.7, "dB", "dynamics")]
    draft = "- **Dynamics intact**: PSR (true peak minus the loudest short-term loudness) 10.7 dB."
    assert rewrite_check(draft, draft, ledger, report).ok
    # the unit swapped: only a short-term reading is 10.7 (as -10.7 LUFS), and the clause of the number says nothing
    assert rewrite_check(draft.replace("10.7 dB", "10.7 LUFS"), draft, ledger, report).ungrounded == ["10.7"]
    assert rewrite_check("The loudest short-term loudness reading is -10.7 LUFS.", draft, ledger, report).ok


SPOTIFY_LEDGER = [ev("integrated_lufs", -16.0, "LUFS", "loudness"), ev("spotify.target_lufs", -14.0, "LUFS", "loudness"),
                  ev("spotify.delta_lu (absolute)", 2.0, "LU", "loudness"),
                  ev("spotify.gain_change_db", 1.1, "dB", "loudness"),
                  ev("spotify.shortfall_db (target - loudness after normalisation)", 1.0, "dB", "loudness")]
SPOTIFY_DRAFT = ("Integrated loudness is -16.0 LUFS; Spotify plays music at -14 LUFS, so it is 2.0 LU quieter. "
                 "Spotify turns it up by 1.1 dB. It will play 1.0 dB quieter than tracks mastered to the target.")


@pytest.mark.parametrize("wrong", ["2.0", "two"])
def test_a_shared_direction_word_does_not_make_two_quantities_one(wrong):
    # "2.0 LU quieter" (before normalisation) shares only "quieter" with the shortfall after it
    text = SPOTIFY_DRAFT.replace("play 1.0 dB", f"play {wrong} dB")
    assert rewrite_check(text, SPOTIFY_DRAFT, SPOTIFY_LEDGER).ungrounded == [wrong]


@pytest.mark.parametrize("text", [
    SPOTIFY_DRAFT,
    "Integrated loudness is -16.0 LUFS, so it is 2 LU quieter than Spotify plays music.",  # "play": not most words
    "Spotify turns it up by 1.1 dB, and it will still play about 1 dB quieter than tracks mastered to the target.",
])
def test_the_same_quantities_said_again_pass(text):
    assert rewrite_check(text, SPOTIFY_DRAFT, SPOTIFY_LEDGER).ok


MOVE_LEDGER = [ev("vocals.move (every stem in range .. this stem at the median) low", 4.5, "dB"),
               ev("vocals.move (every stem in range .. this stem at the median) high", 8.0, "dB"),
               ev("vocals.suggested move", 6.2, "dB"), ev("regions.air.deviation_db", 8.2, "dB", "spectrum"),
               ev("regions.air.deviation_db after the suggested balance moves", 7.4, "dB", "spectrum")]
MOVE_DRAFT = ("*Do this:* Raise the vocals by 4.5-8.0 dB.\n"
              "- **Tonal balance**: The air region is at +8.2 dB against the target mean; with the suggested balance "
              "move (raising the vocals by 6.2 dB) it would measure +7.4 dB against the mean.")


def test_a_move_in_brackets_is_what_the_clause_before_names():
    # "(raising the vocals by five dB)" is the suggested balance move (6.2 dB), not the smallest
    # move of the range (4.5 dB rounds to five): the bracket says only which way
    assert rewrite_check(MOVE_DRAFT.replace("by 6.2 dB", "by five dB"), MOVE_DRAFT, MOVE_LEDGER).ungrounded == ["five"]
    assert rewrite_check(MOVE_DRAFT.replace("by 6.2 dB", "by six dB"), MOVE_DRAFT, MOVE_LEDGER).ok
    assert rewrite_check("Raise the vocals by about 5 dB.", MOVE_DRAFT, MOVE_LEDGER).ok  # the range's low end, rounded


TARGET_LEDGER = [ev("integrated_lufs", -20.0, "LUFS", "loudness"), ev("spotify.target_lufs", -14.0, "LUFS", "loudness"),
                 ev("true_peak_dbtp", -6.4, "dBTP", "loudness"), ev("spotify.ceiling_dbtp", -1.0, "dBTP", "loudness"),
                 ev("spotify.shortfall_db (target - loudness after normalisation)", 0.6, "dB", "loudness")]
TARGET_DRAFT = ("The integrated loudness is -20.0 LUFS and the true peak -6.4 dBTP. Raise the level into the master "
                "limiter by about 0.6 dB (towards -14 LUFS integrated), keeping the true peak at or below -1 dBTP.")


@pytest.mark.parametrize("old, new", [("towards -14 LUFS", "towards -20 LUFS"), ("at or below -1 dBTP", "at or below -6 dBTP")])
def test_a_number_is_the_value_of_the_quantity_its_clause_names_best(old, new):
    # the measured loudness (true peak) said as the draft's target (ceiling): the clause is the target's
    text = TARGET_DRAFT.replace(old, new)
    assert rewrite_check(text, TARGET_DRAFT, TARGET_LEDGER).ungrounded == [new.split()[-2]]


@pytest.mark.parametrize("text", [
    TARGET_DRAFT,
    "Your track is at -20.0 LUFS integrated; push the limiter about 0.6 dB harder to reach -14 LUFS integrated.",
    "Keep the true peak at or below -1 dBTP; the true peak is -6.4 dBTP now.",
])
def test_a_quantity_named_in_other_words_passes(text):
    assert rewrite_check(text, TARGET_DRAFT, TARGET_LEDGER).ok


def test_a_clause_with_its_own_number_does_not_say_what_the_next_one_is():
    # ": they are 5.5 dB below that range" is not the p10/p90 of the clause before the colon
    ledger = [ev("vocals.level_vs_rest_power_sum_db", -14.2, "dB"), ev("vocals.reference.p10_db", -8.8, "dB"),
              ev("vocals.reference.p90_db", -1.5, "dB"), ev("vocals.distance_db", 5.5, "dB")]
    draft = ("The vocals sit at -14.2 dB against the rest of the mix; in professional mixes they range from p10 at "
             "-8.8 dB to p90 at -1.5 dB, so they are 5.5 dB below that range.")
    text = ("The vocals sit at -14.2 dB against the rest of the mix, while professional mixes range from p10 at "
            "-8.8 dB to p90 at -1.5 dB: they are 5.5 dB below that range.")
    assert rewrite_check(text, draft, ledger).ok
