"""The grounding guard: numbers said must match numbers measured, at the precision written."""
from __future__ import annotations

import pytest
from pydantic import BaseModel

from mixingbuddy.agent.grounding import (
    SERIES_MIN_LEN,
    check_grounding,
    conversation_evidence,
    read_numbers,
    result_evidence,
    scalar_values,
    text_values,
)


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
    state = {"evidence": [{"value": -7.2}], "report": {"loudness": {"integrated_lufs": -20.3,
                                                                    "short_term_lufs": [-20.0] * 40}}}
    assert conversation_evidence(state, [{"value": 3.0}, {"value": -7.2}]) == [-7.2, 3.0, -20.3]


def test_result_evidence_names_rows_and_units():
    rows = result_evidence("measure_loudness", {"integrated_lufs": -14.25,
                                                "platforms": [{"name": "spotify", "delta_lu": -0.2}]})
    assert rows == [
        {"tool": "measure_loudness", "quantity": "integrated_lufs", "value": -14.25, "unit": "LUFS", "decimals": 2},
        {"tool": "measure_loudness", "quantity": "platforms[spotify].delta_lu", "value": -0.2, "unit": "LU",
         "decimals": 1}]


