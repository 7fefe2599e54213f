"""Benchmark: HT-Demucs separation speed and quality for each runtime option, on the same songs.

For every option and song, the loudest 10 s of the mix is separated and compared with the true
stems (:func:`score`); the songs are described at :func:`songs`, the timings at :func:`main`.

Usage:  python -m mixingbuddy.evals.bench_separate [--synth 8] [--musdb DIR --songs 16] [--cores 2]
        [--options fp32-t2-ov0,fp32-t2-ov0-fast,fp32-t2-ov25,fp32-t1-ov0,int8-t2-ov0] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import sys
import time

import numpy as np

from ..tools.io.audio import STEM_ROLES
from .bench_review import pin_cores

WINDOW_S = 10.0
SR = 44_100


def parse_option(name: str):
    """``fp32-t2-ov25`` -> SeparatorConfig(precision fp32, 2 threads, overlap 0.25), memory-lean;
    a ``-fast`` suffix keeps onnxruntime's defaults (buffer reuse, memory patterns, its arena
    kept): about 5 GB per segment."""
    from ..tools.separate import SeparatorConfig

    prec, t, ov, *rest = name.split("-")
    return SeparatorConfig(threads=int(t[1:]), overlap=int(ov[2:]) / 100.0, precision=prec,
                           lean_memory=rest != ["fast"])


def songs(n_synth: int, musdb: str | None, n_musdb: int):
    """(set name, song id, stems at 44.1 kHz) for each benchmark song.

    ``n_synth`` synthetic songs rendered with the General MIDI soundfont (seeds apart from the
    corpora's; unseen by HT-Demucs) and ``n_musdb`` MUSDB18 songs from ``musdb``. HT-Demucs was
    trained on the MUSDB18 training songs (all of ``musdb18-7``), so its numbers there flatter
    the separator; the table says so."""
    from ..model.data.sources import load_song, musdb_refs, synth_refs

    for ref in synth_refs(n_synth, seed=9_001, duration_s=WINDOW_S + 2.0):
        yield "synthetic (unseen)", ref.song_id, load_song(ref, SR).stems
    if musdb:
        for ref in musdb_refs(musdb)[:n_musdb]:
            yield "MUSDB18 train (seen in training)", ref.song_id, load_song(ref, SR).stems


def window(stems: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from ..tools.separate import loudest_windows

    mix = sum(stems.values())
    a, b = loudest_windows(mix, SR, WINDOW_S, 1)[0]
    return {r: np.asarray(stems[r][a:b], np.float32) for r in STEM_ROLES}


def rms_db(x: np.ndarray) -> float | None:
    p = float(np.mean(np.square(x, dtype=np.float64)))
    return 10 * math.log10(p) if p > 1e-9 else None  # -90 dBFS: silent in this window


def score(true: dict[str, np.ndarray], est: np.ndarray) -> dict[str, dict]:
    """Per stem, of a window's separation ``est`` against the ``true`` stems:

    - ``level_err_db``: |RMS of the separated stem - RMS of the true stem| in dB (stems silent in
      the window are skipped), the quantity the agent's stem balance rests on;
    - ``sdr_db``: 10 log10(|s|^2 / |s - s_hat|^2) (the plain signal-to-distortion ratio of the
      SiSEC 2018 / MUSDB18 evaluations, without BSS Eval's allowed distortions).
    """
    from ..tools.separate import SOURCES

    out = {}
    for i, r in enumerate(SOURCES):
        s, s_hat = true[r].T.astype(np.float64), est[i].astype(np.float64)
        lt, le = rms_db(s), rms_db(s_hat)
        if lt is None:
            continue
        err = float(np.sum((s - s_hat) ** 2))
        out[r] = {"level_err_db": abs((le if le is not None else -90.0) - lt),
                  "sdr_db": 10 * math.log10(float(np.sum(s * s)) / max(err, 1e-12))}
    return out


def peak_gb(option: str) -> float:
    """Peak RSS (GB) of a fresh process that loads the separator with ``option`` and separates
    one 10 s window of noise-like music (two segments)."""
    import subprocess

    r = subprocess.run([sys.executable, "-m", "mixingbuddy.evals.bench_separate", "--peak-only", option],
                       capture_output=True, text=True, check=True)
    return float(r.stdout.strip().splitlines()[-1])


def _peak_only(option: str) -> int:
    from ..tools.separate import HTDemucs

    sep = HTDemucs(parse_option(option))
    x = (np.random.default_rng(0).standard_normal((2, int(WINDOW_S * SR))) * 0.1).astype(np.float32)
    sep.separate(x)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9)  # Linux: KiB -> GB
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run every option (precision fp32/int8, onnxruntime threads, segment overlap) on every song.

    ``s / window`` is the wall time of one 10 s window (the mix is the sum of the song's true
    stems at 44.1 kHz), pre/post-processing included, the session warm (one untimed warm-up per
    option); ``peak GB`` the peak RSS of a separate process running that option alone on one
    window (:func:`peak_gb`, run as ``--peak-only``; the in-process figure only ever grows).
    The process is pinned to ``--cores`` CPUs (default 2).
    """
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--peak-only"]:
        return _peak_only(argv[1])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--synth", type=int, default=8)
    ap.add_argument("--musdb", default=None)
    ap.add_argument("--songs", type=int, default=16)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--options", default="fp32-t2-ov0,fp32-t2-ov0-fast,fp32-t2-ov25,fp32-t1-ov0,int8-t2-ov0")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    cores = pin_cores(args.cores)
    from ..tools.separate import HTDemucs

    data = [(s, sid, window(st)) for s, sid, st in songs(args.synth, args.musdb, args.songs)]
    print(f"{len(data)} songs, {WINDOW_S:.0f} s windows, cores {cores}", file=sys.stderr)
    results = {}
    for opt in args.options.split(","):
        cfg = parse_option(opt)
        t0 = time.perf_counter()
        sep = HTDemucs(cfg)
        load_s = time.perf_counter() - t0
        mix0 = sum(data[0][2].values()).T
        sep.separate(mix0, overlap=cfg.overlap)  # warm-up
        rows = []
        for set_name, sid, st in data:
            mix = sum(st.values()).T
            t0 = time.perf_counter()
            est = sep.separate(mix, overlap=cfg.overlap)
            dt = time.perf_counter() - t0
            rows.append({"set": set_name, "song": sid, "seconds": dt, "window_s": mix.shape[1] / SR,
                         "stems": score(st, est)})
            print(f"  {opt} {sid[:40]:<40} {dt:5.2f} s", file=sys.stderr)
        del sep
        results[opt] = {"load_s": load_s, "rows": rows, "peak_gb": peak_gb(opt)}
    print(f"\nHT-Demucs separation, {len(cores)} cores, one {WINDOW_S:.0f} s window per song; medians "
          f"(level error = |separated - true stem RMS|, SDR plain); peak GB of each option alone in a "
          f"fresh process\n")
    sets = list(dict.fromkeys(r["set"] for r in results[next(iter(results))]["rows"]))
    base = next(iter(results))
    base_t = statistics.median(r["seconds"] for r in results[base]["rows"] if r["window_s"] >= WINDOW_S - 0.01)
    for set_name in sets:
        print(f"### {set_name}\n")
        print("| option | s / 10 s window | vs " + base + " | peak GB | level error dB (vocals / drums / bass / other) "
              "| SDR dB (vocals / drums / bass / other) | worst level error dB |")
        print("|---|---|---|---|---|---|---|")
        for opt, res in results.items():
            rows = [r for r in res["rows"] if r["set"] == set_name]
            full = [r["seconds"] for r in res["rows"] if r["window_s"] >= WINDOW_S - 0.01]
            t = statistics.median(full) if full else float("nan")
            spread = f" ({min(full):.2f}-{max(full):.2f})" if full else ""

            def med(role: str, key: str, rows: list[dict] = rows) -> str:
                v = [r["stems"][role][key] for r in rows if role in r["stems"]]
                return f"{statistics.median(v):.1f}" if v else "-"

            worst = max((r["stems"][k]["level_err_db"] for r in rows for k in r["stems"]), default=float("nan"))
            print(f"| {opt} | {t:.2f}{spread} | {t / base_t:.2f}x | {res['peak_gb']:.2f} | "
                  + " / ".join(med(r, "level_err_db") for r in STEM_ROLES) + " | "
                  + " / ".join(med(r, "sdr_db") for r in STEM_ROLES) + f" | {worst:.1f} |")
        print()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cores": cores, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
