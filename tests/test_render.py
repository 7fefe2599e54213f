"""General-MIDI song renderer (model/data/songwriter.py, render.py) and the natural-balance prior
(model/data/balance_prior.py). Short songs (6-8 s) keep the whole file fast."""
from __future__ import annotations

import csv
import itertools

import numpy as np
import pretty_midi
import pytest

from mixingbuddy.model.data import balance_prior as bp
from mixingbuddy.model.data import render as rd
from mixingbuddy.model.data.songwriter import (
    STYLES,
    VOICE_PROGRAMS,
    compose_song,
    parse_numeral,
)
from mixingbuddy.tools.measure.stem_balance import load_balance_reference, measure_stem_balance

SR = 22_050  # half rate: same code paths, half the work
BENCH_STEMS = ("bass", "drums", "vocals")


@pytest.fixture(scope="module")
def songs():
    """One 8 s song per style."""
    return {st: rd.render_song(11 + i, st, duration_s=8.0, sr=SR) for i, st in enumerate(STYLES)}


def _centroid_hz(x: np.ndarray, sr: int) -> float:
    m = x.mean(axis=1).astype(np.float64)
    p = np.abs(np.fft.rfft(m)) ** 2
    f = np.fft.rfftfreq(len(m), 1.0 / sr)
    return float((p * f).sum() / p.sum())


def _energy_below(x: np.ndarray, sr: int, hz: float) -> float:
    m = x.mean(axis=1).astype(np.float64)
    p = np.abs(np.fft.rfft(m)) ** 2
    f = np.fft.rfftfreq(len(m), 1.0 / sr)
    return float(p[f < hz].sum() / p.sum())


# --------------------------------------------------------------------------- composition

def test_at_least_six_styles_and_numerals():
    assert {"pop", "rock", "hip_hop", "edm", "ballad"} <= set(STYLES)
    assert {"funk", "jazz"} & set(STYLES) and len(STYLES) >= 6
    c = parse_numeral("bVII", 9)  # in A: G major
    assert c.root_pc == 7 and c.intervals == (0, 4, 7)
    assert parse_numeral("ii7", 0).intervals == (0, 3, 7, 10)
    with pytest.raises(ValueError):
        parse_numeral("X", 0)


def test_composition_parts_and_sections():
    for i, st in enumerate(STYLES):
        c = compose_song(100 + i, st, duration_s=30.0)
        drums = c.midi["drums"].instruments
        assert len(drums) == 1 and drums[0].is_drum
        assert [i.is_drum for i in c.midi["bass"].instruments] == [False]
        voc = c.midi["vocals"].instruments
        assert len(voc) == 1 and voc[0].program in VOICE_PROGRAMS
        pitches = [n.pitch for n in voc[0].notes]
        assert 48 <= min(pitches) and max(pitches) <= 81, (st, min(pitches), max(pitches))  # C3..A5
        starts = sorted((n.start, n.end) for n in voc[0].notes)
        gaps = [b[0] - a[1] for a, b in itertools.pairwise(starts)]
        assert max(gaps) > 0.2, st  # phrases with rests
        assert len(c.midi["other"].instruments) >= 2
        assert len({i.program for i in c.midi["other"].instruments}) >= 2
        assert all(n.pitch < 60 for n in c.midi["bass"].instruments[0].notes)
        names = [s["name"] for s in c.sections]
        assert "verse" in names and "chorus" in names
        meta = c.meta()
        assert meta["style"] == st and all(meta["n_notes"][k] > 0 for k in c.midi)


def test_chorus_denser_than_verse():
    denser = 0
    for i, st in enumerate(STYLES):
        c = compose_song(7 + i, st, duration_s=40.0)
        per_sec = {"verse": [], "chorus": []}
        for s in c.sections:
            n = sum(1 for role in ("drums", "other") for inst in c.midi[role].instruments
                    for nt in inst.notes if s["start_s"] <= nt.start < s["end_s"])
            per_sec[s["name"]].append(n / (s["end_s"] - s["start_s"]))
        denser += np.mean(per_sec["chorus"]) > np.mean(per_sec["verse"])
    assert denser >= len(STYLES) - 1


def test_seeds_and_styles_differ_and_composition_is_deterministic():
    a, b = compose_song(3, "pop"), compose_song(3, "pop")
    assert a.meta() == b.meta()
    assert [(n.start, n.pitch) for n in a.midi["vocals"].instruments[0].notes] == \
           [(n.start, n.pitch) for n in b.midi["vocals"].instruments[0].notes]
    for st in STYLES:
        metas = [compose_song(s, st, duration_s=10.0).meta() for s in range(8)]
        assert len({m["tempo_bpm"] for m in metas}) == 8
        assert len({(m["key"], tuple(m["progression"])) for m in metas}) >= 3
        assert len({str(m["programs"]) for m in metas}) >= 2, st
    tempos = {st: compose_song(5, st).tempo_bpm for st in STYLES}
    assert tempos["ballad"] < tempos["edm"]
    assert compose_song(1).style in STYLES  # style drawn from the seed
    assert len({compose_song(s).style for s in range(20)}) >= 4
    with pytest.raises(ValueError):
        compose_song(1, "polka")


# --------------------------------------------------------------------------- rendering

def test_render_midi_places_notes_at_their_sample():
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=0)
    inst.notes.append(pretty_midi.Note(velocity=100, pitch=60, start=0.5, end=0.8))
    pm.instruments.append(inst)
    y = rd.render_midi(pm, SR, SR)
    assert y.shape == (SR, 2) and y.dtype == np.float32
    on = int(0.5 * SR)
    assert np.abs(y[:on]).max() == 0.0
    assert np.abs(y[on:on + 2000]).max() > 1e-3


def test_every_style_renders_four_valid_stems(songs):
    n = int(8.0 * SR)
    for st, s in songs.items():
        assert s.style == st and s.sr == SR
        assert set(s.stems) == {"bass", "drums", "vocals", "other"}
        for k, x in s.stems.items():
            assert x.shape == (n, 2) and x.dtype == np.float32, (st, k)
            assert np.isfinite(x).all()
            rms = 10 * np.log10(np.mean(x.astype(np.float64) ** 2))
            assert rms > -45.0, (st, k, rms)
        peak_db = 20 * np.log10(np.abs(s.mix).max())
        assert -3.05 <= peak_db <= -0.95, (st, peak_db)
        assert max(np.abs(x).max() for x in s.stems.values()) < 1.0
        assert s.meta["style"] == st and s.meta["render_notes"] == []


def test_vocals_in_vocal_range_and_bass_low(songs):
    for st, s in songs.items():
        c = _centroid_hz(s.stems["vocals"], SR)
        assert 150.0 <= c <= 1500.0, (st, c)
        assert _energy_below(s.stems["bass"], SR, 300.0) > 0.5, st
        assert _centroid_hz(s.stems["bass"], SR) < _centroid_hz(s.stems["other"], SR)


def test_other_stem_is_stereo_and_bass_centred(songs):
    s = songs["pop"]
    for role, wide in (("other", True), ("bass", False)):
        x = s.stems[role].astype(np.float64)
        side = np.mean((x[:, 0] - x[:, 1]) ** 2) / np.mean((x[:, 0] + x[:, 1]) ** 2)
        assert (side > 0.01) if wide else (side < 1e-6), (role, side)


def test_render_is_bitwise_deterministic():
    a = rd.render_song(42, "funk", duration_s=6.0, sr=SR)
    b = rd.render_song(42, "funk", duration_s=6.0, sr=SR)
    for k in a.stems:
        assert np.array_equal(a.stems[k], b.stems[k]), k
    assert a.meta == b.meta and a.natural_vs_rest_db == b.natural_vs_rest_db
    c = rd.render_song(43, "funk", duration_s=6.0, sr=SR)
    assert not np.array_equal(a.stems["vocals"], c.stems["vocals"])


def test_natural_balance_matches_target(songs):
    for st, s in songs.items():
        target = s.meta["target_vs_rest_db"]
        res = measure_stem_balance(s.stems, SR)
        measured = {x.name: x.level_vs_rest_power_sum_db for x in res.stems}
        for k in BENCH_STEMS:
            assert abs(s.natural_vs_rest_db[k] - target[k]) <= 0.25, (st, k)
            # independently measured by the toolbox
            assert abs(measured[k] - target[k]) <= 0.5, (st, k, measured[k], target[k])
        assert abs(measured["other"] - target["other"]) <= 3.0


def test_given_balance_is_met_and_json_meta():
    import json

    s = rd.render_song(9, "rock", duration_s=6.0, sr=SR, balance={"vocals": -2.0},
                       peak_dbfs=-2.0)
    assert abs(s.natural_vs_rest_db["vocals"] + 2.0) <= 0.25
    assert abs(20 * np.log10(np.abs(s.mix).max()) + 2.0) < 0.05
    json.dumps(s.meta)
    assert s.meta["balance_source"] == "given"
    with pytest.raises(ValueError):
        rd.render_song(9, "rock", duration_s=2.0, sr=SR, balance={"piano": 0.0})


def test_soundfont_option(tmp_path):
    a = rd.render_song(4, "edm", duration_s=3.0, sr=SR, soundfont=rd.default_soundfont())
    b = rd.render_song(4, "edm", duration_s=3.0, sr=SR)
    assert np.array_equal(a.stems["drums"], b.stems["drums"])
    with pytest.raises(FileNotFoundError):
        rd.render_song(4, "edm", duration_s=3.0, sr=SR, soundfont=str(tmp_path / "none.sf2"))


def test_silent_stem_is_refused(monkeypatch):
    real = rd.render_midi

    def fake(pm, sr, n, soundfont=None, notes=None):
        y = real(pm, sr, n, soundfont, notes)
        lead = len(pm.instruments) == 1 and not pm.instruments[0].is_drum \
            and pm.instruments[0].program in VOICE_PROGRAMS
        return np.zeros_like(y) if lead else y

    monkeypatch.setattr(rd, "render_midi", fake)
    with pytest.raises(RuntimeError, match="vocals"):
        rd.render_song(2, "pop", duration_s=3.0, sr=SR)


# --------------------------------------------------------------------------- balance prior

def test_drawn_balances_follow_the_reference():
    v = bp.draw_natural_balances(np.random.default_rng(0), 20_000)
    ref = load_balance_reference()["vs_rest"]
    for i, k in enumerate(bp.ALL_STEMS):
        for p in (10, 50, 90):
            got = np.percentile(v[:, i], p)
            assert abs(got - ref[k][f"p{p}_db"]) <= 1.0, (k, p, got)
    # consistent: the implied power fractions of the four stems sum to one
    r = 10 ** (v / 10)
    np.testing.assert_allclose((r / (1 + r)).sum(axis=1), 1.0, atol=1e-9)
    # dependence kept: bass and other move against each other
    assert np.corrcoef(v[:, 0], v[:, 3])[0, 1] < -0.2


def test_draw_is_deterministic_and_consistent_projection():
    a = bp.draw_natural_balance(np.random.default_rng(5))
    b = bp.draw_natural_balance(np.random.default_rng(5))
    assert a == b and set(a) == set(bp.ALL_STEMS)
    c = bp.consistent_vs_rest(a)
    assert all(abs(c[k] - a[k]) < 0.01 for k in a)  # already consistent
    bad = bp.consistent_vs_rest({"bass": 0.0, "drums": 0.0, "vocals": 0.0, "other": 0.0})
    assert all(abs(x - 10 * np.log10(1 / 3)) < 1e-9 for x in bad.values())


def test_apply_balance_on_stationary_stems():
    rng = np.random.default_rng(1)
    n = 12 * SR
    stems = {k: (g * rng.standard_normal((n, 2))).astype(np.float32)
             for k, g in zip(bp.ALL_STEMS, (0.05, 0.2, 0.1, 0.02))}
    target = bp.draw_natural_balance(rng)
    out, achieved = bp.apply_balance(stems, target, sr=SR, peak_dbfs=-1.0)
    for k in target:
        assert abs(achieved[k] - target[k]) <= 0.05, (k, achieved[k], target[k])
    res = measure_stem_balance(out, SR)
    for st in res.stems:
        assert abs(st.level_vs_rest_power_sum_db - target[st.name]) <= 0.05
    peak = max(np.abs(sum(out.values())).max(), max(np.abs(x).max() for x in out.values()))
    assert abs(20 * np.log10(peak) + 1.0) < 1e-3
    # measurement agrees with the toolbox, silence is None
    stems["other"] = np.zeros((n, 2), np.float32)
    got = bp.measure_vs_rest(stems, SR)
    assert got["other"] is None
    res = measure_stem_balance(stems, SR)
    for st in res.stems:
        if st.name != "other":
            assert abs(got[st.name] - st.level_vs_rest_power_sum_db) < 0.01


def test_fit_copula_from_segment_table(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / "seg.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["split", "track", "stem", "start_sec", "end_sec", "rms_dbfs", "active_frame_ratio"])
        for i in range(400):
            z = rng.standard_normal()
            lv = {"bass": -20 + 4 * z, "drums": -20 - 4 * z + rng.normal(0, 1),
                  "vocals": -20 + rng.normal(0, 3), "other": -20 + rng.normal(0, 3)}
            for stem, x in lv.items():
                w.writerow(["train", f"t{i // 3}", stem, f"{(i % 3) * 10:.3f}", "", f"{x:.3f}", "1.0"])
            w.writerow(["train", f"t{i // 3}", "mixture", f"{(i % 3) * 10:.3f}", "", "-14", "1.0"])
        w.writerow(["train", "quiet", "bass", "0.000", "", "-80", "0.0"])  # gated out
    r = bp.fit_vs_rest_copula(str(path))
    assert r.shape == (4, 4)
    np.testing.assert_allclose(np.diag(r), 1.0)
    np.testing.assert_allclose(r, r.T)
    assert r[0, 1] < -0.7  # bass and drums built to move against each other
    assert np.all(np.linalg.eigvalsh(bp.VS_REST_NORMAL_SCORE_CORR) > 0)
