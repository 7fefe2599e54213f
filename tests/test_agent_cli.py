"""`mixingbuddy review` and `mixingbuddy chat` (agent/cli.py) on real files, through the same
argparse wiring the top-level CLI uses (``add_review_parser`` / ``add_chat_parser``)."""
from __future__ import annotations

import argparse
import io
import json

import pytest
from test_agent import render_song

from mixingbuddy.agent.cli import add_chat_parser, add_review_parser
from mixingbuddy.tools.errors import MixingBuddyError


def run(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="mixingbuddy")
    sub = p.add_subparsers(dest="command", required=True)
    add_review_parser(sub)
    add_chat_parser(sub)
    args = p.parse_args([str(a) for a in argv])
    return args.func(args)


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    return render_song(tmp_path_factory.mktemp("cli_song"), vocals_db=-10.0)


def test_review_json_is_valid_json(song, tmp_path, capsys):
    code = run(["review", song / "mix.wav", "--stems", song / "stems", "--home", tmp_path / "home",
                "--json", "--no-model", "--thread", "cli-1"])
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads(out)
    assert data["thread_id"] == "cli-1" and data["source"] == "composer"
    assert any(f["id"] == "balance:vocals" for f in data["findings"])
    assert data["report"]["loudness"]["integrated_lufs"] is not None


def test_chat_reviews_then_answers_questions_from_stdin(song, tmp_path, capsys, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setattr("sys.stdin", io.StringIO("is it loud enough for Spotify?\n\nquit\nwhy?\n"))
    assert run(["chat", song / "mix.wav", "--stems", song / "stems", "--home", home, "--no-model",
                "--thread", "c1"]) == 0
    out = capsys.readouterr().out
    assert "MixingBuddy review" in out and "LUFS" in out
    assert "How this is measured" not in out  # "why?" came after "quit"
    # continue the stored conversation by id, without the mix
    monkeypatch.setattr("sys.stdin", io.StringIO("why?\n"))
    assert run(["chat", "--thread", "c1", "--home", home, "--no-model"]) == 0
    assert "How this is measured" in capsys.readouterr().out


def test_chat_on_an_unknown_thread_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(MixingBuddyError, match="unknown conversation"):
        run(["chat", "--thread", "missing", "--home", tmp_path / "home", "--no-model"])


def test_threads_list_and_delete_see_what_chat_stored(song, tmp_path, capsys, monkeypatch):
    from mixingbuddy.agent.cli import add_threads_parser

    def threads(*argv) -> str:
        p = argparse.ArgumentParser(prog="mixingbuddy")
        add_threads_parser(p.add_subparsers(dest="command", required=True))
        args = p.parse_args(["threads", *map(str, argv), "--home", str(tmp_path / "home")])
        assert args.func(args) == 0
        return capsys.readouterr().out

    monkeypatch.setattr("sys.stdin", io.StringIO("why?\nis it loud enough for Spotify?\n"))
    assert run(["chat", song / "mix.wav", "--stems", song / "stems", "--home", tmp_path / "home", "--no-model",
                "--thread", "t1"]) == 0
    capsys.readouterr()
    (row,) = json.loads(threads("list", "--json"))
    assert (row["thread_id"], row["turns"], row["status"], row["title"]) == ("t1", 2, "done", "mix.wav")
    assert row["size_bytes"] == sum(f.stat().st_size for f in [song / "mix.wav", *(song / "stems").iterdir()])
    assert threads("delete", "t1").strip().startswith("deleted 1 conversation(s), freed ")
    assert json.loads(threads("list", "--json")) == []
    with pytest.raises(MixingBuddyError, match="unknown conversation"):
        run(["chat", "--thread", "t1", "--home", tmp_path / "home", "--no-model"])
