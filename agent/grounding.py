"""Grounding: the numbers a text states, the numbers a conversation measured, and the one rule
that matches them (used by the guard node and by ``mixingbuddy eval agent``).

The rule is stated at :func:`check_grounding`, the readings of a written number at
:func:`read_numbers`. Limit: a number is matched by value, not by the quantity it is attached to.
"""
from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

__all__ = ["SERIES_MIN_LEN", "GroundingResult", "SpokenNumber", "check_grounding", "conversation_evidence",
           "read_numbers", "result_evidence", "scalar_values", "states", "text_values", "unit_of"]

EPS = 1e-9
# A plain list of this many numbers or more (short-term loudness per second, per-band arrays) is
# a series, not evidence: hundreds of points would let almost any invented integer match by chance.
SERIES_MIN_LEN = 13

# Spans whose digits are names, not quantities. Replaced by spaces before numbers are read.
_IGNORED = re.compile(
    r"""
      \bBS\.?\s?1770(?:-\d+)?          # ITU-R BS.1770-4
    | \bBS\.?\s?775(?:-\d+)?           # ITU-R BS.775 (downmix)
    | \bEBU\s*R\s?128(?:\s*s\d)?       # EBU R 128, EBU R128 s1
    | \bR\s?128\b
    | \bTech\.?\s*3\d{3}\b             # EBU Tech 3341 / 3342
    | \bIEC\s*\d{3,5}(?:-\d+)*         # IEC 61260-1
    | \bISO\s*\d{3,5}(?:-\d+)*         # ISO 226
    | \bAES\s?\d+(?:-\d+)*
    | \bMUSDB\s?18(?:-HQ)?
    | \b(?:mp[34]|m4a)\b
    | \bstem:\w+
    | \b\d{1,2}\s*-?\s*bit\b           # 16-bit, 24 bit
    | \b1/3\s*-?\s*octaves?\b          # 1/3-octave bands
    | \b[57]\.1(?:\.\d)?\s+(?:surround|channels?)\b
    | \b\d+(?:st|nd|rd|th)\b           # ordinals
    | ^[ \t]*(?:[-*+][ \t]+)?\d{1,3}[.)](?=[ \t])  # Markdown ordered-list marker
    """,
    re.IGNORECASE | re.VERBOSE | re.MULTILINE,
)

_MINUS = "-\u2212"  # ASCII hyphen-minus and the Unicode minus sign

_UNITS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
          "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
          "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_WORD_NUMBER = re.compile(
    r"\b(?P<neg>minus\s+|negative\s+)?(?P<tens>" + "|".join(_TENS) + r")?(?:[\s-]?(?P<unit>" + "|".join(_UNITS)
    + r"))?(?=\s+(?:db|decibels?|lu|lufs|dbtp|dbfs|percent|per\s?cent|hz|hertz|khz|kilohertz|ms|milliseconds?"
      r"|seconds?)\b)", re.IGNORECASE)

_NUMBER = re.compile(
    r"""
    (?<![\w.])                                     # not glued to a word or a decimal point
    (?P<sign>[+\-\u2212]?)
    (?:
        (?P<t1>\d{1,2}):(?P<t2>[0-5]\d)(?::(?P<t3>[0-5]\d))?(?P<tfrac>\.\d+)?(?![\d:])
      | (?P<int>\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?P<dec>\.\d+)?
    )
    (?P<unit>\s?(?:%|percent\b|khz\b|k\b|ms\b))?
    """,
    re.IGNORECASE | re.VERBOSE,
)


# --- numbers in text ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SpokenNumber:
    """One number read from text, with the readings that may ground it."""

    written: str  # as it appears in the text, e.g. "-7.3", "2.5 kHz", "1:23"
    value: float  # the number as written (seconds for a time stamp), sign kept
    decimals: int  # decimals written (a time stamp's fraction counts)
    readings: tuple[tuple[float, float], ...]  # (magnitude, tolerance) pairs; any one may match

    def states(self, value: float, *, min_decimals: int = 0, magnitude: bool = True) -> bool:
        """This number states ``value`` at the precision it is written with (and with at least
        ``min_decimals`` decimals); ``magnitude`` compares absolute values."""
        if self.decimals < min_decimals:
            return False
        a, b = (abs(self.value), abs(value)) if magnitude else (self.value, value)
        return abs(a - b) <= _half_ulp(self.decimals) + EPS


def _half_ulp(decimals: int) -> float:
    return 0.5 * 10.0 ** (-decimals)


def read_numbers(text: str) -> list[SpokenNumber]:
    """Every number stated in ``text``, with the readings the guard accepts for it.

    Parameters
    ----------
    text : str
        An answer, a question or a verdict.

    Returns
    -------
    list of SpokenNumber
        In reading order.

    Notes
    -----
    Besides the plain reading, a harmless written form of a measured number is tried, with the
    tolerance scaled to the unit: a percentage of a fraction ("42%" matches 0.42), kilohertz
    ("2.5 kHz" matches 2500 Hz), milliseconds ("30 ms" matches 0.03 s), a time stamp ("1:23"
    matches 83 s); a range ("3 to 6 dB", "3-6 dB") is two numbers, each read on its own.

    Digits that name things are not read (``_IGNORED``): standards and formats ("BS.1770-4",
    "EBU R 128", "IEC 61260", "mp3", "24-bit", "1/3-octave"), digits glued to a letter ("x2"),
    ordinals ("3rd") and Markdown list markers. Numbers spelled as words are read when a unit
    follows them ("three dB", "twenty-one percent").
    """
    out: list[SpokenNumber] = []
    masked = _IGNORED.sub(lambda m: " " * len(m.group(0)), text or "")
    for m in _NUMBER.finditer(masked):
        written = text[m.start():m.end()].strip()
        neg = m.group("sign") in tuple(_MINUS)
        if m.group("t1") is not None:  # time stamp: m:ss, m:ss.f or h:mm:ss
            frac = m.group("tfrac") or ""
            secs = 0.0
            for p in (m.group("t1"), m.group("t2"), m.group("t3")):
                if p is not None:
                    secs = secs * 60 + int(p)
            secs += float("0" + frac) if frac else 0.0
            d = max(0, len(frac) - 1)
            out.append(SpokenNumber(written, -secs if neg else secs, d, ((secs, _half_ulp(d)),)))
            continue
        dec = m.group("dec") or ""
        mag = float(m.group("int").replace(",", "") + dec)
        d = max(0, len(dec) - 1)
        tol = _half_ulp(d)
        readings = [(mag, tol)]
        unit = (m.group("unit") or "").strip().lower()
        if unit in ("%", "percent"):
            readings.append((mag / 100.0, tol / 100.0))
        elif unit in ("khz", "k"):
            readings.append((mag * 1000.0, tol * 1000.0))
        elif unit == "ms":
            readings.append((mag / 1000.0, tol / 1000.0))
        out.append(SpokenNumber(written, -mag if neg else mag, d, tuple(readings)))
    for m in _WORD_NUMBER.finditer(text or ""):
        if not (m.group("tens") or m.group("unit")):
            continue
        mag = float(_TENS.get((m.group("tens") or "").lower(), 0) + _UNITS.get((m.group("unit") or "").lower(), 0))
        out.append(SpokenNumber(m.group(0).strip(), -mag if m.group("neg") else mag, 0, ((mag, 0.5),)))
    return out


def text_values(text: str) -> list[float]:
    """The numbers ``text`` states, in every reading the guard accepts (so a composer draft or
    a question can be passed as ``allowed``): "2.5 kHz" gives 2.5 and 2500.0, "1:23" gives 83.0."""
    vals: list[float] = []
    for n in read_numbers(text):
        vals.append(n.value)
        vals.extend(r for r, _ in n.readings[1:])
        if n.readings[0][0] != abs(n.value):
            vals.append(n.readings[0][0])
    return list(dict.fromkeys(vals))


def states(text: str, value: float, *, min_decimals: int = 0, magnitude: bool = True) -> bool:
    """``text`` states ``value`` (see :meth:`SpokenNumber.states`)."""
    return any(n.states(value, min_decimals=min_decimals, magnitude=magnitude) for n in read_numbers(text))


# --- numbers measured ----------------------------------------------------------------------------

def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_series(obj: list | tuple) -> bool:
    return len(obj) >= SERIES_MIN_LEN and all(_is_number(x) or x is None for x in obj)


def scalar_values(obj: Any) -> list[float]:
    """Every finite number inside ``obj`` (dicts, lists, pydantic models; booleans skipped),
    without plain numeric series of :data:`SERIES_MIN_LEN` values or more."""
    if isinstance(obj, BaseModel):
        obj = obj.model_dump()
    if isinstance(obj, Mapping):
        return [v for x in obj.values() for v in scalar_values(x)]
    if isinstance(obj, (list, tuple)):
        return [] if _is_series(obj) else [v for x in obj for v in scalar_values(x)]
    if _is_number(obj) and math.isfinite(obj):
        return [float(obj)]
    return []


def conversation_evidence(state: Mapping[str, Any], new: Iterable[Mapping[str, Any]] = ()) -> list[float]:
    """The numbers a turn may cite: the conversation's evidence ledger (every number an answer
    was composed with, as shown), this turn's ``new`` evidence rows (tool results), and the
    stored report's scalars (deduplicated, first seen first). Plain numeric series of
    :data:`SERIES_MIN_LEN` or more values are left out."""
    vals = [float(e.value if isinstance(e, BaseModel) else e["value"])
            for e in [*(state.get("evidence") or []), *new]]
    vals += scalar_values(state.get("report") or {})
    return list(dict.fromkeys(vals))


_UNIT_SUFFIXES = (("_db_per_oct", "dB/oct"), ("_lufs", "LUFS"), ("_dbfs", "dBFS"), ("_dbtp", "dBTP"),
                  ("_lu", "LU"), ("_db", "dB"), ("_khz", "kHz"), ("_hz", "Hz"), ("_pct", "%"),
                  ("_ms", "ms"), ("_s", "s"), ("_ratio", "ratio"))
_ROW_KEYS = ("name", "role", "pair", "band", "region", "label")


def unit_of(field_name: str) -> str:
    """The unit a result field carries in its name (``integrated_lufs`` -> ``LUFS``)."""
    return next((unit for suffix, unit in _UNIT_SUFFIXES if field_name.endswith(suffix)), "")


def _decimals(v: float) -> int:
    s = repr(float(v))
    if "e" in s or "." not in s:
        return 0
    return min(len(s.split(".", 1)[1].rstrip("0")), 3)


def result_evidence(tool: str, obj: Any, path: str = "", unit_key: str = "") -> list[dict]:
    """Every number in a tool result as an evidence row (``agent.schema.Evidence`` fields);
    ``quantity`` is its path in the result (a row of a list is named by its ``name``, ``role``,
    ``band``... when it has one). Series are left out as in :func:`scalar_values`."""
    rows: list[dict] = []
    if isinstance(obj, BaseModel):
        obj = obj.model_dump()
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            rows += result_evidence(tool, v, f"{path}.{k}" if path else str(k), str(k))
    elif isinstance(obj, (list, tuple)):
        if _is_series(obj):
            return rows
        for i, v in enumerate(obj):
            label = str(i)
            if isinstance(v, Mapping):
                label = next((str(v[k]) for k in _ROW_KEYS if isinstance(v.get(k), (str, int))), label)
            rows += result_evidence(tool, v, f"{path}[{label}]", unit_key)
    elif _is_number(obj) and math.isfinite(obj):
        rows.append({"tool": tool, "quantity": path, "value": float(obj), "unit": unit_of(unit_key),
                     "decimals": _decimals(obj)})
    return rows


# --- the check ----------------------------------------------------------------------------------

class GroundingResult(BaseModel):
    """What the check found: ``ok`` when every number read is grounded."""

    ok: bool
    numbers: list[float]  # every number read, as written (time stamps in seconds), signs kept
    ungrounded: list[str]  # the ungrounded ones as written ("37", "2.5 kHz", "1:23", "42%")


class _Index:
    """Sorted magnitudes, for "is any value within tol of x" in log time."""

    def __init__(self, values: Iterable[float]):
        self.mags = sorted({abs(float(v)) for v in values if v is not None})

    def has(self, x: float, tol: float) -> bool:
        i = bisect.bisect_left(self.mags, x - tol - EPS)
        return i < len(self.mags) and self.mags[i] <= x + tol + EPS


def check_grounding(text: str, evidence_values: Iterable[float], *,
                    allowed: Iterable[float] = ()) -> GroundingResult:
    """Check every number ``text`` states against ``evidence_values`` and ``allowed``.

    Parameters
    ----------
    text : str
        The answer to check.
    evidence_values : iterable of float
        The measured numbers (:func:`conversation_evidence`, tool results).
    allowed : iterable of float
        Numbers the user wrote, or a grounded draft's (:func:`text_values`).

    Returns
    -------
    GroundingResult

    Notes
    -----
    A number written in an answer is *grounded* when one of these holds:

    - an evidence value ``v`` equals it at the precision it was written with:
      ``abs(|n| - |v|) <= 0.5 * 10**-d + 1e-9`` where ``d`` is the number of decimals written.
      "7 dB" therefore matches 7.3 and -7.3 (magnitudes are compared, because "7 dB under the
      mix" states a level of -7 dB as 7), "7.3" matches 7.34, and "7.35" does not match 7.3
      (more precision than was measured is an invented number);
    - it matches, by the same rule, a number in ``allowed`` (numbers the user wrote in the
      question, or numbers of a draft the composer already grounded);
    - one of its other readings (a percentage, kHz, ms, a time stamp; see
      :func:`read_numbers`) matches by the same rule.
    """
    index = _Index([*evidence_values, *allowed])
    numbers: list[float] = []
    ungrounded: list[str] = []
    for n in read_numbers(text):
        numbers.append(n.value)
        if not any(index.has(x, tol) for x, tol in n.readings):
            ungrounded.append(n.written)
    return GroundingResult(ok=not ungrounded, numbers=numbers, ungrounded=list(dict.fromkeys(ungrounded)))
