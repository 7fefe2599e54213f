"""Benchmark: which loudest windows a stems-less review separates, time against accuracy.

A review of a bounced mix separates only its loudest windows (``agent/nodes/measure.py``). For
each window setting and each long song with known stems, the separated windows' stem levels
(each stem against the rest, LU, ``tools.measure.stem_balance``) are compared with the same
levels of the true stems over the whole song, which is what the review's advice is about; the
wall time of the separation is printed beside the error.

The songs are synthetic (General MIDI soundfont, seeds apart from every corpus; HT-Demucs never
saw them). Uses the HT-Demucs weights (personal and research use only).

Usage:  python -m mixingbuddy.evals.bench_sep_windows [--songs 6] [--seconds 90]
        [--settings 3x10+1,3x6.8+0.5]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..tools.io.audio import STEM_ROLES
from .bench_review import pin_cores

SR = 44_100


def parse_setting(name: str) -> tuple[int, float, float]:
    """``3x6.8+0.5`` -> (3 windows, 6.8 s each, 0.5 s of context on each side)."""
    count, rest = name.split("x")
    window, context = rest.split("+")
    return int(count), float(window), float(context)


def stem_levels(report) -> dict[str, float | None]:
    """Each stem's loudness against the rest of the mix (LU) from a stem-balance result."""
    return {s.role or s.name: s.loudness_vs_rest_lu for s in report.stems}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--songs", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=90.0)
    ap.add_argument("--settings", default="3x10+1,3x6.8+0.5")
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args(argv)
    pin_cores(args.cores)

    import soundfile as sf

    from ..model.data.sources import load_song, synth_refs
    from ..tools.io.ingest import load_audio
    from ..tools.measure.stem_balance import measure_stem_balance
    from ..tools.separate import separator_status
    from ..tools.separate.separation import separate_mix

    if not separator_status().available:
        print("HT-Demucs weights are not installed (make weights); nothing to measure", file=sys.stderr)
        return 1
    settings = [(s, *parse_setting(s)) for s in args.settings.split(",")]
    errors: dict[str, list[float]] = {s: [] for s, *_ in settings}
    per_role: dict[str, dict[str, list[float]]] = {s: {r: [] for r in STEM_ROLES} for s, *_ in settings}
    seconds: dict[str, list[float]] = {s: [] for s, *_ in settings}
    with tempfile.TemporaryDirectory() as tmp:
        for k, ref in enumerate(synth_refs(args.songs, seed=9_301, duration_s=args.seconds)):
            stems = load_song(ref, SR).stems
            path = Path(tmp) / f"song{k}.wav"
            sf.write(path, sum(stems.values()), SR, subtype="FLOAT")
            mix = load_audio(str(path))
            truth = stem_levels(measure_stem_balance({r: np.asarray(stems[r], np.float32) for r in STEM_ROLES},
                                                     SR, anchor=None))
            for name, count, window_s, context_s in settings:
                t0 = time.perf_counter()
                sep = separate_mix(mix, n_windows=count, window_s=window_s, context_s=context_s)
                seconds[name].append(time.perf_counter() - t0)
                got = stem_levels(measure_stem_balance(dict(sep.stems), sep.sr, anchor=None))
                for r in STEM_ROLES:
                    if got.get(r) is not None and truth.get(r) is not None:
                        e = abs(got[r] - truth[r])
                        errors[name].append(e)
                        per_role[name][r].append(e)
                print(f"[song {k + 1}/{args.songs}] {name}: {seconds[name][-1]:.1f} s, |error| "
                      + " ".join(f"{r} {abs(got[r] - truth[r]):.2f}" for r in STEM_ROLES
                                 if got.get(r) is not None and truth.get(r) is not None),
                      file=sys.stderr, flush=True)
    print(f"{args.songs} synthetic songs of {args.seconds:g} s (unseen by HT-Demucs), {args.cores} cores; "
          "error = |separated windows - true whole song|, each stem's loudness against the rest (LU)\n")
    print("| windows x length + context | separation, median s | mean abs error LU | median | "
          + " | ".join(STEM_ROLES) + " |")
    print("|---|---|---|---|" + "---|" * len(STEM_ROLES))
    for name, *_ in settings:
        e = errors[name]
        roles = " | ".join(f"{statistics.mean(per_role[name][r]):.2f}" if per_role[name][r] else "-"
                           for r in STEM_ROLES)
        print(f"| {name} s | {statistics.median(seconds[name]):.1f} | {statistics.mean(e):.2f} | "
              f"{statistics.median(e):.2f} | {roles} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
