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
_NOT_A_STEM = re.compile(r"\bsub[ -]?bass\b|\bbass (?:frequenc\w*|end|region|range|notes? region)\b|\blow[ -]end\b")
_STEM_RE = re.compile(r"\b(?:" + "|".join(f"(?P<{n}>{p})" for n, p in _STEM_PATTERNS) + r")\b")
_PRONOUN_RE = re.compile(r"\b(?:it|them|they|those|that one|this one)\b")

_PLATFORMS: list[tuple[str, str]] = [
    ("apple_music", r"apple(?: music)?|itunes"), ("youtube", r"youtube|you tube|yt"),
    ("amazon_music", r"amazon(?: music)?"), ("deezer", r"deezer"), ("tidal", r"tidal"), ("spotify", r"spotify"),
    ("ebu_r128", r"ebu(?: ?r ?128)?|r ?128|broadcast|tv|television|radio"),
]
_PLATFORM_RE = re.compile(r"\b(?:" + "|".join(f"(?P<{n}>{p})" for n, p in _PLATFORMS) + r")\b")

_REGION_WORDS: list[tuple[str, str]] = [  # longest phrases first: "low mids" before "mids"
    ("low_mid", r"low(?:er)?[ -]?mid(?:s|range|dle)?|mud(?:dy|diness)?|box(?:y|iness|ed)|warmth|woolly|cloudy"),
    ("presence", r"high[ -]?mids?|upper[ -]?mid(?:s|range)?|harsh(?:ness)?|piercing|shrill|presence|bite|brittle"),
    ("sub", r"sub[ -]?bass|sub[ -]?lows?|subs?|rumbl\w*|subsonic"),
    ("low", r"boom(?:y|iness|ing)?"),
    ("mid", r"mid[ -]?range|mids|honk(?:y|ing)?|nasal|middle"),
    ("brilliance", r"highs|treble|sibilan\w*|esses|sizzl\w*|brilliance|top[ -]?end|high[ -]?end|crisp\w*"),
    ("air", r"air(?:y|iness)?|dull(?:ness)?|sparkl\w*|open top"),
]
_REGION_RE = re.compile(r"\b(?:" + "|".join(f"(?P<{n}>{p})" for n, p in _REGION_WORDS) + r")\b")
# how a region sounds says more than where it is ("is the top end harsh?" is about harshness)
_REGION_DESCRIBED_RE = re.compile(
    r"\b(?:(?P<low_mid>mud(?:dy|diness)?|box(?:y|iness)|woolly|cloudy)|(?P<presence>harsh(?:ness)?|piercing|shrill)"
    r"|(?P<sub>rumbl\w*)|(?P<low>boom(?:y|iness)?)|(?P<mid>honk(?:y|ing)?|nasal)|(?P<brilliance>sibilan\w*|sizzl\w*)"
    r"|(?P<air>dull(?:ness)?|airy))\b")
_HZ_RE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*(k|khz|hz|kilohertz|hertz)\b")
_HZ_RANGE_RE = re.compile(r"(?<![\w.])(\d{2,5})\s*(?:-|to)\s*(\d{2,5})\s*(?:hz|range|region|band)?\b")
_REGION_EDGES = (("sub", 20.0, 60.0), ("low", 60.0, 250.0), ("low_mid", 250.0, 500.0), ("mid", 500.0, 2000.0),
                 ("presence", 2000.0, 5000.0), ("brilliance", 5000.0, 10000.0), ("air", 10000.0, 20000.0))
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

# --------------------------------------------------------------------------- clauses

_STRONG_SPLIT = re.compile(r"[?!;]+|(?<!\d)\.(?!\d)|\b(?:also|and also|plus|and then|then|after that|as well as)\b")
_WEAK_SPLIT = re.compile(r",\s*(?:and\s+)?|\s+and\s+|\s*&\s*")
_QUESTION_START = re.compile(r"^(?:is|are|does|do|did|will|would|can|could|should|what|whats|how|hows|why|any|check|"
                             r"tell|give|show|where|which|am|has|have|was|were|explain)\b")
# words that carry no intent of their own (a clause of these and slot words only is a follow-on)
_FILLER = frozenset("""and the a an what about how for my your our same with then too also as well ok okay so now
again please i it its them they that this those these instead try trying if on of in to at by just please yeah yes
hmm oh right sure cool thanks thank great nice alright actually though is are do does one more one's s not innit
no eh""".split())
# words that ask nothing on their own at the end of a request ("... and show me")
_TRAILING = frozenset("show me see let know what happens happen changes change measure again tell result results".split())


def _slot_words_re() -> re.Pattern:
    parts = [_STEM_RE.pattern, _PLATFORM_RE.pattern, _REGION_RE.pattern, _HZ_RE.pattern,
             _DB_RE.pattern, r"\b(?:db|dbs|decibels?)\b", r"(?<![\w.])[+-]?\d+(?:\.\d+)?"]
    return re.compile("|".join(f"(?:{p})" for p in parts))


_SLOT_WORDS_RE = _slot_words_re()


@functools.lru_cache(maxsize=1)
def _vocabulary() -> tuple[frozenset, dict[str, int]]:
    counts: dict[str, int] = {}
    for row in _training_rows():
        for w in re.findall(r"[a-z]+", row["text"].lower()):
            counts[w] = counts.get(w, 0) + 1
    for pat in (_STEM_RE.pattern, _PLATFORM_RE.pattern, _REGION_RE.pattern):
        for w in re.findall(r"[a-z]{3,}", pat):
            counts[w] = counts.get(w, 0) + 1
    return frozenset(counts), counts


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


@functools.lru_cache(maxsize=4096)
def _fix_word(w: str) -> str:
    vocab, counts = _vocabulary()
    if len(w) < 3 or w in vocab or w in _KEEP_WORDS or not w.isalpha():
        return w
    best, best_n = w, 0
    for v in vocab:
        if len(v) < 3 or abs(len(v) - len(w)) > 1 or v[0] != w[0] and v[-1] != w[-1]:
            continue
        if _osa(w, v) <= 1 and counts[v] > best_n:
            best, best_n = v, counts[v]
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
    region: str | None = None
    reference: bool = False
    mono: bool = False
    pronoun: bool = False


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
        if re.search(r"\b(?:mask\w*|cover\w*|bur(?:y|ies|ying)|stepping on|steps on|drown\w*|eat\w*|hid\w*"
                     r"|clash\w* with|fight\w* with|swamp\w*|overpower\w*)\b", t[a:b]):
            s.target_stem = stems[1][1]
    if s.stems and s.target_stem is None:
        s.target_stem = s.stems[0]
    s.pronoun = bool(_PRONOUN_RE.search(t))
    p = _PLATFORM_RE.search(t)
    s.platform = p.lastgroup if p else None
    regions = [(m.start(), m.lastgroup) for m in _REGION_RE.finditer(t)]
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
    s.reference = bool(_REFERENCE_RE.search(t))
    s.mono = bool(_MONO_RE.search(t))
    s.gain_db, s.gain_mag = _gain(t, whatif_context)
    return s


def canonical(t: str) -> str:
    """The clause as the classifier reads it: stems, platforms, amounts and frequencies as placeholders
    (what was named matters to the slots, not to the intent)."""
    t = _NOT_A_STEM.sub(lambda m: m.group(0).replace("bass", "bazz"), t)
    t = _STEM_RE.sub(" zstem ", t)
    t = _PLATFORM_RE.sub(" zplatform ", t)
    t = _DB_RE.sub(" zdb ", t)
    t = _HZ_RE.sub(" zhz ", t)
    return " ".join(t.replace("bazz", "bass").split())


def content_words(t: str) -> list[str]:
    """The words of a clause that are neither slot words nor filler."""
    rest = _SLOT_WORDS_RE.sub(" ", t)
    return [w for w in re.findall(r"[a-z]+", rest) if w not in _FILLER]


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
       typos corrected to the router's vocabulary (one edit, transpositions included: "spotfy",
       "cliping", "frist").
    2. **Slots by rule**: stems (the producer's words: "vox", "808", "hats", "keys"), a gain in dB
       ("two dB", "half a dB", "+1.5", "by 3" in a what-if) with its direction, platforms,
       spectral regions (words such as "muddy", "harsh", "dull", "boomy" and frequencies such as
       "4k"), the user's reference track, and mono/phase words.
    3. **Clauses**: the question is cut at sentence marks and at "and", "also", "then" where both
       sides ask something of their own (a side that only names a stem or a platform stays with
       its neighbour: "the vocals and the bass").
    4. **Intent by a classifier** on each clause (slot words replaced by placeholders), trained
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

    Offline and fast: the classifier is fitted once per process from the packaged file (about a
    second), then a question takes a millisecond or two.
    """

    def __init__(self, method: str = DEFAULT_METHOD) -> None:
        if method not in METHODS:
            raise ValueError(f"unknown router method {method!r} (one of {', '.join(METHODS)})")
        self.method = method
        rows = _training_rows()
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
        clauses = self._clauses(t)
        parts: list[Part] = []
        followon = False
        for c in clauses:
            ctx_prev = parts[-1] if parts else prev
            new, fo = self._clause_parts(c, ctx_prev, state, parts)
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

    def _clauses(self, t: str) -> list[str]:
        strong = [c.strip(" ,") for c in _STRONG_SPLIT.split(t)]
        strong = [c for c in strong if c]
        out: list[str] = []
        for seg in strong:
            pieces = [p.strip() for p in _WEAK_SPLIT.split(seg) if p.strip()]
            cur = pieces[0] if pieces else ""
            for nxt in pieces[1:]:
                if self._separate(cur, nxt):
                    out.append(cur)
                    cur = nxt
                else:
                    cur = f"{cur} and {nxt}"
            if cur:
                out.append(cur)
        # a clause with nothing to ask ("isn't it", "and show me") joins its neighbour
        kept = [c for c in out if _asks_something(c)]
        return kept or [t]

    def _separate(self, left: str, right: str) -> bool:
        """Whether "left and right" asks two things."""
        if not _has_topic(left) or not _has_topic(right):
            return False
        il, pl, _ = self.classify(left)
        ir, pr, _ = self.classify(right)
        if _QUESTION_START.match(right) and pr >= 0.3 and ir not in ("out_of_scope", "help"):
            return il != ir or extract_slots(left).model_dump() != extract_slots(right).model_dump()
        return il != ir and min(pl, pr) >= 0.4 and "out_of_scope" not in (il, ir)

    def _clause_parts(self, c: str, prev: Part | None, state: dict, earlier: list[Part]) -> tuple[list[Part], bool]:
        s = extract_slots(c)
        words = content_words(c)
        # a clause that only names slots: the previous question again, with the new slot
        if not words and (s.stems or s.platform or s.region or s.gain_mag is not None):
            return self._followon(s, prev, earlier, state), prev is not None
        intent, conf, proba = self.classify(c)
        if intent not in ("help", "out_of_scope") and not s.stems and not s.platform and not s.region \
                and not s.reference and not any(w in _domain_words() for w in words) and conf < 0.6:
            intent = "out_of_scope"  # nothing in it about a mix
        moves = bool(_UP_RE.search(c) or _DOWN_RE.search(c))
        if intent not in ("whatif", "why") and (s.stems or s.pronoun) and (
                (_DB_RE.search(c) and (moves or re.match(r"^\s*[a-z ]*[+-]\d", c)))
                or (_HYPOTHETICAL_RE.search(c) and moves)):
            intent = "whatif"  # a move on a stem with an amount, or a hypothetical move
        if intent == "whatif" or s.gain_mag is not None:
            s.gain_db, s.gain_mag = _gain(c, True)
        if intent == "whatif" and s.gain_db is None and re.search(r"\bshould (?:i|we)\b", c) and (s.stems or s.pronoun):
            intent = "balance"  # "should I turn the vocals down?": what the measurement says
        part = Part(intent=intent, confidence=round(conf, 3), mono=s.mono)
        stem = s.target_stem if intent == "masking" else (s.stems[0] if s.stems else None)
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
        if intent == "low_end" and s.mono:
            part.region = None  # "mono below 100 Hz": a crossover, not a region
        if intent in ("why", "fix"):
            part.about = self.about(c) if words or s.region or s.platform else None
            if part.about is None and s.reference:
                part.about = "reference"
            if part.about is None and s.stems and intent == "why":
                part.about = "balance"
            if part.about == "reference":
                part.reference = True
        if intent == "reference":
            part.reference = True
        if intent == "fix" and s.stems and part.about in (None, "balance"):
            part = Part(intent="stem_fix", stem=s.stems[0], confidence=part.confidence)
        elif intent == "fix" and part.about is None and _PLURAL_PRONOUN_RE.search(c):
            ctx_stem = _stem_from_context(earlier, None, state)
            if ctx_stem:  # "how do I fix them?" after the drums
                part = Part(intent="stem_fix", stem=ctx_stem, confidence=part.confidence)
        return _per_stem(_keep(part), s), False

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


_HYPOTHETICAL_RE = re.compile(r"\b(?:what if|what happens|what would|simulat\w*|suppose|imagine|try|test)\b")
_PLURAL_PRONOUN_RE = re.compile(r"\b(?:them|they|those)\b")


def _has_topic(t: str) -> bool:
    s = extract_slots(t)
    return bool(content_words(t)) or s.region is not None or bool(s.stems and _QUESTION_START.match(t))


def _asks_something(t: str) -> bool:
    s = extract_slots(t)
    return bool([w for w in content_words(t) if w not in _TRAILING] or s.stems or s.platform or s.region
                or s.gain_mag is not None)


@functools.lru_cache(maxsize=1)
def _domain_words() -> frozenset:
    """Words of the paraphrases about the mix that no out-of-scope paraphrase uses."""
    inside, outside = set(), set()
    for row in _training_rows():
        words = set(re.findall(r"[a-z]+", normalise(row["text"])))
        (outside if row["intent"] == "out_of_scope" else inside).update(words)
    return frozenset(inside - outside - _FILLER)


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
    """One part per stem named, for the intents about one stem ("the vocals and the bass")."""
    if p.intent in ("stem_info", "stem_fix") and len(s.stems) > 1 and p.stem in s.stems:
        return [p.model_copy(update={"stem": st}) for st in s.stems]
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
