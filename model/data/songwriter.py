"""Song composition for the synthetic multitrack corpus: one General-MIDI part per stem role.

:func:`compose_song` writes a short song as four ``pretty_midi.PrettyMIDI`` objects, one per
stem role of the balance benchmark (MUSDB18 roles, Rafii et al. 2017), in one of the styles of
``STYLES``; a seed gives the same song on every machine.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pretty_midi

VOICE_PROGRAMS = (52, 53, 54, 85)  # GM Choir Aahs, Voice Oohs, Synth Voice, Lead 6 (voice)
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10),
          "dorian": (0, 2, 3, 5, 7, 9, 10), "mixolydian": (0, 2, 4, 5, 7, 9, 10)}

# GM drum keys
KICK, SIDESTICK, SNARE, CLAP, HAT, PEDAL_HAT, OPEN_HAT, CRASH, RIDE = 36, 37, 38, 39, 42, 44, 46, 49, 51
TAMBOURINE, SHAKER = 54, 70
TOMS = (50, 48, 47, 45, 43, 41)  # high to low

# How each GM program is played in the "other" stem.
PART_KIND = {0: "comp", 1: "comp", 4: "comp", 7: "comp", 11: "comp", 16: "comp", 18: "comp",
             25: "strum", 26: "comp", 27: "strum", 28: "scratch", 29: "power", 30: "power",
             48: "pad", 49: "pad", 61: "stabs", 81: "arp", 88: "pad", 89: "pad", 90: "pad",
             91: "pad"}


@dataclass(frozen=True)
class StyleSpec:
    """What a style draws from. Progressions are Roman numerals relative to the tonic
    (upper case major, lower case minor, ``b`` flattens the root, suffix ``7`` dominant or
    minor seventh, ``maj7`` major seventh), each with the mode used for the melody."""

    tempo_bpm: tuple[float, float]
    progressions: tuple[tuple[str, tuple[str, ...]], ...]
    bass_programs: tuple[int, ...]
    harmony_programs: tuple[int, ...]
    texture_programs: tuple[int, ...]
    voice_programs: tuple[int, ...]
    drum_kits: tuple[int, ...]  # GM/GS kit numbers (bank 128 presets), 0 = standard
    groove: str
    bass_pattern: str
    swing: tuple[float, float] = (0.0, 0.0)
    swing_unit: int = 16  # 16: swung 16ths; 8: swung 8ths
    bars_per_chord: int = 1
    reverb_rt60_s: tuple[float, float] = (0.8, 1.4)


STYLES: dict[str, StyleSpec] = {
    "pop": StyleSpec(
        tempo_bpm=(92, 126),
        progressions=(("major", ("I", "V", "vi", "IV")), ("major", ("vi", "IV", "I", "V")),
                      ("major", ("I", "vi", "IV", "V")), ("major", ("IV", "I", "V", "vi")),
                      ("minor", ("i", "bVI", "bIII", "bVII"))),
        bass_programs=(33, 34, 38), harmony_programs=(0, 4, 27), texture_programs=(48, 89, 25, 49),
        voice_programs=(52, 53, 54, 85), drum_kits=(0, 8), groove="pop", bass_pattern="eighths"),
    "rock": StyleSpec(
        tempo_bpm=(100, 150),
        progressions=(("mixolydian", ("I", "bVII", "IV", "I")), ("major", ("I", "IV", "V", "IV")),
                      ("major", ("vi", "IV", "I", "V")), ("minor", ("i", "bVI", "bVII", "i")),
                      ("major", ("I", "V", "IV", "IV"))),
        bass_programs=(34, 33), harmony_programs=(29, 30), texture_programs=(18, 0, 27, 48),
        voice_programs=(52, 53, 85), drum_kits=(16, 0, 8), groove="rock", bass_pattern="driving",
        reverb_rt60_s=(0.9, 1.6)),
    "hip_hop": StyleSpec(
        tempo_bpm=(80, 98),
        progressions=(("minor", ("i", "bVI", "bIII", "bVII")), ("minor", ("i", "iv", "i", "iv")),
                      ("minor", ("i", "bVII", "bVI", "bVII")), ("dorian", ("i7", "IV7", "i7", "IV7"))),
        bass_programs=(38, 39, 33), harmony_programs=(4, 11, 0), texture_programs=(48, 90, 89),
        voice_programs=(53, 54, 85), drum_kits=(25, 0), groove="hip_hop", bass_pattern="sync",
        swing=(0.12, 0.30), bars_per_chord=1, reverb_rt60_s=(0.6, 1.1)),
    "edm": StyleSpec(
        tempo_bpm=(120, 130),
        progressions=(("minor", ("i", "bVI", "bIII", "bVII")), ("major", ("vi", "IV", "I", "V")),
                      ("minor", ("i", "bVII", "bVI", "bVII")), ("minor", ("bVI", "bVII", "i", "i"))),
        bass_programs=(38, 39, 87), harmony_programs=(81, 90), texture_programs=(89, 91, 48),
        voice_programs=(54, 85, 52), drum_kits=(25, 24), groove="edm", bass_pattern="offbeat",
        reverb_rt60_s=(1.2, 2.0)),
    "ballad": StyleSpec(
        tempo_bpm=(62, 80),
        progressions=(("major", ("I", "vi", "IV", "V")), ("major", ("I", "V", "vi", "IV")),
                      ("major", ("IV", "V", "iii", "vi")), ("major", ("I", "iii", "IV", "V"))),
        bass_programs=(32, 33), harmony_programs=(0, 4), texture_programs=(48, 49, 88, 89),
        voice_programs=(52, 53), drum_kits=(0, 40), groove="ballad", bass_pattern="halves",
        reverb_rt60_s=(1.4, 2.2)),
    "funk": StyleSpec(
        tempo_bpm=(94, 116),
        progressions=(("dorian", ("i7", "IV7", "i7", "IV7")), ("mixolydian", ("I7", "IV7", "I7", "IV7")),
                      ("dorian", ("i7", "i7", "IV7", "bVII")), ("mixolydian", ("I7", "bVII", "IV7", "I7"))),
        bass_programs=(36, 37, 33), harmony_programs=(28, 7, 27), texture_programs=(61, 16, 4),
        voice_programs=(53, 54, 85), drum_kits=(0, 8), groove="funk", bass_pattern="funk",
        swing=(0.05, 0.18), reverb_rt60_s=(0.6, 1.0)),
    "jazz": StyleSpec(
        tempo_bpm=(110, 170),
        progressions=(("major", ("ii7", "V7", "Imaj7", "Imaj7")), ("major", ("Imaj7", "vi7", "ii7", "V7")),
                      ("major", ("iii7", "vi7", "ii7", "V7")), ("dorian", ("i7", "iv7", "i7", "V7"))),
        bass_programs=(32,), harmony_programs=(0, 26, 11), texture_programs=(61, 48, 11),
        voice_programs=(52, 53), drum_kits=(32, 40), groove="jazz", bass_pattern="walking",
        swing=(0.25, 0.34), swing_unit=8, reverb_rt60_s=(1.0, 1.6)),
}

# Drum patterns, 16 steps per bar: 'x' accent, 'o' normal, 'g' ghost. Per groove a list of
# (verse, chorus) variants; each maps GM drum key -> pattern.
_P = dict  # readability
GROOVES: dict[str, list[tuple[dict, dict]]] = {
    "pop": [
        (_P({KICK: "x.....o.x.......", SNARE: "....x.......x...", HAT: "o.o.o.o.o.o.o.o."}),
         _P({KICK: "x.....o.x.o.....", SNARE: "....x.......x...", HAT: "x.o.x.o.x.o.x.o.",
             TAMBOURINE: "....o.......o..."})),
        (_P({KICK: "x.......x..o....", SNARE: "....x.......x...", HAT: "o.o.o.o.o.o.o.o."}),
         _P({KICK: "x..o....x..o....", SNARE: "....x.......x..g", HAT: "xoooxoooxoooxooo",
             OPEN_HAT: "..............o."})),
    ],
    "rock": [
        (_P({KICK: "x.......x.x.....", SNARE: "....x.......x...", HAT: "o.o.o.o.o.o.o.o."}),
         _P({KICK: "x.o.....x.x.....", SNARE: "....x.......x...", RIDE: "x.o.x.o.x.o.x.o."})),
        (_P({KICK: "x......ox.......", SNARE: "....x.......x...", HAT: "x.o.x.o.x.o.x.o."}),
         _P({KICK: "x.x...o.x.x...o.", SNARE: "....x.......x...", OPEN_HAT: "x.o.x.o.x.o.x.o."})),
    ],
    "hip_hop": [
        (_P({KICK: "x......o..x.....", SNARE: "....x.......x...", HAT: "o.o.o.o.o.o.o.o."}),
         _P({KICK: "x......o..x..o..", SNARE: "....x.......x...", HAT: "xoo.xoo.xoo.xooo",
             OPEN_HAT: "..........o....."})),
        (_P({KICK: "x.........x.....", CLAP: "....x.......x...", HAT: "o.o.o.o.o.o.o.o."}),
         _P({KICK: "x..o......x..o..", CLAP: "....x.......x...", HAT: "xoooxoooxoooxooo",
             SHAKER: "..o...o...o...o."})),
    ],
    "edm": [
        (_P({KICK: "x...x...x...x...", HAT: "..o...o...o...o."}),
         _P({KICK: "x...x...x...x...", CLAP: "....x.......x...", OPEN_HAT: "..x...x...x...x.",
             HAT: "oooooooooooooooo"})),
        (_P({KICK: "x...x...x...x...", SHAKER: "o.o.o.o.o.o.o.o."}),
         _P({KICK: "x...x...x...x...", CLAP: "....x.......x...", OPEN_HAT: "..x...x...x...x.",
             SNARE: "............o.o."})),
    ],
    "ballad": [
        (_P({KICK: "x.......x.......", SIDESTICK: "....o.......o...", HAT: "o.o.o.o.o.o.o.o."}),
         _P({KICK: "x.....o.x.......", SNARE: "....x.......x...", RIDE: "o.o.o.o.o.o.o.o."})),
        (_P({KICK: "x..........o....", SIDESTICK: "....o.......o...", SHAKER: "oooooooooooooooo"}),
         _P({KICK: "x.......x..o....", SNARE: "....x.......x...", HAT: "o.o.o.o.o.o.o.o."})),
    ],
    "funk": [
        (_P({KICK: "x..o..o...x..o..", SNARE: "....x..g.g..x..g", HAT: "xoxoxoxoxoxoxoxo"}),
         _P({KICK: "x..o..o...x.oo..", SNARE: "....x..g.g..x.gg", HAT: "xoxoxoxoxoxoxo.o",
             OPEN_HAT: "..............x."})),
        (_P({KICK: "x.o...o..ox.....", SNARE: "....x.g.....x.g.", HAT: "xoxoxoxoxoxoxoxo"}),
         _P({KICK: "x.o...o..ox...o.", SNARE: "..g.x.g..g..x.g.", HAT: "xoxoxoxoxoxoxoxo",
             TAMBOURINE: "....o.......o..."})),
    ],
    "jazz": [
        (_P({RIDE: "x...x.o.x...x.o.", PEDAL_HAT: "....x.......x...", KICK: "g...g...g...g..."}),
         _P({RIDE: "x...x.o.x...x.o.", PEDAL_HAT: "....x.......x...", KICK: "g...g...g...g...",
             SNARE: "......g.......g."})),
    ],
}
_VEL = {"x": 110, "o": 84, "g": 42}

# Bass patterns: (step, length in steps, chord degree) with degree R root, 5 fifth, 8 octave,
# 3 third, 7 seventh, A chromatic approach to the next root.
BASS_PATTERNS: dict[str, tuple[tuple, tuple]] = {  # (verse, chorus)
    "eighths": (((0, 4, "R"), (6, 2, "R"), (8, 4, "R"), (14, 2, "5")),
                tuple((s, 2, "R") for s in range(0, 16, 2))),
    "driving": (tuple((s, 2, "R") for s in range(0, 16, 2)),
                tuple((s, 2, "8" if s in (6, 14) else "R") for s in range(0, 16, 2))),
    "sync": (((0, 6, "R"), (7, 3, "R"), (10, 6, "5")),
             ((0, 3, "R"), (3, 3, "R"), (7, 2, "8"), (10, 4, "5"), (14, 2, "R"))),
    "offbeat": (((2, 2, "R"), (6, 2, "R"), (10, 2, "R"), (14, 2, "R")),
                ((0, 1, "R"), (2, 2, "R"), (4, 1, "R"), (6, 2, "8"), (8, 1, "R"), (10, 2, "R"),
                 (12, 1, "R"), (14, 2, "8"))),
    "halves": (((0, 16, "R"),), ((0, 8, "R"), (8, 6, "5"), (14, 2, "3"))),
    "funk": (((0, 2, "R"), (3, 1, "8"), (6, 2, "R"), (10, 2, "5"), (12, 1, "7"), (14, 2, "8")),
             ((0, 2, "R"), (2, 1, "R"), (3, 1, "8"), (6, 1, "R"), (7, 1, "7"), (8, 2, "R"),
              (10, 1, "5"), (11, 1, "8"), (13, 1, "R"), (14, 2, "7"))),
    "walking": (((0, 4, "R"), (4, 4, "3"), (8, 4, "5"), (12, 4, "A")),
                ((0, 4, "R"), (4, 4, "5"), (8, 4, "3"), (12, 4, "A"))),
}


@dataclass
class Chord:
    root_pc: int  # pitch class of the root (0 = C)
    intervals: tuple[int, ...]  # semitones above the root
    numeral: str


@dataclass
class Composition:
    """A composed song: one PrettyMIDI per stem role plus the musical metadata."""

    seed: int
    style: str
    tempo_bpm: float
    tonic_pc: int
    mode: str
    progression: list[str]
    swing: float
    duration_s: float
    sections: list[dict]
    programs: dict[str, list[int]]
    instruments: dict[str, list[str]]
    reverb_rt60_s: float
    midi: dict[str, pretty_midi.PrettyMIDI] = field(repr=False)

    @property
    def key(self) -> str:
        return f"{NOTE_NAMES[self.tonic_pc]} {self.mode}"

    def meta(self) -> dict:
        """JSON-serialisable description (no MIDI objects)."""
        return {"seed": int(self.seed), "style": self.style, "tempo_bpm": round(self.tempo_bpm, 2),
                "key": self.key, "mode": self.mode, "progression": list(self.progression),
                "swing": round(self.swing, 3), "duration_s": self.duration_s,
                "sections": self.sections, "programs": self.programs,
                "instruments": self.instruments, "reverb_rt60_s": round(self.reverb_rt60_s, 3),
                "n_notes": {k: int(sum(len(i.notes) for i in pm.instruments))
                            for k, pm in self.midi.items()}}


# --------------------------------------------------------------------------- harmony

_NUMERALS = {"I": 0, "II": 2, "III": 4, "IV": 5, "V": 7, "VI": 9, "VII": 11}


def parse_numeral(numeral: str, tonic_pc: int) -> Chord:
    """Roman numeral (``bVII``, ``ii7``, ``Imaj7``, ``IV7``) -> Chord in the key of ``tonic_pc``."""
    s = numeral
    shift = 0
    while s[:1] in ("b", "#"):
        shift += -1 if s[0] == "b" else 1
        s = s[1:]
    i = 0
    while i < len(s) and s[i].upper() in "IV":
        i += 1
    roman, suffix = s[:i], s[i:]
    if roman.upper() not in _NUMERALS:
        raise ValueError(f"bad Roman numeral {numeral!r}")
    minor = roman.islower()
    if suffix == "maj7":
        iv = (0, 4, 7, 11)
    elif suffix == "7":
        iv = (0, 3, 7, 10) if minor else (0, 4, 7, 10)
    elif suffix == "":
        iv = (0, 3, 7) if minor else (0, 4, 7)
    else:
        raise ValueError(f"bad chord suffix in {numeral!r}")
    return Chord((tonic_pc + _NUMERALS[roman.upper()] + shift) % 12, iv, numeral)


def _nearest(pc: int, around: float) -> int:
    """MIDI note of pitch class ``pc`` nearest to ``around``."""
    base = round(around) - 6
    return base + ((pc - base) % 12)


def _voicing(chord: Chord, center: float, prev: list[int] | None, n_notes: int = 4) -> list[int]:
    """Close-position voicing near ``center``; among inversions, the one that moves least
    from the previous voicing (simple voice leading)."""
    pcs = [(chord.root_pc + iv) % 12 for iv in chord.intervals]
    while len(pcs) < n_notes:
        pcs.append(pcs[0])
    best, best_cost = None, None
    for inv in range(len(chord.intervals)):
        order = pcs[inv:] + pcs[:inv]
        notes = [_nearest(order[0], center - 5)]
        for pc in order[1:n_notes]:
            nxt = notes[-1] + 1 + ((pc - notes[-1] - 1) % 12)
            notes.append(nxt)
        cost = abs(np.mean(notes) - center) * 0.5
        if prev:
            cost += sum(min(abs(n - p) for p in prev) for n in notes) / len(notes)
        if best_cost is None or cost < best_cost:
            best, best_cost = notes, cost
    return best


# --------------------------------------------------------------------------- timing

class Grid:
    """16th-note grid with swing: step k of bar b starts at ``t(b, k)`` seconds."""

    def __init__(self, tempo_bpm: float, swing: float, swing_unit: int):
        self.step_s = 60.0 / tempo_bpm / 4.0
        self.swing = swing
        self.unit = swing_unit

    def t(self, bar: int, step: float) -> float:
        base = (bar * 16 + step) * self.step_s
        k = int(step)
        if self.swing and k == step:
            if self.unit == 16 and k % 2 == 1:
                base += self.swing * self.step_s
            elif self.unit == 8 and k % 4 == 2:
                base += self.swing * 2.0 * self.step_s
        return base

    def span(self, bar: int, step: float, length: float) -> tuple[float, float]:
        start = self.t(bar, step)
        end = self.t(bar, step + length) if float(step + length).is_integer() else start + length * self.step_s
        return start, max(end, start + 0.02)


def _add(inst: pretty_midi.Instrument, pitch: int, vel: float, start: float, end: float) -> None:
    if end <= start or not (0 <= pitch <= 127):
        return
    inst.notes.append(pretty_midi.Note(velocity=int(np.clip(round(vel), 1, 127)), pitch=int(pitch),
                                       start=max(0.0, float(start)), end=float(end)))


def _new_part(program: int, name: str, pan: int, volume: int, is_drum: bool = False) -> pretty_midi.Instrument:
    inst = pretty_midi.Instrument(program=program, is_drum=is_drum, name=name)
    inst.control_changes.append(pretty_midi.ControlChange(10, int(np.clip(pan, 0, 127)), 0.0))
    inst.control_changes.append(pretty_midi.ControlChange(7, int(np.clip(volume, 0, 127)), 0.0))
    return inst


# --------------------------------------------------------------------------- parts

def _drums(rng, spec: StyleSpec, grid: Grid, sections, kit: int) -> pretty_midi.Instrument:
    inst = _new_part(kit, f"drums (kit {kit})", 64, 110, is_drum=True)
    verse, chorus = GROOVES[spec.groove][int(rng.integers(len(GROOVES[spec.groove])))]
    jitter_s = 0.004 if spec.groove not in ("edm",) else 0.001
    for sec_i, sec in enumerate(sections):
        pat = chorus if sec["name"] == "chorus" else verse
        for b in range(sec["start_bar"], sec["end_bar"]):
            last = b == sec["end_bar"] - 1
            fill = last and rng.random() < 0.7 and sec_i < len(sections) - 1
            for key, p in pat.items():
                for k, c in enumerate(p):
                    if c == "." or (fill and k >= 8 and key not in (KICK, RIDE, PEDAL_HAT)):
                        continue
                    t0 = grid.t(b, k) + rng.normal(0, jitter_s)
                    vel = _VEL[c] * (0.9 if sec["name"] == "verse" else 1.0) + rng.normal(0, 6)
                    dur = 0.25 if key in (OPEN_HAT, CRASH, RIDE) else 0.1
                    _add(inst, key, vel, t0, t0 + dur)
            if b == sec["start_bar"] and (sec["name"] == "chorus" or rng.random() < 0.4) and b > 0:
                _add(inst, CRASH, 105 + rng.normal(0, 5), grid.t(b, 0), grid.t(b, 0) + 1.5)
            if fill:
                kind = rng.integers(3)
                for k in range(8, 16):
                    if kind == 0:  # snare roll crescendo
                        key, vel = SNARE, 60 + 6 * (k - 8)
                    else:  # toms, high to low
                        key, vel = TOMS[min(len(TOMS) - 1, (k - 8) * len(TOMS) // 8)], 80 + 3 * (k - 8)
                    if kind == 2 and k % 2 == 1:
                        continue
                    t0 = grid.t(b, k) + rng.normal(0, jitter_s)
                    _add(inst, key, vel + rng.normal(0, 4), t0, t0 + 0.12)
    return inst


def _bass_line(rng, spec: StyleSpec, grid: Grid, sections, chords_by_bar, program: int,
               ) -> pretty_midi.Instrument:
    inst = _new_part(program, pretty_midi.program_to_instrument_name(program), 64, 110)
    verse_pat, chorus_pat = BASS_PATTERNS[spec.bass_pattern]
    low = 28 + int(rng.integers(0, 5))  # lowest root: E1..G#1
    legato = 0.92 if spec.bass_pattern in ("walking", "halves", "sync") else 0.8
    for sec in sections:
        pat = chorus_pat if sec["name"] == "chorus" else verse_pat
        for b in range(sec["start_bar"], sec["end_bar"]):
            ch = chords_by_bar[b]
            nxt = chords_by_bar[b + 1] if b + 1 < len(chords_by_bar) else ch
            root = low + (ch.root_pc - low) % 12
            for step, length, deg in pat:
                if deg == "R":
                    p = root
                elif deg == "5":
                    p = root + 7
                elif deg == "8":
                    p = root + 12
                elif deg == "3":
                    p = root + ch.intervals[1]
                elif deg == "7":
                    p = root + (ch.intervals[3] if len(ch.intervals) > 3 else 10)
                else:  # chromatic approach to the next root, from below or above
                    nroot = low + (nxt.root_pc - low) % 12
                    p = nroot + (1 if rng.random() < 0.4 else -1)
                start, end = grid.span(b, step, length)
                vel = (96 if step % 4 == 0 else 84) + rng.normal(0, 5)
                _add(inst, p, vel, start + rng.normal(0, 0.003), start + (end - start) * legato)
    return inst


def _harmony_part(rng, spec: StyleSpec, grid: Grid, sections, chords_by_bar, program: int,
                  role: str, pan: int, volume: int) -> pretty_midi.Instrument:
    """One "other" instrument; ``role`` is "harmony" (always plays) or "texture" (chorus, and
    softly in some verses)."""
    kind = PART_KIND.get(program, "comp")
    inst = _new_part(program, pretty_midi.program_to_instrument_name(program), pan, volume)
    center = {"pad": 62, "power": 52, "strum": 60, "scratch": 64, "stabs": 67, "arp": 67}.get(kind, 62)
    verse_soft = role == "texture" and rng.random() < 0.5
    prev = None
    comp_rhythm = {  # (step, length) comp hits per bar, per groove
        "pop": ((0, 6), (6, 2), (8, 6), (14, 2)), "rock": ((0, 8), (8, 8)),
        "hip_hop": ((0, 6), (6, 10)), "edm": ((2, 2), (6, 2), (10, 2), (14, 2)),
        "ballad": ((0, 16),), "funk": ((0, 1), (3, 1), (6, 2), (10, 1), (12, 2)),
        "jazz": ((3, 2), (6, 3), (11, 2), (14, 2)),
    }[spec.groove]
    pump = spec.groove == "edm" and kind == "pad"
    for sec in sections:
        chorus = sec["name"] == "chorus"
        if role == "texture" and not chorus and not verse_soft:
            continue
        dyn = 1.0 if chorus else (0.62 if role == "texture" else 0.85)
        for b in range(sec["start_bar"], sec["end_bar"]):
            ch = chords_by_bar[b]
            notes = _voicing(ch, center + (2 if chorus else 0), prev)
            prev = notes
            if kind == "pad":
                start, end = grid.t(b, 0), grid.t(b + 1, 0)
                for p in notes[:4] + ([notes[0] - 12] if chorus else []):
                    _add(inst, p, 78 * dyn + rng.normal(0, 3), start, end)
                if pump:  # side-chain-like ducking on every beat via expression (CC11)
                    for beat in range(4):
                        t0 = grid.t(b, 4 * beat)
                        for j, val in enumerate((40, 75, 100, 120, 127)):
                            inst.control_changes.append(
                                pretty_midi.ControlChange(11, val, t0 + j * grid.step_s * 0.6))
            elif kind == "power":
                root = _nearest(ch.root_pc, 45)
                shape = (root, root + 7, root + 12)
                for s in range(0, 16, 2 if chorus else 4):
                    start, end = grid.span(b, s, 2 if chorus else 4)
                    for p in shape:
                        _add(inst, p, (100 if s % 4 == 0 else 88) * dyn + rng.normal(0, 4), start,
                             start + 0.9 * (end - start))
            elif kind == "strum":
                strums = ((0, 4), (4, 2), (6, 2), (8, 4), (12, 2), (14, 2)) if chorus else ((0, 8), (8, 8))
                shape = sorted(set(notes + [notes[0] - 12]))
                for s, length in strums:
                    start, end = grid.span(b, s, length)
                    down = (s % 4 == 0)
                    order = shape if down else shape[::-1]
                    for j, p in enumerate(order):
                        _add(inst, p, (90 if down else 72) * dyn + rng.normal(0, 4),
                             start + j * 0.012, end * 0.98 + start * 0.02)
            elif kind == "scratch":
                for s in range(16):
                    if rng.random() < (0.8 if chorus else 0.55):
                        start, end = grid.span(b, s, 1)
                        vel = (96 if s % 2 == 0 else 70) * dyn + rng.normal(0, 5)
                        for p in notes[1:3]:
                            _add(inst, p, vel, start, start + 0.6 * (end - start))
            elif kind == "arp":
                seq = notes + [notes[1] + 12]
                for s in range(0, 16, 1 if chorus else 2):
                    start, end = grid.span(b, s, 1)
                    _add(inst, seq[(s // (1 if chorus else 2)) % len(seq)],
                         (90 if s % 4 == 0 else 72) * dyn + rng.normal(0, 4), start,
                         start + 0.8 * (end - start))
            elif kind == "stabs":
                hits = ((0, 2), (6, 1), (10, 2)) if chorus else ((0, 2), (10, 2))
                for s, length in hits:
                    start, end = grid.span(b, s, length)
                    for p in notes[1:]:
                        _add(inst, p, 96 * dyn + rng.normal(0, 4), start, start + 0.8 * (end - start))
            else:  # comp (keys): style rhythm; ballad piano arpeggiates
                if spec.groove == "ballad":
                    seq = [notes[0] - 12, notes[0], notes[1], notes[2], notes[1] + 12 if chorus else notes[3]]
                    for s in range(0, 16, 2):
                        start = grid.t(b, s)
                        _add(inst, seq[(s // 2) % len(seq)], 70 * dyn + rng.normal(0, 4), start,
                             grid.t(b, min(16, s + 6)))
                    continue
                for s, length in comp_rhythm:
                    if not chorus and rng.random() < 0.25:
                        continue
                    start, end = grid.span(b, s, length)
                    for p in notes:
                        _add(inst, p, 82 * dyn + rng.normal(0, 5), start + rng.normal(0, 0.004),
                             start + 0.9 * (end - start))
    inst.control_changes.sort(key=lambda c: c.time)
    return inst


def _melody(rng, spec: StyleSpec, grid: Grid, sections, chords_by_bar, scale: tuple[int, ...],
            tonic_pc: int, program: int) -> pretty_midi.Instrument:
    """Lead voice: phrases of 2 bars (1 bar when slow), a rhythm per section type that repeats
    (motif), chord tones on strong beats, scale steps on weak ones, an arch contour, rests at
    phrase ends; vibrato on long notes and a scoop into each phrase by pitch bend (+-2 semitone
    wheel range)."""
    inst = _new_part(program, pretty_midi.program_to_instrument_name(program), 64, 112)
    low = int(rng.choice([53, 57, 60]))  # singer's lowest note: F3, A3 or C4
    high = low + 17
    scale_pcs = {(tonic_pc + s) % 12 for s in scale}
    bars_per_phrase = 1 if grid.step_s * 16 > 3.0 else 2
    n_steps = 16 * bars_per_phrase
    fine = spec.groove in ("hip_hop", "funk")
    rhythms = {}

    def make_rhythm(chorus: bool) -> list[tuple[int, int]]:
        out, s = [], 0
        sing_until = n_steps - int(rng.choice([2, 4, 4, 6] if chorus else [4, 6, 8]))
        if not chorus and rng.random() < 0.5:
            s = int(rng.choice([1, 2]))  # pickup-free late entry
        while s < sing_until:
            choices = ([2, 2, 4, 4, 6, 8] if chorus else [1, 2, 2, 2, 3, 4]) if fine else \
                      ([2, 4, 4, 6, 8] if chorus else [2, 2, 2, 4, 4, 6])
            length = int(rng.choice(choices))
            length = min(length, sing_until - s)
            out.append((s, length))
            s += length
            if not chorus and rng.random() < 0.12 and s < sing_until - 2:
                s += 2  # short breath inside the phrase
        return out

    pitch = (low + high) // 2
    for sec in sections:
        chorus = sec["name"] == "chorus"
        key = sec["name"]
        if key not in rhythms:
            rhythms[key] = make_rhythm(chorus)
        rhythm = rhythms[key]
        lift = 4 if chorus else 0
        for pb in range(sec["start_bar"], sec["end_bar"], bars_per_phrase):
            pitch = max(low + lift, min(high, pitch))
            phrase_start = None
            for idx, (s, length) in enumerate(rhythm):
                bar = pb + s // 16
                if bar >= sec["end_bar"]:
                    break
                ch = chords_by_bar[bar]
                chord_pcs = {(ch.root_pc + iv) % 12 for iv in ch.intervals}
                pos = idx / max(1, len(rhythm) - 1)
                contour = 1 if pos < 0.55 else -1  # arch: up then down
                if s % 4 == 0 or idx == 0:
                    cands = [p for p in range(low + lift - 2, high + 1) if p % 12 in chord_pcs]
                else:
                    cands = [p for p in range(low + lift - 2, high + 1) if p % 12 in scale_pcs]
                cands = [p for p in cands if p != pitch] or cands
                w = np.array([np.exp(-abs(p - pitch - 2 * contour) / 2.2) for p in cands])
                pitch = int(rng.choice(cands, p=w / w.sum()))
                start, end = grid.span(bar, s % 16, length)
                end = start + (end - start) * 0.95
                vel = (100 if chorus else 90) + rng.normal(0, 5)
                _add(inst, pitch, vel, start, end)
                if phrase_start is None:
                    phrase_start = start
                    for j, frac in enumerate((-0.5, -0.3, -0.12, 0.0)):  # scoop up into the phrase
                        inst.pitch_bends.append(pretty_midi.PitchBend(int(frac * 4096), start + j * 0.025))
                if end - start > 0.5:  # vibrato, +-0.25 semitone at ~5.5 Hz after 0.25 s
                    t = start + 0.25
                    k = 0
                    while t < end - 0.02:
                        inst.pitch_bends.append(pretty_midi.PitchBend(
                            int(0.25 * 4096 * np.sin(2 * np.pi * 5.5 * (t - start - 0.25))), t))
                        t += 0.03
                        k += 1
                    inst.pitch_bends.append(pretty_midi.PitchBend(0, end))
    inst.pitch_bends.sort(key=lambda b: b.time)
    return inst


# --------------------------------------------------------------------------- song

def _rng(seed: int, part: str) -> np.random.Generator:
    """Independent stream per (seed, part name), so that changing one part's logic leaves the
    others as they were (a stable string hash; Python's ``hash`` is salted per process)."""
    h = 0
    for c in part:
        h = (h * 131 + ord(c)) & 0xFFFFFFFF
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, (int(seed) >> 32) & 0xFFFFFFFF, h])


def compose_song(seed: int, style: str | None = None, duration_s: float = 30.0) -> Composition:
    """Compose a song of at least ``duration_s`` seconds in ``style`` (one of ``STYLES``; None
    picks one from the seed). Deterministic for (seed, style, duration_s).

    Notes
    -----
    The four parts:

    - ``drums``: one kit on GM channel 10 (``is_drum=True``), a groove per style with 16th-note
      patterns, ghost notes, swing, humanised timing/velocity, fills at the end of sections and
      crashes at section starts;
    - ``bass``: a bass line on the chord roots (style patterns: driving 8ths, syncopated 16ths,
      off-beats, half notes, walking quarters with chromatic approach notes);
    - ``vocals``: a voice-like lead line (GM 52 Choir Aahs, 53 Voice Oohs, 54 Synth Voice or
      85 Lead 6 "voice"), in a singable range, in phrases with rests, chord tones on strong
      beats and scale steps between, a little vibrato and scoop by pitch bend;
    - ``other``: two instruments at least, a "harmony" part (piano, electric piano, clavinet,
      organ, guitar, vibraphone, saw lead) and a "texture" part (strings, pads, brass,
      guitars), each played in a way that suits the instrument (comping, strums, power chords,
      muted 16ths, arpeggios, sustained pads with side-chain-like pumping for EDM).

    Styles differ in tempo range, mode, chord progressions (several each), harmonic rhythm,
    grooves, swing and instrument pools. The song alternates verse and chorus sections: verses
    are sparser (fewer drum voices, the texture part often tacet or soft, a lower and busier
    vocal line with more rests), choruses fuller, so that 10 s chunks of one song differ.

    Mix intent travels inside the MIDI: pan (CC10) and volume (CC7) at time 0 of every part,
    expression (CC11) automation for pumping pads, pitch bends for the voice. Everything is
    drawn from ``numpy.random.default_rng`` streams derived from the seed (:func:`_rng`).
    """
    if style is None:
        style = tuple(STYLES)[int(_rng(seed, "style").integers(len(STYLES)))]
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")
    if not duration_s > 0:
        raise ValueError(f"duration_s must be positive, got {duration_s!r}")
    spec = STYLES[style]
    rng = _rng(seed, style + ":song")
    tempo = float(rng.uniform(*spec.tempo_bpm))
    tonic_pc = int(rng.integers(12))
    mode, numerals = spec.progressions[int(rng.integers(len(spec.progressions)))]
    swing = float(rng.uniform(*spec.swing)) if spec.swing[1] > 0 else 0.0
    rt60 = float(rng.uniform(*spec.reverb_rt60_s))
    grid = Grid(tempo, swing, spec.swing_unit)
    bar_s = 16 * grid.step_s
    n_bars = int(np.ceil(duration_s / bar_s)) + 1

    # Sections: 4 bars (2 when a bar is long), verse/chorus alternating from a random start.
    sec_bars = 4 if bar_s < 2.8 else 2
    first = "chorus" if rng.random() < 0.4 else "verse"
    sections, b, name = [], 0, first
    while b < n_bars:
        e = min(n_bars, b + sec_bars)
        sections.append({"name": name, "start_bar": b, "end_bar": e,
                         "start_s": round(b * bar_s, 3), "end_s": round(e * bar_s, 3)})
        b, name = e, ("chorus" if name == "verse" else "verse")

    chords = [parse_numeral(nm, tonic_pc) for nm in numerals]
    chords_by_bar = [chords[(b // spec.bars_per_chord) % len(chords)] for b in range(n_bars + 1)]

    kit = int(_rng(seed, style + ":kit").choice(spec.drum_kits))
    progs = _rng(seed, style + ":programs")
    bass_prog = int(progs.choice(spec.bass_programs))
    harm_prog = int(progs.choice(spec.harmony_programs))
    tex_choices = [p for p in spec.texture_programs if p != harm_prog] or list(spec.texture_programs)
    tex_prog = int(progs.choice(tex_choices))
    voice_prog = int(progs.choice(spec.voice_programs))
    side = 1 if progs.random() < 0.5 else -1
    harm_pan, tex_pan = 64 - side * int(progs.integers(24, 40)), 64 + side * int(progs.integers(24, 40))

    def pm_with(*insts) -> pretty_midi.PrettyMIDI:
        pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
        pm.instruments.extend(insts)
        return pm

    scale = SCALES[mode]
    midi = {
        "drums": pm_with(_drums(_rng(seed, style + ":drums"), spec, grid, sections, kit)),
        "bass": pm_with(_bass_line(_rng(seed, style + ":bass"), spec, grid, sections, chords_by_bar, bass_prog)),
        "vocals": pm_with(_melody(_rng(seed, style + ":vocals"), spec, grid, sections, chords_by_bar, scale,
                                  tonic_pc, voice_prog)),
        "other": pm_with(
            _harmony_part(_rng(seed, style + ":harmony"), spec, grid, sections, chords_by_bar, harm_prog,
                          "harmony", harm_pan, 105),
            _harmony_part(_rng(seed, style + ":texture"), spec, grid, sections, chords_by_bar, tex_prog,
                          "texture", tex_pan, 92)),
    }
    for role, pm in midi.items():
        if not any(i.notes for i in pm.instruments):  # never expected; guards the renderer
            raise RuntimeError(f"compose_song: {role} part has no notes (seed {seed}, {style})")
    programs = {"bass": [bass_prog], "drums": [kit], "vocals": [voice_prog], "other": [harm_prog, tex_prog]}
    names = {role: [i.name for i in pm.instruments] for role, pm in midi.items()}
    return Composition(seed=int(seed), style=style, tempo_bpm=tempo, tonic_pc=tonic_pc, mode=mode,
                       progression=list(numerals), swing=swing, duration_s=float(duration_s),
                       sections=[s for s in sections if s["start_s"] < duration_s],
                       programs=programs, instruments=names, reverb_rt60_s=rt60, midi=midi)
