"""Speed and balance accuracy of the General-MIDI song renderer (model/data/render.py).

Renders ``--songs`` songs (styles in turn) of ``--seconds`` each on ONE core (BLAS and FFT
threads pinned to 1 before numpy loads) and prints, per style and overall: seconds per song,
the real-time factor, and how far the achieved natural balance (level vs the rest of the mix,
power-sum form, median over gated 10 s segments) lies from the drawn target for bass, drums,
vocals (the benchmark's stems, solved exactly) and other (takes the residual).

    python -m mixingbuddy.evals.bench_render --songs 14 --seconds 30
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import sys
import time

import numpy as np
from tqdm import tqdm

from ..model.data.render import STYLES, render_song


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--songs", type=int, default=14)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--sr", type=int, default=44_100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the per-song results here")
    args = ap.parse_args(argv)
    styles = list(STYLES)
    render_song(args.seed, styles[0], duration_s=2.0, sr=args.sr)  # load the soundfont once
    rows = []
    for i in tqdm(range(args.songs), desc="render", file=sys.stderr):
        st = styles[i % len(styles)]
        t0 = time.perf_counter()
        s = render_song(args.seed + i, st, duration_s=args.seconds, sr=args.sr)
        dt = time.perf_counter() - t0
        tgt, got = s.meta["target_vs_rest_db"], s.natural_vs_rest_db
        miss = {k: (abs(got[k] - tgt[k]) if k in got else None) for k in tgt}
        rows.append({"seed": args.seed + i, "style": st, "seconds": dt, "miss_db": miss,
                     "redraws": s.meta["balance_redraws"]})
    print(f"{'style':<8} {'songs':>5} {'s/song':>7} {'x real-time':>11} "
          f"{'max miss b/d/v dB':>17} {'median miss other dB':>20}")
    for st in styles + ["all"]:
        sel = [r for r in rows if st == "all" or r["style"] == st]
        if not sel:
            continue
        sec = float(np.mean([r["seconds"] for r in sel]))
        bdv = [r["miss_db"][k] for r in sel for k in ("bass", "drums", "vocals")
               if r["miss_db"][k] is not None]
        oth = [r["miss_db"]["other"] for r in sel if r["miss_db"]["other"] is not None]
        print(f"{st:<8} {len(sel):>5} {sec:>7.2f} {args.seconds / sec:>11.1f} "
              f"{max(bdv) if bdv else float('nan'):>17.3f} "
              f"{float(np.median(oth)) if oth else float('nan'):>20.3f}")
    lost = sum(1 for r in rows for k in ("bass", "drums", "vocals") if r["miss_db"][k] is None)
    print(f"render speed: {np.mean([r['seconds'] for r in rows]):.2f} s per {args.seconds:g} s song "
          f"(4 stems, {args.sr} Hz, one core); balance redraws: "
          f"{sum(r['redraws'] for r in rows)}; stems left ungated: {lost}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
