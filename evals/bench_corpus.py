"""Benchmark: corpus build speed (samples per second) with 1 and 2 worker processes.

Builds a small synthetic corpus (default 200 samples, 10 s chunks, 30 s songs, FLAC 16-bit at
44.1 kHz) and, when the folder exists, a corpus from the MUSDB18 7-second previews (94 songs,
5 samples per excerpt, Rafii et al. 2017), each with ``--workers-list`` (default 1 and 2)
worker processes, every build into a fresh temporary folder (no resume), and prints a markdown
table: samples, seconds, samples/s (median over ``--runs`` builds).

Usage:  python -m mixingbuddy.evals.bench_corpus [--n 200] [--runs 1] [--musdb DIR]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from mixingbuddy.model.data.corpus import build_corpus

DEFAULT_MUSDB = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "musdb18-7"


def bench(source: str, path, n: int, workers: int, runs: int, seed: int) -> dict:
    times, samples = [], 0
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="mb-bench-corpus-") as tmp:
            info = build_corpus(source, path, n, Path(tmp) / "c", seed, workers=workers, resume=False,
                                progress=True)
        times.append(info["build_time_s"])
        samples = info["n_samples"]
    t = statistics.median(times)
    return {"source": source, "workers": workers, "samples": samples, "seconds": t,
            "samples_per_s": samples / t if t > 0 else float("nan")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="synthetic samples per build")
    ap.add_argument("--runs", type=int, default=1, help="builds per setting (median)")
    ap.add_argument("--workers-list", default="1,2")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--musdb", default=str(DEFAULT_MUSDB), help="MUSDB18 folder (skipped if absent)")
    ap.add_argument("--skip-synth", action="store_true")
    args = ap.parse_args(argv)
    workers = [int(w) for w in args.workers_list.split(",")]
    rows = []
    if not args.skip_synth:
        for w in workers:
            rows.append(bench("synth", None, args.n, w, args.runs, args.seed))
    musdb = Path(args.musdb)
    if musdb.is_dir():
        for w in workers:
            rows.append(bench("musdb", musdb, 10**6, w, args.runs, args.seed))
    else:
        print(f"(MUSDB18 folder {musdb} not found: musdb rows skipped)", file=sys.stderr)
    print(f"\nCorpus build speed ({os.cpu_count()} CPUs visible; median of {args.runs} build(s) each)\n")
    print("| source | workers | samples | seconds | samples/s |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['source']} | {r['workers']} | {r['samples']} | {r['seconds']:.1f} | {r['samples_per_s']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
