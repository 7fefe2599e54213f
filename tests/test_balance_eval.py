"""Reference systems and the balance benchmark runner on tiny corpora built here."""
from __future__ import annotations

import argparse
import json
import math
import zlib

import numpy as np
import pytest

from mixingbuddy.evals import balance as bal
from mixingbuddy.evals.metrics import predicted_class
from mixingbuddy.evals.systems import (
    CLASSES,
    DspSystem,
    advice_text,
    class_of,
    get_system,
    valid_classes,
)
from mixingbuddy.model.data.advice_parser import parse_advice
from mixingbuddy.model.data.templates import (
    CATEGORIES,
    CORRECTION_RANGES_DB,
    CORRECTIVE_DIRECTION,
    GAIN_RANGES_DB,
    STEMS,
)

ALL = ("bass", "drums", "vocals", "other")


def _levels(lv: dict[str, float], anchor: str) -> dict:
    """true_levels from per-stem RMS dBFS, stems taken as uncorrelated (powers add)."""
    tot = sum(10 ** (v / 10) for v in lv.values())
    return {s: {"rms_dbfs": v, "vs_rest_db": v - 10 * math.log10(tot - 10 ** (v / 10)),
                "vs_mix_db": v - 10 * math.log10(tot), "vs_anchor_db": v - lv[anchor]}
            for s, v in lv.items()}


def make_rows(n_songs: int, per_song: int, seed: int, splits=("train",) * 8 + ("val", "test")):
    """Manifest rows whose true levels make the answer learnable: every song has nearly the
    same natural balance (+-0.5 dB), so a flaw of 3..12 dB shows in the levels."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_songs):
        split = splits[s % len(splits)]
        base = {st: -20.0 + rng.normal(0, 0.5) for st in ALL}
        for k in range(per_song):
            cat = CATEGORIES[(s * per_song + k) % 5]
            target = STEMS[int(rng.integers(3))]
            anchor = [x for x in STEMS if x != target][int(rng.integers(2))]
            lo, hi = GAIN_RANGES_DB[cat]
            g = float(rng.uniform(lo, hi))
            lv = dict(base)
            lv[target] += g
            err = cat != "no_error"
            rows.append({
                "id": f"song{s:03d}-k{k}", "split": split, "song_id": f"song{s:03d}", "source": "folder",
                "audio_path": f"audio/{split}/song{s:03d}-k{k}.flac", "sr": 22050, "duration_s": 1.0,
                "start_s": 0.0, "stems_present": list(ALL), "anchor": anchor,
                "instruction": "", "response": "",
                "published": {"category": cat, "target": target if err else None,
                              "direction": CORRECTIVE_DIRECTION[cat], "gain_db": g if err else 0.0,
                              "correction_range_db": list(CORRECTION_RANGES_DB[cat]) if err else None},
                "norm": ({"label": target, "direction": "too_quiet" if g < 0 else "too_loud",
                          "distance_db": abs(g), "per_stem": {}} if err
                         else {"label": "balanced", "direction": None, "distance_db": 0.0, "per_stem": {}}),
                "true_levels": _levels(lv, anchor), "original_levels": _levels(base, anchor),
                "augment": None, "style": None})
    return rows


def write_corpus(root, rows, *, audio: bool) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if not audio:
        return
    import soundfile as sf

    sr = 22050
    t = np.arange(sr) / sr
    for r in rows:
        rng = np.random.default_rng(zlib.crc32(r["id"].encode()))
        lv = {s: 10 ** (r["true_levels"][s]["rms_dbfs"] / 20) for s in ALL}
        bass = np.sin(2 * np.pi * 60 * t) * lv["bass"] * 1.4
        drums = rng.normal(0, 1, sr) * (np.arange(sr) % 5512 < 800) * lv["drums"] * 2.5
        vocals = np.sin(2 * np.pi * 440 * t + 3 * np.sin(2 * np.pi * 5 * t)) * lv["vocals"] * 1.4
        other = np.sin(2 * np.pi * 660 * t) * lv["other"] * 1.4
        mono = bass + drums + vocals
        x = np.stack([mono + other, mono - 0.5 * other], axis=1)
        x *= 0.5 / np.max(np.abs(x))
        p = root / r["audio_path"]
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(p), x.astype(np.float32), sr, subtype="PCM_16")


# --------------------------------------------------------------------------- systems

def test_every_class_text_parses_back():
    row = {"id": "x", "anchor": "drums", "stems_present": list(ALL)}
    for cls in CLASSES:
        p = parse_advice(advice_text(cls, row, "t"))
        if cls == "no_error":
            assert p.no_adjustment
        else:
            cat, stem = cls.split(":")
            sign = "+" if CORRECTIVE_DIRECTION[cat] == "increase" else "-"
            assert predicted_class(p) == f"{stem}{sign}"
            assert p.magnitude_db == tuple(float(v) for v in CORRECTION_RANGES_DB[cat])


def test_random_is_seeded_and_respects_the_anchor():
    rows = make_rows(10, 5, 1)
    a, b, c = (get_system("random", seed=s) for s in (0, 0, 1))
    ta = [a.advise(r, None, None) for r in rows]
    assert ta == [b.advise(r, None, None) for r in rows]
    assert ta != [c.advise(r, None, None) for r in rows]
    for r, t in zip(rows, ta):
        p = parse_advice(t)
        assert p.stem != r["anchor"]
    cats = {predicted_class(parse_advice(t)) for t in ta}
    assert len(cats) >= 4  # it does spread over classes


def test_majority_takes_the_most_frequent_valid_train_class():
    rows = make_rows(10, 5, 2)
    for r in rows[:30]:  # skew the train set towards "quiet:vocals"
        r["published"].update(category="quiet", target="vocals", direction="increase")
    m = get_system("majority")
    m.fit(rows, None)
    r_ok = dict(rows[0], anchor="bass")
    assert predicted_class(parse_advice(m.advise(r_ok, None, None))) == "vocals+"
    r_anchor = dict(rows[0], anchor="vocals")  # the majority target is this row's anchor
    pred = predicted_class(parse_advice(m.advise(r_anchor, None, None)))
    assert not pred.startswith("vocals")
    assert class_of(rows[0]) == "quiet:vocals"
    assert "quiet:vocals" not in valid_classes(r_anchor)


def test_oracle_beats_random(tmp_path):
    rows = make_rows(100, 5, 3)
    write_corpus(tmp_path / "c", rows, audio=False)
    mo = bal.run_balance_eval("oracle", tmp_path / "c", tmp_path / "o", progress=False)
    mr = bal.run_balance_eval("random", tmp_path / "c", tmp_path / "o", progress=False)
    mj = bal.run_balance_eval("majority", tmp_path / "c", tmp_path / "o", progress=False)
    assert mo["n"] == sum(r["split"] == "test" for r in rows) == 50
    assert mo["joint_accuracy"] >= 0.8, mo["joint_accuracy"]
    assert mo["joint_accuracy"] > mr["joint_accuracy"] + 0.4
    assert mj["joint_accuracy"] == pytest.approx(mj["n_no_error"] / mj["n"])  # always "no error"
    assert mj["no_error_accuracy"] == 1.0


def test_cross_fit_scores_every_row_once_with_songs_held_out(tmp_path):
    rows = make_rows(30, 5, 4)
    write_corpus(tmp_path / "c", rows, audio=False)
    m = bal.run_balance_eval("oracle", tmp_path / "c", tmp_path / "o", split="all", cv=3,
                             progress=False)
    assert m["n"] == len(rows)
    preds = [json.loads(x) for x in (tmp_path / "o" / "oracle" / "predictions.jsonl").read_text().splitlines()]
    assert sorted(p["id"] for p in preds) == sorted(r["id"] for r in rows)
    folds = {}
    for r in rows:
        folds.setdefault(r["song_id"], set()).add(bal.fold_of(r["song_id"], 3, 0))
    assert all(len(f) == 1 for f in folds.values())
    assert m["joint_accuracy"] > 0.6


def test_limit_is_a_seeded_subset():
    rows = make_rows(20, 5, 5)
    a = bal.select_rows(rows, "train", 7, seed=0)
    assert len(a) == 7 and all(r["split"] == "train" for r in a)
    assert [r["id"] for r in a] == [r["id"] for r in bal.select_rows(rows, "train", 7, seed=0)]
    assert [r["id"] for r in a] != [r["id"] for r in bal.select_rows(rows, "train", 7, seed=1)]


def test_dsp_never_reads_true_levels(tmp_path):
    rows = make_rows(6, 5, 6)
    write_corpus(tmp_path / "c", rows, audio=True)
    blind = [{k: v for k, v in r.items() if k not in ("true_levels", "original_levels", "norm")}
             for r in rows]
    d = DspSystem(seed=0)
    d.workers = 1
    d.progress = False
    X = d.row_features(blind, tmp_path / "c")
    assert X.shape == (len(rows), 3 + 4 + 8 + 3) and np.all(np.isfinite(X))


# --------------------------------------------------------------------------- CLI

def _cli(argv):
    p = argparse.ArgumentParser(prog="mixingbuddy")
    sub = p.add_subparsers(dest="command", required=True)
    bal.add_parser(sub)
    args = p.parse_args(argv)
    return args.func(args)


def test_cli_writes_its_files(tmp_path, capsys, monkeypatch):
    rows = make_rows(12, 5, 7)
    data, out = tmp_path / "corpus", tmp_path / "report"
    write_corpus(data, rows, audio=True)
    rc = _cli(["eval", "balance", "--system", "all", "--data", str(data), "--out", str(out),
               "--workers", "1"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "| system | joint |" in printed and "| oracle |" in printed
    summary = (out / "summary.md").read_text()
    n_test = sum(r["split"] == "test" for r in rows)
    for name in ("random", "majority", "dsp", "oracle"):
        d = out / name
        preds = (d / "predictions.jsonl").read_text().splitlines()
        assert len(preds) == n_test
        first = json.loads(preds[0])
        assert {"id", "text", "parsed", "correct"} <= set(first)
        m = json.loads((d / "metrics.json").read_text())
        assert m["n"] == n_test and m["meta"]["system"] == name
        assert "joint" in (d / "metrics.md").read_text()
        assert (d / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"| {name} |" in summary
    assert (out / "features_dsp.npz").is_file()

    # a rerun reads the cached mix features instead of analysing the audio again
    import mixingbuddy.evals.systems as systems_mod

    def boom(path):
        raise AssertionError("features recomputed")

    monkeypatch.setattr(systems_mod, "_dsp_features_of_file", boom)
    assert _cli(["eval", "balance", "--system", "dsp", "--data", str(data), "--out", str(out),
                 "--workers", "1", "--limit", "3"]) == 0
    assert len((out / "dsp" / "predictions.jsonl").read_text().splitlines()) == 3


def test_cli_rejects_unknown_system(tmp_path):
    from mixingbuddy.tools.errors import InvalidArgumentError

    write_corpus(tmp_path / "c", make_rows(2, 5, 8), audio=False)
    with pytest.raises(InvalidArgumentError):
        _cli(["eval", "balance", "--system", "nope", "--data", str(tmp_path / "c"),
              "--out", str(tmp_path / "o")])


def test_missing_manifest_is_a_clear_error(tmp_path):
    from mixingbuddy.tools.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="manifest"):
        bal.run_balance_eval("random", tmp_path, tmp_path / "o")
