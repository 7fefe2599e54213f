"""The red-team set: the composer's own answers, rewritten with planted errors, put to the guard."""
from __future__ import annotations

import random

import pytest

from mixingbuddy.evals.agent_eval import load_scenarios
from mixingbuddy.evals.redteam import (
    CORRECT_KINDS,
    ERROR_KINDS,
    build_cases,
    collect_turns,
    judge_cases,
    rewrite,
    summarize,
    summary_markdown,
)

# scenarios with stems (no separation to wait for), findings worth fixing, masking and a what-if
SAMPLE = ("quiet_vocal_with_stems", "whatif_bass_down_3db", "masking_other_over_vocals")


@pytest.fixture(scope="module")
def turns(tmp_path_factory):
    return collect_turns(load_scenarios(only=list(SAMPLE)), home=tmp_path_factory.mktemp("home"),
                         use_model=False, progress=False)


@pytest.fixture(scope="module")
def cases(turns):
    out = build_cases(turns, seed=0, per_kind=2)
    judge_cases(turns, out)
    return out


def test_the_sample_has_every_kind(turns, cases):
    assert {t.scenario for t in turns} == set(SAMPLE)
    assert any(t.question is None for t in turns) and any(t.question for t in turns)
    kinds = {c.kind for c in cases}
    assert kinds == set(ERROR_KINDS) | set(CORRECT_KINDS)


def test_planted_errors_are_caught_and_correct_rewrites_pass(cases):
    s = summarize(cases)
    missed = [(c.scenario, c.turn, c.kind, c.detail) for c in cases if c.planted and not c.correct]
    rejected = [(c.scenario, c.turn, c.kind, c.problem) for c in cases if not c.planted and not c.correct]
    assert s["planted"] >= 60
    assert s["caught_rate"] >= 0.99, missed
    assert s["false_rejections"] == 0, rejected
    table = summary_markdown(s, cases)
    assert "| wrong_stem |" in table and "(target 0)" in table


def test_each_kind_changes_the_answer_as_named(turns):
    review = next(t for t in turns if t.question is None and t.scenario == "quiet_vocal_with_stems")
    rng = random.Random(7)
    text, detail = rewrite(review, "wrong_unit", rng)
    assert text != review.answer and "->" in detail
    text, detail = rewrite(review, "dropped_finding", rng)
    assert "Vocals too quiet" in detail and "**Vocals too quiet**:" not in text
    text, _ = rewrite(review, "unaltered", rng)
    assert text == review.answer


def test_the_generation_is_seeded(turns):
    a = [(c.kind, c.text) for c in build_cases(turns[:2], seed=3)]
    b = [(c.kind, c.text) for c in build_cases(turns[:2], seed=3)]
    c = [(c.kind, c.text) for c in build_cases(turns[:2], seed=4)]
    assert a == b and a != c
