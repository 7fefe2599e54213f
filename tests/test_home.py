"""A home that heals and stays bounded (issue 15), on real WAV files, the real graph and a real
SQLite database: inputs stored once (content-addressed blobs), ``mixingbuddy threads
list|delete|prune``, retention, the open-time sweep of reviews a ``kill -9`` cut short, follow-ups
a ``kill -9`` left unanswered, and the issue's crash list end to end through the console script."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import make_sine, write_av
from test_agent import render_song

from mixingbuddy.agent.api import NO_ANSWER, MixingBuddy
from mixingbuddy.agent.cli import threads_table
from mixingbuddy.tools.errors import InvalidArgumentError, MixingBuddyError

EXE = Path(sys.executable).parent / "mixingbuddy"
REPO = Path(__file__).resolve().parents[1]

# A child process that reviews (or asks) and parks inside the node ``stop_at`` until it is killed.
CHILD = r"""
import sys, time
from mixingbuddy.agent.api import MixingBuddy
home, mode, tid, mix, stems, stop_at = sys.argv[1:]
b = MixingBuddy(home, llm=None, use_model=False)
def hook(node, status):
    if node == stop_at and status == "started":
        print("PARKED", flush=True)
        time.sleep(600)
if mode == "review":
    b.review(mix, stems=stems, thread_id=tid, on_progress=hook)
else:
    b.ask(tid, "why?", on_progress=hook)
print("FINISHED", flush=True)
"""


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    return render_song(tmp_path_factory.mktemp("home_song"), vocals_db=-10.0)


def _open(home, **kw) -> MixingBuddy:
    return MixingBuddy(home, llm=None, use_model=False, **kw)


def _rows(home: Path, table: str, tid: str) -> int:
    with sqlite3.connect(home / "conversations.sqlite") as c:
        return c.execute(f"SELECT COUNT(*) FROM {table} WHERE thread_id = ?", (tid,)).fetchone()[0]


def _blobs(home: Path) -> list[Path]:
    d = home / "blobs"
    return sorted(p for p in d.iterdir() if not p.name.startswith(".")) if d.is_dir() else []


def _park_and_kill(home: Path, mode: str, tid: str, song: Path, stop_at: str, ready, meanwhile=None) -> None:
    """Run CHILD until it parks in node ``stop_at`` and ``ready()`` holds (what it wrote is on
    disk), call ``meanwhile()``, then ``kill -9`` it."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    p = subprocess.Popen([sys.executable, "-c", CHILD, str(home), mode, tid, str(song / "mix.wav"),
                          str(song / "stems"), stop_at], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
    try:
        line = p.stdout.readline()
        assert line.strip() == "PARKED", (line, p.stderr.read() if p.poll() is not None else "")
        deadline = time.time() + 60
        while not ready():
            assert time.time() < deadline, "the child never stored its step"
            time.sleep(0.05)
        if meanwhile is not None:
            meanwhile()
        os.kill(p.pid, signal.SIGKILL)
        assert p.wait(timeout=30) == -signal.SIGKILL
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()


# ----------------------------------------------------------------------------- content-addressed inputs

def test_inputs_are_stored_once_and_freed_with_the_last_reference(song, tmp_path):
    home = tmp_path / "home"
    with _open(home) as b:
        a = b.review(song / "mix.wav", stems=song / "stems")
        c = b.review(song / "mix.wav", stems=song / "stems")
        blobs = _blobs(home)
        assert len(blobs) == 5  # the mix and four stems, once for both conversations
        assert all(p.stat().st_nlink == 3 for p in blobs)  # the blob and one link per conversation
        stored = b.state(a.thread_id)["audio"]
        assert Path(stored["mix"]).name == "mix.wav" and Path(stored["mix"]).read_bytes() == (
            song / "mix.wav").read_bytes()
        assert os.path.samefile(stored["mix"], b.state(c.thread_id)["audio"]["mix"])
        by_id = {t.thread_id: t for t in b.thread_summaries()}
        assert by_id[a.thread_id].size_bytes > 5 * 1_000_000 and by_id[a.thread_id].frees_bytes == 0
        assert b.delete_thread(a.thread_id) == 0  # the other conversation still uses every blob
        assert len(_blobs(home)) == 5 and not (home / "threads" / a.thread_id).exists()
        assert b.ask(c.thread_id, "is it loud enough for Spotify?").answer  # its audio is intact
        assert b.thread_summaries()[0].frees_bytes == sum(p.stat().st_size for p in _blobs(home))
        assert b.delete_thread(c.thread_id) > 5 * 1_000_000
        assert _blobs(home) == [] and b.threads() == []
        for table in ("checkpoints", "writes", "mixingbuddy_threads"):
            assert _rows(home, table, a.thread_id) == 0 and _rows(home, table, c.thread_id) == 0


def test_a_home_with_per_thread_copies_and_no_index_keeps_working(song, tmp_path):
    """The layout before blobs: plain copies in the thread folder, no index table. It is read as
    it is (no migration), indexed at open from the checkpoints, and deleting it frees its copies."""
    home = tmp_path / "home"
    with _open(home) as b:
        rv = b.review(song / "mix.wav", stems=song / "stems")
        b.ask(rv.thread_id, "why?")
    for f in (home / "threads" / rv.thread_id).rglob("*.wav"):  # hard links -> independent copies
        data = f.read_bytes()
        f.unlink()
        f.write_bytes(data)
    for blob in _blobs(home):
        blob.unlink()
    with sqlite3.connect(home / "conversations.sqlite") as c:
        c.execute("DROP TABLE mixingbuddy_threads")
    with _open(home) as b:
        (t,) = b.thread_summaries()
        assert (t.thread_id, t.turns, t.status, t.title) == (rv.thread_id, 1, "done", "mix.wav")
        assert t.created_unix <= t.last_active_unix <= time.time()
        b.store.forget(rv.thread_id)  # re-read the copies from disk
        assert "LUFS" in b.ask(rv.thread_id, "is it loud enough for Spotify?").answer
        assert _blobs(home) == []  # nothing migrated
        assert b.delete_thread(rv.thread_id) == t.frees_bytes > 5 * 1_000_000


# ----------------------------------------------------------------------------- killed processes

def test_a_review_killed_mid_way_is_swept_at_the_next_start(song, tmp_path, caplog):
    home = tmp_path / "home"
    with _open(home) as b:
        keep = b.review(song / "mix.wav")  # a finished review beside the killed one stays
    tid = "killed-review"

    def stored() -> bool:
        return (home / "threads" / tid / "mix" / "mix.wav").exists() and _rows(home, "checkpoints", tid) >= 2

    def second_process_opens_the_home() -> None:  # and leaves the running review alone
        with _open(home) as other:
            assert other.notes == [] and tid in other.threads()
            assert {t.thread_id: t.status for t in other.thread_summaries()}[tid] == "reviewing"
            with pytest.raises(InvalidArgumentError, match="in use"):
                other.delete_thread(tid)

    _park_and_kill(home, "review", tid, song, "measure", stored, second_process_opens_the_home)
    assert len(_blobs(home)) == 5 and _rows(home, "checkpoints", tid) >= 2  # left behind by the kill
    with caplog.at_level("WARNING", logger="mixingbuddy.agent"), _open(home) as b:
        assert len(b.notes) == 1 and f"removed conversation {tid}" in b.notes[0] and "cut short" in b.notes[0]
        assert any(tid in r.getMessage() for r in caplog.records)  # the log line
        assert b.threads() == [keep.thread_id]
        assert [t.thread_id for t in b.thread_summaries()] == [keep.thread_id]
        assert not (home / "threads" / tid).exists() and not (home / "locks" / f"{tid}.lock").exists()
        assert _rows(home, "checkpoints", tid) == 0 and _rows(home, "writes", tid) == 0
        assert len(_blobs(home)) == 1  # the stems only the killed review used are gone; the mix stays
        again = b.review(song / "mix.wav", stems=song / "stems", thread_id=tid)  # the id is free again
        assert again.thread_id == tid
    with _open(home) as b:
        assert b.notes == []  # nothing left to heal


def test_a_follow_up_killed_mid_way_is_marked_unanswered(song, tmp_path):
    home = tmp_path / "home"
    tid = "killed-question"
    with _open(home) as b:
        b.review(song / "mix.wav", stems=song / "stems", thread_id=tid)
        b.ask(tid, "is it loud enough for Spotify?")
        before = b.history(tid)
    assert [m["role"] for m in before] == ["user", "assistant", "user", "assistant"]
    base = _rows(home, "checkpoints", tid)
    _park_and_kill(home, "ask", tid, song, "answer", lambda: _rows(home, "checkpoints", tid) >= base + 3)
    with _open(home) as b:
        assert b.notes == []  # a finished review is kept
        hist = b.history(tid)
        assert hist[:4] == before
        assert hist[4:] == [{"role": "user", "content": "why?"}, {"role": "assistant", "content": NO_ANSWER}]
        assert b.thread_summaries()[0].turns == 1  # the killed question was never answered
        turn = b.ask(tid, "what is the integrated loudness?")
        hist = b.history(tid)
        assert [m["content"] for m in hist[4:6]] == ["why?", NO_ANSWER]
        assert hist[6:] == [{"role": "user", "content": "what is the integrated loudness?"},
                            {"role": "assistant", "content": turn.answer}]
        assert "LUFS" in turn.answer and b.thread_summaries()[0].turns == 2


# ----------------------------------------------------------------------------- retention, the CLI

def test_retention_deletes_conversations_unused_for_longer_at_start(song, tmp_path, monkeypatch):
    home = tmp_path / "home"
    with _open(home) as b:
        old = b.review(song / "mix.wav", stems=song / "stems").thread_id
        new = b.review(song / "mix.wav").thread_id
    with sqlite3.connect(home / "conversations.sqlite") as c:  # last used three days ago
        c.execute("UPDATE mixingbuddy_threads SET last_active_unix = ? WHERE thread_id = ?",
                  (time.time() - 3 * 86_400, old))
    with _open(home) as b:  # default: keep everything
        assert b.retention_days is None and set(b.threads()) == {old, new}
    monkeypatch.setenv("MIXINGBUDDY_RETENTION_DAYS", "banana")
    with pytest.raises(InvalidArgumentError, match="MIXINGBUDDY_RETENTION_DAYS"):
        _open(home)
    monkeypatch.setenv("MIXINGBUDDY_RETENTION_DAYS", "7")
    with _open(home) as b:
        assert b.notes == [] and set(b.threads()) == {old, new}
    monkeypatch.setenv("MIXINGBUDDY_RETENTION_DAYS", "2")
    with _open(home) as b:
        assert len(b.notes) == 1 and "retention" in b.notes[0] and old in b.notes[0]
        assert b.threads() == [new] and not (home / "threads" / old).exists()
        assert len(_blobs(home)) == 1  # the stems went with the old conversation
    monkeypatch.delenv("MIXINGBUDDY_RETENTION_DAYS")
    with pytest.raises(InvalidArgumentError, match="retention_days"):
        _open(home, retention_days=-1)


def test_a_damaged_database_loses_no_audio_even_with_retention(song, tmp_path, monkeypatch):
    home = tmp_path / "home"
    with _open(home) as b:
        tid = b.review(song / "mix.wav").thread_id
    (home / "conversations.sqlite").write_bytes(b"not a database" * 100)
    os.utime(home / "threads" / tid, (time.time() - 30 * 86_400,) * 2)
    monkeypatch.setenv("MIXINGBUDDY_RETENTION_DAYS", "1")
    with _open(home) as b:
        assert len(b.notes) == 1 and "moved aside" in b.notes[0]
        (t,) = b.thread_summaries()
        assert (t.thread_id, t.status) == (tid, "audio_only") and t.size_bytes > 1_000_000
        assert (home / "threads" / tid / "mix" / "mix.wav").exists() and len(_blobs(home)) == 1
    with _open(home) as b:  # and not at the next start either
        assert b.notes == [] and (home / "threads" / tid / "mix" / "mix.wav").exists()
        assert b.prune(older_than_days=1) == [tid]  # an explicit prune may
        assert _blobs(home) == [] and b.thread_summaries() == []


def _cli(*argv, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(EXE), *map(str, argv), "--home", str(home)], capture_output=True, text=True,
                          timeout=300)


def _main(capsys, *argv, home: Path) -> tuple[int, str, str]:
    """The top-level CLI in this process (``mixingbuddy.cli.main``: the same parser and error
    lines as the console script, without its start-up time)."""
    from mixingbuddy.cli import main

    code = main([*map(str, argv), "--home", str(home)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_threads_list_delete_prune(song, tmp_path, capsys):
    home = tmp_path / "home"
    with _open(home) as b:
        ids = [b.review(song / "mix.wav", stems=song / "stems").thread_id for _ in range(3)]
        b.ask(ids[2], "why?")
    with sqlite3.connect(home / "conversations.sqlite") as c:
        for k, tid in enumerate(ids):  # ids[0] oldest, ids[2] newest
            c.execute("UPDATE mixingbuddy_threads SET last_active_unix = ? WHERE thread_id = ?",
                      (time.time() - (3 - k) * 10 * 86_400, tid))
    p = _cli("threads", "list", home=home)  # once through the console script
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split()[:3] == ["id", "created", "last"] and "mix" in lines[0]
    assert [ln.split()[0] for ln in lines[1:4]] == ids[::-1]  # most recent first
    assert " 8.6 MB " in lines[1] and "mix.wav" in lines[1] and lines[-1].startswith("3 conversation(s)")
    code, out, _ = _main(capsys, "threads", "list", "--json", home=home)
    data = json.loads(out)
    assert [d["thread_id"] for d in data] == ids[::-1] and [d["turns"] for d in data] == [1, 0, 0]
    assert all(d["size_bytes"] == 5 * 1_728_044 for d in data) and sum(d["frees_bytes"] for d in data) == 0

    code, out, _ = _main(capsys, "threads", "prune", "--older-than", "15", "--keep", "1", "--dry-run", home=home)
    assert code == 0 and out.strip() == f"would delete 2 conversation(s): {ids[1]}, {ids[0]}"
    code, out, _ = _main(capsys, "threads", "prune", "--older-than", "25", home=home)
    assert code == 0 and out.strip() == f"deleted 1 conversation(s): {ids[0]}"
    code, out, _ = _main(capsys, "threads", "delete", ids[1], home=home)
    assert code == 0 and out.strip() == "deleted 1 conversation(s), freed 0 B"
    code, out, _ = _main(capsys, "threads", "list", "--json", home=home)
    data = json.loads(out)
    assert [d["thread_id"] for d in data] == [ids[2]] and data[0]["frees_bytes"] == 5 * 1_728_044
    for argv, phrase in [(("threads", "delete", ids[0]), f"unknown conversation '{ids[0]}'"),
                         (("threads", "delete", "abc\n"), "thread id must be"),
                         (("threads", "prune"), "prune needs --older-than DAYS and/or --keep N")]:
        code, out, err = _main(capsys, *argv, home=home)
        assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith("error[invalid_argument]: ")
        assert phrase in err, err
    p = _cli("threads", "prune", "--keep", "0", "--json", home=home)
    assert p.returncode == 0 and json.loads(p.stdout) == {"deleted": [ids[2]]}
    assert _blobs(home) == [] and not any((home / "threads").iterdir())


def test_threads_table_shows_a_missing_title_and_sanitised_names():
    from mixingbuddy.agent.home import ThreadSummary

    now = time.time()
    text = threads_table([ThreadSummary("t1", now, now, "evil\nname.wav", 2, "done", 2_500_000, 0),
                          ThreadSummary("t2", now, now, None, 0, "audio_only", 999, 999)])
    lines = text.splitlines()
    assert len(lines) == 4 and lines[1].endswith("evil_name.wav") and "2.5 MB" in lines[1]
    assert lines[2].endswith("  -") and "999 B" in lines[2] and lines[3].endswith("999 B of audio")


# ----------------------------------------------------------------------------- the crash list

def _analyze(tmp_path, *argv) -> subprocess.CompletedProcess:
    return subprocess.run([str(EXE), "analyze", *map(str, argv)], capture_output=True, text=True,
                          timeout=300, cwd=str(tmp_path))


@pytest.mark.parametrize("left, right", [(0.5, 0.5), (0.5, -0.2)])
def test_dc_audio_is_measured_and_its_correlation_said_undefined(tmp_path, left, right):
    n = 48_000 * 3
    sf.write(tmp_path / "dc.wav", np.stack([np.full(n, left), np.full(n, right)], 1).astype(np.float32),
             48_000, subtype="FLOAT")
    p = _analyze(tmp_path, "dc.wav", "--json")
    assert p.returncode == 0, p.stderr
    st = json.loads(p.stdout)["stereo"]
    assert st["correlation"] is None and ("no correlation" in st["verdict"] or "undefined" in st["verdict"])
    # band contents of a constant signal are the analysis window's leakage: nothing is judged there
    assert all(g["correlation"] is None for g in st["regions"]) and st["low_end"]["status"] == "no_low_end"
    assert st["fold_down_loss_db"] is None and "out of phase" not in st["verdict"]


def test_crash_list_gives_one_line_errors(tmp_path):
    sr = 48_000
    x = make_sine(440, 2, sr, 0.5, 2)
    x[100, 0] = 1e30
    sf.write(tmp_path / "huge.wav", x, sr, subtype="FLOAT")
    sf.write(tmp_path / "short.wav", make_sine(440, 0.40, sr, 0.5, 2), sr)
    sf.write(tmp_path / "ok.wav", make_sine(440, 2, sr, 0.3, 2), sr)
    full = write_av(tmp_path / "full.mp3", make_sine(440, 2, 44_100, 0.3, 2), 44_100, codec="libmp3lame",
                    container="mp3")
    (tmp_path / "cut.mp3").write_bytes(full.read_bytes()[:300])
    cases = [(("huge.wav",), "samples_out_of_range", "huge.wav: has float samples up to 1e+30"),
             (("short.wav",), "too_short", "short.wav: is too short to measure: 0.40 s"),
             (("ok.wav", "--anchor", "bogus"), "invalid_argument", "--anchor"),
             (("cut.mp3",), "truncated_file", "cut.mp3: ")]
    for argv, code, phrase in cases:
        p = _analyze(tmp_path, *argv)
        err = p.stderr.strip()
        assert p.returncode == 2 and p.stdout == "" and "\n" not in err, (argv, p.stderr)
        assert err.startswith(f"error[{code}]: ") and phrase in err and "does not exist" not in err, err


def test_bad_thread_ids_and_stem_roles_are_one_line_errors_that_store_nothing(song, tmp_path):
    home = tmp_path / "home"
    with _open(home) as b:
        for bad in ("abc\n", "../x", "", "a" * 65):
            with pytest.raises(InvalidArgumentError, match="thread id") as e:
                b.review(song / "mix.wav", thread_id=bad)
            assert "\n" not in str(e.value)
        for roles in (["vocals"], "vocals", {"vocals.wav": 5}):
            with pytest.raises(MixingBuddyError) as e:
                b.review(song / "mix.wav", stems=sorted((song / "stems").glob("*.wav")), stem_roles=roles)
            assert "\n" not in str(e.value) and type(e.value).__name__ != "ValueError"
        assert b.threads() == [] and b.thread_summaries() == [] and _blobs(home) == []
        assert not (home / "threads").exists() or not any((home / "threads").iterdir())
