"""Base model for measurement results, and the conventions every tool's result follows
(listed at :class:`Measurement`).
"""
from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator


class Row(BaseModel):
    """Base for every result model and nested row: strict fields, NaN/inf become None."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _finite_or_none(cls, v: Any) -> Any:
        """NaN and +-inf become None so JSON stays strict."""
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v


class Measurement(Row):
    """A tool's result: its fields plus a one-line plain-language verdict.

    Conventions (every tool follows them):

    - a result is a pydantic model deriving from ``Measurement``;
    - field names end in their unit: ``_lufs``, ``_lu``, ``_dbfs``, ``_dbtp``, ``_db``, ``_hz``,
      ``_s``, ``_pct``, ``_db_per_oct``; plain ratios in [0, 1] or [-1, 1] end in ``_ratio`` or
      are named ``correlation``;
    - ``verdict`` is one plain-language line a producer can read;
    - values that cannot be measured (e.g. a gated-out block) are ``None``, never NaN or inf,
      so that every result serialises to strict JSON.
    """

    verdict: str


def db(x: float, floor_db: float = -200.0) -> float:
    """20*log10(x) for an amplitude, floored (never -inf)."""
    return max(floor_db, 20.0 * math.log10(x)) if x > 0 else floor_db


def power_db(p: float, floor_db: float = -200.0) -> float:
    """10*log10(p) for a power, floored (never -inf)."""
    return max(floor_db, 10.0 * math.log10(p)) if p > 0 else floor_db


def r(x: float | None, nd: int = 2) -> float | None:
    """Round for reporting; None passes through."""
    if x is None:
        return None
    v = round(float(x), nd)
    return 0.0 if v == 0 else v  # never "-0.0"
