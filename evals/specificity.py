"""Specificity: how much a review asks to fix on professional mixes that need no fixing.

Usage:  python -m mixingbuddy.evals.specificity --musdb path/to/musdb18-7/train [--modes stems,mix]
        [--limit N] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

import soundfile as sf

from ..agent.api import MixingBuddy
from ..agent.findings import TOPIC_ORDER
from ..tools.data.build_masking_reference import fit_songs
from ..tools.io.ingest import load_audio

WORTH_FIXING = ("high", "medium")  # "fix first" and "worth fixing" in the review


def review_song(buddy: MixingBuddy, path: Path, mode: str, tmp: Path) -> list[dict]:
    """The findings of one review: ``[{"id", "topic", "severity"}]``."""
    if mode == "stems":
        rv = buddy.review(str(path))  # a .stem.mp4 as the mix brings its four stems
    else:
        mix = load_audio(path, stream=0)
        wav = tmp / f"{path.name[:-9]}.wav"
        sf.write(wav, mix.samples, mix.sr, subtype="FLOAT")
        rv = buddy.review(str(wav))
    return [{"id": f.id, "topic": f.topic, "severity": f.severity} for f in rv.findings]


def halves(names: list[str]) -> dict[str, list[str]]:
    """The songs the severity gates and the masking range were set on (every other song in name
    order, ``tools.data.build_masking_reference.fit_songs``) and the other half, held out."""
    fit = set(fit_songs(names))
    return {"fit half (tuned on)": sorted(n for n in names if n in fit),
            "held-out half": sorted(n for n in names if n not in fit)}


def summarise(per_song: dict[str, list[dict]]) -> dict:
    """Means per song by severity and topic, and the share of songs without a balance move."""
    n = max(1, len(per_song))
    by = Counter((f["topic"], f["severity"]) for fs in per_song.values() for f in fs)
    worth = [sum(f["severity"] in WORTH_FIXING for f in fs) for fs in per_song.values()]
    no_balance_move = sum(not any(f["topic"] == "balance" and f["severity"] in WORTH_FIXING for f in fs)
                          for fs in per_song.values())
    no_balance_any = sum(not any(f["topic"] == "balance" and f["severity"] != "ok" for f in fs)
                         for fs in per_song.values())
    topics = {t: {s: by[(t, s)] / n for s in ("high", "medium", "low")} for t in TOPIC_ORDER}
    return {"songs": len(per_song), "worth_fixing_per_song": sum(worth) / n,
            "songs_without_worth_fixing_pct": 100.0 * sum(w == 0 for w in worth) / n,
            "no_balance_move_pct": 100.0 * no_balance_move / n,
            "no_balance_finding_pct": 100.0 * no_balance_any / n, "by_topic": topics}


def markdown(mode: str, s: dict) -> str:
    lines = [f"**{mode}** ({s['songs']} songs): {s['worth_fixing_per_song']:.2f} worth-fixing items per song "
             f"(fix first + worth fixing; target <= 0.3); {s['songs_without_worth_fixing_pct']:.0f}% of songs have "
             f"none; no balance move on {s['no_balance_move_pct']:.0f}% (target >= 80%), no balance finding at all "
             f"on {s['no_balance_finding_pct']:.0f}%.", "",
             "| topic | fix first / song | worth fixing / song | minor / song |", "|---|---|---|---|"]
    for t, row in s["by_topic"].items():
        if any(row.values()):
            lines.append(f"| {t} | {row['high']:.2f} | {row['medium']:.2f} | {row['low']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Review every MUSDB18 song in each mode and print the summary.

    Each song (a ``.stem.mp4``: the released mixture and its four stems) is reviewed by the agent
    as a user would get it (embedded default, the shipped audio model): ``stems`` with its stems,
    ``mix`` from the mixture alone (separated when the separator is installed). Printed per mode:
    the mean number of findings per song at each severity, by topic, and the share of songs with
    no balance move to make. These mixes are the population the professional references were
    measured on (the target curve from these 94 previews, the balance ranges from MUSDB18-HQ,
    which holds them), so the figures are in-sample for the references.
    """
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--musdb", required=True, help="a folder of MUSDB18 .stem.mp4 files")
    ap.add_argument("--modes", default="stems,mix")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    from tqdm import tqdm

    songs = sorted(Path(args.musdb).glob("*.stem.mp4"))[:args.limit]
    if not songs:
        print(f"no .stem.mp4 files in {args.musdb}", file=sys.stderr)
        return 2
    results = {}
    with tempfile.TemporaryDirectory(prefix="mb-specificity-") as tmp:
        with MixingBuddy(Path(tmp) / "home", llm=None) as buddy:
            for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
                per_song = {p.name: review_song(buddy, p, mode, Path(tmp))
                            for p in tqdm(songs, desc=f"specificity ({mode})", unit="song", file=sys.stderr)}
                results[mode] = {"findings": per_song}
                for part, names in halves(list(per_song)).items():
                    summary = summarise({k: per_song[k] for k in names})
                    results[mode][part] = summary
                    print(markdown(f"{mode}, {part}", summary))
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "specificity.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
