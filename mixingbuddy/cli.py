"""The one `mixingbuddy` command line.

The sub-commands are listed at :func:`build_parser`; ``mixingbuddy --help`` shows them. Bad input
ends with one line ``error[<code>]: <message>`` on stderr and exit status 2 (:func:`main`).
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1
# libmpg123 (inside libsndfile) writes its notes on a damaged MP3 straight to file descriptor 2,
# e.g. "[src/libmpg123/parse.c:do_readahead():1083] warning: Cannot read next header, a one-frame
# stream? Duh...", and its plain "Note: Trying to resync..." / "Warning: Xing stream size off..."
# lines: the file is judged by the decoder's error or result, so these lines are dropped
DECODER_NOTE_PREFIX = b"[src/libmpg123/"
DECODER_NOTE_PREFIXES = (DECODER_NOTE_PREFIX, b"Note: ", b"Warning: ")
DECODING_COMMANDS = ("analyze", "review", "chat", "listen", "separate")  # short runs that decode files


class _NoBar:
    """The progress bar where none is drawn (stderr is not a terminal)."""

    total = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def update(self, n: int = 1) -> None:
        return None


def _progress_bar(total: int, desc: str):
    """A tqdm bar on stderr when it is a terminal (tqdm's own ``disable=None`` rule), else
    :class:`_NoBar`, so a command whose stderr is piped does not import tqdm."""
    if not sys.stderr.isatty():
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="step", disable=None, leave=False, file=sys.stderr)


def _parse_stem_args(items: list[str]) -> dict[str, str]:
    from mixingbuddy.tools.errors import InvalidArgumentError

    out: dict[str, str] = {}
    for item in items:
        role, sep, path = item.partition("=")
        if not sep or not role or not path:
            raise InvalidArgumentError(f"--stem expects ROLE=PATH, got {item!r}")
        out[path] = role.strip().lower()
    return out


def _load_inputs(args):
    from mixingbuddy.tools.io.ingest import load_audio, load_mix_and_stems, load_stem_set

    cap = args.max_minutes * 60.0
    if args.stem:
        roles = _parse_stem_args(args.stem)
        mix = load_audio(args.mix, max_duration_s=cap)
        stems = load_stem_set(list(roles), roles={Path(p).name: r for p, r in roles.items()},
                              max_duration_s=cap)
    else:
        mix, stems = load_mix_and_stems(args.mix, args.stems, max_duration_s=cap)
    from mixingbuddy.tools.io.spool import SPOOL_ABOVE_S  # a long reference: decoded a block at a time

    reference = load_audio(args.reference, max_duration_s=cap, spool_above_s=SPOOL_ABOVE_S) if args.reference else None
    return mix, stems, reference


def _in_background(job):
    """Start ``job()`` on a daemon thread; return a function that waits for its result (or
    raises its exception). libsndfile's reads and soxr release the GIL, so files decode while
    the calling thread imports the modules that will measure them: a cold ``analyze`` of a
    3-minute song starts measuring about 0.1 s sooner (``make bench``, the cold ``analyze``
    row). A daemon, so Ctrl-C during a long decode ends the command at once."""
    box: dict = {}

    def run() -> None:
        try:
            box["out"] = job()
        except BaseException as e:  # handed to the caller, who reports it as before
            box["err"] = e

    t = threading.Thread(target=run, name="load", daemon=True)
    t.start()

    def wait():
        t.join()
        if "err" in box:
            raise box["err"]
        return box["out"]

    return wait


def cmd_analyze(args) -> int:
    # analyze's tools run side by side on its own two-thread pool, with numpy's BLAS limited to
    # one thread each; OpenBLAS's own worker threads would only spin, from numpy's import on
    # (about 0.05 s of a core before the first product): none are started
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import mixingbuddy.tools.io.ingest  # noqa: F401 (numpy, libsndfile, soxr: what decoding needs)

    loading = _in_background(lambda: _load_inputs(args))  # decodes while the imports below run
    from mixingbuddy.tools.measure.analyze import analyze, prepare
    from mixingbuddy.tools.measure.report import render_text

    prepare()

    with _progress_bar(1, "analyze") as bar:
        mix, stems, reference = loading()
        if args.anchor and stems is None:
            from mixingbuddy.tools.errors import InvalidArgumentError

            raise InvalidArgumentError(
                f"--anchor names the stem the others are judged against, so it needs --stems "
                f"(got --anchor {args.anchor[:40]!r} with a mix only)")
        # one step for loading, then one per tool job (loudness+dynamics, spectrum, stereo,
        # stem balance + masking or the mix-only estimate, the reference comparison)
        bar.total = 1 + 3 + (2 if stems is not None else 1) + (1 if reference is not None else 0)
        bar.update(1)
        report = analyze(mix, stems, anchor=args.anchor, reference=reference,
                         platform=args.platform, progress=lambda name: bar.update(1))
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        print(render_text(report))
    return 0


def cmd_demo(args) -> int:
    import soundfile as sf

    from mixingbuddy.model.data.demo_song import SongConfig, render_song

    out = Path(args.out)
    (out / "stems").mkdir(parents=True, exist_ok=True)
    gains = {"vocals": args.vocals_db} if args.vocals_db else None
    print(f"Rendering a {args.seconds:.0f} s demo song (seed {args.seed}) into {out}/ ...",
          file=sys.stderr)
    mix, stems = render_song(SongConfig(duration_s=args.seconds, seed=args.seed), gains_db=gains)
    sf.write(out / "mix.wav", mix, 44_100, subtype="PCM_24")
    for role, x in stems.items():
        sf.write(out / "stems" / f"{role}.wav", x, 44_100, subtype="PCM_24")
    ns = argparse.Namespace(mix=str(out / "mix.wav"), stems=str(out / "stems"), stem=[],
                            anchor="drums", reference=None, platform=args.platform,
                            json=False, max_minutes=20.0)
    return cmd_analyze(ns)


def cmd_tables(args) -> int:
    if args.which == "target-curve":
        from mixingbuddy.tools.data.build_target_curve import main as build
    else:
        from mixingbuddy.tools.data.build_balance_reference import main as build
    return int(build([args.source, "--out", args.out]) or 0)


# command -> (module, function that adds its parser to the top-level subparsers). The heavy
# sub-commands live in their own modules and are imported only when used, so `analyze` starts
# without loading torch or the synthesiser.
LAZY_COMMANDS = {
    "data": ("mixingbuddy.model.data.corpus", "add_parser", "build flawed-mix corpora"),
    "eval": ("mixingbuddy.evals.balance", "add_parser", "benchmarks: eval balance ..., eval agent ..., eval questions ..."),
    "train": ("mixingbuddy.model.train", "add_train_parser", "train the audio language model"),
    "listen": ("mixingbuddy.model.listen", "add_listen_parser", "the audio language model's advice on a mix"),
    "review": ("mixingbuddy.agent.cli", "add_review_parser", "review a mix: listen, verify, advise"),
    "chat": ("mixingbuddy.agent.cli", "add_chat_parser", "review a mix, then ask follow-up questions"),
    "threads": ("mixingbuddy.agent.cli", "add_threads_parser", "list, delete or prune stored conversations"),
    "ui": ("mixingbuddy.ui.serve", "add_ui_parser", "serve the browser app on 127.0.0.1:7860"),
    "separate": ("mixingbuddy.tools.separate.cli", "add_separate_parser",
                 "split a mix into vocals, drums, bass and other (HT-Demucs; research use only)"),
}


def build_parser(load: str | None = "all") -> argparse.ArgumentParser:
    """The parser. ``load`` names the one lazy command whose module is imported ("all" imports
    every one, None none); the others get a placeholder that only shows their help line.

    Sub-commands::

      analyze MIX   measure a mix (and its stems / a reference track): readable report or --json
      demo          render a demo song with numpy, write it and its stems, and analyse it
      tables        rebuild the small reference tables baked into the package
      data build    build a flawed-mix corpus (model.data.corpus)
      eval balance  score systems on the balance benchmark (evals.balance)
      eval agent    run the scripted conversations (evals.agent_eval)
      eval redteam  planted errors in the composer's answers vs the grounding guard (evals.redteam)
      eval questions  the follow-up router on the question benchmark (evals.questions)
      eval adversarial  bad and odd input files through analyze, review and uploads (evals.adversarial)
      train         train the audio language model (model.train)
      listen MIX    the audio language model's advice (model.listen)
      review MIX    the agent's grounded review of a mix (agent.cli)
      chat MIX      a review, then follow-up questions in the terminal (agent.cli)
      threads       list | delete ID | prune [--older-than DAYS] [--keep N] stored conversations (agent.cli)
      ui            the browser app (Gradio) on 127.0.0.1:7860 (ui.app)
      separate MIX  split a mix into four stems with HT-Demucs (tools.separate; weights for
                    personal and research use only)
    """
    from mixingbuddy.tools.separate.license import LICENSE_NOTE

    p = argparse.ArgumentParser(prog="mixingbuddy", description="MixingBuddy: a mix critic you can talk to.",
                                epilog=LICENSE_NOTE)
    sub = p.add_subparsers(dest="command", required=True)

    a = sub.add_parser("analyze", help="measure a mix; readable report or --json")
    a.add_argument("mix", help="the mix (wav, flac, ogg, aiff, mp3, m4a, or a MUSDB18 .stem.mp4)")
    g = a.add_mutually_exclusive_group()
    g.add_argument("--stems", metavar="DIR", help="folder (or .stem.mp4) with the mix's stems; roles from file names")
    g.add_argument("--stem", metavar="ROLE=PATH", action="append", default=[],
                   help="one stem with its role (vocals, drums, bass, other); repeat")
    a.add_argument("--anchor", help="stem assumed correct, others are judged against it")
    a.add_argument("--reference", metavar="FILE", help="a reference track to compare against")
    a.add_argument("--platform", help="target platform: spotify, apple_music, youtube, amazon_music, deezer, ebu_r128")
    a.add_argument("--json", action="store_true", help="print every measurement as JSON")
    a.add_argument("--max-minutes", type=float, default=20.0, help="refuse files longer than this (default 20)")
    a.set_defaults(func=cmd_analyze)

    d = sub.add_parser("demo", help="render a demo song with stems and analyse it")
    d.add_argument("--out", default="out/demo")
    d.add_argument("--seconds", type=float, default=30.0)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--vocals-db", type=float, default=-6.0, help="flaw to inject on the vocals (dB)")
    d.add_argument("--platform", default="spotify")
    d.set_defaults(func=cmd_demo)

    t = sub.add_parser("tables", help="rebuild a baked reference table from its source data")
    t.add_argument("which", choices=["target-curve", "balance-reference"])
    t.add_argument("source", help="MUSDB18 folder (target-curve) or segment CSV (balance-reference)")
    t.add_argument("--out", required=True)
    t.set_defaults(func=cmd_tables)

    from importlib import import_module

    for name, (module, fn, help_text) in LAZY_COMMANDS.items():
        if load in ("all", name):
            getattr(import_module(module), fn)(sub)
        else:
            sub.add_parser(name, help=help_text, add_help=False)
    return p


def _forward(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


@contextmanager
def _without_decoder_notes(active: bool = True):
    """Route file descriptor 2 through a filter that drops C decoders' notes
    (:data:`DECODER_NOTE_PREFIXES` lines) and passes everything else on at once (progress bars'
    carriage returns included). Off with MIXINGBUDDY_DEBUG=1, or where descriptors cannot be
    duplicated."""
    if not active or os.environ.get("MIXINGBUDDY_DEBUG"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, 2)
        os.close(write_fd)
    except (OSError, ValueError, AttributeError):
        yield
        return
    note = DECODER_NOTE_PREFIXES

    def pump() -> None:
        pending = b""
        try:
            while chunk := os.read(read_fd, 65536):
                *lines, pending = (pending + chunk).split(b"\n")
                out = b"".join(line + b"\n" for line in lines if not line.startswith(note))
                if pending and not any(n.startswith(pending[:len(n)]) for n in note):  # cannot start a note
                    out, pending = out + pending, b""
                _forward(saved, out)
            if pending and not pending.startswith(note):
                _forward(saved, pending)
        except OSError:  # the saved descriptor was closed after a timed-out join
            pass
        finally:
            os.close(read_fd)

    pump_thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    pump_thread.start()
    try:
        yield
    finally:
        try:
            sys.stderr.flush()
        finally:
            os.dup2(saved, 2)  # closes the pipe's last writer: the pump drains it and ends
            pump_thread.join(timeout=5)
            os.close(saved)


def main(argv: list[str] | None = None) -> int:
    """Run one command. Bad input ends with one line ``error[<code>]: <message>`` on stderr and
    exit status 2, never a traceback (set MIXINGBUDDY_DEBUG=1 to see one for an internal error)."""
    from mixingbuddy.tools.errors import MixingBuddyError

    argv = sys.argv[1:] if argv is None else list(argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    load = first if first in LAZY_COMMANDS else None  # --help lists every command from its help line
    args = build_parser(load).parse_args(argv)
    try:
        with _without_decoder_notes(args.command in DECODING_COMMANDS):
            return args.func(args)
    except MixingBuddyError as e:
        print(f"error[{e.code}]: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # never a traceback for the user; one line saying what broke
        if os.environ.get("MIXINGBUDDY_DEBUG"):
            raise
        print(f"error[internal]: {type(e).__name__}: {' '.join(str(e).split())[:300]}", file=sys.stderr)
        return EXIT_INTERNAL


def run() -> int:
    """The console script: :func:`main`, then every object alive is frozen out of the cyclic
    garbage collector (``gc.freeze``), so the interpreter's shutdown does not traverse them:
    a cold ``analyze`` exits in 0.012 s instead of 0.043 s (the modules numpy and pydantic bring
    are many objects). Only for a process that is about to end; in-process callers use
    :func:`main`."""
    import gc

    rc = main()
    gc.freeze()
    return rc


if __name__ == "__main__":
    sys.exit(run())
