"""Numbers as the agent says them: each one formatted at a fixed rounding and recorded as
:class:`~.schema.Evidence` at the same time, so that every number in an answer has a matching
entry (tool, quantity, value as shown, unit) that the grounding guard can check it against.

Rules of the house (so that ``tools.grounding.numbers_in_text`` reads back exactly what was
recorded): plain ASCII digits and an ASCII minus; a number is never glued to letters; standards
are named without their numeric parts (``ITU-R BS.1770``, "third-octave"); headings and list
markers carry no numbers.
"""
from __future__ import annotations

from .schema import Evidence


def rounded(value: float, decimals: int) -> float:
    """``value`` rounded to ``decimals`` places, never ``-0.0``."""
    v = round(float(value), decimals)
    return 0.0 if v == 0 else v


class Ledger:
    """Formats numbers for an answer and remembers each as Evidence."""

    def __init__(self) -> None:
        self.items: list[Evidence] = []

    def num(self, value: float, *, tool: str, quantity: str, unit: str = "", decimals: int = 1,
            signed: bool = False, show_unit: bool = True) -> str:
        """``value`` as text (``"-3.2 dB"``, ``"+1.5 LU"``) with ``unit`` appended when
        ``show_unit``; recorded as Evidence with the value shown."""
        v = rounded(value, decimals)
        self.items.append(Evidence(tool=tool, quantity=quantity, value=v, unit=unit, decimals=decimals))
        s = f"{v:+.{decimals}f}" if signed else f"{v:.{decimals}f}"
        if s in ("+0." + "0" * decimals, "-0." + "0" * decimals) or (decimals == 0 and s in ("+0", "-0")):
            s = s[1:]
        return f"{s} {unit}" if unit and show_unit else s

    def mag(self, value: float, **kw) -> str:
        """The absolute value of ``value`` (a distance, a size of a move), recorded as such."""
        kw["quantity"] = kw.get("quantity", "") + " (absolute)"
        return self.num(abs(value), **kw)

    def hz(self, value_hz: float, *, tool: str, quantity: str) -> str:
        """A frequency: ``"250 Hz"`` under 1 kHz, else ``"1.6 kHz"`` (recorded in the unit shown)."""
        if value_hz >= 1000.0:
            return self.num(value_hz / 1000.0, tool=tool, quantity=quantity, unit="kHz",
                            decimals=1 if (value_hz / 1000.0) % 1 else 0)
        return self.num(value_hz, tool=tool, quantity=quantity, unit="Hz", decimals=0)

    def hz_range(self, lo_hz: float, hi_hz: float, *, tool: str, quantity: str) -> str:
        """``"60-250 Hz"``, ``"2-5 kHz"`` or ``"500 Hz-2 kHz"``."""
        if lo_hz >= 1000.0 or hi_hz < 1000.0:
            unit = "kHz" if lo_hz >= 1000.0 else "Hz"
            scale = 1000.0 if unit == "kHz" else 1.0
            d_lo = 1 if unit == "kHz" and (lo_hz / scale) % 1 else 0
            d_hi = 1 if unit == "kHz" and (hi_hz / scale) % 1 else 0
            a = self.num(lo_hz / scale, tool=tool, quantity=quantity + " low edge", unit=unit,
                         decimals=d_lo, show_unit=False)
            b = self.num(hi_hz / scale, tool=tool, quantity=quantity + " high edge", unit=unit,
                         decimals=d_hi, show_unit=False)
            return f"{a}-{b} {unit}"
        return (self.hz(lo_hz, tool=tool, quantity=quantity + " low edge") + "-"
                + self.hz(hi_hz, tool=tool, quantity=quantity + " high edge"))

    def rng(self, lo: float, hi: float, *, tool: str, quantity: str, unit: str = "dB",
            decimals: int = 1) -> str:
        """A range of sizes ``"3.1-5.4 dB"`` (absolute values, ascending; one value when equal)."""
        a, b = sorted((abs(lo), abs(hi)))
        if rounded(a, decimals) == rounded(b, decimals):
            return self.num(b, tool=tool, quantity=quantity, unit=unit, decimals=decimals)
        return (self.num(a, tool=tool, quantity=quantity + " low", unit=unit, decimals=decimals,
                         show_unit=False) + "-"
                + self.num(b, tool=tool, quantity=quantity + " high", unit=unit, decimals=decimals))

    def extend(self, other: Ledger) -> None:
        self.items.extend(other.items)

    def dump(self) -> list[dict]:
        return [e.model_dump() for e in self.items]
