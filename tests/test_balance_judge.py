"""The balance judge (agent/balance_judge.py), the norm-question verdict, the corpus's kept
stems, and `eval fit-judge` / `eval balance --system agent-stems` end to end."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mixingbuddy.agent import balance_judge as BJ
from mixingbuddy.agent.claims import BALANCED_SENTENCE, balance_verdict, norm_verdict
from mixingbuddy.agent.composer import judgement_line
from mixingbuddy.agent.grounding import check_grounding
from mixingbuddy.agent.nodes.check_claims import check_balance
from mixingbuddy.agent.numbers import Ledger
from mixingbuddy.tools.measure.analyze import AnalysisReport
from mixingbuddy.tools.measure.stem_balance import measure_stem_balance

SR = 44_100


def _probs(cls: str, p: float = 0.7) -> dict[str, float]:
    rest = (1.0 - p) / (len(BJ.CLASSES) - 1)
    return {c: (p if c == cls else rest) for c in BJ.CLASSES}


def _stems(vocals_db: float, seconds: float = 6.0, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    env = 0.6 + 0.4 * np.abs(np.sin(2 * np.pi * 2 * t))
    x = {"bass": 0.2 * np.sin(2 * np.pi * 55 * t) * env,
         "drums": 0.2 * rng.standard_normal(t.size) * np.exp(-((t * 4) % 1) * 6),
         "other": 0.05 * sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0)) * env,
         "vocals": 0.1 * sum(np.sin(2 * np.pi * 220 * h * t) / h for h in (1, 2, 3)) * env * 10 ** (vocals_db / 20)}
    return {k: np.stack([v, v], axis=1).astype(np.float32) for k, v in x.items()}


def test_posterior_features_are_floored_logs_in_class_order():
    f = list(BJ.posterior_features({"no_error": 1.0}))
    assert len(f) == 13 and f[0] == 0.0
    assert all(v == pytest.approx(np.log(BJ.PROB_FLOOR)) for v in f[1:])


def test_valid_classes_exclude_the_anchor_and_absent_stems():
    v = BJ.valid_classes("drums", ["drums", "vocals", "other"])
    assert "no_error" in v and "quiet:vocals" in v
    assert not any(c.endswith(":drums") or c.endswith(":bass") for c in v)
    assert len(BJ.valid_classes("vocals", None)) == 1 + 4 * 2


def test_fit_recovers_a_separable_rule_and_survives_a_json_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    y = [BJ.CLASSES[i % 13] for i in range(13 * 30)]
    X = np.stack([np.eye(13)[BJ.CLASSES.index(c)] * 3 + rng.normal(0, 0.5, 13) for c in y])
    m = BJ.fit_judge_model("mix", X, y, C=1.0)
    pred = [BJ.CLASSES[int(np.argmax(m.proba(x)))] for x in X]
    assert np.mean([a == b for a, b in zip(pred, y)]) > 0.95
    j = BJ.BalanceJudge({"mix": BJ.PoolVariant(m, 0.5, 1.0)}, {"about": "test"})
    j.save(tmp_path / BJ.JUDGE_FILE)
    back = BJ.BalanceJudge.from_file(tmp_path / BJ.JUDGE_FILE)
    assert back.models["mix"].w_model == 0.5 and back.models["mix"].w_levels == 1.0
    assert np.allclose(back.models["mix"].expert.proba(X[0]), m.proba(X[0]), atol=1e-5)
    assert BJ.load_judge(tmp_path) is not None and BJ.load_judge(tmp_path / "none") is None
    # a judge with the wrong shapes is refused, and the agent falls back to its rules
    d = json.loads((tmp_path / BJ.JUDGE_FILE).read_text())
    d["variants"]["mix"]["expert"]["coef"] = d["variants"]["mix"]["expert"]["coef"][:3]
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / BJ.JUDGE_FILE).write_text(json.dumps(d))
    assert BJ.load_judge(tmp_path / "bad") is None


def test_the_pool_weighs_the_model_against_the_levels():
    n = 3
    icpt = np.full(13, -3.0)
    icpt[BJ.CLASSES.index("quiet:vocals")] = 3.0  # the levels expert says: vocals up
    expert = BJ.JudgeModel("mix", np.zeros(n), np.ones(n), np.zeros((13, n)), icpt)
    probs = _probs("loud:bass", 0.9)  # the model says: bass down
    x = np.zeros(n)
    for wm, we, want in ((1.0, 0.0, "loud:bass"), (0.0, 1.0, "quiet:vocals"), (1.0, 3.0, "quiet:vocals")):
        cls, post = BJ.pool_decision(BJ.PoolVariant(expert, wm, we).log_pool(probs, x), "drums", None)
        assert cls == want and abs(sum(post.values()) - 1) < 1e-9


def _judge_picking(variant: str, cls: str) -> BJ.BalanceJudge:
    """A judge whose answer is fixed (a levels expert with only an intercept, the model ignored)."""
    n = {"mix": 3 + 8 + 3, "stems": 3 + 12 + 3}[variant]
    icpt = np.full(13, -2.0)
    icpt[BJ.CLASSES.index(cls)] = 2.0
    return BJ.BalanceJudge({variant: BJ.PoolVariant(
        BJ.JudgeModel(variant, np.zeros(n), np.ones(n), np.zeros((13, n)), icpt), 0.0, 1.0)})


def test_the_judge_picks_the_variant_from_the_measurements():
    stems = _stems(-12.0)
    sb = measure_stem_balance(stems, SR, anchor="drums")
    rep = AnalysisReport.model_construct(stem_balance=sb, mix_estimate=None, anchor="drums")
    assert sb.clip_levels and set(sb.clip_levels) == {"bass", "drums", "vocals", "other"}
    f = BJ.stem_level_features(sb.clip_levels, "drums")
    assert len(f) == 3 + 12 + 3
    # the vocals against the anchor, from the whole-clip RMS levels
    lv = sb.clip_levels
    assert f[3 + 12 + 2] == pytest.approx(lv["vocals"]["rms_dbfs"] - lv["drums"]["rms_dbfs"])
    # the corpus labels its clips with the same measurement
    from mixingbuddy.model.data.flaws import measure_levels

    assert measure_levels(stems, "drums") == lv
    j = check_balance([], rep, _probs("no_error"), "drums", ["bass", "drums", "vocals", "other"], _judge_picking("stems", "very_quiet:vocals")).judgement
    assert j.variant == "stems" and j.cls == "very_quiet:vocals" and j.direction == "increase"
    assert abs(sum(j.posterior.values()) - 1.0) < 1e-9
    # no posterior, or no judge for that variant: no judgement (the rules decide)
    assert check_balance([], rep, {}, "drums", None, _judge_picking("stems", "no_error")).judgement is None
    assert check_balance([], rep, _probs("no_error"), "drums", None, _judge_picking("mix", "no_error")).judgement is None
    # the anchor is never the answer, even when the fitted model prefers it
    j = check_balance([], rep, _probs("no_error"), "drums", None, _judge_picking("stems", "loud:drums")).judgement
    assert j.stem != "drums"


def test_balance_verdict_follows_the_judgement_and_norm_verdict_follows_the_stems():
    sb = measure_stem_balance(_stems(-14.0), SR, anchor="drums")
    rep = AnalysisReport.model_construct(stem_balance=sb, mix_estimate=None, anchor="drums")
    vocals = next(s for s in sb.stems if (s.role or s.name) == "vocals")
    assert vocals.status == "too_quiet"
    judged = {"class": "loud:bass", "p": 0.5, "posterior": {"loud:bass": 0.5}, "variant": "stems"}
    assert balance_verdict({"report": rep, "claims": [], "balance_judgement": judged}) == "Lower the bass by 3 to 6 dB."
    no_err = dict(judged, **{"class": "no_error"})
    assert balance_verdict({"report": rep, "claims": [], "balance_judgement": no_err}) == BALANCED_SENTENCE
    # the norm question is answered from the measurement, whatever the judge or the anchor
    assert norm_verdict({"report": rep, "claims": [], "balance_judgement": judged}).startswith("Raise the vocals")
    sb2 = measure_stem_balance(_stems(-3.0), SR, anchor="vocals")
    rep2 = AnalysisReport.model_construct(stem_balance=sb2, mix_estimate=None, anchor="vocals")
    if all(s.status == "within_range" for s in sb2.stems if (s.role or s.name) in ("bass", "drums", "vocals")):
        assert norm_verdict({"report": rep2}) == BALANCED_SENTENCE


def test_judgement_line_is_grounded():
    led = Ledger()
    j = {"variant": "mix", "class": "quiet:vocals", "p": 0.4137,
         "posterior": {"quiet:vocals": 0.4137, "no_error": 0.31, "loud:bass": 0.2763}}
    line = judgement_line(j, "drums", led)
    assert "the vocals are a little too quiet" in line and "41%" in line
    assert "31%" not in line and "bass" not in line  # only the reading itself: no second guess
    assert "against the drums" in line and "mix-only estimate" in line
    vals = [e.value for e in led.items]
    assert check_grounding(line, vals).ok


def test_corpus_keeps_the_stems_of_the_chosen_splits(tmp_path):
    from test_corpus import _write_folder_songs

    from mixingbuddy.model.data import corpus as C

    songs = _write_folder_songs(tmp_path / "songs", 4)
    out = tmp_path / "c"
    info = C.build_corpus("folder", songs, 80, out, seed=1, chunk_s=1.0, sr=16_000, workers=1,
                          progress=False, splits=(0.5, 0.25, 0.25), keep_stems=("val", "test"))
    rows = C.read_manifest(out)
    assert info["n_samples"] == len(rows) > 0
    kept = [r for r in rows if r["split"] in ("val", "test")]
    assert kept and all(r.get("stem_paths") for r in kept)
    assert not any(r.get("stem_paths") for r in rows if r["split"] == "train")
    for r in kept[:5]:
        mix, sr = sf.read(out / r["audio_path"], dtype="float64", always_2d=True)
        total = sum(sf.read(out / p, dtype="float64", always_2d=True)[0] for p in r["stem_paths"].values())
        assert sr == 16_000 and set(r["stem_paths"]) == {"bass", "drums", "vocals", "other"}
        assert np.max(np.abs(total - mix)) < 4 * 2 / 32768  # the stems sum to the mix (16-bit FLAC)
    # stems are not part of the settings: a resume without them reuses every song
    C.build_corpus("folder", songs, 80, out, seed=1, chunk_s=1.0, sr=16_000, workers=1, progress=False,
                   splits=(0.5, 0.25, 0.25))
    assert C.read_manifest(out) == rows
    with pytest.raises(Exception, match="keep-stems"):
        C.build_corpus("folder", songs, 80, tmp_path / "d", seed=1, chunk_s=1.0, sr=16_000, workers=1,
                       progress=False, keep_stems=("tests",))


def test_fit_judge_and_agent_stems_end_to_end(tmp_path, capsys):
    """The shipped audio model listens to a small corpus; the judge is fitted on its val split and
    the agent with stems answers its test split (norm question from its own measurement)."""
    from test_corpus import _write_folder_songs

    from mixingbuddy.evals.balance import run_balance_eval
    from mixingbuddy.evals.fit_judge import fit_all
    from mixingbuddy.model.data import corpus as C
    from mixingbuddy.model.listen import DEFAULT_WEIGHTS

    assert (Path(DEFAULT_WEIGHTS) / "weights.safetensors").is_file(), "the shipped model/weights/ is missing"
    songs = _write_folder_songs(tmp_path / "songs", 6, dur=2.0)
    out = tmp_path / "c"
    C.build_corpus("folder", songs, 48, out, seed=2, chunk_s=1.0, sr=SR, workers=1, progress=False,
                   per_chunk=4, splits=(0.2, 0.4, 0.4), keep_stems=("val", "test"))
    rows = C.read_manifest(out)
    assert any(r["split"] == "val" for r in rows) and any(r["split"] == "test" for r in rows)
    judge_file = tmp_path / "w" / BJ.JUDGE_FILE
    judge_file.parent.mkdir()
    meta = fit_all([out], "val", None, judge_file, min_rows=5, variants=("mix", "stems"))
    assert set(meta["variants_report"]) == {"mix", "stems"}
    assert (out / "judge_cache").is_dir() and list((out / "judge_cache").glob("listen_*.jsonl"))
    judge = BJ.BalanceJudge.from_file(judge_file)
    assert set(judge.models) == {"mix", "stems"}
    for rep in meta["variants_report"].values():
        assert rep["n_val_rows"] >= 5 and rep["n_train_rows"] > 0
        # the chosen pool is at least as good on the rows that chose it as either witness alone
        assert rep["val_joint_pool"] >= max(rep["val_joint_model_alone"], rep["val_joint_levels_alone"]) - 1e-9

    # the benchmark with stems, the judge read from where the system looks for it
    from mixingbuddy.evals.agent_system import AgentStemsSystem

    class WithJudge(AgentStemsSystem):
        def judge(self):
            return judge

    s = WithJudge()
    s.name = "agent-stems"
    m = run_balance_eval(s, out, tmp_path / "ev", split="test", progress=False)
    preds = [json.loads(x) for x in (tmp_path / "ev" / "agent-stems" / "predictions.jsonl").read_text().splitlines()]
    assert preds and all("norm_text" in p for p in preds)
    assert len(s.judgements) == len(preds)
    assert m["norm_referenced_accuracy"] is not None
    # the norm answers are the measurement's: each names the stem the norm label names, or balanced
    test_rows = {r["id"]: r for r in rows if r["split"] == "test"}
    agree = [((test_rows[p["id"]]["norm"]["label"] == "balanced") == p["norm_text"].startswith("The balance"))
             for p in preds]
    assert np.mean(agree) >= 0.75


def test_a_reading_that_repeats_a_refuted_claim_is_left_out_of_the_review():
    from mixingbuddy.agent.composer import compose_review
    from mixingbuddy.agent.schema import Claim

    j = {"variant": "stems", "class": "loud:vocals", "p": 0.5, "posterior": {"loud:vocals": 0.5, "no_error": 0.5}}
    refuted = Claim(text="Lower the vocals by 3 to 6 dB.", stem="vocals", direction="decrease",
                    magnitude_db=(3.0, 6.0), no_adjustment=False, verdict="refuted",
                    note="the vocals sit inside the range")
    other = refuted.model_copy(update={"stem": "bass"})
    kw = dict(platform_label="Spotify", stems=["vocals"], model_used=True, notes=[], anchor="drums")
    text, _ = compose_review([], [refuted], judgement=j, **kw)
    assert "most likely reading" not in text
    text, led = compose_review([], [other], judgement=j, **kw)
    assert "the vocals are a little too loud" in text and "50%" in text and led.items


def test_agent_stems_fast_path_matches_the_full_review_with_stems(tmp_path):
    """agent-stems (the fast path) and agent-full-stems (whole reviews with the stem files) give
    the same balance sentence and the same norm answer."""
    from test_corpus import _write_folder_songs

    from mixingbuddy.evals.systems import get_system
    from mixingbuddy.model.data import corpus as C
    from mixingbuddy.model.listen import DEFAULT_WEIGHTS

    assert (Path(DEFAULT_WEIGHTS) / "weights.safetensors").is_file(), "the shipped model/weights/ is missing"
    songs = _write_folder_songs(tmp_path / "songs", 3, dur=2.0)
    out = tmp_path / "c"
    C.build_corpus("folder", songs, 10, out, seed=4, chunk_s=2.0, sr=SR, workers=1, progress=False,
                   per_chunk=2, splits=(0.0, 0.0, 1.0), keep_stems=("test",))
    rows = [r for r in C.read_manifest(out) if r["split"] == "test"][:3]
    assert rows
    fast, full = get_system("agent-stems"), get_system("agent-full-stems")
    fast.progress = full.progress = False
    fast.prepare(rows, out)
    full.prepare(rows, out)
    try:
        for r in rows:
            assert fast.advise(r, None, None) == full.advise(r, None, None), r["id"]
            assert fast.advise_norm(r) == full.advise_norm(r), r["id"]
    finally:
        full.close()


def test_the_answer_is_the_likeliest_stem_and_direction_then_size():
    post = {"no_error": 0.30, "quiet:vocals": 0.20, "very_quiet:vocals": 0.25, "loud:bass": 0.25}
    assert BJ.decide(post) == "very_quiet:vocals"  # vocals up holds 0.45
    assert BJ.group_of("very_loud:bass") == "bass-" and BJ.group_of("quiet:drums") == "drums+"
    assert BJ.decide({"no_error": 0.5, "loud:bass": 0.5}) == "no_error"  # ties: the earlier class
