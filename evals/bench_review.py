"""Benchmark: a full agent review of a 3-minute stereo mix on the embedded default.

Times :meth:`MixingBuddy.review` on the demo song (no language model) against the target
(<= 10 s) and reports each graph node's median time; the setup is described at :func:`main`.

Usage:  python -m mixingbuddy.evals.bench_review [--runs 5] [--cores 2] [--seconds 180]
        [--stems] [--weights DIR] [--no-model] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 10.0
TARGET_SEPARATED_S = 45.0  # a 3-minute mix reviewed with separation (its loudest windows)


def pin_cores(n: int) -> list[int]:
    """Restrict this process (and the threads it starts) to its first ``n`` allowed CPUs."""
    if n <= 0 or not hasattr(os, "sched_setaffinity"):
        return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    allowed = sorted(os.sched_getaffinity(0))
    chosen = allowed[:n]
    os.sched_setaffinity(0, chosen)
    return chosen


def render_song_files(folder: Path, seconds: float) -> tuple[Path, Path]:
    """The benchmark song: ``mix.wav`` and ``stems/<role>.wav`` (24-bit, 44.1 kHz).

    The demo song (``model.data.demo_song``, stereo, vocals 4 dB down, the same song
    ``bench_analyze`` uses)."""
    import soundfile as sf

    from ..model.data.demo_song import SongConfig, render_song

    mix, stems = render_song(SongConfig(duration_s=seconds, sr=44_100, seed=1), gains_db={"vocals": -4.0})
    (folder / "stems").mkdir(parents=True, exist_ok=True)
    sf.write(folder / "mix.wav", mix, 44_100, subtype="PCM_24")
    for role, x in stems.items():
        sf.write(folder / "stems" / f"{role}.wav", x, 44_100, subtype="PCM_24")
    return folder / "mix.wav", folder / "stems"


def time_reviews(buddy, mix: Path, stems: Path | None, runs: int, tag: str, target_s: float = TARGET_S) -> dict:
    """``runs`` reviews (after one uncounted warm-up): wall and CPU times and per-node timings."""
    kw = {"stems": [str(p) for p in sorted(stems.glob("*.wav"))], "anchor": "drums"} if stems else {}
    buddy.review(str(mix), thread_id=f"{tag}-warmup", **kw)
    walls, cpus, nodes, degradations = [], [], [], []
    for i in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        rv = buddy.review(str(mix), thread_id=f"{tag}-{i}", **kw)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        nodes.append(dict(rv.timings_s))
        degradations = list(rv.degradations)
    names = list(dict.fromkeys(k for n in nodes for k in n))
    per_node = {k: statistics.median([n.get(k, 0.0) for n in nodes]) for k in names}
    import resource

    return {"runs": runs, "wall_s": walls, "cpu_s": cpus, "median_s": statistics.median(walls), "target_s": target_s,
            "per_node_median_s": per_node, "degradations": degradations,
            "peak_rss_gb_so_far": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9}  # KiB -> GB


def table(results: dict[str, dict], cores: list[int]) -> str:
    lines = [f"Full review of a 3-minute stereo 44.1 kHz mix, embedded default, pinned to "
             f"{len(cores) or '?'} core(s):", "",
             "| review | median | runs (s) | target | peak RSS so far |", "|---|---|---|---|---|"]
    for name, r in results.items():
        ok = "PASS" if r["median_s"] <= r["target_s"] else "FAIL"
        runs = ", ".join(f"{w:.2f}" for w in r["wall_s"])
        lines.append(f"| {name} | {r['median_s']:.2f} s | {runs} | <= {r['target_s']:.0f} s ({ok}) | "
                     f"{r['peak_rss_gb_so_far']:.2f} GB |")
    for name, r in results.items():
        lines += ["", f"Per node, {name} (median s):", "", "| node | seconds |", "|---|---|"]
        lines += [f"| {k} | {v:.3f} |" for k, v in r["per_node_median_s"].items()]
        lines += ["", "(Unless the mix is separated, ingest starts the measurements on a background thread and "
                      "they run while the audio model listens: the measure node's seconds are its wait for them.)"]
        if r["degradations"]:
            lines += ["", "Degradations: " + "; ".join(r["degradations"])]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Render the song into a temporary folder, then time reviews of it.

    The audio model comes from ``--weights`` or the shipped weights; without them the review
    goes on with the measurements alone, as a user would see it. One warm-up review (imports,
    FFT plans, the model loaded once per process) is not counted; then ``--runs`` reviews, each
    in a new conversation. The process is pinned to ``--cores`` CPUs (``os.sched_setaffinity``;
    default 2, the target machine).

    Prints the median wall time against the target (<= 10 s), and the median time of each graph
    node from ``Review.timings_s`` (the nodes run one after the other; the measurement tools
    inside ``measure`` run on a two-thread pool). ``--stems`` also times a review with the four
    stems; ``--separate`` a mix-only review with separation (the three loudest 10 s windows
    through HT-Demucs, target <= 45 s), whose peak RSS is the process's (the audio model and the
    separator both loaded).
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="timed reviews (median; default 5)")
    p.add_argument("--cores", type=int, default=2, help="CPUs to pin the process to (0: all; default 2)")
    p.add_argument("--seconds", type=float, default=180.0, help="song length (default 180)")
    p.add_argument("--stems", action="store_true", help="also time a review with the 4 stems")
    p.add_argument("--separate", action="store_true",
                   help="also time a mix-only review with separation (HT-Demucs on the loudest windows)")
    p.add_argument("--weights", metavar="DIR", help="audio model folder (default: the shipped weights)")
    p.add_argument("--no-model", action="store_true", help="review without the audio model")
    p.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    cores = pin_cores(args.cores)
    from ..agent.api import MixingBuddy

    with tempfile.TemporaryDirectory(prefix="mb-bench-review-") as tmp:
        print(f"Rendering a {args.seconds:.0f} s stereo 44.1 kHz song with 4 stems ...", file=sys.stderr, flush=True)
        mix, stems = render_song_files(Path(tmp) / "song", args.seconds)
        buddy = MixingBuddy(home=Path(tmp) / "home", llm=None, weights=args.weights, use_model=not args.no_model,
                            separate=False)
        try:
            results = {"mix only (no separation)": time_reviews(buddy, mix, None, args.runs, "mix")}
            if args.stems:
                results["mix + 4 stems"] = time_reviews(buddy, mix, stems, args.runs, "stems")
            if args.separate:
                buddy.separate = True
                results["mix only, separated"] = time_reviews(buddy, mix, None, args.runs, "sep",
                                                              target_s=TARGET_SEPARATED_S)
        finally:
            close = getattr(buddy, "close", None)
            if close:
                close()
    print(table(results, cores), end="")
    if args.json:
        print(json.dumps({"cores": cores, "seconds": args.seconds, "target_s": TARGET_S, **results}))
    return 0 if all(r["median_s"] <= r["target_s"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
