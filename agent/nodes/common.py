"""Helpers shared by the answering nodes: the numbers a turn may cite, and notes as evidence."""
from __future__ import annotations

import re
from typing import Any

from ..numbers import Ledger
from ..schema import Evidence

SERIES_MIN_LEN = 13  # a list of more numbers than this is a series (short-term loudness, bands)
_NUMBER = re.compile(r"(?<![A-Za-z\d.])[-+]?\d+(?:\.(\d+))?")


def report_scalars(obj: Any) -> list[float]:
    """The report's numbers without its long series (the guard matches better on the values
    an answer can be about than on hundreds of time-series points)."""
    if isinstance(obj, dict):
        return [v for x in obj.values() for v in report_scalars(x)]
    if isinstance(obj, (list, tuple)):
        if len(obj) >= SERIES_MIN_LEN and all(isinstance(x, (int, float)) or x is None for x in obj):
            return []
        return [v for x in obj for v in report_scalars(x)]
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return [float(obj)]
    return []


def evidence_values(state: dict, new: list[dict] | None = None) -> list[float]:
    """The numbers a turn may cite: the conversation's evidence so far, this turn's new
    evidence, and the stored report's scalar measurements."""
    vals = [float(e["value"]) for e in (state.get("evidence") or []) + (new or [])]
    vals += report_scalars(state.get("report") or {})
    return list(dict.fromkeys(vals))


def note_evidence(notes: list[str], led: Ledger, tool: str = "ingest") -> None:
    """Record the numbers written inside measured notes (ingest warnings: durations, rates)
    as evidence of ``tool``, at the rounding they are written with."""
    for note in notes:
        for m in _NUMBER.finditer(note):
            dec = len(m.group(1)) if m.group(1) else 0
            led.items.append(Evidence(tool=tool, quantity="warning", value=float(m.group(0)), unit="",
                                      decimals=dec))
