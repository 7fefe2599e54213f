"""Metric arithmetic on eight hand-made predictions with hand-computed answers."""
from __future__ import annotations

import pytest

from mixingbuddy.evals.metrics import (
    compute_metrics,
    magnitude_overlaps,
    metrics_markdown,
    predicted_class,
    score_row,
)
from mixingbuddy.model.data.advice_parser import ParsedAdvice

RANGES = {"very_quiet": [6, 12], "quiet": [3, 6], "loud": [3, 6], "very_loud": [6, 12]}
DIRS = {"very_quiet": "increase", "quiet": "increase", "loud": "decrease", "very_loud": "decrease"}


def row(cat, target, gain, norm_label="balanced", norm_dir=None):
    return {"id": f"{cat}-{target}-{gain}",
            "published": {"category": cat, "target": target if cat != "no_error" else None,
                          "direction": DIRS.get(cat), "gain_db": gain,
                          "correction_range_db": RANGES.get(cat)},
            "norm": {"label": norm_label, "direction": norm_dir, "distance_db": 0.0, "per_stem": {}}}


def adv(stem=None, direction=None, mag=None, no_adj=False):
    return ParsedAdvice(stem=stem, direction=direction, magnitude_db=mag, no_adjustment=no_adj)


PAIRS = [
    # 1 right stem, direction and range; norm agrees
    (row("quiet", "vocals", -4.0, "vocals", "too_quiet"), adv("vocals", "increase", (3.0, 6.0))),
    # 2 right stem and direction, range touches only at 6 dB; norm says balanced
    (row("very_loud", "drums", 8.0), adv("drums", "decrease", (3.0, 6.0))),
    # 3 right stem, wrong direction
    (row("loud", "bass", 5.0, "bass", "too_loud"), adv("bass", "increase", (3.0, 6.0))),
    # 4 wrong stem, right direction, a single value inside the range
    (row("very_quiet", "bass", -10.0, "bass", "too_quiet"), adv("vocals", "increase", (8.0, 8.0))),
    # 5 no error, says no adjustment
    (row("no_error", None, 0.0), adv(no_adj=True)),
    # 6 no error, but norm says the vocals are too loud, and the advice lowers them
    (row("no_error", None, 0.0, "vocals", "too_loud"), adv("vocals", "decrease", (3.0, 6.0))),
    # 7 unparsed text
    (row("loud", "vocals", 3.5, "vocals", "too_loud"), adv()),
    # 8 a flaw missed (no adjustment); norm says balanced
    (row("quiet", "drums", -5.0), adv(no_adj=True)),
]


@pytest.fixture(scope="module")
def m():
    return compute_metrics(PAIRS)


def test_counts_and_accuracies(m):
    assert (m["n"], m["n_error"], m["n_no_error"]) == (8, 6, 2)
    assert m["joint_accuracy"] == pytest.approx(3 / 8)
    assert m["stem_accuracy"] == pytest.approx(3 / 6)
    assert m["direction_accuracy"] == pytest.approx(3 / 6)
    assert m["magnitude_accuracy"] == pytest.approx(3 / 6)
    assert m["magnitude_exact_accuracy"] == pytest.approx(2 / 6)
    assert m["magnitude_covers_gain_accuracy"] == pytest.approx(2 / 6)
    assert m["no_error_accuracy"] == pytest.approx(1 / 2)
    assert m["error_accuracy"] == pytest.approx(2 / 6)
    assert m["unparsed_rate"] == pytest.approx(1 / 8)


def test_error_detection(m):
    d = m["error_detection"]
    assert (d["tp"], d["fp"], d["fn"]) == (4, 1, 2)
    assert d["precision"] == pytest.approx(0.8)
    assert d["recall"] == pytest.approx(4 / 6)
    assert d["f1"] == pytest.approx(2 * 0.8 * (4 / 6) / (0.8 + 4 / 6))


def test_stem_identification(m):
    per = m["stem_identification"]["per_class"]
    assert (per["bass"]["tp"], per["bass"]["fp"], per["bass"]["fn"]) == (1, 0, 1)
    assert (per["drums"]["tp"], per["drums"]["fp"], per["drums"]["fn"]) == (1, 0, 1)
    assert (per["vocals"]["tp"], per["vocals"]["fp"], per["vocals"]["fn"]) == (1, 2, 1)
    assert per["bass"]["f1"] == pytest.approx(2 / 3)
    assert per["vocals"]["precision"] == pytest.approx(1 / 3)
    assert per["vocals"]["f1"] == pytest.approx(0.4)
    macro = m["stem_identification"]["macro"]
    assert macro["f1"] == pytest.approx((2 / 3 + 2 / 3 + 0.4) / 3)
    assert macro["precision"] == pytest.approx((1 + 1 + 1 / 3) / 3)
    assert macro["recall"] == pytest.approx(0.5)


def test_direction_identification(m):
    per = m["direction_identification"]["per_class"]
    assert (per["increase"]["tp"], per["increase"]["fp"], per["increase"]["fn"]) == (2, 1, 1)
    assert (per["decrease"]["tp"], per["decrease"]["fp"], per["decrease"]["fn"]) == (1, 1, 2)
    assert per["increase"]["f1"] == pytest.approx(2 / 3)
    assert per["decrease"]["f1"] == pytest.approx(0.4)
    assert m["direction_identification"]["macro"]["f1"] == pytest.approx((2 / 3 + 0.4) / 2)


def test_norm_referenced(m):
    assert m["norm_referenced_accuracy"] == pytest.approx(4 / 8)
    assert m["norm_referenced"]["balanced"]["n"] == 3
    assert m["norm_referenced"]["balanced"]["norm"] == pytest.approx(2 / 3)
    assert m["norm_referenced"]["unbalanced"]["norm"] == pytest.approx(2 / 5)


def test_breakdowns(m):
    cat = m["by_category"]
    assert cat["quiet"]["n"] == 2 and cat["quiet"]["joint"] == pytest.approx(0.5)
    assert cat["very_loud"]["joint"] == 1.0 and cat["very_loud"]["magnitude"] == 0.0
    assert cat["loud"]["joint"] == 0.0 and cat["loud"]["stem"] == pytest.approx(0.5)
    assert cat["very_quiet"]["direction"] == 1.0 and cat["very_quiet"]["stem"] == 0.0
    assert cat["no_error"]["joint"] == pytest.approx(0.5) and cat["no_error"]["stem"] is None
    assert m["by_target"]["bass"]["joint"] == 0.0
    assert m["by_target"]["vocals"]["joint"] == pytest.approx(0.5)
    assert m["by_direction"]["increase"]["joint"] == pytest.approx(1 / 3)
    assert m["by_direction"]["decrease"]["n"] == 3


def test_confusion(m):
    c = m["confusion"]
    mat = {(r, col): v for r, vals in zip(c["rows"], c["matrix"]) for col, v in zip(c["cols"], vals)}
    assert sum(mat.values()) == 8
    expected = {("vocals+", "vocals+"): 1, ("drums-", "drums-"): 1, ("bass-", "bass+"): 1,
                ("bass+", "vocals+"): 1, ("no_error", "no_adjustment"): 1,
                ("no_error", "vocals-"): 1, ("vocals-", "unclear"): 1,
                ("drums+", "no_adjustment"): 1}
    for key, v in mat.items():
        assert v == expected.get(key, 0), key
    cd = m["category_vs_predicted_direction"]
    no_err = dict(zip(cd["cols"], cd["matrix"][cd["rows"].index("no_error")]))
    assert no_err == {"no_adjustment": 1, "increase": 0, "decrease": 1, "unclear": 0}


@pytest.mark.parametrize("pred,true,want", [
    ((3, 6), (3, 6), True), ((3, 6), (6, 12), False), ((4, 8), (6, 12), True),
    ((6, 6), (3, 6), True), ((6, 6), (6, 12), True), ((13, 13), (6, 12), False),
    (None, (3, 6), False), ((1, 2), (3, 6), False)])
def test_magnitude_overlaps(pred, true, want):
    assert magnitude_overlaps(pred, true) is want


def test_stem_without_direction_is_unclear_and_other_stem_too():
    assert predicted_class(adv("vocals")) == "unclear"
    assert predicted_class(adv("other", "increase")) == "unclear"
    s = score_row(row("quiet", "vocals", -4.0), adv("vocals"))
    assert s["stem"] is True and s["direction"] is False and s["joint"] is False


def test_markdown_mentions_every_section(m):
    md = metrics_markdown(m, "test")
    for word in ("joint", "error detection", "stem identification", "very_loud", "vocals+",
                 "norm-referenced", "37.5"):
        assert word in md
