"""Benchmark: peak memory (RSS) of the commands and app paths on long mixes (5, 20, 60 minutes).

Renders the demo song (``model/data/demo_song.py``) looped to each length as a 44.1 kHz stereo
24-bit WAV in a temporary folder (never the repo), then runs each command in a child process and
prints a table: length, command, peak RSS of the child (``getrusage(RUSAGE_CHILDREN)``, which
reports the largest child so far, so each command runs under its own small driver process) and
wall time. A child passing ``--cap-gb`` of RSS is stopped and reported as ``> cap``.

Commands:
  analyze, review   the CLI commands on the mix (with ``--stems``: and its four stems)
  review-stems      ``review`` with the four stems (runs the spectrum after the balance moves)
  whatif            a review with stems through the ``MixingBuddy`` API, then the follow-up
                    "what if I raise the vocals 3 dB?" (``ask``)
  audition          a review with stems (API), then the app's audition render
                    (``ui.audition.audition`` on the stored review's audio, as ``ui.app`` calls it)
  reference         ``analyze`` with ``--reference`` a track of the same length (the mix itself)

The API commands also print the peak of their last phase alone (``phase``: the what-if or the
audition, after the review; the peak is reset through ``/proc/self/clear_refs``). The rendered
mix is its stems' sum through a gentle bus saturation (``x - 0.2 x^3``), so the stems do not add
up to it exactly and the what-if and the audition carry the master's residual, as for a real mix;
the vocals are 9 dB low, so the review suggests balance moves.

Usage:  python -m mixingbuddy.evals.bench_memory [--minutes 5 20 60]
        [--commands analyze review review-stems whatif audition reference]
        [--stems] [--cap-gb 8] [--keep DIR]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

__all__ = ["render_long_mix", "peak_rss_mb", "main", "COMMANDS"]

SR = 44_100
LOOP_S = 60.0  # one rendered minute of the demo song, looped (with a slow gain drift)
COMMANDS = ("analyze", "review", "review-stems", "whatif", "audition", "reference")
STEM_COMMANDS = ("review-stems", "whatif", "audition")  # always with the four stems
API_COMMANDS = ("whatif", "audition")  # run by this module's child mode (``--child``)
WHATIF_QUESTION = "what if I raise the vocals 3 dB?"


def render_long_mix(path: Path, minutes: float, stems_dir: Path | None = None) -> Path:
    """Write the demo song looped to ``minutes`` as a stereo 24-bit WAV at 44.1 kHz, a loop at a
    time (the bench itself holds one minute). A 1 dB gain step per loop keeps loops distinct.
    With ``stems_dir``, its four stems are written there the same way (``<role>.wav``)."""
    from mixingbuddy.model.data.demo_song import SongConfig, render_song

    mix, stems = render_song(SongConfig(duration_s=LOOP_S, sr=SR, seed=3), gains_db={"vocals": -9.0},
                             peak_dbfs=-3.0)
    mix = (mix - np.float32(0.2) * mix ** 3).astype(np.float32)  # a bus saturation: not the plain sum
    tracks = {path: mix}
    if stems_dir is not None:
        stems_dir.mkdir(parents=True, exist_ok=True)
        tracks.update({stems_dir / f"{role}.wav": x for role, x in stems.items()})
    total = int(round(minutes * 60.0 * SR))
    for dst, x in tracks.items():
        x = np.asarray(x, np.float32).reshape(x.shape[0], -1)
        with sf.SoundFile(dst, "w", samplerate=SR, channels=x.shape[1], subtype="PCM_24", format="WAV") as f:
            done, k = 0, 0
            while done < total:
                n = min(x.shape[0], total - done)
                f.write(x[:n] * np.float32(10 ** (-(k % 4) / 20.0)))
                done, k = done + n, k + 1
    return path


def _rss_mb(pid: int) -> float:
    """Current resident set of ``pid`` and its children (MB), from /proc."""
    total = 0.0
    for p in [pid] + _children(pid):
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) / 1024.0
        except OSError:
            pass
    return total


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            kids = [int(c) for c in fh.read().split()]
    except OSError:
        return []
    return kids + [g for k in kids for g in _children(k)]


def peak_rss_mb(cmd: list[str], cap_gb: float, env: dict | None = None) -> tuple[float | None, float, int, str]:
    """Run ``cmd`` in a driver child that reports ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` of
    it; returns (peak MB or None when stopped at the cap, wall s, exit code, stderr tail)."""
    driver = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.returncode)")
    t0 = time.perf_counter()
    # stderr to a file: a long job's progress would fill an unread pipe (64 KiB) and stall the child
    with tempfile.TemporaryFile("w+") as err_file:
        proc = subprocess.Popen([sys.executable, "-c", driver, *cmd], stdout=subprocess.PIPE,
                                stderr=err_file, text=True, env=env)
        capped = False
        while proc.poll() is None:
            if _rss_mb(proc.pid) > cap_gb * 1024.0:
                for k in reversed(_children(proc.pid)):
                    try:
                        os.kill(k, 9)
                    except OSError:
                        pass
                capped = True
            time.sleep(0.2)
        out, _ = proc.communicate()
        err_file.seek(0)
        err = err_file.read()
    wall = time.perf_counter() - t0
    if capped:
        return None, wall, -9, err[-2000:]
    kb, rc = out.split()[-2:]
    return int(kb) / 1024.0, wall, int(rc), err[-2000:]


def _phase_reset() -> None:
    """Reset this process's peak RSS (VmHWM), so that the next phase's own peak can be read."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def _phase_peak_mb() -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def run_child(argv: list[str]) -> int:
    """The API commands (``whatif``, ``audition``), run in the child: a review with stems, then
    the phase measured; prints ``phase <name> <peak MB>`` on stderr. Exit 3 when the phase did
    not produce its result (a what-if that failed, an audition that raised)."""
    ap = argparse.ArgumentParser(prog="bench_memory --child")
    ap.add_argument("command", choices=API_COMMANDS)
    ap.add_argument("--mix", required=True)
    ap.add_argument("--stems", required=True)
    ap.add_argument("--home", required=True)
    ap.add_argument("--max-minutes", type=float, required=True)
    args = ap.parse_args(argv)
    from mixingbuddy.agent.api import MixingBuddy

    cap_s = args.max_minutes * 60.0
    with MixingBuddy(args.home, llm=None, separate=False) as buddy:
        rv = buddy.review(args.mix, stems=args.stems, max_duration_s=cap_s)
        _phase_reset()
        if args.command == "whatif":
            buddy.ask(rv.thread_id, WHATIF_QUESTION)
            res = buddy.state(rv.thread_id).get("tool_results") or {}
            ok = "after" in res
            shown = (f"vocals {res['gain_db']:+g} dB, residual {res['residual']}" if ok
                     else str(res.get("error") or res)[:200])
        else:
            from mixingbuddy.agent.whatif import master_residual
            from mixingbuddy.ui import audition as aud

            state = buddy.state(rv.thread_id)
            report = state.get("report") or {}
            report = report if isinstance(report, dict) else report.model_dump()
            mix, stems = aud.stems_from_audio_record(state.get("audio") or {}, max_duration_s=cap_s,
                                                     with_mix=True)
            residual, kind = master_residual(mix, stems)
            gains = {k: v for k, v in aud.suggested_gains(report).items() if v} or {"vocals": 3.0}
            res = aud.audition(stems, gains, Path(args.home) / "auditions", anchor=report.get("anchor"),
                               platform=report.get("platform") or "spotify", residual=residual,
                               residual_kind=kind)
            ok, shown = True, f"gains {res.gains_db}, residual {kind}"
    peak = _phase_peak_mb()
    print(f"phase {args.command} {peak if peak is not None else float('nan'):.0f} MB ({shown})",
          file=sys.stderr, flush=True)
    return 0 if ok else 3


def _phase_line(err: str) -> str | None:
    lines = [ln for ln in err.splitlines() if ln.startswith("phase ")]
    return lines[-1] if lines else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--child"]:
        return run_child(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[5.0, 20.0, 60.0])
    ap.add_argument("--commands", nargs="+", default=["analyze", "review"], choices=COMMANDS)
    ap.add_argument("--cap-gb", type=float, default=8.0, help="stop a child above this RSS (GB)")
    ap.add_argument("--keep", metavar="DIR", help="render into (and reuse files from) this folder")
    ap.add_argument("--stems", action="store_true", help="also render the four stems and pass them")
    args = ap.parse_args(argv)
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="mb-bench-memory-"))
    folder.mkdir(parents=True, exist_ok=True)
    exe = [sys.executable, "-m", "mixingbuddy"]
    print(f"{'minutes':>7}  {'command':<15} {'peak RSS MB':>11} {'wall s':>7}  rc")
    for minutes in args.minutes:
        path = folder / f"mix_{minutes:g}min.wav"
        stems_dir = folder / f"stems_{minutes:g}min"
        want_stems = args.stems or any(c in STEM_COMMANDS for c in args.commands)
        if not path.exists() or (want_stems and not stems_dir.exists()):
            render_long_mix(path, minutes, stems_dir if want_stems else None)
        cap = f"{minutes + 1:g}"
        for command in args.commands:
            with_stems = args.stems or command in STEM_COMMANDS
            extra = ["--stems", str(stems_dir)] if with_stems else []
            home = tempfile.mkdtemp(prefix="mb-bench-home-")
            if command in ("analyze", "reference"):
                ref = ["--reference", str(path)] if command == "reference" else []
                cmd = exe + ["analyze", str(path), "--json", "--max-minutes", cap] + extra + ref
            elif command in API_COMMANDS:
                cmd = [sys.executable, "-m", "mixingbuddy.evals.bench_memory", "--child", command,
                       "--mix", str(path), "--stems", str(stems_dir), "--home", home, "--max-minutes", cap]
            else:
                cmd = exe + ["review", str(path), "--no-separate", "--json", "--max-minutes", cap,
                             "--home", home] + extra
            peak, wall, rc, err = peak_rss_mb(cmd, args.cap_gb)
            shutil.rmtree(home, ignore_errors=True)
            shown = f"> {args.cap_gb * 1024:.0f}" if peak is None else f"{peak:.0f}"
            label = command + (" +stems" if args.stems and command not in STEM_COMMANDS else "")
            print(f"{minutes:>7g}  {label:<15} {shown:>11} {wall:>7.1f}  {rc}", flush=True)
            phase = _phase_line(err)
            if phase:
                print("   ", phase, flush=True)
            if rc not in (0, -9):
                print("   ", err.strip().splitlines()[-1] if err.strip() else "(no stderr)", flush=True)
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
