"""Corpus builder and multitrack readers, on tiny corpora the tests write themselves."""
from __future__ import annotations

import argparse
import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mixingbuddy.model.data import corpus as C
from mixingbuddy.model.data import sources as S
from mixingbuddy.model.data.templates import CATEGORIES, GAIN_RANGES_DB, STEMS
from mixingbuddy.tools.errors import InvalidArgumentError
from mixingbuddy.tools.io.audio import ALL_STEMS

SR = 16_000


def _song_stems(seed: int, dur: float, sr: int) -> dict[str, np.ndarray]:
    """Four simple stems with a song-specific balance (all active throughout)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(dur * sr)) / sr
    lv = 10 ** (rng.uniform(-5, 5, 4) / 20)
    bass = 0.25 * np.sin(2 * np.pi * rng.uniform(50, 90) * t)
    drums = 0.3 * rng.standard_normal(len(t)) * np.exp(-((t * 4) % 1) * 5)
    f0 = rng.uniform(180, 300)
    vox = 0.12 * sum(np.sin(2 * np.pi * f0 * h * t + 0.5 * np.sin(2 * np.pi * 5 * t)) / h for h in range(1, 4))
    other = 0.06 * sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0))
    out = {}
    for role, x, g in zip(("bass", "drums", "vocals", "other"), (bass, drums, vox, other), lv):
        y = (x * g).astype(np.float32)
        out[role] = np.stack([y, 0.9 * y], axis=1)
    return out


FILE_NAMES = {"bass": "Bass DI.wav", "drums": "Drums.wav", "vocals": "Lead Vox.wav", "other": "Keys.wav"}


def _write_folder_songs(root: Path, n_songs: int, dur: float = 3.0) -> Path:
    for i in range(n_songs):
        d = root / f"Song {i}'s take"  # apostrophe and space: ids must be sanitised for files
        d.mkdir(parents=True)
        for role, x in _song_stems(i, dur, SR).items():
            sf.write(d / FILE_NAMES[role], x, SR, subtype="PCM_16")
    return root


def _audio_hashes(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(sf.read(p, dtype="int16")[0].tobytes()).hexdigest()
            for p in sorted((out / "audio").rglob("*.flac"))}


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> Path:
    return _write_folder_songs(tmp_path_factory.mktemp("songs"), 6)


@pytest.fixture(scope="module")
def built(songs, tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus") / "c1"
    info = C.build_corpus("folder", songs, 1000, out, seed=3, chunk_s=1.0, sr=SR, workers=2, progress=False)
    return out, info


def test_manifest_rows_follow_the_contract(built):
    out, info = built
    rows = C.read_manifest(out)
    assert len(rows) == info["n_samples"] == 6 * 3 * 5  # 6 songs x 3 chunks x 5 per chunk
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert r["split"] in C.SPLITS and r["source"] == "folder" and r["style"] is None
        p = out / r["audio_path"]
        assert p.is_file() and p.resolve().is_relative_to(out.resolve())
        assert r["audio_path"] == f"audio/{r['split']}/{r['id']}.flac"
        x, sr = sf.read(p)
        assert sr == r["sr"] == SR and x.shape == (int(r["duration_s"] * SR), 2)
        assert set(r["true_levels"]) == set(r["original_levels"]) == {"bass", "drums", "vocals", "other"}
        pub = r["published"]
        assert r["anchor"] in STEMS and r["anchor"] in r["stems_present"]
        assert r["anchor"] in r["instruction"]
        lo, hi = GAIN_RANGES_DB[pub["category"]]
        assert lo <= pub["gain_db"] <= hi
        if pub["category"] == "no_error":
            assert pub["target"] is None and pub["direction"] is None and pub["gain_db"] == 0
        else:
            t = pub["target"]
            assert t in STEMS and t != r["anchor"] and t in r["response"]
            assert pub["direction"] == ("increase" if pub["gain_db"] < 0 else "decrease")
            moved = r["true_levels"][t]["vs_anchor_db"] - r["original_levels"][t]["vs_anchor_db"]
            assert moved == pytest.approx(pub["gain_db"], abs=0.1)
        n = r["norm"]
        assert n["label"] in ("balanced", *STEMS)
        if n["label"] == "balanced":
            assert n["direction"] is None and n["distance_db"] == 0
        else:
            assert n["direction"] in ("too_quiet", "too_loud") and n["distance_db"] > 0
            assert n["distance_db"] == max(v["distance_db"] for v in n["per_stem"].values())
        for s, v in n["per_stem"].items():
            assert v["level_vs_rest_db"] == pytest.approx(r["true_levels"][s]["vs_rest_db"], abs=0.01)
        # augmentation only on the training split
        assert (r["augment"] is not None) == (r["split"] == "train")
        if r["augment"]:
            assert -3 <= r["augment"]["gain_db"] <= 3 and abs(r["augment"]["dc_offset"]) <= 0.005


def test_categories_balanced_and_songs_in_one_split(built):
    out, _ = built
    rows = C.read_manifest(out)
    assert Counter(r["published"]["category"] for r in rows) == {c: len(rows) // 5 for c in CATEGORIES}
    split_of_song = {}
    for r in rows:
        assert split_of_song.setdefault(r["song_id"], r["split"]) == r["split"]
        assert r["split"] == C.split_of(3, r["song_id"])
    assert len(set(split_of_song.values())) >= 2
    targets = Counter(r["published"]["target"] for r in rows if r["published"]["target"])
    assert set(targets) == set(STEMS)
    summary = json.loads((out / C.CORPUS_JSON).read_text())
    assert summary["counts"]["category"] == {c: len(rows) // 5 for c in CATEGORIES}
    assert sum(summary["counts"]["split"].values()) == len(rows)


def test_deterministic_for_a_seed_whatever_the_workers(built, songs, tmp_path):
    out1, _ = built
    out2 = tmp_path / "c2"
    C.build_corpus("folder", songs, 1000, out2, seed=3, chunk_s=1.0, sr=SR, workers=1, progress=False)
    assert (out1 / C.MANIFEST).read_text() == (out2 / C.MANIFEST).read_text()
    assert _audio_hashes(out1) == _audio_hashes(out2)
    out3 = tmp_path / "c3"
    C.build_corpus("folder", songs, 1000, out3, seed=4, chunk_s=1.0, sr=SR, workers=1, progress=False)
    assert (out1 / C.MANIFEST).read_text() != (out3 / C.MANIFEST).read_text()


def test_resume_skips_finished_songs_and_gives_the_same_manifest(songs, tmp_path, monkeypatch):
    out = tmp_path / "c"
    C.build_corpus("folder", songs, 1000, out, seed=1, chunk_s=1.0, sr=SR, workers=1, progress=False)
    first = (out / C.MANIFEST).read_text()
    parts = sorted((out / C.PARTS).glob("*.jsonl"))
    assert len(parts) == 6
    # simulate a build killed after 4 songs: two parts, one audio file and the manifest gone
    for p in parts[:2]:
        p.unlink()
    next((out / "audio").rglob("*.flac")).unlink()
    (out / C.MANIFEST).unlink()
    calls = []
    real = C.load_song
    monkeypatch.setattr(C, "load_song", lambda ref, sr: calls.append(ref.song_id) or real(ref, sr))
    C.build_corpus("folder", songs, 1000, out, seed=1, chunk_s=1.0, sr=SR, workers=1, progress=False)
    assert (out / C.MANIFEST).read_text() == first
    assert 2 <= len(calls) <= 3  # the two songs without a part, plus the one missing audio
    with pytest.raises(InvalidArgumentError):  # other settings in the same folder
        C.build_corpus("folder", songs, 1000, out, seed=2, chunk_s=1.0, sr=SR, workers=1, progress=False)


def test_n_caps_the_corpus_with_exact_category_shares(songs, tmp_path):
    out = tmp_path / "c"
    info = C.build_corpus("folder", songs, 20, out, seed=0, chunk_s=1.0, sr=SR, workers=1, progress=False,
                          augment=False)
    rows = C.read_manifest(out)
    assert len(rows) == 20 and Counter(r["published"]["category"] for r in rows) == {c: 4 for c in CATEGORIES}
    assert all(r["augment"] is None for r in rows)
    on_disk = {str(p.relative_to(out)) for p in (out / "audio").rglob("*") if p.is_file()}
    assert on_disk == {r["audio_path"] for r in rows}  # no stray audio
    assert info["n_samples"] == 20


def test_quotas_and_splits_arithmetic():
    for n, splits in [(2000, (0.8, 0.1, 0.1)), (103, (0.8, 0.1, 0.1)), (7, (0.0, 0.0, 1.0)), (50, (1, 1, 2))]:
        q = C.quotas(n, splits)
        sizes = {s: sum(v.values()) for s, v in q.items()}
        assert sum(sizes.values()) == n
        for s, f in zip(C.SPLITS, splits):
            assert abs(sizes[s] - n * f / sum(splits)) < 1
            assert max(q[s].values()) - min(q[s].values()) <= 1
        per_cat = [sum(q[s][c] for s in C.SPLITS) for c in CATEGORIES]
        assert max(per_cat) - min(per_cat) <= 1
        if n % 5 == 0:
            assert len(set(per_cat)) == 1
    got = Counter(C.split_of(0, f"song {i}") for i in range(4000))
    assert abs(got["train"] / 4000 - 0.8) < 0.03 and abs(got["test"] / 4000 - 0.1) < 0.02
    assert C.split_of(0, "x") == C.split_of(0, "x")
    assert C.split_of(0, "x", (0, 0, 1)) == "test"


def test_song_key_is_safe_and_unique():
    a, b = C.song_key("Actions - Devil's Words"), C.song_key("Actions - Devil_s Words")
    assert a != b
    for k in (a, b, C.song_key("../../etc/passwd"), C.song_key("x" * 300)):
        assert "/" not in k and not k.startswith(".") and len(k) <= 57


def test_cli_parser_builds_a_corpus(songs, tmp_path, capsys):
    p = argparse.ArgumentParser(prog="mixingbuddy")
    sub = p.add_subparsers(dest="command", required=True)
    C.add_parser(sub)
    out = tmp_path / "cli"
    args = p.parse_args(["data", "build", "--source", "folder", str(songs), "--n", "10", "--out", str(out),
                         "--seed", "5", "--chunk-s", "1.5", "--per-chunk", "5", "--sr", str(SR),
                         "--splits", "0.5,0.25,0.25", "--workers", "1"])
    assert args.splits == (0.5, 0.25, 0.25)
    assert args.func(args) == 0
    assert "10 samples" in capsys.readouterr().out
    rows = C.read_manifest(out)
    assert len(rows) == 10 and all(r["duration_s"] == 1.5 for r in rows)
    with pytest.raises(SystemExit):
        p.parse_args(["data", "build", "--source", "folder", "--n", "10", "--out", "x", "--splits", "0.5,0.5"])


# --------------------------------------------------------------------------- readers

def test_musdb_reader_on_a_stem_mp4(tmp_path, av_writer):
    sr = 44_100
    stems = _song_stems(11, 2.0, sr)
    # equal RMS first, so that the stream gains (6 dB apart) tell the roles apart
    stems = {r: (x * (0.05 / np.sqrt(np.mean(x.astype(np.float64) ** 2)))).astype(np.float32) for r, x in stems.items()}
    amps = {"drums": 0.5, "bass": 1.0, "other": 0.25, "vocals": 2.0}
    order = ("drums", "bass", "other", "vocals")  # MUSDB18 streams 1..4
    signals = [stems[r] * amps[r] for r in order]
    mix = np.sum(signals, axis=0)
    d = tmp_path / "musdb" / "train"
    d.mkdir(parents=True)
    av_writer(d / "Artist - Song's Name.stem.mp4", [mix, *signals], sr)
    refs = S.list_songs("musdb", tmp_path / "musdb")
    assert [r.song_id for r in refs] == ["Artist - Song's Name"] and refs[0].source == "musdb"
    song = S.load_song(refs[0], sr)
    assert song.sr == sr and set(song.stems) == {"bass", "drums", "vocals", "other"}
    for role in order:
        got = song.stems[role]
        assert got.shape[1] == 2 and got.dtype == np.float32
        n = min(len(got), len(stems[role])) - 4096
        want_db = 20 * np.log10(np.sqrt(np.mean((stems[role][:n] * amps[role]) ** 2)))
        got_db = 20 * np.log10(np.sqrt(np.mean(got[:n].astype(np.float64) ** 2)))
        assert got_db == pytest.approx(want_db, abs=1.0), role
    assert [s.song_id for s in S.musdb_songs(tmp_path / "musdb")] == ["Artist - Song's Name"]


def test_musdb_hq_and_folder_readers_on_wav_folders(tmp_path):
    sr = 22_050
    stems = _song_stems(12, 1.5, sr)
    scale = {"bass": 1.0, "drums": 0.5, "vocals": 0.25, "other": 0.125}
    hq = tmp_path / "hq"
    for split, name in (("train", "Song A"), ("test", "Song B")):
        d = hq / split / name
        d.mkdir(parents=True)
        for role in ALL_STEMS:
            sf.write(d / f"{role}.wav", stems[role] * scale[role], sr, subtype="FLOAT")
        sf.write(d / "mixture.wav", sum(stems[r] * scale[r] for r in ALL_STEMS), sr, subtype="FLOAT")
    refs = S.list_songs("musdb", hq)  # no .stem.mp4: falls back to MUSDB18-HQ
    assert sorted(r.song_id for r in refs) == ["test/Song B", "train/Song A"]
    song = S.load_song(refs[0], sr)
    for role in ALL_STEMS:
        np.testing.assert_allclose(song.stems[role], stems[role] * scale[role], atol=1e-6)
    assert len(list(S.musdb_hq_songs(hq))) == 2
    # any folder of stems: roles from file names, missing roles are silence
    fold = tmp_path / "folder" / "My Song"
    fold.mkdir(parents=True)
    sf.write(fold / "808 sub.wav", stems["bass"], sr)
    sf.write(fold / "Lead Vox.wav", stems["vocals"], sr)
    sf.write(fold / "Mixdown.wav", stems["bass"] + stems["vocals"], sr)  # full mix: skipped
    got = list(S.folder_songs(tmp_path / "folder", sr))
    assert [g.song_id for g in got] == ["My Song"]
    np.testing.assert_allclose(got[0].stems["bass"], stems["bass"], atol=1e-4)
    np.testing.assert_allclose(got[0].stems["vocals"], stems["vocals"], atol=1e-4)
    assert not got[0].stems["drums"].any() and not got[0].stems["other"].any()


def test_synth_source_is_deterministic_with_quotas_per_split(tmp_path):
    kw = {"seed": 2, "chunk_s": 2.0, "song_s": 4.0, "sr": 16_000, "splits": (0.6, 0.2, 0.2), "progress": False}
    a = C.build_corpus("synth", None, 15, tmp_path / "a", workers=2, **kw)
    C.build_corpus("synth", None, 15, tmp_path / "b", workers=1, **kw)
    assert (tmp_path / "a" / C.MANIFEST).read_text() == (tmp_path / "b" / C.MANIFEST).read_text()
    assert _audio_hashes(tmp_path / "a") == _audio_hashes(tmp_path / "b")
    rows = C.read_manifest(tmp_path / "a")
    q = C.quotas(15, (0.6, 0.2, 0.2))
    for s in C.SPLITS:
        got = Counter(r["published"]["category"] for r in rows if r["split"] == s)
        assert {c: got.get(c, 0) for c in CATEGORIES} == q[s]
    assert Counter(r["published"]["category"] for r in rows) == {c: 3 for c in CATEGORIES}
    songs = {}
    for r in rows:
        assert r["source"] == "synth" and r["style"] and r["song_id"].startswith("synth-s2-")
        assert songs.setdefault(r["song_id"], r["split"]) == r["split"]
        assert r["duration_s"] == 2.0 and r["start_s"] in (0.0, 2.0)
    assert a["failed_songs"] == [] and a["n_samples"] == 15
    refs = S.synth_refs(14, seed=2)
    assert len({r.style for r in refs}) == len(S._styles())  # every style in turn
    assert [r.seed for r in refs] == [r.seed for r in S.synth_refs(14, seed=2)]
