"""Deterministic parser for balance advice: which stem, which corrective direction, how many dB,
or "no adjustment".

The MixingBuddy-gain study scored a model's free text by parsing it back into
(stem, direction, magnitude) and comparing that with the injected flaw. This module does the
same with regular expressions and a small lexicon, so that any system is scored by one fixed
rule; :func:`parse_advice` lists the rules. Nothing is learned and nothing is random.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import asdict, dataclass

STEM_NAMES = ("bass", "drums", "vocals", "other")
DIRECTIONS = ("increase", "decrease")
NEGATION_WINDOW_WORDS = 6


@dataclass(frozen=True)
class ParsedAdvice:
    """What a piece of advice asks for. ``direction`` is the corrective action on ``stem``."""

    stem: str | None = None  # bass / drums / vocals / other
    direction: str | None = None  # increase / decrease
    magnitude_db: tuple[float, float] | None = None  # (lo, hi), lo <= hi, absolute dB
    no_adjustment: bool = False
    cue: str | None = None  # the words the decision came from (for inspection only)

    @property
    def is_error_claim(self) -> bool:
        """The text says some stem needs changing (it names a stem or a direction)."""
        return not self.no_adjustment and (self.stem is not None or self.direction is not None)

    @property
    def is_unparsed(self) -> bool:
        return not self.no_adjustment and self.stem is None and self.direction is None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["magnitude_db"] = list(self.magnitude_db) if self.magnitude_db else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ParsedAdvice:
        mag = d.get("magnitude_db")
        return cls(stem=d.get("stem"), direction=d.get("direction"),
                   magnitude_db=tuple(mag) if mag else None,
                   no_adjustment=bool(d.get("no_adjustment")), cue=d.get("cue"))


# --------------------------------------------------------------------------- normalisation

_NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20,
}
_NUMBER_WORD_RE = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b")


def _normalise(text: str) -> str:
    t = text.lower()
    t = re.sub("[\u2010-\u2015\u2212]", "-", t)
    t = t.replace("\u2019", "'").replace("\u2018", "'").replace("\u00a0", " ")
    t = re.sub(r"\bdecibels?\b|\bdbs\b", "db", t)
    t = re.sub(r"(\d)\s*db\b", r"\1 db", t)
    t = _NUMBER_WORD_RE.sub(lambda m: str(_NUMBER_WORDS[m.group(1)]), t)
    return t


# --------------------------------------------------------------------------- lexicon

_STEM_PATTERNS: list[tuple[str, str]] = [
    # drums first, so that "bass drum" and "kick drum" are drums
    ("drums", (r"bass[ -]drums?|kick[ -]drums?|kicks?|snares?(?: drums?)?|hi-?hats?|cymbals?|toms?"
              r"|drum ?(?:kit|bus|track|part|stem|group)s?|drums?|drummer|percussion|kit|beats?")),
    ("vocals", (r"(?:lead |backing |main )?(?:vocals?|vox)(?: line| track| part| stem)?|voices?"
               r"|singers?|singing|vocalists?")),
    ("bass", r"bass(?: guitar|line| line| part| track| stem)?s?|basslines?|low[ -]end|sub[ -]?bass|808s?"),
    ("other", (r"other instruments?|other stems?|guitars?|keys|keyboards?|pianos?|synths?|pads?"
              r"|strings|organs?|horns?|brass|accompaniment")),
]
_STEM_RE = re.compile(r"\b(?:" + "|".join(f"(?P<{name}>{pat})" for name, pat in _STEM_PATTERNS)
                      + r")\b")
# a stem named as the yardstick, not the thing to change
_REFERENCE_BEFORE_RE = re.compile(
    r"(?:relative to|against|compared (?:to|with)|in comparison (?:to|with)|than|versus|vs\.?"
    r"|next to|over|under|above|below|beneath|underneath|behind|with respect to"
    r"|in relation to|to match|matching|beside|alongside|on top of|with|by|around|anchor(?:ed)? on)"
    r"\s+(?:the\s+|your\s+|that\s+|those\s+|this\s+)?(?:\w+\s+)?$")

_LEVEL_WORD_BEFORE_RE = re.compile(
    r"\b(?:at|is|are|was|were|sits?|sitting|of|measures?|measured|reads?|reading|level|levels"
    r"|peaks?|peaking|averages?|averaging|vs|versus|than|from)\s*$")
_LIST_JOIN_RE = re.compile(r"^\s*(?:,|and|or|&|, and|, or)\s*(?:the\s+|your\s+)?$")

_FILLER = r"(?:\s+[\w'-]+){0,5}?"  # up to 5 words between a verb and its particle

# (pattern, direction, kind); kind: action | state | state_after (quantity: stem after first)
# | passive. Where two matches overlap, the pattern listed first wins.
_CUES: list[tuple[str, str, str]] = [
    # --- stem not loud enough (negation is part of the cue)
    (r"(?:not|n't|never)(?:\s+\w+){0,2}?\s+(?:loud|present|audible|prominent|forward|upfront|up front|strong)\s+enough", "increase", "state"),
    (r"(?:not|n't|never)(?:\s+\w+){0,2}?\s+(?:quiet|soft|low|subtle)\s+enough", "decrease", "state"),
    (r"(?:not|n't|cannot|can not|fails? to|struggles? to|struggling to|unable to)\s+(?:really\s+|quite\s+)?(?:cut|punch|poke|come|get) through", "increase", "state"),
    (r"(?:can't|cannot|can not|couldn't|hard to|difficult to|barely|hardly|scarcely|struggle to|struggling to)\s+(?:really\s+|even\s+|quite\s+)?(?:hear|make out|notice)", "increase", "state_after"),
    (r"not enough", "increase", "state_after"),
    (r"(?:too|much too|far too|way too) little", "increase", "state_after"),
    (r"(?:too|much too|far too|way too) much", "decrease", "state_after"),
    (r"(?:too|very|far too|much too)\s+(?:low|far back|far behind|small|thin|subtle|back)\b(?![ -](?:end|frequenc|mids?|pass|shelf|register))", "increase", "state"),
    (r"(?:too|very|far too|much too)\s+(?:far forward|far up front|up front|upfront|forward)\b", "decrease", "state"),
    # --- actions
    ((r"(?:raise|raising|raised|boost|boosting|increase|increasing|lift|lifting|amplify|amplifying"
     r"|crank|cranking|pump|pumping)\b"), "increase", "action"),
    (r"(?:bring|bringing|brought|turn|turning|turned|push|pushing|pushed|nudge|nudging|nudged"
     r"|move|moving|moved|bump|bumping|bumped|dial|dialing|dialling|dialed|dialled|notch|ride"
     r"|riding|ease|easing|eased|come|coming|go|going|put|putting|jack|fade|fading|faded|gain"
     r"|pull|pulling|pulled)" + _FILLER + r"\s+(?:up|upward|upwards|forward)\b", "increase", "action"),
    (r"(?:bring|bringing)" + _FILLER + r"\s+(?:out|to the front|in front)\b", "increase", "action"),
    (r"(?:add|adding|give|giving)\s+(?:it\s+|them\s+)?(?:about\s+|roughly\s+|around\s+)?\d", "increase", "action"),
    ((r"(?:lower|lowering|reduce|reducing|attenuate|attenuating|cut|cutting|trim|trimming|tame"
     r"|taming|duck|ducking|drop|dropping|shave|shaving|soften|softening|decrease|decreasing"
     r"|tuck|tucking|pull|pulling)\b(?!\s+(?:than|mids?|end|register|frequencies|through))"), "decrease", "action"),
    (r"(?:bring|bringing|brought|turn|turning|turned|pull|pulling|pulled|push|pushing|pushed"
     r"|nudge|nudging|nudged|move|moving|moved|dial|dialing|dialling|dialed|dialled|notch"
     r"|knock|knocking|knocked|ride|riding|ease|easing|eased|come|coming|go|going|sit|sitting"
     r"|back|backing|backed|take|taking|taken|took|step|fade|fading|faded|roll|rolling|rolled"
     r"|set|tuck|tucked)" + _FILLER
     + r"\s+(?:down|downward|downwards|back|off|away)\b", "decrease", "action"),
    (r"(?:make|making|have|get|getting|needs? to be|should be|could be|must be|wants? to be"
     r"|ought to be|has to be|have to be|be)\b" + _FILLER + r"\s+(?:louder|more audible|more present|more prominent|bigger|stronger)", "increase", "action"),
    (r"(?:make|making|have|get|getting|needs? to be|should be|could be|must be|wants? to be"
     r"|ought to be|has to be|have to be|be)\b" + _FILLER + r"\s+(?:quieter|softer|less prominent|less present|smaller|lower)", "decrease", "action"),
    (r"(?:a\s+(?:little|bit|touch|tad|lot|good deal)\s+(?:more|less)|more|less)(?=\s+(?:of\s+)?(?:the\s+)?(?:level|volume|gain|presence|"
     + "|".join(p for _, p in _STEM_PATTERNS) + r")\b)", "?more_less", "state_after"),
    (r"(?<![\w.+-])\+\s?\d+(?:\.\d+)?(?=\s*(?:db\b|-|to\b))", "increase", "action"),
    (r"(?<![\w.+-])-\s?\d+(?:\.\d+)?(?=\s*(?:db\b|to\b))", "decrease", "action"),
    (r"(?<=db )more\b(?! than)", "increase", "action"),
    (r"(?<=db )less\b(?! than)", "decrease", "action"),
    # --- passive: the subject is drowned (increase it); without a subject, the agent after
    #     "by" is the loud one (decrease it)
    (r"(?:is|are|gets?|getting|being|been)\s+(?:\w+\s+)?(?:dominated|overpowered|swamped|overwhelmed|overshadowed|drowned out|drowned|buried|smothered|masked|eclipsed)\s+by", "increase", "passive"),
    (r"(?:dominated|overpowered|swamped|overwhelmed|overshadowed|drowned out|drowned|buried|smothered|masked|eclipsed)\s+by", "increase", "passive"),
    # --- states: the stem is too quiet
    ((r"(?:too|very|far too|way too|much too|a bit|a little|slightly|somewhat|rather|quite|pretty|a touch|really)?\s*"
     r"(?:quiet|soft|faint|weak|timid|recessed|distant|underpowered|under-?mixed|inaudible|subdued)\b"), "increase", "state"),
    (r"\blow\b(?![ -](?:end|frequenc|mids?|pass|shelf|register|level of|in the))", "increase", "state"),
    (r"(?:buried|drowned|drowning in|swamped|masked|smothered|lost|hidden|hiding|obscured|overpowered|overshadowed|overwhelmed|dominated|tucked away|stuck behind|in the background|barely audible|hardly audible)\b", "increase", "state"),
    (r"(?:quieter|softer|lower|weaker) than", "increase", "state"),
    # --- states: the stem is too loud
    ((r"(?:too|very|far too|way too|much too|a bit|a little|slightly|somewhat|rather|quite|pretty|a touch|really)?\s*"
     r"(?:loud|hot|overbearing|overpowering|dominant|overwhelming|boomy|in your face|over-?mixed)\b"), "decrease", "state"),
    (r"(?:too|very|far too|much too)\s+(?:high|prominent|present|forward|upfront|up front|strong|heavy|big|much|far forward|far up front)\b", "decrease", "state"),
    (r"\bhigh\b(?![ -](?:end|frequenc|mids?|pass|shelf|register))", "decrease", "state"),
    ((r"(?:dominat(?:es|ing|e)|overpower(?:s|ing)?|overwhelm(?:s|ing)?|drowns?|drowning(?! in)|swamps?|swamping|mask(?:s|ing)?"
     r"|smother(?:s|ing)?|bur(?:ies|ying)|crush(?:es|ing)|steamroll(?:s|ing)|overshadow(?:s|ing)?|sticks? out|sticking out|jumps? out|jumping out|pokes? out|poking out|blaring|running hot)\b"), "decrease", "state"),
    (r"(?:louder|hotter|higher|stronger|more prominent) than", "decrease", "state"),
    (r"(?:way |much |a lot |far |a bit |a little |slightly )?louder\b", "decrease", "state"),
    (r"(?:way |much |a lot |far |a bit |a little |slightly )?(?:quieter|softer)\b", "increase", "state"),
]
_CUE_RES = [(re.compile(pat if pat.startswith("(?<") else r"\b" + pat), direction, kind)
            for pat, direction, kind in _CUES]

# statements that the balance is right (negation inside the cue is part of its meaning)
_NO_ADJ_RES = [re.compile(r"\b" + p) for p in [
    r"(?:well|nicely|properly|evenly|perfectly|already|correctly|fairly|good|reasonably)[ -]balanced",
    r"balanced", r"in (?:good |nice |proper )?balance", r"(?:good|right|correct|nice|fine|solid) balance",
    r"no (?:level |gain |volume |balance )?(?:adjustments?|changes?|tweaks?|fix(?:es)?|corrections?|moves?)",
    r"nothing (?:to|needs|should|has|must|that needs|here needs|is (?:out|off|wrong))",
    r"(?:don't|do not|wouldn't|would not|won't|will not|shouldn't|should not|needn't|need not|no need to|not|never)\s+(?:\w+\s+)?(?:change|touch|adjust|move|tweak|alter|fix)",
    r"(?:doesn't|does not|don't|do not)\s+need\s+(?:any\s+|a\s+)?(?:change|adjust|fix|tweak|work)",
    r"leave\s+(?:it|them|everything|the (?:\w+\s+){0,2}?(?:levels?|mix|balance|faders?|stems?)|things|all)\s+(?:as|alone|where|untouched|like)",
    r"keep\s+(?:it|them|everything|the (?:\w+\s+){0,2}?(?:levels?|mix|balance|faders?|stems?))\s+(?:as|where|like)",
    r"(?:sits?|sitting|sit) (?:well|nicely|right|fine|comfortably)",
    r"(?:is|are|sounds?|looks?|seems?|feels?|already)\s+(?:\w+\s+)?(?:fine|good|great|right|correct|spot on|ok|okay)\b",
    r"spot on", r"all good", r"(?:where|right where) (?:it|they|everything) should be",
    r"no (?:problems?|issues?)", r"nothing (?:wrong|out of place)",
    r"every (?:stem|part|element|instrument) (?:sits|is) (?:at|in)",
]]
_NOT_BALANCED_RE = re.compile(r"\b(?:not|n't|never|hardly)\s+(?:\w+\s+)?(?:well[ -])?balanced|\bunbalanced|\bimbalanc|\bout of balance|\boff balance|\bbalance is off")

_NEGATOR_RE = re.compile(r"\b(?:not|no|never|nothing|neither|nor|without|none|needn't)\b|n't\b|\bcannot\b|\bno need to\b")
_CONTRAST_RE = re.compile(r"\b(?:but|however|instead|rather|although|though|yet|whereas|while)\b")
_OR_RE = re.compile(r"\b(?:or|nor)\b|,")

# clause and sentence boundaries (a "." between digits is a decimal point)
_SENTENCE_SPLIT_RE = re.compile(r"(?<!\d)[.!?;:](?!\d)|\n|(?<=\d)\.(?!\d)")
_CLAUSE_SPLIT_RE = re.compile(
    r"(?<!\d)[.!?;:](?!\d)|\n|(?<=\d)\.(?!\d)|\s+-\s+|\(|\)"
    r"|,\s*(?=(?:and |so |but |then )?(?:the|it|its|it's|they|their|this|that|these|those|but|so|while|whereas|although|though|yet|instead|rather|however|i|you|we|if|which|otherwise)\b)"
    r"|\b(?:but|whereas|while|although|though|however|so|instead|otherwise)\b")

# magnitudes
_NUM = r"[+-]?\d+(?:\.\d+)?"
_RANGE_RE = re.compile(
    r"(?:between\s+|from\s+)?(" + _NUM + r")\s*(?:db\s*)?(?:-|to|and|or|/)\s*(" + _NUM + r")\s*db\b")
_SINGLE_RE = re.compile(r"(" + _NUM + r")\s*db\b")
# a range without its unit ("say 3 to 6"), only used when the text speaks of db elsewhere
_BARE_RANGE_RE = re.compile(
    r"(?:between\s+(" + _NUM + r")\s*and\s*(" + _NUM + r")|(?<![\w.])(" + _NUM + r")\s*(?:-|to)\s*("
    + _NUM + r"))\b(?!\s*(?:%|hz|khz|ms|s\b|sec|seconds|bars?|beats?|times|x\b|:))")


# --------------------------------------------------------------------------- helpers

@dataclass
class _Cue:
    start: int
    end: int
    direction: str
    kind: str
    text: str
    negated: bool = False


@dataclass
class _Mention:
    start: int
    end: int
    stem: str
    reference: bool


def _spans(text: str, split_re: re.Pattern) -> list[int]:
    """Start offsets of the segments of ``text`` separated by ``split_re``."""
    starts = [0]
    for m in split_re.finditer(text):
        starts.append(m.end())
    return starts


def _segment(starts: list[int], pos: int) -> int:
    return bisect.bisect_right(starts, pos) - 1


def _find_mentions(t: str) -> list[_Mention]:
    out = []
    for m in _STEM_RE.finditer(t):
        stem = next(name for name, _ in _STEM_PATTERNS if m.group(name))
        before = t[max(0, m.start() - 40):m.start()]
        ref = bool(_REFERENCE_BEFORE_RE.search(before))
        if not ref and out and out[-1].reference and _LIST_JOIN_RE.match(t[out[-1].end:m.start()]):
            ref = True  # "drowned out by the drums and bass": both are the yardstick
        out.append(_Mention(m.start(), m.end(), stem, ref))
    return out


def _find_cues(t: str, mentions: list[_Mention]) -> list[_Cue]:
    """All direction cues, earliest-listed pattern winning where two overlap."""
    taken: list[tuple[int, int]] = []
    cues: list[_Cue] = []
    stem_spans = [(m.start, m.end) for m in mentions]
    for rx, direction, kind in _CUE_RES:
        for m in rx.finditer(t):
            s, e = m.start(), m.end()
            text = m.group(0)
            stripped = text.lstrip()
            s += len(text) - len(stripped)
            if s >= e or any(s < te and ts < e for ts, te in taken):
                continue
            # a single adjective-like word that is part of a stem name ("low end") is no cue
            if any(ms <= s and e <= me for ms, me in stem_spans):
                continue
            if stripped[0] in "+-" and _LEVEL_WORD_BEFORE_RE.search(t[max(0, s - 30):s]):
                continue  # "sits at -7 db", "is -4 db vs the rest": a level, not a change
            d = direction
            if d == "?more_less":
                d = "increase" if "more" in stripped else "decrease"
            taken.append((s, e))
            cues.append(_Cue(s, e, d, kind, t[s:e]))
    cues.sort(key=lambda c: c.start)
    return cues


def _apply_negation(t: str, cues: list, clause_starts: list[int], extra_spans=()) -> None:
    """Mark cues cancelled by a preceding negator (:func:`parse_advice`, rule 3)."""
    cue_spans = [(c.start, c.end) for c in cues] + list(extra_spans)
    for m in _NEGATOR_RE.finditer(t):
        if any(s <= m.start() < e for s, e in cue_spans):
            continue  # the negation is part of a cue ("not loud enough", "no changes")
        clause = _segment(clause_starts, m.start())
        first = None
        for c in cues:
            if c.start < m.end() or _segment(clause_starts, c.start) != clause:
                continue
            gap = t[m.end():c.start]
            if len(gap.split()) > NEGATION_WINDOW_WORDS or _CONTRAST_RE.search(gap):
                break
            first = c
            break
        if first is None:
            continue
        first.negated = True
        prev = first
        for c in cues:  # chained by "or" / "nor": "no need to raise or lower anything"
            if c.start <= prev.start or _segment(clause_starts, c.start) != clause:
                continue
            gap = t[prev.end:c.start]
            if _OR_RE.search(gap) and not _CONTRAST_RE.search(gap) and len(gap.split()) <= 6:
                c.negated = True
                prev = c
            else:
                break


def _stem_for(cue: _Cue, mentions: list[_Mention], clause_starts: list[int]) -> str | None:
    """The stem a cue is about (:func:`parse_advice`, rule 4)."""
    clause = _segment(clause_starts, cue.start)
    live = [m for m in mentions if not m.reference]
    in_clause = [m for m in live if _segment(clause_starts, m.start) == clause]
    after_c = [m for m in in_clause if m.start >= cue.start]
    before_c = [m for m in in_clause if m.end <= cue.start]
    # a pronoun's antecedent: the first stem (the subject) of the nearest earlier clause
    # that names one ("The drums are crushing the vocal. I'd pull them 3 dB" -> drums)
    earlier = [m for m in live if _segment(clause_starts, m.start) < clause]
    before_any = ([m for m in earlier if _segment(clause_starts, m.start)
                   == _segment(clause_starts, earlier[-1].start)][:1] if earlier else [])
    after_any = [m for m in live if m.start >= cue.start]
    if cue.kind == "action":
        order = [after_c[:1], before_c[-1:], before_any, after_any[:1]]
    elif cue.kind == "passive":
        order = [before_c[-1:], before_any]
    elif cue.kind == "state_after":
        order = [after_c[:1], before_c[-1:], before_any, after_any[:1]]
    else:
        # a state's subject: before it in its clause; inside the cue span counts too
        inside = [m for m in in_clause if cue.start <= m.start < cue.end]
        order = [before_c[-1:], inside[:1], before_any, after_c[:1], after_any[:1]]
    for cand in order:
        if cand:
            return cand[0].stem
    return None


def _magnitude(t: str, anchor_pos: int | None, sentence_starts: list[int]) -> tuple[float, float] | None:
    found: list[tuple[int, int, tuple[float, float]]] = []
    taken: list[tuple[int, int]] = []
    for m in _RANGE_RE.finditer(t):
        a, b = abs(float(m.group(1))), abs(float(m.group(2)))
        found.append((m.start(), m.end(), (min(a, b), max(a, b))))
        taken.append((m.start(), m.end()))
    if "db" in t:
        for m in _BARE_RANGE_RE.finditer(t):
            if any(s < e2 and s2 < m.end() for s2, e2 in taken for s in (m.start(),)):
                continue
            g = [v for v in m.groups() if v is not None]
            a, b = abs(float(g[0])), abs(float(g[1]))
            found.append((m.start(), m.end(), (min(a, b), max(a, b))))
            taken.append((m.start(), m.end()))
    for m in _SINGLE_RE.finditer(t):
        if any(s <= m.start() < e for s, e in taken):
            continue
        v = abs(float(m.group(1)))
        found.append((m.start(), m.end(), (v, v)))
    if not found:
        return None
    found.sort()
    if anchor_pos is None:
        return found[0][2]
    sent = _segment(sentence_starts, anchor_pos)
    same = [f for f in found if _segment(sentence_starts, f[0]) == sent]
    if not same:
        return found[0][2]
    after = [f for f in same if f[0] >= anchor_pos]
    if after:
        return after[0][2]
    return min(same, key=lambda f: anchor_pos - f[1])[2]


# --------------------------------------------------------------------------- main function

def parse_advice(text: str) -> ParsedAdvice:
    """Parse balance advice into (stem, corrective direction, magnitude range, no_adjustment).

    Parameters
    ----------
    text : str
        Free-text advice, in any case.

    Returns
    -------
    ParsedAdvice
        All fields empty when the text neither asks for a change nor says the balance is right.

    Notes
    -----
    Method (all on a normalised copy of the text: lower case, unicode dashes -> "-", "decibels" ->
    "db", number words "one".."twenty" -> digits):

    1. **Stem mentions** from a synonym lexicon (``_STEM_PATTERNS``): vocals (vocal, vox, voice,
       singer, lead vocal...), drums (drum kit, kit, percussion, beat, kick, snare, hi-hats, and
       "bass drum" / "kick drum", which are drums, not bass), bass (bassline, low end, sub bass,
       808), other (guitars, keys, piano, synths, pads, strings, "other instruments"). A mention
       right after a comparison word ("relative to", "against", "compared with", "than", "over",
       "under", "behind", "with", "by"...) is a *reference* mention: it names what the stem is
       judged against, not the stem to change.
    2. **Direction cues**, each with the corrective direction it implies:
       - *actions*: verbs (raise, boost, increase, lift, amplify; lower, cut, reduce, attenuate,
         trim, tame, duck...), verb + particle ("bring ... up", "turn ... down", "pull back",
         "back off", "take ... off"), wishes ("make ... louder", "needs more level", "a little less
         X");
       - *states* of a stem: too quiet / buried / lost / hard to hear / underpowered / weak /
         "doesn't cut through" / not loud enough -> increase; too loud / too hot / overpowering /
         dominates / drowns out / sticks out / "too much X" -> decrease. Passive forms ("drowned
         out by", "masked") describe the drowned stem (increase); active forms ("drowns out",
         "masks") the drowning one (decrease).
    3. **Negation**: a negator (not, n't, no, never, nothing, without, "no need to"...) in the same
       clause and at most 6 words before a cue cancels that cue (and cues chained to it by
       "or"/"nor": "no need to raise or lower anything"). A cancelled cue is dropped, not flipped:
       "the vocals are not too loud" says nothing about raising them.
    4. **Which stem a cue is about** (the rule when several stems are named): an action's stem is
       the first non-reference stem after the verb in its clause ("raise the vocals over the
       drums" -> vocals); without one the nearest non-reference stem before it in its clause
       ("the vocals could come up"), else, for a pronoun ("raise them"), the first stem (the
       subject) of the nearest earlier clause that names one, else the first stem after it. A
       state's stem is the nearest non-reference stem before it in its clause (its subject: "the
       drums drown out the vocals" -> drums), else the earlier clause's subject, else after it.
       Quantity cues ("too much bass", "more vocals", "can't hear the vocals") look after first.
       A passive state without a stem subject names its agent ("the mix is dominated by the
       drums" -> drums, decrease). A stem joined by "and"/"or" to a reference stem is one too.
    5. **Which cue wins**: the first action cue that is tied to a stem; else the first state cue
       tied to a stem; else the first cue without a stem (direction only). The advice is what the
       text tells the user to *do*; descriptions support it ("The drums overpower the vocals; raise
       the vocals 3-6 dB" -> vocals, increase).
    6. **Magnitude**: ranges ("3-6 db", "3 to 6 db", "between 6 and 12 db", "+3 to +6 db",
       "3 db to 6 db"; "3 to 6" without a unit when the text says "db" elsewhere) and single
       values ("about 4 db", "by 2 db" -> (4, 4), (2, 2)); absolute values, sorted. A signed gain
       ("vocals +6 to +12 db", "-3 db") is also an action cue (+ increase, - decrease), unless a
       level word precedes it ("sits at -7 db", "is -4 db against the rest"). The one used is the
       match nearest the winning cue in the same sentence (preferring one after it), else the
       first in the text.
    7. **No adjustment**: when no direction cue survives, a (non-negated) statement that the
       balance is right ("balanced", "no changes needed", "sits well", "leave it as is", "nothing
       to change", "I wouldn't change anything"...) gives ``no_adjustment=True``. "Not balanced" /
       "out of balance" do not. A text with neither is *unparsed* (all fields empty).
    """
    if not text or not text.strip():
        return ParsedAdvice()
    t = _normalise(text)
    clause_starts = _spans(t, _CLAUSE_SPLIT_RE)
    sentence_starts = _spans(t, _SENTENCE_SPLIT_RE)
    mentions = _find_mentions(t)
    cues = _find_cues(t, mentions)

    no_adj = []
    for rx in _NO_ADJ_RES:
        for m in rx.finditer(t):
            if not any(s <= m.start() < e for s, e, _ in no_adj):
                no_adj.append((m.start(), m.end(), m.group(0)))
    no_adj_cues = [_Cue(s, e, "none", "no_adjustment", txt) for s, e, txt in no_adj]
    # negation over direction cues and balance statements together (a negator cancels the
    # first one after it)
    all_cues = sorted(cues + no_adj_cues, key=lambda c: c.start)
    _apply_negation(t, all_cues, clause_starts)

    live = [c for c in cues if not c.negated]
    chosen: tuple[_Cue, str | None] | None = None
    for kind_group in (("action",), ("state", "state_after", "passive")):
        for c in live:
            if c.kind not in kind_group:
                continue
            stem = _stem_for(c, mentions, clause_starts)
            if stem is None and c.kind == "passive":
                # "the mix is dominated by the drums": the agent is the loud one
                clause = _segment(clause_starts, c.start)
                agent = [m for m in mentions if m.start >= c.end
                         and _segment(clause_starts, m.start) == clause]
                if agent:
                    c = _Cue(c.start, c.end, "decrease", c.kind, c.text)
                    stem = agent[0].stem
            if stem is not None:
                chosen = (c, stem)
                break
        if chosen:
            break
    if chosen is None and live:
        chosen = (live[0], None)
    if chosen is not None:
        cue, stem = chosen
        return ParsedAdvice(stem=stem, direction=cue.direction,
                            magnitude_db=_magnitude(t, cue.start, sentence_starts),
                            no_adjustment=False, cue=cue.text)

    balanced = [c for c in no_adj_cues if not c.negated]
    if balanced and not _NOT_BALANCED_RE.search(t):
        return ParsedAdvice(no_adjustment=True, cue=balanced[0].text)
    # a stem named without any direction: keep the stem, nothing else
    live_mentions = [m for m in mentions if not m.reference]
    return ParsedAdvice(stem=live_mentions[0].stem if live_mentions else None,
                        magnitude_db=None, cue=None)
