"""The grounding guard: every number an answer states must trace to a measured number.

A number written in an answer is *grounded* when one of these holds:

- an evidence value ``v`` equals it at the precision it was written with:
  ``abs(|n| - |v|) <= 0.5 * 10**-d + 1e-9`` where ``d`` is the number of decimals written. "7 dB"
  therefore matches 7.3 and -7.3 (magnitudes are compared, because "7 dB under the mix" states
  a level of -7 dB as 7), "7.3" matches 7.34, and "7.35" does not match 7.3 (more precision
  than was measured is an invented number);
- it matches, by the same rule, a number in ``allowed`` (numbers the user wrote in the question,
  or numbers of a draft the composer already grounded);
- it is one of these harmless written forms of a measured number (each is tried besides the
  plain reading, the tolerance scaled with the unit):
    * a percentage of a measured fraction: "42%" / "42 percent" matches 0.42 (as well as 42);
    * kilohertz: "2.5 kHz" / "2.5k" matches 2500 Hz (tolerance 50 Hz, from the one decimal);
    * milliseconds: "30 ms" matches 0.03 s;
    * a time stamp: "1:23" matches 83 s, "1:23.5" matches 83.5 s, "1:02:03" matches 3723 s;
    * a range: "3 to 6 dB", "3-6 dB", "3–6 dB" are read as two numbers, and each end must be
      grounded (the dash of a range is not read as a minus sign).

Numbers that are not statements of a quantity are not read at all: digits inside standard
and format names ("BS.1770-4", "ITU-R BS.775", "EBU R 128", "R128", "Tech 3342", "IEC 61260",
"ISO 226", "MUSDB18-HQ", "mp3", "m4a", "stem:vocals", "24-bit", "1/3-octave", "5.1 surround"),
digits glued to a preceding letter ("x2", "B3"), ordinals ("1st", "3rd"), and Markdown list
markers at the start of a line ("1. ", "2) ").

Limits, stated plainly: numbers spelled as words ("three dB") are not read, and the check is
about numbers, not about what they are attached to: a measured 7 dB attributed to the wrong stem
passes. The more evidence values are passed, the likelier an invented integer lands within 0.5
of one of them by chance, so callers should pass the evidence the answer is about (findings,
claims, tool results), not every value of a long time series.
"""
from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..tools.grounding import numeric_fields

EPS = 1e-9

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


class GroundingResult(BaseModel):
    """What the guard found: ``ok`` when every number read is grounded."""

    ok: bool
    numbers: list[float]  # every number read, as written (time stamps in seconds), signs kept
    ungrounded: list[str]  # the ungrounded ones as written ("37", "2.5 kHz", "1:23", "42%")


@dataclass(frozen=True)
class SpokenNumber:
    """One number read from text, with the readings that may ground it."""

    written: str  # as it appears in the text, e.g. "-7.3", "2.5 kHz", "1:23"
    value: float  # the number as written (seconds for a time stamp), sign kept
    readings: tuple[tuple[float, float], ...]  # (magnitude, tolerance) pairs; any one may match


def _mask_ignored(text: str) -> str:
    return _IGNORED.sub(lambda m: " " * len(m.group(0)), text)


def _half_ulp(decimals: int) -> float:
    return 0.5 * 10.0 ** (-decimals)


def read_numbers(text: str) -> list[SpokenNumber]:
    """Every number stated in ``text``, with the readings the guard accepts for it."""
    out: list[SpokenNumber] = []
    masked = _mask_ignored(text)
    for m in _NUMBER.finditer(masked):
        written = text[m.start():m.end()].strip()
        neg = m.group("sign") in tuple(_MINUS)
        if m.group("t1") is not None:  # time stamp: m:ss, m:ss.f or h:mm:ss
            frac = m.group("tfrac") or ""
            parts = [int(m.group("t1")), int(m.group("t2"))]
            if m.group("t3") is not None:
                parts.append(int(m.group("t3")))
            secs = 0.0
            for p in parts:
                secs = secs * 60 + p
            secs += float("0" + frac) if frac else 0.0
            tol = _half_ulp(max(0, len(frac) - 1))
            value = -secs if neg else secs
            out.append(SpokenNumber(written, value, ((secs, tol),)))
            continue
        digits = m.group("int").replace(",", "")
        dec = m.group("dec") or ""
        mag = float(digits + dec)
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
        out.append(SpokenNumber(written, -mag if neg else mag, tuple(readings)))
    return out


def text_values(text: str) -> list[float]:
    """The numbers ``text`` states, in every reading the guard accepts (so a composer draft
    can be passed as ``allowed``): "2.5 kHz" gives 2.5 and 2500.0, "1:23" gives 83.0."""
    vals: list[float] = []
    for n in read_numbers(text):
        vals.append(n.value)
        vals.extend(r for r, _ in n.readings[1:])
        if n.readings[0][0] != abs(n.value):
            vals.append(n.readings[0][0])
    return list(dict.fromkeys(vals))


def _plain(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump()
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def evidence_values(*objs: Any) -> list[float]:
    """Every numeric value inside ``objs`` (dicts, lists, pydantic models, numbers; booleans
    and None skipped), deduplicated in first-seen order. A top-level string contributes the
    numbers it states (:func:`text_values`)."""
    vals: list[float] = []
    for obj in objs:
        if isinstance(obj, str):
            vals.extend(text_values(obj))
        else:
            vals.extend(numeric_fields(_plain(obj)))
    return list(dict.fromkeys(vals))


class _Index:
    """Sorted magnitudes, for "is any value within tol of x" in log time."""

    def __init__(self, values: Iterable[float]):
        self.mags = sorted({abs(float(v)) for v in values if v is not None})

    def has(self, x: float, tol: float) -> bool:
        i = bisect.bisect_left(self.mags, x - tol - EPS)
        return i < len(self.mags) and self.mags[i] <= x + tol + EPS


def check_grounding(text: str, evidence_values: Iterable[float], *,
                    allowed: Iterable[float] = ()) -> GroundingResult:
    """Check every number ``text`` states against ``evidence_values`` and ``allowed``
    (rules in the module docstring)."""
    index = _Index([*evidence_values, *allowed])
    numbers: list[float] = []
    ungrounded: list[str] = []
    for n in read_numbers(text):
        numbers.append(n.value)
        if not any(index.has(x, tol) for x, tol in n.readings):
            ungrounded.append(n.written)
    ungrounded = list(dict.fromkeys(ungrounded))
    return GroundingResult(ok=not ungrounded, numbers=numbers, ungrounded=ungrounded)
