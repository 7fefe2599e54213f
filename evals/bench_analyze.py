"""Benchmark: `analyze` speed on a 3-minute song, and loudness agreement with ffmpeg's ebur128.

The four parts are listed at :func:`main`.

Usage:  python -m mixingbuddy.evals.bench_analyze [--runs 5] [--musdb DIR]
Needs Debian's ffmpeg on PATH for parts 2-3 (`make bench` installs it).
"""
from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

from mixingbuddy.model.data.demo_song import SongConfig, render_song
from mixingbuddy.tools.io.ingest import load_audio, load_mix_and_stems
from mixingbuddy.tools.measure.analyze import analyze

DEFAULT_MUSDB = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "musdb18-7"


def ffmpeg_ebur128_cmd(path: Path, stream: int | None = None) -> list[str]:
    """The ffmpeg command line that measures ``path`` with the ebur128 filter (true peak on)."""
    cmd = ["ffmpeg", "-nostats", "-hide_banner", "-i", str(path)]
    if stream is not None:
        cmd += ["-map", f"0:a:{stream}"]
    return cmd + ["-filter_complex" if stream is None else "-af", "ebur128=peak=true", "-f", "null", "-"]


def parse_ebur128_summary(stderr: str) -> dict[str, float]:
    """Integrated loudness, LRA and true peak from the summary ffmpeg's ebur128 filter prints."""
    summary = stderr[stderr.rfind("Summary:"):]
    grab = lambda key: float(re.search(key + r":\s+(-?[\d.]+|-inf)", summary).group(1))  # noqa: E731
    return {"integrated_lufs": grab("I"), "lra_lu": grab("LRA"), "true_peak_dbtp": grab("Peak")}


def ffmpeg_ebur128(path: Path, stream: int | None = None) -> dict[str, float]:
    """Run ffmpeg's ebur128 filter (true peak on) and parse its summary (plus ``seconds``)."""
    t0 = time.perf_counter()
    p = subprocess.run(ffmpeg_ebur128_cmd(path, stream), capture_output=True, text=True, check=True)
    return {**parse_ebur128_summary(p.stderr), "seconds": time.perf_counter() - t0}


def essentia_ebur128(samples, sr: int) -> dict[str, float]:
    """essentia's EBU R128 meter on (n, 1|2) float samples: integrated loudness and LRA."""
    import numpy as np
    from essentia.standard import LoudnessEBUR128

    x = np.asarray(samples, np.float32)
    x = np.repeat(x, 2, axis=1) if x.shape[1] == 1 else x[:, :2]
    _, _, integrated, lra = LoudnessEBUR128(sampleRate=float(sr))(np.ascontiguousarray(x))
    return {"integrated_lufs": float(integrated), "lra_lu": float(lra)}


def bench_essentia(musdb: Path, limit: int, runs: int, mix_path: Path | None) -> bool:
    """Agreement with essentia on real songs (integrated, LRA) and its time on the 3-minute mix
    (informational: it never fails the benchmark)."""
    files = sorted((musdb / "train").glob("*.stem.mp4"))[:limit]
    from mixingbuddy.tools.measure.loudness import measure_loudness

    if mix_path is not None and mix_path.exists():
        a = load_audio(mix_path, target_sr=44_100)
        essentia_ebur128(a.samples, a.sr)  # warm-up
        t_es, _ = median_time(lambda: essentia_ebur128(a.samples, a.sr), runs)
        t_ours, _ = median_time(lambda: measure_loudness(a.samples, a.sr), runs)
        print(f"\nessentia LoudnessEBUR128 on the 3-minute mix (decoded once; median of {runs}): "
              f"{t_es:.2f} s; our loudness tool on the same samples (with true peak and the series): "
              f"{t_ours:.2f} s ({t_ours / t_es:.2f}x)")
    if not files:
        return True
    print(f"\nAgreement with essentia LoudnessEBUR128 on {len(files)} real songs (mixture stream):")
    print("| song | I ours | I essentia | dI LU | LRA ours | LRA essentia | dLRA LU |")
    print("|---|---|---|---|---|---|---|")
    worst = {"i": 0.0, "lra": 0.0}
    for f in files:
        a = load_audio(f, stream=0)
        ours = measure_loudness(a.samples, a.sr)
        es = essentia_ebur128(a.samples, a.sr)
        d = {"i": ours.integrated_lufs - es["integrated_lufs"], "lra": (ours.loudness_range_lu or 0.0) - es["lra_lu"]}
        for k in worst:
            worst[k] = max(worst[k], abs(d[k]))
        print(f"| {f.name.replace('.stem.mp4', '')[:40]} | {ours.integrated_lufs:.2f} | {es['integrated_lufs']:.2f} | "
              f"{d['i']:+.2f} | {ours.loudness_range_lu or 0:.2f} | {es['lra_lu']:.2f} | {d['lra']:+.2f} |")
    print(f"\nworst |dI| = {worst['i']:.3f} LU, |dLRA| = {worst['lra']:.3f} LU (a cross-check: the agreement "
          "targets are against ffmpeg's libebur128, the reference EBU Tech 3341 implementation)")
    return True


def median_time(fn, runs: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def full_analyze(mix: Path, stems: Path | None = None):
    """What ``mixingbuddy analyze MIX [--stems DIR --anchor drums] --platform spotify`` computes:
    decode (and resample) the files, then every measurement; the report."""
    m, s = load_mix_and_stems(mix, stems)
    return analyze(m, s, anchor="drums" if stems is not None else None, platform="spotify")


def bench_speed(runs: int, tmp: Path) -> None:
    print("Rendering a 3-minute 44.1 kHz stereo song with 4 stems ...", flush=True)
    mix, stems = render_song(SongConfig(duration_s=180.0, sr=44_100, seed=1), gains_db={"vocals": -4.0})
    (tmp / "stems").mkdir()
    sf.write(tmp / "mix.wav", mix, 44_100, subtype="PCM_24")
    for role, x in stems.items():
        sf.write(tmp / "stems" / f"{role}.wav", x, 44_100, subtype="PCM_24")

    def full(with_stems: bool):
        return full_analyze(tmp / "mix.wav", tmp / "stems" if with_stems else None)

    full(False)  # warm-up: imports, numba/librosa caches, FFT plans
    have_ffmpeg = shutil.which("ffmpeg") is not None
    mix_runs, ff_runs = [], []
    for _ in range(runs):  # interleaved, so a change in the machine's load hits both alike
        mix_runs.append(timed(lambda: full(False)))
        if have_ffmpeg:
            ff_runs.append(timed(lambda: ffmpeg_ebur128(tmp / "mix.wav")))
    stem_runs = [timed(lambda: full(True)) for _ in range(runs)]
    (t_mix, c_mix, rep_mix), (t_stems, c_stems, rep_stems) = medians(mix_runs), medians(stem_runs)
    print(f"\n| analyze, 3-min stereo 44.1 kHz (median of {runs}) | wall s | CPU s (all threads) | target |")
    print("|---|---|---|---|")
    print(f"| mix only | {t_mix:.2f} | {c_mix:.2f} | <= 3 |")
    print(f"| mix + 4 stems | {t_stems:.2f} | {c_stems:.2f} | <= 8 |")
    print("\nper-tool seconds (mix+stems run; tools run on a 2-thread pool, so they overlap):")
    for k, v in rep_stems.timings_s.items():
        print(f"  {k:22s} {v:.3f}")
    print("per-tool seconds (mix-only run):")
    for k, v in rep_mix.timings_s.items():
        print(f"  {k:22s} {v:.3f}")
    if have_ffmpeg:
        t_ff, c_ff, ff = medians(ff_runs)
        ours = rep_mix.loudness
        print(f"\nffmpeg ebur128 (loudness only, runs interleaved with the mix-only ones) median {t_ff:.2f} s "
              f"wall, {c_ff:.2f} s CPU; full analyze / ffmpeg = {t_mix / t_ff:.2f}x wall, {c_mix / c_ff:.2f}x CPU")
        print(f"on this mix: ours I={ours.integrated_lufs:.2f} LUFS, TP={ours.true_peak_dbtp:.2f} dBTP, "
              f"LRA={ours.loudness_range_lu:.2f} LU | ffmpeg I={ff['integrated_lufs']:.2f}, "
              f"TP={ff['true_peak_dbtp']:.2f}, LRA={ff['lra_lu']:.2f}")


def cpu_s() -> float:
    """CPU seconds (user + system) of this process's threads and of its finished children."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn) -> tuple[float, float, object]:
    """``fn()`` once: wall seconds, CPU seconds (:func:`cpu_s`), its result."""
    t0, c0 = time.perf_counter(), cpu_s()
    out = fn()
    return time.perf_counter() - t0, cpu_s() - c0, out


def medians(runs: list[tuple[float, float, object]]) -> tuple[float, float, object]:
    """Median wall and CPU seconds of ``timed`` results, and the last result."""
    return (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs), runs[-1][2])


def bench_agreement(musdb: Path, limit: int) -> bool:
    files = sorted((musdb / "train").glob("*.stem.mp4"))[:limit]
    if not files:
        print(f"\n(no MUSDB18 files under {musdb}; agreement check skipped)")
        return True
    print(f"\nAgreement with ffmpeg ebur128 on {len(files)} real songs (mixture stream):")
    print("| song | I ours | I ffmpeg | dI LU | TP ours | TP ffmpeg | dTP dB | LRA ours | LRA ffmpeg | dLRA LU |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    worst = {"i": 0.0, "tp": 0.0, "lra": 0.0}
    for f in files:
        from mixingbuddy.tools.measure.loudness import measure_loudness

        a = load_audio(f, stream=0)
        ours = measure_loudness(a.samples, a.sr)
        ff = ffmpeg_ebur128(f, stream=0)
        d = {"i": ours.integrated_lufs - ff["integrated_lufs"],
             "tp": ours.true_peak_dbtp - ff["true_peak_dbtp"],
             "lra": (ours.loudness_range_lu or 0.0) - ff["lra_lu"]}
        for k in worst:
            worst[k] = max(worst[k], abs(d[k]))
        print(f"| {f.name.replace('.stem.mp4', '')[:40]} | {ours.integrated_lufs:.2f} | {ff['integrated_lufs']:.2f} | "
              f"{d['i']:+.2f} | {ours.true_peak_dbtp:.2f} | {ff['true_peak_dbtp']:.2f} | {d['tp']:+.2f} | "
              f"{ours.loudness_range_lu or 0:.2f} | {ff['lra_lu']:.2f} | {d['lra']:+.2f} |")
    ok = worst["i"] <= 0.1 and worst["tp"] <= 0.3 and worst["lra"] <= 1.0
    print(f"\nworst |dI| = {worst['i']:.3f} LU (<= 0.1), |dTP| = {worst['tp']:.3f} dB (<= 0.3), "
          f"|dLRA| = {worst['lra']:.3f} LU (<= 1.0): {'PASS' if ok else 'FAIL'}")
    print(json.dumps({"worst_abs": worst, "n_songs": len(files), "pass": ok}))
    return ok


def main(argv: list[str] | None = None) -> int:
    """Print, as medians over repeated runs side by side on this machine:

    1. full analyze (decode + every measurement) of a 3-minute stereo 44.1 kHz mix, and of the
       same song with its 4 stems; the per-tool split;
    2. ffmpeg's ebur128 filter (libebur128 semantics, peak=true) on the same mix file, and the
       time ratio;
    3. integrated loudness, true peak and LRA against ffmpeg on real songs (MUSDB18 7-s
       previews, ``--musdb``), with the agreement targets (0.1 LU, 0.3 dB, 1 LU);
    4. a second, independent implementation: essentia's ``LoudnessEBUR128`` (C++, on the design
       card) on the same songs and the same 3-minute mix, for integrated loudness and LRA (its
       true-peak detector is not the BS.1770 one, so true peak is left to ffmpeg).
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--musdb", type=Path, default=DEFAULT_MUSDB)
    p.add_argument("--songs", type=int, default=10, help="real songs to check against ffmpeg")
    p.add_argument("--skip-speed", action="store_true")
    args = p.parse_args(argv)
    if not shutil.which("ffmpeg"):
        print("note: ffmpeg not on PATH; the ffmpeg comparisons are skipped (make bench installs it)")
    with tempfile.TemporaryDirectory() as d:
        if not args.skip_speed:
            bench_speed(args.runs, Path(d))
        ok_es = bench_essentia(args.musdb, args.songs, args.runs, None if args.skip_speed else Path(d) / "mix.wav")
    ok = bench_agreement(args.musdb, args.songs) if shutil.which("ffmpeg") else True
    return 0 if ok and ok_es else 1


if __name__ == "__main__":
    sys.exit(main())
