"""ui.chat and ui.conversations: what dropped files are taken as, the folded review, the progress
lines, the browser's list of conversations and the keys that bind them; the app's temp-folder
sweep and Host check."""
from __future__ import annotations

import os
import subprocess
import sys

from mixingbuddy.ui import app as ui_app
from mixingbuddy.ui.chat import NONE, assign_files, echo_text, fold_review, messages_from_history, step_lines
from mixingbuddy.ui.conversations import (
    TokenBook,
    book_choices,
    book_forget,
    book_put,
    book_rename,
    browser_secret,
    new_book,
)

REVIEW = """**MixingBuddy review** (stems: vocals, drums, bass, other; target: Spotify)

Most important: **vocals too quiet**.

### What to fix
- [worth fixing] **Vocals too quiet**: The vocals sit at -12.7 dB against the rest. *Do this:* Raise the vocals by 4.4-7.9 dB.
- [minor] **True peak above the streaming ceiling**: True peak -0.9 dBTP. *Do this:* Lower the ceiling by 0.1 dB.
- [minor] **Quieter than Spotify plays music**: Integrated loudness is -16.5 LUFS. *Do this:* Raise the level by about 2.5 dB.
- [minor] **Tonal balance slightly off**: The air region is at +7.0 dB. *Do this:* Cut the air a little.

### What is already fine
- **No clipping**: No run of samples stuck at the peak level.
- **Stereo image**: Correlation +0.77.

### Notes
- Audio model switched off
"""


def test_files_are_taken_by_name_and_corrected_by_the_user():
    a = assign_files(["/u/Song Mix.wav", "/u/Lead Vox.wav", "/u/Kick.wav", "/u/808.wav", "/u/pads.wav",
                      "/u/ref - Artist.flac"])
    assert a.mix == "Song Mix.wav" and a.reference == "ref - Artist.flac"
    assert a.stems == ["Lead Vox.wav", "Kick.wav", "808.wav", "pads.wav"]
    assert a.roles == {"Lead Vox.wav": "vocals", "Kick.wav": "drums", "808.wav": "bass", "pads.wav": "other"}
    assert "Lead Vox.wav: the vocals stem" in a.lines() and "ref - Artist.flac: the reference track" in a.lines()
    # two plain files: the first is the mix, the second the reference; the user may swap them
    b = assign_files(["take3.wav", "favourite.wav"])
    assert (b.mix, b.reference, b.stems) == ("take3.wav", "favourite.wav", [])
    c = assign_files(["take3.wav", "favourite.wav"], mix="favourite.wav", reference="take3.wav")
    assert (c.mix, c.reference) == ("favourite.wav", "take3.wav")
    d = assign_files(["take3.wav", "favourite.wav"], reference=NONE)  # "no reference": a stem then
    assert (d.mix, d.reference, d.stems) == ("take3.wav", None, ["favourite.wav"])
    e = assign_files(["song.stem.mp4"])
    assert e.mix == "song.stem.mp4" and "its streams give the stems" in e.lines()[0]
    assert assign_files(["mix.wav", "stems.zip"]).stems == ["stems.zip"]
    assert echo_text("", ["/a/mix.wav"]) == "Review my mix (files: mix.wav)"
    assert echo_text("  is it   loud? ", []) == "is it loud?"


def test_review_folds_into_a_lead_and_sections():
    msgs = fold_review(REVIEW)
    lead = msgs[0]["content"]
    assert "metadata" not in msgs[0]
    assert lead.startswith("**MixingBuddy review**") and "**What to fix, first:**" in lead
    items = [ln for ln in lead.splitlines() if ln[:2] in ("1.", "2.", "3.", "4.")]
    assert items == ["1. **Vocals too quiet**: Raise the vocals by 4.4-7.9 dB.",
                     "2. **True peak above the streaming ceiling**: Lower the ceiling by 0.1 dB.",
                     "3. **Quieter than Spotify plays music**: Raise the level by about 2.5 dB."]
    titles = [m["metadata"]["title"] for m in msgs[1:]]
    assert titles == ["What to fix: all 4, with the measurements", "What is already fine (2)", "Notes (1)"]
    assert all(m["metadata"]["status"] == "done" for m in msgs[1:])  # folded
    assert "Cut the air a little" in msgs[1]["content"] and "Correlation +0.77" in msgs[2]["content"]
    # a fix whose move has no number leads with its measurement (whole, brackets included)
    clip = fold_review("### What to fix\n- [fix first] **Clipping**: 44 runs clipped (310 samples; longest run 44"
                       " samples). More. *Do this:* Pull the master down.\n")
    assert "1. **Clipping**: 44 runs clipped (310 samples; longest run 44 samples). Pull the master down." in \
        clip[0]["content"]
    assert fold_review("Plain prose from a language model.") == [
        {"role": "assistant", "content": "Plain prose from a language model."}]
    hist = [{"role": "user", "content": "Review my mix"}, {"role": "assistant", "content": REVIEW},
            {"role": "user", "content": "why?"}, {"role": "assistant", "content": "### Because\n- x"}]
    chat = messages_from_history(hist)
    assert chat[0]["role"] == "user" and len(chat) == 1 + len(msgs) + 2
    assert chat[-1]["content"] == "### Because\n- x"  # only the review is folded


def test_progress_lines_each_step_with_its_time():
    body = step_lines({"ingest": "done (0.21 s)", "measure": "started", "listen": "failed"}, 1.25)
    assert body.splitlines()[:3] == ["- ingest: done (0.21 s)", "- measure: running...", "- listen: failed"]
    assert body.endswith("1.2 s so far") or body.endswith("1.3 s so far")


def test_conversation_keys_and_the_browser_list(tmp_path):
    tokens = TokenBook(tmp_path)
    tok = tokens.issue("t1")
    assert tokens.check("t1", tok) and not tokens.check("t1", tok + "x") and not tokens.check("t1", None)
    assert not tokens.check("t2", tok)
    assert tok not in (tmp_path / "ui-tokens.json").read_text()  # only its digest is stored
    assert oct((tmp_path / "ui-tokens.json").stat().st_mode & 0o777) == "0o600"
    assert TokenBook(tmp_path).check("t1", tok)  # survives a restart
    tokens.forget("t1")
    assert not tokens.check("t1", tok)
    assert browser_secret(tmp_path) == browser_secret(tmp_path) and len(browser_secret(tmp_path)) >= 32

    book = book_put(None, "t1", "k1", title="mix.wav")
    book = book_put(book, "t2", "k2", title="other.wav")
    assert [i["id"] for i in book["items"]] == ["t2", "t1"] and book["current"] == "t2"
    book = book_put(book, "t1")  # reopened: first again, its key kept
    assert book["items"][0] == {**book["items"][0], "id": "t1", "token": "k1", "title": "mix.wav"}
    book = book_rename(book, "t1", "  first   song ")
    assert book_choices(book)[0][0].startswith("first song · ") and book_choices(book)[0][1] == "t1"
    book = book_forget(book, "t1")
    assert [i["id"] for i in book["items"]] == ["t2"] and book["current"] is None
    assert new_book({"items": [{"id": 3}, "junk", {"id": "ok", "token": "k"}], "current": "gone"}) == {
        "items": [{"id": "ok", "title": "ok", "token": "k", "t": 0.0}], "current": None}


def test_sweep_removes_folders_of_dead_app_processes(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone, alive, keep, other = (tmp_path / f"mixingbuddy-ui-{k}" for k in ("gone", "alive", "keep", "other"))
    for d, pid in ((gone, dead.stdout.strip()), (alive, str(os.getppid())), (keep, dead.stdout.strip())):
        d.mkdir()
        (d / "owner.pid").write_text(pid)
        (d / "after.wav").write_bytes(b"x")
    other.mkdir()  # no owner file: not ours to remove
    assert ui_app.sweep_work_roots(tmp_path, keep=keep) == 1
    assert not gone.exists() and alive.exists() and keep.exists() and other.exists()


def test_host_header_is_checked(tmp_path):
    import httpx

    from mixingbuddy.agent import api

    demo = ui_app.serve(api.MixingBuddy(tmp_path / "home", llm=None, use_model=False), port=0, block=False,
                        quiet=True, config=ui_app.AppConfig(work_root=tmp_path / "work"))
    try:
        url = demo.local_url.rstrip("/")
        port = url.rsplit(":", 1)[1]
        assert httpx.get(url + "/", timeout=10).status_code == 200
        assert httpx.get(url + "/", headers={"Host": f"localhost:{port}"}, timeout=10).status_code == 200
        assert httpx.get(url + "/", headers={"Host": f"attacker.example:{port}"}, timeout=10).status_code == 400
    finally:
        demo.close()
    assert ui_app._host_middleware("0.0.0.0", None) == []
    assert ui_app._host_middleware("0.0.0.0", ["studio.lan"])[0].kwargs["allowed_hosts"] == ["studio.lan"]
