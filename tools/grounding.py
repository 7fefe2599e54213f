"""Numbers in text and numbers in results: the raw material of the grounding checks.

MixingBuddy's rule is that every number it tells a user traces to a measurement it made. These
two functions pull the numbers out of a sentence and out of a (nested) measurement result, so a
check can ask whether each number said appears among the numbers measured.
"""
from __future__ import annotations

import re
from typing import Any

_NUMBER = re.compile(r"(?<![A-Za-z\d.])[-+]?\d+(?:\.\d+)?")


def numbers_in_text(text: str) -> list[float]:
    """Every decimal number written in ``text`` (signs kept; digits glued to letters, such as
    the 1770 in "BS.1770" or the 3 in "mp3", are not numbers said to the user)."""
    return [float(m) for m in _NUMBER.findall(text)]


def numeric_fields(obj: Any) -> list[float]:
    """Every int/float value inside ``obj`` (dicts and lists walked; booleans skipped). Pass
    ``model.model_dump()`` for a pydantic result."""
    if isinstance(obj, dict):
        return [v for x in obj.values() for v in numeric_fields(x)]
    if isinstance(obj, (list, tuple)):
        return [v for x in obj for v in numeric_fields(x)]
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return [float(obj)]
    return []
