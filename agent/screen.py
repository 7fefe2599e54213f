"""Endpoint text is data: control characters and markup stripped, instructions to run commands or
give up secrets refused, and the review's top findings required to survive a rewrite."""
from __future__ import annotations

import re
from collections.abc import Sequence

from .grounding import read_numbers
from .schema import Finding

__all__ = ["clean_text", "lost_findings", "unsafe_instruction"]

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


def lost_findings(text: str, findings: Sequence[Finding]) -> list[str]:
    """Titles of the findings worth fixing (severity high or medium) whose numbers a rewrite of
    the review no longer states (none of its evidence values appears at its written precision)."""
    said = read_numbers(text)
    lost = []
    for f in findings:
        if f.severity not in ("high", "medium") or not f.evidence:
            continue
        if not any(n.states(e.value) for e in f.evidence for n in said):
            lost.append(f.title)
    return lost
