"""``mixingbuddy review`` and ``mixingbuddy chat``: the agent in the terminal.

    mixingbuddy review MIX [--stems PATH ...] [--stem ROLE=PATH ...] [--anchor STEM]
                           [--reference FILE] [--platform spotify] [--genre G] [--json] [--home DIR]
    mixingbuddy chat MIX ... [--thread ID]     (review, then questions from stdin until EOF or "quit")
    mixingbuddy chat --thread ID               (continue a stored conversation)
    mixingbuddy threads list [--json] | delete ID ... | prune [--older-than DAYS] [--keep N]

Progress goes to stderr, answers to stdout.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

__all__ = ["add_chat_parser", "add_review_parser", "add_threads_parser", "cmd_chat", "cmd_review", "cmd_threads"]

QUIT_WORDS = {"quit", "exit", "q", ":q", "bye"}
PLATFORMS = ("spotify", "apple_music", "youtube", "amazon_music", "deezer", "tidal", "ebu_r128")


def _progress(quiet: bool):
    if quiet:
        return None

    def show(node: str, status: str) -> None:
        if status != "started":
            print(f"  {node}: {status}", file=sys.stderr, flush=True)
    return show


def _stems_and_roles(args) -> tuple[list[str] | None, dict[str, str]]:
    from mixingbuddy.tools.errors import InvalidArgumentError

    stems = list(args.stems or [])
    roles: dict[str, str] = {}
    for item in args.stem or []:
        role, sep, path = item.partition("=")
        if not sep or not role.strip() or not path:
            raise InvalidArgumentError(f"--stem expects ROLE=PATH, got {item!r}")
        stems.append(path)
        roles[Path(path).name] = role.strip().lower()
    if args.stem and args.stems:
        raise InvalidArgumentError("use either --stems or --stem ROLE=PATH, not both")
    return (stems or None), roles


def _buddy(args):
    from mixingbuddy.agent.api import MixingBuddy

    buddy = MixingBuddy(args.home, weights=getattr(args, "weights", None),
                        use_model=not getattr(args, "no_model", True),
                        separate=False if getattr(args, "no_separate", False) else None)
    for note in buddy.notes:  # what opening the home repaired or deleted
        print(f"note: {note}", file=sys.stderr)
    return buddy


def _review(buddy, args):
    stems, roles = _stems_and_roles(args)
    return buddy.review(args.mix, stems=stems, stem_roles=roles or None, reference=args.reference,
                        anchor=args.anchor, platform=args.platform, genre=args.genre,
                        thread_id=args.thread, on_progress=_progress(args.json),
                        max_duration_s=args.max_minutes * 60.0)


def cmd_review(args) -> int:
    with _buddy(args) as buddy:
        rv = _review(buddy, args)
    if args.json:
        print(rv.model_dump_json(indent=2))
    else:
        print(rv.answer)
        print(f"(conversation {rv.thread_id}: continue it with `mixingbuddy chat --thread {rv.thread_id}`)",
              file=sys.stderr)
    return 0


def cmd_chat(args) -> int:
    import threading

    from mixingbuddy.tools.errors import InvalidArgumentError, MixingBuddyError

    from .intents import get_router

    interactive = sys.stdin.isatty()
    # the follow-up router is fitted while the review runs or the user types, not in the first answer's time
    threading.Thread(target=get_router, name="mixingbuddy-router", daemon=True).start()
    with _buddy(args) as buddy:
        if args.mix is None:
            if not args.thread:
                raise InvalidArgumentError("give a MIX to review, or --thread ID to continue a conversation")
            tid = args.thread
            buddy.state(tid)  # unknown thread -> clear error
            print(f"(continuing conversation {tid})", file=sys.stderr)
        else:
            rv = _review(buddy, args)
            tid = rv.thread_id
            print(rv.answer, flush=True)
            print(f"(conversation {tid}; ask a question, or 'quit')", file=sys.stderr)
        while True:
            if interactive:
                print("you> ", end="", file=sys.stderr, flush=True)
            line = sys.stdin.readline()
            if not line:
                break
            q = line.strip()
            if not q:
                continue
            if q.lower() in QUIT_WORDS:
                break
            try:
                turn = buddy.ask(tid, q, on_progress=None)
            except MixingBuddyError as e:  # one bad question never ends the chat
                print(f"error[{e.code}]: {e}", file=sys.stderr, flush=True)
                continue
            print(turn.answer, flush=True)
    return 0


def _common(p: argparse.ArgumentParser, mix_optional: bool) -> None:
    if mix_optional:
        p.add_argument("mix", nargs="?", help="the mix (omit with --thread to continue a conversation)")
    else:
        p.add_argument("mix", help="the mix (wav, flac, ogg, aiff, mp3, m4a, or a MUSDB18 .stem.mp4)")
    p.add_argument("--stems", nargs="+", metavar="PATH",
                   help="stem files, or one folder / .stem.mp4; roles from file names")
    p.add_argument("--stem", metavar="ROLE=PATH", action="append", default=[],
                   help="one stem with its role (vocals, drums, bass, other); repeat")
    p.add_argument("--anchor", choices=["vocals", "drums", "bass", "other"],
                   help="stem assumed correctly balanced (default: vocals, else drums)")
    p.add_argument("--reference", metavar="FILE", help="a reference track to compare against")
    p.add_argument("--platform", default="spotify", choices=PLATFORMS, help="target platform (default spotify)")
    p.add_argument("--genre", help="genre of the song (kept with the conversation)")
    p.add_argument("--home", metavar="DIR",
                   help="where conversations are stored (default $MIXINGBUDDY_HOME or ~/.mixingbuddy)")
    p.add_argument("--thread", metavar="ID", help="conversation id (new review: its id; chat: continue it)")
    p.add_argument("--weights", metavar="DIR", help="audio-model folder (default: the shipped model/weights/)")
    p.add_argument("--no-model", action="store_true", help="measurements only, without the audio model")
    p.add_argument("--no-separate", action="store_true",
                   help="without stems, do not separate the mix (HT-Demucs; on when its weights are installed, "
                        "personal and research use only); stem levels are then estimated from the mix alone")
    p.add_argument("--max-minutes", type=float, default=20.0, help="refuse files longer than this (default 20)")


def add_review_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``review`` to the ``mixingbuddy`` sub-commands.

    Wired into ``mixingbuddy/cli.py`` as a lazy sub-command (as is :func:`add_chat_parser`); the
    agent (LangGraph, the model) is imported only when a command runs."""
    p = subparsers.add_parser("review", help="review a mix: verified, measured advice")
    _common(p, mix_optional=False)
    p.add_argument("--json", action="store_true", help="print the whole review (findings, claims, report) as JSON")
    p.set_defaults(func=cmd_review)
    return p


def add_chat_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``chat`` to the ``mixingbuddy`` sub-commands."""
    p = subparsers.add_parser("chat", help="review a mix, then ask follow-up questions (stdin)")
    _common(p, mix_optional=True)
    p.set_defaults(func=cmd_chat, json=False)
    return p


def _size(n_bytes: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes} B"


def _when(unix_s: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(unix_s))


def threads_table(summaries) -> str:
    """The human table of ``threads list``: one line per conversation, most recent first."""
    from mixingbuddy.tools.errors import sanitize_name

    head = f"{'id':<18} {'created':<16}  {'last active':<16}  {'turns':>5}  {'size':>9}  {'frees':>9}  {'status':<10}  mix"
    lines = [head]
    for t in summaries:
        title = sanitize_name(t.title) if t.title else "-"
        lines.append(f"{t.thread_id:<18} {_when(t.created_unix):<16}  {_when(t.last_active_unix):<16}  "
                     f"{t.turns:>5}  {_size(t.size_bytes):>9}  {_size(t.frees_bytes):>9}  {t.status:<10}  {title}")
    total = sum(t.frees_bytes for t in summaries)
    lines.append(f"{len(summaries)} conversation(s); deleting them all would free {_size(total)} of audio")
    return "\n".join(lines)


def cmd_threads(args) -> int:
    from mixingbuddy.tools.errors import InvalidArgumentError

    with _buddy(args) as buddy:
        if args.action == "list":
            summaries = buddy.thread_summaries()
            if args.json:
                print(json.dumps([t.to_json() for t in summaries], indent=2))
            else:
                print(threads_table(summaries))
        elif args.action == "delete":
            freed = 0
            for tid in args.ids:
                freed += buddy.delete_thread(tid)
                print(f"deleted {tid}", file=sys.stderr)
            buddy.index.vacuum()
            if args.json:
                print(json.dumps({"deleted": list(args.ids), "freed_bytes": freed}))
            else:
                print(f"deleted {len(args.ids)} conversation(s), freed {_size(freed)}")
        else:
            if args.older_than is None and args.keep is None:
                raise InvalidArgumentError("prune needs --older-than DAYS and/or --keep N")
            gone = buddy.prune(older_than_days=args.older_than, keep=args.keep, dry_run=args.dry_run)
            if args.json:
                print(json.dumps({"deleted" if not args.dry_run else "would_delete": gone}))
            else:
                verb = "would delete" if args.dry_run else "deleted"
                print(f"{verb} {len(gone)} conversation(s){': ' + ', '.join(gone) if gone else ''}")
    return 0


def _days(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not 0 <= v < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of days >= 0, got {text[:40]!r}")
    return v


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text[:40]!r}")
    return int(text)


def add_threads_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``threads list|delete|prune`` to the ``mixingbuddy`` sub-commands."""
    p = subparsers.add_parser("threads", help="list, delete or prune stored conversations")
    acts = p.add_subparsers(dest="action", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", metavar="DIR",
                        help="where conversations are stored (default $MIXINGBUDDY_HOME or ~/.mixingbuddy)")
    common.add_argument("--json", action="store_true", help="machine-readable output")
    acts.add_parser("list", parents=[common], help="id, created, last active, turns, size, status, mix name")
    d = acts.add_parser("delete", parents=[common], help="delete conversations: checkpoints and files")
    d.add_argument("ids", nargs="+", metavar="ID")
    r = acts.add_parser("prune", parents=[common],
                        help="delete old conversations (with both options: old AND beyond the newest N)")
    r.add_argument("--older-than", type=_days, metavar="DAYS", help="last used more than DAYS days ago")
    r.add_argument("--keep", type=_count, metavar="N", help="keep the N most recently used")
    r.add_argument("--dry-run", action="store_true", help="only say what would be deleted")
    p.set_defaults(func=cmd_threads)
    return p
