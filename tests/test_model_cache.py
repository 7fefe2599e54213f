"""The merged inference cache (``model.inference_cache``) and what it loads with: the Llama of
``model.llama`` and the tokenizer of ``model.chat_tokenizer``, both without transformers.

- the transformers-free Llama gives exactly transformers' logits (random tiny Llama with grouped
  heads: left padding, no padding, a key/value cache), and the tokenizer its ids and prompts;
- the cache key changes with every source file's bytes (the trained weights, their config, the
  GGUF) and with the library versions;
- on the shipped model and the SmolLM2 GGUF (slow): the cached model gives bit-identical logits,
  class posterior and greedy answers to the transformers + peft path on a fixed prompt and clip;
  a LoRA changed by one byte makes a new entry; a damaged entry is rebuilt; a fresh process
  listens from the cache without importing transformers or peft.
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mixingbuddy.model import inference_cache as IC
from mixingbuddy.model.audio_lm import load_config

SHIPPED = Path(__file__).resolve().parents[1] / "model" / "weights"


# --- the Llama without transformers ---------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_pair():
    """(transformers LlamaForCausalLM, the same weights in model.llama): 2 layers, 4 query
    heads over 2 key/value heads, tied embeddings."""
    from transformers import LlamaConfig as HFConfig
    from transformers import LlamaForCausalLM as HFLlama

    from mixingbuddy.model.llama import LlamaConfig, LlamaForCausalLM

    conf = HFConfig(vocab_size=101, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                    tie_word_embeddings=True, rope_theta=10_000.0, rms_norm_eps=1e-5)
    torch.manual_seed(3)
    hf = HFLlama(conf).eval()
    ours = LlamaForCausalLM.from_state_dict(LlamaConfig.from_hf(hf.config), dict(hf.state_dict()))
    assert ours.lm_head.weight is ours.model.embed_tokens.weight
    return hf, ours


def _left_padded(lengths: list[int], vocab: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    width = max(lengths)
    ids = torch.zeros(len(lengths), width, dtype=torch.long)
    mask = torch.zeros(len(lengths), width, dtype=torch.long)
    for b, n in enumerate(lengths):
        ids[b, width - n:] = torch.randint(3, vocab, (n,), generator=g)
        mask[b, width - n:] = 1
    return ids, mask, (mask.cumsum(1) - 1).clamp(min=0)


@pytest.mark.parametrize("lengths", [[9], [9, 5], [7, 7, 3]])
def test_llama_gives_transformers_logits_exactly(tiny_pair, lengths):
    """Prefill over left-padded rows, then greedy steps through the key/value cache: every
    logit equal, bit for bit (one row: sdpa's causal flag; padded rows: a boolean mask; steps:
    one query over grouped heads)."""
    hf, ours = tiny_pair
    ids, mask, pos = _left_padded(lengths, 101)
    with torch.no_grad():
        dec_hf, dec = hf.get_decoder(), ours.get_decoder()
        emb = ours.get_input_embeddings()(ids)
        a = dec_hf(inputs_embeds=emb, attention_mask=mask, position_ids=pos, use_cache=True)
        b = dec(inputs_embeds=emb, attention_mask=mask, position_ids=pos, use_cache=True)
        cache_a = getattr(a, "cache", None) or a.past_key_values
        cache_b = b.past_key_values
        valid = mask.bool()
        assert torch.equal(a.last_hidden_state[valid], b.last_hidden_state[valid])
        nxt = hf.lm_head(a.last_hidden_state[:, -1]).argmax(-1)
        kw = "cache" if "cache" in __import__("inspect").signature(dec_hf.forward).parameters else "past_key_values"
        for _ in range(3):
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            pos = pos[:, -1:] + 1
            e = ours.get_input_embeddings()(nxt[:, None])
            a = dec_hf(inputs_embeds=e, attention_mask=mask, position_ids=pos, use_cache=True, **{kw: cache_a})
            b = dec(inputs_embeds=e, attention_mask=mask, position_ids=pos, use_cache=True, past_key_values=cache_b)
            la, lb = hf.lm_head(a.last_hidden_state[:, -1]), ours.lm_head(b.last_hidden_state[:, -1])
            assert torch.equal(la, lb)
            nxt = la.argmax(-1)
        # the plain causal-LM call, without mask or positions; then several tokens after a cache
        out_hf, out = hf(input_ids=ids[:1, :4], use_cache=True), ours(input_ids=ids[:1, :4], use_cache=True)
        assert torch.equal(out_hf.logits, out.logits)
        past_hf = getattr(out_hf, "cache", None) or out_hf.past_key_values
        more_hf = hf(input_ids=ids[:1, 4:], **{kw: past_hf})
        more = ours(input_ids=ids[:1, 4:], past_key_values=out.past_key_values)
        assert torch.equal(more_hf.logits, more.logits)


def test_llama_refuses_what_it_does_not_state():
    from transformers import LlamaConfig as HFConfig

    from mixingbuddy.model.llama import LlamaConfig

    with pytest.raises(ValueError, match="biases"):
        LlamaConfig.from_hf(HFConfig(hidden_size=64, num_attention_heads=4, attention_bias=True))
    scaled = HFConfig(hidden_size=64, num_attention_heads=4,
                      rope_parameters={"rope_type": "linear", "factor": 2.0, "rope_theta": 10_000.0})
    with pytest.raises(ValueError, match="RoPE"):
        LlamaConfig.from_hf(scaled)


def test_chat_tokenizer_matches_transformers(tmp_path):
    """The tiny backbone's tokenizer (a real transformers fast tokenizer), saved and reloaded
    without transformers: same ids, same prompt text, same decoded text, same special ids."""
    from mixingbuddy.model.chat_tokenizer import ChatTokenizer
    from mixingbuddy.model.llm import build_tiny_tokenizer

    hf = build_tiny_tokenizer()
    ChatTokenizer.from_hf(hf).save(tmp_path)
    tok = ChatTokenizer.load(tmp_path)
    texts = ["Judge the level balance of the stems in the audio.", "raise the vocals 3 dB <|im_end|> ok",
             "  spaces  and\nnew lines, é ü ß 12 dB!", ""]
    for t in texts:
        for special in (True, False):
            assert tok(t, add_special_tokens=special)["input_ids"] == hf(t, add_special_tokens=special)["input_ids"]
        ids = hf(t)["input_ids"] + [hf.eos_token_id]
        for skip in (True, False):
            assert tok.decode(ids, skip_special_tokens=skip) == hf.decode(ids, skip_special_tokens=skip)
    msgs = [{"role": "system", "content": "You are a mixing engineer."},
            {"role": "user", "content": "How are the drums?\n<|audio_placeholder|>"}]
    for gen in (True, False):
        assert (tok.apply_chat_template(msgs, add_generation_prompt=gen, tokenize=False)
                == hf.apply_chat_template(msgs, add_generation_prompt=gen, tokenize=False))
    for name in ("eos_token_id", "pad_token_id", "unk_token_id", "bos_token_id", "eos_token", "pad_token"):
        assert getattr(tok, name) == getattr(hf, name), name
    assert tok.convert_tokens_to_ids("<|im_end|>") == hf.convert_tokens_to_ids("<|im_end|>")
    assert tok.convert_tokens_to_ids("no-such-token") == hf.convert_tokens_to_ids("no-such-token")
    assert len(tok) == len(hf)


# --- the cache key ----------------------------------------------------------------------------

def _flip_in_tensor(path: Path, prefix: str) -> str:
    """Change one byte inside the data of the first float16 tensor named ``prefix...`` of a
    safetensors file: the top mantissa bit of its first element (a finite change of about a
    quarter of its value). Returns the tensor's name."""
    raw = bytearray(path.read_bytes())
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    name = sorted(k for k in header if k.startswith(prefix))[0]
    assert header[name]["dtype"] == "F16"
    start = 8 + n + header[name]["data_offsets"][0]
    raw[start + 1] ^= 0x02
    path.write_bytes(bytes(raw))
    return name


def _copy_weights(dest: Path) -> Path:
    shutil.copytree(SHIPPED, dest)
    return dest


def test_every_source_file_and_library_version_keys_the_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("MIXINGBUDDY_CACHE", str(tmp_path / "cache"))
    folder = _copy_weights(tmp_path / "w")
    cfg = load_config(folder)
    first = IC.entry_dir(folder, cfg)
    assert first.parent == tmp_path / "cache" / "audio_lm"
    assert IC.entry_dir(folder, cfg) == first  # stable
    seen = {first}

    def bump(p: Path) -> None:  # a new file version even within one clock tick
        st = p.stat()
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))

    # one byte of the LoRA
    assert _flip_in_tensor(folder / "weights.safetensors", "lora.").startswith("lora.")
    bump(folder / "weights.safetensors")
    seen.add(IC.entry_dir(folder, cfg))
    # one byte of the config (a space in the JSON: same settings, other bytes)
    (folder / "config.json").write_bytes((folder / "config.json").read_bytes() + b" ")
    bump(folder / "config.json")
    seen.add(IC.entry_dir(folder, cfg))
    assert len(seen) == 3
    # the GGUF: a copy, then one byte of the copy
    gguf = tmp_path / "model.gguf"
    shutil.copy(IC.source_files(folder, cfg)["backbone"], gguf)
    cfg.llm.backbone, cfg.llm.path = "gguf", str(gguf)
    seen.add(IC.entry_dir(folder, cfg))  # same bytes, but keyed like any other backbone file
    with open(gguf, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 0x01]))
    bump(gguf)
    seen.add(IC.entry_dir(folder, cfg))
    assert len(seen) == 4  # the unchanged copy of the GGUF shares the entry of the original
    # another transformers (or torch, peft...) version
    versions = IC.library_versions()
    monkeypatch.setattr(IC, "library_versions", lambda: {**versions, "transformers": "0.0.1"})
    seen.add(IC.entry_dir(folder, cfg))
    assert len(seen) == 5


def test_only_gguf_backbones_with_the_conv_encoder_are_cached():
    cfg = load_config(SHIPPED)
    assert IC.cacheable(cfg)
    cfg.llm.backbone = "tiny"
    assert not IC.cacheable(cfg)


# --- the shipped model, through the cache and without it (slow) -------------------------------

def _fixed_batch(model, rows: list[tuple[str, str, int]]):
    """A collated batch of fixed clips: (instruction, anchor, seed) per row, 4 s at 16 kHz."""
    from mixingbuddy.model.dataset import Collator, item_from_audio

    sr, items = 16_000, []
    for instruction, anchor, seed in rows:
        rng = np.random.default_rng(seed)
        t = np.arange(sr * 4) / sr
        clip = (0.3 * np.sin(2 * np.pi * (110 + 20 * seed) * t) + 0.05 * rng.standard_normal(t.size))
        clip = np.stack([clip, clip * 0.8], axis=1).astype(np.float32)
        items.append(item_from_audio(clip, sr, model.cfg.features, anchor, ["bass", "drums", "vocals", "other"],
                                     instruction))
    return Collator()(items)


def _logits(model, batch) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits at every valid prompt position, class posterior)."""
    with torch.no_grad():
        enc = model.encode(batch)
        text = model.prompts.batch(list(batch["instruction"]))
        emb = model.embed_prompt(text, model.audio_tokens(enc))
        hidden = model.causal_lm().get_decoder()(inputs_embeds=emb, attention_mask=text["attention_mask"],
                                                 position_ids=text["position_ids"]).last_hidden_state
        logits = model.causal_lm().get_output_embeddings()(hidden[text["attention_mask"].bool()])
    return logits, torch.softmax(enc.class_logits, -1)


ROWS = [("Judge the level balance of the stems in the audio.", "drums", 11),
        ("Are the vocals too loud or too quiet against the drums? Tell me by how much.", "vocals", 4)]


@pytest.mark.slow
def test_cached_model_is_exact_keyed_and_rebuilt(tmp_path, monkeypatch, caplog):
    from mixingbuddy.model.audio_lm import AudioLM
    from mixingbuddy.model.llama import LlamaForCausalLM

    monkeypatch.setenv("MIXINGBUDDY_CACHE", str(tmp_path / "cache"))
    entries = tmp_path / "cache" / "audio_lm"
    ref = AudioLM.from_pretrained(SHIPPED)  # the transformers + peft path: GGUF, LoRA, merge
    ref.merge_lora()
    ref.eval()
    first = IC.load_for_inference(SHIPPED)  # builds the entry, then reads it
    dest = IC.entry_dir(SHIPPED, first.cfg)
    assert (dest / IC.MODEL_FILE).exists() and not any(p.name.startswith(".partial-") for p in entries.iterdir())
    assert isinstance(first.llm, LlamaForCausalLM)
    cached = IC.load_for_inference(SHIPPED)  # a warm start: reads the entry
    assert isinstance(cached.llm, LlamaForCausalLM)

    for batch in (_fixed_batch(ref, ROWS[:1]), _fixed_batch(ref, ROWS)):  # one row; two, left-padded
        logits_ref, probs_ref = _logits(ref, batch)
        logits, probs = _logits(cached, batch)
        assert torch.equal(logits, logits_ref)
        assert torch.equal(probs, probs_ref)
        texts_ref, _ = ref.generate_with_probs(batch)
        texts, _ = cached.generate_with_probs(batch)
        assert texts == texts_ref and all(texts)
    for instruction, _, _ in ROWS:
        assert cached.prompts.prompt_parts(instruction) == ref.prompts.prompt_parts(instruction)

    # one byte of a copy's LoRA: a new entry beside the first, with other logits
    folder = _copy_weights(tmp_path / "w")
    _flip_in_tensor(folder / "weights.safetensors", "lora.")
    changed = IC.load_for_inference(folder)
    assert sorted(p.name for p in entries.iterdir()) == sorted([dest.name, IC.entry_dir(folder, changed.cfg).name])
    assert not torch.equal(_logits(changed, _fixed_batch(ref, ROWS[:1]))[0], _logits(ref, _fixed_batch(ref, ROWS[:1]))[0])
    del changed, first

    # a damaged entry is noticed, removed and rebuilt
    size = (dest / IC.MODEL_FILE).stat().st_size
    with open(dest / IC.MODEL_FILE, "r+b") as f:
        f.truncate(1000)
    caplog.set_level("WARNING")
    rebuilt = IC.load_for_inference(SHIPPED)
    assert "rebuilding" in caplog.text
    assert (dest / IC.MODEL_FILE).stat().st_size == size
    assert torch.equal(_logits(rebuilt, _fixed_batch(ref, ROWS[:1]))[0], _logits(ref, _fixed_batch(ref, ROWS[:1]))[0])

    # a fresh process listens from the entry without transformers or peft
    code = ("import sys; from mixingbuddy.model.listen import Listener; l = Listener.load(); "
            "print(type(l.model.llm).__name__, 'transformers' in sys.modules, 'peft' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ), capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["LlamaForCausalLM", "False", "False"]
