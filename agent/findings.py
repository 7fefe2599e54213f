"""The standing checks: turn one ``AnalysisReport`` into ranked :class:`~.schema.Finding` s.

Every check reads the measurement's own fields and status flags (the tools already placed each
number against its reference) and words the result with a concrete move in dB or Hz;
:func:`standing_findings` runs them all. Each finding's numbers are formatted through a
:class:`~.numbers.Ledger` and kept as its ``evidence``.
"""
from __future__ import annotations

import functools
import json
from importlib import resources

from ..tools.measure.analyze import AnalysisReport
from ..tools.measure.loudness import PLATFORM_TARGETS, PlatformDelta
from ..tools.measure.reference_compare import NOTABLE_DIFFERENCE_DB
from ..tools.measure.stem_balance import StemBalanceResult
from ..tools.measure.stereo import (
    FOLD_LOSS_WARN_DB,
    OUT_OF_PHASE,
    RATIO_LIMIT_DB,
    ST_ANTI_PHASE,
)
from .balance_moves import BalanceMoves, solve_moves
from .numbers import Ledger
from .schema import SEVERITY_RANK, Finding
from .spectrum_after_moves import MovesSpectrum

PSR_CRUSHED_DB = 6.0  # after tools.measure.dynamics._psr_words (Ian Shepherd's Dynameter guidance)
PSR_LIMITED_DB = 8.0
DC_MATTERS_DBFS = -40.0  # a DC offset below this costs < 0.1 dB of headroom: mentioned, not a fix
LOUDNESS_OK_LU = 1.0  # within this of a platform target: on target
MASKING_REPORT_PCT = 10.0  # tools.measure.masking's own threshold for a pair worth naming
MASKING_WORTH_PTS = 20.0  # masking this many points above the professional p95 of the pair is worth fixing
# Severity gates, set on half of the 94 MUSDB18 preview mixes (the even-numbered songs in name
# order; evals/specificity.py reports the other half apart) so that an unaltered professional mix
# rarely gets more than a minor note: a stem or region just outside the professional p10..p90
# range is a minor note, "worth fixing" starts well beyond it.
BALANCE_WORTH_DB = 4.0  # a stem this far outside p10..p90 (after the joint solve) is the first fix
REGION_WORTH_SD = 2.0  # a region beyond p10/p90 by this many professional SDs is worth fixing
LOW_END_WORTH_CORR = 0.5  # low end below this correlation is worth fixing; above it (side well under mid) minor
TRUE_PEAK_WORTH_DBTP = 0.0  # overs above full scale clip on conversion; under it, a minor note
LOW_END_REGIONS = ("sub", "low")
# An EQ move is sized to bring a region (or band) to the edge of the professional range, not to
# its middle, and capped: a larger gap is a source or arrangement problem more than an EQ one.
MAX_EQ_MOVE_DB = 6.0
BAND_RANGE_SD = 1.2816  # a band's p10/p90 as target mean -+ 1.2816 sd (normal quantiles)
# A broad move is given as a range: from the p10/p90 edge to the quartile edge (the middle half of
# professional mixes), p75 - mean = 0.6745 sd against p90 - mean = 1.2816 sd for a normal spread.
QUARTILE_OF_DECILE = 0.6745 / 1.2816
TOPIC_ORDER = ("clipping", "true_peak", "balance", "loudness", "masking", "low_end", "spectrum",
               "stereo", "dynamics", "reference")


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def platform_row(rep: AnalysisReport, platform: str) -> PlatformDelta:
    for p in rep.loudness.platforms:
        if p.name == platform:
            return p
    return rep.loudness.platforms[0]


def stem_word(role: str) -> str:
    return "the other instruments" if role == "other" else f"the {role}"


REGION_WORDS = {"sub": "sub-lows", "low": "lows", "low_mid": "low-mids", "mid": "mids",
                "presence": "presence", "brilliance": "brilliance", "air": "air"}


def region_word(name: str) -> str:
    """How the answers name a spectral region (not "bass": that is a stem's name)."""
    return REGION_WORDS.get(name, name.replace("_", "-"))


def stem_title(role: str) -> str:
    return "Other instruments" if role == "other" else cap(role)


def _plural(role: str) -> bool:
    return role in ("vocals", "drums", "other")


def _verb(role: str, singular: str, plural: str) -> str:
    return plural if _plural(role) else singular


# --------------------------------------------------------------------------- loudness

def loudness_finding(rep: AnalysisReport, platform: str) -> Finding:
    L, p = rep.loudness, platform_row(rep, platform)
    led = Ledger()
    fid = "loudness"
    if L.integrated_lufs is None or p.delta_lu is None:
        return Finding(id=fid, topic="loudness", severity="low", title="Loudness not measurable",
                       detail="The mix never rises above the loudness gate, so no integrated "
                              "loudness could be measured.")
    i_txt = led.num(L.integrated_lufs, tool="loudness", quantity="integrated_lufs", unit="LUFS")
    t_txt = led.num(p.target_lufs, tool="loudness", quantity=f"{p.name}.target_lufs", unit="LUFS", decimals=0)
    d = p.delta_lu
    head = f"Integrated loudness is {i_txt}; {p.label} plays music at {t_txt}"
    if abs(d) <= LOUDNESS_OK_LU:
        detail = f"{head}, and this mix is {led.mag(d, tool='loudness', quantity=f'{p.name}.delta_lu', unit='LU')} from it."
        return Finding(id=fid, topic="loudness", severity="ok", title=f"Loudness on target for {p.label}",
                       detail=detail, evidence=led.items)
    g = p.gain_change_db or 0.0
    if d > 0:
        detail = (f"{head}, so it is {led.mag(d, tool='loudness', quantity=f'{p.name}.delta_lu', unit='LU')} louder "
                  f"and {p.label} will turn it down by "
                  f"{led.mag(g, tool='loudness', quantity=f'{p.name}.gain_change_db', unit='dB')}.")
        action = (f"Nothing to gain from the extra level on {p.label}: if the limiter is working hard to get "
                  f"here, you can back it off by up to "
                  f"{led.mag(d, tool='loudness', quantity=f'{p.name}.delta_lu', unit='dB')} and keep the same "
                  f"playback loudness, with more punch.")
        sev = "medium" if d > 5.0 else "low"
        return Finding(id=fid, topic="loudness", severity=sev, title=f"Louder than {p.label} plays it",
                       detail=detail, action=action, evidence=led.items)
    # quieter than the target: how far the platform's normalisation closes the gap
    shortfall = -d - max(0.0, g)  # rule: what remains under the target after normalisation
    detail = (f"{head}, so it is {led.mag(d, tool='loudness', quantity=f'{p.name}.delta_lu', unit='LU')} quieter.")
    if g >= 0.05:
        detail += (f" {p.label} turns it up by {led.num(g, tool='loudness', quantity=f'{p.name}.gain_change_db', unit='dB')}"
                   + (" (as far as its true-peak ceiling allows)." if shortfall >= 0.05 else "."))
    else:
        detail += f" {p.label} will not turn it up."
    if shortfall < 0.5:
        return Finding(id=fid, topic="loudness", severity="ok", title=f"Loud enough for {p.label}",
                       detail=detail, evidence=led.items)
    sf_txt = led.num(shortfall, tool="rule:platform_shortfall", quantity=f"{p.name}.shortfall_db "
                     "(target - loudness after normalisation)", unit="dB")
    detail += f" It will play {sf_txt} quieter than tracks mastered to the target."
    action = (f"Raise the level into the master limiter by about {sf_txt} (towards {t_txt} integrated), "
              f"keeping the true peak at or below "
              f"{led.num(p.ceiling_dbtp, tool='loudness', quantity=f'{p.name}.ceiling_dbtp', unit='dBTP', decimals=0)}.")
    return Finding(id=fid, topic="loudness", severity="medium" if shortfall >= 3.0 else "low",
                   title=f"Quieter than {p.label} plays music", detail=detail, action=action,
                   evidence=led.items)


def true_peak_finding(rep: AnalysisReport, platform: str) -> Finding:
    L, p = rep.loudness, platform_row(rep, platform)
    led = Ledger()
    tp = L.true_peak_dbtp
    tp_txt = led.num(tp, tool="loudness", quantity="true_peak_dbtp", unit="dBTP")
    c_txt = led.num(p.ceiling_dbtp, tool="loudness", quantity=f"{p.name}.ceiling_dbtp", unit="dBTP", decimals=0)
    if tp <= p.ceiling_dbtp:
        return Finding(id="true_peak", topic="true_peak", severity="ok", title="True peak under the ceiling",
                       detail=f"True peak {tp_txt}, under the {c_txt} ceiling {p.label} recommends for "
                              "lossy encoding.", evidence=led.items)
    over = tp - p.ceiling_dbtp
    detail = (f"True peak {tp_txt}, above the {c_txt} ceiling {p.label} recommends: the lossy encoders "
              "used for streaming can clip these overs.")
    action = (f"Lower the limiter's output ceiling by "
              f"{led.num(over, tool='rule:true_peak_over_ceiling', quantity='true_peak_dbtp - ceiling_dbtp', unit='dB')} "
              f"(to {c_txt}) and switch the limiter to true-peak (oversampled) detection.")
    return Finding(id="true_peak", topic="true_peak", severity="medium" if tp > TRUE_PEAK_WORTH_DBTP else "low",
                   title="True peak above the streaming ceiling", detail=detail, action=action,
                   evidence=led.items)


def clipping_finding(rep: AnalysisReport) -> Finding:
    C = rep.dynamics.clipping
    led = Ledger()
    if C.runs == 0:
        return Finding(id="clipping", topic="clipping", severity="ok", title="No clipping",
                       detail="No run of samples stuck at the peak level.")
    runs = led.num(C.runs, tool="dynamics", quantity="clipping.runs", unit="", decimals=0)
    samples = led.num(C.clipped_samples, tool="dynamics", quantity="clipping.clipped_samples", decimals=0)
    longest = led.num(C.longest_run_samples, tool="dynamics", quantity="clipping.longest_run_samples", decimals=0)
    kind = "at full scale" if C.mode == "full_scale" else "flat-topped at the file's maximum"
    w = C.worst_runs[0] if C.worst_runs else None
    where = (f", the longest at {led.num(w.start_s, tool='dynamics', quantity='clipping.worst_runs[0].start_s', unit='s', decimals=2)}"
             if w else "")
    detail = (f"{runs} {'run' if C.runs == 1 else 'runs'} of clipped samples {kind} ({samples} samples; "
              f"longest run {longest} samples{where}).")
    action = ("Pull the master (or the limiter's input) down until no sample reaches full scale, or "
              "re-render from the unclipped session: flat tops cannot be repaired by turning the file "
              "down afterwards.")
    regions = [(w.start_s, round(w.start_s + max(w.duration_s, 0.05), 3)) for w in C.worst_runs]
    sev = "high" if C.runs >= 10 or C.clipped_pct >= 0.01 else "medium"
    return Finding(id="clipping", topic="clipping", severity=sev, title="Clipping", detail=detail,
                   action=action, evidence=led.items, regions_s=regions)


def dynamics_finding(rep: AnalysisReport) -> Finding:
    D = rep.dynamics
    led = Ledger()
    parts = []
    if D.psr_db is not None:
        parts.append(f"PSR (true peak minus the loudest short-term loudness) "
                     f"{led.num(D.psr_db, tool='dynamics', quantity='psr_db', unit='dB')}")
    if D.crest_factor_db is not None:
        parts.append(f"crest factor {led.num(D.crest_factor_db, tool='dynamics', quantity='crest_factor_db', unit='dB')}")
    detail = cap(", ".join(parts)) if parts else "Too short or quiet for crest factor and PSR"
    sev, title, action = "ok", "Dynamics", None
    if D.psr_db is not None and D.psr_db < PSR_LIMITED_DB:
        crushed = D.psr_db < PSR_CRUSHED_DB
        sev = "medium" if crushed else "low"
        title = "Crushed by limiting" if crushed else "Heavily limited"
        detail += (": the loudest passage is limited very hard." if crushed
                   else ": heavily limited for a mix.")
        action = (f"Ease off the master limiter or bus compression until the PSR is at least "
                  f"{led.num(PSR_LIMITED_DB, tool='reference:psr_guidance', quantity='psr_limited_below_db', unit='dB', decimals=0)}; "
                  "transients (kick, snare) will come back.")
    else:
        title = "Dynamics intact"
        detail += ": transients are intact." if D.psr_db is not None else "."
    if D.dc.flagged:
        worst = max(D.dc.channels, key=lambda c: c.offset_dbfs)
        level = led.num(worst.offset_dbfs, tool="dynamics", quantity=f"dc.channels[{worst.channel}].offset_dbfs",
                        unit="dBFS")
        if worst.offset_dbfs > DC_MATTERS_DBFS:
            detail += f" There is a DC offset of {level} on at least one channel: it costs headroom and clicks at edits."
            action = (action + " " if action else "") + "Remove the DC offset with a gentle high-pass filter."
            if sev == "ok":
                sev, title = "low", "DC offset"
        else:
            detail += f" A small DC offset ({level}) is present, too small to matter."
    return Finding(id="dynamics", topic="dynamics", severity=sev, title=title, detail=detail,
                   action=action, evidence=led.items)


# --------------------------------------------------------------------------- spectrum

def _region_sentence(led: Ledger, g, tool: str = "spectrum") -> str:
    rng = led.hz_range(g.lo_hz, g.hi_hz, tool=tool, quantity=f"regions.{g.name}")
    dev = led.num(g.deviation_db, tool=tool, quantity=f"regions.{g.name}.deviation_db", unit="dB", signed=True)
    p10 = led.num(g.target_p10_db - g.target_db, tool="rule:target_range_vs_mean",
                  quantity=f"regions.{g.name}.p10 - mean", unit="dB", signed=True)
    p90 = led.num(g.target_p90_db - g.target_db, tool="rule:target_range_vs_mean",
                  quantity=f"regions.{g.name}.p90 - mean", unit="dB", signed=True)
    return (f"the {region_word(g.name)} region ({rng}) is at {dev} against the professional target mean, "
            f"outside the usual spread of professional mixes (p10 at {p10} and p90 at {p90} around that mean)")


def _eq_action(led: Ledger, verb: str, excess_db: float, quantity: str, where: str, how: str,
               middle_db: float | None = None) -> str:
    """The EQ move for a region or band ``excess_db`` outside the professional range: that much
    (to the range's edge), or, past :data:`MAX_EQ_MOVE_DB`, at most that while the source is checked.
    ``middle_db`` (broad moves): the move into the middle half of professional mixes, which makes
    the advice a range ("cut 1.2-3.5 dB"), its top capped at :data:`MAX_EQ_MOVE_DB`."""
    if excess_db <= MAX_EQ_MOVE_DB:
        amount = led.num(excess_db, tool="rule:eq_move_to_range_edge",
                         quantity=f"{quantity}: distance to the professional range's edge", unit="dB")
        top = None if middle_db is None else min(middle_db, MAX_EQ_MOVE_DB)
        if top is None or top - excess_db < 0.5:
            return f"{verb} about {amount} {where} with {how}, to bring it inside the range professional mixes span."
        upper = led.num(top, tool="rule:eq_move_to_quartile_edge",
                        quantity=f"{quantity}: distance to the professional quartile edge (capped)", unit="dB")
        return (f"{verb} {amount.removesuffix(' dB')}-{upper} {where} with {how}: the smaller {verb.lower()} "
                "brings it inside the range professional mixes span, the larger into their middle half.")
    gap = led.num(excess_db, tool="rule:eq_move_to_range_edge",
                  quantity=f"{quantity}: distance to the professional range's edge", unit="dB")
    most = led.num(MAX_EQ_MOVE_DB, tool="rule:eq_move_to_range_edge", quantity="largest EQ move suggested",
                   unit="dB", decimals=0)
    why = ("a dull, lossy or band-limited recording, or a missing part" if verb == "Boost"
           else "a part far too loud, a resonance, or a boost elsewhere in the chain")
    return (f"It sits {gap} outside the range professional mixes span, more than EQ should close: check the "
            f"source first ({why}); meanwhile {verb.lower()} at most {most} {where} with {how}.")


def _region_action(led: Ledger, g, shift_db: float = 0.0) -> str:
    """The EQ move for region ``g`` to its professional range's edge; ``shift_db``: the level
    change the suggested balance moves make first (:func:`after_moves_region`)."""
    dev = g.deviation_db + shift_db
    over = dev > 0
    edge = (g.target_p90_db if over else g.target_p10_db) - g.target_db
    rng = led.hz_range(g.lo_hz, g.hi_hz, tool="spectrum", quantity=f"regions.{g.name}")
    quantity = f"regions.{g.name}" + (" after the suggested balance moves" if shift_db else "")
    quartile = edge * QUARTILE_OF_DECILE
    return _eq_action(led, "Cut" if over else "Boost", abs(dev - edge), quantity,
                      f"across {rng} (the {region_word(g.name)})", "a broad bell or shelf",
                      middle_db=abs(dev - quartile))


SHIFT_WORTH_DB = 0.5  # a balance move that changes a region by less than this is not part of its story


def after_moves_region(led: Ledger, g, after: MovesSpectrum | None) -> tuple[str, float, bool] | None:
    """Where an out-of-range region lands once the suggested balance moves are made.

    Returns ``(sentence, shift_db, inside)``: the sentence (the moves and the region's deviation
    after them, both recorded as evidence), the region's measured level change, and whether it
    lands inside the professional p10..p90 range; None when the moves barely touch the region
    (under :data:`SHIFT_WORTH_DB`) or nothing was measured."""
    if after is None or g.name not in after.region_shift_db or g.deviation_db is None or g.target_p10_db is None:
        return None
    shift = after.region_shift_db[g.name]
    if abs(shift) < SHIFT_WORTH_DB:
        return None
    level = g.level_db + shift
    inside = g.target_p10_db <= level <= g.target_p90_db
    moves = " and ".join(
        f"{_move_words(role, gain)} by " + led.num(abs(gain), tool="rule:joint_balance",
                                                   quantity=f"{role}.suggested move", unit="dB")
        for role, gain in after.gains_db.items())
    dev = led.num(level - g.target_db, tool="whatif",
                  quantity=f"regions.{g.name}.deviation_db after the suggested balance moves", unit="dB", signed=True)
    sentence = (f"with the suggested balance move ({moves}) it would measure {dev} against the mean, "
                + ("inside the range" if inside else "still outside the range"))
    return sentence, shift, inside


def _eq_after_moves_action(led: Ledger, g, moved: tuple[str, float, bool]) -> str:
    _, shift, inside = moved
    if inside:
        return "Make the balance move first: no EQ is needed here once it is made."
    eq = _region_action(led, g, shift)
    return "Make the balance move first, then " + eq[0].lower() + eq[1:]


def region_excess_db(g) -> float:
    """How far a region's level lies outside the professional p10..p90 range (0 inside), dB."""
    if g.target_p10_db is None or g.target_p90_db is None or g.level_db is None:
        return 0.0
    return max(0.0, g.level_db - g.target_p90_db, g.target_p10_db - g.level_db)


def worth_fixing_region(g) -> bool:
    """Beyond the professional range by more than :data:`REGION_WORTH_SD` of its spread."""
    return bool(g.target_sd_db) and region_excess_db(g) > REGION_WORTH_SD * g.target_sd_db


def empty_above_hz(rep: AnalysisReport) -> float | None:
    """The cutoff of a band-limited (lossy or low-passed) source, else None."""
    bw = rep.bandwidth
    return bw.cutoff_hz if bw is not None and bw.band_limited else None


def _has_content(lo_hz: float, hi_hz: float, deviation_db: float | None, cutoff: float | None) -> bool:
    """False for a deficit in a range that reaches above a band-limited source's cutoff: boosting
    there would boost nothing (no advice from empty bands)."""
    return cutoff is None or hi_hz <= cutoff or (deviation_db or 0.0) > 0


def bandwidth_finding(rep: AnalysisReport) -> Finding | None:
    cutoff = empty_above_hz(rep)
    if cutoff is None:
        return None
    led = Ledger()
    at = led.hz(cutoff, tool="bandwidth", quantity="cutoff_hz")
    cliff = led.num(rep.bandwidth.cliff_db, tool="bandwidth", quantity="cliff_db", unit="dB", decimals=0)
    return Finding(id="bandwidth", topic="spectrum", severity="low", title=f"No content above {at}",
                   detail=f"The spectrum ends at about {at} with a {cliff} cliff: a lossy (MP3, AAC) or low-passed "
                          "file, so the top end is judged only up to there.",
                   action="If this is your master, export it again as WAV or FLAC from the session: a lossy copy "
                          "has already lost its top end.", evidence=led.items)


def _inside_after_moves(g, after: MovesSpectrum | None) -> bool:
    """A mildly off region that the suggested balance moves bring inside its range (left to them)."""
    moved = after_moves_region(Ledger(), g, after)
    return moved is not None and moved[2]


def spectrum_findings(rep: AnalysisReport, after: MovesSpectrum | None = None) -> list[Finding]:
    S = rep.spectrum
    out: list[Finding] = []
    if S.target_name is None:
        return out
    cutoff = empty_above_hz(rep)
    region = {g.name: g for g in S.regions}
    flagged_regions = {s.name for s in S.issues if s.kind == "region" and s.name not in LOW_END_REGIONS
                       and worth_fixing_region(region[s.name])
                       and _has_content(region[s.name].lo_hz, region[s.name].hi_hz, region[s.name].deviation_db, cutoff)}
    for s in S.issues:
        if s.kind == "region":
            if s.name not in flagged_regions:
                continue
            g = next(x for x in S.regions if x.name == s.name)
            led = Ledger()
            detail = cap(_region_sentence(led, g))
            action = _region_action(led, g)
            severity = "medium"
            moved = after_moves_region(led, g, after)
            if moved is not None:
                detail += "; " + moved[0]
                action = _eq_after_moves_action(led, g, moved)
                if moved[2]:
                    severity = "low"  # the balance finding carries the fix
            word = "Too much" if g.deviation_db > 0 else "Too little"
            out.append(Finding(id=f"spectrum:{g.name}", topic="spectrum", severity=severity,
                               title=f"{word} {region_word(g.name)}", detail=detail + ".", action=action,
                               evidence=led.items))
        else:
            if not _has_content(s.lo_hz, s.hi_hz, s.deviation_db, cutoff):
                continue
            led = Ledger()
            at = led.hz(float(s.name), tool="spectrum", quantity=f"bands.{s.name}.nominal_hz")
            dev = led.num(s.deviation_db, tool="spectrum", quantity=f"bands.{s.name}.deviation_db", unit="dB", signed=True)
            word = "peak" if s.deviation_db > 0 else "dip"
            verb = "Cut" if s.deviation_db > 0 else "Boost"
            excess = max(0.0, abs(s.deviation_db) - BAND_RANGE_SD * s.target_sd_db)
            topic = "low_end" if s.hi_hz <= 250.0 else "spectrum"
            out.append(Finding(
                id=f"{topic}:band:{s.name}", topic=topic, severity="low",
                title=f"Narrow {word} in the spectrum",
                detail=f"A narrow {word}: the band at {at} is at {dev} against the professional target, far "
                       "more than the bands around it.",
                action=_eq_action(led, verb, excess, f"bands.{s.name}", f"at {at}", "a narrow (third-octave) bell"),
                evidence=led.items))
    mild = [g for g in S.regions if g.outside_target_range and g.name not in flagged_regions
            and g.name not in LOW_END_REGIONS and g.deviation_db is not None
            and _has_content(g.lo_hz, g.hi_hz, g.deviation_db, cutoff)
            and not _inside_after_moves(g, after)]
    if mild:
        mild.sort(key=lambda g: -abs(g.deviation_db))
        led = Ledger()
        sentences, actions = [], []
        for g in mild[:2]:
            moved = after_moves_region(led, g, after)
            sentences.append(_region_sentence(led, g) + ("" if moved is None else "; " + moved[0]))
            actions.append(_region_action(led, g) if moved is None else _eq_after_moves_action(led, g, moved))
        out.append(Finding(id="spectrum:mild", topic="spectrum", severity="low",
                           title="Tonal balance slightly off the professional range",
                           detail=cap("; ".join(sentences)) + ".", action=" ".join(actions),
                           evidence=led.items))
    bw = bandwidth_finding(rep)
    if bw is not None:
        out.append(bw)
    tilt, lo, hi = S.tilt_db_per_oct, S.target_tilt_p10_db_per_oct, S.target_tilt_p90_db_per_oct
    if tilt is not None and lo is not None and hi is not None and not (lo <= tilt <= hi) and not out:
        led = Ledger()
        dark = tilt < lo
        t_txt = led.num(tilt, tool="spectrum", quantity="tilt_db_per_oct", unit="dB/oct", decimals=2, signed=True)
        r_lo = led.num(lo, tool="spectrum", quantity="target_tilt_p10_db_per_oct", unit="dB/oct", decimals=2,
                       signed=True)
        r_hi = led.num(hi, tool="spectrum", quantity="target_tilt_p90_db_per_oct", unit="dB/oct", decimals=2, signed=True)
        out.append(Finding(
            id="spectrum:tilt", topic="spectrum", severity="low",
            title="Darker than most professional mixes" if dark else "Brighter than most professional mixes",
            detail=f"The spectral tilt is {t_txt}; professional mixes mostly lie between p10 at {r_lo} and "
                   f"p90 at {r_hi}.",
            action=("Add a gentle high-shelf boost (or trim the lows) to open the top end." if dark
                    else "Tame the top end with a gentle high-shelf cut (or add some low-mid warmth)."),
            evidence=led.items))
    if not out:
        rel = [g for g in S.regions if g.deviation_db is not None]
        led = Ledger()
        detail = "Every region sits within the usual range of professional mixes"
        if rel:
            big = max(rel, key=lambda g: abs(g.deviation_db))
            detail += (f"; the largest deviation is the {region_word(big.name)} at "
                       f"{led.num(big.deviation_db, tool='spectrum', quantity=f'regions.{big.name}.deviation_db', unit='dB', signed=True)}")
        out.append(Finding(id="spectrum", topic="spectrum", severity="ok", title="Tonal balance",
                           detail=detail + ".", evidence=led.items))
    return out


def low_end_finding(rep: AnalysisReport, sol: BalanceMoves | None = None,
                    after: MovesSpectrum | None = None) -> Finding:
    S, T = rep.spectrum, rep.stereo
    led = Ledger()
    problems, actions = [], []
    sev = "ok"
    measured_moves = False  # the suggested balance moves were applied and the low end measured again
    for g in S.regions:
        if g.name in LOW_END_REGIONS and g.outside_target_range and g.deviation_db is not None:
            moved = after_moves_region(led, g, after)
            if moved is None:
                problems.append(_region_sentence(led, g))
                actions.append(_region_action(led, g))
                sev = "medium" if worth_fixing_region(g) else ("low" if sev == "ok" else sev)
                continue
            measured_moves = True
            problems.append(_region_sentence(led, g) + "; " + moved[0])
            action = _eq_after_moves_action(led, g, moved)
            if action not in actions:  # both low-end regions cured by the same move: said once
                actions.append(action)
            sev = "low" if moved[2] else ("medium" if worth_fixing_region(g) else "low")
    le = T.low_end
    if le.status == "fail":
        hi = led.hz(le.hi_hz, tool="stereo", quantity="low_end.hi_hz")
        corr = ("undefined (a channel does not vary)" if le.correlation is None else
                led.num(le.correlation, tool="stereo", quantity="low_end.correlation", decimals=2, signed=True))
        side = ("" if le.side_to_mid_db is None else ", side level at " + led.num(
            le.side_to_mid_db, tool="stereo", quantity="low_end.side_to_mid_db", unit="dB", signed=True) + " against the mid")
        if le.off_centre:
            problems.append(f"the low end below {hi} is off-centre: in phase (correlation {corr}) but louder on "
                            f"one side{side}")
            actions.append(f"Pan the bass and kick to the centre, or balance the two channels below {hi}.")
            sev = "medium"
        elif le.correlation is not None and le.correlation >= LOW_END_WORTH_CORR:
            problems.append(f"the low end below {hi} carries some stereo width (correlation {corr}{side}): "
                            "it folds to mono with little loss, though a club system or a vinyl cut would want it mono")
            actions.append(f"If the track is meant for clubs or vinyl, narrow everything below {hi} to mono.")
            sev = "low" if sev == "ok" else sev
        else:
            problems.append(f"the low end below {hi} is not mono-safe (correlation {corr}{side})")
            actions.append(f"Make everything below {hi} mono (mid/side EQ or a mono-maker on the bass and kick).")
            sev = "medium"
    excess = any(g.name in LOW_END_REGIONS and g.outside_target_range and (g.deviation_db or 0.0) > 0
                 for g in S.regions)
    roles = {st.name: st.role or st.name for st in rep.stem_balance.stems} if rep.stem_balance else {}
    lowered = [m for m in (sol.moves if sol is not None else []) if m.gain_db < 0
               and roles.get(m.stem) in ("bass", "drums")]
    if excess and lowered and not measured_moves:
        # the hot low end is the balance problem seen in the spectrum: one story, one fix first
        who = " and ".join(stem_word(m.stem) for m in lowered)
        problems.append(f"much of this excess is {who} being too loud (see the balance finding)")
        actions.insert(0, f"Lower {who} first and measure again; EQ only what remains.")
        if sev == "medium" and le.status != "fail":
            sev = "low"
    if problems:
        return Finding(id="low_end", topic="low_end", severity=sev, title="Low end needs attention",
                       detail=cap("; ".join(problems)) + ".", action=" ".join(actions), evidence=led.items)
    parts = []
    for g in S.regions:
        if g.name in LOW_END_REGIONS and g.deviation_db is not None:
            parts.append(f"{region_word(g.name)} at {led.num(g.deviation_db, tool='spectrum', quantity=f'regions.{g.name}.deviation_db', unit='dB', signed=True)}")
    detail = "Sub-bass and bass sit within the professional range"
    if parts:
        detail += f" ({', '.join(parts)} against the target mean)"
    if le.status == "pass":
        detail += (f", and the low end below {led.hz(le.hi_hz, tool='stereo', quantity='low_end.hi_hz')} "
                   "is mono-safe")
    return Finding(id="low_end", topic="low_end", severity="ok", title="Low end", detail=detail + ".",
                   evidence=led.items)


# --------------------------------------------------------------------------- stereo

def stereo_finding(rep: AnalysisReport) -> Finding:
    T = rep.stereo
    led = Ledger()
    if T.mono_input:
        return Finding(id="stereo", topic="stereo", severity="ok", title="Mono file",
                       detail="The file is mono: no stereo image, and it folds down to mono unchanged.")
    if T.correlation is None:
        return Finding(id="stereo", topic="stereo", severity="ok", title="Stereo image",
                       detail="Silent: no stereo image to judge.")
    corr = led.num(T.correlation, tool="stereo", quantity="correlation", decimals=2, signed=True)
    if T.side_to_mid_db is not None and T.side_to_mid_db <= -RATIO_LIMIT_DB:  # the tool's dual-mono rule
        return Finding(id="stereo", topic="stereo", severity="low", title="Dual mono: no stereo image",
                       detail=f"The two channels are identical (correlation {corr}): the mix plays as mono "
                              "in stereo, with no width at all.",
                       action="If it should be stereo, check the export (a mono bounce or a mono master "
                              "bus), then pan or widen some elements (pads, guitars, reverbs); keep the "
                              "bass, kick and lead vocal in the centre.",
                       evidence=led.items)
    fold = (led.num(T.fold_down_loss_db, tool="stereo", quantity="fold_down_loss_db", unit="dB")
            if T.fold_down_loss_db is not None else None)
    problems, actions, regions = [], [], []
    sev = "ok"
    if T.correlation < OUT_OF_PHASE:
        problems.append(f"the channels are largely out of phase (correlation {corr}"
                        + (f"; it loses {fold} in mono)" if fold else ")"))
        actions.append("Check the polarity of each track and any stereo-widening plug-ins.")
        sev = "high"
    elif T.fold_down_loss_db is not None and T.fold_down_loss_db >= FOLD_LOSS_WARN_DB:
        problems.append(f"very wide: it loses {fold} when folded to mono (correlation {corr})")
        actions.append("Narrow the widest elements (wideners, Haas delays) until the mono fold-down "
                       "loses less.")
        sev = "medium"
    bad = [g for g in T.regions if g.correlation is not None and g.correlation < OUT_OF_PHASE]
    if bad and T.correlation >= OUT_OF_PHASE:
        g = min(bad, key=lambda g: g.correlation)
        problems.append(
            f"the {region_word(g.name)} ({led.hz_range(g.lo_hz, g.hi_hz, tool='stereo', quantity=f'regions.{g.name}')}) "
            f"are out of phase (correlation "
            f"{led.num(g.correlation, tool='stereo', quantity=f'regions.{g.name}.correlation', decimals=2, signed=True)})")
        actions.append(f"Find the track carrying the {region_word(g.name)} out of phase (a widener or a flipped "
                       "polarity) and fix it.")
        sev = "medium" if sev == "ok" else sev
    st = T.short_term
    if st.correlation_min is not None and st.correlation_min < ST_ANTI_PHASE and T.correlation >= OUT_OF_PHASE:
        at = led.num(st.worst_at_s, tool="stereo", quantity="short_term.worst_at_s", unit="s")
        problems.append(
            f"anti-phase moments: the short-term correlation drops to "
            f"{led.num(st.correlation_min, tool='stereo', quantity='short_term.correlation_min', decimals=2, signed=True)} "
            f"at {at}")
        actions.append(f"Listen around {at} in mono for the element that disappears.")
        regions.append((st.worst_at_s, round(st.worst_at_s + st.window_s, 3)))
        sev = "low" if sev == "ok" else sev
    if problems:
        return Finding(id="stereo", topic="stereo", severity=sev, title="Stereo image problems",
                       detail=cap("; ".join(problems)) + ".", action=" ".join(actions),
                       evidence=led.items, regions_s=regions)
    width = (led.num(T.width_ratio, tool="stereo", quantity="width_ratio", decimals=2)
             if T.width_ratio is not None else None)
    detail = f"Correlation {corr}" + (f", width {width}" if width else "") + (
        f", mono fold-down loses {fold}" if fold else "") + ": no phase problems, and it folds to mono safely."
    return Finding(id="stereo", topic="stereo", severity="ok", title="Stereo image", detail=detail,
                   evidence=led.items)


# --------------------------------------------------------------------------- balance

def separated_note(led: Ledger, st) -> str:
    """' (separated from the mix, about ±1.1 dB)' for a stem separated from a bounced mix
    (the separator's typical level error for this stem and level), else ''."""
    if getattr(st, "separation_error_db", None) is None:
        return ""
    err = led.num(st.separation_error_db, tool="separation", quantity=f"{st.name}.typical_level_error_db", unit="dB")
    return f" (separated from the mix, about ±{err})"


def balance_stem_sentence(led: Ledger, st) -> str:
    """'The vocals sit at -14.2 dB against the rest of the mix; in professional mixes they range
    from p10 at -8.8 dB to p90 at -1.5 dB' for a StemLevel with a vs-rest comparison. Signed
    numbers follow a level word ("at"), so the benchmark's advice parser never reads them as
    gain moves. A separated stem says so, with its typical error."""
    c = st.vs_rest
    role = st.role or st.name
    val = led.num(c.value_db, tool="stem_balance", quantity=f"{st.name}.level_vs_rest_power_sum_db", unit="dB")
    text = (f"{cap(stem_word(role))} {_verb(role, 'sits', 'sit')} at {val} against the rest of the mix"
            + separated_note(led, st))
    if c.reference is not None:
        p10 = led.num(c.reference.p10_db, tool="stem_balance", quantity=f"{st.name}.reference.p10_db", unit="dB")
        p90 = led.num(c.reference.p90_db, tool="stem_balance", quantity=f"{st.name}.reference.p90_db", unit="dB")
        text += (f"; in professional mixes {'they range' if _plural(role) else 'it ranges'} from p10 at "
                 f"{p10} to p90 at {p90}")
    return text


def balance_action(led: Ledger, st) -> str:
    role = st.role or st.name
    verb = "Raise" if st.status == "too_quiet" else "Lower"
    amount = led.rng(st.suggested_gain_min_db or 0.0, st.suggested_gain_db or 0.0, tool="stem_balance",
                     quantity=f"{st.name}.suggested_gain (to the p25-p75 range .. to the median)")
    text = f"{verb} {stem_word(role)} by {amount} (the smaller move reaches the middle half of professional mixes, the larger their median)."
    if st.is_anchor:  # only a user-chosen anchor reaches the report (see nodes.measure)
        text += (f" {cap(stem_word(role))} {_verb(role, 'is', 'are')} your anchor: moving every other stem the "
                 "opposite way by the same amount does the same.")
    return text


def _names(roles: list[str]) -> str:
    words = [stem_word(r) for r in roles]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _move_words(role: str, gain_db: float) -> str:
    return f"{'raising' if gain_db > 0 else 'lowering'} {stem_word(role)}"


def joint_move_action(led: Ledger, st, move, others: list[str]) -> str:
    """The move of :func:`~.balance_moves.solve_moves` for one stem, as a range: the smaller end
    brings every stem inside the professional range, the larger puts this one at the median."""
    role = st.role or st.name
    verb = "Raise" if move.gain_db > 0 else "Lower"
    amount = led.rng(move.gain_db, move.gain_max_db, tool="rule:joint_balance",
                     quantity=f"{st.name}.move (every stem in range .. this stem at the median)")
    rest = f" together with {' and '.join(others)}" if others else ""
    text = (f"{verb} {stem_word(role)} by {amount}{rest} (the smaller move brings every stem inside the "
            "professional range, the larger puts " + ("them" if _plural(role) else "it") + " at the professional median).")
    if st.is_anchor:  # only a user-chosen anchor reaches the report (see nodes.measure)
        text += (f" {cap(stem_word(role))} {_verb(role, 'is', 'are')} your anchor: moving every other stem the "
                 "opposite way by the same amount does the same.")
    return text


def stem_balance_advice(led: Ledger, rep: AnalysisReport, st) -> str:
    """What to do about one stem's level, from the same joint solution as the review: its move
    (with the other moves), "no move of its own" for a stem that reads outside its range only
    because of the stems that move, or nothing to change."""
    sol = joint_moves(rep.stem_balance)
    by_name = {x.name: x for x in rep.stem_balance.stems}
    moves = {m.stem: m for m in sol.moves} if sol is not None else {}
    if st.name in moves:
        return joint_move_action(led, st, moves[st.name], moves_words(sol, by_name, but=st.name))
    role = st.role or st.name
    if sol is not None and st.name in sol.follow:
        cause = " and ".join(moves_words(sol, by_name))
        return (f"No move of {_verb(role, 'its', 'their')} own: {_verb(role, 'it reads', 'they read')} outside the "
                f"range only because of the other stems, and {cause} brings {_verb(role, 'it', 'them')} inside.")
    if st.status == "within_range" or sol is not None:
        return "Within the professional range: no change needed."
    return balance_action(led, st)


def joint_moves(sb: StemBalanceResult | None) -> BalanceMoves | None:
    """The smallest set of stem moves that puts every stem of a stem balance in range
    (:mod:`.balance_moves`, the anchor moved last), or None without stems or a solution."""
    if sb is None:
        return None
    sol = solve_moves(sb, anchor=sb.anchor)
    return sol if sol is not None and sol.in_range_after else None


def moves_words(sol: BalanceMoves, by_name: dict, but: str | None = None) -> list[str]:
    """"lowering the bass", "raising the vocals"... for the moves of ``sol`` other than ``but``."""
    return [_move_words(by_name[m.stem].role or m.stem, m.gain_db) for m in sol.moves
            if m.stem != but and m.stem in by_name]


def missing_stem_text(role: str) -> str:
    """Why a stem separated from the mix came out (nearly) silent, and what to do."""
    return (f"The separator found almost no {role} in the loudest stretch of the mix: the mix "
            f"may have none there, {_verb(role, 'it may be', 'they may be')} buried very deep, or the separator "
            f"missed {_verb(role, 'it', 'them')} (a synthetic or heavily processed sound). So "
            f"{_verb(role, 'its', 'their')} level is not measured.")


def missing_stem_finding(st) -> Finding:
    role = st.role or st.name
    return Finding(id=f"balance:{st.name}", topic="balance", severity="low",
                   title=f"{stem_title(role)} not found in the mix (separated)", detail=missing_stem_text(role),
                   action=f"Listen for {stem_word(role)}; if {_verb(role, 'it is', 'they are')} there, give the "
                          "stems for a measurement.", evidence=[])


def balance_findings(rep: AnalysisReport, sol: BalanceMoves | None = None) -> list[Finding]:
    out: list[Finding] = []
    B = rep.stem_balance
    if B is not None:
        judged = [st for st in B.stems if st.status in ("within_range", "too_loud", "too_quiet")]
        joint = sol is not None and bool(sol.moves)
        moves = {m.stem: m for m in sol.moves} if joint else {}
        by_name = {st.name: st for st in B.stems}
        for st in B.stems:
            if joint:
                if st.name not in moves:
                    continue  # in range, or out of range only because of the stems that move
            elif st.status not in ("too_loud", "too_quiet"):
                continue
            role = st.role or st.name
            led = Ledger()
            move = moves.get(st.name)
            status = st.status if move is None else ("too_quiet" if move.gain_db > 0 else "too_loud")
            word = "below" if status == "too_quiet" else "above"
            if st.status in ("too_loud", "too_quiet"):
                dist = led.num(st.distance_db, tool="stem_balance", quantity=f"{st.name}.distance_db", unit="dB")
                detail = f"{balance_stem_sentence(led, st)}, so {_verb(role, 'it is', 'they are')} {dist} {word} that range."
            else:  # inside its range, but moving it is part of the smallest fix for the others
                detail = (f"{balance_stem_sentence(led, st)}; {_verb(role, 'it sits', 'they sit')} at the "
                          f"{'low' if word == 'below' else 'high'} side, and moving {_verb(role, 'it', 'them')} "
                          "is part of the smallest fix for the others.")
            dist_db = st.distance_db or 0.0
            severity = "high" if dist_db >= BALANCE_WORTH_DB else "low"
            title = f"{stem_title(role)} too {'quiet' if status == 'too_quiet' else 'loud'}"
            if move is not None:
                action = joint_move_action(led, st, move, moves_words(sol, by_name, but=st.name))
                follow = [by_name[n] for n in sol.follow if n in by_name]
                if follow and move is sol.moves[0]:
                    roles = [f.role or f.name for f in follow]
                    many = len(roles) > 1 or _plural(roles[0])
                    cause = (f"{stem_word(role)} {_verb(role, 'is', 'are')} too {'quiet' if move.gain_db > 0 else 'loud'}"
                             if len(moves) == 1 else "of these two stems")
                    detail += (f" {cap(_names(roles))} read {'above' if move.gain_db > 0 else 'below'} "
                               f"{'their ranges' if many else 'its range'} only because {cause}: "
                               f"{'they land' if many else 'it lands'} inside once "
                               f"{stem_word(role) + _verb(role, ' comes ', ' come ') + ('up' if move.gain_db > 0 else 'down') if len(moves) == 1 else 'both are moved'}.")
            else:
                action = balance_action(led, st)
            if getattr(st, "separation_suspect", None):
                # the separator and the mix-only estimate disagree about this stem: a hint, not a fix
                severity, title = "low", title.replace(" too ", " may be too ")
                detail += f" But {st.separation_suspect}, so this stem may be badly separated."
                action = f"Check {stem_word(role)} by ear or give stems before moving {_verb(role, 'it', 'them')}."
            elif B.source == "separated":
                title += " (separated)"
                if severity == "high" and (st.distance_db or 0.0) < BALANCE_WORTH_DB + (st.separation_error_db or 0.0):
                    severity = "medium"  # within the separator's error of the "high" line
            out.append(Finding(
                id=f"balance:{st.name}", topic="balance", severity=severity, title=title,
                detail=detail, action=action, evidence=led.items))
        hints = [missing_stem_finding(st) for st in B.stems if B.source == "separated"
                 and st.status == "silent" and (st.role or st.name) in ("vocals", "drums", "bass")]
        if judged and not out:
            out += hints
            hints = []
            led = Ledger()
            parts = [f"{st.role or st.name} at {led.num(st.vs_rest.value_db, tool='stem_balance', quantity=f'{st.name}.level_vs_rest_power_sum_db', unit='dB')}"
                     for st in judged if st.vs_rest is not None and st.vs_rest.value_db is not None]
            how = (" (stems separated from the mix, each level good to about a dB or two)"
                   if B.source == "separated" else "")
            out.append(Finding(id="balance", topic="balance", severity="ok", title="Stem balance",
                               detail="Every judged stem sits within the professional range against the "
                                      f"rest of the mix ({', '.join(parts)}){how}.", evidence=led.items))
        return out + hints
    E = rep.mix_estimate
    if E is None:
        return out
    judged = [s for s in E.stems if s.status != "uncertain"]
    for s in E.stems:
        if s.status not in ("too_loud", "too_quiet"):
            continue
        led = Ledger()
        word = "quiet" if s.status == "too_quiet" else "loud"
        est = led.num(s.estimated_level_vs_mix_db, tool="mix_estimate", quantity=f"{s.role}.estimated_level_vs_mix_db", unit="dB")
        conf = led.num(s.confidence, tool="mix_estimate", quantity=f"{s.role}.confidence", decimals=2)
        dist = led.num(s.distance_db, tool="mix_estimate", quantity=f"{s.role}.distance_db", unit="dB")
        detail = (f"Estimated from the mix alone (no stems; confidence {conf}), {stem_word(s.role)} "
                  f"{_verb(s.role, 'sits', 'sit')} at {est} against the mix, {dist} "
                  f"{'below' if word == 'quiet' else 'above'} the professional range.")
        verb = "raise" if word == "quiet" else "lower"
        out.append(Finding(id=f"balance:{s.role}", topic="balance", severity="low",
                           title=f"{stem_title(s.role)} may be too {word}", detail=detail,
                           action=f"Check it by ear or with stems, then {verb} {stem_word(s.role)}; an estimate "
                                  "from the mix tends to under-size big differences, so give stems to size the move.",
                           evidence=led.items))
    if judged and not out:
        led = Ledger()
        parts = [f"{s.role} at {led.num(s.estimated_level_vs_mix_db, tool='mix_estimate', quantity=f'{s.role}.estimated_level_vs_mix_db', unit='dB')}"
                 for s in judged]
        out.append(Finding(id="balance", topic="balance", severity="ok", title="Stem balance (estimated)",
                           detail="As far as a mix-only estimate can tell, the judged stems sit within the "
                                  f"professional range (estimated level against the mix: {', '.join(parts)}).",
                           evidence=led.items))
    return out


# --------------------------------------------------------------------------- masking

def masking_pair_text(led: Ledger, pair) -> tuple[str, str | None]:
    """(detail, action) for one MaskingPair with its numbers."""
    pct = led.num(pair.masked_pct, tool="masking", quantity=f"{pair.masker}->{pair.target}.masked_pct", unit="%")
    pct = pct.replace(" %", "%")
    detail = (f"{cap(stem_word(pair.masker))} {_verb(pair.masker, 'covers', 'cover')} {stem_word(pair.target)} "
              f"in {pct} of the {pair.target} stem's active time-frequency cells")
    if pair.worst_bands:
        wb = pair.worst_bands[0]
        band = led.hz_range(wb.lower_hz, wb.upper_hz, tool="masking",
                            quantity=f"{pair.masker}->{pair.target}.worst_bands[0]")
        wpct = led.num(wb.masked_pct, tool="masking", quantity=f"{pair.masker}->{pair.target}.worst_bands[0].masked_pct", unit="%")
        detail += f", worst in the {band} band ({wpct.replace(' %', '%')} masked there)"
    if pair.worst_ranges:
        wr = pair.worst_ranges[0]
        a = led.num(wr.start_s, tool="masking", quantity=f"{pair.masker}->{pair.target}.worst_ranges[0].start_s", show_unit=False)
        b = led.num(wr.end_s, tool="masking", quantity=f"{pair.masker}->{pair.target}.worst_ranges[0].end_s", unit="s")
        detail += f", most of all from {a} to {b}"
    action = None
    if pair.remedy_cut_hz is not None:
        q = f"{pair.masker}->{pair.target}"
        cut = led.rng(pair.remedy_cut_min_db, pair.remedy_cut_max_db, tool="masking", quantity=q + ".remedy_cut_db")
        boost = led.rng(pair.remedy_boost_min_db, pair.remedy_boost_max_db, tool="masking", quantity=q + ".remedy_boost_db")
        action = (f"Cut {cut} on {stem_word(pair.masker)} around "
                  f"{led.hz(pair.remedy_cut_hz, tool='masking', quantity=q + '.remedy_cut_hz')} "
                  f"(a medium-width bell) and/or boost {boost} on {stem_word(pair.target)} at "
                  f"{led.hz(pair.remedy_boost_hz, tool='masking', quantity=q + '.remedy_boost_hz')}.")
    return detail + ".", action


@functools.lru_cache(maxsize=1)
def masking_reference() -> dict:
    """The professional masking range per stem pair (``tools/data/masking_reference.json``, built
    by ``tools.data.build_masking_reference`` on half of the MUSDB18 previews)."""
    path = resources.files("mixingbuddy.tools.data").joinpath("masking_reference.json")
    return json.loads(path.read_text())["pairs"]


def masking_severity(pair) -> str | None:
    """"medium" beyond the professional p95 of this pair by :data:`MASKING_WORTH_PTS`, "low" beyond
    its p90, None within what professional mixes show (a pair without a reference: "low" from
    :data:`MASKING_REPORT_PCT`)."""
    ref = masking_reference().get(f"{pair.masker}->{pair.target}")
    if ref is None:
        return "low" if pair.masked_pct >= MASKING_REPORT_PCT else None
    if pair.masked_pct >= ref["p95_pct"] + MASKING_WORTH_PTS:
        return "medium"
    return "low" if pair.masked_pct >= ref["p90_pct"] else None


def masking_findings(rep: AnalysisReport, max_pairs: int = 2) -> list[Finding]:
    M = rep.masking
    if M is None:
        return []
    judged = [p for p in M.pairs if p.masked_pct is not None]
    bad = [p for p in judged if masking_severity(p) is not None]
    out: list[Finding] = []
    seen_targets: set[str] = set()
    for p in bad:
        if p.target in seen_targets:
            continue
        seen_targets.add(p.target)
        led = Ledger()
        detail, action = masking_pair_text(led, p)
        ref = masking_reference().get(f"{p.masker}->{p.target}")
        if ref is not None:
            p90 = led.num(ref["p90_pct"], tool="reference:masking", quantity=f"{p.masker}->{p.target}.p90_pct", unit="%")
            detail += (f" That is more than nine in ten professional mixes show for {stem_word(p.masker)} over "
                       f"{stem_word(p.target)} (p90 at {p90.replace(' %', '%')}).")
        regions = [(w.start_s, w.end_s) for w in p.worst_ranges]
        out.append(Finding(id=f"masking:{p.masker}->{p.target}", topic="masking",
                           severity=masking_severity(p),
                           title=f"{cap(stem_word(p.masker))} {_verb(p.masker, 'masks', 'mask')} {stem_word(p.target)}",
                           detail=detail, action=action, evidence=led.items, regions_s=regions))
        if len(out) >= max_pairs:
            break
    if judged and not out:
        top = judged[0]
        led = Ledger()
        pct = led.num(top.masked_pct, tool="masking", quantity=f"{top.masker}->{top.target}.masked_pct", unit="%")
        out.append(Finding(id="masking", topic="masking", severity="ok", title="Masking as in professional mixes",
                           detail=f"The worst pair, {top.masker} over {top.target}, covers "
                                  f"{pct.replace(' %', '%')} of the {top.target} stem's active cells, within what "
                                  "professional mixes show.",
                           evidence=led.items))
    return out


# --------------------------------------------------------------------------- reference

def reference_finding(rep: AnalysisReport) -> Finding | None:
    R = rep.reference_comparison
    if R is None:
        return None
    led = Ledger()
    notable = sorted((g for g in R.regions if abs(g.difference_db) >= NOTABLE_DIFFERENCE_DB),
                     key=lambda g: -abs(g.difference_db))[:3]
    loud = led.num(R.loudness_delta_lu, tool="reference_compare", quantity="loudness_delta_lu", unit="LU", signed=True)
    if not notable:
        return Finding(id="reference", topic="reference", severity="ok", title="Close to your reference",
                       detail=f"Loudness-matched, every region is within "
                              f"{led.num(NOTABLE_DIFFERENCE_DB, tool='reference:reference_compare', quantity='notable_difference_db', unit='dB', decimals=0)} "
                              f"of your reference (loudness difference {loud}).", evidence=led.items)
    parts, actions = [], []
    for g in notable:
        d = led.mag(g.difference_db, tool="reference_compare", quantity=f"regions.{g.region}.difference_db", unit="dB")
        parts.append(f"the {region_word(g.region)} {d} {'more' if g.difference_db > 0 else 'less'} than the reference")
        half = led.num(abs(g.difference_db) / 2.0, tool="rule:half_the_difference",
                       quantity=f"regions.{g.region}.difference_db / 2", show_unit=False)
        actions.append(f"{'cut' if g.difference_db > 0 else 'boost'} the {region_word(g.region)} by about {half}-{d}")
    return Finding(id="reference", topic="reference", severity="low", title="Different from your reference",
                   detail=f"Loudness-matched against your reference: {'; '.join(parts)} "
                          f"(loudness difference {loud}).",
                   action=cap("; ".join(actions)) + " to get closer.", evidence=led.items)


# --------------------------------------------------------------------------- all

def standing_findings(rep: AnalysisReport, platform: str, after_moves: MovesSpectrum | None = None) -> list[Finding]:
    """Every standing check, ranked (severity, then topic order).

    Notes
    -----
    The references are the tools': platform targets, the -1 dBTP ceiling, the professional
    target curve, the MUSDB18-HQ balance range, the masking threshold. A number that is not
    itself a field of the report is derived by a rule stated where it is made (e.g. "shortfall
    = platform target - loudness after normalisation") and recorded with
    ``tool="rule:<name>"``; reference thresholds are recorded with ``tool="reference:<name>"``.

    Checks (topic: what makes it a problem):

    - loudness: the chosen platform's target (delta, what its normalisation does);
    - true_peak: above the platform's ceiling (-1 dBTP for most: lossy encoding can clip);
    - clipping: runs of clipped samples (``dynamics.clipping``);
    - dynamics: PSR under 8 dB (heavily limited) or 6 dB (crushed); DC offset;
    - spectrum: regions/bands the spectral tool flagged against the target curve; tilt;
    - low_end: sub and bass regions against the target, low-end mono check;
    - stereo: phase, fold-down loss, out-of-phase regions, anti-phase moments;
    - balance: stems outside the professional range (measured with stems, estimated without);
    - masking: stem pairs masking at least 10 % of the target's active cells (with stems);
    - reference: regions differing from the user's reference by at least 2 dB.
    """
    if platform not in PLATFORM_TARGETS:
        platform = "spotify"
    found: list[Finding] = [clipping_finding(rep), true_peak_finding(rep, platform)]
    sol = joint_moves(rep.stem_balance)
    found += balance_findings(rep, sol)
    found.append(loudness_finding(rep, platform))
    found += masking_findings(rep)
    found.append(low_end_finding(rep, sol, after_moves))
    found += spectrum_findings(rep, after_moves)
    found.append(stereo_finding(rep))
    found.append(dynamics_finding(rep))
    ref = reference_finding(rep)
    if ref is not None:
        found.append(ref)
    return rank(found)


def rank(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (SEVERITY_RANK[f.severity], TOPIC_ORDER.index(f.topic)))
