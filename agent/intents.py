"""Question understanding for follow-ups: a question (and the conversation so far) -> :class:`Route`.

One job: say what a question asks for, as one or more :class:`Part` s (an intent and its slots),
in the order asked. Nothing here measures or words an answer (``agent.answers`` does). The
method is described at :class:`Router`.
"""
from __future__ import annotations

import functools
import json
import logging
import re
import threading
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

Intent = Literal["whatif", "platform", "masking", "low_end", "stereo", "peaks", "dynamics", "dc_offset",
                 "spectrum", "reference", "stem_info", "stem_fix", "balance", "why", "fix", "fix_first",
                 "overview", "help", "out_of_scope"]
INTENTS: tuple[str, ...] = Intent.__args__  # type: ignore[attr-defined]
# the intents a "why"/"how do I fix" can be about
TOPICS: tuple[str, ...] = ("platform", "masking", "low_end", "stereo", "peaks", "dynamics", "dc_offset",
                           "spectrum", "reference", "balance")
SLOTS: tuple[str, ...] = ("stem", "gain_db", "platform", "region", "reference", "about")
REGIONS: tuple[str, ...] = ("sub", "low", "low_mid", "mid", "presence", "brilliance", "air")
METHODS: tuple[str, ...] = ("tfidf", "wordllama", "ensemble")
DEFAULT_METHOD = "tfidf"
TRAIN_FILE = Path(__file__).resolve().parent / "data" / "questions_train.jsonl"
_log = logging.getLogger(__name__)

# which slots each intent keeps (the rest are dropped)
_KEEPS: dict[str, tuple[str, ...]] = {
    "whatif": ("stem", "gain_db"), "platform": ("platform",), "masking": ("stem",),
    "low_end": ("region",), "spectrum": ("region",), "reference": ("region", "reference"),
    "stem_info": ("stem",), "stem_fix": ("stem",), "balance": ("stem",),
    "why": ("stem", "platform", "region", "reference", "about"),
    "fix": ("stem", "platform", "region", "reference", "about"),
}


class Part(BaseModel):
    """One thing a question asks for."""

    intent: Intent
    stem: str | None = None  # vocals, drums, bass, other
    gain_db: float | None = None  # a what-if's move, signed
    platform: str | None = None  # a key of tools.measure.loudness.PLATFORM_TARGETS
    region: str | None = None  # a spectral region of tools.measure.bands.REGIONS_HZ
    reference: bool = False  # against the user's reference track
    about: str | None = None  # why / fix: the topic intent asked about
    mono: bool = False  # the question is about mono / phase (low end, stereo)
    confidence: float = 1.0

    def slots(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in SLOTS}

    def kept(self) -> Part:
        """This part with only the slots its intent takes (a platform named for a masking question
        is dropped)."""
        return _keep(self)


class Route(BaseModel):
    """What a question asks for: its parts in the order asked."""

    question: str
    parts: list[Part] = Field(min_length=1)
    method: str = DEFAULT_METHOD
    followon: bool = False  # completed from the previous question ("and the bass?")

    @property
    def intent(self) -> str:
        return self.parts[0].intent

    @property
    def intents(self) -> list[str]:
        return [p.intent for p in self.parts]

    def whatif(self) -> Part | None:
        return next((p for p in self.parts if p.intent == "whatif"), None)

    @property
    def needs_tools(self) -> bool:
        w = self.whatif()
        return w is not None and w.stem is not None and w.gain_db is not None

    def as_state(self) -> dict[str, Any]:
        """The route as the graph state keeps it (plain JSON): the parts, plus the what-if's stem and
        gain at the top level for the ``whatif`` node."""
        w = self.whatif()
        first = self.parts[0]
        return {"intent": first.intent, "parts": [p.model_dump() for p in self.parts],
                "needs_tools": self.needs_tools, "method": self.method, "followon": self.followon,
                "stem": (w or first).stem, "gain_db": w.gain_db if w else None, "platform": first.platform}


# --------------------------------------------------------------------------- normalisation

_CONTRACTIONS = [
    (r"\bwhat'?s\b", "what is"), (r"\bhow'?s\b", "how is"), (r"\bwhere'?s\b", "where is"),
    (r"\bthat'?s\b", "that is"), (r"\bit'?s\b", "it is"), (r"\bthere'?s\b", "there is"),
    (r"\bwho'?s\b", "who is"), (r"\bisn'?t\b", "is not"), (r"\baren'?t\b", "are not"),
    (r"\bdoesn'?t\b", "does not"), (r"\bdon'?t\b", "do not"), (r"\bcan'?t\b", "cannot"),
    (r"\bwon'?t\b", "will not"), (r"\bi'?m\b", "i am"), (r"\bi'?ve\b", "i have"), (r"\bi'?d\b", "i would"),
    (r"\bu\b", "you"), (r"\bur\b", "your"), (r"\bpl[sz]\b", "please"), (r"\bwat\b", "what"),
    (r"\babt\b", "about"), (r"\btho\b", "though"), (r"\bthx\b", "thanks"), (r"\bcuz\b", "because"),
    (r"\bsittin\b", "sitting"), (r"\blookin\b", "looking"), (r"\bgonna\b", "going to"),
    (r"\bwanna\b", "want to"), (r"\bgotta\b", "have to"), (r"\bfr\b", ""), (r"\blowkey\b", ""),
    (r"\bngl\b", ""), (r"\bimo\b", ""), (r"\btl;?dr\b", "summary"),
]
_CONTRACTION_RES = [(re.compile(p), s) for p, s in _CONTRACTIONS]
_EXPANDED = frozenset(w for _, sub in _CONTRACTIONS for w in sub.split())  # words the expansions write
# words the typo fixer never touches (short function words, units)
_KEEP_WORDS = frozenset("""a an and are as at be but by can could did do does for from had has have how i if in is it
its me my no not of on or our so than that the them then there these they this to too up us was we were what
when where which who why will with would you your yes ok okay hey hi db hz khz lufs dbtp dbfs psr lra plr
mate reckon reckons actually really just like very much many some any all also""".split())

# --------------------------------------------------------------------------- slot lexicons

_STEM_PATTERNS: list[tuple[str, str]] = [
    ("drums", r"bass[ -]?drums?|kick[ -]?drums?|kicks?|snares?|hi-?hats?|hats|hh|cymbals?|toms?|claps?"
              r"|percussion|perc|drums?(?: kit| bus| track| stem)?|drummer|kit|rimshots?"),
    ("vocals", r"(?:lead |backing |main )?(?:vocals?|vox|vocalists?|voices?|singers?|singing|acapella|rappers?"
               r"|rap|bvs|adlibs?|ad-libs?)(?: track| stem| line)?"),
    ("bass", r"bass(?:lines?| guitar| synth| track| stem| part)?|808s?"),
    ("other", r"other(?: instruments?| stems?| parts?)?|guitars?|keys|keyboards?|pianos?|synths?|pads?|strings"
              r"|organs?|horns?|brass|arps?|chords|rhodes"),
]
# region words that contain a stem's name, consumed before the stems are looked for
# and phrases in which "other" is no stem ("fighting each other", "one or the other")
_NOT_A_STEM = re.compile(r"\bsub[ -]?bass\b|\bbass (?:frequenc\w*|end|region|range|notes? region)\b|\blow[ -]end\b"
                         r"|\beach ?other\b|\bone another\b|\b(?:the|any|every|no) other (?:one|way)\b"
                         r"|\bother than\b|\bon the other hand\b|\bor the other\b|\bother (?:songs?|tracks?|mix(?:es)?|people)\b")
_STEM_RE = re.compile(r"\b(?:" + "|".join(f"(?P<{n}>{p})" for n, p in _STEM_PATTERNS) + r")\b")
_PRONOUN_RE = re.compile(r"\b(?:it|them|they|those|that one|this one)\b")

_PLATFORMS: list[tuple[str, str]] = [
    ("apple_music", r"apple(?: music)?|itunes"), ("youtube", r"youtube|you tube|yt"),
    ("amazon_music", r"amazon(?: music)?"), ("deezer", r"deezer"), ("tidal", r"tidal"), ("spotify", r"spotify"),
    ("ebu_r128", r"ebu(?: ?r ?128)?|r ?128|broadcast|tv|television|radio|fm(?: station| radio)?|radio station"
                 r"|on (?:the )?air(?:waves)?|airplay"),
]
_PLATFORM_RE = re.compile(r"\b(?:" + "|".join(f"(?P<{n}>{p})" for n, p in _PLATFORMS) + r")\b")

_REGION_WORDS: list[tuple[str, str]] = [  # longest phrases first: "low mids" before "mids"
    ("low_mid", r"low(?:er)?[ -]?mid(?:s|range|dle)?|mud(?:dy|dier|diness)?|box(?:y|ier|iness|ed)|warmth|woolly|cloudy"),
    ("presence", r"high[ -]?mids?|upper[ -]?mid(?:s|range)?|harsh(?:er|ness)?|piercing|shrill|presence|bite|brittle"),
    ("sub", r"sub[ -]?bass|sub[ -]?lows?|subs?|rumbl\w*|subsonic"),
    ("low", r"boom(?:y|ier|iness|ing)?"),
    ("mid", r"mid[ -]?range|mids|honk(?:y|ier|ing)?|nasal|middle"),
    ("brilliance", r"highs|treble|sibilan\w*|esses|sizzl\w*|brilliance|top[ -]?end|high[ -]?end|crisp\w*"),
    ("air", r"air(?:y|ier|iness)?|dull(?:er|ness)?|sparkl\w*|open top"),
]
_REGION_RE = re.compile(r"\b(?:" + "|".join(f"(?P<{n}>{p})" for n, p in _REGION_WORDS) + r")\b")
# how a region sounds says more than where it is ("is the top end harsh?" is about harshness)
_REGION_DESCRIBED_RE = re.compile(
    r"\b(?:(?P<low_mid>mud(?:dy|dier|diness)?|box(?:y|ier|iness)|woolly|cloudy)"
    r"|(?P<presence>harsh(?:er|ness)?|piercing|shrill|brittle)|(?P<sub>rumbl\w*)|(?P<low>boom(?:y|ier|iness)?)"
    r"|(?P<mid>honk(?:y|ier|ing)?|nasal)|(?P<brilliance>sibilan\w*|sizzl\w*)|(?P<air>dull(?:er|ness)?|airy|airier))\b")
_HZ_RE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*(k|khz|hz|kilohertz|hertz)\b")
_HZ_RANGE_RE = re.compile(r"(?<![\w.])(\d{2,5})\s*(?:-|to)\s*(\d{2,5})\s*(?:hz|range|region|band)?\b")
_REGION_EDGES = (("sub", 20.0, 60.0), ("low", 60.0, 250.0), ("low_mid", 250.0, 500.0), ("mid", 500.0, 2000.0),
                 ("presence", 2000.0, 5000.0), ("brilliance", 5000.0, 10000.0), ("air", 10000.0, 20000.0))
_ON_AIR_RE = re.compile(r"\b(?:on|over) (?:the )?air(?:waves)?\b|\bairplay\b")  # broadcast, not the 10k+ region
_REFERENCE_RE = re.compile(r"\b(?:references?|ref|refs|reference tracks?)\b")
_MONO_RE = re.compile(r"\b(?:mono\w*|phase\w*|phasey|cent(?:er|re)d?|correlation|side|sides|wide|width|stereo)\b")

_NUM_WORDS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
              "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "half a": 0.5, "half": 0.5, "a half": 0.5,
              "a couple of": 2, "a couple": 2, "couple of": 2, "couple": 2, "a few": 3, "a": 1, "an": 1, "one and a half": 1.5}
_NUMW = "|".join(sorted((re.escape(k) for k in _NUM_WORDS), key=len, reverse=True))
_DB_RE = re.compile(r"(?<![\w.])([+-]?\s?\d+(?:\.\d+)?|(?:" + _NUMW + r"))\s*(?:db|dbs|decibels?)\b")
_BARE_NUM_RE = re.compile(r"(?<![\w.+-])([+-]?\d+(?:\.\d+)?)(?!\s*(?:%|k\b|hz|khz|lufs|lu\b|s\b|sec|ms|dbtp|dbfs|x\b|\.\d))")
_UP_RE = re.compile(r"\b(?:up|raise[sd]?|raising|boost\w*|louder|hotter|higher|increas\w*|push\w*|lift\w*|crank\w*"
                    r"|more|add\w*|bump\w*|bring (?:it |them )?up|forward)\b")
_DOWN_RE = re.compile(r"\b(?:down|lower\w*|cut\w*|drop\w*|reduc\w*|quieter|softer|decreas\w*|pull\w*|duck\w*"
                      r"|attenuat\w*|less|trim\w*|back off|back|came down|tame)\b")

# the verbs of one stem covering another ("X masks Y", "Y is buried by X")
_MASK_VERBS = (r"mask\w*|cover\w*|bur(?:y|ies|ying)|step(?:s|ping)? on|drown\w*|eat\w*|hid\w*|swamp\w*|swallow\w*"
               r"|overpower\w*|cloud(?:s|ing|ed)|smear\w*|crowd\w*|obscur\w*")

# --------------------------------------------------------------------------- clauses

_STRONG_SPLIT = re.compile(r"[?!;]+|(?<!\d)\.(?!\d)|(?<=\d)\.(?=\s+[a-z])|\b(?:also|and also|plus|and then|then|after that|as well as)\b")
_WEAK_SPLIT = re.compile(r",\s*(?:and\s+|but\s+|or\s+)?|\s+(?:and|but|or)\s+|\s*&\s*|:\s*")
_WEAK_SPLIT_KEEP = re.compile(f"({_WEAK_SPLIT.pattern})")  # the same cuts, the separators kept
_STATEMENT_START = re.compile(r"^(?:i|my|we|our|he|she|they|their|it|its|this|that|because|since|hey|hi|yo|thanks"
                              r"|thank|ok|okay|well|sorry|just|someone|everyone|people|the (?:label|engineer|client)s?)\b")
_ASK, _REQUEST, _SAY = 2, 1, 0
_FIRST_PERSON = re.compile(r"\b(?:i|i am|i have|we|my friends?|my engineer|someone|people|said|says|told|tells|thinks"
                           r"|reckons|claims)\b")


def _saying(t: str) -> bool:
    """Whether a sentence says something about the user or the circumstances (a statement start, or
    "I"/"we" among its first words: "long story short I rushed this mix")."""
    t = _lead(t)
    return bool(_STATEMENT_START.match(t) or _FIRST_PERSON.search(" ".join(t.split()[:5])))


# how confident a clause that asks nothing must be to be a part of its own (with / without a slot)
_STANDS_ALONE_NAMED, _STANDS_ALONE_BARE = 0.6, 0.9
_VAGUE = 0.4  # below this confidence a clause with context is classified with its context
# a request for how to do something ("how do I get it to -14 LUFS?"), not how to find something out
_HOW_TO_RE = re.compile(r"^(?:how (?:do|can|should|would|could|shall) (?:i|we)|how to|what (?:can|should|do) i do to)"
                        r" (?!know|tell|check|see|find|read|hear|measure|interpret|use|ask|understand|compare|look)")
_CTX_SEP = "; "  # between the sentences of a clause's context
_CLEAR = 0.8  # from this confidence a clause is understood alone, whatever its words
_QUESTION_START = re.compile(r"^(?:is|are|does|do|did|will|would|can|could|should|what|whats|how|hows|why|any|check|"
                             r"tell|give|show|where|which|am|has|have|was|were|explain"
                             # indirect questions: "I want to know if the voice is too loud", "I wonder whether ..."
                             r"|i (?:want|wanted|would like|need|would love) to (?:know|find out|check|understand)"
                             r"|i (?:am|was) (?:wondering|curious)|i wonder|please (?:check|tell|look|have a look|see))\b")
# words that carry no intent of their own (a clause of these and slot words only is a follow-on)
_FILLER = frozenset("""and the a an what about how for my your our same with then too also as well ok okay so now
again please i it its them they that this those these instead try trying if on of in to at by just please yeah yes
hmm oh right sure cool thanks thank great nice alright actually though is are do does one more one's s not innit
no eh there here he she him his her we us me you your try instead""".split())
# auxiliaries: no topic of their own either ("will the kick" is half a question), but "what should I do
# about the 808" is not a follow-on
_AUXILIARIES = frozenset("will would can could should has have had was were did am be been".split())
# words that ask nothing on their own at the end of a request ("... and show me")
_TRAILING = frozenset("show me see let know what happens happen changes change measure again tell result results".split())


def _slot_words_re() -> re.Pattern:
    parts = [_STEM_RE.pattern, _PLATFORM_RE.pattern, _REGION_RE.pattern, _HZ_RE.pattern,
             _DB_RE.pattern, r"\b(?:db|dbs|decibels?)\b", r"(?<![\w.])[+-]?\d+(?:\.\d+)?"]
    return re.compile("|".join(f"(?:{p})" for p in parts))


_SLOT_WORDS_RE = _slot_words_re()


# English words one edit away from a router word, which are words and not typos ("same" is not
# "came", "asked" is not "masked"): found by running the typo fixer over a general English
# vocabulary and keeping the real words it changed
_ENGLISH_WORDS = frozenset("""abort actor advise analyze apply arise arrow aside asked asking bases batch batter being
bitter black bless bother bound brings bunch burning catch centre center chance changed channels charge charges checks
class classes closed cloud clouds comes cover covers crack crash crashes cutting deeper deport detail dwell dying eight
explains factors factory faster fight finds finger fitting flash flower found friends fright given gives goods great
ground happen haven heard helps hover ideal images improved increased increases integrate issued items judge keyboard
known knows latter leads letter letting lever light liked loader local looks looping making males march marked marks
measured measures meets midst might minds mother naval night numbers option orange patch phases phrase planning power
preference presents prevent quite raised ranges rating reads recommendation reduced reduces referenced references
released releases remote removed removes reports resort revel rights round seems service setting share shoot shore
shout sides sight simple slash slide slower sorts sounds spare speak sport stays steam steps stopping stops string
supposed takes targets tasks tells tests thank thanks theme thick things thinks thought threat threw total tower trace
tracks tract translated trick turns volumes watch works world worse wrest cool same came name game fine full kind
long last move made take real read here hear feel feels felt sure mean meant wave care cause apart atoms competed
computing fiddle fingers flows form grass links lives lots mines moon party ports shares signing spark bout cold
hash lack mass quit ring rise tack tiny tree vice week""".split())
_UNITS = frozenset("db hz khz lufs dbtp dbfs psr lra plr".split())
_SUFFIXES = ("s", "es", "ed", "d", "ly")
_DROPPED_LETTER_MIN = 10  # a four-letter word is a five-letter word less a letter only toward a common one ("mudy")


@functools.lru_cache(maxsize=1)
def _vocabulary() -> tuple[frozenset, dict[str, int]]:
    """(every word the router knows, how often each word of an in-scope paraphrase or a slot lexicon
    occurs: the words a typo is corrected toward)."""
    counts: dict[str, int] = {}
    known: set[str] = set()
    for row in _training_rows():
        for w in re.findall(r"[a-z]+", row["text"].lower()):
            known.add(w)
            if row["intent"] != "out_of_scope":
                counts[w] = counts.get(w, 0) + 1
    for pat in (_STEM_RE.pattern, _PLATFORM_RE.pattern, _REGION_RE.pattern):
        for w in re.findall(r"[a-z]{3,}", pat):
            known.add(w)
            counts[w] = counts.get(w, 0) + 2
    return frozenset(known), counts


def _osa(a: str, b: str, limit: int = 1) -> int:
    """Optimal string alignment distance (edits with adjacent transpositions), capped at limit+1."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2, prev = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def _is_transposition(a: str, b: str) -> bool:
    diff = [i for i in range(len(a)) if a[i] != b[i]] if len(a) == len(b) else []
    return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]


@functools.lru_cache(maxsize=4096)
def _fix_word(w: str) -> str:
    """``w``, or the router word it is a typo of: one edit (for three or four letters a transposition, or a letter dropped from a common word), toward
    a word used at least twice by the in-scope paraphrases; words the router knows, English words
    and word forms of a known word ("asks", "changed") are left alone."""
    known, counts = _vocabulary()
    if len(w) < 3 or w in known or w in _KEEP_WORDS or w in _ENGLISH_WORDS or w in _FILLER or w in _EXPANDED \
            or not w.isalpha():
        return w
    if any(w.endswith(x) and w[:-len(x)] in known for x in _SUFFIXES if len(w) - len(x) >= 3):
        return w
    best, best_n = w, 1
    for v, n in counts.items():
        if len(v) < 3 or abs(len(v) - len(w)) > 1 or n <= best_n or (v[0] != w[0] and v[-1] != w[-1]):
            continue
        if (len(w) >= 5 and _osa(w, v) <= 1) or _is_transposition(w, v) or (
                len(w) == 4 and len(v) == 5 and n >= _DROPPED_LETTER_MIN and _osa(w, v) <= 1):
            best, best_n = v, n
    return best


def normalise(question: str) -> str:
    """Lower case, plain quotes and dashes, chat spellings expanded, typos fixed."""
    t = question.lower()
    t = re.sub("[\u2010-\u2015\u2212]", "-", t).replace("\u2019", "'").replace("\u2018", "'")
    for rx, sub in _CONTRACTION_RES:
        t = rx.sub(sub, t)
    t = re.sub(r"(\d)\s*(db|dbs|decibels?)\b", r"\1 db", t)
    t = re.sub(r"[a-z]+", lambda m: _fix_word(m.group(0)), t)
    return " ".join(t.split())


# --------------------------------------------------------------------------- slots

class Slots(BaseModel):
    stems: list[str] = Field(default_factory=list)  # in the order named
    target_stem: str | None = None  # masking: the stem being covered ("X masking Y" -> Y)
    gain_db: float | None = None
    gain_mag: float | None = None  # an amount without a direction ("and 6 dB?")
    platform: str | None = None
    platforms: list[str] = Field(default_factory=list)  # in the order named
    region: str | None = None
    region_hz: bool = False  # the region was given as a frequency
    reference: bool = False
    mono: bool = False
    pronoun: bool = False
    masks_pronoun: bool = False  # "is the bass masking it?": the covered stem is the one talked about
    masks: bool = False  # one named stem covers another ("does the guitar step on the vocal")


def _region_of_hz(hz: float) -> str | None:
    for name, lo, hi in _REGION_EDGES:
        if lo <= hz < hi:
            return name
    return "air" if hz >= 20000.0 else ("sub" if hz > 0 else None)


def _gain(t: str, whatif_context: bool) -> tuple[float | None, float | None]:
    """(signed gain, unsigned amount) of a clause: a number with dB, or (in a what-if) a bare number
    after a move verb."""
    m = _DB_RE.search(t)
    raw = m.group(1) if m else None
    if raw and raw[0] in "+-":
        raw = raw.replace(" ", "")
    pos = m.start() if m else -1
    if m is None and whatif_context:
        for b in _BARE_NUM_RE.finditer(t):
            raw, pos = b.group(1), b.start()
            break
    if raw is None:
        return None, None
    value = float(_NUM_WORDS[raw]) if raw in _NUM_WORDS else float(raw)
    if raw.startswith(("+", "-")):
        return value, abs(value)
    ups = [x.start() for x in _UP_RE.finditer(t)]
    downs = [x.start() for x in _DOWN_RE.finditer(t)]
    if not ups and not downs:
        return None, abs(value)
    du = min((abs(p - pos) for p in ups), default=10**6)
    dd = min((abs(p - pos) for p in downs), default=10**6)
    return (abs(value) if du < dd else -abs(value)), abs(value)


def _blank(m: re.Match) -> str:
    return " " * len(m.group(0))


def extract_slots(t: str, whatif_context: bool = False) -> Slots:
    """The slots of a normalised clause, by rule."""
    s = Slots()
    masked = _NOT_A_STEM.sub(lambda m: " " * len(m.group(0)), t)
    stems = [(m.start(), m.lastgroup) for m in _STEM_RE.finditer(masked)]
    for _, name in stems:
        if name not in s.stems:
            s.stems.append(name)
    if len(stems) >= 2:
        a, b = stems[0][0], stems[1][0]
        if re.search(r"\b(?:" + _MASK_VERBS + r"|bur(?:ied))\b", t[a:b]):  # "fight"/"clash" go both ways
            # "X masks Y": Y is covered; "X is masked by Y" (passive): X is
            s.target_stem = stems[0][1] if re.search(r"\bby\b", t[a:b]) else stems[1][1]
            s.masks = True
    if s.stems and s.target_stem is None:
        s.target_stem = s.stems[0]
    s.pronoun = bool(_PRONOUN_RE.search(t))
    for p in _PLATFORM_RE.finditer(t):
        if p.lastgroup not in s.platforms:
            s.platforms.append(p.lastgroup)
    s.platform = s.platforms[0] if s.platforms else None
    s.masks_pronoun = bool(_MASKS_PRONOUN_RE.search(t))
    regions = [(m.start(), m.lastgroup) for m in _REGION_RE.finditer(_ON_AIR_RE.sub(_blank, t))]
    for m in _HZ_RE.finditer(t):
        hz = float(m.group(1)) * (1000.0 if m.group(2) in ("k", "khz", "kilohertz") else 1.0)
        regions.append((m.start(), _region_of_hz(hz)))
    for m in _HZ_RANGE_RE.finditer(t):
        lo, hi = float(m.group(1)), float(m.group(2))
        if 20.0 <= lo < hi <= 20000.0:
            regions.append((m.start(), _region_of_hz(float(np.sqrt(lo * hi)))))
    regions = [r for r in regions if r[1]]
    described = [(m.start(), m.lastgroup) for m in _REGION_DESCRIBED_RE.finditer(t)]
    s.region = min(described)[1] if described else (min(regions)[1] if regions else None)
    s.region_hz = not described and bool(regions) and not _REGION_RE.search(t)
    s.reference = bool(_REFERENCE_RE.search(t))
    s.mono = bool(_MONO_RE.search(t))
    s.gain_db, s.gain_mag = _gain(t, whatif_context)
    return s


_KICK_AND_BASS_RE = re.compile(r"\b(?:the )?kick(?: drums?)?s? (?:and|&|n|with|vs|versus|against) (?:the |my )?(?:bass|808s?|sub)\b"
                               r"|\b(?:the )?(?:bass|808s?) (?:and|&|n|with|vs|versus|against) (?:the |my )?kick(?: drums?)?s?\b")


def canonical(t: str) -> str:
    """The clause as the classifier reads it: stems, platforms, amounts and frequencies as placeholders
    (what was named matters to the slots, not to the intent)."""
    t = _NOT_A_STEM.sub(lambda m: m.group(0).replace("bass", "bazz").replace("other", "othxr"), t)
    t = _KICK_AND_BASS_RE.sub(" zkickbass ", t)  # the low end's pair, not any two stems
    t = _STEM_RE.sub(" zstem ", t)
    t = _PLATFORM_RE.sub(" zplatform ", t)
    t = _DB_RE.sub(" zdb ", t)
    t = _HZ_RE.sub(" zhz ", t)
    t = _REGION_RE.sub(lambda m: f" {m.group(0)} zlow " if m.lastgroup in ("sub", "low") else f" {m.group(0)} zregion ", t)
    return " ".join(t.replace("bazz", "bass").replace("othxr", "other").split())


def content_words(t: str, aux: bool = True) -> list[str]:
    """The words of a clause that are neither slot words nor filler (nor, with ``aux=False``,
    auxiliary verbs)."""
    rest = _SLOT_WORDS_RE.sub(" ", t)
    return [w for w in re.findall(r"[a-z]+", rest) if w not in _FILLER and (aux or w not in _AUXILIARIES)]


# --------------------------------------------------------------------------- classifiers

@functools.lru_cache(maxsize=1)
def _training_rows() -> tuple[dict, ...]:
    with TRAIN_FILE.open(encoding="utf-8") as f:
        return tuple(json.loads(line) for line in f if line.strip())


class _Tfidf:
    """TF-IDF over words (1-2 grams) and characters (2-5 grams within words), a linear classifier
    with a logistic loss. Inference is done here (a few sparse dot products), not through
    scikit-learn's pipeline, whose per-call overhead is ten times the work."""

    def __init__(self, texts: list[str], labels: list[str]) -> None:
        from scipy.sparse import hstack
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import SGDClassifier

        self.vecs = [TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"[a-z0-9]+"),
                     TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)]
        x = hstack([v.fit_transform(texts) for v in self.vecs]).tocsr()
        clf = SGDClassifier(loss="log_loss", alpha=1e-5, class_weight="balanced", max_iter=60, tol=1e-4,
                            random_state=0).fit(x, labels)
        self.classes = [str(c) for c in clf.classes_]
        self.coef = np.ascontiguousarray(clf.coef_.T, dtype=np.float64)  # (features, classes)
        self.intercept = clf.intercept_.astype(np.float64)
        self._an = [v.build_analyzer() for v in self.vecs]
        self._voc, self._idf, off = [], [], 0
        for v in self.vecs:
            self._voc.append({k: i + off for k, i in v.vocabulary_.items()})
            self._idf.append(v.idf_)
            off += len(v.vocabulary_)
        self._off = [0, len(self.vecs[0].vocabulary_)]

    def _scores(self, text: str) -> np.ndarray:
        z = self.intercept.copy()
        for an, voc, idf, off in zip(self._an, self._voc, self._idf, self._off):
            counts: dict[int, int] = {}
            for tok in an(text):
                j = voc.get(tok)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            if not counts:
                continue
            idx = np.fromiter(counts, dtype=np.int64, count=len(counts))
            w = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))) * idf[idx - off]
            w /= np.linalg.norm(w)
            z += w @ self.coef[idx]
        return z

    def proba(self, texts: list[str]) -> np.ndarray:
        z = np.array([self._scores(t) for t in texts])
        p = 1.0 / (1.0 + np.exp(-z))  # one-vs-rest logistic, as SGDClassifier.predict_proba
        return p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)


def wordllama_model():
    """WordLlama's 256-d static embeddings, from the files inside the installed wheel (never the hub)."""
    import wordllama
    from safetensors import safe_open
    from tokenizers import Tokenizer
    from wordllama.inference import WordLlamaInference

    root = Path(wordllama.__file__).resolve().parent
    tok = Tokenizer.from_file(str(root / "tokenizers" / "l2_supercat_tokenizer_config.json"))
    with safe_open(str(root / "weights" / "l2_supercat_256.safetensors"), framework="np", device="cpu") as f:
        emb = f.get_tensor("embedding.weight")
    return WordLlamaInference(emb, tok)


class _Knn:
    """Cosine nearest neighbours over WordLlama embeddings: the k most similar paraphrases vote,
    weighted by similarity."""

    def __init__(self, texts: list[str], labels: list[str], k: int = 7) -> None:
        self.wl = wordllama_model()
        self.classes = sorted(set(labels))
        self.y = np.array([self.classes.index(v) for v in labels])
        self.x = self._embed(texts)
        self.k = k

    def _embed(self, texts: list[str]) -> np.ndarray:
        e = np.asarray(self.wl.embed(list(texts)), dtype=np.float32)
        return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-9)

    def proba(self, texts: list[str]) -> np.ndarray:
        sims = self._embed(texts) @ self.x.T
        out = np.zeros((len(texts), len(self.classes)))
        for i, row in enumerate(sims):
            top = np.argpartition(-row, self.k)[:self.k]
            for j in top:
                out[i, self.y[j]] += max(row[j], 0.0) ** 4
            out[i] = (out[i] + 1e-6) / (out[i] + 1e-6).sum()
        return out


class _Ensemble:
    def __init__(self, texts: list[str], labels: list[str], raw: list[str]) -> None:
        self.a, self.b = _Tfidf(texts, labels), _Knn(raw, labels)
        self.classes = self.a.classes

    def proba(self, texts: list[str], raw: list[str]) -> np.ndarray:
        pb = self.b.proba(raw)
        pb = pb[:, [self.b.classes.index(c) for c in self.classes]]
        return 0.5 * self.a.proba(texts) + 0.5 * pb


class Router:
    """Question -> :class:`Route`. Fitted once from the packaged paraphrases.

    Notes
    -----
    ``mixingbuddy eval questions`` compares this method with the alternatives.

    1. **Normalise**: lower case, contractions and chat spellings ("whats", "u", "pls"), and
       typos corrected toward the words of the in-scope paraphrases (one edit, transpositions
       included: "spotfy", "cliping", "frist"; four letters only by a transposition or a letter
       dropped from a common word: "mudy"); English words ("same", "cool", "asked") and word forms
       of known words are never corrected.
    2. **Slots by rule**: stems (the producer's words: "vox", "808", "hats", "keys"), a gain in dB
       ("two dB", "half a dB", "+1.5", "by 3" in a what-if) with its direction, platforms,
       spectral regions (words such as "muddy", "harsh", "dull", "boomy" and frequencies such as
       "4k"), the user's reference track, and mono/phase words.
    3. **Clauses**: the question is cut at sentence marks and at "and", "also", "then" where both
       sides ask something of their own (a side that only names a stem or a platform stays with
       its neighbour: "the vocals and the bass"; a question tag or an aside asks nothing: "is he
       right?", "thoughts?"). When the question asks something, a sentence that only says
       something ("I mixed this on headphones.", "Thanks!") is context, not a part, unless it
       names a stem, platform or region and classifies confidently: it gives "them" its stem and
       a question too vague to classify alone ("is it there?") its topic. A statement followed by
       a why / how-to-fix that points back at it ("it's way too squashed. how do I undo that?"),
       or by a question about its stem ("I double tracked the guitars. how do they look?"), is
       that question's context, never a part; indirect questions ("I want to know if ...") ask;
       "would that help?" after a proposed move asks about the move; a "why" must say why
       ("is that too hot?" is no why), and "how do I get it to -14 LUFS?" is a fix.
    4. **Intent by a classifier** on each clause (slot words replaced by placeholders, region
       words tagged with their class), trained
       on generated paraphrases (``agent/data/questions_train.jsonl``, written by
       ``agent/data/build_questions_train.py``): TF-IDF over words and character n-grams with a
       logistic regression (``method="tfidf"``, the default); ``"wordllama"``: nearest neighbours
       over WordLlama's static embeddings (a 16 MB table shipped inside its wheel, loaded from
       the package's own files, nothing downloaded); ``"ensemble"``: both, probabilities
       averaged. A second classifier of the same kind gives ``about`` (the topic of a
       "why"/"how do I fix").
    5. **Conversation**: a clause that only names a slot ("and the bass?", "what about Apple
       Music?", "and 6 dB?") repeats the previous question's intent with the new slot; "it"/"them"
       in a what-if is the stem last talked about (``state["focus_stem"]``); a bare "why?" or
       "how do I fix it?" is answered on ``state["focus"]``.

    Offline and fast: the classifier is fitted once per process from the packaged file (a few
    seconds), then a question takes under a millisecond (median 0.3 ms on the benchmark).
    """

    def __init__(self, method: str = DEFAULT_METHOD) -> None:
        if method not in METHODS:
            raise ValueError(f"unknown router method {method!r} (one of {', '.join(METHODS)})")
        self.method = method
        rows = _training_rows()
        _domain_words()  # computed now, not on the first question
        raw = [normalise(r["text"]) for r in rows]
        canon = [canonical(t) for t in raw]
        labels = [r["intent"] for r in rows]
        sub = [i for i, r in enumerate(rows) if r["intent"] in ("why", "fix")]
        about = [rows[i]["about"] or "none" for i in sub]
        if method == "tfidf":
            self._intent, self._about = _Tfidf(canon, labels), _Tfidf([canon[i] for i in sub], about)
        elif method == "wordllama":
            self._intent, self._about = _Knn(raw, labels), _Knn([raw[i] for i in sub], about)
        else:
            self._intent = _Ensemble(canon, labels, raw)
            self._about = _Ensemble([canon[i] for i in sub], about, [raw[i] for i in sub])

    def _proba(self, model, t: str) -> dict[str, float]:
        if isinstance(model, _Ensemble):
            p = model.proba([canonical(t)], [t])[0]
        elif isinstance(model, _Knn):
            p = model.proba([t])[0]
        else:
            p = model.proba([canonical(t)])[0]
        return dict(zip(model.classes, (float(v) for v in p)))

    def classify(self, t: str) -> tuple[str, float, dict[str, float]]:
        p = self._proba(self._intent, t)
        best = max(p, key=p.get)
        if best == "why" and not _WHY_CUE_RE.search(t):
            # a why asks why: "is that too hot?" shares n-grams with "why is that?", not the question
            rest = 1.0 - p["why"]
            p = {k: (0.0 if k == "why" else v / max(rest, 1e-12)) for k, v in p.items()}
            best = max(p, key=p.get)
        return best, p[best], p

    def about(self, t: str) -> str | None:
        p = self._proba(self._about, t)
        best = max(p, key=p.get)
        return None if best == "none" or p[best] < 0.35 else best

    # ----------------------------------------------------------------------- routing

    def route(self, question: str, state: dict | None = None) -> Route:
        try:
            return self._route(question, state or {})
        except Exception:  # never lose a turn to the router: answer with what can be asked
            _log.warning("routing failed for %r", question, exc_info=True)
            return Route(question=question, parts=[Part(intent="help", confidence=0.0)], method=self.method)

    def _route(self, question: str, state: dict) -> Route:
        t = normalise(question)
        prev = _previous_part(state)
        parts: list[Part] = []
        followon = False
        for c, ctx in self._clauses(t):
            ctx_prev = parts[-1] if parts else prev
            new, fo = self._clause_parts(c, ctx_prev, state, parts, ctx)
            followon = followon or fo
            for p in new:
                if parts and _subsumes(parts[-1], p):
                    parts[-1] = _merge(parts[-1], p)
                elif not any(p.model_dump(exclude={"confidence"}) == q.model_dump(exclude={"confidence"}) for q in parts):
                    parts.append(p)
        if not parts:
            parts = [Part(intent="help", confidence=0.0)]
        if len(parts) > 1 and all(p.intent in ("help", "out_of_scope") for p in parts):
            parts = parts[:1]
        return Route(question=question, parts=parts[:4], method=self.method, followon=followon)

    def _clauses(self, t: str) -> list[tuple[str, str]]:
        """The question's clauses, each with its context: ``(clause, context)``.

        Cut at sentence marks and "also"/"then" (strong), then at commas and "and" where both sides
        ask something of their own (:meth:`_separate`). Where the question asks something (a
        question mark, a question word, a request), a clause that only says something ("I mixed this
        on headphones", "thanks!") is not a part of its own unless it names what it is about and
        classifies confidently (:meth:`_stands_alone`): it is context for the next clause (its stem
        for "it", its topic where that clause is too vague to classify alone: "is it there?")."""
        said: list[tuple[str, int]] = []  # (clause, _ASK / _REQUEST / _SAY)
        pos, before = 0, ""
        for m in [*_STRONG_SPLIT.finditer(t), None]:
            end = m.start() if m else len(t)
            seg = t[pos:end].strip(" ,")
            delim = m.group(0) if m else ""
            pos = m.end() if m else len(t)
            joined = bool(re.search(r"[a-z]", delim + before))  # "also", "then", "plus" on either side
            before = delim
            if not seg:
                continue
            # a sentence asks with a question mark or a question word, or joined by "also" / "then";
            # one about the mix ("summary", "the vocals feel buried") is a request; one about the
            # user or the circumstances says something ("I mixed this on headphones", "so my friend
            # listened to it")
            if "?" in delim or _QUESTION_START.match(_lead(seg)) or (joined and not _saying(seg)):
                kind = _ASK
            elif not _saying(seg):
                kind = _REQUEST
            else:
                kind = _SAY
            bits = _WEAK_SPLIT_KEEP.split(seg)
            pieces, seps = [p.strip() for p in bits[0::2]], bits[1::2]
            keep = [i for i, p in enumerate(pieces) if p]
            pieces, seps = [pieces[i] for i in keep], [seps[i - 1] if i else "" for i in keep]
            if not pieces:
                continue
            # a piece asks with a question word, else as its sentence does, unless it says something
            # ("my low end feels weak, is there enough sub?"; "what's the true peak and the LUFS")
            kinds = [_ASK if _QUESTION_START.match(_lead(p)) else (_SAY if _saying(p) else kind) for p in pieces]
            cur, cur_kind = pieces[0], kinds[0]
            for nxt, sep, nxt_kind in zip(pieces[1:], seps[1:], kinds[1:]):
                between = re.search(r"\bbetween\b", cur) and not re.search(r"\bbetween\b.*\band\b", cur)
                if not between and self._separate(cur, nxt, sep):  # "between my mix and the reference": one
                    said.append((cur, cur_kind))
                    cur, cur_kind = nxt, nxt_kind
                else:
                    cur, cur_kind = f"{cur}{sep if sep.strip() else ' and '}{nxt}", max(cur_kind, nxt_kind)
            said.append((cur, cur_kind))
        kept: list[tuple[str, int]] = []
        for c, k in said:
            if _TAG_RE.match(c):
                if kept:  # "mastering engineer says it's too compressed. is she right?": that is asked
                    kept[-1] = (kept[-1][0], _ASK)
            elif _asks_something(c) and not _ASIDE_RE.match(c):
                kept.append((c, k))
        said = kept
        if not said:
            return [(t, "")]  # "thanks!" / "hi": classified whole
        # with a question asked, what else is said or requested is context unless it stands alone
        top = max(k for _, k in said)
        out: list[tuple[str, str]] = []
        context: list[str] = []
        for i, (c, k) in enumerate(said):
            if k < top and (not self._stands_alone(c) or self._explains_next(c, said[i + 1:], top, context)):
                context.append(c)
                continue
            out.append((c, _CTX_SEP.join(context)))
            context = []
        # a clause too vague to classify alone, after another: part of it ("they want -9 LUFS, where
        # am I at?")
        merged: list[tuple[str, str]] = []
        for c, ctx in out:
            if merged and not ctx and self._vague(c):
                merged[-1] = (f"{merged[-1][0]}, {c}", merged[-1][1])
            else:
                merged.append((c, ctx))
        out = merged
        if context:
            if not out:
                return [(", ".join(context), "")]
            c, ctx = out[-1]
            out[-1] = (c, _CTX_SEP.join([ctx, *context] if ctx else context))
        return out

    def _stands_alone(self, c: str) -> bool:
        """Whether a clause that asks nothing ("the vocals are way too loud") is still a part of its
        own: it names a stem, platform or region (or the reference) and classifies confidently
        inside the mix's topics, or classifies very confidently."""
        intent, conf, _ = self.classify(c)
        if intent in ("out_of_scope", "help", "stem_info") or not _has_topic(c):
            return False  # "I'm worried about the vocals." says what the question is about
        if intent == "why" and not re.match(r"(?:why|explain|how come)\b", _lead(c)):
            return False  # "friends say it sounds weird but can't say why": told, not asked
        s = extract_slots(c)
        named = bool(s.stems or s.platform or s.region or s.reference)
        return conf >= (_STANDS_ALONE_NAMED if named else _STANDS_ALONE_BARE)

    def _explains_next(self, c: str, after: list[tuple[str, int]], top: int, before: list[str] = ()) -> bool:
        """Whether a statement is the problem the question after it asks why or how to fix ("it's way
        too squashed, I know. how do I undo that?"; "the kick is a sample. how should I process
        it?"): the question points back at it ("that", "it") or asks about the same topic or stem."""
        nxt = next((n for n, k in after if k == top), None)
        if nxt is None:
            return False
        ni, nc, _ = self.classify(nxt)
        if ni not in ("why", "fix", "stem_fix", "stem_info", "masking") or nc < 0.4:
            return False
        sc, sn = extract_slots(" and ".join([*before, c])), extract_slots(nxt)
        if ni in ("stem_fix", "stem_info", "masking"):
            # "I can't hear the vocals properly, is something masking them?"
            return bool(sc.stems) and (sc.stems[0] in sn.stems or sn.masks_pronoun or (not sn.stems and sn.pronoun))
        if _BACK_REF_RE.search(nxt) and not (sn.stems or sn.platform or sn.region):
            return True
        ci, cc, _ = self.classify(c)
        if ci == ni and _BACK_REF_RE.search(nxt):
            return True  # "I uploaded a song as my reference. does mine sound anything like it?"
        return cc >= 0.4 and ci == (self.about(nxt) or "")

    def _separate(self, left: str, right: str, sep: str = " and ") -> bool:
        """Whether "left and right" asks two things ("left or right" only when each names a topic of
        its own, confidently: "any DC offset or clipping?", not "too loud or too quiet?")."""
        if not _has_topic(left) or not _has_topic(right):
            return False
        if re.search(r"\bor\b", sep):
            il, pl, _ = self.classify(left)
            ir, pr, _ = self.classify(right)
            return il != ir and min(pl, pr) >= 0.6 and "out_of_scope" not in (il, ir) and not re.match(
                r"(?:too|not|more|less|a bit|enough|nah|no|both|neither|should|shall|must|do i need)\b", right)
        if _ENDS_WITH_STEM_RE.search(left) and _STARTS_WITH_STEM_RE.match(right):
            return False  # "I feel like the bass and kick are fighting": one subject, two stems
        il, pl, _ = self.classify(left)
        ir, pr, _ = self.classify(right)
        if _QUESTION_START.match(right) and pr >= 0.3 and ir not in ("out_of_scope", "help"):
            return il != ir or extract_slots(left).model_dump() != extract_slots(right).model_dump()
        if il == ir and il == "balance" and min(pl, pr) >= 0.4:
            # "the vocals feel buried and the drums too loud": one stem each, each with its own words
            sl, sr = extract_slots(left), extract_slots(right)
            return bool(sl.stems and sr.stems and sl.stems != sr.stems and content_words(left) and content_words(right))
        if il == ir and il in ("spectrum", "low_end") and min(pl, pr) >= 0.4:
            # "is it muddy, harsh, or both?": a region each, both said the same way ("the top end
            # hurts, too harsh?" says where, then how: one region)
            rl, rr = extract_slots(left).region, extract_slots(right).region
            same_way = bool(_REGION_DESCRIBED_RE.search(left)) == bool(_REGION_DESCRIBED_RE.search(right))
            return bool(rl and rr and rl != rr and same_way)
        if il == ir == "whatif":
            # "turn the vocals up 2 dB and the bass down 1": a move each, on a stem each
            sl, sr = extract_slots(left, True), extract_slots(right, True)
            return bool(sl.stems and sr.stems and sl.gain_mag is not None and sr.gain_mag is not None)
        return il != ir and min(pl, pr) >= 0.4 and "out_of_scope" not in (il, ir)

    def _clause_parts(self, c: str, prev: Part | None, state: dict, earlier: list[Part],
                      ctx: str = "") -> tuple[list[Part], bool]:
        own = c
        if ctx and self._vague(c) and not self._stem_question(c, ctx):
            # the sentence just before says what "that" is ("my limiter is at -0.1 dBTP. is that too hot?")
            c = f"{ctx.split(_CTX_SEP)[-1]}, {c}"  # "they want -14 on spotify. is it there?": the clause with what it is about
        s = extract_slots(c)
        if ctx:
            around = extract_slots(ctx)
            if not s.stems and s.pronoun:
                s.stems = around.stems  # "I can't hear the vocals, is something masking them?"
                s.target_stem = s.stems[0] if s.stems else None
            if not s.platforms and around.platforms:  # "I'm about to upload to Spotify. Is it loud enough?"
                s.platform, s.platforms = around.platform, around.platforms
        words = content_words(c)
        if not words and prev is not None and prev.intent == "whatif" and s.gain_mag is None:
            s.gain_db, s.gain_mag = _gain(c, True)  # "try -4 instead": a bare amount after a what-if
        # a clause that only names slots: the previous question again, with the new slot ("is the
        # bass boomy?" asks a question of its own)
        if s.stems and _HOW_IS_STEM_RE.match(_lead(c)):
            return _per_stem(Part(intent="stem_info", stem=s.stems[0]), s), False
        if not words and (s.stems or s.platform or s.region or s.gain_mag is not None) and not _AUX_START.match(c):
            if (s.stems and _SIGNED_MOVE_RE.search(c)) or (prev is not None and prev.intent == "whatif"):
                s.gain_db, s.gain_mag = _gain(c, True)  # "bass +1?"; "try -4 instead" after a what-if
            return self._followon(s, prev, earlier, state), prev is not None
        intent, conf, proba = self.classify(c)
        if intent not in ("help", "out_of_scope") and not s.stems and not s.platform and not s.region \
                and not s.reference and not any(w in _domain_words() for w in words) and conf < 0.6:
            intent = "out_of_scope"  # nothing in it about a mix
        if intent == "out_of_scope" and _REGION_DESCRIBED_RE.search(c) and not s.stems:
            intent = "spectrum"  # "my ears get tired, something's harsh in there": how the mix sounds
        if intent == "stem_info" and ctx and extract_slots(own).stems:
            ci, cc, _ = self.classify(ctx)
            if ci not in ("stem_info", "out_of_scope", "help", "overview", "why", "fix") and cc >= 0.6:
                intent, conf = ci, cc  # "can you check the vocals? I think they're too quiet": the balance
        if s.masks and intent in ("stem_info", "stem_fix", "balance", "low_end") and conf < 0.8:
            intent = "masking"  # one stem covering another, said with a verb the paraphrases lack
        moves = bool(_UP_RE.search(c) or _DOWN_RE.search(c))
        if intent not in ("whatif", "why") and (s.stems or s.pronoun) and (
                (_DB_RE.search(c) and (moves or re.match(r"^\s*[a-z ]*[+-]\d", c)))
                or (_HYPOTHETICAL_RE.search(c) and moves) or _SIGNED_MOVE_RE.search(c)):
            intent = "whatif"  # a move on a stem with an amount, or a hypothetical move
        if intent == "whatif" or s.gain_mag is not None:
            s.gain_db, s.gain_mag = _gain(c, True)
        if intent == "whatif" and s.gain_db is None and re.search(r"\bshould (?:i|we)\b", c) and (s.stems or s.pronoun):
            intent = "balance"  # "should I turn the vocals down?": what the measurement says
        part = Part(intent=intent, confidence=round(conf, 3), mono=s.mono)
        stem = s.target_stem if intent == "masking" else (s.stems[0] if s.stems else None)
        if intent == "masking" and s.masks_pronoun and len(s.stems) == 1:
            # "the kick feels weak. is the bass masking it?": the covered stem is the one talked about
            talked = extract_slots(ctx).stems if ctx else []
            stem = next((x for x in talked if x != s.stems[0]), None) or stem
        if stem is None and (intent == "whatif" or (intent in ("masking", "balance", "stem_info", "stem_fix")
                                                    and _PLURAL_PRONOUN_RE.search(c))):
            stem = _stem_from_context(earlier, prev, state)
        if intent == "whatif":
            gain = s.gain_db
            if gain is None and s.gain_mag is not None and prev is not None and prev.intent == "whatif" \
                    and prev.gain_db:
                gain = float(np.copysign(s.gain_mag, prev.gain_db))
            part.gain_db = gain
        part.stem = stem
        part.platform, part.region, part.reference = s.platform, s.region, s.reference
        if intent == "spectrum" and s.region in ("sub", "low"):
            part.intent = intent = "low_end"  # the bottom of the mix ("too much 40 Hz?", "boomy")
        if intent == "low_end" and s.mono and s.region_hz:
            part.region = None  # "mono below 100 Hz": a crossover, not a region
        if intent in ("why", "fix"):
            part.about = self.about(c) if words or s.region or s.platform else None
            mine = extract_slots(own)
            if ctx and _BACK_REF_RE.search(own) and not (mine.stems or mine.region or mine.platform or mine.reference):
                ci, cc, _ = self.classify(ctx)  # "it's way too squashed. how do I undo that?": the dynamics
                part.about = ci if ci in TOPICS and cc >= 0.4 else part.about
            if part.about is None and s.reference:
                part.about = "reference"
            if part.about is None and s.stems and intent == "why":
                part.about = "balance"
            if part.about == "reference":
                part.reference = True
        if intent in TOPICS and intent != "reference" and _HOW_TO_RE.match(_lead(own)):
            part.intent = intent = "fix"  # "how do I get it to -14 LUFS?": how to fix the loudness
            part.about = self.about(c) or part.intent
        if intent == "fix" and part.about == "reference":
            part.intent = intent = "reference"  # getting closer to the reference is a comparison with it
        if intent == "reference":
            part.reference = True
        if intent == "fix" and s.stems and part.about != "masking" and not s.region and not s.platform:
            part = Part(intent="stem_fix", stem=s.stems[0], confidence=part.confidence)
        elif intent == "fix" and part.about is None and (_PLURAL_PRONOUN_RE.search(c) or (
                earlier and earlier[-1].intent in ("stem_info", "stem_fix") and re.search(r"\bit\b", c))):
            ctx_stem = _stem_from_context(earlier, None, state)
            if ctx_stem:  # "how do I fix them?" after the drums; "tell me about the bass, then how to fix it"
                part = Part(intent="stem_fix", stem=ctx_stem, confidence=part.confidence)
        return _per_stem(_keep(part), s), False

    def _stem_question(self, c: str, ctx: str) -> bool:
        """A question about "them" after a statement naming a stem ("I double tracked the guitars.
        how do they look?"): the stem is the context's, the question its own."""
        if not _PRONOUN_RE.search(c) or extract_slots(c).stems or not extract_slots(ctx).stems:
            return False
        intent, conf, _ = self.classify(c)
        return intent in ("stem_info", "stem_fix") and conf >= _VAGUE

    def _vague(self, c: str) -> bool:
        """A clause that cannot be classified alone: no topic of its own, or no confident intent."""
        if not _has_topic(c):
            return True
        intent, conf, _ = self.classify(c)
        if intent in ("out_of_scope", "help") or conf < _VAGUE:
            return True
        s = extract_slots(c)
        # "where am I at?", "who's right?": nothing about the mix in it (unless it reads clearly as a
        # question about the mix: "is my mix any good?")
        return not (s.stems or s.platform or s.region or s.reference) and not any(
            w in _domain_words() for w in content_words(c)) and conf < _CLEAR

    def _followon(self, s: Slots, prev: Part | None, earlier: list[Part], state: dict) -> list[Part]:
        if s.gain_mag is not None and (s.stems or prev is None or prev.intent != "whatif"):
            stem = s.stems[0] if s.stems else _stem_from_context(earlier, prev, state)
            return [_keep(Part(intent="whatif", stem=stem, gain_db=s.gain_db))]
        if prev is not None:
            upd: dict[str, Any] = {}
            if s.stems and "stem" in _KEEPS.get(prev.intent, ()):
                upd["stem"] = s.target_stem if prev.intent == "masking" else s.stems[0]
            if s.platform and "platform" in _KEEPS.get(prev.intent, ()):
                upd["platform"] = s.platform
            if s.region and "region" in _KEEPS.get(prev.intent, ()):
                upd["region"] = s.region
            if s.gain_mag is not None and prev.intent == "whatif":
                upd["gain_db"] = s.gain_db if s.gain_db is not None else (
                    float(np.copysign(s.gain_mag, prev.gain_db)) if prev.gain_db else None)
            if upd:
                return _per_stem(_keep(prev.model_copy(update={**upd, "confidence": 1.0})), s)
        if s.stems:
            return _per_stem(Part(intent="stem_info", stem=s.stems[0]), s)
        if s.platform:
            return [Part(intent="platform", platform=s.platform)]
        if s.region:
            return [Part(intent="low_end" if s.region in ("sub", "low") else "spectrum", region=s.region,
                         mono=s.mono)]
        return [_keep(Part(intent="whatif", gain_db=s.gain_db))]


_MODIFIER_RE = re.compile(r"^(?:(?:(?:when |if )?(?:compared|comparing|relative|next)?\s*(?:to|with|against|vs|versus) )?"
                          r"(?:my |the |our )?(?:references?|ref|reference tracks?)"
                          r"|(?:compared|comparing|relative|next to|against|versus|vs)\b.*\b(?:references?|ref)|in mono|on (?:headphones|speakers|"
                          r"a club system|small speakers|earbuds|my phone|the phone)"
                          r"|[a-z]+[- ]?wise)$")  # "loudness-wise": what the question next to it is about
_ENDS_WITH_STEM_RE = re.compile(r"(?:" + _STEM_RE.pattern + r")$")
_STARTS_WITH_STEM_RE = re.compile(r"^(?:the |my |our |those |these )?(?:" + _STEM_RE.pattern + r")(?! (?:is|are|was|were)\b"
                                  r"(?! (?:fighting|clashing|masking|competing)))")
_AUX_START = re.compile(r"^(?:is|are|was|were|does|do|did|has|have|will|would|can|could|should|am)\b")
_WH_START = re.compile(r"^(?:what|whats|how|hows|why|which|where|tell|give|show|check|explain|any|talk)\b")
# a question tag or an aside that asks nothing of its own ("is he right?", "thoughts?")
# a question tag: asks nothing of its own, but asks what was just said ("it's too compressed, is she right?")
_TAG_RE = re.compile(r"^(?:(?:and |but |so |ok )?(?:(?:is|was) (?:he|she|it|that|this|they) (?:right|correct|true|so)"
                     r"|(?:am|are) (?:i|we|they|you) right|right|true|correct|(?:any |your )?thoughts|what do you think"
                     r"|do you (?:think so|agree)|be honest|honestly|or (?:not|nah|no|what)|nah|is not it|is it not"
                     r"|are not they|does it|do they|is it|are they|yes or no|agree|you think|i think|i guess"
                     r"|i feel like|i reckon|i wonder|who is right|which (?:one )?is right|is that (?:possible|normal)"
                     r"|how does (?:that|it|this) (?:look|sound)|what does (?:that|it|this) do|what happens|what changes"
                     r"|show me|let me know|tell me"
                     r"|(?:is|was) (?:that|this|it) (?:a |an )?(?:mix |real |big |serious )?(?:problem|issue|bad|normal|a bad thing)"
                     # "drop the drums 2 dB, would that make it better?": asks the move just proposed
                     r"|would (?:that|this|it|the (?:mix|balance|track|song)) (?:actually |really |even )?(?:work|help"
                     r"|be (?:better|ok|okay|good|a good idea)|make (?:it|things|the mix|a difference) better|make a difference"
                     r"|improve (?:it|things|the mix)|fix (?:it|that|things))|(?:is that|good) (?:a )?good idea"
                     # an opinion against someone else's ("my mate says it's too hot and I think it's fine")
                     r"|i think (?:it is|they are|that is|it sounds) (?:fine|ok|okay|good|alright|great)))$")
# an aside: greetings, thanks, acknowledgements ("thanks!", "right, makes sense", "got it")
_ASIDE_WORDS = (r"hi|hiya|hey|hello|yo|sup|hey there|hi there|ok|okay|so|well|hmm|right|right then|cool|nice|great"
                r"|perfect|awesome|brilliant|lovely|interesting|got it|i see|understood|fair enough|makes sense|good to know"
                r"|thanks|thank you|thanks a lot|cheers|please|sorry|next|anyway|alright|good (?:morning|afternoon|evening)"
                r"|oh|ah|wow|lol|haha|sweet|sure|yes|yeah|no worries|that helps|that is helpful|that was helpful|helpful"
                r"|be (?:brutally |totally )?honest|quick (?:question|one)|(?:one|two|three|a few|some) (?:more )?questions?"
                r"|question|one more thing|real talk|no offence|no offense|huh|what|wait|hm+|eh|umm*|uh"
                r"|sorry (?:for|about) my (?:bad |poor )?english|(?:my )?english is not (?:very good|good|great|my first language)"
                r"|sorry (?:if|for) (?:this is |this |asking )?(?:a )?(?:dumb|stupid|silly|basic|noob|newbie) question"
                r"|i am (?:still )?(?:learning|new(?: to this)?|a beginner)")
_ASIDE_RE = re.compile(rf"^(?:{_ASIDE_WORDS})(?:[ ,!.]+(?:{_ASIDE_WORDS}))*$")
# discourse words before a sentence's start ("but is the low end ok?" asks; "so my friend said" says)
_LEAD_RE = re.compile(r"^(?:(?:and|but|so|ok|okay|well|right|then|also|now|anyway|next|plus)\b[ ,]*)+")


def _lead(t: str) -> str:
    """A sentence without its leading discourse words."""
    return _LEAD_RE.sub("", t)


_MASKS_PRONOUN_RE = re.compile(r"\b(?:" + _MASK_VERBS + r")(?: up| out)? (?:it|them)\b")
# "bass +1?": a stem and a signed amount with no other unit
_SIGNED_MOVE_RE = re.compile(r"^[a-z ]*(?<![\w.])[+-]\d+(?:\.\d+)?\s*(?:db)?\s*[?!.]*$")
_HYPOTHETICAL_RE = re.compile(r"\b(?:what if|what happens|what would|simulat\w*|suppose|imagine|try|test)\b")
_PLURAL_PRONOUN_RE = re.compile(r"\b(?:them|they|those)\b")
# asking what the assistant does ("what can you do, and is my mix any good?": two things)
_HELP_RE = re.compile(r"^(?:what (?:can|do|could) you (?:do|check|tell me|help with)|what are you(?: able to do| for)?"
                      r"|who are you|how does (?:this|it) work|what can i ask(?: you)?)$")
# "how are the guitars": a stem asked about, not the previous question's intent for a new stem
_HOW_IS_STEM_RE = re.compile(r"^(?:how|hows) (?:is|are|do|does|did) (?:the |my |our )?(?:" + _STEM_RE.pattern + r")"
                             r"(?: (?:doing|sounding|looking|going|sound|look))?$")
# a why asks why: a question without any of these words is not one ("my limiter is at -0.1 because I
# read it online. is that too hot?"), whatever its n-grams share with "why is that"
_WHY_CUE_RE = re.compile(r"\b(?:wh?y|how come|reason\w*|explain\w*|what makes|know|evidence|based|comes? from|where does"
                         r"|caus\w+|mean\w*|sure|certain|proof|prove|measur\w*|calculat\w*|figure\w*|[gs]ot that"
                         r"|say that|says? who|said|flag\w*|decid\w*|conclu\w*|justify|basis|source|data|numbers?|show me"
                         r"|tell me more|elaborate|work that out|how so|logic|rationale|how (?:did|do) you)\b")
# a why / how-to-fix that points back at what was just said ("why is that?", "how do I fix it")
_BACK_REF_RE = re.compile(r"\b(?:that|this|it|those|these|them|they|there(?! (?:is|are|was|were|be|any)\b))\b")


def _has_topic(t: str) -> bool:
    """Whether a clause has something to ask about: words of its own, a region, or a stem asked
    about with a question word ("how are the drums"; "are the vocals" is half a question)."""
    if _TAG_RE.match(t) or _ASIDE_RE.match(t):
        return False
    if _MODIFIER_RE.match(t):
        return False  # "compared to my reference, are the highs ok?": a modifier of its neighbour
    s = extract_slots(t)
    return bool(content_words(t, aux=False)) or s.region is not None or bool(s.stems and _WH_START.match(t)) \
        or bool(_HELP_RE.match(_lead(t)))


def _asks_something(t: str) -> bool:
    s = extract_slots(t)
    return bool([w for w in content_words(t) if w not in _TRAILING] or s.stems or s.platform or s.region
                or s.gain_mag is not None)


@functools.lru_cache(maxsize=1)
def _domain_words() -> frozenset:
    """Words of the paraphrases about the mix that no out-of-scope paraphrase uses."""
    inside, outside = set(), set()
    for row in _training_rows():
        words = set(re.findall(r"[a-z]+", row["text"].lower()))  # written without typos
        (outside if row["intent"] == "out_of_scope" else inside).update(words)
    function = _KEEP_WORDS - _UNITS
    return frozenset(w for w in inside - outside - _FILLER - _AUXILIARIES if len(w) >= 2 and w not in function)


def _subsumes(a: Part, b: Part) -> bool:
    """Same intent, and the slots one names agree with the other's ("compared to my reference, are
    the highs ok": one part)."""
    if a.intent != b.intent:
        return False
    sa, sb = a.slots(), b.slots()
    return all(sa[k] in (None, False) or sb[k] in (None, False) or sa[k] == sb[k] for k in SLOTS)


def _merge(a: Part, b: Part) -> Part:
    sa, sb = a.slots(), b.slots()
    return a.model_copy(update={k: sa[k] if sa[k] not in (None, False) else sb[k] for k in SLOTS}
                        | {"mono": a.mono or b.mono})


def _per_stem(p: Part, s: Slots) -> list[Part]:
    """One part per stem named, for the intents about one stem ("the vocals and the bass"), and one
    per platform named ("the LUFS for Spotify and YouTube")."""
    if p.intent in ("stem_info", "stem_fix") and len(s.stems) > 1 and p.stem in s.stems:
        return [p.model_copy(update={"stem": st}) for st in s.stems]
    if p.intent == "platform" and len(s.platforms) > 1 and p.platform in s.platforms:
        return [p.model_copy(update={"platform": pl}) for pl in s.platforms]
    return [p]


def _keep(p: Part) -> Part:
    keep = _KEEPS.get(p.intent, ())
    upd = {k: None for k in ("stem", "gain_db", "platform", "region", "about") if k not in keep}
    if "reference" not in keep:
        upd["reference"] = False
    return p.model_copy(update=upd)


def _previous_part(state: dict) -> Part | None:
    """The last part of the previous question's route, if the state holds one."""
    rt = state.get("route") or {}
    parts = rt.get("parts") if isinstance(rt, dict) else None
    if parts:
        try:
            return Part.model_validate(parts[-1])
        except Exception:  # a route stored by an older version: start afresh
            return None
    return None


def _stem_from_context(earlier: list[Part], prev: Part | None, state: dict) -> str | None:
    for p in reversed(earlier):
        if p.stem:
            return p.stem
    if state.get("focus_stem"):
        return state["focus_stem"]
    return prev.stem if prev is not None else None


_ROUTERS: dict[str, Router] = {}
_LOCK = threading.Lock()


def get_router(method: str = DEFAULT_METHOD) -> Router:
    """The process's router for ``method`` (fitted on first use)."""
    with _LOCK:
        if method not in _ROUTERS:
            _ROUTERS[method] = Router(method)
        return _ROUTERS[method]


def route(question: str, state: dict | None = None, method: str = DEFAULT_METHOD) -> Route:
    """What ``question`` asks for, given the conversation ``state`` (``route``: the previous
    question's :meth:`Route.as_state`; ``focus_stem``; ``focus``)."""
    return get_router(method).route(question, state)
