"""Grounding: the claims a text states (number, unit, subject, direction), the typed evidence a
conversation holds, and the one rule that matches them (the guard node, ``mixingbuddy eval agent``
and ``mixingbuddy eval redteam``).

The rule is stated at :func:`check_grounding`, a claim's reading at :func:`read_claims`, the
readings of a written number at :func:`read_numbers`.
"""
from __future__ import annotations

import bisect
import functools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel

__all__ = ["ANY_UNIT", "SERIES_MIN_LEN", "EvidenceItem", "GroundingResult", "QuantClaim", "SpokenNumber", "Subject",
           "check_grounding", "conversation_evidence", "quantity_subject", "read_claims", "read_numbers",
           "keywords", "method_evidence", "result_evidence", "said_evidence", "scalar_values", "stated", "states",
           "text_values", "unit_family", "unit_of"]

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
    | \b\d+-(?!(?:seconds?|secs?|minutes?|mins?|db|decibels?|hz|khz|lufs|lu|ms|dbtp|dbfs)\b)[a-z]{2,}\b
                                       # a count that names a thing: 8-bar, 4-stem, 2-band
    | \b(?:19|20)\d{2}\b(?![.,]\d|\s*(?:[-\u2013]|to\b|%|k\b|khz|hz|ms|s\b|sec|db|lu))  # a year
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
    + r"))?(?=[\s-]+(?:db|decibels?|lu|lufs|dbtp|dbfs|percent|per\s?cent|hz|hertz|khz|kilohertz|ms|milliseconds?"
      r"|seconds?|minutes?)\b)", re.IGNORECASE)

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
    start: int = 0  # where it is written in the text (characters)
    end: int = 0
    signed: bool = False  # written with an explicit sign ("+7.4", "-14")
    word: bool = False  # spelled as words ("six dB")

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
            out.append(SpokenNumber(written, -secs if neg else secs, d, ((secs, _half_ulp(d)),), m.start(),
                                    m.end(), bool(m.group("sign"))))
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
        out.append(SpokenNumber(written, -mag if neg else mag, d, tuple(readings), m.start(), m.end(),
                                bool(m.group("sign"))))
    for m in _WORD_NUMBER.finditer(text or ""):
        if not (m.group("tens") or m.group("unit")):
            continue
        mag = float(_TENS.get((m.group("tens") or "").lower(), 0) + _UNITS.get((m.group("unit") or "").lower(), 0))
        out.append(SpokenNumber(m.group(0).strip(), -mag if m.group("neg") else mag, 0, ((mag, 0.5),),
                                m.start(), m.end(), bool(m.group("neg")), True))
    return sorted(out, key=lambda n: n.start)


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


def _region_of_hz(hz: float) -> str:
    from ..tools.measure.bands import REGIONS_HZ

    return next((name for name, (lo, hi) in REGIONS_HZ.items() if lo <= hz < hi), "outside")


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
                if isinstance(v.get("masker"), str) and isinstance(v.get("target"), str):
                    label = f"{v['masker']}->{v['target']}"  # a masking pair names both stems
                elif _is_number(v.get("centre_hz")) and label == str(i):
                    label = f"{_region_of_hz(float(v['centre_hz']))}:{v['centre_hz']:g}"  # a band: its region
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
    reversed: list[str] = []  # grounded numbers said with the opposite direction ("above" for "below")


# --- typed evidence and claims -------------------------------------------------------------------

# A unit as written or recorded -> (family, scale to the family's base unit). dB and LU are one
# family: a loudness difference in LU is a level difference in dB (EBU R 128, 1 LU = 1 dB).
_FAMILIES: dict[str, tuple[str, float]] = {
    "db": ("dB", 1.0), "decibel": ("dB", 1.0), "decibels": ("dB", 1.0), "lu": ("dB", 1.0),
    "lufs": ("LUFS", 1.0), "lkfs": ("LUFS", 1.0), "dbtp": ("dBTP", 1.0), "dbfs": ("dBFS", 1.0),
    "db/oct": ("dB/oct", 1.0), "hz": ("Hz", 1.0), "hertz": ("Hz", 1.0), "khz": ("Hz", 1000.0),
    "kilohertz": ("Hz", 1000.0), "k": ("Hz", 1000.0), "%": ("%", 1.0), "percent": ("%", 1.0),
    "per cent": ("%", 1.0), "pct": ("%", 1.0), "s": ("s", 1.0), "sec": ("s", 1.0), "secs": ("s", 1.0),
    "second": ("s", 1.0), "seconds": ("s", 1.0), "ms": ("s", 0.001), "millisecond": ("s", 0.001),
    "milliseconds": ("s", 0.001), "min": ("s", 60.0), "mins": ("s", 60.0), "minute": ("s", 60.0),
    "minutes": ("s", 60.0), "": ("", 1.0), "ratio": ("", 1.0), "x": ("", 1.0),
}
ANY_UNIT = "*"  # an untyped evidence value (a bare float): matches any unit and any subject
_UNIT_AFTER = re.compile(
    r"\s?-?(?P<u>db/oct|dbtp|dbfs|db|decibels?|lufs|lkfs|lu|khz|kilohertz|hz|hertz|%|per\s?cent|percent"
    r"|ms|milliseconds?|seconds?|secs?|s|minutes?|mins?|k)(?![\w/])", re.IGNORECASE)
_RANGE_JOIN = re.compile(r"\s*(?:-|\u2013|\u2014|to|and)\s*$", re.IGNORECASE)

# where one statement ends: a sentence, a clause after ";" or ",", a new line, an arrow, "and"/"but"/"so"
_CLAUSE_END = re.compile(r"(?<!\d)[.!?:](?!\d)|[;,()\[\]\n]|->|\u2192|\b(?:and|but|so|while|whereas)\b",
                         re.IGNORECASE)

# words that state a direction. A state: the thing is too high or too low; an action: move it up or down.
_HIGH = re.compile(r"\b(?:too loud|too hot|too high|too bright|louder|hotter|brighter|above|over|exceed\w*|excess"
                   r"|more than|too much|turns? (?:it |them )?down)\b", re.IGNORECASE)
_LOW = re.compile(r"\b(?:too quiet|too soft|too low|too dark|quieter|softer|darker|below|under|short of|buried"
                  r"|less than|too little|turns? (?:it |them )?up)\b", re.IGNORECASE)
_UP = re.compile(r"\b(?:raise[sd]?|raising|boost\w*|lift\w*|increas\w*|add\w*|up)\b", re.IGNORECASE)
_DOWN = re.compile(r"\b(?:lower(?:s|ed|ing)?(?= the| it| them| by)|cut\w*|reduc\w*|attenuat\w*|tame|trim\w*|down)\b",
                   re.IGNORECASE)


# words that say nothing about which quantity a number is (function words, units, hedges)
_STOPWORDS = frozenset("""the and with from that this these those about around into than then your you its their they
them are is was were will would could should can has have had been being not but also only just more most less very
much what when where which while who how for per at to of in on by it so be as or an a if db dbs decibel decibels lu
lufs dbtp dbfs hz khz kilohertz hertz ms percent per cent s sec second seconds minus plus roughly approximately nearly
almost some any each every all there here do does did make makes up down level professional mixes mix mean range around
against region regions stem stems band usual spread outside inside within into""".split())


_NTH_PERCENTILE = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)[\s-]+percentile\b", re.IGNORECASE)


def keywords(text: str) -> frozenset[str]:
    """The words of ``text`` that say what a number is, cut to four letters so that a word's
    forms meet ("loudness"/"loud", "folded"/"fold-down"): ``"mono fold-down loses 0.7 dB"`` ->
    {"mono", "fold", "down", "lose"}."""
    text = _NTH_PERCENTILE.sub(r"p\1", (text or "").lower().replace("_", " "))  # "the 90th percentile": p90
    words = re.findall(r"[a-z][a-z0-9]+", text)
    return frozenset(w[:4] for w in words if w not in _STOPWORDS and w not in _UNITS and w not in _TENS
                     and w != "negative" and not w.isdigit()) - _subject_stems()


@functools.lru_cache(maxsize=1)
def _subject_stems() -> frozenset[str]:
    """Stem, region and platform names cut as :func:`keywords` cuts words: the subject is
    compared on its own (:class:`Subject`), not as a keyword."""
    from .findings import REGION_WORDS

    stems, regions, platforms = _keys()
    names = [*stems, *regions, *REGION_WORDS.values(), *(w for p in platforms for w in p.split("_")), "vocal",
             "instruments", "sub", "lows", "bass"]
    return frozenset(re.sub(r"[^a-z0-9]", "", n.lower())[:4] for n in names)


def unit_family(unit: str) -> tuple[str, float]:
    """``(family, scale)`` of a unit as written or recorded (``"kHz"`` -> ``("Hz", 1000.0)``); an
    unknown unit is its own family."""
    key = " ".join((unit or "").lower().split())
    return _FAMILIES.get(key, (unit, 1.0))


@dataclass(frozen=True)
class Subject:
    """What a number is about: stems, spectral regions, streaming platforms (empty: not said)."""

    stems: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    platforms: frozenset[str] = frozenset()

    def empty(self) -> bool:
        return not (self.stems or self.regions or self.platforms)

    def admits(self, claim: Subject, strict: bool = False) -> bool:
        """A claim about ``claim`` may be grounded by evidence about this subject.

        Stems: the claim and the evidence name the same stem, or neither names one (a pair holds
        both of its stems). Platforms: a platform the claim names must be the evidence's, unless
        the evidence is about the whole mix. Regions: a region the claim names must be the
        evidence's when the evidence is about a region; when ``strict``, a region the evidence is
        about must be named by the claim too."""
        if (claim.stems or self.stems) and not claim.stems & self.stems:
            return False
        if claim.platforms and not claim.platforms & self.platforms and not self.empty():
            return False
        if strict:
            return not ((claim.regions or self.regions) and not claim.regions & self.regions)
        return not (claim.regions and self.regions and not claim.regions & self.regions)


@dataclass(frozen=True)
class EvidenceItem:
    """One measured (or allowed) number, typed: value in its family's base unit, what it is about."""

    value: float  # in the family's base unit (Hz, s, dB ...), sign kept
    unit: str  # family: "dB" (dB and LU), "LUFS", "dBTP", "dBFS", "Hz", "%", "s", "" (none) or ANY_UNIT
    subject: Subject = Subject()
    quantity: str = ""
    direction: frozenset[str] = frozenset()  # "high"/"low"/"up"/"down" words its statement used
    context: tuple[int, ...] = ()  # how many "high", "low", "up", "down" words its sentence used
    words: frozenset[str] = frozenset()  # what it is: keywords() of its quantity, or of the clause it was said in
    # the claim must name what this item is about (Subject.admits(strict=True)): an item of the
    # report or of a tool result, an item said in a draft or a question (where it was said with
    # its subject), or in the guard any item of the ledger (a rewrite's numbers are the draft's)
    strict: bool = False
    # a number the user wrote: it may be repeated of whatever it was asked about (its own stem,
    # region or platform when the question names one), with its unit
    loose: bool = False
    # a field of the report or of a tool result that no answer has said: there are hundreds, so a
    # claim cites one only written with its decimals and naming what it is (keywords, its platform)
    unsaid: bool = False
    # the words that say what it is without those that say which way (``words`` less "quieter",
    # "cut", "above" ...): a direction word alone does not make two quantities one
    what: frozenset[str] = frozenset()
    # 1: the low end (start) of a range, 2: its high end (end); 0: a value on its own
    range_end: int = 0
    # the statistic of a distribution it is ("p10", "p90", "sd", "mean", ...): a claim states it
    # only naming that statistic (a range's p90 is not the track's level)
    stats: frozenset[str] = frozenset()


@dataclass(frozen=True)
class QuantClaim:
    """One quantitative statement of a text: a number, its unit, what it is about, its direction."""

    number: SpokenNumber
    unit: str  # family ("" when none is written)
    scale: float  # written unit -> family base unit
    subject: Subject
    direction: frozenset[str]  # "high"/"low" (states), "up"/"down" (actions) said in its clause
    context: tuple[int, ...] = ()  # how many "high", "low", "up", "down" words its sentence has
    words: frozenset[str] = frozenset()  # what its clause says it is (keywords(), e.g. {"fold", "mono"})
    own_words: bool = True  # the words are its clause's (not the clause before, its own having none)
    # ``words`` without its direction words ("quieter", "cut" ...); where its clause has only those,
    # the clause before's when that states no number ("the suggested balance move (raising the
    # vocals by 6.2 dB)")
    what: frozenset[str] = frozenset()
    range_end: int = 0  # 1: the first number of a range ("250-500 Hz", "3 to 6 dB"), 2: its second; 0: none
    stats: frozenset[str] = frozenset()  # the statistics its clause names ("p10", "p90", "sd", "mean", "median")

    @property
    def written(self) -> str:
        return self.number.written


def _lexicon():
    """The stem, platform and region words of the question router (one definition each)."""
    from . import intents

    return intents._STEM_RE, intents._NOT_A_STEM, intents._PLATFORM_RE, intents._REGION_RE


def _keys() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    from ..tools.io.audio import ALL_STEMS
    from ..tools.measure.bands import REGIONS_HZ
    from ..tools.measure.loudness import PLATFORM_TARGETS

    return ALL_STEMS, tuple(REGIONS_HZ), tuple(PLATFORM_TARGETS)


_PAIR = re.compile(r"([a-z]+)->([a-z]+)")
_QUANTITY_REGION = re.compile(r"\b(?:regions?|bands?)[.\[](\w+)")


def quantity_subject(quantity: str) -> Subject:
    """The subject a recorded quantity names: ``other->vocals.masked_pct`` -> stems other and
    vocals; ``regions.air.deviation_db`` -> region air; ``platforms[spotify].delta_lu`` -> spotify."""
    stems_all, regions_all, platforms_all = _keys()
    q = (quantity or "").lower()
    words = set(re.findall(r"[a-z]+(?:_[a-z]+)*", q))
    regions = {r for r in _QUANTITY_REGION.findall(q) if r in regions_all}
    stems = {w for w in words if w in stems_all}
    pair = _PAIR.search(q)
    if pair and pair.group(1) in stems_all and pair.group(2) in stems_all:
        # a masking pair's remedy: the cut is on the masker, the boost on the target
        if "remedy_cut" in q:
            stems = {pair.group(1)}
        elif "remedy_boost" in q:
            stems = {pair.group(2)}
    return Subject(frozenset(stems), frozenset(regions), frozenset(w for w in words if w in platforms_all))


_REFERENCE_STEM = re.compile(r"\b(?:against|relative to|compared (?:with|to)|vs\.?) the (?:vocals|drums|bass|other)\b")
_BASS_REGION = re.compile(r"(?<=sub-bass and )bass\b|(?<=sub bass and )bass\b")  # "sub-bass and bass": regions
_WHOLE_MIX = re.compile(r"(?<!rest of )(?<!the )\b(?:the|your|this|whole) (?:mix|master|song|track)\b")
_SENTENCE_END = re.compile(r"(?<!\d)[.!?](?!\d)|\n")
_TITLE = re.compile(r"^[ \t]*(?:[-*+][ \t]+)?(?:\[[^\]\n]*\][ \t]*)?\*\*[^*\n]+\*\*", re.MULTILINE)


@functools.lru_cache(maxsize=1)
def _region_words() -> re.Pattern:
    """The words the answers name the spectral regions with (``findings.REGION_WORDS``), and
    "low end" for the lows."""
    from .findings import REGION_WORDS

    words = sorted(((re.escape(w), k) for k, w in REGION_WORDS.items()), key=lambda x: -len(x[0]))
    words = [(w + r"|low[ -]end" if k == "low" else w, k) for w, k in words]
    return re.compile(r"\b(?:" + "|".join(f"(?P<{k}>{w})" for w, k in words) + r")\b")


def _spans(text: str, rx: re.Pattern) -> list[tuple[int, int]]:
    cuts = [0] + [m.end() for m in rx.finditer(text)] + [len(text)]
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]


def _mentions(text: str) -> list[tuple[int, str, str]]:
    """``(position, dimension, key)`` of every stem, platform and region word in ``text``."""
    stem_re, not_a_stem, platform_re, region_re = _lexicon()
    from .intents import _REGION_DESCRIBED_RE

    low = text.lower()
    # a region is named by where it is ("the presence", "the sub-lows"), not by how it sounds ("dull")
    named = _REGION_DESCRIBED_RE.sub(lambda m: " " * len(m.group(0)), low)
    spans = [(m.start(), m.end(), m.lastgroup) for m in region_re.finditer(named)]
    spans += [(m.start(), m.end(), m.lastgroup) for m in _region_words().finditer(low)]
    spans.sort(key=lambda x: (x[0], -x[1]))
    out: list[tuple[int, str, str]] = []
    reach = -1
    for a, b, name in spans:  # a region word inside a longer one ("lows" in "sub-lows") is not another
        if a >= reach:
            out.append((a, "regions", name))
        reach = max(reach, b)
    masked = _BASS_REGION.sub(lambda m: " " * len(m.group(0)), low)
    masked = not_a_stem.sub(lambda m: " " * len(m.group(0)), masked)
    # the stem a comparison is made against is not what the number is about
    masked = _REFERENCE_STEM.sub(lambda m: " " * len(m.group(0)), masked)
    out += [(m.start(), "stems", m.lastgroup) for m in stem_re.finditer(masked)]
    out += [(m.start(), "stems", "") for m in _WHOLE_MIX.finditer(low)]  # "the mix": about no stem
    out += [(m.start(), "platforms", m.lastgroup) for m in platform_re.finditer(low)]
    return sorted(out)


def _clauses(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each clause of ``text``."""
    cuts = [0] + [m.end() for m in _CLAUSE_END.finditer(text)] + [len(text)]
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]


_DIRECTION_WORDS = (("high", _HIGH), ("low", _LOW), ("up", _UP), ("down", _DOWN))


def _directions(clause: str) -> frozenset[str]:
    return frozenset(name for name, rx in _DIRECTION_WORDS if rx.search(clause))


def _direction_counts(sentence: str) -> tuple[int, ...]:
    return tuple(len(rx.findall(sentence)) for _, rx in _DIRECTION_WORDS)


def _what(text: str) -> frozenset[str]:
    """:func:`keywords` of ``text`` without its direction words: what a number is, not which way
    it goes ("2.0 LU quieter" says only which way; "1.0 dB quieter than tracks mastered to the
    target" says what)."""
    text = (text or "").replace("_", " ")
    for _, rx in _DIRECTION_WORDS:
        text = rx.sub(" ", text)
    return keywords(text)


# the statistics of a distribution a text or a quantity names: percentiles, spread, centre
_STAT = re.compile(r"\b(?:(p\d{1,2})|(sd|std|standard deviation)|(mean|average)|(median))\b"
                   r"|\b(\d{1,2})(?:st|nd|rd|th)[\s-]+percentile\b", re.IGNORECASE)


def _stats(text: str) -> frozenset[str]:
    """The statistics ``text`` names ("p10", "p90", "sd", "mean", "median"; "the 90th percentile"
    is "p90", an average a mean, the median also "p50")."""
    out: set[str] = set()
    for m in _STAT.finditer((text or "").replace("_", " ")):
        p, sd, avg, med, nth = m.groups()
        if p or nth:
            out.add(p.lower() if p else f"p{int(nth)}")
        elif sd:
            out.add("sd")
        elif avg:
            out.add("mean")
        elif med:
            out.add("median")
    if out & {"median", "p50"}:
        out |= {"median", "p50"}
    return frozenset(out)


def _quantity_stats(quantity: str) -> frozenset[str]:
    """The statistic a recorded quantity is (``vocals.reference.p90_db`` -> p90,
    ``...reference.mean_db`` -> mean), read from its path: a description in brackets says how it
    was found ("(to the p25-p75 range .. to the median)"), not what it is."""
    return _stats(re.sub(r"\([^)]*\)", " ", quantity or ""))


def _quantity_range_end(quantity: str) -> int:
    """Which end of a range a recorded quantity is: the ledger names a range's ends "... low" /
    "... high" ("low edge" / "high edge" for a band), a stretch of time its "start" and "end"."""
    q = (quantity or "").lower().replace("_", " ").rstrip()
    if re.search(r"(?:^|\s)low(?: edge)?$|\bstart(?: s)?$", q):
        return 1
    if re.search(r"(?:^|\s)high(?: edge)?$|\bend(?: s)?$", q):
        return 2
    return 0


# what joins the two ends of a range ("250-500 Hz", "0 s-8 s", "3 to 6 dB", "between 3 and 6 dB")
_RANGE_GAP = re.compile(r"^\s?(?:[a-z%]{1,5}\s?)?(?:-|\u2013|\u2014|to\b)\s*$", re.IGNORECASE)
_RANGE_AND = re.compile(r"^\s?(?:[a-z%]{1,5}\s?)?and\s*$", re.IGNORECASE)
_BETWEEN = re.compile(r"\bbetween\s+$", re.IGNORECASE)


def _is_range(text: str, n: SpokenNumber, m: SpokenNumber) -> bool:
    """``n`` and ``m`` (the number after it) are the two ends of one range."""
    gap = text[n.end:m.start]
    if n.end > m.start or "\n" in gap:
        return False
    return bool(_RANGE_GAP.match(gap) or (_RANGE_AND.match(gap) and _BETWEEN.search(text[:n.start])))


def _shifted(said: tuple[int, ...], before: Iterable[tuple[int, ...]]) -> bool:
    """A sentence with the direction words ``said`` turns round every earlier sentence ``before``
    it is matched with: each has more of one direction and fewer of its opposite ("above" where
    the draft said "below")."""
    before = [b for b in before if b]
    if not said or not before:
        return False
    def turned(b: tuple[int, ...]) -> bool:
        return any((said[i] > b[i] and said[j] < b[j]) or (said[i] < b[i] and said[j] > b[j]) for i, j in ((0, 1), (2, 3)))
    return all(turned(b) for b in before)


def _unit_after(text: str, n: SpokenNumber) -> str | None:
    m = _UNIT_AFTER.match(text, n.end)
    if m:
        return m.group("u")
    head = n.written.lower()
    for u in ("%", "percent", "khz", "ms"):
        if head.endswith(u):
            return u
    if head.endswith("k"):
        return "k"
    return None


def read_claims(text: str) -> list[QuantClaim]:
    """Every quantitative statement of ``text``, typed (see :func:`check_grounding`).

    Parameters
    ----------
    text : str
        An answer, a question or a draft.

    Returns
    -------
    list of QuantClaim
        In reading order, one per number :func:`read_numbers` reads.

    Notes
    -----
    - **Unit**: the unit written right after the number ("dB", "decibels", "LUFS", "LU", "dBTP",
      "Hz", "kHz", "%", "s", "ms", "3-minute"); the first number of a range ("4-6 dB", "3 to 6 dB",
      "between 3 and 6 dB") takes the unit of the second; a time stamp ("1:23") is in seconds.
    - **Subject**: the clause of the number (cut at sentence ends, ";", ",", new lines, "->",
      "and"/"but"/"so") is searched for stem, platform and region words (the question router's
      lexicon, :mod:`.intents`); of each kind, the nearest one before the number is taken, else the
      nearest after it and before the next number.
    - **Direction**: the state ("too loud", "above", "quieter", ...) and action ("raise", "cut", ...)
      words of the clause.
    - **What it is**: the keywords of the clause (of the clause before when its own has none,
      ") 12.7 dB"); ``what``, the same without direction words (of the clause before when its own
      has only direction words and that one states no number, "move (raising the vocals by 6.2
      dB)"); ``stats``, the statistics it
      names ("p10", "p90", "the 90th percentile", "sd", "mean", "median").
    - **Range end**: 1 for the first number of a range ("250-500 Hz", "0 s-8 s", "3 to 6 dB",
      "between 3 and 6 dB"), 2 for its second, 0 for a number on its own.
    """
    text = text or ""
    nums = read_numbers(text)
    clauses = _clauses(text)
    mentions = _mentions(text)
    units: list[str | None] = [_unit_after(text, n) for n in nums]
    if any(n.written.count(":") for n in nums):
        units = [("s" if ":" in n.written else u) for n, u in zip(nums, units)]
    for i in range(len(nums) - 2, -1, -1):  # a range's first number takes the second's unit
        if units[i] is None and units[i + 1] is not None and _RANGE_JOIN.search(text[nums[i].end:nums[i + 1].start]):
            units[i] = units[i + 1]
    sentences = _spans(text, _SENTENCE_END)
    titles = [(m.start(), m.end()) for m in _TITLE.finditer(text)]
    ends = [0] * len(nums)  # which end of a range each number is ("by 2 dB to -14 LUFS" is not a range)
    for i in range(len(nums) - 1):
        if (not ends[i] and _is_range(text, nums[i], nums[i + 1])
                and unit_family(units[i] or "")[0] == unit_family(units[i + 1] or "")[0]):
            ends[i], ends[i + 1] = 1, 2
    out: list[QuantClaim] = []
    for i, n in enumerate(nums):
        a, b = next(((a, b) for a, b in clauses if a <= n.start < b), (0, len(text)))
        sa, sb = next(((x, y) for x, y in sentences if x <= n.start < y), (0, len(text)))
        ta, tb = next(((x, y) for x, y in titles if x <= n.start and text.rfind("\n", 0, n.start) < x), (0, 0))
        sa = max(sa, tb) if tb <= n.start else sa  # the title is not the sentence
        later = [m for m in nums[i + 1:] if m.start >= n.end]
        if later and _RANGE_JOIN.search(text[n.end:later[0].start]):
            later = later[1:]  # a range's first number: what follows its second is said of both
        nxt = later[0].start if later else b
        # where a subject is looked for, nearest first: the clause before the number, the clause
        # after it, the sentence before the clause, for a region the sentence after the clause
        # ("cut 2 dB across 10-20 kHz (the air)"), the list item's title
        levels = [(a, n.start, -1), (n.end, min(b, nxt), 0), (sa, a, -1), (b, sb, 0), (ta, tb, 0)]
        found: dict[str, set[str]] = {"stems": set(), "regions": set(), "platforms": set()}
        level: dict[str, int] = {}
        for dim in found:
            keys = [(pos, k) for pos, d, k in mentions if d == dim]
            for li, (x, y, end) in enumerate(levels if dim == "regions" else levels[:3] + levels[4:]):
                hits = [k for pos, k in keys if x <= pos < y and (k or li < 2)]  # "the mix": in its clause only
                if hits:
                    if hits[end]:
                        found[dim].add(hits[end])
                    level[dim] = li
                    break
        # a number is about a stem or about a spectral region: the nearer one says which
        if found["stems"] and found["regions"] and "stems" in level and "regions" in level:
            found["stems" if level["regions"] <= level["stems"] else "regions"] = set()
        fam, scale = unit_family(units[i] or "")
        said = text[a:n.start] + " " + text[n.end:b]
        words, what = keywords(said), _what(said)
        own = bool(words)
        pa = next((x for x, y in clauses if y == a and x >= sa), None)
        if not words and pa is not None:  # ") 12.7 dB": the clause before says what it is
            said = text[pa:a]
            words, what = keywords(said), _what(said)
        elif not what and pa is not None and not any(pa <= m.start < a for m in nums):
            what = _what(text[pa:a])  # "move (raising the vocals by 6.2 dB)": which way; the clause before: what
        out.append(QuantClaim(n, fam, scale, Subject(frozenset(found["stems"]), frozenset(found["regions"]),
                                                    frozenset(found["platforms"])),
                              _directions(text[a:b]), _direction_counts(text[sa:sb]), words, own,
                              what, ends[i], _stats(text[a:b] + " " + said)))
    return out


def _as_item(e: Any, strict: bool = False) -> EvidenceItem | None:
    """An evidence row (``Evidence``, its dict, an ``EvidenceItem``) or a bare float as an item."""
    if isinstance(e, EvidenceItem):
        return e
    if _is_number(e):
        return EvidenceItem(float(e), ANY_UNIT) if math.isfinite(e) else None
    row = e.model_dump() if isinstance(e, BaseModel) else dict(e)
    value = row.get("value")
    if not _is_number(value) or not math.isfinite(value):
        return None
    quantity = str(row.get("quantity") or "")
    unit = str(row.get("unit") or "") or unit_of(re.split(r"[\s(]", quantity.strip(), maxsplit=1)[0])
    if not unit and row.get("tool") == "given":  # a bare value passed in: untyped
        return EvidenceItem(float(value), ANY_UNIT, quantity=quantity)
    fam, scale = unit_family(unit)
    return EvidenceItem(float(value) * scale, fam, quantity_subject(quantity), quantity, strict=strict,
                        words=keywords(quantity), what=_what(quantity), range_end=_quantity_range_end(quantity),
                        stats=_quantity_stats(quantity))


def said_evidence(text: str, source: str = "said", *, question: bool = False) -> list[EvidenceItem]:
    """The typed claims of ``text`` (the composer's draft, a note; with ``question`` a user's
    question) as evidence items: each one's value, unit, subject, direction and keywords, so
    that a rewrite may repeat it only as it was said (a question's number, of what it asked
    about)."""
    return [EvidenceItem(abs(c.number.value) * c.scale * (-1.0 if c.number.value < 0 else 1.0), c.unit, c.subject,
                         f"{source}: {c.written}", c.direction, c.context, strict=not question, words=c.words,
                         loose=question, what=c.what, range_end=c.range_end,
                         stats=c.stats - {"mean"})  # "against the mean" is a deviation, not a mean
            for c in read_claims(text)]


def _turned(said: frozenset[str], before: Iterable[frozenset[str]]) -> bool:
    """``said`` states the opposite direction of everything said ``before`` in that sense: of
    the earlier statements that say high or low, all say the other one (likewise up or down)."""
    for x, y in (("high", "low"), ("up", "down")):
        if (x in said) == (y in said):
            continue
        own, other = (x, y) if x in said else (y, x)
        relevant = [d for d in before if x in d or y in d]
        if relevant and all(other in d and own not in d for d in relevant):
            return True
    return False


_ABSOLUTE_UNITS = ("LUFS", "dBTP", "dBFS")


class _TypedIndex:
    """Evidence items by unit family, sorted by magnitude."""

    def __init__(self, items: Iterable[EvidenceItem]):
        self.by_unit: dict[str, tuple[list[float], list[EvidenceItem]]] = {}
        groups: dict[str, list[EvidenceItem]] = {}
        for it in items:
            groups.setdefault(it.unit, []).append(it)
        for unit, its in groups.items():
            its.sort(key=lambda i: abs(i.value))
            self.by_unit[unit] = ([abs(i.value) for i in its], its)

    def near(self, unit: str, mag: float, tol: float) -> list[EvidenceItem]:
        """Items whose magnitude rounds to ``mag`` at half-width ``tol`` (half up: "2" states
        1.5 to 2.49, "1" does not state 1.5)."""
        mags, its = self.by_unit.get(unit, ([], []))
        lo = bisect.bisect_left(mags, mag - tol - EPS)
        hi = bisect.bisect_left(mags, mag + tol - EPS)
        return its[lo:hi]


def _best_named(c: QuantClaim, index: _TypedIndex) -> int:
    """How many of the words that say what ``c`` is (its ``what``) the said item of its unit and
    subject that names it best shares, whatever that item's value (0 when fewer than two)."""
    best = max((len(o.what & c.what) for o in index.by_unit.get(c.unit, ([], []))[1]
                if o.strict and not o.unsaid and not o.loose and o.subject.admits(c.subject, True)), default=0)
    return best if best >= 2 else 0


def _candidates(c: QuantClaim, index: _TypedIndex) -> list[EvidenceItem]:
    """Evidence items ``c`` may state: its unit family (a percentage also a fraction, a number
    without a unit only a quantity without one), its subject, its value at its precision, its
    sign where the unit is absolute (LUFS, dBTP, dBFS) or a level written with a sign."""
    n = c.number
    found: list[EvidenceItem] = []
    tries = [(c.unit, abs(n.value) * c.scale, _half_ulp(n.decimals) * c.scale)]
    if c.unit == "%":
        tries.append(("", abs(n.value) / 100.0, _half_ulp(n.decimals) / 100.0))
    if c.unit == "":  # a bare number: also any reading read_numbers allows (a time stamp is in seconds)
        tries += [("", m, t) for m, t in n.readings[1:]]
    for unit, mag, tol in tries:
        for it in index.near(unit, mag, tol):
            if it.loose:
                if any(mine and not mine & theirs for mine, theirs in zip(
                        (it.subject.stems, it.subject.regions, it.subject.platforms),
                        (c.subject.stems, c.subject.regions, c.subject.platforms))):
                    continue
            elif not it.subject.admits(c.subject, it.strict):
                continue
            if it.strict and c.words:
                if not it.words & c.words and (it.words or c.own_words):
                    continue  # said of another quantity ("3.2 dB" of a band's cut is not a fold-down loss)
            if not it.loose and c.range_end and it.range_end and c.range_end != it.range_end:
                continue  # a range's high end is not its low end ("250-250 Hz" for "250-500 Hz")
            if not it.loose and it.stats and not it.stats & c.stats:
                continue  # a statistic of the professional range ("p90 at -0.5 dB") is not the track's level
            if it.unsaid and (n.word or n.decimals == 0 or not c.words or not c.own_words or (
                    it.subject.platforms and not it.subject.platforms & c.subject.platforms)):
                continue  # a measurement no answer has said: cited as measured, with what it is (its platform)
            if n.signed and it.value != 0 and (n.value < 0) != (it.value < 0) and (
                    c.unit in _ABSOLUTE_UNITS or not c.direction) and not it.quantity.endswith("(absolute)"):
                continue
            found.append(it)
    # a number is the value of the quantity its clause names best: where a said item of its unit and
    # subject shares more of what the claim says it is (two words at least) than any strict item
    # with its value, those items do not ground it ("it will play 2.0 dB quieter than tracks mastered
    # to the target" is the draft's 1.0 dB shortfall, not its "2.0 LU quieter", which shares only a
    # direction word; "towards -20 LUFS integrated" is the draft's target "towards -14 LUFS
    # integrated", not the measured integrated loudness)
    strict = [it for it in found if it.strict and not it.loose]
    if strict and c.what and c.words:
        best = _best_named(c, index)
        if best and max(len(it.what & c.what) for it in strict) < best:
            found = [it for it in found if it not in strict]
    for m, tol in n.readings:
        found += index.near(ANY_UNIT, m, tol)
    return found


def _read_together(claims: list[QuantClaim], found: list[list[EvidenceItem]]) -> list[list[EvidenceItem]]:
    """``found`` (each claim's candidates) with a range read as one statement: when one end of a
    range states the end of a recorded or said range, the other end must state that range's
    other end too ("3 s-8 s" for the stretch "0 s-8 s" is not grounded by a three-second window
    said elsewhere)."""
    out = list(found)
    for i in range(len(claims) - 1):
        pair = (i, i + 1)
        if (claims[i].range_end, claims[i + 1].range_end) != (1, 2):
            continue
        as_end = [any(it.range_end == claims[k].range_end for it in found[k]) for k in pair]
        if as_end[0] != as_end[1]:
            out[pair[as_end.index(False)]] = []
    return out


def stated(text: str, items: Iterable[EvidenceItem]) -> list[QuantClaim]:
    """The claims of ``text`` that state one of ``items`` (unit, subject and value as
    :func:`check_grounding` matches them)."""
    index = _TypedIndex(items)
    return [c for c in read_claims(text) if _candidates(c, index)]


def check_grounding(text: str, evidence: Iterable[Any], *, allowed: Iterable[Any] = ()) -> GroundingResult:
    """Check every quantitative statement of ``text`` against typed ``evidence`` and ``allowed``.

    Parameters
    ----------
    text : str
        The answer to check.
    evidence : iterable
        What was measured: :func:`conversation_evidence` items, ``Evidence`` rows or their dicts
        (typed by their unit and quantity), or bare floats (untyped: any unit, any subject).
    allowed : iterable
        What was said before and may be repeated as said: :func:`said_evidence` of the user's
        question and of the composer's draft (bare floats are accepted, untyped).

    Returns
    -------
    GroundingResult

    Notes
    -----
    Each number :func:`read_claims` reads is a claim with a unit, a subject (stems, regions,
    platforms, from its clause, sentence or list item), a direction and keywords. It is
    *grounded* when an evidence or allowed item

    - has the same unit family (dB and LU are one; kHz is read in Hz, ms in s; "42%" may also
      state the fraction 0.42; a number written without a unit only a unitless quantity such as a
      correlation);
    - is about a compatible subject (:meth:`Subject.admits`): "the vocals at 5 dB" needs a vocals
      figure (a masking pair holds both stems, its cut the masker's, its boost the target's); a
      stem's figure needs its stem named; items marked ``strict`` (a draft's or a note's claims,
      the report, and in the guard the ledger) also need their region named;
    - has the value at the precision written, rounded half up: ``|n| - h <= |v| < |n| + h`` with
      ``h = 0.5 * 10**-d`` for ``d`` decimals written ("7 dB" states 7.3 and -7.3 because "7 dB
      under the mix" states -7.3 as 7; "7.35" does not state 7.3; "2" states 1.5, "1" does not);
      a number written with a sign must have the evidence's sign when its unit is absolute (LUFS,
      dBTP, dBFS) or its clause has no direction word;
    - for a ``strict`` item, shares a keyword with the claim's clause when the clause has any
      (:func:`keywords`: "3.2 dB" said of a band's cut does not ground "the fold-down loses 3 dB"),
      and names the claim as well as any said item of its unit and subject does: where another
      shares more of the words that say what the claim is (direction words aside, two at least),
      the number is that quantity's ("2.0 LU quieter", sharing only "quieter", does not ground
      "it will play 2.0 dB quieter than tracks mastered to the target" where the draft says that
      is 1.0 dB; the measured -20.0 LUFS does not ground "towards -20 LUFS integrated" where the
      draft's target is "towards -14 LUFS integrated");
    - is, for a statistic of a distribution (a ``p90`` of the professional range, a ``mean``, an
      ``sd``), named as that statistic: "bass at -0.5 dB" is not the range's "p90 at -0.5 dB";
    - for an end of a range (a ledger quantity "... low" / "... high", "... start" / "... end", or
      a range said in the draft), is a claim at that end or on its own: "250-250 Hz" does not
      state "250-500 Hz"; and the two ends of a range are read together: when one states a
      range's end, the other must too ("3 s-8 s" for the stretch "0 s-8 s" is not grounded by a
      three-second window);
    - for a field of the report no answer has said (``unsaid``), the claim is written with its
      decimals and says what it is in its own clause, and names the field's platform ("-14.0 LUFS"
      of the integrated loudness is not Spotify's target): hundreds of fields would otherwise
      ground any whole number.

    A grounded claim is *reversed* when the items said before with that value, unit and subject
    (the draft's, the question's) all state the opposite direction in its clause ("5.5 dB above
    the range" where the draft said "below") or, in its sentence, the direction words shifted
    from one side to the other.

    Numbers that are not quantities are not read (:func:`read_numbers`): standards and formats,
    ordinals, list markers, counts naming a thing ("8-bar", "4-stem"), years. A duration such as
    "3-minute" is a claim in seconds like "1:23". The constants of the composer's method texts
    (:func:`method_evidence`) are allowed as written there.
    """
    items = [i for i in (_as_item(e) for e in evidence) if i is not None]
    items += [i for i in (_as_item(e) for e in allowed) if i is not None]
    index = _TypedIndex(items)
    numbers: list[float] = []
    ungrounded: list[str] = []
    reversed_: list[str] = []
    claims = read_claims(text)
    for c, found in zip(claims, _read_together(claims, [_candidates(c, index) for c in claims])):
        numbers.append(c.number.value)
        if not found:
            ungrounded.append(c.written)
            continue
        said = [i for i in found if i.direction or any(i.context)]
        if said and (_turned(c.direction, [i.direction for i in said])
                     or _shifted(c.context, [i.context for i in said])):
            reversed_.append(c.written)
    return GroundingResult(ok=not ungrounded and not reversed_, numbers=numbers,
                           ungrounded=list(dict.fromkeys(ungrounded)), reversed=list(dict.fromkeys(reversed_)))


def conversation_evidence(state: Mapping[str, Any], new: Iterable[Any] = (), *,
                          ledger_strict: bool = False) -> list[EvidenceItem]:
    """Everything a turn may cite, typed (:class:`EvidenceItem`): the conversation's evidence
    ledger (every number an answer was composed with, with its quantity and unit), this turn's
    ``new`` rows (tool results), and every scalar of the stored report, of the findings' evidence
    and of this turn's what-if results (named by their path, typed by their field's unit). Plain
    numeric series of :data:`SERIES_MIN_LEN` or more values are left out."""
    said: list[Any] = list(state.get("evidence") or [])
    for f in state.get("findings") or []:
        said += list(f.evidence if isinstance(f, BaseModel) else f.get("evidence") or [])
    report = state.get("report") or {}
    if isinstance(report, BaseModel):
        report = report.model_dump()
    measured = [*new, *result_evidence("report", {k: v for k, v in report.items() if k != "timings_s"}),
                *result_evidence("tool_results", state.get("tool_results") or {})]
    items = [i for i in (_as_item(r, strict=ledger_strict) for r in said) if i is not None]
    items += [replace(i, unsaid=True) for i in (_as_item(r, strict=True) for r in measured) if i is not None]
    # the notes of the measurements (ingest warnings, this turn's degradations), read as said there;
    # the language-model loop's own notes (the guard naming the numbers it refused, endpoint faults,
    # failed tool calls) are about the rewrite, not the audio, and never become evidence
    notes = [str(w) for w in report.get("warnings") or []] + [
        str(d) for d in state.get("degradations") or [] if not str(d).startswith(LLM_NOTE_PREFIXES)]
    items += [i for note in notes for i in said_evidence(note, "note")]
    return list(dict.fromkeys([*items, *method_evidence()]))


LLM_NOTE_PREFIXES = ("grounding guard", "language model", "tool call ", "llm")  # nodes.llm_loop, endpoint


@functools.lru_cache(maxsize=1)
def method_evidence() -> tuple[EvidenceItem, ...]:
    """The constants the composer's descriptions of how each topic is measured state
    (``composer.METHOD``: BS.1770's 400 ms gating blocks, its three-second short-term window,
    the ten-second segments of the stem balance ...): standards' and methods' numbers, not
    measurements, allowed with their unit and subject as written there."""
    from .composer import METHOD

    return tuple(replace(i, direction=frozenset(), context=())
                 for text in METHOD.values() for i in said_evidence(text, "method"))
