"""The question benchmark: does the follow-up router understand what is asked?

``mixingbuddy eval questions`` routes every question of ``evals/questions/`` (``dev.jsonl``,
``dev2.jsonl`` and ``dev3.jsonl``, looked at while building and tuning; ``heldout.jsonl`` and ``heldout2.jsonl``, written
apart from the router and never tuned on; a part whose file is absent is left out) with the agent's
router (``agent.intents``) and with the regular expressions it replaced (:func:`regex_route`, the
baseline), and prints the scores of :func:`score` per part. ``--out DIR`` writes results.json
(with every miss of the looked-at parts; a held-out part's misses only counted). The held-out files'
sha256 are printed with every run.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ..agent.intents import DEFAULT_METHOD, METHODS, SLOTS, get_router

QUESTIONS_DIR = Path(__file__).resolve().parent / "questions"
PARTS = ("dev", "dev2", "dev3", "heldout", "heldout2")
HELDOUT_PARTS = ("heldout", "heldout2")  # never tuned on


def load(part: str, folder: Path = QUESTIONS_DIR) -> list[dict]:
    with (folder / f"{part}.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def sha256(part: str, folder: Path = QUESTIONS_DIR) -> str:
    return hashlib.sha256((folder / f"{part}.jsonl").read_bytes()).hexdigest()


def state_of(row: dict) -> dict:
    """The conversation state a row gives, as the agent's graph would hold it."""
    st = dict(row.get("state") or {})
    out: dict = {}
    if "prev" in st:
        prev = {"intent": st["prev"]["intent"], **{k: v for k, v in st["prev"].items() if k != "intent"}}
        out["route"] = {"intent": prev["intent"], "parts": [prev]}
    for k in ("focus", "focus_stem", "platform"):
        if k in st:
            out[k] = st[k]
    return out


def _slots(part: dict) -> dict:
    return {k: part.get(k) if k != "reference" else bool(part.get(k)) for k in SLOTS}


def _same_slots(got: dict, want: dict) -> bool:
    g, w = _slots(got), _slots(want)
    for k in SLOTS:
        if k == "gain_db" and g[k] is not None and w[k] is not None:
            if abs(float(g[k]) - float(w[k])) > 0.05:
                return False
        elif g[k] != w[k]:
            return False
    return True


def score(rows: list[dict], fn: Callable[[str, dict], list[dict]]) -> dict:
    """Intent and slot accuracy of ``fn`` (question, state -> parts as dicts) on ``rows``.

    Intent accuracy: the intents in the order asked, all right. Slot accuracy: every slot of
    every part right (stem, gain_db, platform, region, reference, about). Also the median time
    to route a question."""
    intent_ok = slot_ok = 0
    times, misses = [], []
    for row in rows:
        st = state_of(row)
        t0 = time.perf_counter()
        got = fn(row["q"], st)
        times.append(time.perf_counter() - t0)
        want = row["expect"]
        i_ok = [p["intent"] for p in got] == [p["intent"] for p in want]
        s_ok = len(got) == len(want) and all(_same_slots(g, w) for g, w in zip(got, want))
        intent_ok += i_ok
        slot_ok += s_ok
        if not (i_ok and s_ok):
            misses.append({"id": row["id"], "q": row["q"], "state": row.get("state"), "expect": want,
                           "got": [{"intent": p["intent"], **{k: v for k, v in _slots(p).items() if v}} for p in got]})
    n = len(rows)
    return {"n": n, "intent_acc": intent_ok / n if n else 0.0, "slot_acc": slot_ok / n if n else 0.0,
            "median_ms": 1000.0 * statistics.median(times) if times else 0.0, "misses": misses}


def router_fn(method: str = DEFAULT_METHOD) -> Callable[[str, dict], list[dict]]:
    r = get_router(method)
    return lambda q, st: [p.model_dump() for p in r.route(q, st).parts]


# --------------------------------------------------------------------------- the baseline
# The keyword router the agent used before agent.intents (agent/answers.py's route()), kept
# verbatim as the benchmark's baseline; its intents are mapped onto the benchmark's names.

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


def _stems_in(q: str) -> list[str]:
    hits = []
    for stem, rx in STEM_RES.items():
        m = rx.search(q)
        if m:
            hits.append((m.start(), stem))
    return [s for _, s in sorted(hits)]


def _platform_in(q: str) -> str | None:
    for key, pat in PLATFORM_RES:
        if re.search(pat, q):
            return key
    return None


def _gain_of(q: str) -> tuple[str | None, float | None]:
    from ..model.data.advice_parser import parse_advice

    p = parse_advice(q)
    if p.direction and p.magnitude_db:
        size = sum(p.magnitude_db) / 2.0
        return p.stem, (size if p.direction == "increase" else -size)
    return p.stem, None


def regex_route(question: str, state: dict) -> dict:
    """The old keyword router (first match wins), as it was."""
    q = " ".join(question.lower().split())
    why = bool(WHY_RE.search(q))
    stems = _stems_in(q)
    out: dict = {"intent": "help", "why": why}
    if DB_RE.search(q) and (WHATIF_RE.search(q) or stems):
        pstem, gain = _gain_of(q)
        stem = pstem or (stems[0] if stems else None) or state.get("focus_stem")
        return {**out, "intent": "whatif", "stem": stem, "gain_db": gain}
    plat = _platform_in(q)
    if plat or (LOUDNESS_RE.search(q) and not stems):
        return {**out, "intent": "platform", "platform": plat}
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


def regex_fn(question: str, state: dict) -> list[dict]:
    """The baseline's answer in the benchmark's terms (one part; a topic asked "why" is a why
    about that topic; the old "stem" intent is stem_info)."""
    r = regex_route(question, state)
    intent = {"stem": "stem_info"}.get(r["intent"], r["intent"])
    part = {"intent": intent, "stem": r.get("stem"), "gain_db": r.get("gain_db"), "platform": r.get("platform")}
    if intent == "reference":
        part["reference"] = True
    if r.get("why") and intent in ("platform", "masking", "low_end", "stereo", "peaks", "dynamics", "spectrum",
                                   "reference", "balance"):
        part = {"intent": "why", "about": intent, "platform": part["platform"], "stem": part["stem"],
                "reference": intent == "reference"}
    if intent not in ("whatif", "masking", "stem_info", "why"):
        part["stem"] = None
    if intent == "whatif" and part["stem"] is None:
        part["stem"] = state.get("focus_stem")
    return [part]


# --------------------------------------------------------------------------- the command

def run(methods: list[str], parts: tuple[str, ...] = PARTS, folder: Path = QUESTIONS_DIR) -> dict:
    """Score the regex baseline and the router ``methods`` on each part of ``parts`` whose file exists.
    A held-out part's misses are not kept (its questions are never looked at one by one)."""
    systems: dict[str, Callable] = {"regex": regex_fn}
    for m in methods:
        t0 = time.perf_counter()
        fn = router_fn(m)
        fn("warm up", {})
        systems[f"router:{m}"] = fn
        systems[f"router:{m}"].fit_s = time.perf_counter() - t0  # type: ignore[attr-defined]
    present = [p for p in parts if (folder / f"{p}.jsonl").is_file()]
    results: dict = {"sha256": {p: sha256(p, folder) for p in present if p in HELDOUT_PARTS},
                     "parts": {}, "fit_s": {}}
    for name, fn in systems.items():
        if hasattr(fn, "fit_s"):
            results["fit_s"][name] = round(fn.fit_s, 2)
    for part in present:
        rows = load(part, folder)
        results["parts"][part] = {name: score(rows, fn) for name, fn in systems.items()}
        if part in HELDOUT_PARTS:
            for r in results["parts"][part].values():
                r["misses"] = len(r["misses"])
    return results


def table(results: dict) -> str:
    lines = ["| part | questions | system | intent accuracy | slot accuracy | median routing time |",
             "|---|---|---|---|---|---|"]
    for part, by in results["parts"].items():
        for name, r in by.items():
            lines.append(f"| {part} | {r['n']} | {name} | {100 * r['intent_acc']:.1f}% | {100 * r['slot_acc']:.1f}% "
                         f"| {r['median_ms']:.2f} ms |")
    lines.append("")
    for part, digest in results["sha256"].items():
        lines.append(f"{part} sha256: {digest}")
    return "\n".join(lines) + "\n"


def cmd_questions(args) -> int:
    methods = [m for arg in (args.method or [DEFAULT_METHOD]) for m in arg.split(",") if m]
    bad = [m for m in methods if m not in METHODS]
    if bad:
        print(f"unknown method(s): {', '.join(bad)} (choose from {', '.join(METHODS)})", file=sys.stderr)
        return 2
    parts = [p for arg in (args.parts or []) for p in arg.split(",") if p]
    if args.part:
        parts.append(args.part)
    bad_parts = [p for p in parts if p not in PARTS]
    if bad_parts:
        print(f"unknown part(s): {', '.join(bad_parts)} (choose from {', '.join(PARTS)})", file=sys.stderr)
        return 2
    parts = parts or list(PARTS)
    results = run(methods, parts)
    print(table(results), end="")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
        print(f"wrote {out / 'results.json'}")
    return 0


def add_questions_parser(eval_subparsers) -> argparse.ArgumentParser:
    """Register ``questions`` under the ``eval`` sub-command group."""
    q = eval_subparsers.add_parser(
        "questions", help="the follow-up router on the question benchmark (intent and slot accuracy)",
        description="Route every benchmark question with the agent's router and with the old regular "
                    "expressions; print intent and slot accuracy per part and the median routing time.")
    q.add_argument("--method", action="append", metavar="NAME",
                   help=f"router method(s): {', '.join(METHODS)} (default {DEFAULT_METHOD}); repeat or comma-separate")
    q.add_argument("--part", choices=PARTS, help="only this part (default: every part present)")
    q.add_argument("--parts", action="append", metavar="NAMES",
                   help=f"only these parts, comma-separated or repeated ({', '.join(PARTS)})")
    q.add_argument("--out", metavar="DIR", help="write results.json here")
    q.set_defaults(func=cmd_questions)
    return q
