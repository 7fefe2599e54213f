"""The review's speed work keeps its results: measurements started ahead of their node give the
report the measure node computed, blockwise window power equals the one-shot formula, a single
stem file is used as decoded, the decoded-audio cache holds a byte budget, and a model load that
outlives the program leaves the inference cache in place."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from mixingbuddy.agent import store as store_mod
from mixingbuddy.agent.api import MixingBuddy
from mixingbuddy.agent.nodes import measure as measure_node
from mixingbuddy.model.data.demo_song import SongConfig, render_song
from mixingbuddy.tools.io.ingest import load_audio, load_mix_and_stems
from mixingbuddy.tools.measure.analyze import analyze
from mixingbuddy.tools.separate.windows import _channel_mean_power, loudest_windows


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    """A 12 s demo song, vocals 4 dB down: mix.wav and stems/<role>.wav (24-bit, 44.1 kHz)."""
    d = tmp_path_factory.mktemp("speedsong")
    mix, stems = render_song(SongConfig(duration_s=12.0, seed=3), gains_db={"vocals": -4.0})
    sf.write(d / "mix.wav", mix, 44_100, subtype="PCM_24")
    (d / "stems").mkdir()
    for role, x in stems.items():
        sf.write(d / "stems" / f"{role}.wav", x, 44_100, subtype="PCM_24")
    return d / "mix.wav", d / "stems"


def _without_timings(rep: dict) -> dict:
    return {k: v for k, v in rep.items() if k != "timings_s"}


def test_review_report_is_the_measure_nodes_own(tmp_path, song):
    mix_path, stems_dir = song
    steps: list[tuple[str, str]] = []
    with MixingBuddy(home=tmp_path / "home", llm=None, use_model=False, separate=False) as buddy:
        rv = buddy.review(mix_path, stems=stems_dir, on_progress=lambda n, s: steps.append((n, s)))
    assert not measure_node._EARLY  # the early measurement was collected, none left behind
    assert [n for n, s in steps if s.startswith("done")] == ["ingest", "listen", "measure", "check_claims",
                                                             "compose"]
    mix, stems = load_mix_and_stems(str(mix_path), str(stems_dir))
    direct = analyze(mix, stems, platform="spotify", workers=2).model_dump(mode="json")
    assert _without_timings(rv.report) == _without_timings(direct)


def test_measure_node_raises_the_early_measurements_error(tmp_path, song):
    mix_path, stems_dir = song
    mix, stems = load_mix_and_stems(str(mix_path), str(stems_dir))

    class Ctx:  # the node's context: what measure reads (a stored conversation needs no more)
        separate = False

    ctx = Ctx()
    state = {"thread_id": "t1", "inputs": {"anchor": None}, "platform": "no-such-platform"}
    from mixingbuddy.tools.registry import AudioContext

    assert measure_node.start_early(state, ctx, AudioContext(mix=mix, stems=stems))
    with pytest.raises(Exception, match="unknown platform 'no-such-platform'"):
        measure_node.measure(state, ctx)
    assert not measure_node._EARLY


@pytest.mark.parametrize("channels", [1, 2, 3])
def test_blockwise_power_is_the_one_shot_formula(channels):
    rng = np.random.default_rng(channels)
    x = (0.3 * rng.standard_normal((10_007, channels))).astype(np.float32)
    x = x[:, 0] if channels == 1 else x
    want = np.square(x.astype(np.float64)).reshape(x.shape[0], -1).mean(axis=1)
    assert np.array_equal(_channel_mean_power(x, block_n=1000), want)
    assert np.array_equal(_channel_mean_power(x), want)


def test_loudest_windows_on_a_song(song):
    mix = load_audio(str(song[0]))
    x = mix.samples
    chosen = loudest_windows(x, mix.sr, 3.0, 2)
    win = 3 * mix.sr
    power = np.square(x.astype(np.float64)).mean(axis=1)
    csum = np.concatenate([[0.0], np.cumsum(power)])
    starts = np.arange(0, x.shape[0] - win + 1, mix.sr // 2)
    best = int(starts[np.argmax(csum[starts + win] - csum[starts])])
    assert (best, best + win) in chosen and len(chosen) == 2


def test_single_stem_file_is_used_as_decoded(song):
    _, stems_dir = song
    _, stems = load_mix_and_stems(str(song[0]), str(stems_dir))
    for role, a in stems.stems.items():
        alone = load_audio(str(stems_dir / f"{role}.wav"))
        assert np.array_equal(a.samples, alone.samples)
        assert a.samples.flags.writeable and a.samples.dtype == np.float32


def test_audio_cache_keeps_a_byte_budget(tmp_path, song, monkeypatch):
    mix_path, stems_dir = song
    st = store_mod.ThreadStore(tmp_path / "home")
    one = st.load(str(mix_path), str(stems_dir))
    size = store_mod._audio_bytes(one)
    assert size == one.mix.samples.nbytes + sum(a.samples.nbytes for a in one.stems.stems.values())
    monkeypatch.setattr(store_mod, "CACHE_BYTES", int(2.5 * size))  # room for two
    monkeypatch.setattr(store_mod, "_CACHE", type(store_mod._CACHE)())
    for tid in ("a1", "a2", "a3"):
        st.put(tid, st.load(str(mix_path), str(stems_dir)))
    assert [k[1] for k in store_mod._CACHE] == ["a2", "a3"]
    monkeypatch.setattr(store_mod, "CACHE_BYTES", 1)  # the newest conversation always stays
    st.put("a4", one)
    assert [k[1] for k in store_mod._CACHE] == ["a4"]


@pytest.mark.slow
def test_a_load_that_outlives_the_program_keeps_the_cache(tmp_path):
    from mixingbuddy.model import inference_cache as IC
    from mixingbuddy.model.audio_lm import load_config
    from mixingbuddy.model.listen import DEFAULT_WEIGHTS
    from mixingbuddy.tools.cache import cache_dir

    if not (DEFAULT_WEIGHTS / "weights.safetensors").exists():
        pytest.skip("no shipped audio-model weights")
    cache = tmp_path / "cache"
    if (cache_dir() / "audio_lm").is_dir() and (cache_dir() / "backbones").is_dir():  # links, not copies
        shutil.copytree(cache_dir(), cache, copy_function=os.link, ignore=shutil.ignore_patterns("htdemucs"))
    env = {**os.environ, "MIXINGBUDDY_CACHE": str(cache)}
    build = "from mixingbuddy.model.listen import Listener; Listener.load()"
    assert subprocess.run([sys.executable, "-c", build], env=env, timeout=600).returncode == 0
    os.environ["MIXINGBUDDY_CACHE"], before = str(cache), os.environ.get("MIXINGBUDDY_CACHE")
    try:
        dest = IC.entry_dir(DEFAULT_WEIGHTS, load_config(DEFAULT_WEIGHTS))
    finally:
        if before is None:
            del os.environ["MIXINGBUDDY_CACHE"]
        else:
            os.environ["MIXINGBUDDY_CACHE"] = before
    assert (dest / IC.MODEL_FILE).exists()
    code = ("import threading\n"
            "def load():\n"
            "    try:\n"
            "        from mixingbuddy.model.listen import Listener; Listener.load()\n"
            "    except Exception as e:\n"
            "        print('load failed:', type(e).__name__)\n"
            "threading.Thread(target=load).start()\n")  # the main thread ends at once
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert "rebuilding" not in out.stderr
    assert (dest / IC.MODEL_FILE).exists()
