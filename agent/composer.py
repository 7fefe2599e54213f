"""The deterministic grounded composer: a review as Markdown from findings and claims.

Layout: a one-line context, "What to fix" (findings ranked by severity, each with its numbers
and a concrete move in dB or Hz), "What the audio model heard" (each claim with its verdict; a
refuted claim is reported only as "checked and not borne out", with the numbers, never as
advice), "What is already fine", and "Notes" (degradations and warnings). Every number comes
from a finding's or a claim's evidence, or is formatted here through a Ledger; headings and
list markers carry no numbers ("-" bullets only). Nothing here is random.
"""
from __future__ import annotations

from ..model.data.templates import class_parts
from ..tools.separate.evidence import SeparationInfo
from .claims import claim_summary
from .findings import cap, stem_word
from .numbers import Ledger
from .schema import Claim, Finding

SEVERITY_WORD = {"high": "fix first", "medium": "worth fixing", "low": "minor", "ok": "fine"}

# How each topic is measured: what a "why?" adds to a finding (no numbers here).
METHOD = {
    "loudness": "Integrated loudness is measured as ITU-R BS.1770 / EBU R128 specify (K-weighted, gated "
                "400 ms blocks) and compared with the level each streaming service normalises music to; "
                "a louder track is turned down, a quieter one is turned up only as far as the service allows.",
    "true_peak": "True peak is measured on a four-times oversampled signal, as ITU-R BS.1770 describes; "
                 "lossy encoders (AAC, Ogg Vorbis, MP3) reconstruct peaks between samples and can clip "
                 "when the true peak is above about minus one dBTP.",
    "clipping": "Clipping is counted as runs of consecutive samples held at the file's peak level "
                "(three or more in a row), on the file's own samples before any resampling.",
    "dynamics": "PSR is the true peak minus the loudest three-second loudness: the headroom the loudest "
                "passage keeps for transients. Crest factor is the sample peak over the RMS level.",
    "spectrum": "The long-term spectrum is measured in third-octave bands, normalised to the mean level "
                "between one hundred hertz and ten kilohertz, and compared band by band with the average "
                "spectrum of professional mixes (MUSDB18) and its between-song spread.",
    "low_end": "The sub-bass and bass regions are compared with the professional target spectrum, and the "
               "low end is checked for mono compatibility (correlation and side level below the bass "
               "crossover), since club systems and phones play the lows in mono.",
    "stereo": "Stereo is judged from the correlation between left and right (overall, per frequency region "
              "and in short windows) and from how much level is lost when the mix is folded to mono.",
    "balance": "With stems, each stem's level is measured against the other stems over ten-second segments "
               "where they all play (median of the segment-wise RMS differences) and placed in the range "
               "of professional mixes (MUSDB18-HQ). Without stems, the levels are estimated from the mix "
               "(harmonic/percussive separation calibrated on real songs) with a confidence.",
    "masking": "Masking is mapped on an auditory (ERB) band scale: a cell of the target stem counts as "
               "masked where another stem comes within a few dB of it in the same band at the same time; "
               "the remedy is the classic complementary EQ (cut the masker, lift the target elsewhere).",
    "reference": "The reference track is gain-matched to the mix's loudness first, so the comparison shows "
                 "tonal and dynamic differences, not level.",
}


def finding_bullet(f: Finding, with_action: bool = True) -> str:
    src = " (the audio model and the tools agree)" if f.source == "model+tools" else ""
    text = f"- **{f.title}**{src}: {f.detail}"
    if with_action and f.action:
        text += f" *Do this:* {f.action}"
    return text


CATEGORY_WORDS = {"very_quiet": "much too quiet", "quiet": "a little too quiet",
                  "loud": "a little too loud", "very_loud": "much too loud"}


def judgement_line(judgement: dict, anchor: str | None, led: Ledger) -> str:
    """The balance judge's reading (:mod:`.balance_judge`) as one bullet; its probability goes
    into the Ledger (tool ``balance_judge``)."""
    cls = str(judgement.get("class"))
    if cls == "no_error":
        reading = "no stem is off"
    else:
        category, stem = cls.split(":")
        reading = f"{stem_word(stem)} {'are' if stem in ('vocals', 'drums') else 'is'} {CATEGORY_WORDS[category]}"
    pct = led.num(100.0 * float(judgement.get("p", 0.0)), tool="balance_judge", quantity=f"p({cls}) %",
                  unit="%", decimals=0, show_unit=False)
    witness = {"stems": "the stem levels", "separated": "the separated stem levels"}.get(
        str(judgement.get("variant")), "the mix-only estimate")
    lead = (f"Weighing the audio model's impression with {witness}" if judgement.get("uses_model", True)
            else f"From {witness} (the audio model adds nothing once they are measured)")
    against = f" against the {anchor}" if anchor else ""
    if judgement.get("abstain") and judgement.get("p_group") is not None:
        pg = led.num(100.0 * float(judgement["p_group"]), tool="balance_judge", quantity=f"p(group of {cls}) %",
                     unit="%", decimals=0, show_unit=False)
        return (f"- {lead}: no confident call{against}. The likeliest reading, {reading}, has only {pg}% "
                "probability, under the line where such readings turned out right more often than not on "
                "validation clips; trust the measured findings above, or give stems.")
    return f"- {lead}, the most likely reading{against}: {reading} ({pct}% probability)."


def _repeats_refuted(judgement: dict, claims: list[Claim]) -> bool:
    """Whether the judge's reading is a claim the measurements refuted (same stem and
    direction): a refuted claim is never repeated, so the reading is then left out."""
    stem, direction, _ = class_parts(str(judgement.get("class")))
    if stem is None:
        return any(c.verdict == "refuted" and c.no_adjustment for c in claims)
    return any(c.verdict == "refuted" and c.stem == stem and c.direction == direction for c in claims)


def separation_note(sep: SeparationInfo, led: Ledger) -> str:
    """One line on how the stems were separated and how far to trust them."""
    wins = sep.windows_s
    spans = ", ".join(f"{led.num(a, tool='separation', quantity='window_start_s', unit='s', decimals=0)}-"
                      f"{led.num(b, tool='separation', quantity='window_end_s', unit='s', decimals=0)}" for a, b in wins)
    errs = [c.typical_error_db for c in sep.stems if c.typical_error_db is not None]
    text = (f"stems separated from the mix by HT-Demucs v4 (weights for personal and research use only) "
            f"on its loudest stretch{'es' if len(wins) > 1 else ''} ({spans})")
    if sep.residual_db is not None:
        text += (f"; they leave {led.num(sep.residual_db, tool='separation', quantity='residual_db', unit='dB')} "
                 "of the mix unexplained")
    if errs:
        text += (f"; each separated level is good to about "
                 f"{led.rng(min(errs), max(errs), tool='separation', quantity='typical_level_error_db')}")
    return text + ". " + (sep.verdict or "")


def compose_review(findings: list[Finding], claims: list[Claim], *, platform_label: str,
                   stems: list[str], model_used: bool, notes: list[str],
                   judgement: dict | None = None, anchor: str | None = None,
                   separation: SeparationInfo | None = None) -> tuple[str, Ledger]:
    """The review's Markdown and the Ledger of numbers it adds itself (the balance judge's
    probabilities, the separation's record; the rest is the findings' and claims' own evidence).
    ``separation``: the report's ``separation`` when the stems were separated from the mix."""
    led = Ledger()
    todo = [f for f in findings if f.severity != "ok"]
    fine = [f for f in findings if f.severity == "ok"]
    if separation:
        what = "mix only; stems separated from it"
        notes = [separation_note(separation, led)] + list(notes)
    else:
        what = f"stems: {', '.join(stems)}" if stems else "mix only, no stems"
    heard = "audio model and measurements" if model_used else "measurements only"
    lines = [f"**MixingBuddy review** ({what}; target: {platform_label}; {heard})", ""]
    if todo:
        first = todo[0]
        lines.append(f"Most important: **{first.title[:1].lower() + first.title[1:]}**.")
    else:
        lines.append("Nothing stands out as a problem: the mix measures within the professional ranges checked.")
    if todo:
        lines += ["", "### What to fix"]
        for sev in ("high", "medium", "low"):
            for f in todo:
                if f.severity == sev:
                    lines.append(finding_bullet(f).replace("- ", f"- [{SEVERITY_WORD[sev]}] ", 1))
    if claims:
        lines += ["", "### What the audio model heard"]
        lines += [f"- {claim_summary(c)}" for c in claims]
        if judgement and not _repeats_refuted(judgement, claims):
            lines.append(judgement_line(judgement, anchor, led))
    if fine:
        lines += ["", "### What is already fine"]
        lines += [finding_bullet(f, with_action=False) for f in fine]
    if notes:
        lines += ["", "### Notes"]
        lines += [f"- {cap(n)}" for n in notes]
    return "\n".join(lines).rstrip() + "\n", led
