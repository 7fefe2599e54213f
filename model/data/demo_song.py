"""A small additive/subtractive synthesiser that renders a four-stem demo song with numpy.

It exists so that `mixingbuddy demo`, `make run` and the benchmarks have a realistic multitrack
song without any download: drums (kick, snare, hats), bass, vocals (a glottal pulse train through
vowel formant filters, with vibrato and phrasing) and other (a chord pad plus an arpeggio).
It is deterministic for a seed. The General-MIDI/soundfont renderer of the corpus builder is a
separate, richer source; this one has no dependencies beyond numpy and scipy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

STEMS = ("drums", "bass", "other", "vocals")
# Progression i-VI-III-VII in semitones above the tonic, as (root, third, fifth) triads.
PROGRESSION = ((0, 3, 7), (-4, 0, 3), (3, 7, 10), (-2, 2, 5))
# Vowel formants (F1-F3, Hz): textbook averages for an adult voice (Peterson & Barney 1952).
VOWELS_HZ = {"a": (730, 1090, 2440), "e": (530, 1840, 2480), "i": (390, 1990, 2550),
             "o": (570, 840, 2410), "u": (440, 1020, 2240)}
# Stem levels relative to the rest of the mix roughly at the professional medians
# (MUSDB18-HQ segment table: each stem about 6-7 dB under the mixture).
DEFAULT_GAINS_DB = {"drums": 0.0, "bass": -1.0, "other": -3.0, "vocals": 0.5}


@dataclass
class SongConfig:
    duration_s: float = 20.0
    sr: int = 44_100
    tempo_bpm: float = 112.0
    tonic_midi: int = 57  # A3
    seed: int = 0


def _midi_hz(m: float) -> float:
    return 440.0 * 2.0 ** ((m - 69) / 12.0)


def _env(n: int, attack_s: float, decay_s: float, sr: int) -> np.ndarray:
    t = np.arange(n) / sr
    a = np.clip(t / max(attack_s, 1e-4), 0, 1)
    return a * np.exp(-t / decay_s)


def _place(out: np.ndarray, start: int, x: np.ndarray) -> None:
    end = min(len(out), start + len(x))
    if end > start:
        out[start:end] += x[: end - start]


def _saw(f_hz: np.ndarray | float, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    phase = np.cumsum(np.broadcast_to(f_hz, (n,)) / sr) + rng.random()
    return 2.0 * (phase % 1.0) - 1.0


def _drums(cfg: SongConfig, rng: np.random.Generator) -> np.ndarray:
    sr, n = cfg.sr, int(cfg.duration_s * cfg.sr)
    beat = int(round(60.0 / cfg.tempo_bpm * sr))
    out = np.zeros((n, 2))
    kn = int(0.35 * sr)
    t = np.arange(kn) / sr
    kick = np.sin(2 * np.pi * np.cumsum(50 + 110 * np.exp(-t / 0.04)) / sr) * np.exp(-t / 0.12)
    sn = int(0.25 * sr)
    t2 = np.arange(sn) / sr
    snare_noise = signal.sosfilt(signal.butter(2, [1500, 7000], "bandpass", fs=sr, output="sos"),
                                 rng.standard_normal(sn))
    snare = (0.7 * snare_noise + 0.5 * np.sin(2 * np.pi * 190 * t2)) * np.exp(-t2 / 0.07)
    hn = int(0.06 * sr)
    hp = signal.butter(4, 7000, "highpass", fs=sr, output="sos")
    for b, start in enumerate(range(0, n, beat)):
        pos = b % 4
        if pos in (0, 2) or (pos == 3 and rng.random() < 0.3):
            _place(out[:, 0], start, 0.9 * kick)
            _place(out[:, 1], start, 0.9 * kick)
        if pos in (1, 3):
            _place(out[:, 0], start, 0.8 * snare)
            _place(out[:, 1], start, 0.8 * snare)
        for k in range(2):  # eighth-note hats, panned right of centre
            hat = signal.sosfilt(hp, rng.standard_normal(hn)) * _env(hn, 0.001, 0.015, sr)
            g = 0.35 if k == 0 else 0.22
            _place(out[:, 0], start + k * beat // 2, 0.6 * g * hat)
            _place(out[:, 1], start + k * beat // 2, g * hat)
    return out


def _chord_at(beat_index: int) -> tuple[int, int, int]:
    return PROGRESSION[(beat_index // 8) % len(PROGRESSION)]  # two bars per chord


def _bass(cfg: SongConfig, rng: np.random.Generator) -> np.ndarray:
    sr, n = cfg.sr, int(cfg.duration_s * cfg.sr)
    half = int(round(30.0 / cfg.tempo_bpm * sr))  # eighth note
    lp = signal.butter(2, 500, "lowpass", fs=sr, output="sos")
    out = np.zeros(n)
    for e, start in enumerate(range(0, n, half)):
        root = _chord_at(e // 2)[0]
        octave = 12 if (e % 8 == 6) else 0
        f = _midi_hz(cfg.tonic_midi - 24 + root + octave)
        note = 0.6 * _saw(f, half, sr, rng) + 0.6 * np.sin(2 * np.pi * f * np.arange(half) / sr)
        _place(out, start, signal.sosfilt(lp, note) * _env(half, 0.005, 0.25, sr))
    return np.stack([out, out], axis=1)


def _other(cfg: SongConfig, rng: np.random.Generator) -> np.ndarray:
    sr, n = cfg.sr, int(cfg.duration_s * cfg.sr)
    beat = int(round(60.0 / cfg.tempo_bpm * sr))
    bar2 = 8 * beat
    lp = signal.butter(2, 2500, "lowpass", fs=sr, output="sos")
    out = np.zeros((n, 2))
    for c, start in enumerate(range(0, n, bar2)):
        chord = _chord_at(c * 8)
        pad = np.zeros((bar2, 2))
        for i, st in enumerate(chord):
            f = _midi_hz(cfg.tonic_midi + st)
            for ch, det in enumerate((0.997, 1.003)):
                pad[:, ch] += _saw(f * det, bar2, sr, rng) * (0.8 if i else 1.0)
        pad = signal.sosfilt(lp, pad, axis=0) * _env(bar2, 0.3, 6.0, sr)[:, None] * 0.18
        _place(out[:, 0], start, pad[:, 0])
        _place(out[:, 1], start, pad[:, 1])
    six = beat // 4  # sixteenth-note arpeggio (a plucked "keys" part), panned left
    for s, start in enumerate(range(0, n, six)):
        chord = _chord_at(s // 4)
        f = _midi_hz(cfg.tonic_midi + 12 + chord[s % 3] + (12 if s % 8 == 7 else 0))
        t = np.arange(six) / sr
        pluck = (np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t)) * _env(six, 0.002, 0.08, sr)
        _place(out[:, 0], start, 0.16 * pluck)
        _place(out[:, 1], start, 0.07 * pluck)
    return out


def _vocals(cfg: SongConfig, rng: np.random.Generator) -> np.ndarray:
    sr, n = cfg.sr, int(cfg.duration_s * cfg.sr)
    beat = 60.0 / cfg.tempo_bpm
    scale = (0, 2, 3, 5, 7, 8, 10, 12)
    f0 = np.zeros(n)
    gate = np.zeros(n)
    vowel_track = np.zeros(n, dtype=int)
    t = 0.0
    while t < cfg.duration_s:
        phrase_beats = int(rng.integers(6, 12))
        for _ in range(phrase_beats):
            dur = beat * float(rng.choice([0.5, 1.0, 1.0, 1.5, 2.0]))
            a, b = int(t * sr), min(n, int((t + dur) * sr))
            if a >= n:
                break
            note = cfg.tonic_midi + 12 + int(rng.choice(scale))
            f0[a:b] = _midi_hz(note)
            gate[a:b] = 1.0
            vowel_track[a:b] = int(rng.integers(0, len(VOWELS_HZ)))
            t += dur
        t += beat * float(rng.choice([1.0, 2.0, 3.0]))  # breath between phrases
    tt = np.arange(n) / sr
    f0 = np.where(f0 > 0, f0, _midi_hz(cfg.tonic_midi + 12))
    f0 = signal.sosfiltfilt(signal.butter(1, 12, fs=sr, output="sos"), f0)  # portamento
    f0 *= 1.0 + 0.012 * np.sin(2 * np.pi * 5.5 * tt)  # vibrato
    phase = np.cumsum(f0 / sr)
    pulses = (np.diff(np.floor(phase), prepend=0.0) > 0).astype(float)
    source = signal.lfilter([1.0], [1.0, -0.97], pulses)  # glottal tilt
    source += 0.02 * rng.standard_normal(n)  # breath
    voice = np.zeros(n)
    for k, formants in enumerate(VOWELS_HZ.values()):
        seg = vowel_track == k
        if not seg.any():
            continue
        y = np.zeros(n)
        for f, g in zip(formants, (1.0, 0.5, 0.25)):
            b, a = signal.iirpeak(f, Q=f / 90.0, fs=sr)
            y += g * signal.lfilter(b, a, source)
        voice += y * seg
    env = signal.sosfiltfilt(signal.butter(1, 20, fs=sr, output="sos"), gate)
    voice *= np.clip(env, 0, 1)
    return np.stack([voice, voice], axis=1)


def render_stems(cfg: SongConfig) -> dict[str, np.ndarray]:
    """Render the four stems, each (n, 2) float32, each normalised to -20 dBFS RMS where active,
    then placed with ``DEFAULT_GAINS_DB``."""
    rng = np.random.default_rng(cfg.seed)
    raw = {"drums": _drums(cfg, rng), "bass": _bass(cfg, rng), "other": _other(cfg, rng),
           "vocals": _vocals(cfg, rng)}
    out = {}
    dc_block = signal.butter(2, 25, "highpass", fs=cfg.sr, output="sos")
    for name, x in raw.items():
        x = signal.sosfilt(dc_block, x, axis=0)  # the synthesis leaves some DC; a mix would not
        frame = x.reshape(-1)[: (x.size // 4800) * 4800].reshape(-1, 4800)
        rms = np.sqrt((frame**2).mean(axis=1))
        active = rms[rms > rms.max() * 0.05]
        level = np.sqrt((active**2).mean()) if active.size else 1.0
        g = 10 ** ((-20.0 + DEFAULT_GAINS_DB[name]) / 20.0) / level
        out[name] = (x * g).astype(np.float32)
    return out


def render_song(cfg: SongConfig, gains_db: dict[str, float] | None = None,
                peak_dbfs: float = -1.0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Render a song and return ``(mix, stems)``: stems after the optional per-stem gain changes
    (dB), all scaled by one common gain so the mix's sample peak sits at ``peak_dbfs`` (a plain
    gain, no limiter). ``mix`` is exactly the sum of the returned stems."""
    gains_db = gains_db or {}
    stems = {k: x.astype(np.float64) * 10 ** (gains_db.get(k, 0.0) / 20.0)
             for k, x in render_stems(cfg).items()}
    mix = sum(stems.values())
    g = 10 ** (peak_dbfs / 20.0) / max(float(np.abs(mix).max()), 1e-9)
    stems = {k: (x * g).astype(np.float32) for k, x in stems.items()}
    return (mix * g).astype(np.float32), stems
