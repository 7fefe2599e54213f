"""Benchmark: one table of MixingBuddy's speed and peak memory on a 3-minute mix, every row measured in one run.

Usage:  python -m mixingbuddy.evals.bench [--runs 5] [--sep-runs 3] [--empty-runs 5] [--seconds 180]
        [--cores 2] [--no-separation] [--no-empty-cache] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .bench_analyze import ffmpeg_ebur128_cmd, parse_ebur128_summary
from .bench_review import pin_cores, render_song_files

GB = 1e9  # bytes


@dataclass
class Row:
    """One line of the table: what was timed, its wall times (s), its peak RSS (bytes)."""

    name: str
    how: str
    wall_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)  # user + system, all threads
    peak_rss_bytes: int = 0
    note: str = ""

    @property
    def median_s(self) -> float:
        return statistics.median(self.wall_s)


@dataclass
class Child:
    """A finished child process: wall and CPU time, peak RSS, exit status and what it printed."""

    wall_s: float
    cpu_s: float
    peak_rss_bytes: int
    returncode: int
    stdout: str
    stderr: str


def progress(msg: str) -> None:
    """One progress line on stderr (the table goes to stdout)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# Starts the measured command from a small interpreter (no site, nothing imported), times it and
# reads its peak RSS there: a child forked straight from this process would count this process's
# pages in its ru_maxrss (Linux keeps the high-water mark across fork and exec).
_LAUNCHER = """import os, sys, time
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(f"{time.perf_counter() - t0} {usage.ru_utime + usage.ru_stime} {usage.ru_maxrss * 1024}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_child(cmd: list[str], env: dict[str, str] | None = None) -> Child:
    """Run ``cmd`` to completion through ``_LAUNCHER``: wall time from fork to exit; CPU time
    (user + system) and peak RSS from ``os.wait4`` (``ru_maxrss``, KiB on Linux); output kept
    in temporary files."""
    with tempfile.TemporaryDirectory(prefix="mb-bench-run-") as d:
        out_path, err_path, stats = (Path(d) / name for name in ("out", "err", "stats"))
        with open(out_path, "w") as out, open(err_path, "w") as err:
            rc = subprocess.run([sys.executable, "-S", "-c", _LAUNCHER, str(stats), *cmd], stdout=out,
                                stderr=err, stdin=subprocess.DEVNULL, env=env).returncode
        wall, cpu, rss = stats.read_text().split() if stats.exists() else ("nan", "nan", "0")
        return Child(float(wall), float(cpu), int(rss), rc, out_path.read_text(), err_path.read_text())


def checked(child: Child, what: str) -> Child:
    """``child`` if it exited 0, else an error with the end of its stderr."""
    if child.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {child.returncode}): {child.stderr[-2000:]}")
    return child


def mixingbuddy_cmd() -> list[str]:
    """The console script a user runs (``.venv/bin/mixingbuddy``), else ``python -m mixingbuddy``."""
    script = Path(sys.executable).with_name("mixingbuddy")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mixingbuddy"]


def time_cli(row: Row, cmd: list[str], runs: int, env_for_run=None) -> Child:
    """``runs`` fresh processes of ``cmd`` into ``row``; returns the last one."""
    last = None
    for i in range(runs):
        env = env_for_run() if env_for_run else None
        last = checked(run_child(cmd, env), row.name)
        row.wall_s.append(last.wall_s)
        row.cpu_s.append(last.cpu_s)
        row.peak_rss_bytes = max(row.peak_rss_bytes, last.peak_rss_bytes)
        progress(f"{row.name}: run {i + 1}/{runs} {last.wall_s:.2f} s, {last.peak_rss_bytes / GB:.2f} GB")
    return last


def time_worker(row: Row, worker_args: list[str], runs: int) -> None:
    """Run ``runs`` timings inside one process (this module's ``--worker`` mode, which prints
    its wall times as JSON); the peak RSS is that process's, warm-up included."""
    progress(f"{row.name}: one process, a warm-up then {runs} runs ...")
    child = checked(run_child([sys.executable, "-m", "mixingbuddy.evals.bench", "--worker", *worker_args,
                               "--runs", str(runs)]), row.name)
    timings = json.loads(child.stdout.strip().splitlines()[-1])
    row.wall_s, row.cpu_s = timings["wall_s"], timings["cpu_s"]
    row.peak_rss_bytes = child.peak_rss_bytes
    progress(f"{row.name}: " + ", ".join(f"{w:.2f}" for w in row.wall_s) + f" s, {row.peak_rss_bytes / GB:.2f} GB")


# --------------------------------------------------------------------------- workers (child side)


def worker_analyze(mix: Path, stems: Path | None, runs: int) -> dict:
    """Warm ``analyze`` (bench_analyze's measure: decode + every measurement) in this process."""
    from .bench_analyze import full_analyze

    full_analyze(mix, stems)  # warm-up: imports, FFT plans
    walls, cpus = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        full_analyze(mix, stems)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {"wall_s": walls, "cpu_s": cpus}


def worker_review(mix: Path, stems: Path | None, separate: bool, runs: int) -> dict:
    """Warm reviews through the API (bench_review's measure: the model loaded once, one
    uncounted warm-up review, then each review in a new conversation)."""
    from ..agent.api import MixingBuddy
    from .bench_review import time_reviews

    with tempfile.TemporaryDirectory(prefix="mb-bench-home-") as home:
        buddy = MixingBuddy(home=Path(home), llm=None, separate=separate)
        try:
            res = time_reviews(buddy, mix, stems, runs, "sep" if separate else ("stems" if stems else "mix"))
        finally:
            close = getattr(buddy, "close", None)
            if close:
                close()
    return {"wall_s": res["wall_s"], "cpu_s": res["cpu_s"], "degradations": res["degradations"]}


def run_worker(args: argparse.Namespace) -> int:
    stems = Path(args.stems) if args.stems else None
    if args.worker == "analyze":
        out = worker_analyze(Path(args.mix), stems, args.runs)
    else:
        out = worker_review(Path(args.mix), stems, args.separate, args.runs)
    print(json.dumps(out))
    return 0


# --------------------------------------------------------------------------- the rows


def analyze_rows(song: Path, stems: Path, runs: int) -> tuple[list[Row], dict]:
    """ffmpeg's ebur128 and ``mixingbuddy analyze`` in new processes, runs interleaved so load
    changes hit both alike; analyze warm in one process; the same with the 4 stems."""
    mb = mixingbuddy_cmd()
    ff = Row("ffmpeg `ebur128=peak=true` (loudness only)", "new process")
    cli = Row("`mixingbuddy analyze MIX --json`", "cold CLI: new process, decode + every measurement")
    last_ff = last_cli = None
    for i in range(runs):
        last_ff = checked(run_child(ffmpeg_ebur128_cmd(song)), ff.name)
        last_cli = checked(run_child(mb + ["analyze", str(song), "--json"]), cli.name)
        for row, child in ((ff, last_ff), (cli, last_cli)):
            row.wall_s.append(child.wall_s)
            row.cpu_s.append(child.cpu_s)
            row.peak_rss_bytes = max(row.peak_rss_bytes, child.peak_rss_bytes)
        progress(f"analyze vs ffmpeg: run {i + 1}/{runs}: ffmpeg {last_ff.wall_s:.2f} s, "
                 f"mixingbuddy analyze {last_cli.wall_s:.2f} s")
    warm = Row("`analyze` in one process (decode + every measurement)", "warm: bench_analyze's measure")
    time_worker(warm, ["analyze", "--mix", str(song)], runs)
    cli_stems = Row("`mixingbuddy analyze MIX --stems DIR --anchor drums --json`", "cold CLI, mix + 4 stems")
    time_cli(cli_stems, mb + ["analyze", str(song), "--stems", str(stems), "--anchor", "drums", "--json"], runs)
    warm_stems = Row("`analyze` in one process, mix + 4 stems", "warm: bench_analyze's measure")
    time_worker(warm_stems, ["analyze", "--mix", str(song), "--stems", str(stems)], runs)

    ours = json.loads(last_cli.stdout)["loudness"]
    ref = parse_ebur128_summary(last_ff.stderr)
    for row in (cli, warm, cli_stems, warm_stems):
        row.note = f"{row.median_s / ff.median_s:.2f}x ffmpeg"
    cli.note += (f"; ours vs ffmpeg: I {ours['integrated_lufs']:.2f} vs {ref['integrated_lufs']:.1f} LUFS, "
                 f"TP {ours['true_peak_dbtp']:.2f} vs {ref['true_peak_dbtp']:.1f} dBTP, "
                 f"LRA {ours['loudness_range_lu']:.2f} vs {ref['lra_lu']:.1f} LU")
    return [ff, cli, warm, cli_stems, warm_stems], {"ours": ours, "ffmpeg": ref}


def fewer(runs: int, usual: int) -> str:
    """The note a row with fewer runs than the others gets."""
    return f"{runs} runs, not {usual}: each takes a long time" if runs < usual else ""


def review_rows(song: Path, stems: Path, tmp: Path, args: argparse.Namespace, separation: bool) -> list[Row]:
    """``mixingbuddy listen`` and ``review`` as a user runs them (new processes, caches warm and
    empty), then warm reviews through the API."""
    mb = mixingbuddy_cmd()
    home = tmp / "home"
    rows = []
    listen = Row("`mixingbuddy listen MIX --anchor drums`", "cold CLI (the audio model on the loudest 10 s)")
    time_cli(listen, mb + ["listen", str(song), "--anchor", "drums"], args.runs)
    rows.append(listen)

    review = mb + ["review", str(song), "--home", str(home)]
    with_stems = ["--stems", str(stems), "--anchor", "drums"]
    separate_on = {**os.environ, "MIXINGBUDDY_SEPARATE": "1"}
    cold = [("mix only, separation off", review + ["--no-separate"], args.runs),
            ("mix + 4 stems", review + with_stems, args.runs)]
    if separation:
        cold.append(("mix only, separated (HT-Demucs, loudest windows)", review, args.sep_runs))
    for label, cmd, runs in cold:
        row = Row(f"`mixingbuddy review`, {label}", "cold CLI, caches warm on disk", note=fewer(runs, args.runs))
        time_cli(row, cmd, runs, lambda: separate_on)
        rows.append(row)

    if args.empty_runs > 0:
        cache = tmp / "empty-cache"

        def fresh_cache() -> dict[str, str]:
            shutil.rmtree(cache, ignore_errors=True)  # the previous run's rebuilt cache
            cache.mkdir()
            return {**os.environ, "MIXINGBUDDY_CACHE": str(cache)}

        note = ("each run rebuilds the model caches (~1 GB: de-quantised SmolLM2, merged model); "
                "no separation (its weights live in the cache)")
        for label, cmd in (("mix only", review + ["--no-separate"]), ("mix + 4 stems", review + with_stems)):
            row = Row(f"`mixingbuddy review`, {label}", "cold CLI, `MIXINGBUDDY_CACHE` empty",
                      note="; ".join(filter(None, (fewer(args.empty_runs, args.runs), note))))
            time_cli(row, cmd, args.empty_runs, fresh_cache)
            rows.append(row)
        shutil.rmtree(cache, ignore_errors=True)

    warm = [("mix only, separation off", ["--mix", str(song)], args.runs),
            ("mix + 4 stems", ["--mix", str(song), "--stems", str(stems)], args.runs)]
    if separation:
        warm.append(("mix only, separated", ["--mix", str(song), "--separate"], args.sep_runs))
    for label, worker_args, runs in warm:
        row = Row(f"review, {label}", "warm: one process, MixingBuddy API, model loaded",
                  note=fewer(runs, args.runs))
        time_worker(row, ["review", *worker_args], runs)
        rows.append(row)
    return rows


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_first_byte(home: Path, timeout_s: float = 120.0) -> tuple[float, float, int]:
    """Start ``mixingbuddy ui`` as ``make run`` does and time its page.

    Returns ``(first_byte_s, app_s, peak_rss_bytes)``: from the process start to the first byte of
    an HTTP 200 for ``/`` (the "starting" page ``ui.starting`` serves while Gradio loads), to the
    first 200 that is the app itself, and the server's peak RSS (``VmHWM``) then, when the audio
    model is still loading in the background."""
    import urllib.request

    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen(mixingbuddy_cmd() + ["ui", "--host", "127.0.0.1", "--port", str(port), "--home", str(home)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    first = None
    try:
        while time.perf_counter() - t0 < timeout_s:
            if proc.poll() is not None:
                raise RuntimeError(f"mixingbuddy ui exited with {proc.returncode} before serving its page")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    body = r.read()
                    if r.status == 200:
                        first = first if first is not None else time.perf_counter() - t0
                        if b"MixingBuddy is starting" not in body:
                            app = time.perf_counter() - t0
                            break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            raise RuntimeError(f"no page from mixingbuddy ui within {timeout_s:.0f} s")
        status = Path(f"/proc/{proc.pid}/status").read_text()
        hwm = next((int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmHWM")), 0)
        return first, app, hwm
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def app_rows(tmp: Path, runs: int) -> list[Row]:
    """The app's page after start (new process each run): its first byte (the starting page) and
    the app itself; the audio model loads in the background."""
    first = Row("`mixingbuddy ui` (what `make run` starts): first byte of the page", "cold start, new process",
                note="the starting page, served while Gradio loads")
    app = Row("`mixingbuddy ui`: the app's own page", "cold start, new process",
              note="peak RSS at that moment; the audio model is still loading then")
    for i in range(runs):
        f, a, rss = app_first_byte(tmp / "app-home")
        first.wall_s.append(f)
        app.wall_s.append(a)
        app.peak_rss_bytes = max(app.peak_rss_bytes, rss)
        progress(f"app: run {i + 1}/{runs} first byte {f:.2f} s, app {a:.2f} s")
    return [first, app]


# --------------------------------------------------------------------------- the table


def machine() -> str:
    """CPU model and the cores this process may use."""
    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model}, {cores} cores"


def table(rows: list[Row], head: list[str], tail: list[str]) -> str:
    """The one Markdown table, with what it was measured on above and the load below."""
    lines = head + ["", "| measurement | how | runs | median wall | spread (min-max) | median CPU | peak RSS | notes |",
                    "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cpu = f"{statistics.median(r.cpu_s):.2f} s" if r.cpu_s else "-"
        lines.append(f"| {r.name} | {r.how} | {len(r.wall_s)} | {r.median_s:.2f} s | "
                     f"{min(r.wall_s):.2f}-{max(r.wall_s):.2f} s | {cpu} | {r.peak_rss_bytes / GB:.2f} GB | {r.note} |")
    return "\n".join(lines + [""] + tail) + "\n"


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parents[1], timeout=10)
        return out.stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def separation_installed() -> bool:
    from ..tools.separate.weights import separator_status

    return separator_status().available


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="runs per row (median; default 5)")
    p.add_argument("--sep-runs", type=int, default=3, help="runs of the rows with separation (default 3)")
    p.add_argument("--empty-runs", type=int, default=5,
                   help="runs of the rows with empty caches (each rebuilds ~1 GB; 0 skips them; default 5)")
    p.add_argument("--seconds", type=float, default=180.0, help="song length (default 180)")
    p.add_argument("--cores", type=int, default=2, help="CPUs to pin to (0: all; default 2)")
    p.add_argument("--no-separation", action="store_true", help="leave out the rows with separation")
    p.add_argument("--no-empty-cache", action="store_true", help="leave out the rows with empty caches")
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    p.add_argument("--worker", choices=["analyze", "review"], help=argparse.SUPPRESS)
    p.add_argument("--mix", help=argparse.SUPPRESS)
    p.add_argument("--stems", help=argparse.SUPPRESS)
    p.add_argument("--separate", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return run_worker(args)
    if min(args.runs, args.sep_runs) < 1:
        p.error("--runs and --sep-runs must be at least 1")
    if not shutil.which("ffmpeg"):
        p.error("ffmpeg is not on PATH (`make debs` installs Debian's)")
    if args.no_empty_cache:
        args.empty_runs = 0
    cores = pin_cores(args.cores)
    separation = not args.no_separation and separation_installed()
    load0, t0 = os.getloadavg(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mb-bench-") as d:
        tmp = Path(d)
        progress(f"rendering a {args.seconds:.0f} s stereo 44.1 kHz song with 4 stems ...")
        song, stems = render_song_files(tmp / "song", args.seconds)
        rows, agreement = analyze_rows(song, stems, args.runs)
        rows += review_rows(song, stems, tmp, args, separation)
        rows += app_rows(tmp, args.runs)
    load1 = os.getloadavg()
    head = [f"{datetime.now():%Y-%m-%d %H:%M}, {machine()} (pinned to {len(cores) or 'all'}), commit {git_commit()}; "
            f"the benchmark's {args.seconds:.0f} s stereo 44.1 kHz song (demo song, seed 1, vocals 4 dB down), "
            f"24-bit WAV, 4 stems; shipped audio model, no LLM. Wall times, median of the runs; peak RSS is "
            f"the largest of the processes' own (`os.wait4`), warm-up included for the one-process rows."]
    tail = [f"Load average (1 min) at the start {load0[0]:.2f}, at the end {load1[0]:.2f}; "
            f"the whole benchmark took {(time.perf_counter() - t0) / 60:.1f} min."
            + ("" if separation else " Separation rows left out: HT-Demucs weights not installed "
               "(`make weights`) or --no-separation.")]
    print(table(rows, head, tail), end="")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": [r.__dict__ for r in rows], "agreement": agreement,
                                               "head": head, "tail": tail}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
