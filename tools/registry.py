"""The measurement tools as callable, schema-described functions for an agent.

Each tool has a pydantic parameter model (its JSON schema is what an LLM sees, in the OpenAI
function-calling format) and a result model. Audio is never passed by path: a tool names audio
by reference (``mix``, ``reference``, ``stem:<role>``) and the reference is resolved against an
``AudioContext`` that holds only the audio of one conversation, so a tool call cannot read any
other file.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import InvalidArgumentError
from .io.audio import Audio, StemSet
from .measure import long_mix
from .measure.dynamics import DynamicsResult, measure_dynamics
from .measure.loudness import LoudnessResult, measure_loudness
from .measure.masking import MaskingResult, measure_masking
from .measure.mix_estimate import MixEstimateResult, estimate_stem_levels
from .measure.reference_compare import ReferenceComparison
from .measure.spectral import SpectrumResult, measure_spectrum
from .measure.stem_balance import StemBalanceResult, measure_stem_balance
from .measure.stereo import StereoResult, measure_stereo
from .results import Measurement

Platform = Literal["spotify", "apple_music", "youtube", "amazon_music", "deezer", "ebu_r128"]
AUDIO_REF_PATTERN = r"^(mix|reference|stem:(vocals|drums|bass|other))$"


@dataclass
class AudioContext:
    """The audio one conversation may measure."""

    mix: Audio
    stems: StemSet | None = None
    reference: Audio | None = None

    def resolve(self, ref: str) -> Audio:
        if ref == "mix":
            return self.mix
        if ref == "reference":
            if self.reference is None:
                raise InvalidArgumentError("no reference track was given in this conversation")
            return self.reference
        role = ref.split(":", 1)[1]
        if self.stems is None:
            raise InvalidArgumentError("no stems were given in this conversation")
        if role not in self.stems.stems:
            raise InvalidArgumentError(
                f"no {role} stem in this conversation (stems: {', '.join(self.stems.roles)})")
        return self.stems.stems[role]

    def stem_arrays(self) -> dict[str, np.ndarray]:
        if self.stems is None:
            raise InvalidArgumentError("this tool needs stems, and none were given in this conversation")
        if any(a.spool is not None for a in self.stems.stems.values()):  # long stems: as analyze does
            return long_mix.stem_windows(self.mix, self.stems)[0]
        return {role: a.samples for role, a in self.stems.stems.items()}


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AudioParams(_Params):
    audio: str = Field("mix", pattern=AUDIO_REF_PATTERN,
                       description="which audio to measure: 'mix', 'reference' or 'stem:<role>'")


class LoudnessParams(AudioParams):
    platform: Platform | None = Field(None, description="streaming platform whose target to compare with")


class StemBalanceParams(_Params):
    anchor: Literal["vocals", "drums", "bass", "other"] | None = Field(
        None, description="stem assumed correct; the others are also judged relative to it")


class MaskingParams(_Params):
    threshold_db: float = Field(3.0, ge=0.0, le=20.0,
                                description="a target band counts as masked when the masker comes within this many dB")


class NoParams(_Params):
    pass


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    params: type[_Params]
    result: type[Measurement]
    run: Callable[[AudioContext, Any], Measurement]


def _ref_compare(ctx: AudioContext, p: NoParams) -> ReferenceComparison:
    return long_mix.reference_comparison(ctx.mix, ctx.resolve("reference"))


TOOLS: dict[str, ToolSpec] = {t.name: t for t in [
    ToolSpec("measure_loudness",
             "Integrated loudness (LUFS, BS.1770-4), loudness range (LU), true peak (dBTP), PLR, "
             "short-term loudness over time, and the delta to each streaming platform's target.",
             LoudnessParams, LoudnessResult,
             lambda c, p: (long_mix.loudness_and_dynamics_long(c.resolve(p.audio), p.platform)[0]
                           if c.resolve(p.audio).spool is not None else
                           measure_loudness(c.resolve(p.audio).samples, c.mix.sr, platform=p.platform))),
    ToolSpec("measure_dynamics", "Crest factor, PSR, clipped-sample runs and DC offset.",
             AudioParams, DynamicsResult,
             lambda c, p: (long_mix.loudness_and_dynamics_long(c.resolve(p.audio), None)[1]
                           if c.resolve(p.audio).spool is not None else
                           measure_dynamics(c.resolve(p.audio).samples, c.mix.sr))),
    ToolSpec("measure_spectrum",
             "Long-term spectrum in 1/3-octave bands, named regions, tilt (dB/octave) and the "
             "deviation from the professional target curve.",
             AudioParams, SpectrumResult,
             lambda c, p: (long_mix.spectrum_long(c.resolve(p.audio)) if c.resolve(p.audio).spool is not None
                           else measure_spectrum(c.resolve(p.audio).samples, c.mix.sr))),
    ToolSpec("measure_stereo",
             "Inter-channel correlation (overall and per band), mid/side ratio, width, mono "
             "fold-down loss and the low-end mono check.",
             AudioParams, StereoResult,
             lambda c, p: (long_mix.stereo_long(c.resolve(p.audio)) if c.resolve(p.audio).spool is not None
                           else measure_stereo(c.resolve(p.audio).samples, c.mix.sr))),
    ToolSpec("measure_stem_balance",
             "Each stem's level against the rest of the mix, the mix and the anchor, compared with "
             "the professional range measured on MUSDB18-HQ. Needs stems.",
             StemBalanceParams, StemBalanceResult,
             lambda c, p: measure_stem_balance(c.stem_arrays(), c.mix.sr, anchor=p.anchor)),
    ToolSpec("measure_masking",
             "For each pair of stems, where one masks the other on an ERB band scale, the worst "
             "bands and times, and an EQ remedy. Needs stems.",
             MaskingParams, MaskingResult,
             lambda c, p: measure_masking(c.stem_arrays(), c.mix.sr, threshold_db=p.threshold_db)),
    ToolSpec("estimate_stem_levels",
             "Estimate vocals, drums and bass levels from the mix alone (no stems), with a confidence.",
             AudioParams, MixEstimateResult,
             lambda c, p: (long_mix.mix_estimate_long(c.resolve(p.audio)) if c.resolve(p.audio).spool is not None
                           else estimate_stem_levels(c.resolve(p.audio).samples, c.mix.sr))),
    ToolSpec("compare_to_reference",
             "Loudness-matched comparison with the user's reference track: per-band spectral "
             "difference and the deltas in loudness, LRA, crest factor and width.",
             NoParams, ReferenceComparison, _ref_compare),
]}


def openai_tools() -> list[dict[str, Any]]:
    """Tool descriptions in the OpenAI chat-completions ``tools`` format."""
    return [{"type": "function",
             "function": {"name": t.name, "description": t.description,
                          "parameters": t.params.model_json_schema()}}
            for t in TOOLS.values()]


def call_tool(ctx: AudioContext, name: str, arguments: str | dict[str, Any] | None) -> Measurement:
    """Validate ``arguments`` (a JSON string or dict) against the tool's schema and run it."""
    if name not in TOOLS:
        raise InvalidArgumentError(f"unknown tool {name!r}; tools: {', '.join(TOOLS)}")
    spec = TOOLS[name]
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as e:
            raise InvalidArgumentError(f"{name}: arguments are not valid JSON ({e.msg})") from None
    try:
        params = spec.params.model_validate(arguments or {})
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "arguments"
        raise InvalidArgumentError(f"{name}: {where}: {first['msg']}") from None
    return spec.run(ctx, params)
