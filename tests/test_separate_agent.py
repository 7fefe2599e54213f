"""The agent's mix-only review with stems separated from the mix, end to end (real weights),
and the review's note when separation is off."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from mixingbuddy.agent.api import MixingBuddy
from mixingbuddy.model.data.demo_song import SongConfig, render_song
from mixingbuddy.tools.measure.stem_balance import measure_stem_balance
from mixingbuddy.tools.separate import separator_status
from mixingbuddy.tools.separate.evidence import annotate_stem_balance, level_error_db

HAVE_WEIGHTS = separator_status().available


@pytest.fixture(scope="module")
def buried_vocals(tmp_path_factory):
    """A 14 s song with the vocals 9 dB down: mix.wav only."""
    d = tmp_path_factory.mktemp("sepsong")
    mix, stems = render_song(SongConfig(duration_s=14.0, seed=5), gains_db={"vocals": -9.0})
    sf.write(d / "mix.wav", mix, 44_100, subtype="PCM_24")
    return d / "mix.wav", stems


@pytest.mark.skipif(not HAVE_WEIGHTS, reason=f"the set-up could not fetch the HT-Demucs weights: "
                                              f"{separator_status().reason}")
def test_mix_only_review_measures_separated_stems(tmp_path, buried_vocals):
    mix_path, _ = buried_vocals
    steps = []
    with MixingBuddy(home=tmp_path / "home", llm=None, use_model=False, separate=True) as buddy:
        rv = buddy.review(mix_path, on_progress=lambda node, s: steps.append((node, s)))
        rep = rv.report
        assert rep["stem_balance"]["source"] == "separated"
        assert rep["separation"]["residual_db"] < -10
        assert rep["separation"]["license"].count("research use only") == 1
        assert rep["mix_estimate"] is not None  # the witness stays
        vocals = next(s for s in rep["stem_balance"]["stems"] if s["role"] == "vocals")
        assert vocals["separation_error_db"] is not None
        assert vocals["status"] == "too_quiet", vocals
        assert any("separating the mix" in s for n, s in steps if n == "measure")
        # every sentence built on separated stems says so, with the error
        f = next(f for f in rv.findings if f.id == "balance:vocals")
        assert "separated from the mix, about ±" in f.detail
        assert "(separated)" in f.title
        assert any(e.tool == "separation" for e in f.evidence)
        # the stems are cached per conversation; a follow-up reuses the stored analysis
        assert (buddy.store.separation_dir(rv.thread_id) / "separation.json").is_file()
        assert buddy.store.separation(rv.thread_id) is not None
        ans = buddy.ask(rv.thread_id, "tell me about the vocals").answer
        assert "separated" in ans.lower()


def test_review_says_why_separation_is_off(tmp_path, buried_vocals, monkeypatch):
    mix_path, _ = buried_vocals
    monkeypatch.setenv("MIXINGBUDDY_SEPARATOR_WEIGHTS", str(tmp_path / "missing.onnx"))
    with MixingBuddy(home=tmp_path / "home", llm=None, use_model=False, separate=True) as buddy:
        rv = buddy.review(mix_path)
    assert rv.report["stem_balance"] is None and rv.report["mix_estimate"] is not None
    assert any("separation is off" in d and "missing.onnx" in d for d in rv.degradations)
    assert "separation is off" in rv.answer.lower()


def test_failed_separation_of_a_stem_is_flagged():
    """A stem the separator leaves near silent while the mix-only estimate hears it."""
    from mixingbuddy.tools.measure.mix_estimate import estimate_stem_levels

    mix, stems = render_song(SongConfig(duration_s=12.0, seed=2))
    import soxr

    to48 = {r: soxr.resample(x, 44_100, 48_000).astype(np.float32) for r, x in stems.items()}
    est = estimate_stem_levels(soxr.resample(mix, 44_100, 48_000).astype(np.float32), 48_000)
    broken = dict(to48)
    broken["other"] = broken["other"] + broken["vocals"]  # the vocals swallowed by "other"
    broken["vocals"] = broken["vocals"] * 1e-3

    summary = {"residual_db": -40.0, "windows_s": [(0.0, 12.0)],
               "duration_s": 12.0, "seconds": 1.0, "model": "m", "license": "l"}
    sb, info = annotate_stem_balance(measure_stem_balance(broken, 48_000), summary, est)
    v = next(s for s in sb.stems if s.role == "vocals")
    # the witness: the mix-only estimate is confident the vocals play in this song
    assert next(s for s in est.stems if s.role == "vocals").status != "uncertain"
    assert v.separation_suspect and "near silent" in v.separation_suspect
    assert "vocals" in info.verdict
    assert sb.source == "separated"


def test_error_model_is_packaged_and_monotone_enough():
    for role in ("vocals", "drums", "bass", "other"):
        typ, large = level_error_db(role, -8.0)
        assert 0 < typ <= large < 20


def test_noisy_levels_move_each_stem_and_keep_the_sums_consistent():
    from mixingbuddy.evals.fit_judge import noisy_levels
    from mixingbuddy.tools.measure.clip_levels import measure_clip_levels

    rng = np.random.default_rng(0)
    stems = {r: rng.standard_normal((48_000, 2)) * g for r, g in
             (("vocals", 0.3), ("drums", 0.5), ("bass", 0.4), ("other", 0.2))}
    lv = measure_clip_levels(stems, None)
    same = noisy_levels(lv, rng, {r: 1e-9 for r in stems})
    for r in stems:  # no noise: the power-sum reconstruction gives back the measured levels
        assert abs(same[r]["vs_rest_db"] - lv[r]["vs_rest_db"]) < 0.05
        assert abs(same[r]["vs_mix_db"] - lv[r]["vs_mix_db"]) < 0.05
    moved = [noisy_levels(lv, rng, {r: 2.0 for r in stems})["vocals"]["rms_dbfs"] - lv["vocals"]["rms_dbfs"]
             for _ in range(400)]
    assert 1.6 < np.std(moved) < 2.4


def test_the_judge_abstains_under_its_line():
    from mixingbuddy.agent import balance_judge as BJ
    from mixingbuddy.agent.composer import judgement_line
    from mixingbuddy.agent.numbers import Ledger

    rng = np.random.default_rng(1)
    X = rng.standard_normal((200, 4))
    from mixingbuddy.model.data.templates import CLASSES

    y = [CLASSES[i % 3] for i in range(200)]
    expert = BJ.fit_judge_model("separated", X, y)
    probs = {c: 1 / 13 for c in BJ.CLASSES}
    j_sure = BJ.BalanceJudge({"separated": BJ.PoolVariant(expert, 0.0, 1.0, abstain_below=0.0)})
    j_unsure = BJ.BalanceJudge({"separated": BJ.PoolVariant(expert, 0.0, 1.0, abstain_below=0.99)})
    a = j_sure.judge("separated", probs, X[0], "drums", None)
    b = j_unsure.judge("separated", probs, X[0], "drums", None)
    assert not a.abstain and b.abstain and b.cls == a.cls
    led = Ledger()
    line = judgement_line(b.to_json(), "drums", led)
    assert "no confident call" in line and "separated stem levels" in line
    assert any(e.tool == "balance_judge" for e in led.items)
    # a judge fitted before separation reads separated levels with its stems expert
    old = BJ.BalanceJudge({"stems": BJ.PoolVariant(expert, 0.0, 1.0)})
    assert old.judge("separated", probs, X[0], "drums", None).variant == "separated"


def test_the_judge_reads_separated_levels_unless_a_stem_looks_badly_separated():
    from mixingbuddy.agent.balance_judge import features_for
    from mixingbuddy.tools.measure.mix_estimate import estimate_stem_levels

    mix, stems = render_song(SongConfig(duration_s=12.0, seed=4))
    import soxr

    to48 = {r: soxr.resample(x, 44_100, 48_000).astype(np.float32) for r, x in stems.items()}
    est = estimate_stem_levels(sum(to48.values()), 48_000)

    summary = {"residual_db": -40.0, "windows_s": [(0.0, 12.0)],
               "duration_s": 12.0, "seconds": 1.0, "model": "m", "license": "l"}
    sb, _ = annotate_stem_balance(measure_stem_balance(to48, 48_000), summary, est)
    probs = {"no_error": 1.0}
    rep = {"stem_balance": sb.model_dump(), "mix_estimate": est.model_dump()}
    assert features_for(probs, rep, "drums", None)[0] == "separated"
    bad = sb.model_dump()
    next(s for s in bad["stems"] if s["role"] == "bass")["separation_suspect"] = "lost"
    assert features_for(probs, {"stem_balance": bad, "mix_estimate": est.model_dump()}, "drums", None)[0] == "mix"


def test_whatif_and_audition_on_separated_stems_rebuild_the_mix_with_the_residual(tmp_path):
    """Stems 'separated' from a mix leave a residual; a move on one of them is measured on the
    separated stems plus the residual, and said to be approximate."""
    from mixingbuddy.agent.whatif import simulate_gain
    from mixingbuddy.tools.registry import AudioContext
    from mixingbuddy.tools.separate import Separation
    from mixingbuddy.ui.audition import audition

    _, stems = render_song(SongConfig(duration_s=10.0, seed=6))
    import soxr

    st = {r: soxr.resample(x, 44_100, 48_000).astype(np.float32) for r, x in stems.items()}
    mix = sum(st.values())
    # a separator that lost 20% of the bass into the residual
    sep_stems = dict(st, bass=st["bass"] * np.float32(0.8))
    sep = Separation(stems=sep_stems, mix=mix, sr=48_000, windows_s=[(0.0, 10.0)])
    assert np.allclose(sum(sep.stems.values()) + sep.residual, mix, atol=1e-5)
    ctx = AudioContext(mix=sep.mix_audio(), stems=sep.stem_set())
    res = simulate_gain(ctx, "vocals", -3.0, residual=sep.residual)
    assert res["approximate"] is True
    from mixingbuddy.tools.measure.loudness import measure_loudness

    # "before" is the mix itself (separated stems + residual), not the separated sum
    assert abs(res["before"]["mix"]["integrated_lufs"] - measure_loudness(mix, 48_000).integrated_lufs) < 0.05
    a = audition(sep.stem_set(), {"vocals": -3.0}, tmp_path, residual=sep.residual)
    assert any("approximate" in n for n in a.notes)
    import soundfile as sf

    before, _ = sf.read(a.before_wav, dtype="float32")
    g = 10 ** (a.playback_trim_db / 20)
    assert np.max(np.abs(before - mix * g)) < 2e-4  # 16-bit file of the mix itself
