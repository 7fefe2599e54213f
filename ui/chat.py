"""The app's chat messages: what each dropped file is taken as, the echo, the live progress, and a review folded into a short lead and topics."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from ..tools.io.stems import infer_stem_role, is_stem_mp4_name

__all__ = ["LEAD_ITEMS", "NONE", "Assignment", "assign_files", "echo_text", "fold_review", "messages_from_history",
           "progress_message", "step_lines", "streaming_message", "text_of"]

LEAD_ITEMS = 3  # the fixes the lead names; the rest is folded
NONE = "(none)"
_REF_RE = re.compile(r"(?:^|[^a-z])(ref|refs|reference|references)(?:[^a-z]|$)", re.IGNORECASE)
_MIX_RE = re.compile(r"(?:^|[^a-z])(mix|mixdown|master|mixture|bounce|full ?mix)(?:[^a-z]|$)", re.IGNORECASE)
_STEM_WORD_RE = re.compile(r"(?:^|[^a-z])(other|stem|stems)(?:[^a-z]|$)", re.IGNORECASE)
_ITEM_RE = re.compile(r"^- (?:\[[^\]]+\] )?\*\*(?P<title>.+?)\*\*: (?P<detail>.*?)(?: \*Do this:\* (?P<action>.*))?$")


@dataclass
class Assignment:
    """What the files dropped in the message box are taken as (names are the files' base names)."""

    mix: str | None = None
    stems: list[str] = field(default_factory=list)
    reference: str | None = None
    roles: dict[str, str] = field(default_factory=dict)  # stem file name -> role, from its name

    def lines(self) -> list[str]:
        out = []
        if self.mix:
            out.append(f"{self.mix}: the mix" + (" (its streams give the stems)" if is_stem_mp4_name(self.mix) else ""))
        for s in self.stems:
            out.append(f"{s}: stems (a ZIP)" if s.lower().endswith(".zip") else f"{s}: the {self.roles.get(s, 'other')} stem")
        if self.reference:
            out.append(f"{self.reference}: the reference track")
        return out


def _base(path: str) -> str:
    return os.path.basename(path)


def assign_files(names: list[str], mix: str | None = None, reference: str | None = None) -> Assignment:
    """Take each dropped file as the mix, a stem or the reference.

    Parameters
    ----------
    names : list of str
        The files' names (or paths), in the order dropped.
    mix, reference : str or None
        The user's corrections (a file's base name; ``NONE`` for no reference). None: guessed.

    Returns
    -------
    Assignment
        By name: a ``.zip`` is stems; ``*.stem.mp4`` is the mix; "ref"/"reference" is the
        reference; a name with a stem role (``tools.io.stems.infer_stem_role``: vocals, kick,
        bass...) or "other"/"stem" is a stem; "mix"/"master"/"bounce" is the mix; of the rest the
        first is the mix, and a second one, with no stems, the reference.
    """
    base = [_base(n) for n in names]
    if mix not in base:
        mix = None
    if reference != NONE and reference not in base:
        reference = None
    a = Assignment()
    rest = []
    for n in base:
        if n in (mix, reference):
            continue
        low = n.lower()
        if low.endswith(".zip"):
            a.stems.append(n)
        elif is_stem_mp4_name(n) and mix is None and a.mix is None:
            a.mix = n
        elif reference is None and _REF_RE.search(low):
            reference = n
        elif infer_stem_role(n) != "other" or _STEM_WORD_RE.search(low):
            a.stems.append(n)
        elif mix is None and a.mix is None and _MIX_RE.search(low):
            a.mix = n
        else:
            rest.append(n)
    a.mix = mix or a.mix
    if a.mix is None and rest:
        a.mix = rest.pop(0)
    if reference is None and rest and not a.stems and len(rest) == 1:
        reference = rest.pop(0)
    a.stems += rest  # anything left is a stem named "other"
    a.reference = reference if reference not in (None, NONE) else None
    a.roles = {s: infer_stem_role(s) for s in a.stems if not s.lower().endswith(".zip")}
    return a


def echo_text(text: str, files: list[str]) -> str:
    """The user's message as echoed in the chat: the text, then the files' names."""
    names = ", ".join(_base(f) for f in files)
    text = " ".join(str(text or "").split())
    if names and text:
        return f"{text}\n\n(files: {names})"
    return text or f"Review my mix (files: {names})"


def step_lines(nodes: dict[str, str], elapsed_s: float) -> str:
    """The progress message's body: one line per step with its time, the running one marked."""
    rows = []
    for node, status in nodes.items():
        if status.startswith("done"):
            rows.append(f"- {node}: done {status[4:].strip()}".rstrip())
        elif status == "failed":
            rows.append(f"- {node}: failed")
        else:
            rows.append(f"- {node}: running...")
    rows.append(f"\n{elapsed_s:.1f} s so far")
    return "\n".join(rows)


def progress_message(title: str, body: str, done: bool = False) -> dict:
    """A collapsible assistant message (Gradio's ``metadata``): open with a spinner while
    pending, folded once done."""
    return {"role": "assistant", "content": body or "starting...",
            "metadata": {"title": title, "status": "done" if done else "pending"}}


STREAMING_NOTE = ("_Being written by the language model; each sentence shows once its numbers match the "
                  "measurements. The whole answer is checked again when it ends._")


def streaming_message(checked_text: str) -> dict:
    """The language model's answer while it streams: the checked text so far, marked as not final."""
    return {"role": "assistant", "content": f"{checked_text.rstrip()} \u2026\n\n{STREAMING_NOTE}"}


def _first_clause(text: str) -> str:
    """The text up to its first ``.``, ``;`` or ``:`` followed by a space, outside brackets."""
    depth = 0
    for i, ch in enumerate(text):
        depth += (ch in "([") - (ch in ")]")
        if depth == 0 and ch in ".;:" and (i + 1 == len(text) or text[i + 1] == " "):
            return text[:i]
    return text.rstrip(".;:")


def _lead_line(k: int, line: str) -> str:
    m = _ITEM_RE.match(line.strip())
    if not m:
        return f"{k}. {line.strip()[2:]}"
    action = (m.group("action") or "").strip()
    detail = m.group("detail").strip()
    first = _first_clause(detail)
    if action and re.search(r"\d", action):
        return f"{k}. **{m.group('title')}**: {action}"
    return f"{k}. **{m.group('title')}**: {first}." + (f" {action}" if action else "")


def fold_review(answer: str) -> list[dict]:
    """A review's answer as chat messages: a short lead (its first lines and the first
    ``LEAD_ITEMS`` fixes, each as its move with its number), then each section folded under its
    heading (the rest of the fixes, what is already fine, notes). An answer without sections
    (a language model's prose) stays one message."""
    parts = re.split(r"^### +(.+)$", answer or "", flags=re.MULTILINE)
    head, sections = parts[0].strip(), list(zip(parts[1::2], parts[2::2]))
    if not sections:
        return [{"role": "assistant", "content": (answer or "").strip()}]
    title0, body0 = sections[0]
    items = [ln for ln in body0.splitlines() if ln.startswith("- ")]
    lead_items = items[:LEAD_ITEMS]
    lead = [head] if head else []
    if lead_items:
        lead.append(f"**{title0.strip()}, first:**\n" + "\n".join(_lead_line(k + 1, ln) for k, ln in enumerate(lead_items)))
    out = [{"role": "assistant", "content": "\n\n".join(lead) or "Review done."}]
    if lead_items:
        out.append({"role": "assistant", "content": "\n".join(items),
                    "metadata": {"title": f"{title0.strip()}: all {len(items)}, with the measurements",
                                 "status": "done"}})
    for title, body in sections[1:] if lead_items else sections:
        body = body.strip()
        n = sum(1 for ln in body.splitlines() if ln.startswith("- "))
        out.append({"role": "assistant", "content": body,
                    "metadata": {"title": f"{title.strip()} ({n})" if n else title.strip(), "status": "done"}})
    return out


def messages_from_history(history: list[dict] | None) -> list[dict]:
    """The chat from the agent's history: the first answer (the review) folded, the rest as said."""
    out: list[dict] = []
    folded = False
    for m in history or []:
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            continue
        text = str(m.get("content", ""))
        if m["role"] == "assistant" and not folded:
            out += fold_review(text)
            folded = True
        else:
            out.append({"role": m["role"], "content": text})
    return out


def text_of(message: Any) -> str:
    """A chat message's text, whether its content is a string or a list of parts."""
    c = message.get("content") if isinstance(message, dict) else getattr(message, "content", "")
    if isinstance(c, str):
        return c
    if isinstance(c, list):
        return " ".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in c)
    return str(c or "")
