"""The `mixingbuddy` command line end to end on real files the tests render."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import write_av

from mixingbuddy.cli import main
from mixingbuddy.model.data.demo_song import SongConfig, render_song

SR = 44_100


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    """A 12 s demo song whose vocals were pulled down 10 dB, as mix.wav + stems/."""
    d = tmp_path_factory.mktemp("song")
    mix, stems = render_song(SongConfig(duration_s=12.0, seed=3), gains_db={"vocals": -10.0})
    sf.write(d / "mix.wav", mix, SR, subtype="PCM_24")
    (d / "stems").mkdir()
    for role, x in stems.items():
        sf.write(d / "stems" / f"{role}.wav", x, SR, subtype="PCM_24")
    return d


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_analyze_text_report_has_every_section(song, capsys):
    code, out, err = run(capsys, "analyze", song / "mix.wav", "--stems", song / "stems",
                         "--anchor", "drums", "--platform", "spotify")
    assert code == 0, err
    for title in ("Loudness", "Dynamics", "Spectral balance", "Stereo image", "Stem balance",
                  "Masking"):
        assert f"== {title}" in out
    assert "Spotify" in out and "LUFS" in out


def test_analyze_json_flags_the_quiet_vocals(song, capsys):
    code, out, err = run(capsys, "analyze", song / "mix.wav", "--stems", song / "stems",
                         "--anchor", "drums", "--json")
    assert code == 0, err
    rep = json.loads(out)
    stems = {s["role"]: s for s in rep["stem_balance"]["stems"]}
    assert stems["vocals"]["status"] == "too_quiet"
    assert stems["vocals"]["suggested_gain_db"] > 0
    assert rep["mix_estimate"] is None and rep["masking"]["pairs"]
    # the numbers agree across tools: the stem sum is the mix, so loudness is consistent
    assert rep["loudness"]["integrated_lufs"] == pytest.approx(
        rep["stem_balance"]["mix_integrated_lufs"], abs=0.2)


def test_analyze_mix_only_uses_the_estimate(song, capsys):
    code, out, err = run(capsys, "analyze", song / "mix.wav", "--json")
    assert code == 0, err
    rep = json.loads(out)
    assert rep["stem_balance"] is None and rep["masking"] is None
    est = rep["mix_estimate"]
    assert est["is_estimate"] is True
    assert {s["role"] for s in est["stems"]} >= {"vocals", "drums", "bass"}


def test_explicit_stem_roles_and_reference(song, capsys):
    code, out, err = run(capsys, "analyze", song / "mix.wav",
                         "--stem", f"vocals={song / 'stems' / 'vocals.wav'}",
                         "--stem", f"drums={song / 'stems' / 'drums.wav'}",
                         "--reference", song / "stems" / "other.wav", "--json")
    assert code == 0, err
    rep = json.loads(out)
    assert sorted(s["role"] for s in rep["stem_balance"]["stems"]) == ["drums", "vocals"]
    ref = rep["reference_comparison"]
    assert ref["loudness_delta_lu"] == pytest.approx(
        ref["mix_integrated_lufs"] - ref["reference_integrated_lufs"], abs=0.02)


def test_stem_mp4_as_the_mix_brings_its_stems(tmp_path, capsys):
    mix, stems = render_song(SongConfig(duration_s=8.0, seed=5))
    order = [mix, stems["drums"], stems["bass"], stems["other"], stems["vocals"]]
    path = write_av(tmp_path / "song.stem.mp4", order, SR)
    code, out, err = run(capsys, "analyze", path, "--json")
    assert code == 0, err
    rep = json.loads(out)
    assert sorted(s["role"] for s in rep["stem_balance"]["stems"]) == ["bass", "drums", "other", "vocals"]


@pytest.mark.parametrize("argv, code_word", [
    (["analyze", "{empty}"], "empty_file"),
    (["analyze", "{text}"], "not_audio"),
    (["analyze", "{missing}"], "not_found"),
    (["analyze", "{silent}"], "silent_audio"),
    (["analyze", "{mix}", "--stems", "{stems}", "--anchor", "banjo"], "invalid_argument"),
    (["analyze", "{mix}", "--platform", "myspace"], "invalid_argument"),
    (["analyze", "{mix}", "--stem", "vocals"], "invalid_argument"),
    (["analyze", "{mix}", "--max-minutes", "0.05"], "too_long"),
    (["analyze", "{mix}", "--anchor", "bogus"], "invalid_argument"),  # an anchor needs stems
])
def test_bad_input_is_one_line_and_exit_2(song, tmp_path, capsys, argv, code_word):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.wav").write_text("these are my mix notes, not audio\n" * 20)
    sf.write(tmp_path / "silent.wav", np.zeros((48_000, 2), np.float32), 48_000)
    paths = {"empty": tmp_path / "empty.wav", "text": tmp_path / "notes.wav",
             "missing": tmp_path / "nope.wav", "silent": tmp_path / "silent.wav",
             "mix": song / "mix.wav", "stems": song / "stems"}
    code, out, err = run(capsys, *[a.format(**paths) for a in argv])
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error[{code_word}]: "), err
    assert "Traceback" not in err and out == ""


def test_console_script_never_prints_a_traceback(tmp_path):
    bad = tmp_path / "evil\nname;rm -rf.wav"
    bad.write_bytes(b"\x00" * 1000)
    exe = Path(sys.executable).parent / "mixingbuddy"
    p = subprocess.run([str(exe), "analyze", str(bad)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    assert p.stderr.strip().startswith("error[") and "\n" not in p.stderr.strip()


def test_demo_renders_and_analyses(tmp_path, capsys):
    code, out, err = run(capsys, "demo", "--seconds", "8", "--out", tmp_path / "demo")
    assert code == 0, err
    assert (tmp_path / "demo" / "mix.wav").exists()
    assert sorted(p.name for p in (tmp_path / "demo" / "stems").iterdir()) == [
        "bass.wav", "drums.wav", "other.wav", "vocals.wav"]
    assert "== Stem balance" in out
