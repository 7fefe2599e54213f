"""Render a composed song to four stems with a General-MIDI soundfont (TinySoundFont).

:func:`render_song` composes a song (:mod:`.songwriter`), renders each stem role's MIDI offline
through TinySoundFont, adds a cheap stereo room, and sets the stem gains so that the song's
natural balance matches a draw from the professional distribution (:mod:`.balance_prior`) or
the ``balance`` given.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np
import pretty_midi
import scipy.fft as sfft
from scipy.signal import butter, sosfilt

from ...tools.io.audio import ALL_STEMS
from .balance_prior import (
    FrameStats,
    consistent_vs_rest,
    draw_natural_balance,
    solve_balance_gains,
)
from .songwriter import STYLES, Composition, compose_song

__all__ = ["STYLES", "RenderedSong", "default_soundfont", "render_midi", "render_song"]

DRUM_CHANNEL = 9  # GM channel 10
# Reverb send (wet/dry energy ratio, dB) per stem role; None = dry.
REVERB_SEND_DB = {"vocals": -9.0, "other": -11.0, "drums": -13.0, "bass": None}
PEAK_DBFS_RANGE = (-3.0, -1.0)  # the mix (the sum of the stems) peaks in this range (dBFS)
# When the four targets cannot all be met exactly (medians over several segments), the miss
# goes to "other", which is never a target or anchor of the benchmark.
BALANCE_WEIGHTS = {"bass": 1.0, "drums": 1.0, "vocals": 1.0, "other": 0.0}
SILENT_STEM_DBFS = -60.0  # a whole stem quieter than this (RMS) is refused
MAX_REDRAWS = 8  # new balance draws when a drawn level leaves a stem under the activity gate


@dataclass
class RenderedSong:
    stems: dict[str, np.ndarray]  # role -> (n, 2) float32
    sr: int
    style: str
    meta: dict  # JSON-serialisable
    natural_vs_rest_db: dict[str, float]  # achieved natural balance (power-sum form, dB)

    @property
    def mix(self) -> np.ndarray:
        return np.sum([self.stems[k] for k in self.stems], axis=0, dtype=np.float32)

    @property
    def duration_s(self) -> float:
        return next(iter(self.stems.values())).shape[0] / float(self.sr)


def default_soundfont() -> str:
    """Path of the GM soundfont bundled with pretty_midi: ``TimGM6mb.sf2`` (Tim Brechbill,
    GPL-2), shipped inside pretty_midi's package folder. Any ``.sf2``/``.sf3`` can be given
    instead."""
    return os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2")


@functools.lru_cache(maxsize=4)
def _load_soundfont(path: str):
    from tinysoundfont import _tinysoundfont as tsf

    if not os.path.isfile(path):
        raise FileNotFoundError(f"soundfont not found: {os.path.basename(path)}")
    return tsf.SoundFont(path)


def _select_preset(sf, chan: int, program: int, is_drum: bool, notes: list[str]) -> None:
    """Set ``chan`` to ``program``. A preset missing from a custom soundfont falls back to the
    nearest lower program of its bank (drum kits to kit 0), with a note in ``notes``."""
    bank = 128 if is_drum else 0
    prog = program
    if sf.get_preset_index(bank, prog) < 0:
        if is_drum:
            prog = 0
        else:
            lower = [p for p in range(prog, -1, -1) if sf.get_preset_index(bank, p) >= 0]
            prog = lower[0] if lower else 0
        notes.append(f"preset {bank}:{program} missing, used {bank}:{prog}")
    sf.channel_set_preset_number(chan, prog, is_drum)


def render_midi(pm: pretty_midi.PrettyMIDI, sr: int, n_samples: int,
                soundfont: str | None = None, notes: list[str] | None = None) -> np.ndarray:
    """Render ``pm`` to ``(n_samples, 2)`` float32 with TinySoundFont, offline (``tinysoundfont``'s
    C synthesiser, no audio device: the MIDI events are applied between ``render`` calls).

    Each instrument gets its own MIDI channel (drums on channel 10); notes, control changes
    (pan, volume, expression...) and pitch bends are applied at their sample positions, with
    note-offs before note-ons and controllers first at equal positions."""
    from tinysoundfont import _tinysoundfont as tsf

    base = _load_soundfont(os.path.abspath(soundfont or default_soundfont()))
    sf = tsf.SoundFont(base)  # clone: shares the samples, own voices and channels
    sf.set_output(tsf.OutputMode.StereoInterleaved, int(sr), 0.0)
    sf.set_max_voices(256)
    notes = notes if notes is not None else []
    events: list[tuple[int, int, int, int, float]] = []  # (pos, order, chan, a, b)
    chan_iter = iter([c for c in range(16) if c != DRUM_CHANNEL])
    for inst in pm.instruments:
        chan = DRUM_CHANNEL if inst.is_drum else next(chan_iter, None)
        if chan is None:
            notes.append(f"more than 15 melodic parts; {inst.name!r} dropped")
            continue
        _select_preset(sf, chan, inst.program, inst.is_drum, notes)
        for cc in inst.control_changes:
            events.append((round(cc.time * sr), 0, chan, -1 - cc.number, float(cc.value)))
        for b in inst.pitch_bends:
            events.append((round(b.time * sr), 0, chan, -1000, float(b.pitch)))
        for nt in inst.notes:
            events.append((round(nt.end * sr), 1, chan, nt.pitch, 0.0))
            events.append((round(nt.start * sr), 2, chan, nt.pitch, nt.velocity / 127.0))
    events.sort()
    out = np.zeros(n_samples * 2, dtype=np.float32)
    view = memoryview(out.view(np.uint8))
    pos = 0
    for ev_pos, order, chan, a, b in events:
        ev_pos = min(max(ev_pos, 0), n_samples)
        if ev_pos > pos:
            sf.render(view[pos * 8: ev_pos * 8], False)
            pos = ev_pos
        if pos >= n_samples:
            break
        if order == 2:
            sf.channel_note_on(chan, a, b)
        elif order == 1:
            sf.channel_note_off(chan, a)
        elif a == -1000:
            sf.channel_set_pitch_wheel(chan, int(np.clip(b + 8192, 0, 16383)))
        else:
            sf.channel_midi_control(chan, -1 - a, int(b))
    if pos < n_samples:
        sf.render(view[pos * 8:], False)
    return out.reshape(n_samples, 2)


def _room_ir(rng: np.random.Generator, sr: int, rt60_s: float) -> np.ndarray:
    """Stereo room impulse response: independent noise per channel (decorrelation gives
    width) under an exponential decay of ``rt60_s`` (-60 dB), 12 ms pre-delay, darker with
    time (two bands with different decays), unit energy per channel. Cheap stand-in for a
    reverb send; truncated at -50 dB."""
    length = int(sr * min(rt60_s * 50.0 / 60.0, 2.0))
    pre = int(0.012 * sr)
    t = np.arange(length) / sr
    noise = rng.standard_normal((length, 2))
    lo = sosfilt(butter(2, 2500.0, "lowpass", fs=sr, output="sos"), noise, axis=0)
    hi = noise - lo
    decay = np.exp(-6.9078 * t / rt60_s)[:, None]  # 60 dB over rt60
    ir = lo * decay + 0.5 * hi * decay ** 2
    ir = np.concatenate([np.zeros((pre, 2)), ir])
    ir /= np.sqrt(np.sum(ir ** 2, axis=0, keepdims=True))
    return ir.astype(np.float32)


class _Room:
    """A room shared by the stems of one song: the IR's spectrum is computed once, then each
    stem's mono sum is convolved with it (FFT, float32)."""

    def __init__(self, ir: np.ndarray, n: int):
        self.n = n
        self.size = sfft.next_fast_len(n + len(ir) - 1, real=True)
        self.spectrum = sfft.rfft(ir, self.size, axis=0)

    def add(self, x: np.ndarray, send_db: float) -> np.ndarray:
        spec = sfft.rfft(x.mean(axis=1), self.size)
        wet = sfft.irfft(spec[:, None] * self.spectrum, self.size, axis=0)[: self.n]
        dry_e = float(np.einsum("ij,ij->", x, x, dtype=np.float64))
        wet_e = float(np.einsum("ij,ij->", wet, wet, dtype=np.float64))
        if wet_e <= 0 or dry_e <= 0:
            return x
        g = np.float32(np.sqrt(dry_e / wet_e) * 10.0 ** (send_db / 20.0))
        return (x + g * wet).astype(np.float32)


def _rms_dbfs(x: np.ndarray) -> float:
    e = float(np.mean(np.square(x, dtype=np.float64)))
    return 10.0 * np.log10(e) if e > 0 else -np.inf


def render_song(seed: int, style: str | None = None, *, duration_s: float = 30.0, sr: int = 44100,
                soundfont: str | None = None, balance: dict[str, float] | None = None,
                peak_dbfs: float | None = None) -> RenderedSong:
    """Compose and render a four-stem song (bass, drums, vocals, other), deterministic for
    (seed, style, duration_s, sr, soundfont, balance).

    ``balance``: stem -> level vs the rest of the mix (dB, power sum of the other stems, median
    over gated 10 s segments; the reference table's quantity). All four stems: projected onto
    the values a four-stem mix can have (``consistent_vs_rest``); bass, drums and vocals are
    met within 0.02 dB and "other" follows (within a few tenths of a dB: over several
    segments the four medians are not always jointly reachable); some stems: those are met,
    the others keep their rendered level. None: drawn with
    ``draw_natural_balance`` from the professional distribution. ``peak_dbfs``: where the
    mix (and every stem) peaks; None draws it in -3..-1 dBFS.

    A room (:func:`_room_ir`: convolution with decaying, decorrelated noise) is added to vocals,
    other and a touch to drums (:data:`REVERB_SEND_DB`). Pan: bass and vocals centred, drums as
    the kit's own per-drum pans, the two "other" instruments on opposite sides (CC10 written by
    the composer).
    """
    if not isinstance(sr, (int, np.integer)) or sr < 8000:
        raise ValueError(f"sr must be an integer >= 8000, got {sr!r}")
    comp: Composition = compose_song(seed, style, duration_s)
    n = round(duration_s * sr)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0xB1A5, sum(map(ord, comp.style))])
    notes: list[str] = []
    stems: dict[str, np.ndarray] = {}
    room = _Room(_room_ir(rng, sr, comp.reverb_rt60_s), n)
    for role in ALL_STEMS:
        x = render_midi(comp.midi[role], sr, n, soundfont, notes)
        send = REVERB_SEND_DB[role]
        if send is not None:
            x = room.add(x, send)
        level = _rms_dbfs(x)
        if not np.isfinite(level) or level < SILENT_STEM_DBFS or not np.isfinite(x).all():
            raise RuntimeError(f"render_song: the {role} stem rendered silent or invalid "
                               f"(seed {seed}, style {comp.style}); check the soundfont")
        stems[role] = x

    drawn = balance is None
    if drawn:
        target = draw_natural_balance(rng)
    else:
        unknown = sorted(set(balance) - set(ALL_STEMS))
        if unknown:
            raise ValueError(f"balance has unknown stems {unknown}; use {', '.join(ALL_STEMS)}")
        target = {k: float(v) for k, v in balance.items()}
        if set(target) == set(ALL_STEMS):
            target = consistent_vs_rest(target)
    if peak_dbfs is None:
        peak_dbfs = float(rng.uniform(*PEAK_DBFS_RANGE))
    stats = FrameStats.from_stems(stems, sr)
    redraws = 0
    while True:
        gains, achieved = solve_balance_gains(stems, target, sr=sr, peak_dbfs=peak_dbfs,
                                              stats=stats, weights=BALANCE_WEIGHTS)
        # A drawn level so low that a sparse part falls under the activity gate (no 10 s
        # segment with half its frames above -50 dBFS) cannot be measured; draw again.
        lost = [k for k in ("bass", "drums", "vocals") if achieved.get(k) is None]
        if not (drawn and lost) or redraws >= MAX_REDRAWS:
            break
        redraws += 1
        target = draw_natural_balance(rng)
    # Gains rounded to 1e-4 dB: the float32 stems then do not depend on the last bits of the
    # solver's float64 sums (BLAS thread counts differ between machines and worker processes).
    gains = {k: round(v, 4) for k, v in gains.items()}
    stems = {k: (x * np.float32(10.0 ** (gains[k] / 20.0))).astype(np.float32) for k, x in stems.items()}
    mix_peak = float(np.max(np.abs(np.sum(list(stems.values()), axis=0))))
    meta = comp.meta()
    meta.update({
        "sr": int(sr), "n_samples": n, "soundfont": os.path.basename(soundfont or default_soundfont()),
        "balance_source": "drawn" if drawn else "given", "balance_redraws": redraws,
        "target_vs_rest_db": {k: round(v, 3) for k, v in target.items()},
        "natural_vs_rest_db": {k: (None if v is None else round(v, 3)) for k, v in achieved.items()},
        "stem_gain_db": {k: round(v, 3) for k, v in gains.items()},
        "mix_peak_dbfs": round(20.0 * np.log10(mix_peak), 3) if mix_peak > 0 else None,
        "stem_rms_dbfs": {k: round(_rms_dbfs(x), 3) for k, x in stems.items()},
        "render_notes": notes,
    })
    natural = {k: float(v) for k, v in achieved.items() if v is not None}
    return RenderedSong(stems=stems, sr=int(sr), style=comp.style, meta=meta, natural_vs_rest_db=natural)

