"""Endpoint text is data: control characters and markup stripped, instructions to run commands or
give up secrets refused, and the review's top findings required to survive a rewrite with their
direction."""
from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence

from .grounding import keywords, read_claims, said_evidence, stated
from .schema import Finding

__all__ = ["as_findings", "clean_text", "lost_findings", "reversed_findings", "top_findings", "unsafe_instruction"]

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_HTML = re.compile(r"</?[A-Za-z][^<>]{0,500}>|<!--.*?-->", re.DOTALL)
# instructions a mix critic never gives: run something, or hand over a secret
_UNSAFE = re.compile(
    r"""\b(?:curl|wget)\b[^\n|]*\|\s*(?:sudo\s+)?(?:ba|z)?sh\b
    | \bsudo\s+\S | \brm\s+-[a-z]*r[a-z]*f | \bchmod\s+\+x | \bmkfifo\b | /etc/(?:passwd|shadow)
    | ~/\.ssh | \bid_(?:rsa|ed25519|ecdsa)\b | \bprivate\s+key\b | \bseed\s+phrase\b
    | \b(?:api|secret|access)[\s_-]?(?:key|token)s?\b | \bpassw(?:or)?d\b | \bcredit\s+card\b
    | \b(?:ignore|disregard)\s+(?:all\s+|any\s+)?(?:previous|prior|above)\s+instructions\b""",
    re.IGNORECASE | re.VERBOSE)


def clean_text(text: str) -> str:
    """``text`` without terminal escape sequences, control and bidirectional-override characters,
    and HTML tags (the app renders Markdown; an endpoint's markup is not passed on)."""
    text = _ANSI.sub("", text or "")
    text = _HTML.sub("", text)
    return _CONTROL.sub("", text).strip()


def unsafe_instruction(text: str) -> str | None:
    """The first phrase of ``text`` that tells the user to run a command or reveal a secret."""
    m = _UNSAFE.search(text or "")
    return " ".join(m.group(0).split())[:60] if m else None


def as_findings(findings: Sequence[Finding | Mapping]) -> list[Finding]:
    """``findings`` as :class:`Finding` values (a stored conversation may hold their dicts)."""
    return [f if isinstance(f, Finding) else Finding.model_validate(f) for f in findings or []]


def top_findings(findings: Sequence[Finding | Mapping]) -> list[Finding]:
    """The findings a rewrite of the review must keep: those worth fixing (severity high or
    medium; a minor one, even ranked first, may be left out of a shorter answer)."""
    return [f for f in as_findings(findings) if f.severity in ("high", "medium")]


def lost_findings(text: str, findings: Sequence[Finding]) -> list[str]:
    """Titles of the top findings (:func:`top_findings`) a rewrite of the review no longer states.

    A finding is kept when the rewrite states one of the numbers of its detail and, when its
    action has numbers, one of its action's, each with the unit and subject the finding gives it
    (:func:`.grounding.stated`): "the vocals sit 14 dB under the rest" keeps "The vocals sit at
    -14.2 dB against the rest of the mix"; the same number said of the drums does not."""
    lost = []
    for f in top_findings(findings):
        # each part read as the review writes it, under the finding's title (its subject)
        parts = [f"- **{f.title}**: {p}" for p in (f.detail, f.action or "") if read_claims(p)]
        if not parts and f.evidence:  # a finding whose numbers are only in its evidence rows
            parts = [" ".join(f"{e.value:g} {e.unit}" for e in f.evidence)]
        if not parts:  # a finding without numbers: a statement names its stem and its title's words
            if not any(_subjects(s) >= _subjects(f.title) and keywords(s) >= keywords(f.title)
                       for s in _STATEMENT.findall(text or "")):
                lost.append(f.title)
        elif any(not stated(text, said_evidence(p, "finding")) for p in parts):
            lost.append(f.title)
    return lost


# a finding's state, as its title says it, and the words that would say the opposite
_STATE_WORDS = {
    "high": re.compile(r"\b(?:too loud|too hot|too bright|too harsh|too wide|louder than|brighter than|above the)\b",
                       re.IGNORECASE),
    "low": re.compile(r"\b(?:too quiet|too soft|too dull|too dark|too narrow|quieter than|darker than|buried"
                      r"|below the)\b", re.IGNORECASE),
}
_OPPOSITE = {"high": "low", "low": "high"}


def _title_state(title: str) -> str | None:
    said = [k for k, rx in _STATE_WORDS.items() if rx.search(title)]
    return said[0] if len(said) == 1 else None


@functools.lru_cache(maxsize=1)
def _subject_words():
    from .grounding import _lexicon

    stem_re, not_a_stem, platform_re, _ = _lexicon()
    return stem_re, not_a_stem, platform_re


def _subjects(text: str) -> set[str]:
    stem_re, not_a_stem, platform_re = _subject_words()
    low = text.lower()
    masked = not_a_stem.sub(lambda m: " " * len(m.group(0)), low)
    return {m.lastgroup for m in stem_re.finditer(masked)} | {m.lastgroup for m in platform_re.finditer(low)}


_STATEMENT = re.compile(r"[^.;:!?\n]+")
# direction words a title may carry, each with its opposite
_OPPOSITES = (("above", "below"), ("over", "under"), ("too loud", "too quiet"), ("louder", "quieter"),
              ("brighter", "darker"), ("too much", "too little"), ("too wide", "too narrow"), ("more", "less"),
              ("too bright", "too dull"), ("raise", "lower"), ("boost", "cut"))
_FLIP = {a: b for x, y in _OPPOSITES for a, b in ((x, y), (y, x))}
_FLIP_RE = re.compile(r"\b(" + "|".join(re.escape(w) for w in sorted(_FLIP, key=len, reverse=True)) + r")\b",
                      re.IGNORECASE)


def _turned_titles(title: str) -> list[str]:
    """``title`` with one of its direction words turned round ("True peak under the ceiling" ->
    "True peak over the ceiling"), lower case."""
    t = title.lower()
    return [t[:m.start()] + _FLIP[m.group(1).lower()] + t[m.end():] for m in _FLIP_RE.finditer(t)]


def reversed_findings(text: str, findings: Sequence[Finding]) -> list[str]:
    """Titles of the findings whose direction a rewrite turns round: the title itself with a
    direction word turned ("True peak over the ceiling" for "True peak under the ceiling"), or,
    for a finding that is not fine, a statement that names its stem or platform with the
    opposite state ("the vocals are too loud" for "Vocals too quiet", "louder than Spotify plays
    it" for "Quieter than Spotify plays music") and not its own."""
    out = []
    low = (text or "").lower()
    for f in as_findings(findings):
        if any(t in low for t in _turned_titles(f.title)):  # the finding's own title, turned round
            out.append(f.title)
            continue
        state = _title_state(f.title) if f.severity != "ok" else None
        who = _subjects(f.title) if state else set()
        if not who:
            continue
        for m in _STATEMENT.finditer(text or ""):
            s = m.group(0)
            if (_STATE_WORDS[_OPPOSITE[state]].search(s) and not _STATE_WORDS[state].search(s)
                    and _subjects(s) & who):
                out.append(f.title)
                break
    return out
