"""Plain-text rendering of an ``AnalysisReport`` for the terminal.

Every number printed here is a field of the report (no new arithmetic), so the text and the
JSON always agree.
"""
from __future__ import annotations

from .analyze import AnalysisReport, FileInfo


def _f(v: float | None, nd: int = 1, unit: str = "", signed: bool = False) -> str:
    if v is None:
        return "n/a"
    s = f"{v:+.{nd}f}" if signed else f"{v:.{nd}f}"
    return f"{s} {unit}".rstrip()


def _mmss(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d}"


def _describe(fi: FileInfo) -> str:
    src = f"{fi.source_sr_hz / 1000:g} kHz" if fi.source_sr_hz else "?"
    ch = {1: "mono", 2: "stereo"}.get(fi.source_channels or 0, f"{fi.source_channels} ch")
    fmt = f"{fi.source_format}, " if fi.source_format else ""
    return f"{fi.name} ({_mmss(fi.duration_s)}, {fmt}{src} {ch})"


def _section(title: str, verdict: str) -> list[str]:
    return ["", f"== {title} ==", verdict]


def render_text(rep: AnalysisReport) -> str:
    out = [f"MixingBuddy analysis of {_describe(rep.mix)}"]
    if rep.stems:
        out.append("Stems: " + ", ".join(
            f"{role} ({', '.join(files)})" for role, files in rep.stem_sources.items())
            if rep.stem_sources else "Stems: " + ", ".join(s.name for s in rep.stems))
    if rep.reference:
        out.append(f"Reference: {_describe(rep.reference)}")
    for w in rep.warnings:
        out.append(f"warning: {w}")

    L = rep.loudness
    out += _section("Loudness (ITU-R BS.1770-4 / EBU R128)", L.verdict)
    out.append(f"  integrated {_f(L.integrated_lufs, 1, 'LUFS')} | LRA {_f(L.loudness_range_lu, 1, 'LU')} | "
               f"true peak {_f(L.true_peak_dbtp, 1, 'dBTP')} | sample peak {_f(L.sample_peak_dbfs, 1, 'dBFS')} | "
               f"PLR {_f(L.plr_db, 1, 'dB')} | max short-term {_f(L.max_short_term_lufs, 1, 'LUFS')}")
    out.append(f"  {'platform':<22}{'target':>10}{'delta':>9}{'gain applied':>14}{'peak after':>12}")
    for p in L.platforms:
        flag = "  true peak over ceiling" if p.true_peak_over_ceiling else ""
        out.append(f"  {p.label:<22}{_f(p.target_lufs, 0, 'LUFS'):>10}{_f(p.delta_lu, 1, 'LU', True):>9}"
                   f"{_f(p.gain_change_db, 1, 'dB', True):>14}{_f(p.peak_after_normalisation_dbtp, 1, 'dBTP'):>12}{flag}")

    D = rep.dynamics
    out += _section("Dynamics and faults", D.verdict)
    out.append(f"  crest factor {_f(D.crest_factor_db, 1, 'dB')} | PSR {_f(D.psr_db, 1, 'dB')} | "
               f"clipped runs {D.clipping.runs} | DC offset flagged: {'yes' if D.dc.flagged else 'no'}")

    S = rep.spectrum
    out += _section("Spectral balance (1/3-octave, vs professional target)", S.verdict)
    out.append(f"  tilt {_f(S.tilt_db_per_oct, 2, 'dB/oct')} | centroid {_f(S.centroid_hz, 0, 'Hz')}")
    out.append(f"  {'region':<26}{'level':>9}{'target':>9}{'p10..p90':>16}{'deviation':>11}")
    for g in S.regions:
        rng = (f"{g.target_p10_db:.1f}..{g.target_p90_db:.1f}"
               if g.target_p10_db is not None and g.target_p90_db is not None else "n/a")
        mark = "  <- outside" if g.outside_target_range else ""
        out.append(f"  {g.label + f' ({g.lo_hz:g}-{g.hi_hz:g} Hz)':<26}{_f(g.level_db, 1):>9}"
                   f"{_f(g.target_db, 1):>9}{rng:>16}{_f(g.deviation_db, 1, signed=True):>11}{mark}")
    for issue in S.issues:
        out.append(f"  - {issue.text}")

    T = rep.stereo
    out += _section("Stereo image", T.verdict)
    out.append(f"  correlation {_f(T.correlation, 2)} | side/mid {_f(T.side_to_mid_db, 1, 'dB')} | "
               f"width {_f(T.width_ratio, 2)} | mono fold-down loss {_f(T.fold_down_loss_db, 1, 'dB')} | "
               f"low end (<{T.low_end.hi_hz:g} Hz) mono check: {T.low_end.status}")

    if rep.stem_balance is not None:
        B = rep.stem_balance
        out += _section("Stem balance (vs MUSDB18-HQ professional mixes)", B.verdict)
        for st in B.stems:
            out.append(f"  - {st.verdict}")
    if rep.masking is not None:
        M = rep.masking
        out += _section("Masking between stems (ERB bands)", M.verdict)
        for pair in M.pairs[:5]:
            out.append(f"  - {pair.verdict}")
    if rep.mix_estimate is not None:
        E = rep.mix_estimate
        out += _section("Stem levels estimated from the mix (no stems given)", E.verdict)
        for st in E.stems:
            out.append(f"  - {st.verdict}")
    if rep.reference_comparison is not None:
        R = rep.reference_comparison
        out += _section("Against the reference (loudness-matched)", R.verdict)
        for g in R.regions:
            out.append(f"  - {g.action}")
    out.append("")
    out.append("timings (s): " + ", ".join(f"{k} {v:.2f}" for k, v in rep.timings_s.items()))
    return "\n".join(out)
