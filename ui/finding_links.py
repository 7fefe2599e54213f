"""Where each finding is drawn: the plot tab that shows its topic, and the time ranges of the
waveform it points at.

One definition serves the findings' "See:" line (the downloads, :func:`ui.app.finding_blocks`)
and the Findings tab's "See:" buttons, which select the plot's tab and, for a finding with time
ranges, re-draw the waveform with those ranges highlighted (:func:`highlighted_waveform`).

Every time comes from a measurement: a finding's ``regions_s`` (clipped runs, the worst
anti-phase moment, where masking is worst), and for the dynamics finding (its PSR is the true
peak over the loudest short-term loudness) the loudest 3 s window of the short-term loudness
series the report carries. A finding with no time range only selects its tab.
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..tools.measure.loudness import SHORT_TERM_S  # the short-term loudness window (3 s, BS.1770)
from . import plots

# the side panel's plot tabs: (tab id = plots.PLOT_NAMES name, label)
PLOT_TABS = (("spectrum", "Spectrum"), ("loudness", "Loudness"), ("stem_levels", "Balance"),
             ("masking", "Masking"), ("waveform", "Waveform"))
TAB_LABELS = dict(PLOT_TABS)
# where each topic is drawn (stereo has no figure of its own: only its time ranges, on the waveform)
TOPIC_TAB = {"balance": "stem_levels", "loudness": "loudness", "true_peak": "loudness", "clipping": "waveform",
             "masking": "masking", "spectrum": "spectrum", "low_end": "spectrum", "reference": "spectrum",
             "dynamics": "loudness"}
BUTTON_SPANS = 2  # time ranges named on a button (the rest counted)
HEARD = "heard by the audio model and measured"  # a finding's source "model+tools", in words


@dataclass(frozen=True)
class FindingLink:
    """A place to look at a finding: a plot tab, and for the waveform the time ranges (s) to
    highlight and what they are (for the alt text)."""

    tab: str
    spans: tuple[tuple[float, float], ...] = ()
    what: str = ""

    @property
    def label(self) -> str:
        return TAB_LABELS[self.tab]

    def see_text(self) -> str:
        """"the Balance tab", "the Waveform tab at 0:01.0-0:02.5"."""
        at = plots.spans_text(self.spans)
        return f"the {self.label} tab" + (f" at {at}" if at else "")

    def button_text(self) -> str:
        """"See: Balance tab", "See: Waveform at 0:01.0-0:02.5"."""
        at = plots.spans_text(self.spans, limit=BUTTON_SPANS)
        return f"See: {self.label} at {at}" if at else f"See: {self.label} tab"

    def as_dict(self) -> dict:
        return {"tab": self.tab, "spans": [list(s) for s in self.spans], "what": self.what}

    @classmethod
    def from_dict(cls, d: Any) -> FindingLink | None:
        if not isinstance(d, dict) or d.get("tab") not in TAB_LABELS:
            return None
        return cls(str(d["tab"]), _spans(d.get("spans")), str(d.get("what") or ""))


def _as_dict(x: Any) -> dict:
    if hasattr(x, "model_dump"):
        return x.model_dump(mode="json")
    return dict(x) if isinstance(x, dict) else {}


def _spans(regions: Iterable[Any] | None) -> tuple[tuple[float, float], ...]:
    """Finite (start, end) pairs, earliest first, each once."""
    out = set()
    for r in regions or ():
        if isinstance(r, (list, tuple)) and len(r) == 2:
            try:
                a, b = float(r[0]), float(r[1])
            except (TypeError, ValueError):
                continue
            if math.isfinite(a) and math.isfinite(b):
                out.add((a, b))
    return tuple(sorted(out))


def loudest_window(report: Any) -> tuple[float, float, float] | None:
    """(start s, end s, LUFS) of the loudest window in the report's short-term loudness series
    (``loudness.short_term_times_s`` are window ends; the earliest on a tie); None without it."""
    loud = _as_dict(report).get("loudness") or {}
    times, values = loud.get("short_term_times_s") or [], loud.get("short_term_lufs") or []
    best = None
    for t, v in zip(times, values) if len(times) == len(values) else ():
        if isinstance(v, (int, float)) and isinstance(t, (int, float)) and math.isfinite(v) and math.isfinite(t):
            if best is None or v > best[1]:
                best = (float(t), float(v))
    if best is None:
        return None
    return max(0.0, best[0] - SHORT_TERM_S), best[0], best[1]


def finding_links(finding: Any, report: Any = None) -> list[FindingLink]:
    """Where to look at ``finding``: its topic's plot tab (none for stereo), then the waveform at
    its time ranges when it has any (only the waveform when that is also its topic's tab).

    The ranges are the finding's ``regions_s``; a dynamics finding without them, given the
    ``report`` with a PSR, points at the loudest 3 s of the short-term loudness (:func:`loudest_window`)."""
    f = _as_dict(finding)
    topic = str(f.get("topic") or "")
    tab = TOPIC_TAB.get(topic)
    spans, what = _spans(f.get("regions_s")), str(f.get("title") or "")
    rep = _as_dict(report)
    if not spans and topic == "dynamics" and (rep.get("dynamics") or {}).get("psr_db") is not None:
        w = loudest_window(rep)
        if w is not None:
            spans = ((w[0], w[1]),)
            what = f"the loudest {SHORT_TERM_S:g} s, short-term loudness {w[2]:.1f} LUFS"
    links = []
    if tab and not (spans and tab == "waveform"):
        links.append(FindingLink(tab))
    if spans:
        links.append(FindingLink("waveform", spans, what))
    return links


def see_line(links: list[FindingLink], source: str | None = None) -> str:
    """The finding's "*See:*" line (Markdown) from its links; "" when there is nowhere to look."""
    if not links:
        return ""
    return (f"*See:* {' and '.join(link.see_text() for link in links)}"
            + (f"; {HEARD}" if source == "model+tools" else ""))


def highlighted_waveform(state: dict, link: FindingLink) -> tuple[Any, str]:
    """The waveform of a stored review (``state``: its report, findings and audio record) with
    ``link``'s time ranges highlighted, and its alt text naming them; (None, "") when the stored
    mix file is gone. Raises what decoding the mix raises."""
    report = state.get("report") or {}
    mix = (state.get("audio") or {}).get("mix")
    if not mix or not os.path.isfile(mix):
        return None, ""
    fig = plots.waveform_figure(mix, report, state.get("findings") or [], highlight=link.spans)
    return fig, plots.plot_alt_text("waveform", report, highlight=link.spans, highlight_what=link.what)
