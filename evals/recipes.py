"""Audio recipes: constructed mixes and stems rendered deterministically from a small description.

The scripted conversations (``evals/scenarios/*.yaml``) need audio whose faults are known by
construction: a vocal 10 dB under the rest, a mix pushed into clipping, a pad whose right
channel is phase-inverted, a noise band sitting on top of the vocal's formants. A
:class:`Recipe` describes such a mix; :func:`render_recipe` synthesises it with numpy/scipy and
writes ``mix.wav``, ``stems/<role>.wav`` and, when asked, ``reference.wav`` into a folder.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from scipy import signal

from ..tools.errors import InvalidArgumentError

STEM_RMS_DBFS = -20.0  # every source is normalised to this over its active frames before gain_db
ACTIVE_RANGE_DB = 26.0  # frames within this of the loudest 100 ms frame count as active
# The four-chord progression (i-VI-III-VII), semitones above the tonic, as triads.
PROGRESSION = ((0, 3, 7), (-4, 0, 3), (3, 7, 10), (-2, 2, 5))
# Vowel formants F1-F3 (Hz), textbook averages for an adult voice (Peterson & Barney 1952).
VOWELS_HZ = ((730, 1090, 2440), (530, 1840, 2480), (390, 1990, 2550), (570, 840, 2410))


class RecipeError(InvalidArgumentError):
    """A recipe that cannot be rendered as described."""

    code = "bad_recipe"


class StemSpec(BaseModel):
    """One stem: a synthesised source, its level and its place in the stereo field."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["drums", "bass", "vocals", "pad", "noise_band", "sine"]
    gain_db: float = Field(0.0, ge=-60.0, le=30.0, description="level relative to the other stems")
    pan: float = Field(0.0, ge=-1.0, le=1.0, description="constant-power pan of a mono source")
    width: float = Field(1.0, ge=0.0, le=2.0, description="side-signal scale (0 = mono, 1 = as made)")
    phase: Literal["normal", "inverted"] = "normal"  # inverted: the right channel flipped
    # source parameters (each source reads the ones it needs)
    f_hz: float | None = Field(None, gt=10.0, lt=20_000.0, description="tone / root frequency")
    band_hz: tuple[float, float] | None = Field(None, description="noise band (noise_band)")
    cutoff_hz: float | None = Field(None, gt=20.0, lt=20_000.0, description="low-pass (bass, pad)")
    snare: bool = True  # drums
    hats: bool = True  # drums
    pulse_hz: float | None = Field(None, gt=0.0, le=20.0, description="on/off gating rate (noise_band, sine)")

    @model_validator(mode="after")
    def _check(self) -> StemSpec:
        if self.band_hz is not None:
            lo, hi = self.band_hz
            if not 10.0 <= lo < hi <= 20_000.0:
                raise ValueError(f"band_hz must be [low, high] with 10 <= low < high <= 20000, got {list(self.band_hz)}")
        if self.source == "noise_band" and self.band_hz is None:
            raise ValueError("a noise_band stem needs band_hz: [low, high]")
        return self


def _default_stems() -> dict[str, StemSpec]:
    # Levels close to the professional medians (each stem about 5 dB under the other three).
    return {"drums": StemSpec(source="drums", gain_db=0.0), "bass": StemSpec(source="bass", gain_db=-1.0),
            "other": StemSpec(source="pad", gain_db=-2.0), "vocals": StemSpec(source="vocals", gain_db=-1.0)}


class Recipe(BaseModel):
    """A constructed mix: its stems (:class:`StemSpec`) and how the mix is levelled and written
    (the method is in :func:`render_stems` and :func:`render_mix`).

    Recipes that would clip by accident (a loudness target that drives the peak past full scale
    with no ``clip_drive_db``) are refused with :class:`RecipeError`, so a scenario never tests
    a fault it did not ask for. Odd inputs for the bad-input scenarios: ``channels: 1`` (a mono
    file), any ``sr_hz``, ``seconds`` below ingest's 0.4 s minimum, ``silence: true`` (digital
    silence) and ``corrupt: text`` (a text file named ``mix.wav``).
    """

    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(8.0, gt=0.0, le=600.0)
    sr_hz: int = Field(44_100, ge=1_000, le=384_000)
    channels: Literal[1, 2] = 2
    seed: int = 0
    tempo_bpm: float = Field(112.0, ge=40.0, le=240.0)
    tonic_hz: float = Field(220.0, gt=50.0, lt=1_000.0, description="key centre of the vocals (bass two octaves down)")
    stems: dict[Literal["vocals", "drums", "bass", "other"], StemSpec] = Field(default_factory=_default_stems)
    loudness_lufs: float | None = Field(-16.0, ge=-60.0, le=0.0)
    peak_dbfs: float | None = Field(None, ge=-60.0, le=0.0, description="normalise the sample peak instead")
    clip_drive_db: float = Field(0.0, ge=0.0, le=30.0, description="gain into a hard clip at 0 dBFS")
    silence: bool = False
    corrupt: Literal["text"] | None = None
    subtype: Literal["PCM_16", "PCM_24", "FLOAT"] = "PCM_24"

    @model_validator(mode="after")
    def _check(self) -> Recipe:
        if self.loudness_lufs is not None and self.peak_dbfs is not None:
            raise ValueError("give loudness_lufs or peak_dbfs, not both")
        if not self.stems and not self.silence and self.corrupt is None:
            raise ValueError("a recipe needs at least one stem (or silence: true)")
        return self


@dataclass
class RenderedAudio:
    """Where a rendered recipe's files are, and what was built (for checks and tests)."""

    folder: Path
    mix_path: Path
    stem_paths: dict[str, Path] = field(default_factory=dict)
    reference_path: Path | None = None
    gains_db: dict[str, float] = field(default_factory=dict)
    common_gain_db: float = 0.0
    mix_integrated_lufs: float | None = None  # before any clip drive
    mix_sample_peak_dbfs: float | None = None  # as written


def parse_recipe(data: dict | Recipe | None, where: str = "recipe") -> Recipe:
    """Validate a recipe dict (from YAML); a bad one raises :class:`RecipeError` naming the
    first offending field."""
    if isinstance(data, Recipe):
        return data
    try:
        return Recipe.model_validate(data or {})
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(x) for x in first["loc"]) or "recipe"
        raise RecipeError(f"{where}: {loc}: {first['msg']}") from None


# --------------------------------------------------------------------------- sources

def _rng(recipe: Recipe, role: str) -> np.random.Generator:
    return np.random.default_rng([recipe.seed, zlib.crc32(role.encode())])


def _env(n: int, attack_s: float, decay_s: float, sr: int) -> np.ndarray:
    t = np.arange(n) / sr
    return np.clip(t / max(attack_s, 1e-4), 0.0, 1.0) * np.exp(-t / decay_s)


def _place(out: np.ndarray, start: int, x: np.ndarray) -> None:
    end = min(len(out), start + len(x))
    if end > start:
        out[start:end] += x[: end - start]


def _sos(kind: str, f_hz, sr: int, order: int = 2) -> np.ndarray:
    """A Butterworth filter, with corner frequencies kept below Nyquist."""
    nyq = 0.5 * sr
    f = np.clip(np.atleast_1d(np.asarray(f_hz, dtype=float)), 1.0, 0.95 * nyq)
    return signal.butter(order, f if f.size > 1 else float(f[0]), kind, fs=sr, output="sos")


def _chord(step: int) -> tuple[int, int, int]:
    return PROGRESSION[(step // 8) % len(PROGRESSION)]  # two bars per chord, eighth-note steps


def _drums(r: Recipe, s: StemSpec, n: int, rng: np.random.Generator) -> np.ndarray:
    sr = r.sr_hz
    beat = max(1, round(60.0 / r.tempo_bpm * sr))
    out = np.zeros((n, 2))
    t = np.arange(int(0.35 * sr)) / sr
    kick = np.sin(2 * np.pi * np.cumsum(50.0 + 110.0 * np.exp(-t / 0.04)) / sr) * np.exp(-t / 0.12)
    t2 = np.arange(int(0.25 * sr)) / sr
    noise = signal.sosfilt(_sos("bandpass", [1500.0, 7000.0], sr), rng.standard_normal(t2.size))
    snare = (0.25 * noise / (np.std(noise) + 1e-12) + 0.5 * np.sin(2 * np.pi * 190.0 * t2)) * np.exp(-t2 / 0.07)
    hat_n = int(0.06 * sr)
    hp = _sos("highpass", 7000.0, sr, order=4)
    for b, start in enumerate(range(0, n, beat)):
        pos = b % 4
        if pos in (0, 2):
            for ch in (0, 1):
                _place(out[:, ch], start, 0.9 * kick)
        if s.snare and pos in (1, 3):
            for ch in (0, 1):
                _place(out[:, ch], start, 0.8 * snare)
        if s.hats:
            for k in range(2):  # eighth-note hats, a little right of centre
                hat = signal.sosfilt(hp, rng.standard_normal(hat_n)) * _env(hat_n, 0.001, 0.015, sr)
                g = 0.35 if k == 0 else 0.22
                _place(out[:, 0], start + k * beat // 2, 0.6 * g * hat)
                _place(out[:, 1], start + k * beat // 2, g * hat)
    return out


def _saw(f_hz: float, n: int, sr: int, phase0: float) -> np.ndarray:
    return 2.0 * ((phase0 + f_hz * np.arange(n) / sr) % 1.0) - 1.0


def _bass(r: Recipe, s: StemSpec, n: int, rng: np.random.Generator) -> np.ndarray:
    sr = r.sr_hz
    eighth = max(1, round(30.0 / r.tempo_bpm * sr))
    root_hz = s.f_hz or r.tonic_hz / 4.0
    lp = _sos("lowpass", s.cutoff_hz or 400.0, sr)
    out = np.zeros(n)
    for e, start in enumerate(range(0, n, eighth)):
        f = root_hz * 2.0 ** ((_chord(e)[0] + (12 if e % 8 == 6 else 0)) / 12.0)
        m = min(eighth, n - start)
        note = 0.6 * _saw(f, m, sr, rng.random()) + 0.6 * np.sin(2 * np.pi * f * np.arange(m) / sr)
        _place(out, start, signal.sosfilt(lp, note) * _env(m, 0.005, 0.25, sr))
    return out


def _vocals(r: Recipe, s: StemSpec, n: int, rng: np.random.Generator) -> np.ndarray:
    """Phrased melody: additive harmonics with vibrato through vowel formant resonators."""
    sr = r.sr_hz
    beat = 60.0 / r.tempo_bpm
    scale = (0, 2, 3, 5, 7, 8, 10, 12)
    base_hz = s.f_hz or r.tonic_hz
    f0 = np.full(n, base_hz)
    gate = np.zeros(n)
    vowel = np.zeros(n, dtype=int)
    t = 0.0
    while t * sr < n:
        for _ in range(int(rng.integers(6, 12))):
            dur = beat * float(rng.choice([0.5, 1.0, 1.0, 1.5, 2.0]))
            a, b = int(t * sr), min(n, int((t + dur) * sr))
            if a >= n:
                break
            f0[a:b] = base_hz * 2.0 ** (int(rng.choice(scale)) / 12.0)
            gate[a:b] = 1.0
            vowel[a:b] = int(rng.integers(0, len(VOWELS_HZ)))
            t += dur
        t += beat * float(rng.choice([1.0, 2.0]))  # breath between phrases
    if n > 12:
        f0 = signal.sosfiltfilt(_sos("lowpass", 12.0, sr, order=1), f0)  # portamento
    tt = np.arange(n) / sr
    f0 = f0 * (1.0 + 0.012 * np.sin(2 * np.pi * 5.5 * tt))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    n_harm = int(max(1, min(40, (0.45 * sr) // (base_hz * 2.0))))
    src = np.zeros(n)
    for k in range(1, n_harm + 1):
        src += np.sin(k * phase) / k**1.2
    voice = np.zeros(n)
    for k, formants in enumerate(VOWELS_HZ):
        seg = vowel == k
        if not seg.any():
            continue
        y = np.zeros(n)
        for fc, g in zip(formants, (1.0, 0.5, 0.25)):
            if fc < 0.45 * sr:
                b, a = signal.iirpeak(fc, Q=fc / 90.0, fs=sr)
                y += g * signal.lfilter(b, a, src)
        voice += y * seg
    env = signal.sosfiltfilt(_sos("lowpass", 20.0, sr, order=1), gate) if n > 12 else gate
    return voice * np.clip(env, 0.0, 1.0)


def _pad(r: Recipe, s: StemSpec, n: int, rng: np.random.Generator) -> np.ndarray:
    sr = r.sr_hz
    bar2 = max(1, round(8 * 60.0 / r.tempo_bpm * sr))
    lp = _sos("lowpass", s.cutoff_hz or 2500.0, sr)
    root_hz = s.f_hz or r.tonic_hz
    out = np.zeros((n, 2))
    for c, start in enumerate(range(0, n, bar2)):
        m = min(bar2, n - start)
        pad = np.zeros((m, 2))
        for i, st in enumerate(_chord(c * 8)):
            f = root_hz * 2.0 ** (st / 12.0)
            for ch, detune in enumerate((0.997, 1.003)):
                pad[:, ch] += _saw(f * detune, m, sr, rng.random()) * (0.8 if i else 1.0)
        pad = signal.sosfilt(lp, pad, axis=0) * _env(m, 0.3, 6.0, sr)[:, None]
        out[start:start + m] += pad
    return out


def _gating(n: int, sr: int, pulse_hz: float | None) -> np.ndarray:
    if not pulse_hz:
        return np.ones(n)
    on = (np.floor(np.arange(n) / sr * pulse_hz * 2.0) % 2 == 0).astype(float)
    return signal.sosfiltfilt(_sos("lowpass", 40.0, sr, order=1), on) if n > 12 else on


def _noise_band(r: Recipe, s: StemSpec, n: int, rng: np.random.Generator) -> np.ndarray:
    lo, hi = s.band_hz  # type: ignore[misc]
    bp = _sos("bandpass", [lo, hi], r.sr_hz, order=4)
    x = signal.sosfilt(bp, rng.standard_normal((n, 2)), axis=0)
    return x * _gating(n, r.sr_hz, s.pulse_hz)[:, None]


def _sine(r: Recipe, s: StemSpec, n: int, rng: np.random.Generator) -> np.ndarray:
    f = s.f_hz or 1000.0
    return np.sin(2 * np.pi * f * np.arange(n) / r.sr_hz) * _gating(n, r.sr_hz, s.pulse_hz)


SOURCES = {"drums": _drums, "bass": _bass, "vocals": _vocals, "pad": _pad,
           "noise_band": _noise_band, "sine": _sine}


# --------------------------------------------------------------------------- levels and placement

def active_rms(x: np.ndarray, sr: int) -> float:
    """RMS over the active 100 ms frames (within :data:`ACTIVE_RANGE_DB` of the loudest)."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    frame = max(1, int(0.1 * sr))
    n_frames = max(1, len(x) // frame)
    usable = x[: n_frames * frame] if len(x) >= frame else x
    ms = (usable.reshape(n_frames, -1) ** 2).mean(axis=1) if len(x) >= frame else np.array([(x**2).mean()])
    if ms.max() <= 0:
        return 0.0
    active = ms[ms >= ms.max() * 10 ** (-ACTIVE_RANGE_DB / 10.0)]
    return float(np.sqrt(active.mean()))


def _to_stereo(x: np.ndarray, s: StemSpec) -> np.ndarray:
    if x.ndim == 1:  # mono source: constant-power pan
        theta = (s.pan + 1.0) * math.pi / 4.0
        x = np.stack([x * math.cos(theta), x * math.sin(theta)], axis=1) * math.sqrt(2.0)
    elif s.pan:
        theta = (s.pan + 1.0) * math.pi / 4.0
        x = x * (np.array([math.cos(theta), math.sin(theta)]) * math.sqrt(2.0))
    if s.width != 1.0:
        mid, side = (x[:, 0] + x[:, 1]) / 2.0, (x[:, 0] - x[:, 1]) / 2.0 * s.width
        x = np.stack([mid + side, mid - side], axis=1)
    if s.phase == "inverted":
        x = x * np.array([1.0, -1.0])
    return x


def render_stems(recipe: Recipe) -> dict[str, np.ndarray]:
    """Every stem, (n, 2) float64, at its level (before the common mix gain).

    Per stem:

    1. a source is synthesised (seeded per recipe and role, so the same recipe always gives the
       same samples): ``drums`` (kick = pitch-swept sine, snare = band-passed noise burst plus a
       190 Hz tone, hats = high-passed noise, on a tempo grid), ``bass`` (saw + sine an octave
       apart, low-passed, eighth notes on a four-chord progression), ``vocals`` (additive
       harmonic tone with a 1/k^1.2 glottal tilt, 5.5 Hz vibrato, through three vowel formant
       resonators, sung in phrases with breaths), ``pad`` (detuned saw triads, low-passed, slow
       attack), ``noise_band`` (band-limited noise, for overlapping spectra), ``sine`` (a steady
       tone);
    2. it is high-passed at 20 Hz (no DC) and normalised to -20 dBFS RMS over its active 100 ms
       frames (frames within 26 dB of the loudest one, :func:`active_rms`), so ``gain_db`` is
       the stem's level relative to the other stems;
    3. it is placed in the stereo field (``pan`` for mono sources, ``width`` (0 = mono), or
       ``phase: inverted`` to flip the right channel).
    """
    n = max(1, round(recipe.seconds * recipe.sr_hz))
    out = {}
    for role, spec in recipe.stems.items():
        x = SOURCES[spec.source](recipe, spec, n, _rng(recipe, role))
        if n > 64:  # the saws and bursts leave some DC; a mixed track would not
            x = signal.sosfilt(_sos("highpass", 20.0, recipe.sr_hz), x, axis=0)
        level = active_rms(x, recipe.sr_hz)
        if level > 0:
            x = x * (10 ** ((STEM_RMS_DBFS + spec.gain_db) / 20.0) / level)
        out[role] = _to_stereo(np.asarray(x, dtype=np.float64), spec)
    return out


def render_mix(recipe: Recipe) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, float | None]]:
    """``(mix, stems, info)``: arrays (n, channels) float64 at ``recipe.sr_hz``; ``info`` has
    ``common_gain_db``, ``mix_integrated_lufs`` (before any clip drive) and
    ``mix_sample_peak_dbfs`` (final).

    The mix is the sum of the stems, brought to ``loudness_lufs`` (integrated, BS.1770-4 with
    the toolbox's own meter) or to a sample peak of ``peak_dbfs`` by one common gain applied to
    the stems too, so ``mix == sum(stems)`` unless ``clip_drive_db`` drives the mix into a hard
    clip at full scale afterwards (the stems stay clean: a clipped bounce of clean tracks).
    """
    from ..tools.measure.loudness import integrated_loudness_lufs

    n = max(1, round(recipe.seconds * recipe.sr_hz))
    if recipe.silence:
        mix = np.zeros((n, recipe.channels))
        return mix, {}, {"common_gain_db": 0.0, "mix_integrated_lufs": None, "mix_sample_peak_dbfs": None}
    stems = render_stems(recipe)
    if recipe.channels == 1:
        stems = {k: x.mean(axis=1, keepdims=True) for k, x in stems.items()}
    mix = np.sum(list(stems.values()), axis=0)
    gain_db = 0.0
    if recipe.loudness_lufs is not None:
        now = integrated_loudness_lufs(mix.astype(np.float32), recipe.sr_hz)
        if now is None:
            raise RecipeError(f"the mix is too short or too quiet to set its loudness to "
                              f"{recipe.loudness_lufs} LUFS; use peak_dbfs instead")
        gain_db = recipe.loudness_lufs - now
    elif recipe.peak_dbfs is not None:
        peak = float(np.abs(mix).max())
        gain_db = recipe.peak_dbfs - 20.0 * math.log10(peak) if peak > 0 else 0.0
    g = 10 ** (gain_db / 20.0)
    mix, stems = mix * g, {k: x * g for k, x in stems.items()}
    loud = integrated_loudness_lufs(mix.astype(np.float32), recipe.sr_hz)
    peak = float(np.abs(mix).max())
    if recipe.clip_drive_db > 0:
        mix = np.clip(mix * 10 ** (recipe.clip_drive_db / 20.0), -1.0, 1.0)
    elif peak > 1.0 and recipe.subtype != "FLOAT":
        raise RecipeError(f"the mix would peak at {20 * math.log10(peak):+.1f} dBFS and clip when "
                          f"written; lower loudness_lufs or set clip_drive_db to clip on purpose")
    final_peak = float(np.abs(mix).max())
    info = {"common_gain_db": round(gain_db, 3), "mix_integrated_lufs": loud,
            "mix_sample_peak_dbfs": 20.0 * math.log10(final_peak) if final_peak > 0 else None}
    return mix, stems, info


def render_recipe(recipe: Recipe | dict, folder: str | Path, *, reference: Recipe | dict | None = None,
                  write_stems: bool = True) -> RenderedAudio:
    """Render ``recipe`` into ``folder``: ``mix.wav``, ``stems/<role>.wav`` (when
    ``write_stems``) and ``reference.wav`` (when a ``reference`` recipe is given).

    Stems are written as 32-bit float WAV so they never clip; the mix in the recipe's
    ``subtype`` (default 24-bit PCM).
    """
    import soundfile as sf

    recipe = parse_recipe(recipe)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    mix_path = folder / "mix.wav"
    out = RenderedAudio(folder=folder, mix_path=mix_path,
                        gains_db={k: s.gain_db for k, s in recipe.stems.items()})
    if recipe.corrupt == "text":
        mix_path.write_text("This is a text file, not audio.\n" * 40)
    else:
        mix, stems, info = render_mix(recipe)
        sf.write(str(mix_path), mix.astype(np.float32), recipe.sr_hz, subtype=recipe.subtype)
        out.common_gain_db = float(info["common_gain_db"] or 0.0)
        out.mix_integrated_lufs = info["mix_integrated_lufs"]
        out.mix_sample_peak_dbfs = info["mix_sample_peak_dbfs"]
        if write_stems and stems:
            (folder / "stems").mkdir(exist_ok=True)
            for role, x in stems.items():
                p = folder / "stems" / f"{role}.wav"
                sf.write(str(p), x.astype(np.float32), recipe.sr_hz, subtype="FLOAT")
                out.stem_paths[role] = p
    if reference is not None:
        ref = parse_recipe(reference, "reference")
        ref_mix, _, _ = render_mix(ref)
        out.reference_path = folder / "reference.wav"
        sf.write(str(out.reference_path), ref_mix.astype(np.float32), ref.sr_hz, subtype=ref.subtype)
    return out
