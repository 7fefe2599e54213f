"""Instruction and response wordings for the flawed-mix corpus.

Follows the MixingBuddy-gain study protocol: each sample pairs an instruction that names the
stems present and an *anchor* stem (assumed correctly balanced) with a response that names the
flawed stem, the corrective direction and the corrective range in dB. The study used 10
instruction wordings and 10 response wordings per category; the wordings here are our own.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mixingbuddy.tools.io.audio import ALL_STEMS

# The names below are a contract shared with the benchmark's parser and metrics (``evals``).

# possible targets and anchors ("other" is never either), in the canonical order
STEMS = tuple(s for s in ALL_STEMS if s != "other")  # bass, drums, vocals: targets and anchors
CATEGORIES = ("very_quiet", "quiet", "no_error", "loud", "very_loud")
# the applied flaw gain per category (dB)
GAIN_RANGES_DB = {
    "very_quiet": (-12.0, -6.0),
    "quiet": (-6.0, -3.0),
    "no_error": (0.0, 0.0),
    "loud": (3.0, 6.0),
    "very_loud": (6.0, 12.0),
}
# Magnitude of the correction (dB): the inverse of the flaw range, rounded to whole dB.
CORRECTION_RANGES_DB = {"very_quiet": (6, 12), "quiet": (3, 6), "loud": (3, 6), "very_loud": (6, 12)}
# Corrective direction per category ("increase" undoes a cut, "decrease" undoes a boost).
CORRECTIVE_DIRECTION = {"very_quiet": "increase", "quiet": "increase", "no_error": None,
                        "loud": "decrease", "very_loud": "decrease"}

NO_ERROR = "no_error"
FLAW_CATEGORIES = tuple(c for c in CATEGORIES if c != NO_ERROR)  # very_quiet, quiet, loud, very_loud
# The 13 balance classes (``no_error`` and ``<category>:<stem>``), the one definition that the
# audio model's posterior, the balance judge and the benchmark name; class_name and
# class_parts convert.
CLASSES = (NO_ERROR,) + tuple(f"{c}:{s}" for c in FLAW_CATEGORIES for s in STEMS)


def class_name(category: str, target: str | None) -> str:
    """``no_error`` or ``<category>:<target>``: a member of :data:`CLASSES`."""
    name = NO_ERROR if category == NO_ERROR else f"{category}:{target}"
    if name not in CLASSES:
        raise ValueError(f"no balance class for category {category!r} and target {target!r}")
    return name


def class_parts(name: str) -> tuple[str | None, str | None, tuple[float, float] | None]:
    """(stem, corrective direction, correction range in dB) of a class; all None for
    ``no_error``: quiet categories are corrected by raising, loud ones by lowering, "very" ones
    by 6-12 dB and the others by 3-6 dB (:data:`CORRECTION_RANGES_DB`)."""
    if name == NO_ERROR:
        return None, None, None
    category, stem = name.split(":")
    lo, hi = CORRECTION_RANGES_DB[category]
    return stem, CORRECTIVE_DIRECTION[category], (float(lo), float(hi))


# How a stem is named inside an instruction's list of stems.
STEM_DISPLAY = {"bass": "bass", "drums": "drums", "vocals": "vocals", "other": "other instruments"}

# 10 strings with ``{stems}`` and ``{anchor}``
INSTRUCTIONS: list[str] = [
    "This mix has {stems}. Treat the {anchor} as correctly balanced. Is any stem too loud or too quiet?",
    "Here is a mix containing {stems}. Assume the {anchor} level is right. Which stem, if any, needs a level change, and by how much?",
    "Listen to this mix of {stems}. Using the {anchor} as the reference, check the balance of the other stems.",
    "The stems in this track are {stems}. The level of the {anchor} is where it should be. Is anything out of balance?",
    "Mix with {stems}. Taking the {anchor} as the anchor, tell me whether a stem should be turned up or down.",
    "Please review the level balance of this mix ({stems}). Assume the {anchor} level is set correctly.",
    "I mixed {stems} together. Relative to the {anchor}, does any part need more or less level?",
    "Check this mix for a stem that is too loud or too quiet. It contains {stems}; judge everything against the {anchor}.",
    "This track is made of {stems}. With the {anchor} held as correct, what gain change, if any, would fix the balance?",
    "Balance check: the mix has {stems}, with the {anchor} as the fixed reference. Which stem is off, in which direction, and how far?",
]

# Per category, 10 strings with ``{stem}``, ``{lo}``, ``{hi}`` (no placeholders for
# ``no_error``). Quiet categories ask to raise the stem, loud ones to lower it, ``no_error`` says
# no adjustment is needed. Wordings avoid verb agreement with the stem name ("the bass is" /
# "the drums are") so one string fits every stem.
RESPONSES: dict[str, list[str]] = {
    "very_quiet": [
        "The {stem} level is far too low. Raise the {stem} by {lo} to {hi} dB.",
        "The {stem} part is buried in the mix; boost it by {lo}-{hi} dB.",
        "Turn the {stem} up by {lo} to {hi} dB: the part is much too quiet against the rest.",
        "There is much too little {stem} here. Bring the {stem} up {lo} to {hi} dB.",
        "The {stem} level sits well under where it belongs. Increase the {stem} by {lo} to {hi} dB.",
        "The {stem} part is very quiet. Push the {stem} up by {lo}-{hi} dB.",
        "Raise the {stem} a lot, about {lo} to {hi} dB; right now the level is far too quiet.",
        "The {stem} level is very low compared with the anchor. Boost the {stem} by {lo} to {hi} dB.",
        "The {stem} part is hard to hear. Turn it up by {lo} to {hi} dB.",
        "The {stem} part needs much more level: bring it up by {lo}-{hi} dB.",
    ],
    "quiet": [
        "The {stem} level is a little too quiet. Raise the {stem} by {lo} to {hi} dB.",
        "The {stem} level is slightly low; boost it by {lo}-{hi} dB.",
        "Turn the {stem} up a bit, {lo} to {hi} dB.",
        "The {stem} level sits a touch under the rest. Bring the {stem} up by {lo} to {hi} dB.",
        "Increase the {stem} by {lo} to {hi} dB; the level is somewhat too quiet.",
        "A little more {stem} would help: push it up {lo}-{hi} dB.",
        "The {stem} part is slightly too quiet in this mix. Raise it by {lo} to {hi} dB.",
        "The {stem} level is a bit low. Boost the {stem} by {lo} to {hi} dB.",
        "The {stem} could come up a little, around {lo} to {hi} dB.",
        "Bring up the {stem} by {lo} to {hi} dB; the level is a little low against the anchor.",
    ],
    "no_error": [
        "The balance is fine as it is; no adjustment needed.",
        "Nothing to change here: every stem sits at a sensible level.",
        "The levels are well balanced. No changes are needed.",
        "This mix is balanced; leave the levels as they are.",
        "Every stem sits at a good level. No adjustment is required.",
        "The stems are in good balance, so no level change is needed.",
        "Everything sits well against the anchor; no adjustment needed.",
        "The balance is already correct. Keep the levels as they are.",
        "I would not change any levels: the mix is balanced.",
        "The mix is well balanced; no gain changes are necessary.",
    ],
    "loud": [
        "The {stem} level is a little too loud. Lower the {stem} by {lo} to {hi} dB.",
        "The {stem} level is slightly high; cut it by {lo}-{hi} dB.",
        "Turn the {stem} down a bit, {lo} to {hi} dB.",
        "The {stem} level sits a touch above the rest. Pull the {stem} back by {lo} to {hi} dB.",
        "Reduce the {stem} by {lo} to {hi} dB; the level is somewhat too loud.",
        "A little less {stem} would help: bring it down {lo}-{hi} dB.",
        "The {stem} part is slightly too loud in this mix. Lower it by {lo} to {hi} dB.",
        "The {stem} level is a bit high. Cut the {stem} by {lo} to {hi} dB.",
        "The {stem} could come down a little, around {lo} to {hi} dB.",
        "Pull back the {stem} by {lo} to {hi} dB; the level is a little loud against the anchor.",
    ],
    "very_loud": [
        "The {stem} level is far too high. Lower the {stem} by {lo} to {hi} dB.",
        "The {stem} part dominates the mix; cut it by {lo}-{hi} dB.",
        "Turn the {stem} down by {lo} to {hi} dB: the part is much too loud against the rest.",
        "There is much too much {stem} here. Bring the {stem} down {lo} to {hi} dB.",
        "The {stem} level sits well over where it belongs. Reduce the {stem} by {lo} to {hi} dB.",
        "The {stem} part is very loud. Pull the {stem} back by {lo}-{hi} dB.",
        "Lower the {stem} a lot, about {lo} to {hi} dB; right now the level is far too loud.",
        "The {stem} level is very high compared with the anchor. Cut the {stem} by {lo} to {hi} dB.",
        "The {stem} part overpowers everything else. Turn it down by {lo} to {hi} dB.",
        "The {stem} part needs much less level: attenuate it by {lo}-{hi} dB.",
    ],
}


def _join(names: Sequence[str]) -> str:
    """'bass', 'bass and drums', 'bass, drums and vocals'."""
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def format_instruction(i: int, stems_present: Sequence[str], anchor: str) -> str:
    """Instruction wording ``i`` (mod 10) naming the stems present and the anchor."""
    if anchor not in STEMS:
        raise ValueError(f"anchor must be one of {STEMS}, got {anchor!r}")
    order = [s for s in ("bass", "drums", "vocals", "other") if s in stems_present]
    order += [s for s in stems_present if s not in order]
    stems = _join([STEM_DISPLAY.get(s, s) for s in order])
    return INSTRUCTIONS[i % len(INSTRUCTIONS)].format(stems=stems, anchor=anchor)


def format_response(category: str, j: int, stem: str | None) -> str:
    """Response wording ``j`` (mod 10) of ``category`` for target ``stem`` (ignored, may be
    None, for ``no_error``), with that category's corrective range."""
    if category not in RESPONSES:
        raise ValueError(f"category must be one of {CATEGORIES}, got {category!r}")
    text = RESPONSES[category][j % len(RESPONSES[category])]
    if category == "no_error":
        return text
    if stem not in STEMS:
        raise ValueError(f"target stem must be one of {STEMS}, got {stem!r}")
    lo, hi = CORRECTION_RANGES_DB[category]
    return text.format(stem=stem, lo=lo, hi=hi)


def pick(rng: np.random.Generator) -> tuple[int, int]:
    """Draw (instruction index, response index) from ``rng``: wordings are chosen by index, so
    a corpus built with one seed always gets the same wordings."""
    return int(rng.integers(len(INSTRUCTIONS))), int(rng.integers(10))
