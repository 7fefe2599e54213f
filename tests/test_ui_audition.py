"""ui.audition: apply per-stem gains to real stems, render before/after, re-measure."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from mixingbuddy.agent.balance_moves import solve_moves
from mixingbuddy.agent.spectrum_after_moves import suggested_gains_db
from mixingbuddy.tools.errors import InvalidArgumentError
from mixingbuddy.tools.io.ingest import load_mix_and_stems
from mixingbuddy.tools.measure.analyze import analyze
from mixingbuddy.tools.measure.loudness import integrated_loudness_lufs, true_peak_dbtp
from mixingbuddy.ui.audition import (
    audition,
    audition_markdown,
    check_gains,
    stems_from_audio_record,
    suggested_gains,
)

SR = 44_100


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    """A 6 s demo song with the vocals 9 dB too low, as files, decoded with ingest."""
    from mixingbuddy.model.data.demo_song import SongConfig, render_song

    d = tmp_path_factory.mktemp("song")
    mix, stems = render_song(SongConfig(duration_s=6.0, seed=5), gains_db={"vocals": -9.0})
    sf.write(d / "mix.wav", mix, SR, subtype="PCM_24")
    (d / "stems").mkdir()
    for role, x in stems.items():
        sf.write(d / "stems" / f"{role}.wav", x, SR, subtype="PCM_24")
    m, s = load_mix_and_stems(d / "mix.wav", d / "stems")
    return {"dir": d, "mix": m, "stems": s}


def test_raising_a_stem_6_db_measures_6_db_higher(song, tmp_path):
    res = audition(song["stems"], {"vocals": 6.0}, tmp_path, anchor="drums")
    assert res.delta_db("vocals") == pytest.approx(6.0, abs=0.15)
    # the rest of the mix got louder, so every other stem now sits lower against it
    for other in ("drums", "bass", "other"):
        assert res.delta_db(other) < -0.1
    assert res.gains_db == {"drums": 0.0, "bass": 0.0, "other": 0.0, "vocals": 6.0}
    assert res.after.integrated_lufs > res.before.integrated_lufs


def test_playback_files_are_playable_and_loudness_matched(song, tmp_path):
    res = audition(song["stems"], {"vocals": 6.0, "other": -2.0}, tmp_path)
    lufs = {}
    for key in ("before_wav", "after_wav"):
        x, sr = sf.read(getattr(res, key), dtype="float32")
        assert sr == song["stems"].sr and x.shape[1] == 2
        assert x.shape[0] == song["stems"].stems["vocals"].n_samples
        assert true_peak_dbtp(x, sr) <= -1.0 + 0.05  # peak-safe
        lufs[key] = integrated_loudness_lufs(x, sr)
    assert lufs["before_wav"] == pytest.approx(lufs["after_wav"], abs=0.2)
    assert res.playback_true_peak_dbtp <= -1.0 + 1e-6
    # files of one audition live in their own folder under out_dir
    assert res.before_wav.startswith(str(tmp_path)) and res.before_wav != res.after_wav
    md = audition_markdown(res)
    assert "| vocals | +6.0 dB |" in md and "LUFS" in md


def test_gains_that_would_clip_are_reported_and_trimmed(song, tmp_path):
    res = audition(song["stems"], {"drums": 18.0}, tmp_path)
    assert res.after.true_peak_dbtp > 0.0 and res.would_clip
    assert any("true peak" in n and "pull the master" in n for n in res.notes)
    x, sr = sf.read(res.after_wav, dtype="float32")
    assert np.abs(x).max() < 1.0  # not clipped in the file
    assert true_peak_dbtp(x, sr) <= -1.0 + 0.05


def test_suggested_gains_come_from_the_balance_measurement(song, tmp_path):
    report = analyze(song["mix"], song["stems"], anchor="drums")
    gains = suggested_gains(report.model_dump())
    vocals = next(s for s in report.stem_balance.stems if s.name == "vocals")
    assert vocals.status == "too_quiet"
    # the joint solution's move, at the middle of its range, as the agent offers it
    sol = solve_moves(report.stem_balance, anchor="drums")
    move = next(m for m in sol.moves if m.stem == "vocals")
    assert gains["vocals"] == pytest.approx((move.gain_db + move.gain_max_db) / 2, abs=0.05)
    assert gains == {**{s.name: 0.0 for s in report.stem_balance.stems}, **suggested_gains_db(sol)}
    assert suggested_gains(report, stem="vocals") == {**{s.name: 0.0 for s in report.stem_balance.stems},
                                                      "vocals": gains["vocals"]}
    assert gains["vocals"] > 0 and gains["drums"] == 0.0  # the anchor is not moved when others can be
    assert set(gains) == {s.name for s in report.stem_balance.stems}
    # applying the prefilled moves lands every stem inside the professional range (re-measured)
    res = audition(song["stems"], gains, tmp_path, anchor="drums")
    assert all(s.status == "within_range" for s in res.after.stems), [(s.name, s.status) for s in res.after.stems]
    assert suggested_gains({"stem_balance": None}) == {}


def test_bad_gains_refused(song, tmp_path):
    with pytest.raises(InvalidArgumentError, match="no stem named 'piano'"):
        audition(song["stems"], {"piano": 3.0}, tmp_path)
    with pytest.raises(InvalidArgumentError, match="beyond"):
        check_gains(song["stems"], {"vocals": 40.0})
    with pytest.raises(InvalidArgumentError, match="number"):
        check_gains(song["stems"], {"vocals": float("nan")})
    with pytest.raises(InvalidArgumentError, match="needs the stems"):
        audition(None, {}, tmp_path)
    with pytest.raises(InvalidArgumentError, match="platform"):
        audition(song["stems"], {}, tmp_path, platform="napster")


def test_stems_from_a_stored_audio_record(song):
    d = song["dir"]
    stems = stems_from_audio_record({"mix": str(d / "mix.wav"),
                                     "stems": [str(p) for p in sorted((d / "stems").iterdir())],
                                     "stem_roles": {}, "stems_container": None})
    assert sorted(stems.roles) == ["bass", "drums", "other", "vocals"]
    with pytest.raises(InvalidArgumentError, match="only the mix"):
        stems_from_audio_record({"mix": str(d / "mix.wav"), "stems": []})
    with pytest.raises(InvalidArgumentError):
        stems_from_audio_record({})


def test_chat_what_if_and_audition_show_the_same_numbers(song, tmp_path):
    """The chat's what-if and the app's audition apply one move the same way and show the same
    before and after stem levels and loudness (one implementation, one quantity)."""
    from mixingbuddy.agent.whatif import simulate_gain
    from mixingbuddy.tools.registry import AudioContext

    ctx = AudioContext(mix=song["mix"], stems=song["stems"])
    chat = simulate_gain(ctx, "vocals", 4.5, anchor="drums")
    app = audition(song["stems"], {"vocals": 4.5}, tmp_path, anchor="drums")
    for side, nums in (("before", app.before), ("after", app.after)):
        assert chat[side]["mix"]["integrated_lufs"] == nums.integrated_lufs
        assert chat[side]["mix"]["true_peak_dbtp"] == nums.true_peak_dbtp
        for st in nums.stems:
            assert chat[side]["stems"][st.name]["level_vs_rest_db"] == st.level_vs_rest_db, (side, st.name)


@pytest.fixture(scope="module")
def long_song(tmp_path_factory):
    """A 90 s mix with a master residual and its stems, decoded in memory and through the spool
    (tests/test_long_files.py), with the master residual of each as ``ui.app`` gets it."""
    from test_long_files import load_twice, write_song_with_master

    from mixingbuddy.agent.whatif import master_residual

    plain, long = load_twice(*write_song_with_master(tmp_path_factory.mktemp("long")))
    return {"plain": (*plain, *master_residual(*plain)), "long": (*long, *master_residual(*long))}


def test_long_stems_audition_plays_the_loudest_windows(long_song, tmp_path):
    """Long (spooled) stems: the numbers next to the players are the in-memory audition's for
    loudness, peaks and the playback gains (the whole song's, block by block); the stem levels
    are measured on the mix's loudest windows (the review's), and the players hold those windows
    of the in-memory before/after files, joined, sample for sample."""
    from test_long_files import _windows_cut

    from mixingbuddy.agent.whatif import MasterResidual
    from mixingbuddy.tools.measure import long_mix
    from mixingbuddy.tools.measure.stem_balance import measure_stem_balance

    (pm, ps, pr, pk), (lm, ls, lr, lk) = long_song["plain"], long_song["long"]
    assert pk == lk == "master" and isinstance(lr, MasterResidual)
    gains = {"vocals": 4.0, "drums": -1.0}
    ref = audition(ps, gains, tmp_path / "plain", anchor="drums", residual=pr, residual_kind=pk)
    got = audition(ls, gains, tmp_path / "long", anchor="drums", residual=lr, residual_kind=lk)
    for side in ("before", "after"):
        a, b = getattr(ref, side), getattr(got, side)
        for key in ("integrated_lufs", "loudness_range_lu", "true_peak_dbtp", "sample_peak_dbfs",
                    "platform_delta_lu"):
            assert getattr(b, key) == getattr(a, key), (side, key)
    assert (got.match_gain_db, got.playback_trim_db, got.playback_true_peak_dbtp, got.would_clip) == \
        (ref.match_gain_db, ref.playback_trim_db, ref.playback_true_peak_dbtp, ref.would_clip)
    spans = long_mix.stem_window_spans(pm.samples, 48_000, pm.n_samples)
    for side, g in (("before", {}), ("after", gains)):
        expected = measure_stem_balance(_windows_cut(ps, spans, g), 48_000, anchor="drums")
        shown = {s.name: s.level_vs_rest_db for s in getattr(got, side).stems}
        assert shown == {s.name: s.level_vs_rest_power_sum_db for s in expected.stems}, side
    assert any("loudest" in n and "whole song" in n for n in got.notes)
    for key in ("before_wav", "after_wav"):
        full, sr = sf.read(getattr(ref, key), dtype="int16")
        clip, sr_clip = sf.read(getattr(got, key), dtype="int16")
        assert sr == sr_clip == 48_000
        np.testing.assert_array_equal(clip, np.concatenate([full[lo:hi] for lo, hi in spans]))
    assert clip.shape[0] == sum(hi - lo for lo, hi in spans) < full.shape[0]
    # without the mix (ui.app passes the residual), the windows come from the residual's mix: the same
    again = audition(ls, gains, tmp_path / "again", anchor="drums", residual=lr, residual_kind=lk, mix=lm)
    assert again.after == got.after
