"""Known-answer table: the toolbox on signals whose right answers are known.

EBU Tech 3341 (loudness meter compliance, 2016) and Tech 3342 (loudness range, 2016) test
signals are generated here with numpy, plus pink/white-noise tilt, stereo correlation and
masking cases. The same generators serve the unit tests (tests/test_loudness.py), which assert
the tolerances; this script prints the measured values as a table for the README.

Usage: python -m mixingbuddy.evals.compliance
"""
from __future__ import annotations

import math

import numpy as np
from scipy import signal

SR = 48_000


def sine(level_dbfs: float, seconds: float, freq: float = 1000.0, sr: int = SR,
         phase_deg: float = 0.0) -> np.ndarray:
    """A sine whose PEAK amplitude is ``level_dbfs`` (the EBU test-sequence convention)."""
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    return 10 ** (level_dbfs / 20) * np.sin(2 * np.pi * freq * t + np.deg2rad(phase_deg))


def stereo(*segments: tuple[float, float], sr: int = SR) -> np.ndarray:
    """Concatenated 1 kHz sine segments (level dBFS, seconds), same on both channels, float32."""
    y = np.concatenate([sine(level, secs, sr=sr) for level, secs in segments])
    return np.stack([y, y], axis=1).astype(np.float32)


def faded(y: np.ndarray, sr: int = SR, fade_s: float = 0.01) -> np.ndarray:
    """Raised-cosine fade in and out, so a test tone has no abrupt edge (an abrupt start of a
    high tone really overshoots once band-limited, which is not what the true-peak cases test)."""
    n = int(fade_s * sr)
    w = np.ones(len(y))
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(n) / n)
    w[:n] = ramp
    w[-n:] = ramp[::-1]
    return y * (w if y.ndim == 1 else w[:, None])


def pink_noise(seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Noise with power density proportional to 1/f (equal power per octave)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0
    y = np.fft.irfft(spec, n)
    return (0.1 * y / np.sqrt(np.mean(y**2))).astype(np.float32)


def band_noise(lo_hz: float, hi_hz: float, seconds: float, seed: int, sr: int = SR) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sos = signal.butter(6, [lo_hz, hi_hz], "bandpass", fs=sr, output="sos")
    y = signal.sosfilt(sos, rng.standard_normal(int(seconds * sr)))
    return (0.1 * y / np.sqrt(np.mean(y**2))).astype(np.float32)


def rows() -> list[tuple[str, str, str, str]]:
    """(case, expected, tolerance, measured) rows."""
    from mixingbuddy.tools.measure.loudness import integrated_loudness_lufs, loudness_range_lu, true_peak_dbtp
    from mixingbuddy.tools.measure.masking import measure_masking
    from mixingbuddy.tools.measure.spectral import measure_spectrum
    from mixingbuddy.tools.measure.stereo import correlation

    out = []
    for name, segs in [("3341 case 1: 1 kHz stereo sine -23 dBFS, 20 s", ((-23.0, 20.0),)),
                       ("3341 case 2: -33 dBFS", ((-33.0, 20.0),)),
                       ("3341 case 3: -36/-23/-36 dBFS, 10/60/10 s", ((-36, 10), (-23, 60), (-36, 10))),
                       ("3341 case 4: -72/-36/-23/-36/-72 dBFS",
                        ((-72, 10), (-36, 10), (-23, 60), (-36, 10), (-72, 10))),
                       ("3341 case 5: -26/-20/-26 dBFS, 20/20.1/20 s", ((-26, 20), (-20, 20.1), (-26, 20)))]:
        expected = -33.0 if "case 2" in name else -23.0
        out.append((name, f"{expected:.1f} LUFS", "+-0.1",
                    f"{integrated_loudness_lufs(stereo(*segs), SR):.2f}"))
    for phase in (0.0, 45.0, 60.0, 67.5):
        y = faded(sine(-6.0, 1.0, freq=SR / 4, phase_deg=phase))
        out.append((f"3341 true peak: fs/4 sine -6 dBFS, phase {phase:g} deg", "-6.0 dBTP",
                    "+0.2/-0.4", f"{true_peak_dbtp(np.stack([y, y], 1), SR):.2f}"))
    y = faded(math.sqrt(2.0) * np.sin(2 * np.pi * np.arange(SR) / 4 + np.pi / 4))
    out.append(("3341 true peak: fs/4 at 45 deg, samples at 0 dBFS", "+3.0 dBTP", "+0.2/-0.4",
                f"{true_peak_dbtp(y, SR):.2f}"))
    for segs, expected in [(((-20, 20), (-30, 20)), 10), (((-20, 20), (-15, 20)), 5),
                           (((-40, 20), (-20, 20)), 20),
                           (((-50, 20), (-35, 20), (-20, 20), (-35, 20), (-50, 20)), 15)]:
        label = "/".join(f"{lv}" for lv, _ in segs)
        out.append((f"3342 LRA: {label} dBFS", f"{expected} LU", "+-1",
                    f"{loudness_range_lu(stereo(*segs), SR):.2f}"))
    out.append(("pink noise tilt (band-power convention)", "0.0 dB/oct", "+-0.5",
                f"{measure_spectrum(pink_noise(20.0), SR).tilt_db_per_oct:.2f}"))
    white = np.random.default_rng(1).standard_normal(20 * SR).astype(np.float32) * 0.1
    out.append(("white noise tilt", "+3.0 dB/oct", "+-0.5",
                f"{measure_spectrum(white, SR).tilt_db_per_oct:.2f}"))
    a = band_noise(100, 8000, 5.0, 1)
    b = band_noise(100, 8000, 5.0, 2)
    for name, x, exp in [("correlation, in phase", np.stack([a, a], 1), "+1.00"),
                         ("correlation, anti-phase", np.stack([a, -a], 1), "-1.00"),
                         ("correlation, uncorrelated", np.stack([a, b], 1), "0.00")]:
        out.append((name, exp, "+-0.05", f"{correlation(x, SR) + 0.0:+.2f}".replace("-0.00", "0.00")))
    t1, m1 = band_noise(800, 1600, 6.0, 3), band_noise(800, 1600, 6.0, 4)
    m2 = band_noise(4000, 8000, 6.0, 5)
    over = measure_masking({"vocals": t1, "other": m1}, SR).pairs
    apart = measure_masking({"vocals": t1, "other": m2}, SR).pairs
    pct = lambda ps: max(p.masked_pct for p in ps if p.target == "vocals")  # noqa: E731
    out.append(("masking: same-band noises (800-1600 Hz), % of target masked", "high", "> 60",
                f"{pct(over):.1f}"))
    out.append(("masking: disjoint bands (800-1600 vs 4-8k Hz)", "~0", "< 2", f"{pct(apart):.1f}"))
    return out


def main() -> None:
    print("| case | expected | tolerance | measured |")
    print("|---|---|---|---|")
    for r in rows():
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
