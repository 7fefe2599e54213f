"""Fit the mix-only stem-level estimator (``tools.measure.mix_estimate``) on real multitracks.

Usage::

    python -m mixingbuddy.tools.data.build_mix_estimate_calibration path/to/musdb18-7 \
        --out tools/data/mix_estimate_calibration.json
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import os
import sys

import numpy as np

from ..measure.mix_estimate import FEATURE_VERSION, _features, apply_line, other_feature

STREAMS = {"drums": 1, "bass": 2, "other": 3, "vocals": 4}  # of a MUSDB18 .stem.mp4; 0 is the mixture
# a stem enters the fit only when active: >= 50 % of its 50 ms frames above -50 dBFS (the gate of
# the professional reference, balance_reference.json)
FRAME_S, ACTIVE_DBFS, GATE = 0.05, -50.0, 0.5


def _rms_db(x: np.ndarray) -> float:
    return 10.0 * math.log10(max(float(np.mean(np.square(x, dtype=np.float64))), 1e-20))


def _active_ratio(x: np.ndarray, sr: int) -> float:
    m = x.mean(axis=1, dtype=np.float64)
    n = max(1, int(sr * FRAME_S))
    f = m.size // n
    ms = np.mean(m[: f * n].reshape(f, n) ** 2, axis=1)
    return float(np.mean(10.0 * np.log10(np.maximum(ms, 1e-20)) > ACTIVE_DBFS))


def measure_clip(path: str) -> dict:
    """Truth and features of one MUSDB18 ``.stem.mp4`` (decoded and resampled to 48 kHz by
    ``tools.io.ingest``).

    The true level of each stem is its RMS dBFS (both channels pooled) minus the mixture's, over
    the whole clip, the quantity of the professional reference (``balance_reference.json``).
    The estimator's raw features (``mix_estimate._features``) are taken on the mixture once as
    given and once downmixed to mono (the mono-mix vocals feature is fitted on mono downmixes).
    """
    from ..io.ingest import load_audio

    streams = [load_audio(path, stream=k) for k in range(5)]
    n = min(a.n_samples for a in streams)
    mix = streams[0].stereo()[:n]
    sr = streams[0].sr
    truth, active = {}, {}
    for role, k in STREAMS.items():
        s = streams[k].stereo()[:n]
        truth[role] = _rms_db(s) - _rms_db(mix)
        active[role] = _active_ratio(s, sr) >= GATE
    feats = _features(np.ascontiguousarray(mix, dtype=np.float32), sr)
    mono = mix.mean(axis=1, keepdims=True).astype(np.float32)
    feats_mono = _features(mono, sr)
    feats["vocals_harm_mid"] = feats_mono["vocals_harm_mid"]
    return {"name": os.path.basename(path), "truth": truth, "active": active, "features": feats,
            "features_mono": feats_mono}


def fit_line(x: np.ndarray, y: np.ndarray) -> dict:
    """Least-squares line ``level = intercept + slope * feature``, with Pearson r, the
    in-sample and the leave-one-out (LOO) RMS and mean absolute errors, and the MAE of the best
    constant (the median level) for comparison. ``mix_estimate`` uses the LOO RMS error as its
    expected error."""
    a = np.column_stack([x, np.ones_like(x)])
    slope, intercept = np.linalg.lstsq(a, y, rcond=None)[0]
    res = y - a @ [slope, intercept]
    loo = []
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        s_i, c_i = np.linalg.lstsq(a[keep], y[keep], rcond=None)[0]
        loo.append(y[i] - (c_i + s_i * x[i]))
    loo = np.asarray(loo)
    return {
        "slope": round(float(slope), 4), "intercept_db": round(float(intercept), 4),
        "n": len(y), "r": round(float(np.corrcoef(x, y)[0, 1]), 3),
        "rmse_db": round(float(np.sqrt(np.mean(res ** 2))), 3),
        "loo_rmse_db": round(float(np.sqrt(np.mean(loo ** 2))), 3),
        "loo_mae_db": round(float(np.mean(np.abs(loo))), 3),
        "constant_mae_db": round(float(np.mean(np.abs(y - np.median(y)))), 3),
        "feature_min": round(float(x.min()), 2), "feature_max": round(float(x.max()), 2),
        "level_mean_db": round(float(y.mean()), 2), "level_sd_db": round(float(y.std(ddof=1)), 2),
    }


def build(folder: str) -> dict:
    """The calibration table from every ``.stem.mp4`` under ``folder``.

    Each feature gets a line (:func:`fit_line`); the mono-mix other-stem feature (what the
    three calibrated mono estimates leave of the mix) is computed from the fitted lines and
    fitted in turn. Drums and bass use the stereo features for both; their mono-mix features
    differ only by what the downmix cancels.

    The data are the MUSDB18 train previews (Z. Rafii, A. Liutkus, F.-R. Stoter,
    S. I. Mimilakis, R. Bittner, "The MUSDB18 corpus for music separation", 2017,
    doi:10.5281/zenodo.1117372).
    """
    paths = sorted(glob.glob(os.path.join(folder, "**", "*.stem.mp4"), recursive=True))
    if not paths:
        raise SystemExit(f"no .stem.mp4 files under {folder}")
    clips = [measure_clip(p) for p in paths]
    clips = [c for c in clips if not c["features"].get("silent")]
    feats: dict[str, dict] = {}
    pairs = [("drums_perc", "drums"), ("bass_harm_low", "bass"),
             ("vocals_centre_harm", "vocals"), ("vocals_harm_mid", "vocals"),
             ("other_side_harm", "other")]
    for fname, role in pairs:
        sel = [c for c in clips if c["active"][role] and fname in c["features"]]
        x = np.array([c["features"][fname] for c in sel])
        y = np.array([c["truth"][role] for c in sel])
        feats[fname] = dict(fit_line(x, y), role=role)
    # other for mono mixes: the remainder after the three calibrated mono-mix estimates
    sel = [c for c in clips if c["active"]["other"]]
    xo = []
    for c in sel:
        fm = c["features_mono"]
        est = {role: min(apply_line(feats[f], fm[f]), -0.5)
               for f, role in (("drums_perc", "drums"), ("bass_harm_low", "bass"),
                               ("vocals_harm_mid", "vocals"))}
        xo.append(other_feature(est))
    feats["other_residual"] = dict(fit_line(np.array(xo), np.array([c["truth"]["other"] for c in sel])),
                                   role="other")
    return {
        "feature_version": FEATURE_VERSION,
        "source": ("MUSDB18 train previews (94 songs x 6.8 s; Rafii et al. 2017, "
                   "doi:10.5281/zenodo.1117372)"),
        "n_clips": len(clips),
        "target": "stem RMS dBFS minus mixture RMS dBFS (channels pooled, whole clip)",
        "gate": "stem active: >= 50 % of 50 ms frames above -50 dBFS",
        "model": "level_db = intercept_db + slope * feature_db",
        "features": feats,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Fit the mix-only stem-level estimator on MUSDB18 stems")
    p.add_argument("folder", help="folder holding MUSDB18 .stem.mp4 files (searched recursively)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    cal = build(args.folder)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(json.dumps(cal, indent=1) + "\n")
    print(f"wrote {args.out} from {cal['n_clips']} clips")
    for name, e in cal["features"].items():
        print(f"  {name:>20} -> {e['role']:<6} n {e['n']:3d}  r {e['r']:5.2f}  slope {e['slope']:5.2f}  "
              f"LOO MAE {e['loo_mae_db']:.2f} dB  LOO RMSE {e['loo_rmse_db']:.2f} dB  "
              f"(constant MAE {e['constant_mae_db']:.2f} dB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
