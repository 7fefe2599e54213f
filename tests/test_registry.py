"""The tools as an agent sees them: JSON schemas, argument validation, per-conversation audio."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mixingbuddy.tools.errors import InvalidArgumentError
from mixingbuddy.tools.io.audio import Audio, StemSet
from mixingbuddy.tools.registry import TOOLS, AudioContext, call_tool, openai_tools

SR = 48_000


def _audio(x: np.ndarray, name: str) -> Audio:
    return Audio(samples=x.astype(np.float32), sr=SR, name=name, source_sr=SR, source_channels=x.shape[1])


@pytest.fixture(scope="module")
def ctx() -> AudioContext:
    rng = np.random.default_rng(0)
    n = 6 * SR
    t = np.arange(n) / SR
    vocals = 0.1 * np.sin(2 * np.pi * 440 * t)[:, None].repeat(2, 1)
    bass = 0.2 * np.sin(2 * np.pi * 80 * t)[:, None].repeat(2, 1)
    drums = 0.05 * rng.standard_normal((n, 2))
    stems = StemSet(stems={"vocals": _audio(vocals, "vocals.wav"), "bass": _audio(bass, "bass.wav"),
                           "drums": _audio(drums, "drums.wav")}, sr=SR)
    mix = _audio(vocals + bass + drums, "mix.wav")
    return AudioContext(mix=mix, stems=stems, reference=_audio(0.5 * (vocals + bass + drums), "ref.wav"))


def test_every_tool_has_an_openai_schema():
    tools = openai_tools()
    assert {t["function"]["name"] for t in tools} == set(TOOLS) and len(tools) == 8
    for t in tools:
        assert t["type"] == "function"
        params = t["function"]["parameters"]
        assert params["type"] == "object"
        json.dumps(params)  # serialisable
        assert len(t["function"]["description"]) > 20
    for spec in TOOLS.values():  # result schemas too, for the agent's structured reading
        assert spec.result.model_json_schema()["type"] == "object"


@pytest.mark.parametrize("name, args", [
    ("measure_loudness", {"audio": "mix", "platform": "spotify"}),
    ("measure_loudness", '{"audio": "stem:vocals"}'),
    ("measure_dynamics", {}),
    ("measure_spectrum", {"audio": "reference"}),
    ("measure_stereo", None),
    ("measure_stem_balance", {"anchor": "drums"}),
    ("measure_masking", {"threshold_db": 6}),
    ("estimate_stem_levels", {"audio": "mix"}),
    ("compare_to_reference", ""),
])
def test_valid_calls_return_results_with_verdicts(ctx, name, args):
    res = call_tool(ctx, name, args)
    assert isinstance(res, TOOLS[name].result)
    assert res.verdict
    json.loads(res.model_dump_json())  # strict JSON: no NaN


def test_a_stem_reference_measures_that_stem(ctx):
    vocals = call_tool(ctx, "measure_loudness", {"audio": "stem:vocals"})
    mix = call_tool(ctx, "measure_loudness", {"audio": "mix"})
    assert vocals.integrated_lufs < mix.integrated_lufs - 3


@pytest.mark.parametrize("name, args, phrase", [
    ("measure_loudness", {"audio": "/etc/passwd"}, "audio"),
    ("measure_loudness", {"audio": "../mix.wav"}, "audio"),
    ("measure_loudness", {"platform": "myspace"}, "platform"),
    ("measure_loudness", {"audio": "mix", "path": "/tmp/x.wav"}, "path"),
    ("measure_masking", {"threshold_db": -5}, "threshold_db"),
    ("measure_stem_balance", {"anchor": "kazoo"}, "anchor"),
    ("measure_loudness", "{not json", "not valid JSON"),
    ("delete_everything", {}, "unknown tool"),
    ("measure_loudness", {"audio": "stem:other"}, "no other stem"),
])
def test_bad_calls_raise_a_clear_error(ctx, name, args, phrase):
    with pytest.raises(InvalidArgumentError) as e:
        call_tool(ctx, name, args)
    assert phrase in str(e.value)


def test_a_context_without_stems_or_reference_refuses(ctx):
    bare = AudioContext(mix=ctx.mix)
    with pytest.raises(InvalidArgumentError, match="needs stems"):
        call_tool(bare, "measure_stem_balance", {})
    with pytest.raises(InvalidArgumentError, match="no reference track"):
        call_tool(bare, "compare_to_reference", {})
    with pytest.raises(InvalidArgumentError, match="no stems"):
        call_tool(bare, "measure_loudness", {"audio": "stem:vocals"})
