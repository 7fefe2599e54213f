"""Build the packaged professional spectral target curve (``tools/data/target_curve.json``).

Usage::

    python -m mixingbuddy.tools.data.build_target_curve path/to/musdb18-7/train \
        --out tools/data/target_curve.json
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys

import numpy as np

from ..io.audio import ANALYSIS_SR
from ..io.ingest import load_audio
from ..measure.bands import REGIONS_HZ, nominal_hz
from ..measure.spectral import DEFAULT_N_FFT, NORMALISATION_RULE, spectral_profile

SCRIPT_VERSION = "1.0"
# Rafii, Liutkus, Stoter, Mimilakis, Bittner, "The MUSDB18 corpus for music separation", 2017.
# The excerpts are AAC at 44.1 kHz (about 256 kb/s), so the top octave is shaped by the codec's
# low-pass; build measures where the songs' levels collapse and stores a reliable_range_hz
# outside which the curve is shown but drives no advice.
SOURCE = ("MUSDB18 7-second preview excerpts, 94 train-split songs; Rafii et al. 2017, MUSDB18 "
          "corpus, doi 10.5281/zenodo.1117372")
# A band is "reliable" when its 10th percentile is within this many dB of the 10th percentile
# of the band one step below it: above an AAC low-pass the level falls off a cliff.
CLIFF_DB = 12.0


def _stat(v: np.ndarray) -> dict[str, float]:
    return {"mean": round(float(v.mean()), 2), "sd": round(float(v.std(ddof=1)), 2),
            "p10": round(float(np.percentile(v, 10)), 2), "p90": round(float(np.percentile(v, 90)), 2)}


def reliable_range(centres: np.ndarray, band_p10: np.ndarray) -> tuple[float, float]:
    """Highest band before the first >CLIFF_DB drop of the 10th-percentile curve (going up from
    1 kHz), and 20 Hz at the bottom (the decoder keeps the low end)."""
    hi = float(centres[-1])
    start = int(np.argmin(np.abs(centres - 1000.0)))
    for i in range(start + 1, len(centres)):
        if band_p10[i - 1] - band_p10[i] > CLIFF_DB:
            hi = float(centres[i - 1])
            break
    return float(centres[0]), hi


def build(folder: str, verbose: bool = True) -> dict:
    """The target curve from every ``*.stem.mp4`` in a MUSDB18 folder.

    For each song the mixture (NI Stems format: stream 0) is loaded with the project's own
    ingest (:func:`mixingbuddy.tools.io.ingest.load_audio` with ``stream=0``: PyAV decode,
    checks, soxr resampling to the 48 kHz analysis rate, exactly as a user's mix is loaded), and
    its profile is computed exactly as :func:`mixingbuddy.tools.measure.spectral.measure_spectrum`
    does (:func:`mixingbuddy.tools.measure.spectral.spectral_profile`: 1/3-octave LTAS normalised
    to the mean level of the 100 Hz-10 kHz bands, region levels, tilt, centroid). Stored per
    band and per region: the between-song mean, sd (ddof=1), 10th and 90th percentiles (numpy
    linear interpolation) and the number of songs.
    """
    paths = sorted(glob.glob(os.path.join(folder, "*.stem.mp4")))
    if not paths:
        raise SystemExit(f"no *.stem.mp4 files in {folder}")
    levels, regions, tilts, centroids, names = [], [], [], [], []
    centres = None
    for p in paths:
        audio = load_audio(p, stream=0, target_sr=ANALYSIS_SR)
        prof = spectral_profile(audio.samples, audio.sr)
        if prof.silent:
            print(f"skip (silent): {os.path.basename(p)}", file=sys.stderr)
            continue
        centres = prof.centres_hz
        levels.append(prof.band_level_db)
        regions.append(prof.region_level_db)
        tilts.append(prof.tilt_db_per_oct)
        centroids.append(prof.centroid_hz)
        names.append(os.path.basename(p))
        if verbose:
            print(f"{len(names):3d} {os.path.basename(p)[:50]:50s} tilt {prof.tilt_db_per_oct:+.2f} "
                  f"centroid {prof.centroid_hz:7.0f}", file=sys.stderr)
    L = np.vstack(levels)
    R = np.vstack(regions)
    band_p10 = np.percentile(L, 10, axis=0)
    rel = reliable_range(centres, band_p10)
    bands = []
    for i, f in enumerate(centres):
        s = _stat(L[:, i])
        bands.append({"centre_hz": round(float(f), 2), "nominal_hz": nominal_hz(f), "mean_db": s["mean"],
                      "sd_db": s["sd"], "p10_db": s["p10"], "p90_db": s["p90"], "n_songs": int(L.shape[0])})
    regs = []
    for j, (name, (lo, hi)) in enumerate(REGIONS_HZ.items()):
        s = _stat(R[:, j])
        regs.append({"name": name, "lo_hz": lo, "hi_hz": hi, "mean_db": s["mean"], "sd_db": s["sd"],
                     "p10_db": s["p10"], "p90_db": s["p90"]})
    return {
        "name": "professional mixes (MUSDB18 train previews)",
        "source": SOURCE,
        "normalisation": NORMALISATION_RULE,
        "script_version": f"mixingbuddy.tools.data.build_target_curve {SCRIPT_VERSION}",
        "analysis_sr_hz": ANALYSIS_SR,
        "n_fft": DEFAULT_N_FFT,
        "n_songs": int(L.shape[0]),
        "reliable_range_hz": list(rel),
        "bands": bands,
        "regions": regs,
        "tilt_db_per_oct": _stat(np.array(tilts)),
        "centroid_hz": _stat(np.array(centroids)),
        "notes": [
            "Levels are normalised 1/3-octave band levels in dB (see normalisation); mean and sd "
            "(ddof=1) and the 10th/90th percentiles are taken over songs.",
            "Each song is a 6.8 s preview excerpt, AAC-coded at about 256 kb/s, loaded with "
            "mixingbuddy.tools.io.ingest.load_audio (PyAV decode, soxr 44.1 -> 48 kHz).",
            f"Above {rel[1]:g} Hz the excerpts' levels fall off the AAC low-pass (a drop of more "
            f"than {CLIFF_DB:g} dB in the 10th percentile), so bands and regions above it are "
            "shown but not used for advice.",
        ],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("musdb_dir", help="folder holding MUSDB18 *.stem.mp4 files")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "target_curve.json"))
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    table = build(a.musdb_dir, verbose=not a.quiet)
    text = json.dumps(table, indent=1)
    with open(a.out, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    print(f"wrote {a.out} ({len(text)} bytes, {table['n_songs']} songs, reliable "
          f"{table['reliable_range_hz'][0]:g}-{table['reliable_range_hz'][1]:g} Hz)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
