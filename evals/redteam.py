"""Red-team set for the grounding guard: ``mixingbuddy eval redteam``.

The scripted conversations (:mod:`.agent_eval`) are run with the built-in composer; each of its
answers (review and follow-ups) is rewritten with one planted error of a known kind, seeded, and
put to the guard's own rule (:func:`mixingbuddy.agent.nodes.llm_loop.judge_reply`) as if a
language model had written it, with that answer as the draft. Correct rewrites (the answer
itself, its lines reordered, its numberless lines dropped, numbers rounded or spelled out) must
pass. :func:`run_redteam` scores both: caught per error kind, and false rejections.

The planted errors: a number shifted by 1-6 of its unit (a frequency by 10-60 %) or replaced by
another quantity's value of the same unit; the stem word nearest a number in its clause swapped
(not the stem a comparison is made against); a unit swapped (dB -> LUFS, Hz <-> kHz, ...); a
level spelled out as a wrong whole number; a top finding's lines left out; a direction word
turned round (too quiet/too loud, below/above, raise/lower, boost/cut ...) in a sentence with a
number or in a finding's title, outside a negation (where the turned sentence may still be true).
"""
from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..agent.grounding import QuantClaim, read_claims
from ..agent.nodes.llm_loop import judge_reply
from ..agent.screen import top_findings
from ..tools.io.audio import STEM_ROLES
from .agent_eval import TurnRecord, load_scenarios, run_scenario

__all__ = ["CORRECT_KINDS", "ERROR_KINDS", "Case", "Turn", "build_cases", "collect_turns", "judge_cases",
           "plant", "rewrite", "run_redteam", "summarize", "summary_markdown"]

# the planted errors, one per rewrite
ERROR_KINDS = ("wrong_number", "wrong_stem", "wrong_unit", "words_wrong", "dropped_finding", "reversed_direction")
# the rewrites that must pass: the answer, its bullets (or sentences) in another order, its lines
# without numbers dropped, its one-decimal levels rounded half up to whole dB ("about 5 dB" for
# 4.6 dB, "about 13 dB" for 12.5 dB: a number written with fewer decimals states the value at that
# precision), a whole level spelled out ("six dB" for 5.5 dB)
CORRECT_KINDS = ("unaltered", "reordered", "trimmed", "rounded", "words_right")

_STEM_WORD = {"vocals": "vocals", "drums": "drums", "bass": "bass", "other": "other instruments"}
_WRONG_UNIT = {"dB": "LUFS", "LU": "LUFS", "LUFS": "dBTP", "dBTP": "LUFS", "Hz": "kHz", "kHz": "Hz",
               "%": "dB", "s": "ms"}
_UNIT_TOKEN = re.compile(r"\s?(dBTP|dBFS|dB|LUFS|LU|kHz|Hz|%|s)(?![\w/])")
_DIGITS = re.compile(r"[+\-\u2212]?\d[\d,]*(?:\.\d+)?")
_FLIPS = [("too quiet", "too loud"), ("quieter", "louder"), ("below", "above"), ("under", "over"),
          ("Raise", "Lower"), ("raise", "lower"), ("Boost", "Cut"), ("boost", "cut"), ("up by", "down by"),
          ("turns it up", "turns it down")]
_FLIP_RE = re.compile(r"\b(" + "|".join(re.escape(w) for pair in _FLIPS for w in pair) + r")\b")
_FLIP = {a: b for x, y in _FLIPS for a, b in ((x, y), (y, x))}
_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
          "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_AGAINST = re.compile(r"\b(?:against|relative to|compared (?:with|to)|vs\.?) the $", re.IGNORECASE)
_NEGATED = re.compile(r"\b(?:not|no|never|n't|nothing)\b[^,;:.]*$", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<!\d)[.!?](?!\d)|\n")
_CLAUSE = re.compile(r"(?<!\d)[.!?](?!\d)|[\n,;:()]")


@dataclass
class Turn:
    """One composer answer with the conversation's state after it."""

    scenario: str
    index: int  # 0: the review; 1, 2, ...: the follow-ups
    question: str | None
    answer: str
    state: dict = field(repr=False)


@dataclass
class Case:
    """One rewrite put to the guard."""

    scenario: str
    turn: int
    kind: str  # an ERROR_KINDS or CORRECT_KINDS entry
    planted: bool  # True: it carries one planted error and must be caught
    detail: str  # what was changed ("5.5 dB -> 8.5 dB")
    text: str = field(repr=False)
    verdict: str | None = None  # the guard's: None (passed) or the problem's kind
    problem: str | None = None

    @property
    def correct(self) -> bool:
        """The guard did the right thing: caught a planted error, passed a correct rewrite."""
        return (self.verdict is not None) == self.planted


# =========================================================================== collecting

def collect_turns(scenarios: Sequence, *, buddy=None, home: str | Path | None = None, use_model: bool = True,
                  weights: str | Path | None = None, progress: bool = True) -> list[Turn]:
    """Run ``scenarios`` with the built-in composer (no language model) and keep every answered
    turn with the conversation's state after it."""
    turns: list[Turn] = []
    with tempfile.TemporaryDirectory(prefix="mb-redteam-") as tmp:
        if buddy is None:
            from ..agent.api import MixingBuddy

            buddy = MixingBuddy(home=home or Path(tmp) / "home", llm=None, weights=weights, use_model=use_model)
        for i, sc in enumerate(scenarios, 1):
            t0 = time.perf_counter()
            seen: list[TurnRecord] = []
            run_scenario(buddy, sc, Path(tmp) / "audio", on_turn=seen.append)
            for k, rec in enumerate(seen):
                if rec.ok and rec.answer.strip():
                    turns.append(Turn(sc.name, k, rec.question, rec.answer, dict(rec.state)))
            if progress:
                print(f"[{i}/{len(scenarios)}] {sc.name}: {len(seen)} turns ({time.perf_counter() - t0:.1f} s)",
                      file=sys.stderr, flush=True)
    return turns


# =========================================================================== rewriting

def _numeric_span(text: str, c: QuantClaim) -> tuple[int, int]:
    """Where the digits of ``c`` are (its written form may carry a unit: "74.5%", "2.5 kHz")."""
    m = _DIGITS.search(text, c.number.start, c.number.end)
    return (m.start(), m.end()) if m else (c.number.start, c.number.end)


def _fmt(value: float, decimals: int, plus: bool) -> str:
    s = f"{value:.{decimals}f}"
    return f"+{s}" if plus and value > 0 else s


def _half_up(value: float) -> int:
    """``value`` rounded half away from zero, as a number is rounded for display (4.5 -> 5)."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def _in_words(n: int) -> str:
    n = abs(int(n))
    if n < 20:
        return _WORDS[n]
    tens, unit = divmod(n, 10)
    return _TENS[tens] + (f"-{_WORDS[unit]}" if unit else "")


def _quantities(text: str) -> list[QuantClaim]:
    """The claims a rewrite may get wrong: digits with a measured unit, not time stamps."""
    return [c for c in read_claims(text) if c.unit in ("dB", "LUFS", "dBTP", "%", "Hz", "s")
            and not c.number.word and ":" not in c.number.written]


def _replace(text: str, a: int, b: int, new: str) -> str:
    return text[:a] + new + text[b:]


def _span_of(text: str, pos: int, ends: re.Pattern) -> tuple[int, int]:
    """The stretch of ``text`` around ``pos`` between two matches of ``ends``."""
    cuts = [0] + [m.end() for m in ends.finditer(text)] + [len(text)]
    i = max(k for k, c in enumerate(cuts) if c <= pos)
    return cuts[i], cuts[min(i + 1, len(cuts) - 1)]


def _sentence_of(text: str, pos: int) -> tuple[int, int]:
    return _span_of(text, pos, _SENTENCE)


def _stem_mentions(text: str) -> list[tuple[int, int, str]]:
    from ..agent import intents

    masked = intents._NOT_A_STEM.sub(lambda m: " " * len(m.group(0)), text.lower())
    return [(m.start(), m.end(), m.lastgroup) for m in intents._STEM_RE.finditer(masked)]


def _wrong_number(text: str, turn: Turn, rng: random.Random) -> tuple[str, str] | None:
    claims = _quantities(text)
    if not claims:
        return None
    c = rng.choice(claims)
    a, b = _numeric_span(text, c)
    old = text[a:b]
    d = c.number.decimals
    mag = abs(c.number.value)
    donors = [x for x in claims if x.unit == c.unit and abs(abs(x.number.value) - mag) >= 1.0
              and x.subject != c.subject]
    if donors and rng.random() < 0.3:  # a value taken from another quantity of the same unit
        x = rng.choice(donors)
        new_mag = abs(x.number.value)
        how = f"value of {x.written!r}"
    else:  # shifted by 1-6 units (Hz: by 10-60 %)
        k = rng.randint(1, 6)
        step = mag * 0.1 * k if c.unit == "Hz" else float(k)
        new_mag = mag + step if (rng.random() < 0.5 or mag - step <= 0) else mag - step
        how = f"shifted by {new_mag - mag:+g}"
    new = _fmt(-new_mag if c.number.value < 0 else new_mag, d, old.startswith("+"))
    if new.lstrip("+-") == old.lstrip("+-\u2212"):
        return None
    return _replace(text, a, b, new), f"{c.written} -> {new} ({how})"


def _wrong_stem(text: str, turn: Turn, rng: random.Random) -> tuple[str, str] | None:
    """The stem word nearest a number in its clause is swapped for a stem the sentence does not name."""
    mentions = _stem_mentions(text)
    options = []
    for c in _quantities(text):
        lo, hi = _span_of(text, c.number.start, _CLAUSE)
        # the stem a comparison is made against ("the reading against the drums") is not the one
        # the number is about
        near = [m for m in mentions if lo <= m[0] < hi and not _AGAINST.search(text[max(0, m[0] - 20):m[0]])]
        if not near:
            continue
        m = min(near, key=lambda m: min(abs(m[0] - c.number.start), abs(m[1] - c.number.end)))
        sa, sb = _sentence_of(text, c.number.start)
        others = [s for s in STEM_ROLES if s not in {x[2] for x in mentions if sa <= x[0] < sb}]
        if others:
            options.append((c, m, others))
    if not options:
        return None
    c, (a, b, stem), others = rng.choice(options)
    new_stem = rng.choice(others)
    word = _STEM_WORD[new_stem]
    if text[a].isupper():
        word = word[0].upper() + word[1:]
    return _replace(text, a, b, word), f"{text[a:b]!r} -> {word!r} (about {c.written})"


def _wrong_unit(text: str, turn: Turn, rng: random.Random) -> tuple[str, str] | None:
    options = []
    for c in _quantities(text):
        m = _UNIT_TOKEN.match(text, c.number.end) or _UNIT_TOKEN.search(text, c.number.start, c.number.end)
        if m and m.group(1) in _WRONG_UNIT and c.number.value != 0:  # "0 s" is "0 ms"
            options.append((c, m))
    if not options:
        return None
    c, m = rng.choice(options)
    new = _WRONG_UNIT[m.group(1)]
    return _replace(text, m.start(1), m.end(1), new), f"{c.written} {m.group(1)} -> {new}"


def _in_range(text: str, c: QuantClaim) -> bool:
    """``c`` is an end of a range ("4.8-6.0 dB", "3 to 6 dB")."""
    before = text[max(0, c.number.start - 4):c.number.start]
    return bool(re.search(r"\d\s*[-\u2013]\s*$|\d to $", before) or re.match(r"\s*(?:[-\u2013]|to )\s*\d", text[c.number.end:]))


def _whole_levels(text: str) -> list[QuantClaim]:
    """Levels in dB written as a number and its unit, not a range's end: what may be spelled out."""
    return [c for c in _quantities(text) if c.unit == "dB" and abs(c.number.value) < 60
            and _UNIT_TOKEN.match(text, c.number.end) and not _in_range(text, c)]


def _words_wrong(text: str, turn: Turn, rng: random.Random) -> tuple[str, str] | None:
    options = _whole_levels(text)
    if not options:
        return None
    c = rng.choice(options)
    right = _half_up(abs(c.number.value))
    wrong = right + rng.choice([k for k in (-3, -2, -1, 1, 2, 3) if right + k >= 0 and abs(right + k - abs(c.number.value)) > 0.5])
    a, b = _numeric_span(text, c)
    word = ("minus " if c.number.value < 0 else "") + _in_words(wrong)
    return _replace(text, a, b, word), f"{c.written} -> {word!r}"


def _finding_lines(text: str, title: str) -> list[tuple[int, int]]:
    spans = []
    for m in re.finditer(r"^.*\*\*" + re.escape(title) + r"\*\*.*$\n?", text, re.MULTILINE | re.IGNORECASE):
        spans.append((m.start(), m.end()))
    return spans


def _dropped_finding(text: str, turn: Turn, rng: random.Random) -> tuple[str, str] | None:
    """A top finding of the review (``screen.top_findings``) left out: every line naming it in bold."""
    if turn.question is not None:
        return None
    top = [f for f in top_findings(turn.state.get("findings") or []) if _finding_lines(text, f.title)]
    if not top:
        return None
    f = rng.choice(top)
    out = text
    for a, b in reversed(_finding_lines(text, f.title)):
        out = out[:a] + out[b:]
    return out, f"dropped {f.title!r}"


def _reversed(text: str, turn: Turn, rng: random.Random) -> tuple[str, str] | None:
    """A direction word in a sentence that states a number, or in a finding's title, is turned round."""
    titled = {m.start() for m in re.finditer(r"\*\*[^*\n]+\*\*", text)}
    options = []
    for m in _FLIP_RE.finditer(text):
        lo, hi = _sentence_of(text, m.start())
        in_title = any(t <= m.start() < text.find("**", t + 2) for t in titled)
        if _NEGATED.search(text[lo:m.start()]):
            continue  # "will not sound quieter": turned round, it may still be true
        if in_title or any(lo <= c.number.start < hi for c in _quantities(text)):
            options.append(m)
    if not options:
        return None
    m = rng.choice(options)
    new = _FLIP[m.group(1)]
    return _replace(text, m.start(1), m.end(1), new), f"{m.group(1)!r} -> {new!r}"


def _reordered(text: str, turn: Turn, rng: random.Random) -> tuple[str, str] | None:
    blocks = re.split(r"(\n\s*\n)", text)
    changed = False
    for i, blk in enumerate(blocks):
        lines = blk.split("\n")
        bullets = [k for k, ln in enumerate(lines) if ln.startswith("- ")]
        if len(bullets) >= 2:
            moved = [lines[k] for k in bullets]
            rng.shuffle(moved)
            for k, ln in zip(bullets, moved):
                lines[k] = ln
            blocks[i] = "\n".join(lines)
            changed = True
    if not changed:
        parts = [p for p in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text) if p.strip()]
        if len(parts) < 2:
            return None
        rng.shuffle(parts)
        return " ".join(parts), "sentences shuffled"
    return "".join(blocks), "bullets shuffled within each list"


def _trimmed(text: str, turn: Turn, rng: random.Random) -> tuple[str, str] | None:
    titles = [f.title for f in top_findings(turn.state.get("findings") or [])]
    keep = [ln for ln in text.split("\n") if read_claims(ln) or any(f"**{t}**" in ln for t in titles)]
    if len(keep) == len(text.split("\n")):
        return None
    return "\n".join(keep), "lines without numbers dropped"


def _rounded(text: str, turn: Turn, rng: random.Random) -> tuple[str, str] | None:
    out, n = text, 0
    for c in reversed(_whole_levels(text)):
        a, b = _numeric_span(text, c)
        if c.number.decimals != 1 or text[:a].endswith("about "):
            continue
        if _half_up(c.number.value) == 0:
            continue
        out = _replace(out, a, b, "about " + _fmt(_half_up(c.number.value), 0, False))
        n += 1
    return (out, f"{n} levels rounded to whole dB") if n else None


def _words_right(text: str, turn: Turn, rng: random.Random) -> tuple[str, str] | None:
    options = _whole_levels(text)
    if not options:
        return None
    c = rng.choice(options)
    a, b = _numeric_span(text, c)
    word = ("minus " if c.number.value < 0 else "") + _in_words(_half_up(abs(c.number.value)))
    return _replace(text, a, b, word), f"{c.written} -> {word!r}"


_MAKERS: dict[str, Callable[[str, Turn, random.Random], tuple[str, str] | None]] = {
    "wrong_number": _wrong_number, "wrong_stem": _wrong_stem, "wrong_unit": _wrong_unit,
    "words_wrong": _words_wrong, "dropped_finding": _dropped_finding, "reversed_direction": _reversed,
    "unaltered": lambda text, turn, rng: (text, "as composed"), "reordered": _reordered, "trimmed": _trimmed,
    "rounded": _rounded, "words_right": _words_right,
}


def rewrite(turn: Turn, kind: str, rng: random.Random) -> tuple[str, str] | None:
    """One rewrite of ``turn``'s answer of ``kind`` (an error or a correct paraphrase):
    ``(text, what changed)``, or None where the answer offers nothing to change that way."""
    return _MAKERS[kind](turn.answer, turn, rng)


def plant(turn: Turn, kind: str, seed: int = 0, tries: int = 1) -> list[Case]:
    """Up to ``tries`` distinct rewrites of ``kind`` for ``turn``, each seeded by ``seed``, the
    scenario, the turn and the kind (the same set on every run)."""
    rng = random.Random(f"{seed}:{turn.scenario}:{turn.index}:{kind}")
    out: list[Case] = []
    seen: set[str] = set()
    for _ in range(tries * 3):
        got = rewrite(turn, kind, rng)
        if got is None:
            break
        text, detail = got
        if text in seen or (kind in ERROR_KINDS and text == turn.answer):
            continue
        seen.add(text)
        out.append(Case(turn.scenario, turn.index, kind, kind in ERROR_KINDS, detail, text))
        if len(out) >= tries:
            break
    return out


def build_cases(turns: Sequence[Turn], *, seed: int = 0, per_kind: int = 1) -> list[Case]:
    """Every turn's planted errors (``per_kind`` of each kind where the answer allows it) and its
    correct rewrites."""
    return [c for t in turns for kind in (*ERROR_KINDS, *CORRECT_KINDS)
            for c in plant(t, kind, seed, per_kind if kind in ERROR_KINDS else 1)]


def judge_cases(turns: Sequence[Turn], cases: Sequence[Case]) -> None:
    """Put each case to the guard as the rewrite of its turn's answer (fills ``verdict``)."""
    by_key = {(t.scenario, t.index): t for t in turns}
    for c in cases:
        t = by_key[(c.scenario, c.turn)]
        v = judge_reply(t.state, c.text, draft=t.answer, question=t.question)
        c.verdict, c.problem = v.kind, v.problem


# =========================================================================== scoring

def summarize(cases: Sequence[Case]) -> dict[str, Any]:
    """Caught per error kind and overall; false rejections per correct kind and overall."""
    kinds: dict[str, dict[str, Any]] = {}
    for k in (*ERROR_KINDS, *CORRECT_KINDS):
        cs = [c for c in cases if c.kind == k]
        good = sum(c.correct for c in cs)
        kinds[k] = {"n": len(cs), "caught" if k in ERROR_KINDS else "passed": good,
                    "rate": good / len(cs) if cs else None}
    planted = [c for c in cases if c.planted]
    correct = [c for c in cases if not c.planted]
    caught = sum(c.correct for c in planted)
    return {"kinds": kinds, "planted": len(planted), "caught": caught,
            "caught_rate": caught / len(planted) if planted else None,
            "correct": len(correct), "false_rejections": sum(not c.correct for c in correct),
            "scenarios": len({c.scenario for c in cases}), "answers": len({(c.scenario, c.turn) for c in cases})}


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100.0 * x:.1f}%"


def summary_markdown(s: dict, cases: Sequence[Case]) -> str:
    lines = [f"Red team: {s['answers']} composer answers of {s['scenarios']} scenarios", "",
             "| planted error | planted | caught | % |", "|---|---|---|---|"]
    for k in ERROR_KINDS:
        d = s["kinds"][k]
        lines.append(f"| {k} | {d['n']} | {d['caught']} | {_pct(d['rate'])} |")
    lines += [f"| **all** | {s['planted']} | {s['caught']} | {_pct(s['caught_rate'])} (target >= 99%) |", "",
              "| correct rewrite | n | passed | false rejections |", "|---|---|---|---|"]
    for k in CORRECT_KINDS:
        d = s["kinds"][k]
        lines.append(f"| {k} | {d['n']} | {d['passed']} | {d['n'] - d['passed']} |")
    lines.append(f"| **all** | {s['correct']} | {s['correct'] - s['false_rejections']} | "
                 f"{s['false_rejections']} (target 0) |")
    wrong = [c for c in cases if not c.correct]
    if wrong:
        lines += ["", "| scenario | turn | kind | change | guard |", "|---|---|---|---|---|"]
        lines += [f"| {c.scenario} | {c.turn} | {c.kind} | {c.detail[:80]} | {c.problem or 'passed'} |".replace("\n", " ")
                  for c in wrong[:60]]
    return "\n".join(lines) + "\n"


def run_redteam(scenarios: Sequence, out_dir: str | Path | None = None, *, seed: int = 0, per_kind: int = 1,
                buddy=None, home: str | Path | None = None, use_model: bool = True,
                weights: str | Path | None = None, progress: bool = True) -> tuple[dict, list[Case]]:
    """Collect the composer's answers of ``scenarios``, plant and judge the rewrites, write
    ``cases.json`` and ``summary.md`` into ``out_dir`` (when given); ``(summary, cases)``."""
    turns = collect_turns(scenarios, buddy=buddy, home=home, use_model=use_model, weights=weights,
                          progress=progress)
    cases = build_cases(turns, seed=seed, per_kind=per_kind)
    judge_cases(turns, cases)
    s = summarize(cases)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "cases.json").write_text(json.dumps({"summary": s, "cases": [
            {**asdict(c), "correct": c.correct} for c in cases]}, indent=2))
        (out / "summary.md").write_text(summary_markdown(s, cases))
    return s, cases


# =========================================================================== CLI

def cmd_redteam(args) -> int:
    scenarios = load_scenarios(args.scenarios, args.only)
    s, cases = run_redteam(scenarios, args.out, seed=args.seed, per_kind=args.per_kind,
                           use_model=not args.no_model, weights=args.weights, home=args.home)
    print(summary_markdown(s, cases), end="")
    print(f"\nwrote {Path(args.out) / 'cases.json'} and summary.md", file=sys.stderr)
    return 0


def add_redteam_parser(eval_subparsers) -> argparse.ArgumentParser:
    """Register ``redteam`` under the ``eval`` sub-command group."""
    r = eval_subparsers.add_parser(
        "redteam", help="rewrites of the composer's answers with planted errors, put to the grounding guard",
        description="Run the scripted conversations with the built-in composer, rewrite each answer with one "
                    "planted error (wrong number, stem, unit, number in words, dropped finding, reversed "
                    "direction) and as correct paraphrases, and score the guard: caught and false rejections.")
    r.add_argument("--scenarios", metavar="DIR", help="scenario folder (default: the packaged scenarios)")
    r.add_argument("--only", action="append", metavar="NAME",
                   help="run only these scenarios (names or glob patterns; repeat or comma-separate)")
    r.add_argument("--out", default="runs/eval_redteam", metavar="DIR",
                   help="report folder (default runs/eval_redteam)")
    r.add_argument("--seed", type=int, default=0, help="seed of the planted errors (default 0)")
    r.add_argument("--per-kind", type=int, default=2, metavar="N",
                   help="planted errors of each kind per answer, where it allows them (default 2)")
    r.add_argument("--weights", metavar="DIR", help="audio model folder (default: the shipped model/weights/)")
    r.add_argument("--no-model", action="store_true", help="review without the audio model (tools only)")
    r.add_argument("--home", metavar="DIR", help="agent home for the conversations (default: a temporary folder)")
    r.set_defaults(func=cmd_redteam)
    return r
