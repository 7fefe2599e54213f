"""Build the professional stem-balance reference table from the MUSDB18-HQ segment levels.

Usage::

    python -m mixingbuddy.tools.data.build_balance_reference CSV --out tools/data/balance_reference.json
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from collections import defaultdict

import numpy as np

from ..io.audio import ALL_STEMS

# Activity gate: a segment enters a statistic only when every stem the statistic involves has
# active_frame_ratio >= this (at least half of its 50 ms frames above -50 dBFS); see build_population
GATE_RATIO = 0.5
PERCENTILES = (5, 10, 25, 50, 75, 90, 95)  # over segments, numpy's linear interpolation

# The README of the reference data gives these over the segments where all four stems are
# active (its "1,806 segments"); the script prints its own numbers beside them as a check.
# This gate gives 1,800 such segments and reproduces every figure to within 0.1 dB.
README_CHECK = {  # (stem, anchor): (mean, sd, p5, p25, p50, p75, p95)
    ("vocals", "drums"): (0.8, 4.4, -5.7, -2.1, 0.7, 3.5, 8.0),
    ("bass", "drums"): (0.0, 5.2, -7.8, -3.2, -0.6, 3.1, 8.8),
    ("vocals", "bass"): (0.8, 4.6, -6.6, -2.0, 1.0, 4.0, 7.7),
    ("vocals", "mixture"): (-6.4, 2.5, -10.6, -7.6, -6.0, -4.7, -3.3),
    ("drums", "mixture"): (-7.2, 3.4, -12.9, -9.1, -6.6, -4.7, -2.8),
    ("bass", "mixture"): (-7.2, 3.2, -12.7, -9.2, -6.8, -4.9, -2.5),
}


def read_segments(path: str) -> list[dict]:
    """One dict per (split, track, segment): ``split, track, start_s`` and per stem
    ``(rms_dbfs, active_frame_ratio)``; segments missing a stem are dropped.

    ``path`` is the per-segment RMS table published by the MixingBuddy-gain study (its public
    repository, ``scripts/01_analyze_musdb_stats.py``, commit 7c19514), computed from the
    full-length stems of MUSDB18-HQ (Rafii, Liutkus, Stoter, Mimilakis, Bittner, "MUSDB18-HQ -
    an uncompressed version of MUSDB18", 2019, doi:10.5281/zenodo.3338373), 10 s segments,
    stems ``mixture, bass, drums, other, vocals``. MUSDB18-HQ has 150 songs (100 train, 50
    test); the published table holds 149 of them (99 train, 50 test), 3,521 segments.

    ``rms_dbfs`` is the RMS of the whole 10 s segment in dBFS, the two channels pooled
    (``sqrt(mean over samples and channels of x^2)``, 0 dBFS = full-scale 1.0);
    ``active_frame_ratio`` is the share of 50 ms frames (non-overlapping, taken on the mean of
    the two channels) whose RMS is above -50 dBFS. It is an RMS level, not a loudness (LUFS): a
    tool that compares a user's stems with this table must compute the same RMS quantity
    (``tools.measure.stem_balance`` does).
    """
    segs: dict[tuple, dict] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            key = (row["split"], row["track"], row["start_sec"])
            seg = segs.setdefault(key, {"split": row["split"], "track": row["track"],
                                        "start_s": float(row["start_sec"])})
            seg[row["stem"]] = (float(row["rms_dbfs"]), float(row["active_frame_ratio"]))
    need = ("mixture",) + ALL_STEMS
    return [s for s in segs.values() if all(k in s for k in need)]


def power_sum_db(levels_db: list[float]) -> float:
    """Level of a sum of uncorrelated signals: 10*log10(sum 10^(L/10)).

    Powers add only for uncorrelated stems (true on average for independent sources; a bass
    doubled by a synth, or drum bleed in a vocal, breaks it by up to +3 dB).
    """
    return 10.0 * math.log10(sum(10.0 ** (v / 10.0) for v in levels_db))


def summarise(values: list[float], songs: list[str]) -> dict:
    """Percentiles p5..p95, mean, sd (ddof=1) and n over segments, and the song-level picture:
    ``n_songs``, ``song_mean_sd_db`` (sd of the per-song means: how much professional balance
    varies between songs) and ``within_song_sd_db`` (root mean of the per-song variances: how
    much it moves inside a song)."""
    v = np.asarray(values, dtype=np.float64)
    out: dict = {f"p{p}_db": round(float(np.percentile(v, p)), 2) for p in PERCENTILES}
    out["mean_db"] = round(float(v.mean()), 2)
    out["sd_db"] = round(float(v.std(ddof=1)), 2) if v.size > 1 else None
    out["n"] = int(v.size)
    by_song: dict[str, list[float]] = defaultdict(list)
    for x, s in zip(values, songs):
        by_song[s].append(x)
    means = np.array([np.mean(x) for x in by_song.values()])
    variances = [np.var(x, ddof=1) for x in by_song.values() if len(x) > 1]
    out["n_songs"] = len(by_song)
    out["song_mean_sd_db"] = round(float(means.std(ddof=1)), 2) if means.size > 1 else None
    out["within_song_sd_db"] = (round(float(math.sqrt(np.mean(variances))), 2)
                                if variances else None)
    return out


def _active(seg: dict, stems) -> bool:
    return all(seg[k][1] >= GATE_RATIO for k in stems)


def build_population(segs: list[dict]) -> dict:
    """All statistics for one population of segments.

    Each statistic gates on the stems it involves (:data:`GATE_RATIO`): ``vs_mix[stem]`` (stem
    dB - mixture dB) the stem and the mixture; ``vs_rest[stem]`` (stem dB - "rest of the mix"
    dB, the rest being the :func:`power_sum_db` of the other three) all four stems;
    ``vs_anchor[anchor][stem]`` (stem dB - anchor dB) the two stems.
    """
    def collect(involved, value):
        vals, songs = [], []
        for s in segs:
            if _active(s, involved):
                vals.append(value(s))
                songs.append(f"{s['split']}/{s['track']}")
        return summarise(vals, songs) if vals else None

    vs_mix = {st: collect((st, "mixture"), lambda s, st=st: s[st][0] - s["mixture"][0])
              for st in ALL_STEMS}
    vs_rest = {st: collect(ALL_STEMS, lambda s, st=st: s[st][0] - power_sum_db(
        [s[o][0] for o in ALL_STEMS if o != st])) for st in ALL_STEMS}
    vs_anchor = {a: {st: collect((st, a), lambda s, st=st, a=a: s[st][0] - s[a][0])
                     for st in ALL_STEMS if st != a} for a in ALL_STEMS}
    full_band = [s for s in segs if _active(s, ALL_STEMS)]
    return {
        "n_segments": len(segs),
        "n_songs": len({(s["split"], s["track"]) for s in segs}),
        "n_segments_all_four_active": len(full_band),
        "vs_mix": vs_mix,
        "vs_rest": vs_rest,
        "vs_anchor": vs_anchor,
    }


def readme_check(segs: list[dict]) -> list[str]:
    """Lines comparing our numbers with the README table (all four stems active)."""
    full = [s for s in segs if _active(s, ALL_STEMS)]
    lines = [(f"README check over {len(full)} segments with all four stems active "
              "(README says 1,806): ours vs README (mean sd p5 p25 p50 p75 p95)")]
    worst = 0.0
    for (a, b), ref in README_CHECK.items():
        d = np.array([s[a][0] - s[b][0] for s in full])
        ours = (d.mean(), d.std(ddof=1), *np.percentile(d, [5, 25, 50, 75, 95]))
        worst = max(worst, max(abs(round(o, 1) - r) for o, r in zip(ours, ref)))
        lines.append(f"  {a:>6} - {b:<7} ours " + " ".join(f"{o:6.1f}" for o in ours)
                     + "  README " + " ".join(f"{v:6.1f}" for v in ref))
    lines.append(f"  largest difference {worst:.1f} dB")
    return lines


def build(csv_path: str) -> dict:
    """The whole table, with two populations: ``all`` (train + test) and ``train`` (train
    only, for benchmarks that evaluate on the test split)."""
    segs = read_segments(csv_path)
    if not segs:
        raise SystemExit(f"{os.path.basename(csv_path)}: no complete segments found")
    return {
        "description": (
            "Professional stem balance: relative RMS levels (dB) of MUSDB18-HQ stems over 10 s "
            "segments. vs_mix[stem] = stem - mixture; vs_rest[stem] = stem - power sum of the "
            "other three stems; vs_anchor[anchor][stem] = stem - anchor. Typical range = p10..p90."),
        "sources": [
            ("Z. Rafii, A. Liutkus, F.-R. Stoter, S. I. Mimilakis, R. Bittner: MUSDB18-HQ - an "
             "uncompressed version of MUSDB18 (2019), doi:10.5281/zenodo.3338373"),
            ("MixingBuddy-gain study, published segment table musdb18hq_segment_rms.csv "
             "(scripts/01_analyze_musdb_stats.py, commit 7c19514)"),
        ],
        "level": {
            "quantity": "rms_dbfs",
            "definition": "RMS of the 10 s segment, both channels pooled, in dBFS",
            "segment_s": 10.0,
            "min_tail_segment_s": 5.0,
            "frame_s": 0.05,
            "frame_active_above_dbfs": -50.0,
            "frame_signal": "mean of the channels",
        },
        "gate": {
            "active_frame_ratio_min": GATE_RATIO,
            "rule": ("a segment counts for a statistic when every involved stem has "
                     "active_frame_ratio >= 0.5: the stem and the mixture for vs_mix, all four "
                     "stems for vs_rest, the two stems for vs_anchor"),
        },
        "rest_assumption": ("rest level = 10*log10(sum 10^(L/10)) over the other three stems: "
                            "assumes uncorrelated stems (powers add)"),
        "populations": {
            "all": build_population(segs),
            "train": build_population([s for s in segs if s["split"] == "train"]),
        },
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("csv", help="musdb18hq_segment_rms.csv")
    p.add_argument("--out", required=True, help="output JSON path")
    args = p.parse_args(argv)
    table = build(args.csv)
    text = json.dumps(table, indent=1, sort_keys=False)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text + "\n")
    for line in readme_check(read_segments(args.csv)):
        print(line)
    allp = table["populations"]["all"]
    print(f"wrote {args.out} ({len(text) / 1024:.1f} kB): {allp['n_segments']} segments, "
          f"{allp['n_songs']} songs")
    for st, s in allp["vs_rest"].items():
        print(f"  {st:>6} vs rest: p10 {s['p10_db']:6.1f}  p50 {s['p50_db']:6.1f}  "
              f"p90 {s['p90_db']:6.1f}  n {s['n']}  song-mean sd {s['song_mean_sd_db']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
