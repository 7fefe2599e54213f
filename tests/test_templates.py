"""Instruction and response templates (contract (1) of the corpus)."""
from __future__ import annotations

import re
import string

import numpy as np
import pytest

from mixingbuddy.model.data import templates as T

UP = re.compile(r"\b(raise|boost|turn (the \w+ |it )?up|bring (the \w+ |it )?up|bring up|increase|push (the \w+ |it )?up|come up|more)\b", re.IGNORECASE)
DOWN = re.compile(r"\b(lower|cut|turn (the \w+ |it )?down|bring (the \w+ |it )?down|pull (the \w+ )?back|pull back|reduce|attenuate|come down|less)\b", re.IGNORECASE)


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_contract_constants():
    assert T.STEMS == ("bass", "drums", "vocals")
    assert T.CATEGORIES == ("very_quiet", "quiet", "no_error", "loud", "very_loud")
    assert set(T.GAIN_RANGES_DB) == set(T.CATEGORIES)
    assert T.GAIN_RANGES_DB["no_error"] == (0.0, 0.0)
    for c, (lo, hi) in T.GAIN_RANGES_DB.items():
        assert lo <= hi
        if c != "no_error":
            # the correction undoes the flaw: same magnitudes
            assert tuple(sorted((abs(lo), abs(hi)))) == tuple(float(v) for v in T.CORRECTION_RANGES_DB[c])
    assert "no_error" not in T.CORRECTION_RANGES_DB


def test_ten_distinct_wordings_with_the_right_placeholders():
    assert len(T.INSTRUCTIONS) == 10 and len(set(T.INSTRUCTIONS)) == 10
    for text in T.INSTRUCTIONS:
        assert _fields(text) == {"stems", "anchor"}
    assert set(T.RESPONSES) == set(T.CATEGORIES)
    for c, texts in T.RESPONSES.items():
        assert len(texts) == 10 and len(set(texts)) == 10
        for text in texts:
            if c == "no_error":
                assert _fields(text) <= {"anchor"}
            else:
                assert _fields(text) == {"stem", "lo", "hi"}


@pytest.mark.parametrize("stem", T.STEMS)
@pytest.mark.parametrize("j", range(10))
def test_responses_name_stem_direction_and_range(stem, j):
    for c in ("very_quiet", "quiet"):
        text = T.format_response(c, j, stem)
        lo, hi = T.CORRECTION_RANGES_DB[c]
        assert stem in text and f"{lo}" in text and f"{hi}" in text
        assert UP.search(text) and not DOWN.search(text), text
    for c in ("loud", "very_loud"):
        text = T.format_response(c, j, stem)
        lo, hi = T.CORRECTION_RANGES_DB[c]
        assert stem in text and f"{lo}" in text and f"{hi}" in text
        assert DOWN.search(text) and not UP.search(text), text
    text = T.format_response("no_error", j, stem)
    assert not any(s in text for s in T.STEMS)
    assert re.search(r"\bno\b|\bnot\b|nothing|leave|keep", text, re.IGNORECASE)
    assert not re.search(r"\d", text)


def test_instruction_names_stems_and_anchor():
    for i in range(10):
        text = T.format_instruction(i, ["vocals", "other", "bass"], "bass")
        assert "vocals" in text and "bass" in text and "other" in text
        assert "drums" not in text
    assert T.format_instruction(3, ["bass", "drums"], "drums") == T.format_instruction(13, ["drums", "bass"], "drums")
    with pytest.raises(ValueError):
        T.format_instruction(0, ["bass", "drums", "other"], "other")
    with pytest.raises(ValueError):
        T.format_response("loud", 0, "other")
    with pytest.raises(ValueError):
        T.format_response("too_loud", 0, "bass")


def test_pick_is_deterministic_and_covers_all_wordings():
    a = [T.pick(np.random.default_rng(7)) for _ in range(3)]
    assert len(set(a)) == 1
    rng = np.random.default_rng(1)
    seen = {T.pick(rng) for _ in range(2000)}
    assert {i for i, _ in seen} == set(range(10)) and {j for _, j in seen} == set(range(10))
