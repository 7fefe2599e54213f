"""Follow-up questions on the embedded default: a keyword router and grounded answers.

:func:`route` reads a question and returns what it asks for (``intent`` plus parameters);
only a what-if on a stem needs new tool calls (``needs_tools``), everything else is answered
from the stored analysis. :func:`answer` words the reply from the stored report, findings and
claims (or the what-if measurement), formatting every new number through a Ledger.
"""
from __future__ import annotations

import re

from ..model.data.advice_parser import parse_advice
from ..tools.measure.analyze import AnalysisReport
from ..tools.measure.loudness import PLATFORM_TARGETS
from .claims import claim_summary
from .composer import METHOD, finding_bullet
from .findings import (
    MASKING_REPORT_PCT,
    balance_action,
    balance_stem_sentence,
    cap,
    masking_pair_text,
    platform_row,
    region_word,
    stem_word,
)
from .numbers import Ledger
from .schema import Claim, Finding

STEM_RES = {
    "vocals": re.compile(r"\b(?:vocals?|vox|voice|voices|singer|singing|lead vocal)\b"),
    "drums": re.compile(r"\b(?:drums?|kick|snare|hi-?hats?|percussion|kit|bass drum)\b"),
    "bass": re.compile(r"\b(?:bass(?:line)?|808s?)\b(?! drum)"),
    "other": re.compile(r"\b(?:other|guitars?|keys|keyboards?|piano|synths?|pads?|strings|instruments)\b"),
}
PLATFORM_RES = [
    ("spotify", r"spotify"), ("apple_music", r"apple|itunes"), ("youtube", r"youtube|\byt\b"),
    ("amazon_music", r"amazon"), ("deezer", r"deezer"), ("tidal", r"tidal"),
    ("ebu_r128", r"\bebu\b|\br ?128\b|broadcast|\btv\b|\bradio\b"),
]
_NUM_WORDS = r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|half a"
DB_RE = re.compile(r"(?:[-+]?\d+(?:\.\d+)?|\b(?:" + _NUM_WORDS + r"))\s*(?:db|decibels?)\b")
WHATIF_RE = re.compile(r"\bwhat if\b|\bwhat happens\b|\bwhat would\b|\bif (?:i|we|you)\b|\bsimulat|\btry\b|\bsuppose\b")
LOUDNESS_RE = re.compile(r"loud enough|loudness|\blufs\b|how loud|quiet enough|streaming|normali[sz]|\bmaster(?:ed|ing)? (?:level|loud)")
MASKING_RE = re.compile(r"mask|clash|compet|fight|\bburied\b|drown|covering|stepping on|cut(?:s|ting)? through|\bhide|\bhidden")
LOW_END_RE = re.compile(r"low[ -]?end|\bsub\b|sub-?bass|bottom end|\blows\b|low frequenc|rumble|boom")
STEREO_RE = re.compile(r"stereo|width|\bwide\b|narrow|\bmono\b|phase|panning|\bimage\b|correlation")
PEAKS_RE = re.compile(r"true[ -]?peak|\bpeaks?\b|clip|distort|headroom|ceiling|\bovers\b")
DYNAMICS_RE = re.compile(r"dynamic|compress|punch|squash|crush|\bpsr\b|crest|limit")
SPECTRUM_RE = re.compile(r"\beq\b|equali[sz]|spectrum|spectral|bright|dark|harsh|muddy|\bmud\b|\btone\b|tonal|frequenc|treble|\bhighs\b|\bmids?\b|\bair\b|boxy|thin|sibilan|presence")
REFERENCE_RE = re.compile(r"\breference\b")
BALANCE_RE = re.compile(r"balance|\blevels?\b|fader|too loud|too quiet|too soft|sit(?:s|ting)? (?:right|well)")
WHY_RE = re.compile(r"\bwhy\b|explain|how do you know|what does (?:that|this|it) mean|reason|evidence|how (?:did|do) you (?:measure|get|know)|where does")
FIX_RE = re.compile(r"\bfix|what should i do|what do i do|what (?:should|can) i change|how (?:do|can|should) i|improve|next step|advice|recommend|suggest|what now")
OVERVIEW_RE = re.compile(r"summar|overall|how (?:is|does|did) (?:my|the|it|this)|what'?s wrong|what is wrong|problems?|issues?|anything else|what else")
TOPIC_OF_INTENT = {"low_end": ("low_end",), "stereo": ("stereo",), "peaks": ("true_peak", "clipping"),
                   "dynamics": ("dynamics",), "spectrum": ("spectrum",), "reference": ("reference",),
                   "balance": ("balance",)}


def stems_in(q: str) -> list[str]:
    hits = []
    for stem, rx in STEM_RES.items():
        m = rx.search(q)
        if m:
            hits.append((m.start(), stem))
    return [s for _, s in sorted(hits)]


def platform_in(q: str) -> str | None:
    for key, pat in PLATFORM_RES:
        if re.search(pat, q):
            return key
    return None


def route(question: str, state: dict) -> dict:
    """What the question asks for: ``{"intent", "why", "needs_tools", ...parameters}``.

    Intents, in the order they are tried:

    - ``whatif``: a gain on a stem ("what if I turn the bass down 3 dB?", "bass +2 dB?");
    - ``platform``: loudness for a streaming platform ("is it loud enough for Spotify?");
    - ``masking``: which stem covers which ("what is masking the vocals?");
    - ``low_end``, ``stereo``, ``peaks`` (true peak, clipping), ``dynamics``, ``spectrum``,
      ``reference``: one topic of the review;
    - ``stem``: everything about one stem ("tell me about the vocals");
    - ``balance``: the stem balance as a whole;
    - ``why`` / ``fix``: the finding(s) last discussed (after a review: its top finding);
    - ``overview``: what is wrong, in short; ``help``: what can be asked.
    """
    q = " ".join(question.lower().split())
    why = bool(WHY_RE.search(q))
    stems = stems_in(q)
    out: dict = {"intent": "help", "why": why, "needs_tools": False}
    if DB_RE.search(q) and (WHATIF_RE.search(q) or stems):
        p = parse_advice(q)
        stem = p.stem or (stems[0] if stems else None) or state.get("focus_stem")
        if p.direction and p.magnitude_db:
            lo, hi = p.magnitude_db
            size = (lo + hi) / 2.0
            gain = size if p.direction == "increase" else -size
            return {**out, "intent": "whatif", "stem": stem, "gain_db": gain,
                    "needs_tools": stem is not None}
        return {**out, "intent": "whatif", "stem": stem, "gain_db": None}
    plat = platform_in(q)
    if plat or (LOUDNESS_RE.search(q) and not stems):
        return {**out, "intent": "platform", "platform": plat or state.get("platform") or "spotify"}
    if MASKING_RE.search(q):
        return {**out, "intent": "masking", "stem": stems[0] if stems else None}
    for intent, rx in (("low_end", LOW_END_RE), ("stereo", STEREO_RE), ("peaks", PEAKS_RE),
                       ("dynamics", DYNAMICS_RE), ("spectrum", SPECTRUM_RE), ("reference", REFERENCE_RE)):
        if rx.search(q):
            return {**out, "intent": intent}
    if stems:
        return {**out, "intent": "stem", "stem": stems[0]}
    if BALANCE_RE.search(q):
        return {**out, "intent": "balance"}
    if why:
        return {**out, "intent": "why"}
    if FIX_RE.search(q):
        return {**out, "intent": "fix"}
    if OVERVIEW_RE.search(q):
        return {**out, "intent": "overview"}
    return out


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
    """The reply to a routed question (:func:`route` lists the intents)."""
    a = Answer()
    intent = rt.get("intent", "help")
    fn = {"whatif": _whatif, "platform": _platform, "masking": _masking, "low_end": _low_end,
          "stem": _stem, "why": _why, "fix": _fix, "overview": _overview}.get(intent)
    if fn is not None:
        fn(a, rt, state, rep, findings, claims, tool_result)
    elif intent in TOPIC_OF_INTENT:
        _topic(a, TOPIC_OF_INTENT[intent], findings, why=rt.get("why", False), rep=rep)
    else:
        _help(a, rep)
    return a


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
    key = rt.get("platform") or "spotify"
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
            line += ("." if st.status == "within_range" else f". {balance_action(led, st)}")
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
            a.add(f"The {stem} stem is silent.")
            return
        if st.vs_rest is not None and st.vs_rest.value_db is not None:
            line = f"- **Level**: {balance_stem_sentence(led, st)}"
            if st.status == "within_range":
                line += ": no change needed."
            else:
                line += f". {balance_action(led, st)}"
            a.add(line)
            said = True
        if st.integrated_lufs is not None and st.loudness_vs_mix_lu is not None:
            a.add(f"- **Loudness**: {led.num(st.integrated_lufs, tool='stem_balance', quantity=f'{st.name}.integrated_lufs', unit='LUFS')} "
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
            est = led.num(se.estimated_level_vs_mix_db, tool="mix_estimate", quantity=f"{stem}.estimated_level_vs_mix_db", unit="dB")
            conf = led.num(se.confidence, tool="mix_estimate", quantity=f"{stem}.confidence", decimals=2)
            judge = {"within_range": "within the professional range, as far as the estimate can tell",
                     "too_quiet": "below the professional range, as far as the estimate can tell",
                     "too_loud": "above the professional range, as far as the estimate can tell",
                     "uncertain": "too uncertain to judge against professional mixes"}[se.status]
            a.add(f"- **Level (estimated from the mix, no stems)**: at {est} against the mix (confidence "
                  f"{conf}): {judge}. Give the stems for a measurement.")
            said = True
    for c in claims:
        if c.stem == stem:
            a.add(f"- **Audio model**: {claim_summary(c)}")
            said = True
    region = {"vocals": "presence", "bass": "low", "drums": None, "other": "mid"}.get(stem)
    g = next((x for x in rep.spectrum.regions if x.name == region), None) if region else None
    if g is not None and g.deviation_db is not None:
        a.add(f"- **The {region_word(g.name)} region of the mix** "
              f"({led.hz_range(g.lo_hz, g.hi_hz, tool='spectrum', quantity=f'regions.{g.name}')}), where "
              f"{stem_word(stem)} {'live' if stem in ('vocals', 'drums', 'other') else 'lives'}, is at "
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
    g = led.mag(gain, tool="user", quantity="requested_gain_db", unit="dB")
    if tool_result.get("approximate"):
        a.add(f"Turning {stem_word(stem)} {'up' if gain > 0 else 'down'} by {g}, simulated on the stems separated "
              "from your mix and measured again; approximate (separation is good to about a dB or two), on the "
              "separated windows, with what the separator left out kept in both versions:")
    else:
        a.add(f"Turning {stem_word(stem)} {'up' if gain > 0 else 'down'} by {g}, simulated on the stems and "
              "measured again (before is the plain sum of the stems):")
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


def _why(a: Answer, rt, state, rep, findings, claims, tool_result) -> None:
    chosen = _focus(state, findings)
    for f in chosen:
        a.add(f"- **{f.title}**: {f.detail}")
    _method(a, [f.topic for f in chosen])
    a.focus = [f.id for f in chosen]


def _fix(a: Answer, rt, state, rep, findings, claims, tool_result) -> None:
    chosen = [f for f in _focus(state, findings) if f.action]
    if not chosen:
        todo = [f for f in findings if f.severity != "ok" and f.action]
        if not todo:
            a.add("Nothing needs fixing: every check came out within the professional ranges.")
            return
        chosen = todo[:3]
    for f in chosen:
        a.add(f"- **{f.title}**: {f.action}")
    a.focus = [f.id for f in chosen]


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
          "- \"what's wrong overall?\"")
