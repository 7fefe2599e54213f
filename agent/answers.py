"""Follow-up answers on the embedded default, worded from the stored analysis.

:func:`agent.intents.route` says what a question asks for (one or more parts, each an intent and
its slots); :func:`answer` words the reply, part by part in the order asked, from the stored
report, findings and claims (or the what-if measurement), formatting every new number through a
Ledger. Only a what-if on a stem needs new tool calls; everything else is read from the review.
"""
from __future__ import annotations

import math

from ..tools.measure.analyze import AnalysisReport
from ..tools.measure.loudness import PLATFORM_TARGETS
from .claims import claim_summary
from .composer import METHOD, finding_bullet
from .findings import (
    MASKING_REPORT_PCT,
    balance_stem_sentence,
    cap,
    masking_pair_text,
    missing_stem_text,
    platform_row,
    region_word,
    stem_balance_advice,
    stem_word,
)
from .numbers import Ledger
from .schema import Claim, Finding

# the review's finding topics behind each intent
TOPIC_OF_INTENT = {"platform": ("loudness", "true_peak"), "masking": ("masking",), "low_end": ("low_end",),
                   "stereo": ("stereo",), "peaks": ("true_peak", "clipping"), "dynamics": ("dynamics",),
                   "dc_offset": ("dynamics",), "spectrum": ("spectrum",), "reference": ("reference",),
                   "balance": ("balance",)}
# where each stem mostly lives in the spectrum (its region of the mix, for "tell me about ...")
STEM_REGION = {"vocals": "presence", "bass": "low", "drums": None, "other": "mid"}
REGION_SAYS = {"sub": "rumble and sub weight", "low": "boom and body", "low_mid": "mud and boxiness",
               "mid": "honk and nasal tone", "presence": "harshness and bite", "brilliance": "sibilance and sizzle",
               "air": "air, or dullness when it is missing"}
OUT_OF_SCOPE = ("I can only talk about this mix and its measurements (loudness, peaks, dynamics, tone, low end, "
                "stereo, the stem balance and masking), so I cannot help with that one.")


# --------------------------------------------------------------------------- answers

class Answer:
    """An answer under construction: lines, its Ledger, and what it was about."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.led = Ledger()
        self.focus: list[str] | None = None
        self.focus_stem: str | None = None

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def text(self) -> str:
        return "\n".join(self.lines).strip() + "\n"


def _method(a: Answer, topics) -> None:
    seen = []
    for t in topics:
        if t in METHOD and t not in seen:
            seen.append(t)
            a.add("", f"How this is measured: {METHOD[t]}")


def answer(rt: dict, state: dict, rep: AnalysisReport, findings: list[Finding], claims: list[Claim],
           tool_result: dict | None = None) -> Answer:
    """The reply to a routed question (``agent.intents.Route.as_state``): each part in the order
    asked, separated by a blank line; a later part sees what an earlier one was about ("what is
    masking the vocals and how do I fix it?")."""
    a = Answer()
    parts = rt.get("parts") or [rt]  # a route stored before agent.intents is one part
    st = dict(state)
    for i, part in enumerate(parts):
        if i:
            a.add("")
        _part(a, dict(part), st, rep, findings, claims, tool_result)
        if a.focus:
            st["focus"] = a.focus
        if a.focus_stem:
            st["focus_stem"] = a.focus_stem
    return a


def _part(a: Answer, rt: dict, state: dict, rep: AnalysisReport, findings: list[Finding], claims: list[Claim],
          tool_result: dict | None) -> None:
    intent = {"stem": "stem_info"}.get(rt.get("intent", "help"), rt.get("intent", "help"))
    if rt.get("why") and intent in TOPIC_OF_INTENT:  # a route stored before agent.intents
        rt, intent = {**rt, "about": intent}, "why"
    fn = {"whatif": _whatif, "platform": _platform, "masking": _masking, "low_end": _low_end,
          "stem_info": _stem, "stem_fix": _stem_fix, "balance": _balance, "spectrum": _spectrum,
          "dc_offset": _dc, "why": _why, "fix": _fix, "fix_first": _fix_first,
          "overview": _overview}.get(intent)
    if fn is not None:
        fn(a, rt, state, rep, findings, claims, tool_result)
    elif intent in TOPIC_OF_INTENT:
        _topic(a, TOPIC_OF_INTENT[intent], findings, why=False, rep=rep)
    elif intent == "out_of_scope":
        a.add(OUT_OF_SCOPE, "")
        _help(a, rep)
    else:
        _help(a, rep)


def _topic(a: Answer, topics, findings: list[Finding], *, why: bool, rep: AnalysisReport) -> None:
    chosen = [f for f in findings if f.topic in topics]
    if not chosen:
        if "reference" in topics:
            a.add("No reference track was given in this conversation; start a review with a reference "
                  "to compare against one.")
        elif "balance" in topics:
            a.add("The stem balance could not be judged here: give the stems for a measurement.")
        else:
            a.add("I have no measurement on that in this conversation.")
        return
    for f in chosen:
        a.add(finding_bullet(f))
    a.focus = [f.id for f in chosen]
    if why:
        _method(a, topics)


def _platform(a: Answer, rt, state, rep, findings, claims, tool_result) -> None:
    key = rt.get("platform") or state.get("platform") or "spotify"
    if key not in PLATFORM_TARGETS:
        key = "spotify"
    L, p = rep.loudness, platform_row(rep, key)
    led = a.led
    if L.integrated_lufs is None or p.delta_lu is None:
        a.add("The mix never rises above the loudness gate, so its integrated loudness (and its fit for "
              f"{p.label}) cannot be measured.")
        return
    i = led.num(L.integrated_lufs, tool="loudness", quantity="integrated_lufs", unit="LUFS")
    t = led.num(p.target_lufs, tool="loudness", quantity=f"{p.name}.target_lufs", unit="LUFS", decimals=0)
    d, g = p.delta_lu, p.gain_change_db or 0.0
    dd = led.mag(d, tool="loudness", quantity=f"{p.name}.delta_lu", unit="LU")
    ceiling = led.num(p.ceiling_dbtp, tool="loudness", quantity=f"{p.name}.ceiling_dbtp", unit="dBTP", decimals=0)
    shortfall = max(0.0, -d - max(0.0, g))
    if abs(d) <= 1.0:
        head = f"Yes. The integrated loudness is {i}, and {p.label} plays music at {t}: this mix is {dd} from it."
    elif d > 0:
        head = (f"Yes. The integrated loudness is {i}, {dd} above {p.label}'s {t}, so {p.label} will turn it "
                f"down by {led.mag(g, tool='loudness', quantity=f'{p.name}.gain_change_db', unit='dB')}; "
                "it will not sound quieter than other tracks there.")
    elif shortfall < 0.5:
        head = (f"Yes. The integrated loudness is {i}, {dd} under {p.label}'s {t}, and {p.label} turns it up "
                f"by {led.num(g, tool='loudness', quantity=f'{p.name}.gain_change_db', unit='dB')}, so it "
                "will play as loud as other tracks.")
    else:
        sf_txt = led.num(shortfall, tool="rule:platform_shortfall",
                         quantity=f"{p.name}.shortfall_db (target - loudness after normalisation)", unit="dB")
        if g >= 0.05:
            how = (f"{p.label} turns it up by only "
                   f"{led.num(g, tool='loudness', quantity=f'{p.name}.gain_change_db', unit='dB')} "
                   f"(its {ceiling} peak ceiling stops it)")
        else:
            how = f"{p.label} will not turn it up"
        head = (f"Not quite. The integrated loudness is {i}, {dd} under {p.label}'s {t}; {how}, so it will play "
                f"{sf_txt} quieter than tracks mastered to the target. To get there, raise the level into the "
                f"master limiter by about {sf_txt} while keeping the true peak at or below {ceiling}.")
    a.add(head)
    tp = led.num(L.true_peak_dbtp, tool="loudness", quantity="true_peak_dbtp", unit="dBTP")
    if L.true_peak_dbtp > p.ceiling_dbtp:
        over = led.num(L.true_peak_dbtp - p.ceiling_dbtp, tool="rule:true_peak_over_ceiling",
                       quantity="true_peak_dbtp - ceiling_dbtp", unit="dB")
        a.add("", f"The true peak is {tp}, above {p.label}'s {ceiling} ceiling: lossy encoding can clip it. "
                  f"Lower the limiter's output ceiling by {over}.")
    else:
        a.add("", f"The true peak is {tp}, under {p.label}'s {ceiling} ceiling.")
    a.focus = ["loudness", "true_peak"]
    if rt.get("why"):
        _method(a, ("loudness", "true_peak"))


def _masking(a: Answer, rt, state, rep, findings, claims, tool_result) -> None:
    M = rep.masking
    target = rt.get("stem")
    if M is None:
        a.add("Masking needs the stems: from the mix alone I cannot tell which instrument covers which. "
              "Start a review with the stems to map it.")
        return
    present = [s.role or s.name for s in (rep.stem_balance.stems if rep.stem_balance else [])]
    if target is not None and target not in present:
        a.add(f"There is no {target} stem in this conversation (stems: {', '.join(present)}).")
        return
    pairs = [p for p in M.pairs if p.masked_pct is not None and (target is None or p.target == target)]
    if not pairs:
        a.add(f"{cap(stem_word(target)) if target else 'No stem'} has no active content to mask.")
        return
    top = pairs[0]
    led = a.led
    a.focus_stem = target
    if top.masked_pct < MASKING_REPORT_PCT:
        pct = led.num(top.masked_pct, tool="masking", quantity=f"{top.masker}->{top.target}.masked_pct", unit="%")
        a.add(f"Little masking{' on ' + stem_word(target) if target else ''}: the worst is {stem_word(top.masker)} "
              f"over {stem_word(top.target)}, covering only {pct.replace(' %', '%')} of its active cells.")
        return
    detail, action = masking_pair_text(led, top)
    a.add(detail)
    if action:
        a.add("", f"To fix it: {action}")
    rest = [p for p in pairs[1:] if p.masked_pct >= MASKING_REPORT_PCT][:2]
    if rest:
        parts = [f"{stem_word(p.masker)} over {stem_word(p.target)} "
                 f"{led.num(p.masked_pct, tool='masking', quantity=f'{p.masker}->{p.target}.masked_pct', unit='%').replace(' %', '%')}"
                 for p in rest]
        a.add("", "Next: " + "; ".join(parts) + ".")
    a.focus = [f.id for f in findings if f.topic == "masking"] or None
    if rt.get("why"):
        _method(a, ("masking",))


def _low_end(a: Answer, rt, state, rep, findings, claims, tool_result) -> None:
    led = a.led
    if rt.get("mono"):  # "is the low end mono?": the mono check first
        a.add(_mono_line(led, rep))
    elif rt.get("region") in ("sub", "low"):  # "too much sub?": that region first
        line = _region_line(led, rep, rt["region"])
        if line:
            a.add(line)
    f = next((x for x in findings if x.topic == "low_end" and x.id == "low_end"), None)
    if f is not None:
        a.add(finding_bullet(f))
    for x in findings:
        if x.topic == "low_end" and x.id != "low_end":
            a.add(finding_bullet(x))
    if rep.stem_balance is not None:
        st = next((s for s in rep.stem_balance.stems if (s.role or s.name) == "bass"), None)
        if st is not None and st.vs_rest is not None and st.vs_rest.value_db is not None:
            line = f"- **Bass stem**: {balance_stem_sentence(led, st)}"
            line += ("." if st.status == "within_range" else f". {stem_balance_advice(led, rep, st)}")
            a.add(line)
    elif rep.mix_estimate is not None:
        se = next((s for s in rep.mix_estimate.stems if s.role == "bass"), None)
        if se is not None and se.estimated_level_vs_mix_db is not None:
            a.add(f"- **Bass (estimated from the mix)**: at "
                  f"{led.num(se.estimated_level_vs_mix_db, tool='mix_estimate', quantity='bass.estimated_level_vs_mix_db', unit='dB')} "
                  f"against the mix (confidence {led.num(se.confidence, tool='mix_estimate', quantity='bass.confidence', decimals=2)}).")
    if rep.masking is not None:
        low = [p for p in rep.masking.pairs if {p.masker, p.target} == {"bass", "drums"}
               and p.masked_pct is not None and p.worst_bands and p.worst_bands[0].upper_hz <= 300.0]
        if low:
            p = max(low, key=lambda p: p.masked_pct)
            detail, action = masking_pair_text(led, p)
            a.add(f"- **Kick and bass**: {detail}" + (f" *Do this:* {action}" if action else ""))
    a.focus = [x.id for x in findings if x.topic == "low_end"] or None
    a.focus_stem = "bass"
    if rt.get("why"):
        _method(a, ("low_end",))


ESTIMATE_JUDGE = {"within_range": "within the professional range, as far as the estimate can tell",
                  "too_quiet": "below the professional range, as far as the estimate can tell",
                  "too_loud": "above the professional range, as far as the estimate can tell",
                  "uncertain": "too uncertain to judge against professional mixes"}


def estimate_line(led: Ledger, se, label: str) -> str:
    """One stem's mix-only estimate as a bullet: level against the mix, confidence, verdict."""
    est = led.num(se.estimated_level_vs_mix_db, tool="mix_estimate", quantity=f"{se.role}.estimated_level_vs_mix_db",
                  unit="dB")
    conf = led.num(se.confidence, tool="mix_estimate", quantity=f"{se.role}.confidence", decimals=2)
    return (f"- **{label}**: at {est} against the mix (confidence {conf}): {ESTIMATE_JUDGE[se.status]}. "
            "Give the stems for a measurement.")


def _stem(a: Answer, rt, state, rep, findings, claims, tool_result) -> None:
    stem = rt["stem"]
    led = a.led
    a.focus_stem = stem
    said = False
    if rep.stem_balance is not None:
        st = next((s for s in rep.stem_balance.stems if (s.role or s.name) == stem), None)
        if st is None:
            roles = ", ".join(s.role or s.name for s in rep.stem_balance.stems)
            a.add(f"There is no {stem} stem in this conversation (stems: {roles}).")
            return
        if st.status == "silent":
            a.add(missing_stem_text(stem) if rep.stem_balance.source == "separated" else f"The {stem} stem is silent.")
            return
        if st.vs_rest is not None and st.vs_rest.value_db is not None:
            line = f"- **Level**: {balance_stem_sentence(led, st)}"
            if st.status == "within_range":
                line += ": no change needed."
            else:
                line += f". {stem_balance_advice(led, rep, st)}"
            a.add(line)
            said = True
        if st.integrated_lufs is not None and st.loudness_vs_mix_lu is not None:
            a.add(f"- **Loudness**: {stem_word(stem)} at {led.num(st.integrated_lufs, tool='stem_balance', quantity=f'{st.name}.integrated_lufs', unit='LUFS')} "
                  f"integrated, {led.mag(st.loudness_vs_mix_lu, tool='stem_balance', quantity=f'{st.name}.loudness_vs_mix_lu', unit='LU')} "
                  "under the whole mix.")
            said = True
        if rep.masking is not None:
            masked_by = [p for p in rep.masking.pairs if p.target == stem and p.masked_pct is not None]
            if masked_by and masked_by[0].masked_pct >= MASKING_REPORT_PCT:
                detail, action = masking_pair_text(led, masked_by[0])
                a.add(f"- **Masked by**: {detail}" + (f" *Do this:* {action}" if action else ""))
            masks = [p for p in rep.masking.pairs if p.masker == stem and p.masked_pct is not None]
            if masks and masks[0].masked_pct >= MASKING_REPORT_PCT:
                detail, _ = masking_pair_text(led, masks[0])
                a.add(f"- **Masks**: {detail}")
    elif rep.mix_estimate is not None:
        se = next((s for s in rep.mix_estimate.stems if s.role == stem), None)
        if se is not None and se.estimated_level_vs_mix_db is not None:
            a.add(estimate_line(led, se, "Level (estimated from the mix, no stems)"))
            said = True
    for c in claims:
        if c.stem == stem:
            a.add(f"- **Audio model**: {claim_summary(c)}")
            said = True
    region = {"vocals": "presence", "bass": "low", "drums": None, "other": "mid"}.get(stem)
    g = next((x for x in rep.spectrum.regions if x.name == region), None) if region else None
    if g is not None and g.deviation_db is not None:
        a.add(f"- **Where {stem_word(stem)} {'live' if stem in ('vocals', 'drums', 'other') else 'lives'}**: the "
              f"{region_word(g.name)} region of the mix "
              f"({led.hz_range(g.lo_hz, g.hi_hz, tool='spectrum', quantity=f'regions.{g.name}')}) is at "
              f"{led.num(g.deviation_db, tool='spectrum', quantity=f'regions.{g.name}.deviation_db', unit='dB', signed=True)} "
              f"against the professional target mean"
              + (", outside the usual range." if g.outside_target_range else ", within the usual range."))
        said = True
    if not said:
        a.add(f"I have no measurement of {stem_word(stem)} in this conversation.")
    a.focus = [f.id for f in findings if f.id in (f"balance:{stem}",)] or a.focus
    if rt.get("why"):
        _method(a, ("balance",))


def _whatif(a: Answer, rt, state, rep, findings, claims, tool_result) -> None:
    stem, gain = rt.get("stem"), rt.get("gain_db")
    if stem is None:
        a.add("Which stem should I change? Ask for example \"what if I turn the bass down three dB?\".")
        return
    if gain is None:
        a.add(f"By how many dB should {stem_word(stem)} move? Ask for example \"what if I turn the {stem} "
              "down three dB?\".")
        return
    if rep.stem_balance is None:
        a.add(f"A what-if on {stem_word(stem)} needs the stems: with the mix alone (and separation off) I cannot "
              "change one instrument and measure again. Start a review with the stems to try it.")
        return
    if tool_result is None or "error" in (tool_result or {}):
        why = (tool_result or {}).get("error", "the simulation did not run")
        a.add(f"I could not simulate that: {why}")
        return
    led = a.led
    b, af = tool_result["before"], tool_result["after"]
    g = led.mag(gain, tool="user", quantity=f"{stem}.requested_gain_db", unit="dB")
    if tool_result.get("residual") == "master":
        a.add(f"Turning {stem_word(stem)} {'up' if gain > 0 else 'down'} by {g}, simulated on your stems and "
              "measured again; before is your mix file itself, and what your master adds to the stems' sum "
              "(bus processing, limiting) is kept as it is, so the after numbers are approximate:")
    elif tool_result.get("approximate"):
        a.add(f"Turning {stem_word(stem)} {'up' if gain > 0 else 'down'} by {g}, simulated on the stems separated "
              "from your mix and measured again; approximate (separation is good to about a dB or two), on the "
              "separated windows, with what the separator left out kept in both versions:")
    elif tool_result.get("residual") == "unmatched":
        a.add(f"Turning {stem_word(stem)} {'up' if gain > 0 else 'down'} by {g}, simulated on the stems and "
              "measured again; your stems do not add up to the mix file (another take, or shifted in time), so "
              "before is their plain sum, not your mix:")
    else:
        a.add(f"Turning {stem_word(stem)} {'up' if gain > 0 else 'down'} by {g}, simulated on the stems and "
              "measured again (your stems add up to the mix file, so before is your mix):")
    sb, sa = b["stems"][stem], af["stems"][stem]
    status_word = {"within_range": "within the professional range", "too_quiet": "below the professional range",
                   "too_loud": "above the professional range"}
    line = (f"- **{cap(stem_word(stem))} against the rest of the mix**: "
            f"at {led.num(sb['level_vs_rest_db'], tool='stem_balance', quantity=f'{stem}.before.level_vs_rest_db', unit='dB')} "
            f"before, at {led.num(sa['level_vs_rest_db'], tool='stem_balance', quantity=f'{stem}.after.level_vs_rest_db', unit='dB')} after")
    if sa.get("p10_db") is not None:
        line += (f" ({status_word.get(sa['status'], sa['status'])}, p10 at "
                 f"{led.num(sa['p10_db'], tool='stem_balance', quantity=f'{stem}.reference.p10_db', unit='dB')} and p90 at "
                 f"{led.num(sa['p90_db'], tool='stem_balance', quantity=f'{stem}.reference.p90_db', unit='dB')}"
                 f"{', was ' + status_word.get(sb['status'], sb['status']) if sb['status'] != sa['status'] else ''})")
    a.add(line + ".")
    others = [s for s in af["stems"] if s != stem and b["stems"][s]["level_vs_rest_db"] is not None
              and af["stems"][s]["level_vs_rest_db"] is not None]
    if others:
        parts = [f"{s} at {led.num(b['stems'][s]['level_vs_rest_db'], tool='stem_balance', quantity=f'{s}.before.level_vs_rest_db', unit='dB')}"
                 f" before and at {led.num(af['stems'][s]['level_vs_rest_db'], tool='stem_balance', quantity=f'{s}.after.level_vs_rest_db', unit='dB')} after"
                 for s in others]
        a.add(f"- **The other stems against their rest**: {', '.join(parts)}.")
    mb, ma = b["mix"], af["mix"]
    if mb["integrated_lufs"] is not None and ma["integrated_lufs"] is not None:
        a.add(f"- **Summed mix**: integrated loudness "
              f"{led.num(mb['integrated_lufs'], tool='loudness', quantity='stem_sum.before.integrated_lufs', unit='LUFS')} -> "
              f"{led.num(ma['integrated_lufs'], tool='loudness', quantity='stem_sum.after.integrated_lufs', unit='LUFS')}, "
              f"true peak {led.num(mb['true_peak_dbtp'], tool='loudness', quantity='stem_sum.before.true_peak_dbtp', unit='dBTP')} -> "
              f"{led.num(ma['true_peak_dbtp'], tool='loudness', quantity='stem_sum.after.true_peak_dbtp', unit='dBTP')}"
              + (f" ({'over' if ma['true_peak_dbtp'] > ma['ceiling_dbtp'] else 'under'} "
                 f"{ma['platform_label']}'s {led.num(ma['ceiling_dbtp'], tool='loudness', quantity='ceiling_dbtp', unit='dBTP', decimals=0)} ceiling)")
              + ".")
    a.focus_stem = stem


def _focus(state: dict, findings: list[Finding]) -> list[Finding]:
    ids = state.get("focus") or []
    chosen = [f for f in findings if f.id in ids]
    if not chosen:
        chosen = [f for f in findings if f.severity != "ok"][:1] or findings[:1]
    return chosen


def _about_findings(rt: dict, findings: list[Finding]) -> list[Finding]:
    """The findings a "why"/"how do I fix" names: a stem's balance, a region, a topic."""
    about, stem, region = rt.get("about"), rt.get("stem"), rt.get("region")
    if stem and about in (None, "balance"):
        return [f for f in findings if f.id == f"balance:{stem}"]
    if stem and about == "masking":
        return [f for f in findings if f.topic == "masking" and f.id.endswith(f"->{stem}")] or \
            [f for f in findings if f.topic == "masking"]
    if region and about in (None, "spectrum", "low_end"):
        hit = [f for f in findings if f.id == f"spectrum:{region}"]
        if region in ("sub", "low"):
            hit += [f for f in findings if f.id == "low_end"]
        return hit
    if about in TOPIC_OF_INTENT:
        return [f for f in findings if f.topic in TOPIC_OF_INTENT[about]]
    return []


def _named(rt: dict) -> bool:
    return bool(rt.get("about") or rt.get("stem") or rt.get("region"))


def _why(a: Answer, rt, state, rep, findings, claims, tool_result) -> None:
    if not _named(rt):
        chosen = _focus(state, findings)
    else:
        chosen = _about_findings(rt, findings)
        stem, region, about = rt.get("stem"), rt.get("region"), rt.get("about")
        if not chosen and stem and about in (None, "balance"):
            _balance(a, {"stem": stem}, state, rep, findings, claims, tool_result)  # not flagged: the measurement
            _method(a, ("balance",))
            return
        if region and about in (None, "spectrum", "low_end"):
            line = _region_line(a.led, rep, region)
            if line:
                a.add(line)
        if about == "dc_offset":
            _dc(a, rt, state, rep, findings, claims, tool_result)
            _method(a, ("dynamics",))
            return
        if not chosen and not (region and about in (None, "spectrum", "low_end")):
            chosen = _focus(state, findings)
    for f in chosen:
        a.add(f"- **{f.title}**: {f.detail}")
    _method(a, [f.topic for f in chosen] or ["spectrum"])
    a.focus = [f.id for f in chosen] or a.focus


def _fix(a: Answer, rt, state, rep, findings, claims, tool_result) -> None:
    named = _about_findings(rt, findings) if _named(rt) else []
    chosen = [f for f in (named or _focus(state, findings)) if f.action]
    if _named(rt) and named and not chosen:
        a.add("Nothing to fix there by the measurements:")
        for f in named:
            a.add(finding_bullet(f))
        a.focus = [f.id for f in named]
        return
    if not chosen:
        todo = [f for f in findings if f.severity != "ok" and f.action]
        if not todo:
            a.add("Nothing needs fixing: every check came out within the professional ranges.")
            return
        chosen = todo[:3]
    for f in chosen:
        a.add(f"- **{f.title}**: {f.action}")
    a.focus = [f.id for f in chosen]


def _fix_first(a: Answer, rt, state, rep, findings, claims, tool_result) -> None:
    todo = [f for f in findings if f.severity != "ok" and f.action]  # findings are ranked
    if not todo:
        a.add("Nothing needs fixing: every check came out within the professional ranges.")
        return
    top = todo[0]
    a.add(f"Fix this first: **{top.title}**. {top.detail} *Do this:* {top.action}")
    if len(todo) > 1:
        a.add("", "Then: " + "; ".join(f.title.lower() if i else f.title for i, f in enumerate(todo[1:3])) + ".")
    a.focus = [top.id]
    if top.id.startswith("balance:"):
        a.focus_stem = top.id.split(":", 1)[1]


def _region_line(led: Ledger, rep: AnalysisReport, name: str) -> str | None:
    """The measured level of one spectral region against the professional target, in a sentence."""
    g = next((x for x in rep.spectrum.regions if x.name == name), None)
    if g is None or g.deviation_db is None:
        return None
    rng = led.hz_range(g.lo_hz, g.hi_hz, tool="spectrum", quantity=f"regions.{g.name}")
    dev = led.num(g.deviation_db, tool="spectrum", quantity=f"regions.{g.name}.deviation_db", unit="dB", signed=True)
    text = (f"The {region_word(name)} region ({rng}), where {REGION_SAYS.get(name, 'its character')} would show, "
            f"is at {dev} against the professional target mean")
    if g.target_p10_db is not None and g.target_p90_db is not None and g.target_db is not None:
        p10 = led.num(g.target_p10_db - g.target_db, tool="rule:target_range_vs_mean",
                      quantity=f"regions.{g.name}.p10 - mean", unit="dB", signed=True)
        p90 = led.num(g.target_p90_db - g.target_db, tool="rule:target_range_vs_mean",
                      quantity=f"regions.{g.name}.p90 - mean", unit="dB", signed=True)
        text += f" (professional mixes: p10 at {p10}, p90 at {p90})"
    if g.outside_target_range:
        text += (": more than most professional mixes." if g.deviation_db > 0
                 else ": less than most professional mixes.")
    else:
        text += ": within the usual range of professional mixes, so not a problem by this measure."
    return text


def _mono_line(led: Ledger, rep: AnalysisReport) -> str:
    T = rep.stereo
    if T.mono_input:
        return "The file is mono, so its low end is mono too."
    le = T.low_end
    if le.status == "no_low_end":
        return "There is too little low end to judge whether it is mono."
    hi = led.hz(le.hi_hz, tool="stereo", quantity="low_end.hi_hz")
    corr = ("undefined" if le.correlation is None else
            led.num(le.correlation, tool="stereo", quantity="low_end.correlation", decimals=2, signed=True))
    side = ("" if le.side_to_mid_db is None else ", side level at " + led.num(
        le.side_to_mid_db, tool="stereo", quantity="low_end.side_to_mid_db", unit="dB", signed=True) + " against the mid")
    if le.status == "pass":
        return f"Yes: the low end below {hi} is mono-safe (correlation {corr}{side})."
    return (f"No: the low end below {hi} is not mono-safe (correlation {corr}{side}); club systems and phones "
            "play the lows in mono, so part of it can cancel.")


def _spectrum(a: Answer, rt, state, rep, findings, claims, tool_result) -> None:
    region = rt.get("region")
    if not region:
        _topic(a, ("spectrum",), findings, why=False, rep=rep)
        return
    line = _region_line(a.led, rep, region)
    a.add(line or f"I have no measurement of the {region_word(region)} region in this conversation.")
    hit = [f for f in findings if f.id == f"spectrum:{region}"]
    if region in ("sub", "low"):
        hit += [f for f in findings if f.id == "low_end" and f.severity != "ok"]
    for f in hit:
        a.add(finding_bullet(f))
    a.focus = [f.id for f in hit] or [f.id for f in findings if f.topic == "spectrum"] or None


def _dc(a: Answer, rt, state, rep, findings, claims, tool_result) -> None:
    from ..tools.measure.dynamics import DC_FLAG_RATIO

    led = a.led
    dc = rep.dynamics.dc
    chans = [c for c in dc.channels if c.offset_dbfs is not None and math.isfinite(c.offset_dbfs)]
    n = len(dc.channels)
    name = (lambda c: {0: "left", 1: "right"}[c] + " channel") if n == 2 else (lambda c: "channel" if n == 1 else f"channel {c + 1}")
    line = led.num(20.0 * math.log10(DC_FLAG_RATIO), tool="reference:dc_offset", quantity="dc_flag_dbfs",
                   unit="dBFS", decimals=0)
    if not chans:
        a.add("No DC offset: every channel averages to zero.")
    else:
        worst = max(chans, key=lambda c: c.offset_dbfs)
        level = led.num(worst.offset_dbfs, tool="dynamics", quantity=f"dc.channels[{worst.channel}].offset_dbfs",
                        unit="dBFS")
        if dc.flagged:
            a.add(f"Yes: a DC offset of {level} on the {name(worst.channel)}, above the {line} line where it starts "
                  "to cost headroom and click at edits. Remove it with a gentle high-pass filter at a few hertz "
                  "(or your editor's DC-offset removal).")
        else:
            a.add(f"No DC offset worth removing: the largest is {level} on the {name(worst.channel)}, under the "
                  f"{line} line where it starts to matter.")
    a.focus = ["dynamics"]


def _stem_fix(a: Answer, rt, state, rep, findings, claims, tool_result) -> None:
    """What to change on one stem: the actions of the findings about it."""
    stem = rt.get("stem")
    if not stem:
        _fix(a, rt, state, rep, findings, claims, tool_result)
        return
    a.focus_stem = stem
    if rep.stem_balance is not None and not any((s.role or s.name) == stem for s in rep.stem_balance.stems):
        roles = ", ".join(s.role or s.name for s in rep.stem_balance.stems)
        a.add(f"There is no {stem} stem in this conversation (stems: {roles}).")
        return
    hits: list[tuple[str, Finding]] = []
    for f in findings:
        if not f.action:
            continue
        if f.id == f"balance:{stem}":
            hits.append(("Level", f))
        elif f.topic == "masking" and (f.id.endswith(f"->{stem}") or f.id.startswith(f"masking:{stem}->")):
            hits.append(("Masking", f))
        elif stem == "bass" and f.topic == "low_end":
            hits.append(("Low end", f))
        elif STEM_REGION.get(stem) and f.id == f"spectrum:{STEM_REGION[stem]}":
            hits.append(("EQ", f))
    if hits:
        a.add(f"What to change on {stem_word(stem)}:")
        for label, f in hits:
            a.add(f"- **{label}** ({f.title.lower()}): {f.action}")
        a.focus = [f.id for _, f in hits]
        return
    a.add(f"Nothing to change on {stem_word(stem)} by the measurements:")
    _balance(a, {"stem": stem}, state, rep, findings, claims, tool_result)


def _balance(a: Answer, rt, state, rep, findings, claims, tool_result) -> None:
    stem = rt.get("stem")
    if not stem:
        _topic(a, ("balance",), findings, why=False, rep=rep)
        return
    led = a.led
    a.focus_stem = stem
    f = next((x for x in findings if x.id == f"balance:{stem}"), None)
    if f is not None:
        a.add(finding_bullet(f))
        a.focus = [f.id]
        return
    if rep.stem_balance is not None:
        st = next((s for s in rep.stem_balance.stems if (s.role or s.name) == stem), None)
        if st is None:
            roles = ", ".join(s.role or s.name for s in rep.stem_balance.stems)
            a.add(f"There is no {stem} stem in this conversation (stems: {roles}).")
        elif st.status == "silent" and rep.stem_balance.source == "separated" and rep.mix_estimate is not None:
            a.add(f"The separator found next to nothing it could call {stem_word(stem)} in this mix, so their level "
                  "is not measured from the separated stems; the estimate from the mix alone:")
            rep_est = rep.model_copy(update={"stem_balance": None})
            _balance(a, {"stem": stem}, state, rep_est, [], claims, tool_result)
        elif st.status == "silent":
            a.add(f"The {stem} stem is silent.")
        elif st.vs_rest is not None and st.vs_rest.value_db is not None:
            ok = st.status == "within_range"
            a.add(f"- **{cap(stem_word(stem))}**: {balance_stem_sentence(led, st)}"
                  + (": within the professional range, no change needed." if ok
                     else f". {stem_balance_advice(led, rep, st)}"))
        else:
            a.add(f"The level of {stem_word(stem)} could not be judged against professional mixes here.")
        return
    if rep.mix_estimate is not None:
        se = next((s for s in rep.mix_estimate.stems if s.role == stem), None)
        if se is not None and se.estimated_level_vs_mix_db is not None:
            a.add(estimate_line(led, se, f"{cap(stem_word(stem))} (estimated from the mix, no stems)"))
            return
    a.add(f"I have no measurement of {stem_word(stem)} in this conversation.")


def _overview(a: Answer, rt, state, rep, findings, claims, tool_result) -> None:
    todo = [f for f in findings if f.severity != "ok"]
    if not todo:
        a.add("Nothing stands out: every check came out within the professional ranges.")
        return
    a.add("In order of importance:")
    for f in todo:
        a.add(finding_bullet(f))
    a.focus = [f.id for f in todo[:2]]


def _help(a: Answer, rep: AnalysisReport) -> None:
    stems = rep.stem_balance is not None
    a.add("I can answer from this mix's measurements. Try for example:",
          "- \"why?\" or \"how do I fix it?\" (about what we last talked about)",
          "- \"is it loud enough for Spotify?\" (or Apple Music, YouTube, Amazon Music, Deezer, Tidal, broadcast)",
          "- \"what about the low end?\", \"is the stereo ok?\", \"any clipping?\", \"is it too compressed?\"",
          "- \"tell me about the vocals\" (or drums, bass, the other instruments)",
          "- \"what is masking the vocals?\"" + ("" if stems else " (needs stems)"),
          "- \"what if I turn the bass down three dB?\"" + ("" if stems else " (needs stems)"),
          "- \"how do I fix the vocals?\", \"is the mix muddy?\", \"is the low end mono?\", \"any DC offset?\"",
          "- \"what should I fix first?\", \"what's wrong overall?\"")
