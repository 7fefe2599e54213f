"""Build the professional masking range (``tools/data/masking_reference.json``) from MUSDB18 songs.

Usage:  python -m mixingbuddy.tools.data.build_masking_reference path/to/musdb18-7/train \
            --out tools/data/masking_reference.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ..io.ingest import load_mix_and_stems
from ..measure.masking import measure_masking

PERCENTILES = (50, 90, 95)


def fit_songs(paths: list[Path]) -> list[Path]:
    """The songs the range is measured on: every other song in name order (the even-numbered
    ones), so the other half stays apart for ``evals/specificity.py``."""
    return sorted(paths)[0::2]


def build(paths: list[Path]) -> dict:
    """Per ordered stem pair (``"masker->target"``): the share of the target's active cells the
    masker covers (``tools.measure.masking``) over the songs, as p50/p90/p95 and the count."""
    pcts: dict[str, list[float]] = {}
    for i, p in enumerate(paths):
        _, stems = load_mix_and_stems(p)
        res = measure_masking({r: a.samples for r, a in stems.stems.items()}, stems.sr)
        for pair in res.pairs:
            if pair.masked_pct is not None:
                pcts.setdefault(f"{pair.masker}->{pair.target}", []).append(pair.masked_pct)
        print(f"[{i + 1}/{len(paths)}] {p.name}", file=sys.stderr)
    return {"source": "MUSDB18 7-s previews, every other song in name order",
            "songs": [p.name for p in paths],
            "method": "tools.measure.masking.measure_masking defaults; masked_pct of the target's active cells",
            "pairs": {k: {**{f"p{q}_pct": round(float(np.percentile(v, q)), 1) for q in PERCENTILES}, "n": len(v)}
                      for k, v in sorted(pcts.items())}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("musdb", help="a folder of MUSDB18 .stem.mp4 files")
    ap.add_argument("--out", default=str(Path(__file__).with_name("masking_reference.json")))
    args = ap.parse_args(argv)
    songs = fit_songs(list(Path(args.musdb).glob("*.stem.mp4")))
    if not songs:
        print(f"no .stem.mp4 files in {args.musdb}", file=sys.stderr)
        return 2
    Path(args.out).write_text(json.dumps(build(songs), indent=1) + "\n")
    print(f"wrote {args.out} ({len(songs)} songs)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
