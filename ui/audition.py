"""Audition the fix: apply per-stem gain changes, render before/after mixes, and re-measure.

The two versions are measured with the review's own tools, then written loudness-matched and
peak-safe for listening; the details are in the Notes of :func:`audition`. Long (spooled) stems
are read a block at a time and only the mix's loudest windows are rendered (see the Notes).
"""
from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from ..agent.whatif import (
    MAX_GAIN_DB,
    apply_gains,
    balance_audio,
    blockwise,
    mixes_loudness,
    stem_level_db,
    sum_mix,
)
from ..tools.errors import InvalidArgumentError, SilentAudioError
from ..tools.io.audio import StemSet
from ..tools.measure.loudness import PLATFORM_TARGETS, LoudnessResult, measure_loudness
from ..tools.measure.stem_balance import measure_stem_balance

CEILING_DBTP = -1.0
CLIP_DBTP = 0.0
SILENT_DBFS = -90.0  # an after mix whose sample peak is at or below this is silent
GAIN_STEP_DB = 0.1  # the sliders' step: suggested gains come rounded to it (suggested_gains_db)


class StemNumbers(BaseModel):
    """One stem's level as measured in one version of the mix."""

    name: str
    gain_db: float  # the change applied in this version (0 in the before mix)
    level_vs_rest_db: float | None  # against the power sum of the other stems (agent.whatif.stem_level_db)
    integrated_lufs: float | None
    status: str  # within_range / too_loud / too_quiet / silent / no_reference
    reference_p10_db: float | None = None
    reference_p90_db: float | None = None


class MixNumbers(BaseModel):
    """Loudness and peaks of one version of the mix (as bounced, before playback matching)."""

    integrated_lufs: float | None
    loudness_range_lu: float | None
    true_peak_dbtp: float
    sample_peak_dbfs: float
    platform_delta_lu: float | None  # integrated - the platform's target
    stems: list[StemNumbers]


class AuditionResult(BaseModel):
    gains_db: dict[str, float]
    platform: str
    before: MixNumbers
    after: MixNumbers
    before_wav: str
    after_wav: str
    match_gain_db: float  # applied to the after file to match the before file's loudness
    playback_trim_db: float  # applied to both files to keep them under the ceiling (<= 0)
    playback_true_peak_dbtp: float  # the louder of the two files' true peaks, after trimming
    would_clip: bool  # the after mix as bounced has a true peak above 0 dBTP
    notes: list[str]

    def delta_db(self, stem: str) -> float | None:
        """After - before level against the rest, for one stem."""
        b = next((s.level_vs_rest_db for s in self.before.stems if s.name == stem), None)
        a = next((s.level_vs_rest_db for s in self.after.stems if s.name == stem), None)
        return None if a is None or b is None else round(a - b, 2)


# ----------------------------------------------------------------------------- suggestions


def suggested_gains(report: Any, stem: str | None = None) -> dict[str, float]:
    """Per-stem gain changes (dB) the review suggests: the joint moves of
    ``agent.balance_moves.solve_moves`` (the fewest stems that bring every stem inside the
    professional range), each as ``agent.spectrum_after_moves.suggested_gains_db`` offers it (the
    middle of its range), within +-``MAX_GAIN_DB``; every other stem 0. With ``stem``, that stem's
    move alone (one finding's "try it"). Empty without stems."""
    from ..agent.findings import joint_moves
    from ..agent.spectrum_after_moves import suggested_gains_db
    from ..tools.measure.stem_balance import StemBalanceResult

    sb = getattr(report, "stem_balance", None) if not isinstance(report, Mapping) else report.get("stem_balance")
    if not sb:
        return {}
    sb = sb if isinstance(sb, StemBalanceResult) else StemBalanceResult.model_validate(sb)
    out = {st.name: 0.0 for st in sb.stems}
    sol = joint_moves(sb)
    for name, gain_db in (suggested_gains_db(sol) if sol is not None else {}).items():
        if stem is None or name == stem:
            out[name] = max(-MAX_GAIN_DB, min(MAX_GAIN_DB, gain_db))
    return out


# ----------------------------------------------------------------------------- rendering


def check_gains(stems: StemSet, gains_db: Mapping[str, Any]) -> dict[str, float]:
    """Gains for every stem (missing ones 0); unknown stems, non-numbers and moves beyond
    +-24 dB raise InvalidArgumentError."""
    if not isinstance(gains_db, Mapping):
        raise InvalidArgumentError(f"gains must be a mapping of stem -> dB, got {type(gains_db).__name__}")
    unknown = [k for k in gains_db if k not in stems.stems]
    if unknown:
        raise InvalidArgumentError(
            f"no stem named {unknown[0]!r} to change (stems: {', '.join(stems.roles)})")
    out = {}
    for role in stems.roles:
        v = gains_db.get(role, 0.0)
        if v is None:
            v = 0.0
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
            raise InvalidArgumentError(f"the gain for {role} must be a number of dB, got {v!r}")
        if abs(float(v)) > MAX_GAIN_DB:
            raise InvalidArgumentError(
                f"a gain change of {float(v):+.1f} dB on {role} is beyond +-{MAX_GAIN_DB:g} dB; "
                "that is a different mix, not a fix")
        out[role] = float(v)
    return out


def _numbers(stems: StemSet, gains: Mapping[str, float], arrays: Mapping[str, np.ndarray], loud: LoudnessResult,
             anchor: str | None, platform: str) -> MixNumbers:
    rows: list[StemNumbers] = []
    if len(arrays) >= 2:
        bal = measure_stem_balance(arrays, stems.sr, anchor=anchor)
        for st in bal.stems:
            ref = st.vs_rest.reference if st.vs_rest else None
            rows.append(StemNumbers(name=st.name, gain_db=gains.get(st.name, 0.0),
                                    level_vs_rest_db=stem_level_db(st),
                                    integrated_lufs=st.integrated_lufs, status=st.status,
                                    reference_p10_db=ref.p10_db if ref else None,
                                    reference_p90_db=ref.p90_db if ref else None))
    delta = next((p.delta_lu for p in loud.platforms if p.name == platform), None)
    return MixNumbers(integrated_lufs=loud.integrated_lufs, loudness_range_lu=loud.loudness_range_lu,
                      true_peak_dbtp=loud.true_peak_dbtp, sample_peak_dbfs=loud.sample_peak_dbfs,
                      platform_delta_lu=delta, stems=rows)


def _write_wav(path: Path, x: np.ndarray, sr: int) -> None:
    import soundfile as sf

    sf.write(path, np.clip(x, -1.0, 1.0), sr, subtype="PCM_16")


def audition(stems: StemSet, gains_db: Mapping[str, Any], out_dir: str | os.PathLike, *,
             anchor: str | None = None, platform: str = "spotify",
             ceiling_dbtp: float = CEILING_DBTP, residual=None,
             residual_kind: str = "separated", mix=None) -> AuditionResult:
    """Apply ``gains_db`` (stem -> dB) to ``stems``, write loudness-matched, peak-safe
    ``before.wav`` / ``after.wav`` in a new folder under ``out_dir``, and return both versions'
    measurements. ``residual``: stems separated from a bounced mix leave part of it out; it is
    added to both versions, which are then approximate (for a long mix, the
    ``agent.whatif.MasterResidual`` that ``master_residual`` gives). ``mix``: the mix file's
    ``Audio``, which picks the windows of long stems (else the residual's mix, else the stems' sum).

    Notes
    -----
    Method: before = the mix as the review measured it: the stems' sum plus what the mix file
    adds to it (``agent.whatif.master_residual``); after = the same with each stem scaled by its
    gain (dB). Both are measured with the same tools as the review
    (``tools.measure.stem_balance`` for each stem against the rest, ``tools.measure.loudness``
    for integrated loudness, LRA and true peak), so the numbers shown next to the players are the
    numbers of the mixes as the user would get them in the DAW.

    Playback files: the two files are loudness-matched (the after mix is gained by
    I_before - I_after, BS.1770 integrated loudness) so that what changes between them is the
    balance, not the volume (a louder version is heard as "better"). If either would then have a
    true peak above the ceiling (``ceiling_dbtp``, -1 dBTP), both are lowered by the same
    amount, so they stay matched and neither clips; the notes say by how much. They are written
    as 16-bit WAV at the analysis rate.

    Clipping: when the after mix as it would be bounced (no matching) has a true peak above
    0 dBTP (``CLIP_DBTP``), a note says so and by how much to pull the master (or the other
    stems) down.

    Long stems (spooled by ingest): the two mixes are never built whole. Their loudness and
    peaks are the whole song's, measured a block at a time (``agent.whatif.mixes_loudness``, the
    numbers of the whole arrays), so the match gain and the trim hold for the whole song; the
    stem levels are measured, and the two files rendered, on the mix's loudest windows
    (``agent.whatif.balance_audio``: the stretches the review measured the stems on, joined end to
    end as the separated windows of a bounced mix are), and a note names them. The files are then
    at most a minute long instead of the whole song.
    """
    if not isinstance(stems, StemSet) or not stems.stems:
        raise InvalidArgumentError("auditioning a fix needs the stems of the mix")
    if platform not in PLATFORM_TARGETS:
        raise InvalidArgumentError(f"unknown platform {platform!r}; choose one of {', '.join(PLATFORM_TARGETS)}")
    gains = check_gains(stems, gains_db)
    # what the stem balance is measured on and the players hold: every stem whole, or for long
    # stems the mix's loudest windows (spans)
    arrays, res, spans = balance_audio(stems, mix, residual)
    moved = apply_gains(arrays, gains)
    before, after = sum_mix(arrays, res), sum_mix(moved, res)
    long = blockwise(stems, residual)
    if long:  # the whole song's loudness, both mixes in one block-wise pass
        loud_b, loud_a = mixes_loudness(stems, [{}, gains], residual, platform)
    if (loud_a.sample_peak_dbfs <= SILENT_DBFS) if long else not np.any(np.abs(after) > 10 ** (SILENT_DBFS / 20)):
        raise SilentAudioError("with these gains the mix is silent")
    if not long:  # what mixes_loudness measures, on the arrays already summed
        loud_b, loud_a = (measure_loudness(x, stems.sr, platform=platform) for x in (before, after))
    nb = _numbers(stems, {r: 0.0 for r in stems.roles}, arrays, loud_b, anchor, platform)
    na = _numbers(stems, gains, moved, loud_a, anchor, platform)
    notes: list[str] = []
    if spans is not None:
        from ..tools.measure.long_mix import STEM_WINDOW_S, window_note

        notes.append(f"long mix: the players hold its {len(spans)} loudest {STEM_WINDOW_S:g} s windows "
                     f"({window_note(spans, stems.sr)}), joined end to end, where the stem levels are "
                     "measured; loudness, peaks and the matching are the whole song's")
    if residual is not None and residual_kind == "master":
        notes.append("approximate: before is your mix file; what your master adds to the stems' sum (bus "
                     "processing, limiting) is kept as it is in the after version")
    elif residual_kind == "unmatched":
        notes.append("your stems do not add up to the mix file (another take, or shifted in time): both "
                     "versions are sums of the stems")
    elif residual is not None:
        notes.append("approximate: the stems were separated from your mix (each level good to about a dB or two) "
                     "and only its separated windows are rendered; what the separator left out is kept in both")

    match_db = 0.0
    if nb.integrated_lufs is not None and na.integrated_lufs is not None:
        match_db = round(nb.integrated_lufs - na.integrated_lufs, 2)
    else:
        notes.append("loudness could not be measured on one version (too quiet or too short); "
                     "the files are not loudness-matched")
    tp_after_matched = na.true_peak_dbtp + match_db
    loudest_peak = max(nb.true_peak_dbtp, tp_after_matched)
    trim_db = min(0.0, round(ceiling_dbtp - loudest_peak, 2))
    if trim_db < 0:
        notes.append(f"both files are {-trim_db:.1f} dB quieter for playback, so that neither goes "
                     f"above {ceiling_dbtp:g} dBTP (the louder true peak was {loudest_peak:+.1f} dBTP)")
    if match_db:
        notes.append(f"the after file is {match_db:+.1f} dB to match the before file's loudness "
                     f"({nb.integrated_lufs:.1f} LUFS), so you hear the balance, not the volume")
    would_clip = na.true_peak_dbtp > CLIP_DBTP
    if would_clip:
        notes.append(f"applied as they are, these gains put the mix's true peak at {na.true_peak_dbtp:+.1f} "
                     f"dBTP: pull the master (or the other stems) down by at least "
                     f"{na.true_peak_dbtp - ceiling_dbtp:.1f} dB to stay under {ceiling_dbtp:g} dBTP")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="audition-", dir=out))
    b_wav, a_wav = folder / "before.wav", folder / "after.wav"
    _write_wav(b_wav, before * np.float32(10 ** (trim_db / 20)), stems.sr)
    _write_wav(a_wav, after * np.float32(10 ** ((match_db + trim_db) / 20)), stems.sr)
    return AuditionResult(gains_db=gains, platform=platform, before=nb, after=na,
                          before_wav=str(b_wav), after_wav=str(a_wav), match_gain_db=match_db,
                          playback_trim_db=trim_db,
                          playback_true_peak_dbtp=round(loudest_peak + trim_db, 2),
                          would_clip=would_clip, notes=notes)


# ----------------------------------------------------------------------------- loading, text


def stems_from_audio_record(audio: Mapping[str, Any], *, max_duration_s: float = 1200.0,
                            with_mix: bool = False):
    """The stems of a conversation from its stored ``audio`` record (``MixingBuddy.state``:
    ``mix``, ``stems``, ``stem_roles``, ``stems_container``), decoded with ``tools.io.ingest``;
    ``with_mix``: ``(mix, stems)``."""
    from ..tools.io.ingest import load_mix_and_stems

    if not audio or not audio.get("mix"):
        raise InvalidArgumentError("this conversation has no stored audio")
    spec: Any = audio.get("stems_container") or (list(audio.get("stems") or []) or None)
    mix, stems = load_mix_and_stems(audio["mix"], spec, roles=audio.get("stem_roles") or None,
                                    max_duration_s=max_duration_s)
    if stems is None:
        raise InvalidArgumentError("auditioning a fix needs stems; this conversation has only the mix")
    return (mix, stems) if with_mix else stems


def audition_markdown(res: AuditionResult) -> str:
    """The before/after numbers as a Markdown table, with the notes."""
    lines = ["| stem | gain | level vs rest before | after | change | status after |",
             "|---|---|---|---|---|---|"]
    after = {s.name: s for s in res.after.stems}
    for b in res.before.stems:
        a = after.get(b.name)
        d = res.delta_db(b.name)
        lines.append(
            f"| {b.name} | {res.gains_db.get(b.name, 0.0):+.1f} dB | {_fmt(b.level_vs_rest_db, ' dB')} | "
            f"{_fmt(a.level_vs_rest_db if a else None, ' dB')} | {_fmt(d, ' dB', signed=True)} | "
            f"{(a.status if a else '-').replace('_', ' ')} |")
    rows = (("integrated loudness", res.before.integrated_lufs, res.after.integrated_lufs, " LUFS", False),
            ("true peak", res.before.true_peak_dbtp, res.after.true_peak_dbtp, " dBTP", True),
            ("loudness range", res.before.loudness_range_lu, res.after.loudness_range_lu, " LU", False))
    lines += ["", "| mix | before | after |", "|---|---|---|"]
    lines += [f"| {name} | {_fmt(b, unit, signed)} | {_fmt(a, unit, signed)} |" for name, b, a, unit, signed in rows]
    if res.notes:
        lines += [""] + [f"- {n}" for n in res.notes]
    return "\n".join(lines)


def _fmt(v: float | None, unit: str, signed: bool = False) -> str:
    if v is None:
        return "-"
    return f"{v:+.1f}{unit}" if signed else f"{v:.1f}{unit}"
