"""Scripted conversations with the agent: ``mixingbuddy eval agent``.

Each scenario (``evals/scenarios/*.yaml``, see :class:`Scenario`) is a conversation with known
answers: an audio recipe (:mod:`.recipes`), the review's options, and checks on the review's
answer and on each follow-up. The runner talks to :class:`mixingbuddy.agent.api.MixingBuddy`
exactly as a user's program would and scores every answer (:func:`run_agent_eval`).
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..agent.grounding import check_grounding, conversation_evidence, read_numbers, said_evidence
from ..tools.errors import InvalidArgumentError, MixingBuddyError, sanitize_name
from .recipes import Recipe, RecipeError, parse_recipe, render_recipe

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"


class ScenarioError(InvalidArgumentError):
    """A scenario file that cannot be loaded (not YAML, wrong shape, unknown check)."""

    code = "bad_scenario"


# =========================================================================== text helpers

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?;])\s+(?=[A-Z*_\-(\"'`])|\n+")
_STEM_WORDS = {
    "vocals": r"\b(?:vocals?|vox|voice|singer|singing)\b",
    "drums": r"\b(?:drums?|kick|snare|hi-?hats?|percussion)\b",
    "bass": r"\bbass(?!\s+drum)(?:line)?\b",
    "other": r"\b(?:other|pads?|keys|synths?|guitars?|piano|instruments?)\b",
}
_HEDGE = re.compile(
    r"estimat|from the mix alone|mix[- ]only|without (?:the |any )?stems|no stems|can(?:no|')t be sure|"
    r"cannot|not sure|uncertain|approximat|roughly|confidence|as far as|rough guess|likely|"
    r"upload (?:the )?stems|with stems|"
    # stems separated from a bounced mix carry their error, and a stem the separator missed is unmeasured
    r"separated from (?:the|your) mix|good to about|not measured", re.IGNORECASE)
_FREQ = re.compile(
    r"(?<![\w.])(?P<a>\d+(?:\.\d+)?)\s*(?P<ua>k(?:hz)?|hz)?\s*(?:-|\u2013|to)\s*(?P<b>\d+(?:\.\d+)?)\s*(?P<ub>khz|hz|k)\b"
    r"|(?<![\w.])(?P<c>\d+(?:\.\d+)?)\s*(?P<uc>khz|hz|k)\b", re.IGNORECASE)


def frequencies_hz(text: str) -> list[tuple[float, float]]:
    """Frequencies mentioned in ``text`` as ``(low_hz, high_hz)`` spans: "250 Hz" ->
    (250, 250), "1.2 kHz" -> (1200, 1200), "250-500 Hz" -> (250, 500), "2-5 kHz" ->
    (2000, 5000), "500 Hz-2 kHz" -> (500, 2000)."""
    def scale(u: str | None, fallback: str | None) -> float:
        u = (u or fallback or "hz").lower()
        return 1000.0 if u.startswith("k") else 1.0

    out = []
    for m in _FREQ.finditer(text or ""):
        if m.group("c") is not None:
            f = float(m.group("c")) * scale(m.group("uc"), None)
            out.append((f, f))
        else:
            a = float(m.group("a")) * scale(m.group("ua"), m.group("ub"))
            b = float(m.group("b")) * scale(m.group("ub"), None)
            out.append((min(a, b), max(a, b)))
    return out


def sentences(text: str) -> list[str]:
    """``text`` cut into sentences and lines (Markdown bullets are lines)."""
    return [s.strip() for s in _SENTENCE_SPLIT.split(text or "") if s and s.strip()]


_KEYS = ("name", "role", "id", "region", "topic")


def resolve_path(obj: Any, path: str) -> Any:
    """A value inside nested dicts/lists by a dotted path: ``loudness.integrated_lufs``,
    ``stem_balance.stems.vocals.level_vs_rest_db`` (a list is entered by index or by the item
    whose ``name``/``role``/``id``/``region``/``topic`` equals the part), also written
    ``stems[name=vocals]`` or ``pairs[0]``. Missing parts give None."""
    cur = obj
    for part in re.findall(r"[^.\[\]]+|\[[^\]]*\]", path):
        if cur is None:
            return None
        sel = part[1:-1] if part.startswith("[") else part
        if isinstance(cur, list):
            if "=" in sel:
                key, _, want = sel.partition("=")
                cur = next((x for x in cur if isinstance(x, dict) and str(x.get(key)) == want), None)
            elif re.fullmatch(r"-?\d+", sel):
                i = int(sel)
                cur = cur[i] if -len(cur) <= i < len(cur) else None
            else:
                cur = next((x for x in cur if isinstance(x, dict)
                            and any(str(x.get(k)) == sel for k in _KEYS if k in x)), None)
        elif isinstance(cur, dict) and not part.startswith("["):
            cur = cur.get(part)
        else:
            return None
    return cur


def advice_of(sentence: str):
    from ..model.data.advice_parser import parse_advice

    return parse_advice(sentence)


# =========================================================================== turns and checks

@dataclass
class TurnRecord:
    """One turn as the checks see it."""

    kind: Literal["review", "ask"]
    question: str | None
    answer: str = ""
    source: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    latency_s: float = 0.0
    findings: list[dict] = field(default_factory=list)
    claims: list[dict] = field(default_factory=list)
    report: dict = field(default_factory=dict)
    degradations: list[str] = field(default_factory=list)
    state: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error_code is None


@dataclass
class CheckOutcome:
    kind: str
    arg: Any
    passed: bool
    detail: str = ""
    vacuous: bool = False  # passed because there was nothing to check (e.g. no refuted claim)


CheckFn = Callable[[TurnRecord, Any], tuple[bool, str]]
# A check is a one-key mapping in a scenario; each check's docstring says what it accepts.
# Texts are matched case-insensitively. Numbers are matched the way the grounding guard reads
# them: a number written with ``d`` decimals matches a value within half a unit of its last
# digit, and must be written with at least the check's ``decimals``.
CHECKS: dict[str, CheckFn] = {}
_ARG_TYPES: dict[str, Any] = {}


def _check(name: str, arg_type: Any):
    """Register a check ``name`` whose YAML argument validates as ``arg_type``."""
    def deco(fn: CheckFn) -> CheckFn:
        CHECKS[name] = fn
        _ARG_TYPES[name] = arg_type
        return fn
    return deco


class _Arg(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CitesArg(_Arg):
    path: str | list[str]  # one path, or several of which any may be cited
    decimals: int = Field(1, ge=0, le=3)
    magnitude: bool = False  # accept the value without its sign ("7.3 dB under" for -7.3)
    offset: float = 0.0  # cite value + offset (a what-if's "after" number)


class FindingArg(_Arg):
    topic: str | list[str]  # one topic, or several of which any counts
    severity_in: list[Literal["high", "medium", "low", "ok"]] = ["high", "medium", "low"]


class AdvisesArg(_Arg):
    stem: Literal["vocals", "drums", "bass", "other"] | None = None
    direction: Literal["increase", "decrease"] | None = None


class EvidenceArg(_Arg):
    topic: str
    min: int = Field(1, ge=1)


def _rx(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


def _need_answer(t: TurnRecord) -> tuple[bool, str] | None:
    if not t.ok:
        return False, f"the turn failed: error[{t.error_code}]: {t.error_message}"
    return None


@_check("contains", str | list[str])
def check_contains(t: TurnRecord, arg) -> tuple[bool, str]:
    """Every regex given matches the answer."""
    if (bad := _need_answer(t)) is not None:
        return bad
    missing = [p for p in ([arg] if isinstance(arg, str) else arg) if not _rx(p).search(t.answer)]
    return (not missing, f"no match for {missing}" if missing else "")


@_check("any_of", list[str])
def check_any_of(t: TurnRecord, arg) -> tuple[bool, str]:
    """At least one of the regexes matches the answer."""
    if (bad := _need_answer(t)) is not None:
        return bad
    hit = next((p for p in arg if _rx(p).search(t.answer)), None)
    return (hit is not None, "" if hit else f"none of {arg} matched")


@_check("not_contains", str | list[str])
def check_not_contains(t: TurnRecord, arg) -> tuple[bool, str]:
    """No regex given matches the answer."""
    if (bad := _need_answer(t)) is not None:
        return bad
    for p in [arg] if isinstance(arg, str) else arg:
        m = _rx(p).search(t.answer)
        if m:
            return False, f"found {m.group(0)!r} ({p})"
    return True, ""


@_check("cites_measured", str | CitesArg)
def check_cites_measured(t: TurnRecord, arg) -> tuple[bool, str]:
    """The measured value at a report path (e.g. ``loudness.integrated_lufs``), plus
    ``offset``, appears in the answer at its rounding (at least ``decimals`` decimals)."""
    if (bad := _need_answer(t)) is not None:
        return bad
    a = CitesArg(path=arg) if isinstance(arg, str) else arg
    paths = [a.path] if isinstance(a.path, str) else a.path
    values = []
    for p in paths:
        v = resolve_path(t.report, p)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            values.append(float(v) + a.offset)
    if not values:
        return False, f"nothing measured at {paths} in the report"
    nums = read_numbers(t.answer)
    for v in values:
        if any(n.states(v, min_decimals=a.decimals, magnitude=a.magnitude) for n in nums):
            return True, f"cites {v:.{a.decimals}f}"
    return False, f"measured {[round(v, 3) for v in values]} not cited at {a.decimals} decimals"


@_check("names_stem", str | list[str])
def check_names_stem(t: TurnRecord, arg) -> tuple[bool, str]:
    """The answer names each stem given (vocals, drums, bass, other, with their usual synonyms)."""
    if (bad := _need_answer(t)) is not None:
        return bad
    stems = [arg] if isinstance(arg, str) else arg
    missing = [s for s in stems if not _rx(_STEM_WORDS.get(s, re.escape(s))).search(t.answer)]
    return (not missing, f"does not name {missing}" if missing else "")


@_check("names_band_hz_between", tuple[float, float])
def check_band(t: TurnRecord, arg) -> tuple[bool, str]:
    """The answer mentions a frequency (or a band with an edge or its centre) within
    ``[low_hz, high_hz]``."""
    if (bad := _need_answer(t)) is not None:
        return bad
    lo, hi = sorted(arg)
    spans = frequencies_hz(t.answer)
    for a, b in spans:
        centre = (a * b) ** 0.5 if a > 0 else b
        if lo <= a <= hi or lo <= b <= hi or lo <= centre <= hi:
            return True, f"mentions {a:g}-{b:g} Hz"
    return False, f"frequencies mentioned: {spans[:6]}"


@_check("hedges", bool)
def check_hedges(t: TurnRecord, arg) -> tuple[bool, str]:
    """``true``: the answer says how uncertain it is (an estimate, from the mix alone,
    without stems...); ``false``: it does not."""
    if (bad := _need_answer(t)) is not None:
        return bad
    m = _HEDGE.search(t.answer)
    return (bool(m) == bool(arg), f"hedge {m.group(0)!r}" if m else "no hedge")


_BARE_NUMBER_CUE = re.compile(r"^[+\-\u2212]?\d+(?:\.\d+)?(?:\s*db)?$", re.IGNORECASE)
_EQ_CUE = re.compile(r"^(?:cut|boost|dip|notch|shelf)", re.IGNORECASE)


def is_level_advice(cue: str | None, sentence: str) -> bool:
    """Whether a direction cue the advice parser found is advice (or a claim) about a stem's
    level, rather than a measurement or another kind of move. Not counted: a signed number
    ("sits at -4.4 dB", which the parser reads as a gain), masking words ("masks", "masked":
    a spectral overlap, not a level), a gerund ("turning the bass up by 6 dB would..." restates
    a what-if) and an EQ cut or boost in a named frequency band."""
    cue = (cue or "").strip()
    if not cue or _BARE_NUMBER_CUE.match(cue):
        return False
    if re.search(r"mask|cover", cue, re.IGNORECASE):
        return False
    if re.match(r"[a-z]+ing\b", cue, re.IGNORECASE):
        return False
    if _EQ_CUE.match(cue) and frequencies_hz(sentence):
        return False
    return True


def _advice_hits(text: str, a: AdvisesArg) -> list[str]:
    hits = []
    for s in sentences(text):
        p = advice_of(s)
        if p.direction is None or not is_level_advice(p.cue, s):
            continue
        if (a.stem is None or p.stem == a.stem) and (a.direction is None or p.direction == a.direction):
            hits.append(s)
    return hits


@_check("advises", AdvisesArg)
def check_advises(t: TurnRecord, arg: AdvisesArg) -> tuple[bool, str]:
    """A sentence of the answer advises changing ``stem``'s level in ``direction`` (or says it
    is too loud/quiet), read by the balance benchmark's
    :func:`~mixingbuddy.model.data.advice_parser.parse_advice` and filtered by
    :func:`is_level_advice`."""
    if (bad := _need_answer(t)) is not None:
        return bad
    hits = _advice_hits(t.answer, arg)
    return (bool(hits), f"e.g. {hits[0][:120]!r}" if hits else "no sentence advises it")


@_check("not_advises", AdvisesArg)
def check_not_advises(t: TurnRecord, arg: AdvisesArg) -> tuple[bool, str]:
    """No sentence of the answer advises changing ``stem`` (any stem when omitted) in
    ``direction`` (either when omitted)."""
    if (bad := _need_answer(t)) is not None:
        return bad
    hits = _advice_hits(t.answer, arg)
    return (not hits, f"advises it: {hits[0][:120]!r}" if hits else "")


def _findings(t: TurnRecord) -> list[dict]:
    return t.findings or list((t.state or {}).get("findings") or [])


@_check("has_finding", FindingArg)
def check_has_finding(t: TurnRecord, arg: FindingArg) -> tuple[bool, str]:
    """The review raised a finding on ``topic`` (or any of a list) with a severity in
    ``severity_in`` (read from the review, or from the stored state in a follow-up)."""
    if (bad := _need_answer(t)) is not None:
        return bad
    topics = [arg.topic] if isinstance(arg.topic, str) else arg.topic
    got = [(f.get("topic"), f.get("severity")) for f in _findings(t)]
    ok = any(tp in topics and sv in arg.severity_in for tp, sv in got)
    return ok, "" if ok else f"findings: {got}"


@_check("no_finding", FindingArg)
def check_no_finding(t: TurnRecord, arg: FindingArg) -> tuple[bool, str]:
    """No finding on ``topic`` with a severity in ``severity_in``."""
    if (bad := _need_answer(t)) is not None:
        return bad
    topics = [arg.topic] if isinstance(arg.topic, str) else arg.topic
    bad_f = [f.get("title") for f in _findings(t)
             if f.get("topic") in topics and f.get("severity") in arg.severity_in]
    return (not bad_f, f"found {bad_f}" if bad_f else "")


@_check("cites_evidence", EvidenceArg)
def check_cites_evidence(t: TurnRecord, arg: EvidenceArg) -> tuple[bool, str]:
    """At least ``min`` numbers in the answer match evidence of findings on ``topic``."""
    if (bad := _need_answer(t)) is not None:
        return bad
    values = [float(e["value"]) for f in _findings(t) if f.get("topic") == arg.topic
              for e in f.get("evidence") or [] if isinstance(e.get("value"), (int, float))]
    if not values:
        return False, f"no {arg.topic} evidence in the findings"
    hits = [n for n in read_numbers(t.answer) if any(n.states(v) for v in values)]
    return len(hits) >= arg.min, f"{len(hits)} number(s) from {arg.topic} evidence"


@_check("numbers_at_least", int)
def check_numbers_at_least(t: TurnRecord, arg: int) -> tuple[bool, str]:
    """The answer states at least this many numbers."""
    if (bad := _need_answer(t)) is not None:
        return bad
    n = len(read_numbers(t.answer))
    return n >= arg, f"{n} number(s)"


@_check("refuted_claims_not_repeated", bool)
def check_refuted(t: TurnRecord, arg: bool) -> tuple[bool, str]:
    """No claim of the audio model that the tools refuted is repeated: neither its text nor
    its advice (its stem in its direction). Passes vacuously when nothing was refuted."""
    if (bad := _need_answer(t)) is not None:
        return bad
    claims = t.claims or list((t.state or {}).get("claims") or [])
    refuted = [c for c in claims if c.get("verdict") == "refuted"]
    if not refuted:
        return True, "vacuous: no refuted claim"
    for c in refuted:
        text = (c.get("text") or "").strip()
        if text and text.lower() in t.answer.lower():
            return False, f"repeats the refuted claim {text[:80]!r}"
        if c.get("stem") and c.get("direction"):
            hits = _advice_hits(t.answer, AdvisesArg(stem=c["stem"], direction=c["direction"]))
            if hits:
                return False, f"advises the refuted {c['direction']} on {c['stem']}: {hits[0][:100]!r}"
    return True, f"{len(refuted)} refuted claim(s) not repeated"


@_check("expect_error", str)
def check_expect_error(t: TurnRecord, arg: str) -> tuple[bool, str]:
    """The turn was refused with a typed error of this ``code`` and a one-line message (no
    traceback, no crash)."""
    if t.ok:
        return False, "no error was raised"
    msg = t.error_message or ""
    one_line = bool(msg.strip()) and "\n" not in msg and "Traceback" not in msg
    ok = t.error_code == arg and one_line
    return ok, f"error[{t.error_code}]: {msg[:160]}"


@_check("error_mentions", str)
def check_error_mentions(t: TurnRecord, arg: str) -> tuple[bool, str]:
    """The error message matches the regex."""
    if t.ok:
        return False, "no error was raised"
    return bool(_rx(arg).search(t.error_message or "")), t.error_message or ""


@_check("source", Literal["composer", "llm"])
def check_source(t: TurnRecord, arg: str) -> tuple[bool, str]:
    """The answer came from this source."""
    if (bad := _need_answer(t)) is not None:
        return bad
    return t.source == arg, f"source {t.source}"


def run_check(kind: str, arg: Any, turn: TurnRecord) -> CheckOutcome:
    """Run one check; a check that raises fails with the exception named (never aborts)."""
    try:
        passed, detail = CHECKS[kind](turn, arg)
    except Exception as e:  # noqa: BLE001 - a broken check is a failed check, reported
        passed, detail = False, f"check raised {type(e).__name__}: {e}"
    shown = arg.model_dump() if isinstance(arg, BaseModel) else arg
    return CheckOutcome(kind, shown, bool(passed), detail, vacuous=detail.startswith("vacuous"))


# =========================================================================== scenario files

class CheckSpec(BaseModel):
    """One parsed check: its kind and its validated argument."""

    kind: str
    arg: Any


_REGEX_CHECKS = ("contains", "not_contains", "any_of", "error_mentions")


def _parse_check(raw: Any, where: str) -> CheckSpec:
    from pydantic import TypeAdapter

    if not isinstance(raw, dict) or len(raw) != 1:
        raise ScenarioError(f"{where}: a check is a one-key mapping such as "
                            f"`- contains: LUFS`, got {raw!r}")
    (kind, value), = raw.items()
    if kind not in CHECKS:
        raise ScenarioError(f"{where}: unknown check {kind!r}; known: {', '.join(sorted(CHECKS))}")
    try:
        arg = TypeAdapter(_ARG_TYPES[kind]).validate_python(value)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise ScenarioError(f"{where}: {kind}: {loc + ': ' if loc else ''}{first['msg']}") from None
    if kind in _REGEX_CHECKS:
        for p in [arg] if isinstance(arg, str) else arg:
            try:
                re.compile(p)
            except re.error as e:
                raise ScenarioError(f"{where}: {kind}: bad regex {p!r} ({e})") from None
    return CheckSpec(kind=kind, arg=arg)


class ReviewSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stems: bool = False
    anchor: Literal["vocals", "drums", "bass", "other"] | None = None
    platform: str = "spotify"
    genre: str | None = None


class TurnSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ask: str = Field(min_length=1)
    checks: list[CheckSpec] = []


class Scenario(BaseModel):
    """One scenario file::

        name: quiet_vocal_with_stems          # unique; defaults to the file name
        description: a vocal 10 dB under its usual level, stems given
        audio: {stems: {vocals: {source: vocals, gain_db: -10}, ...}}   # a recipes.Recipe
        reference: {...}                      # optional: a second recipe, the reference track
        review: {stems: true, anchor: drums, platform: spotify, genre: null}
        checks:                               # on the review's answer
          - advises: {stem: vocals, direction: increase}
        turns:
          - ask: "How do I fix it?"
            checks:
              - cites_measured: stem_balance.stems.vocals.level_vs_rest_power_sum_db

    The audio is rendered into a temporary folder; the review is run with its options (stems
    or not, anchor, platform, genre, a reference track), then each ``ask`` on the same thread.
    The kinds of check are in :data:`CHECKS`.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    description: str = ""
    tags: list[str] = []
    audio: Recipe
    reference: Recipe | None = None
    review: ReviewSpec = ReviewSpec()
    checks: list[CheckSpec] = []
    turns: list[TurnSpec] = []
    path: str | None = None


def parse_scenario(data: Any, source: str = "scenario") -> Scenario:
    """Validate one scenario mapping (already loaded from YAML)."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario is a mapping (name, audio, review, checks, turns), "
                            f"got {type(data).__name__}")
    data = dict(data)
    data.setdefault("name", Path(source).stem)
    try:
        data["audio"] = parse_recipe(data.get("audio"), f"{source}: audio")
        if data.get("reference") is not None:
            data["reference"] = parse_recipe(data["reference"], f"{source}: reference")
    except RecipeError as e:
        raise ScenarioError(str(e)) from None
    data["checks"] = [_parse_check(c, f"{source}: checks[{i}]") for i, c in enumerate(data.get("checks") or [])]
    turns = []
    for i, t in enumerate(data.get("turns") or []):
        if not isinstance(t, dict):
            raise ScenarioError(f"{source}: turns[{i}]: a turn is a mapping with ask and checks")
        t = dict(t)
        t["checks"] = [_parse_check(c, f"{source}: turns[{i}].checks[{j}]")
                       for j, c in enumerate(t.get("checks") or [])]
        turns.append(t)
    data["turns"] = turns
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(x) for x in first["loc"]) or "scenario"
        raise ScenarioError(f"{source}: {loc}: {first['msg']}") from None
    if not sc.checks and not any(t.checks for t in sc.turns):
        raise ScenarioError(f"{source}: scenario {sc.name!r} has no checks")
    return sc


def load_scenario_file(path: str | Path) -> Scenario:
    """One YAML file -> :class:`Scenario`; any problem is a :class:`ScenarioError` naming the
    file (and the line, for YAML syntax errors)."""
    path = Path(path)
    name = sanitize_name(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError(f"{name}: cannot read the scenario ({type(e).__name__})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "syntax error"
        raise ScenarioError(f"{name}: not valid YAML{where}: {problem}") from None
    sc = parse_scenario(data, name)
    return sc.model_copy(update={"path": str(path)})


def load_scenarios(folder: str | Path | None = None, only: Sequence[str] | None = None) -> list[Scenario]:
    """Every ``*.yaml`` scenario in ``folder`` (default: the packaged ones), sorted by name;
    ``only`` keeps the names matching any of the given names or glob patterns."""
    folder = Path(folder) if folder is not None else SCENARIO_DIR
    if not folder.is_dir():
        raise ScenarioError(f"{sanitize_name(folder)}: no such scenario folder")
    files = sorted(list(folder.glob("*.yaml")) + list(folder.glob("*.yml")))
    if not files:
        raise ScenarioError(f"{sanitize_name(folder)}: no *.yaml scenario files")
    scenarios = [load_scenario_file(f) for f in files]
    seen: dict[str, str] = {}
    for sc in scenarios:
        if sc.name in seen:
            raise ScenarioError(f"scenario name {sc.name!r} is used twice "
                                f"({Path(seen[sc.name]).name}, {Path(sc.path or '').name})")
        seen[sc.name] = sc.path or ""
    if only:
        pats = [p.strip() for o in only for p in o.split(",") if p.strip()]
        scenarios = [s for s in scenarios if any(fnmatch.fnmatchcase(s.name, p) for p in pats)]
        if not scenarios:
            raise ScenarioError(f"no scenario matches {pats}")
    return sorted(scenarios, key=lambda s: s.name)


# =========================================================================== grounding

@dataclass
class GroundingOutcome:
    numbers: int
    grounded: int
    ungrounded: list[str]


def ground(answer: str, state: dict, questions: Sequence[str]) -> GroundingOutcome:
    """How many numbers ``answer`` states and how many the agent's own grounding check
    (:mod:`mixingbuddy.agent.grounding`) traces to the conversation's evidence in ``state`` or to
    the user's ``questions``: the score measures what the guard enforces."""
    allowed = [item for q in questions for item in said_evidence(q, "question", question=True)]
    res = check_grounding(answer, conversation_evidence(state), allowed=allowed)
    bad = set(res.ungrounded)
    n_bad = sum(1 for n in read_numbers(answer) if n.written in bad)
    return GroundingOutcome(len(res.numbers), len(res.numbers) - n_bad, list(res.ungrounded))


# =========================================================================== running

@dataclass
class TurnResult:
    kind: str
    question: str | None
    answer: str
    source: str | None
    error: str | None
    latency_s: float
    degradations: list[str]
    checks: list[CheckOutcome]
    grounding: GroundingOutcome | None

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


@dataclass
class ScenarioResult:
    name: str
    description: str
    tags: list[str]
    turns: list[TurnResult]
    thread_id: str
    setup_error: str | None = None

    @property
    def passed(self) -> bool:
        return self.setup_error is None and all(t.passed for t in self.turns)


def _state(buddy, thread_id: str) -> dict:
    try:
        return dict(buddy.state(thread_id) or {})
    except Exception:  # noqa: BLE001 - a thread that does not exist has no state
        return {}


def _dump(x: Any) -> Any:
    if isinstance(x, BaseModel):
        return x.model_dump(mode="json")
    if isinstance(x, list):
        return [_dump(v) for v in x]
    return x


def run_scenario(buddy, sc: Scenario, workdir: str | Path,
                 on_turn: Callable[[TurnRecord], None] | None = None) -> ScenarioResult:
    """Render the scenario's audio into ``workdir``, review it, ask each follow-up, score
    every turn. Errors of the agent are recorded in the turn, never raised. ``on_turn`` sees
    each turn's record (answer and the conversation's state after it) as it is scored."""
    thread_id = f"eval-{sc.name}"
    folder = Path(workdir) / sc.name
    try:
        rendered = render_recipe(sc.audio, folder, reference=sc.reference, write_stems=sc.review.stems)
    except MixingBuddyError as e:
        return ScenarioResult(sc.name, sc.description, sc.tags, [], thread_id, f"audio: {e}")
    stems = [str(p) for p in rendered.stem_paths.values()] if sc.review.stems else None
    questions: list[str] = []

    def finish(rec: TurnRecord, specs: Sequence[CheckSpec]) -> TurnResult:
        rec.state = _state(buddy, thread_id)
        if not rec.report:
            rec.report = dict(rec.state.get("report") or {})
        checks = [run_check(c.kind, c.arg, rec) for c in specs]
        if on_turn is not None:
            on_turn(rec)
        g = None
        if rec.ok:
            g = ground(rec.answer, rec.state, questions)
        return TurnResult(rec.kind, rec.question, rec.answer, rec.source,
                          None if rec.ok else f"error[{rec.error_code}]: {rec.error_message}",
                          round(rec.latency_s, 3), rec.degradations, checks, g)

    turns: list[TurnResult] = []
    rec = TurnRecord(kind="review", question=None)
    t0 = time.perf_counter()
    try:
        rv = buddy.review(str(rendered.mix_path), stems=stems,
                          reference=str(rendered.reference_path) if rendered.reference_path else None,
                          anchor=sc.review.anchor, platform=sc.review.platform, genre=sc.review.genre,
                          thread_id=thread_id)
        rec.answer, rec.source = rv.answer, rv.source
        rec.findings, rec.claims = _dump(rv.findings), _dump(rv.claims)
        rec.report, rec.degradations = dict(rv.report or {}), list(rv.degradations)
    except MixingBuddyError as e:
        rec.error_code, rec.error_message = e.code, str(e)
    except Exception as e:  # noqa: BLE001 - a crash is a result: it fails the scenario
        rec.error_code, rec.error_message = "crash", f"{type(e).__name__}: {e}"
    rec.latency_s = time.perf_counter() - t0
    turns.append(finish(rec, sc.checks))
    review_rec = rec
    for spec in sc.turns:
        questions.append(spec.ask)
        rec = TurnRecord(kind="ask", question=spec.ask, findings=review_rec.findings,
                         claims=review_rec.claims, report=review_rec.report)
        t0 = time.perf_counter()
        try:
            tn = buddy.ask(thread_id, spec.ask)
            rec.answer, rec.source, rec.degradations = tn.answer, tn.source, list(tn.degradations)
        except MixingBuddyError as e:
            rec.error_code, rec.error_message = e.code, str(e)
        except Exception as e:  # noqa: BLE001
            rec.error_code, rec.error_message = "crash", f"{type(e).__name__}: {e}"
        rec.latency_s = time.perf_counter() - t0
        turns.append(finish(rec, spec.checks))
    return ScenarioResult(sc.name, sc.description, sc.tags, turns, thread_id)


# =========================================================================== summary

def summarize(results: Sequence[ScenarioResult], *, llm_configured: bool) -> dict:
    """Pass rate, per-check pass rates, groundedness, fallback rate and latency.

    A scenario passes when every check of every turn passes. **Groundedness** is the share of
    numbers in all answers that trace to the conversation's evidence or to the numbers the user
    wrote, by the guard's own typed rule (:func:`mixingbuddy.agent.grounding.check_grounding`:
    same unit, subject and value at the precision written) and evidence
    (:func:`mixingbuddy.agent.grounding.conversation_evidence`: the evidence ledger, the report's
    fields and the notes, no time series). **Fallback rate**: with a language model configured, the
    share of answers whose source is the built-in composer (None without one). **Latency**: the
    median wall time of a review and of a follow-up.
    """
    n = len(results)
    passed = sum(r.passed for r in results)
    per_check: dict[str, dict[str, int]] = {}
    for r in results:
        for t in r.turns:
            for c in t.checks:
                d = per_check.setdefault(c.kind, {"n": 0, "passed": 0, "vacuous": 0})
                d["n"] += 1
                d["passed"] += int(c.passed)
                d["vacuous"] += int(c.vacuous)
    answers = [t for r in results for t in r.turns if t.error is None]
    n_num = sum(t.grounding.numbers for t in answers if t.grounding)
    n_ok = sum(t.grounding.grounded for t in answers if t.grounding)
    composer = sum(1 for t in answers if t.source == "composer")
    rev = [t.latency_s for r in results for t in r.turns if t.kind == "review" and t.error is None]
    ask = [t.latency_s for r in results for t in r.turns if t.kind == "ask" and t.error is None]
    all_checks = sum(d["n"] for d in per_check.values())
    return {
        "scenarios": n, "passed": passed, "pass_rate": passed / n if n else None,
        "checks": all_checks, "checks_passed": sum(d["passed"] for d in per_check.values()),
        "per_check": {k: {**v, "rate": v["passed"] / v["n"]} for k, v in sorted(per_check.items())},
        "answers": len(answers), "numbers": n_num, "numbers_grounded": n_ok,
        "groundedness": n_ok / n_num if n_num else None,
        "llm_configured": llm_configured,
        "fallback_rate": (composer / len(answers) if answers else None) if llm_configured else None,
        "latency_review_median_s": statistics.median(rev) if rev else None,
        "latency_followup_median_s": statistics.median(ask) if ask else None,
        "reviews": len(rev), "followups": len(ask),
        "degraded_turns": sum(1 for r in results for t in r.turns if t.degradations),
        "failed": [r.name for r in results if not r.passed],
    }


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100.0 * x:.1f}%"


def _sec(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f} s"


def summary_markdown(s: dict, results: Sequence[ScenarioResult]) -> str:
    lines = ["| metric | value | target |", "|---|---|---|",
             f"| scenarios passed | {s['passed']}/{s['scenarios']} ({_pct(s['pass_rate'])}) | >= 90% |",
             f"| checks passed | {s['checks_passed']}/{s['checks']} |  |",
             f"| groundedness (numbers traceable) | {s['numbers_grounded']}/{s['numbers']} "
             f"({_pct(s['groundedness'])}) | 100% |",
             f"| fallback rate (composer answers with an LLM configured) | "
             f"{_pct(s['fallback_rate']) if s['llm_configured'] else 'n/a (no LLM configured)'} |  |",
             f"| latency, review (median of {s['reviews']}) | {_sec(s['latency_review_median_s'])} |  |",
             f"| latency, follow-up (median of {s['followups']}) | {_sec(s['latency_followup_median_s'])} |  |",
             "", "| check | passed | rate |", "|---|---|---|"]
    for k, v in s["per_check"].items():
        vac = f" ({v['vacuous']} vacuous)" if v["vacuous"] else ""
        lines.append(f"| {k} | {v['passed']}/{v['n']}{vac} | {_pct(v['rate'])} |")
    lines += ["", "| scenario | result | turns | failed checks |", "|---|---|---|---|"]
    for r in results:
        failed = [f"turn {i}: {c.kind} ({c.detail[:90]})" for i, t in enumerate(r.turns)
                  for c in t.checks if not c.passed]
        if r.setup_error:
            failed = [r.setup_error]
        lines.append(f"| {r.name} | {'pass' if r.passed else 'FAIL'} | {len(r.turns)} | "
                     f"{'; '.join(failed).replace('|', '/') or '-'} |")
    return "\n".join(lines) + "\n"


def results_json(s: dict, results: Sequence[ScenarioResult]) -> dict:
    return {"summary": s, "scenarios": [
        {**{k: v for k, v in asdict(r).items() if k != "turns"}, "passed": r.passed,
         "turns": [{**asdict(t), "passed": t.passed} for t in r.turns]} for r in results]}


def run_agent_eval(scenarios: Sequence[Scenario], out_dir: str | Path | None = None, *,
                   buddy=None, home: str | Path | None = None, llm: Any = None,
                   weights: str | Path | None = None, use_model: bool = True,
                   progress: bool = True) -> tuple[dict, list[ScenarioResult]]:
    """Run ``scenarios`` on one :class:`MixingBuddy` (made here with ``home``/``llm``/
    ``weights``/``use_model`` unless ``buddy`` is given), write ``results.json`` and
    ``summary.md`` into ``out_dir`` (when given) and return ``(summary, results)``.

    ``results.json`` holds every turn (question, answer, source, latency, each check with its
    outcome and detail, the grounding result); ``summary.md`` is the table of
    :func:`summarize`'s figures that the command line also prints.
    """
    with tempfile.TemporaryDirectory(prefix="mb-eval-agent-") as tmp:
        if buddy is None:
            from ..agent.api import MixingBuddy

            buddy = MixingBuddy(home=home or Path(tmp) / "home", llm=llm, weights=weights,
                                use_model=use_model)
        results = []
        for i, sc in enumerate(scenarios, 1):
            t0 = time.perf_counter()
            r = run_scenario(buddy, sc, Path(tmp) / "audio")
            results.append(r)
            if progress:
                print(f"[{i}/{len(scenarios)}] {sc.name}: {'pass' if r.passed else 'FAIL'} "
                      f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
    s = summarize(results, llm_configured=llm is not None)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results_json(s, results), indent=2, default=str))
        (out / "summary.md").write_text(summary_markdown(s, results))
    return s, results


# =========================================================================== CLI

def cmd_agent_eval(args) -> int:
    llm = None
    if args.llm_base_url:
        import os

        from ..agent.endpoint import ENV_API_KEY, ENV_MODEL, EndpointConfig

        model = args.llm_model or os.environ.get(ENV_MODEL, "").strip()
        if not model:
            raise InvalidArgumentError(f"--llm-base-url needs --llm-model (or {ENV_MODEL}) to name the model")
        llm = EndpointConfig(base_url=args.llm_base_url, model=model,
                        api_key=args.llm_api_key or os.environ.get(ENV_API_KEY) or None,
                        timeout_s=args.llm_timeout_s)
    scenarios = load_scenarios(args.scenarios, args.only)
    s, results = run_agent_eval(scenarios, args.out, llm=llm, weights=args.weights,
                                use_model=not args.no_model, home=args.home)
    print(summary_markdown(s, results), end="")
    print(f"\nwrote {Path(args.out) / 'results.json'} and summary.md", file=sys.stderr)
    return 0


def add_agent_eval_parser(eval_subparsers) -> argparse.ArgumentParser:
    """Register ``agent`` under the ``eval`` sub-command group."""
    a = eval_subparsers.add_parser(
        "agent", help="scripted multi-turn conversations with the agent (pass rate, groundedness)",
        description="Render each scenario's audio, review it with the agent, ask the follow-ups "
                    "and score every answer; writes results.json and summary.md.")
    a.add_argument("--scenarios", metavar="DIR", help="scenario folder (default: the packaged scenarios)")
    a.add_argument("--out", default="runs/eval_agent", metavar="DIR", help="report folder (default runs/eval_agent)")
    a.add_argument("--only", action="append", metavar="NAME",
                   help="run only these scenarios (names or glob patterns; repeat or comma-separate)")
    a.add_argument("--llm-base-url", metavar="URL",
                   help="an OpenAI-compatible endpoint (default: the embedded composer, no network)")
    a.add_argument("--llm-model", metavar="NAME", help="model name at that endpoint (default $MIXINGBUDDY_LLM_MODEL)")
    a.add_argument("--llm-api-key", metavar="KEY", help="API key for that endpoint (default $MIXINGBUDDY_LLM_API_KEY)")
    a.add_argument("--llm-timeout-s", type=float, default=30.0, metavar="S", help="per request (default 30)")
    a.add_argument("--weights", metavar="DIR", help="audio model folder (default: the shipped model/weights/)")
    a.add_argument("--no-model", action="store_true", help="review without the audio model (tools only)")
    a.add_argument("--home", metavar="DIR", help="agent home for the conversations (default: a temporary folder)")
    a.set_defaults(func=cmd_agent_eval)
    return a
