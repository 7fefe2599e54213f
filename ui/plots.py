"""Figures of an analysis, for the browser app and for saved reviews.

Every function takes the report as ``AnalysisReport.model_dump()`` (a plain dict, as the agent
stores it; an ``AnalysisReport`` itself is accepted too) and returns a matplotlib
:class:`~matplotlib.figure.Figure`, or ``None`` when the data it needs is absent (no stems, no
short-term series...). Figures are built with the object-oriented API on the Agg canvas, never
through ``pyplot``, so nothing is kept in a global figure registry and several sessions can draw
at once from different threads; Gradio's ``gr.Plot`` takes them as they are.
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..tools.errors import InvalidArgumentError

FIGSIZE = (8.0, 3.6)
DPI = 100
LAYOUT = "constrained"  # matplotlib layout engine: keeps labels inside the figure
LOUDEST_WITHIN_LU = 1.0  # a "loudest passage" is within this of the max short-term loudness
DEFAULT_PLATFORM = "spotify"
ENVELOPE_COLUMNS = 2000  # min/max pairs drawn for a waveform, whatever its length

# Okabe & Ito (2008), "Color Universal Design": a palette that reads the same for the common
# colour-vision deficiencies; roles are told apart by shape and line style too
OKABE_ITO = {"orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
             "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "grey": "#7F7F7F"}
_STATUS_COLOURS = {"within_range": OKABE_ITO["green"], "too_loud": OKABE_ITO["vermillion"],
                   "too_quiet": OKABE_ITO["blue"], "silent": OKABE_ITO["grey"], "no_reference": OKABE_ITO["grey"]}


@dataclass(frozen=True)
class Region:
    """A time region to shade on the waveform."""

    start_s: float
    end_s: float
    kind: str  # "finding", "clipping", "loud"
    label: str = ""


def _as_dict(report: Any) -> dict | None:
    if report is None:
        return None
    if hasattr(report, "model_dump"):
        return report.model_dump()
    if isinstance(report, Mapping):
        return dict(report)
    raise InvalidArgumentError(f"a report must be a dict or an AnalysisReport, got {type(report).__name__}")


def _new_figure(size: tuple[float, float] = FIGSIZE) -> Figure:
    fig = Figure(figsize=size, dpi=DPI, layout=LAYOUT)
    FigureCanvasAgg(fig)
    return fig


def _num(v: Any) -> float:
    """A report value as float; None (unmeasurable) becomes NaN so the line has a gap."""
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def save_png(fig: Figure, path: str | os.PathLike) -> Path:
    """Write ``fig`` as a PNG (parent folders created) and return the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, format="png", dpi=DPI)
    return p


# ----------------------------------------------------------------------------- spectrum


def spectrum_figure(report: Any) -> Figure | None:
    """1/3-octave spectrum of the mix against the professional target curve (and its p10-p90
    range when the report carries it). None when the report has no bands.

    Draws ``spectrum.bands[].level_db`` (normalised to the mean of the 100 Hz-10 kHz bands)
    against ``target_db`` and the band ``target_p10_db``/``target_p90_db`` where present."""
    rep = _as_dict(report)
    bands = ((rep or {}).get("spectrum") or {}).get("bands") or []
    if not bands:
        return None
    f = np.array([_num(b.get("centre_hz")) for b in bands])
    level = np.array([_num(b.get("level_db")) for b in bands])
    target = np.array([_num(b.get("target_db")) for b in bands])
    p10 = np.array([_num(b.get("target_p10_db")) for b in bands])
    p90 = np.array([_num(b.get("target_p90_db")) for b in bands])
    fig = _new_figure()
    ax = fig.add_subplot()
    if np.isfinite(p10).any() and np.isfinite(p90).any():
        ax.fill_between(f, p10, p90, color=OKABE_ITO["sky"], alpha=0.45, linewidth=0,
                        label="professional range (p10-p90)")
    if np.isfinite(target).any():
        name = rep["spectrum"].get("target_name") or "target"
        ax.plot(f, target, color=OKABE_ITO["blue"], linestyle="--", linewidth=1.5, label=f"target ({name})")
    ax.plot(f, level, color=OKABE_ITO["vermillion"], marker="o", markersize=3, linewidth=1.8, label="this mix")
    outside = [i for i, b in enumerate(bands) if b.get("outside_target_range")]
    if outside:
        ax.scatter(f[outside], level[outside], s=40, facecolors="none", edgecolors="black",
                   zorder=5, label="outside the range")
    ax.set_xscale("log")
    lo, hi = max(15.0, np.nanmin(f) * 0.85), np.nanmax(f) * 1.15
    ax.set_xlim(lo, hi)
    ticks = [t for t in FREQ_TICKS_HZ if lo <= t <= hi]
    ax.set_xticks(ticks, [freq_label(t) for t in ticks])  # "100 Hz", "1 kHz", not 10^2, 10^3
    ax.set_xticks([], minor=True)
    ax.set_xlabel("Frequency (1/3-octave band centres)")
    ax.set_ylabel("Band level (dB re 100 Hz-10 kHz mean)")
    ax.set_title("Spectrum against the professional target")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    return fig


# ----------------------------------------------------------------------------- loudness


def platform_target(report: Any, platform: str | None = None) -> dict | None:
    """The platform row of ``loudness.platforms`` (name, label, target_lufs, ceiling_dbtp) for
    ``platform``, else the report's own platform, else Spotify; None when absent."""
    rep = _as_dict(report) or {}
    loud = rep.get("loudness") or {}
    rows = loud.get("platforms") or []
    for key in (platform, rep.get("platform"), loud.get("platform"), DEFAULT_PLATFORM):
        if key:
            for row in rows:
                if row.get("name") == key:
                    return row
    return rows[0] if rows else None


def loudness_figure(report: Any, platform: str | None = None) -> Figure | None:
    """Short-term loudness over time (3 s windows, one a second) against the platform target and
    the integrated loudness. None when the report has no short-term series."""
    rep = _as_dict(report)
    loud = (rep or {}).get("loudness") or {}
    t = np.array([_num(v) for v in loud.get("short_term_times_s") or []])
    st = np.array([_num(v) for v in loud.get("short_term_lufs") or []])
    if t.size == 0 or t.size != st.size or not np.isfinite(st).any():
        return None
    fig = _new_figure()
    ax = fig.add_subplot()
    ax.plot(t, st, color=OKABE_ITO["vermillion"], linewidth=1.6, label="short-term loudness (3 s)")
    target = platform_target(rep, platform)
    if target is not None:
        ax.axhline(target["target_lufs"], color=OKABE_ITO["blue"], linestyle="--", linewidth=1.4,
                   label=f"{target['label']} target {target['target_lufs']:g} LUFS")
    integrated = loud.get("integrated_lufs")
    if integrated is not None:
        ax.axhline(integrated, color="#424242", linestyle=":", linewidth=1.4,
                   label=f"integrated {integrated:.1f} LUFS")
    ax.set_xlabel("Time (s, end of each 3 s window)")
    ax.set_ylabel("Loudness (LUFS)")
    ax.set_title("Short-term loudness over time")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return fig


# ----------------------------------------------------------------------------- stem levels


def _stem_value_and_range(stem: dict) -> tuple[float, float, float, float, str]:
    """(level vs rest dB, p10, p50, p90, status) using the reference's comparison when it has one."""
    cmp_ = stem.get("vs_rest") or {}
    ref = cmp_.get("reference") or {}
    value = cmp_.get("value_db")
    if value is None:
        value = stem.get("level_vs_rest_power_sum_db", stem.get("level_vs_rest_db"))
    return (_num(value), _num(ref.get("p10_db")), _num(ref.get("p50_db")), _num(ref.get("p90_db")),
            str(cmp_.get("status") or stem.get("status") or "no_reference"))


def stem_levels_figure(report: Any) -> Figure | None:
    """Each stem's level against the rest of the mix (the power-sum form the reference table
    uses), with the professional p10-p90 range (bar) and median (tick). None without stems."""
    rep = _as_dict(report)
    stems = ((rep or {}).get("stem_balance") or {}).get("stems") or []
    if not stems:
        return None
    fig = _new_figure((8.0, 0.8 + 0.7 * len(stems)))
    ax = fig.add_subplot()
    ys = np.arange(len(stems))[::-1]
    ranged = False
    for y, stem in zip(ys, stems):
        value, p10, p50, p90, status = _stem_value_and_range(stem)
        if math.isfinite(p10) and math.isfinite(p90):
            ax.barh(y, p90 - p10, left=p10, height=0.5, color=OKABE_ITO["sky"], edgecolor=OKABE_ITO["blue"],
                    label=None if ranged else "professional range (p10-p90)")
            ax.plot([p50, p50], [y - 0.25, y + 0.25], color=OKABE_ITO["blue"], linewidth=2,
                    label=None if ranged else "professional median")
            ranged = True
        if math.isfinite(value):
            ax.plot(value, y, marker="D", markersize=8, color=_STATUS_COLOURS.get(status, OKABE_ITO["grey"]),
                    linestyle="none")
            ax.annotate(f"{value:+.1f} dB ({status.replace('_', ' ')})", (value, y),
                        xytext=(6, 8), textcoords="offset points", fontsize=8)
    ax.set_yticks(ys, [f"{s.get('name')}{' (anchor)' if s.get('is_anchor') else ''}" for s in stems])
    ax.set_ylim(-0.7, len(stems) - 0.3)
    ax.set_xlabel("Stem level vs the rest of the mix (dB, gated RMS over 10 s segments)")
    ax.set_title("Stem balance against professional mixes")
    ax.grid(True, axis="x", alpha=0.3)
    if ranged:
        ax.legend(loc="lower left", fontsize=8)
    return fig


# ----------------------------------------------------------------------------- masking


def masking_figure(report: Any) -> Figure | None:
    """Heat map of % of each target's active time-frequency cells masked, stem pair x ERB band.
    None without a masking result (fewer than two stems)."""
    rep = _as_dict(report)
    mk = (rep or {}).get("masking") or {}
    pairs = [p for p in mk.get("pairs") or [] if p.get("per_band_masked_pct")]
    centres = mk.get("band_centres_hz") or []
    if not pairs or not centres:
        return None
    grid = np.array([[_num(v) for v in p["per_band_masked_pct"]] for p in pairs])
    fig = _new_figure((8.0, 1.2 + 0.32 * len(pairs)))
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["magma"].with_extremes(bad="#e0e0e0")
    im = ax.imshow(np.ma.masked_invalid(grid), aspect="auto", cmap=cmap, vmin=0, vmax=100,
                   interpolation="nearest")
    ax.set_yticks(range(len(pairs)), [f"{p['masker']} -> {p['target']}" for p in pairs], fontsize=8)
    step = max(1, len(centres) // 9)
    ticks = list(range(0, len(centres), step))
    ax.set_xticks(ticks, [_hz_label(centres[i]) for i in ticks], fontsize=8)
    ax.set_xlabel("ERB band centre frequency (Hz)")
    ax.set_ylabel("masker -> target")
    ax.set_title("Masking between stems (grey: the target is not active in that band)")
    cb = fig.colorbar(im, ax=ax)
    cb.set_label("% of target's active frames masked")
    return fig


def plot_alt_text(name: str, report: Any, *, highlight: Iterable[tuple[float, float]] | None = None,
                  highlight_what: str = "") -> str:
    """A figure's alt text: what it draws and its main measured numbers, in one or two sentences
    (for screen readers, and shown under the figure). For the waveform, ``highlight`` (time
    ranges, s) and ``highlight_what`` (what they are) name the range drawn highlighted."""
    rep = _as_dict(report) or {}
    if name == "spectrum":
        out = [r for r in (rep.get("spectrum") or {}).get("regions") or [] if r.get("outside_target_range")]
        tail = ("; outside the professional range: " + ", ".join(
            f"{r.get('label', r.get('name'))} {_num(r.get('deviation_db')):+.1f} dB" for r in out)) if out else \
            "; every region inside the professional range"
        return "Figure: the mix's 1/3-octave spectrum against the professional target and its p10-p90 range" + tail + "."
    if name == "loudness":
        loud = rep.get("loudness") or {}
        tgt = platform_target(rep) or {}
        return (f"Figure: short-term loudness over time; integrated {_num(loud.get('integrated_lufs')):.1f} LUFS"
                + (f" against the {tgt.get('label', 'platform')} target of {_num(tgt.get('target_lufs')):.0f} LUFS"
                   if tgt else "") + ".")
    if name == "stem_levels":
        stems = (rep.get("stem_balance") or {}).get("stems") or []
        parts = [f"{s.get('name')} {_num(s.get('level_vs_rest_power_sum_db')):+.1f} dB ({str(s.get('status', '')).replace('_', ' ')})"
                 for s in stems if s.get("level_vs_rest_power_sum_db") is not None]
        return "Figure: each stem's level against the rest of the mix and the professional range: " + \
            "; ".join(parts) + "."
    if name == "masking":
        worst = (rep.get("masking") or {}).get("worst_pairs") or []
        w = worst[0] if worst and isinstance(worst[0], dict) else None
        return ("Figure: how much each stem covers another, per frequency band"
                + (f"; worst: {w.get('masker')} over {w.get('target')}, {_num(w.get('masked_pct')):.0f}%" if w else "")
                + ".")
    if name == "waveform":
        alt = "Figure: the mix's waveform, with clipped samples, the loudest passages and the findings' regions marked."
        shown = spans_text(highlight or ())
        if shown:
            alt += f" Highlighted in blue: {shown}" + (f" ({highlight_what})" if highlight_what else "") + "."
        return alt
    return ""


def time_span(start_s: float, end_s: float) -> str:
    """A time range as a mixer reads it off a timeline: "1:03.2-1:04.0" (one time when the range
    is under 0.1 s)."""
    def clock(t_s: float) -> str:
        return f"{int(t_s // 60)}:{t_s % 60:04.1f}"
    return clock(start_s) if end_s - start_s < 0.1 else f"{clock(start_s)}-{clock(end_s)}"


def spans_text(spans: Iterable[tuple[float, float]], limit: int = 4) -> str:
    """Time ranges as text, earliest first, to a tenth of a second (ranges that read the same
    said once): "0:01.0-0:02.5, 0:05.0 and 3 more"; "" for none."""
    shown = sorted({(round(float(a), 1), round(float(b), 1)) for a, b in spans})
    if not shown:
        return ""
    text = ", ".join(time_span(a, b) for a, b in shown[:limit])
    return text + (f" and {len(shown) - limit} more" if len(shown) > limit else "")


FREQ_TICKS_HZ = (31.5, 63.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0)


def freq_label(f: float) -> str:
    """A frequency as a reader writes it: "63 Hz", "500 Hz", "1 kHz", "16 kHz", "31.5 Hz"."""
    if f >= 1000.0:
        return f"{f / 1000:g} kHz"
    return f"{f:g} Hz"


def _hz_label(f: float) -> str:
    return f"{f / 1000:.1f}k" if f >= 1000 else f"{f:.0f}"


# ----------------------------------------------------------------------------- waveform


def envelope(samples: Any, columns: int = ENVELOPE_COLUMNS) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of the channel-mean signal over ``columns`` equal slices (fewer for a
    short signal): what a DAW draws as its overview waveform. ``samples``: an array, or the
    :class:`~mixingbuddy.tools.io.spool.Spool` of a long file, read one slice at a time."""
    from ..tools.io.spool import Spool

    if isinstance(samples, Spool):
        n = len(samples)
        if n == 0:
            raise InvalidArgumentError("samples must be a non-empty (n,) or (n, channels) array")
        cols = max(1, min(int(columns), n))
        per = n // cols
        lo, hi = np.empty(cols, np.float32), np.empty(cols, np.float32)
        for c in range(cols):
            m = samples.read(c * per, (c + 1) * per).mean(axis=1)
            lo[c], hi[c] = m.min(), m.max()
        return lo, hi
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if x.ndim != 1 or x.size == 0:
        raise InvalidArgumentError("samples must be a non-empty (n,) or (n, channels) array")
    cols = max(1, min(int(columns), x.size))
    per = x.size // cols
    body = x[: per * cols].reshape(cols, per)
    return body.min(axis=1), body.max(axis=1)


def _regions_of(findings: Iterable[Any] | None) -> list[Region]:
    out: list[Region] = []
    for f in findings or []:
        d = f.model_dump() if hasattr(f, "model_dump") else dict(f)
        for reg in d.get("regions_s") or []:
            try:
                a, b = float(reg[0]), float(reg[1])
            except (TypeError, ValueError, IndexError):
                continue
            if math.isfinite(a) and math.isfinite(b) and b > a:
                out.append(Region(a, b, "finding", str(d.get("title") or d.get("topic") or "")))
    return out


def problem_regions(report: Any, findings: Iterable[Any] | None = None) -> list[Region]:
    """Regions to shade: the findings' ``regions_s``, clipped runs of the mix
    (``dynamics.clipping.worst_runs``) and the loudest passages (short-term windows within
    1 LU of the maximum short-term loudness, merged)."""
    rep = _as_dict(report) or {}
    regions = _regions_of(findings)
    clip = ((rep.get("dynamics") or {}).get("clipping") or {})
    for run in clip.get("worst_runs") or []:
        a = float(run["start_s"])
        regions.append(Region(a, a + max(float(run["duration_s"]), 0.005), "clipping", "clipped run"))
    loud = rep.get("loudness") or {}
    t = [_num(v) for v in loud.get("short_term_times_s") or []]
    st = [_num(v) for v in loud.get("short_term_lufs") or []]
    top = loud.get("max_short_term_lufs")
    if t and len(t) == len(st) and top is not None:
        spans: list[list[float]] = []
        for end, v in zip(t, st):
            if math.isfinite(v) and v >= top - LOUDEST_WITHIN_LU:
                a = max(0.0, end - 3.0)
                if spans and a <= spans[-1][1]:
                    spans[-1][1] = end
                else:
                    spans.append([a, end])
        regions += [Region(a, b, "loud", f"within {LOUDEST_WITHIN_LU:g} LU of the loudest 3 s")
                    for a, b in spans]
    return regions


# kind -> (colour, legend label, vertical extent as axes fractions); the loudest passages are a
# strip along the top, since in a steady master they can cover most of the song.
_REGION_STYLE = {"finding": (OKABE_ITO["orange"], "problem region (finding)", (0.0, 1.0)),
                 "clipping": (OKABE_ITO["vermillion"], "clipped samples", (0.0, 1.0)),
                 "loud": (OKABE_ITO["purple"], f"loudest passage (within {LOUDEST_WITHIN_LU:g} LU of max)", (0.92, 1.0))}


HIGHLIGHT_COLOUR = OKABE_ITO["blue"]  # a finding's range picked out on the waveform


def _highlight_spans(highlight: Iterable[tuple[float, float]] | None, dur_s: float) -> list[tuple[float, float]]:
    """The ranges to highlight, finite, inside the file, start <= end, earliest first."""
    out = set()
    for reg in highlight or ():
        try:
            a, b = float(reg[0]), float(reg[1])
        except (TypeError, ValueError, IndexError):
            continue
        if math.isfinite(a) and math.isfinite(b):
            a, b = max(0.0, min(a, b)), min(dur_s, max(a, b))
            if a <= b:
                out.add((a, b))
    return sorted(out)


def waveform_figure(audio: Any, report: Any = None, findings: Iterable[Any] | None = None, *,
                    sr: int | None = None, highlight: Iterable[tuple[float, float]] | None = None) -> Figure | None:
    """The waveform's min/max envelope with problem regions shaded: the findings' ``regions_s``,
    clipped runs and the loudest passages (short-term loudness within 1 LU of its maximum, the
    passage the PSR is measured on; :func:`problem_regions`).

    ``highlight``: time ranges (s) of one finding to pick out, drawn over the rest as hatched
    blue spans with solid edges (:data:`HIGHLIGHT_COLOUR`; the edges keep a range of a few
    milliseconds, a clipped run, visible) and named in the legend.

    ``audio``: a file path (decoded with ``tools.io.ingest.load_audio``), a ``tools.io.audio.Audio``,
    or a samples array with ``sr``. None when ``audio`` is None."""
    if audio is None:
        return None
    if isinstance(audio, (str, os.PathLike)):
        from ..tools.io.ingest import load_audio
        from ..tools.io.spool import SPOOL_ABOVE_S

        audio = load_audio(audio, spool_above_s=SPOOL_ABOVE_S)  # a long mix is read a slice at a time
    if hasattr(audio, "samples") and hasattr(audio, "sr"):
        samples, rate = (audio.source() if hasattr(audio, "source") else audio.samples), int(audio.sr)
    else:
        if sr is None or sr <= 0:
            raise InvalidArgumentError("a samples array needs its sample rate (sr=...)")
        samples, rate = np.asarray(audio), int(sr)
    lo, hi = envelope(samples)
    dur_s = (len(samples) if not isinstance(samples, np.ndarray) else samples.shape[0]) / rate
    t = np.linspace(0.0, dur_s, lo.size)
    fig = _new_figure((8.0, 3.0))
    ax = fig.add_subplot()
    ax.fill_between(t, lo, hi, color="#455a64", linewidth=0, label="waveform (min/max)")
    seen: set[str] = set()
    for reg in problem_regions(report, findings):
        colour, label, (y0, y1) = _REGION_STYLE[reg.kind]
        ax.axvspan(max(0.0, reg.start_s), min(dur_s, reg.end_s), ymin=y0, ymax=y1, color=colour,
                   alpha=0.3 if reg.kind != "loud" else 0.6, linewidth=0,
                   label=None if reg.kind in seen else label)
        seen.add(reg.kind)
    spans = _highlight_spans(highlight, dur_s)
    for k, (a, b) in enumerate(spans):
        ax.axvspan(a, b, facecolor=HIGHLIGHT_COLOUR, alpha=0.25, edgecolor=HIGHLIGHT_COLOUR, hatch="//",
                   linewidth=0, gid="highlight", zorder=3)
        for e, x in enumerate((a, b)):
            ax.axvline(x, color=HIGHLIGHT_COLOUR, linewidth=1.6, gid="highlight-edge", zorder=4,
                       label=None if k or e else f"highlighted: {spans_text(spans, limit=2)}")
    ax.set_xlim(0.0, dur_s)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("Time (s)")
    ax.set_ylabel("Amplitude (full scale = 1)")
    ax.set_title("Waveform with problem regions" + (f"; {spans_text(spans, limit=2)} highlighted" if spans else ""))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return fig


# ----------------------------------------------------------------------------- all of them


PLOT_NAMES = ("spectrum", "loudness", "stem_levels", "masking", "waveform")


def all_figures(report: Any, audio: Any = None, findings: Iterable[Any] | None = None,
                platform: str | None = None) -> dict[str, Figure | None]:
    """Every figure by name (:data:`PLOT_NAMES`); a missing one is None."""
    return {
        "spectrum": spectrum_figure(report),
        "loudness": loudness_figure(report, platform),
        "stem_levels": stem_levels_figure(report),
        "masking": masking_figure(report),
        "waveform": waveform_figure(audio, report, findings) if audio is not None else None,
    }
