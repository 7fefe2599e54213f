"""Tests for the audio language model (issue 4): features, encoder, splice, loss, training,
save/load, generation, the HF-encoder path, the training CLI with resume, and ``listen``.

Everything runs on a tiny random backbone (2-layer Llama, tokenizer trained in memory on the
templates) and a toy corpus written into ``tmp_path``: no GGUF, no /work/shared, no network.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from mixingbuddy.model import config as C
from mixingbuddy.model.data import templates as T

torch.set_num_threads(1)

TINY_YAML = Path(__file__).resolve().parents[1] / "model" / "configs" / "tiny.yaml"
STEM_ORDER = ("bass", "drums", "vocals", "other")


# --- a toy corpus (contract (2) rows, short FLAC clips) -------------------------------------

def _toy_stems(rng: np.random.Generator, n: int, sr: int) -> dict[str, np.ndarray]:
    t = np.arange(n) / sr
    f_bass = rng.uniform(50, 100)
    bass = np.sin(2 * np.pi * f_bass * t) + 0.3 * np.sin(4 * np.pi * f_bass * t)
    drums = np.zeros(n)
    for start in range(0, n, sr // 4):
        k = np.arange(min(n - start, sr // 8))
        drums[start:start + k.size] += rng.standard_normal(k.size) * np.exp(-k / (0.02 * sr))
    f_voc = rng.uniform(200, 400)
    vibrato = 0.5 * np.sin(2 * np.pi * 5.0 * t)
    vocals = sum(np.sin(2 * np.pi * h * f_voc * t + h * vibrato) / h for h in (1, 2, 3, 4))
    other_l = sum(np.sin(2 * np.pi * f * t) for f in rng.uniform(300, 1000, 3))
    other_r = sum(np.sin(2 * np.pi * f * t + 1.0) for f in rng.uniform(300, 1000, 3))
    out = {}
    for name, x in (("bass", bass), ("drums", drums), ("vocals", vocals)):
        x = x / (np.sqrt(np.mean(x ** 2)) + 1e-9)
        out[name] = np.stack([x, x], axis=1)
    o = np.stack([other_l, other_r], axis=1)
    out["other"] = o / (np.sqrt(np.mean(o ** 2)) + 1e-9)
    return out


def _rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-12))


def _levels(stems: dict[str, np.ndarray], anchor: str) -> dict:
    mix = sum(stems.values())
    out = {}
    for s in STEM_ORDER:
        rest = sum(v for k, v in stems.items() if k != s)
        out[s] = {"rms_dbfs": _rms_db(stems[s]), "vs_rest_db": _rms_db(stems[s]) - _rms_db(rest),
                  "vs_mix_db": _rms_db(stems[s]) - _rms_db(mix),
                  "vs_anchor_db": _rms_db(stems[s]) - _rms_db(stems[anchor])}
    return out


def write_toy_corpus(out_dir: Path, n: int, *, sr: int = 16_000, seconds: float = 1.5, seed: int = 0,
                     splits=("train", "val", "test")) -> Path:
    """``n`` rows cycling through the five categories; songs of one row each; splits by row
    index (8:1:1 pattern). Levels: natural balance +-3 dB, then the flaw gain."""
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    (out_dir / "audio").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        split = splits[0] if i % 10 < 8 else (splits[1] if i % 10 == 8 else splits[2])
        category = T.CATEGORIES[i % 5]
        target, anchor = rng.choice(T.STEMS, 2, replace=False).tolist()
        stems = _toy_stems(rng, int(seconds * sr), sr)
        for s in stems:
            stems[s] = stems[s] * 10 ** ((rng.uniform(-3, 3) - 20) / 20)
        original = _levels(stems, anchor)
        gain = float(rng.uniform(*T.GAIN_RANGES_DB[category])) if category != "no_error" else 0.0
        stems[target] = stems[target] * 10 ** (gain / 20)
        mix = sum(stems.values())
        scale = min(1.0, 10 ** (-1 / 20) / np.abs(mix).max())
        stems = {k: v * scale for k, v in stems.items()}
        mix = mix * scale
        rid = f"toy-{i:04d}"
        path = f"audio/{rid}.flac"
        sf.write(out_dir / path, mix.astype(np.float32), sr, subtype="PCM_16")
        direction = T.CORRECTIVE_DIRECTION[category]
        rows.append({
            "id": rid, "split": split, "song_id": f"song{i}", "source": "synth", "audio_path": path, "sr": sr,
            "duration_s": seconds, "start_s": 0.0, "stems_present": list(STEM_ORDER), "anchor": anchor,
            "instruction": T.format_instruction(i, STEM_ORDER, anchor),
            "response": T.format_response(category, i, target),
            "published": {"category": category, "target": None if category == "no_error" else target,
                          "direction": direction, "gain_db": gain,
                          "correction_range_db": list(T.CORRECTION_RANGES_DB[category]) if direction else None},
            "norm": {"label": "balanced", "direction": None, "distance_db": 0.0, "per_stem": {}},
            "true_levels": _levels(stems, anchor), "original_levels": original, "augment": None, "style": None,
        })
    with open(out_dir / "manifest.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    (out_dir / "corpus.json").write_text(json.dumps({"n": n}))
    return out_dir


# --- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_cfg() -> C.TrainConfig:
    return C.load_train_config(TINY_YAML)


@pytest.fixture(scope="module")
def toy_corpus(tmp_path_factory) -> Path:
    return write_toy_corpus(tmp_path_factory.mktemp("toy") / "corpus", 30)


@pytest.fixture(scope="module")
def tiny_model(tiny_cfg):
    from mixingbuddy.model.audio_lm import AudioLM

    torch.manual_seed(0)
    return AudioLM.build(tiny_cfg.model)


@pytest.fixture(scope="module")
def train_ds(tiny_cfg, toy_corpus):
    from mixingbuddy.model.dataset import CorpusDataset

    return CorpusDataset([toy_corpus], "train", tiny_cfg.model.features, workers=1, progress=False)


def _batch(model, ds, n=4):
    from mixingbuddy.model.dataset import Collator

    return Collator(model.prompts)([ds[i] for i in range(n)])


# --- features ---------------------------------------------------------------------------------

def test_features_shape_rate_and_level_invariance():
    from mixingbuddy.model.features import compute_features

    cfg = C.FeatureConfig()
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((44_100, 2)) * 0.05).astype(np.float32)
    f = compute_features(x, 44_100, cfg)
    assert f["frames"].dtype == np.float16
    assert f["frames"].shape == (1 + 16_000 // 160, cfg.n_features) == (101, 136)
    # an overall gain (export level, augmentation) leaves the features unchanged ...
    g = compute_features(x * 0.25, 44_100, cfg)
    assert np.abs(f["frames"].astype(np.float32) - g["frames"]).max() < 0.05
    assert g["ref_db"] == pytest.approx(f["ref_db"] - 12.04, abs=0.05)
    # ... but a change of balance between channels (side) moves the side features
    y = x.copy()
    y[:, 1] = 0.2 * y[:, 1]
    h = compute_features(y, 44_100, cfg)
    side_mels = slice(cfg.n_mels, 2 * cfg.n_mels)
    assert np.abs(h["frames"][:, side_mels].astype(np.float32) - f["frames"][:, side_mels]).mean() > 1.0


def test_repeat_oversamples_one_corpus(tmp_path, tiny_cfg):
    from mixingbuddy.model.dataset import CorpusDataset

    a = write_toy_corpus(tmp_path / "a", 10, seed=1)
    b = write_toy_corpus(tmp_path / "b", 10, seed=2)
    feat = tiny_cfg.model.features
    once = CorpusDataset([a, b], "train", feat, workers=1, progress=False)
    more = CorpusDataset([a, b], "train", feat, workers=1, progress=False, repeat=[1, 3], preload=True)
    assert len(once) == 16 and more.n_unique == 16 and len(more) == 8 + 3 * 8
    assert sum(1 for d, _ in more.items if d == Path(b)) == 24
    assert np.array_equal(more[len(more) - 1]["frames"], once[15]["frames"])
    with pytest.raises(ValueError):
        CorpusDataset([a, b], "train", feat, workers=1, progress=False, repeat=[2])


def test_feature_cache_is_built_once(tmp_path, tiny_cfg):
    from mixingbuddy.model.dataset import read_manifest
    from mixingbuddy.model.features import (
        build_feature_cache,
        feature_path,
        load_cached,
    )

    corpus = write_toy_corpus(tmp_path / "c", 5)
    rows = read_manifest(corpus)
    feat = tiny_cfg.model.features
    assert build_feature_cache(corpus, rows, feat, workers=1, progress=False) == 5
    assert build_feature_cache(corpus, rows, feat, workers=1, progress=False) == 0
    assert feature_path(corpus, rows[0]["id"], feat).exists()
    assert load_cached(corpus, rows[0]["id"], feat)["frames"].shape[1] == feat.n_features


# --- encoder ----------------------------------------------------------------------------------

def test_encoder_at_most_32_tokens_and_length_invariant_pooling():
    from mixingbuddy.model.encoder import ConvEncoder, segment_pool

    feat = C.FeatureConfig(n_mels=16)
    enc = ConvEncoder(C.EncoderConfig(d_enc=32, n_tokens=31, conv_channels=(32,), conv_strides=(2,), conv_kernels=(4,),
                                      n_layers=1, n_heads=2), feat).eval()
    frames = torch.randn(2, 300, feat.n_features)
    out = enc(frames, torch.tensor([300, 120]), torch.zeros(2, 7))
    assert out.tokens.shape == (2, 32, 32)
    assert out.class_logits.shape == (2, 13)
    with pytest.raises(ValueError):
        ConvEncoder(C.EncoderConfig(n_tokens=32), feat)
    # pooling ignores padding: a short row gives the same tokens whatever follows it
    x = torch.randn(1, 50, 3)
    padded = torch.cat([x, torch.randn(1, 30, 3) * 100], dim=1)
    a = segment_pool(x, torch.tensor([50]), 5)
    b = segment_pool(padded, torch.tensor([50]), 5)
    assert torch.allclose(a, b, atol=1e-5)
    assert torch.allclose(a[0, 0], x[0, :10].mean(0), atol=1e-5)


def test_class_index_round_trip():
    from mixingbuddy.model.encoder import N_CLASSES, class_index, class_label

    seen = {class_index("no_error", None)}
    for stem in T.STEMS:
        for cat in ("very_quiet", "quiet", "loud", "very_loud"):
            i = class_index(cat, stem)
            assert class_label(i) == (cat, stem)
            seen.add(i)
    assert seen == set(range(N_CLASSES))


def test_hf_encoder_with_tiny_random_config(tmp_path):
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    from mixingbuddy.model.dataset import Collator, item_from_audio
    from mixingbuddy.model.encoder import HFEncoder

    conf = Wav2Vec2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                          conv_dim=(16, 16), conv_stride=(5, 4), conv_kernel=(10, 8), num_feat_extract_layers=2,
                          num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2, vocab_size=8)
    torch.manual_seed(0)
    Wav2Vec2Model(conf).save_pretrained(tmp_path / "w2v")
    feat = C.FeatureConfig(n_mels=16, keep_wave=True)
    enc = HFEncoder(C.EncoderConfig(kind="hf", hf_path=str(tmp_path / "w2v"), d_enc=24, n_tokens=8,
                                    n_layers=1, n_heads=2), feat).eval()
    rng = np.random.default_rng(0)
    items = [item_from_audio(rng.standard_normal((n, 2)).astype(np.float32) * 0.1, 16_000, feat, "drums",
                             STEM_ORDER, "x") for n in (16_000, 9_000)]
    batch = Collator()(items)
    assert batch["wave"].shape == (2, 16_000) and batch["n_wave"].tolist() == [16_000, 9_000]
    out = enc(batch["frames"], batch["n_frames"], batch["cond"], batch["wave"], batch["n_wave"])
    assert out.tokens.shape == (2, 9, 24)
    assert torch.isfinite(out.tokens).all()
    # the pretrained weights stay frozen; the new layers train
    assert not any(p.requires_grad for p in enc.backbone.parameters())
    assert all(p.requires_grad for p in enc.to_d.parameters())

    # in the full model: the frozen backbone is not saved (it reloads from hf_path), the rest
    # round-trips exactly
    from mixingbuddy.model.audio_lm import AudioLM

    cfg = C.load_train_config(TINY_YAML).model
    cfg.features = feat
    cfg.encoder = enc.cfg
    model = AudioLM.build(cfg).eval()
    assert not any(k.startswith("encoder.backbone.") for k in model.trainable_state())
    model.save_pretrained(tmp_path / "hf_lm", dtype=torch.float32)
    again = AudioLM.from_pretrained(tmp_path / "hf_lm")
    with torch.no_grad():
        assert torch.equal(model.encode(batch).class_logits, again.encode(batch).class_logits)


# --- prompt, splice, loss ---------------------------------------------------------------------

def test_splice_puts_audio_at_the_placeholder_and_loss_masks_the_prompt(tiny_model, train_ds):
    model = tiny_model.eval()
    batch = _batch(model, train_ds, 3)
    n_audio = model.cfg.n_audio_tokens
    assert n_audio == model.cfg.encoder.n_audio_tokens + 3 <= 32
    enc = model.encode(batch)
    audio = model.audio_tokens(enc)
    emb = model.embed_prompt(batch, audio)
    plain = model.input_embeddings()(batch["input_ids"])
    for b in range(3):
        s = int(batch["audio_start"][b])
        assert torch.equal(emb[b, s:s + n_audio], audio[b])
        assert torch.equal(emb[b, :s], plain[b, :s])
        assert torch.equal(emb[b, s + n_audio:], plain[b, s + n_audio:])
        # the audio slots sit inside the user turn, after the instruction
        before = model.tokenizer.decode(batch["input_ids"][b, :s], skip_special_tokens=False)
        assert batch["instruction"][b] in before and before.rstrip().endswith(batch["instruction"][b])
        # labels: only the response (and its end-of-turn token) is scored
        lab = batch["labels"][b]
        scored = lab[lab != -100].tolist()
        assert scored[-1] == model.prompts.end_id
        assert model.tokenizer.decode(scored[:-1]) == batch["response"][b]
        first = int((lab != -100).nonzero()[0])
        assert first > s + n_audio
        assert (lab[:first] == -100).all()
    # left padding: position ids start at 0 on each row's first real token
    pos, mask = batch["position_ids"], batch["attention_mask"]
    for b in range(3):
        first = int(mask[b].nonzero()[0])
        assert pos[b, first] == 0 and pos[b, -1] == int(mask[b].sum()) - 1


def test_label_tokens_spell_the_class_posterior(tiny_model):
    from mixingbuddy.model.encoder import class_index

    model = tiny_model
    emb = model.input_embeddings().weight.detach()

    def word(w):
        ids = model.tokenizer(w, add_special_tokens=False)["input_ids"]
        return emb[torch.tensor(ids)].mean(0)

    logits = torch.full((2, 13), -50.0)
    logits[0, class_index("quiet", "vocals")] = 50.0
    logits[1, class_index("no_error", None)] = 50.0
    logits.requires_grad_(True)
    tokens = model.labels(logits)
    assert tokens.shape == (2, 3, emb.shape[1])
    for got, w in zip(tokens[0], (" vocals", " raise", " little")):
        assert torch.allclose(got, word(w), atol=1e-5)
    for got, w in zip(tokens[1], (" balanced", " fine", " nothing")):
        assert torch.allclose(got, word(w), atol=1e-5)
    # differentiable: the LM loss can reach the classifier through the posterior
    (tokens * torch.randn_like(tokens)).sum().backward()
    assert logits.grad is not None


def test_teacher_forcing_puts_the_true_class_in_the_label_tokens(tiny_model, train_ds):
    from mixingbuddy.model.encoder import class_index

    model = tiny_model
    logits = torch.full((2, 13), -50.0)
    logits[:, class_index("loud", "drums")] = 50.0  # the classifier says "drums, lower"
    forced = torch.tensor([class_index("no_error", None), -1])
    tokens = model.labels(logits, forced)
    says_balanced = torch.full((1, 13), -50.0)
    says_balanced[0, class_index("no_error", None)] = 50.0
    assert torch.allclose(tokens[0], model.labels(says_balanced)[0], atol=1e-5)  # the true class
    assert torch.allclose(tokens[1], model.labels(logits[1:])[0], atol=1e-5)  # -1: the decision
    # in training, a teacher-forcing share of 1 forces every row, 0 none; never at inference
    batch = _batch(model, train_ds)
    old = model.cfg.label_teacher_forcing
    try:
        model.train()
        model.cfg.label_teacher_forcing = 1.0
        assert torch.equal(model._forced_labels(batch), batch["class_idx"])
        model.cfg.label_teacher_forcing = 0.0
        assert model._forced_labels(batch) is None
        model.eval()
        model.cfg.label_teacher_forcing = 1.0
        assert model._forced_labels(batch) is None
    finally:
        model.cfg.label_teacher_forcing = old
        model.eval()


def test_lm_loss_ignores_prompt_tokens(tiny_model, train_ds):
    """Changing a prompt token's label can't change the loss (it is masked), but the
    response's can."""
    model = tiny_model.eval()
    batch = _batch(model, train_ds, 2)
    with torch.no_grad():
        base = float(model(batch)["lm_loss"])
        b2 = dict(batch)
        b2["labels"] = batch["labels"].clone()
        resp = (b2["labels"][0] != -100).nonzero()[:, 0]
        b2["labels"][0, resp[0]] = (b2["labels"][0, resp[0]] + 7) % len(model.tokenizer)
        assert float(model(b2)["lm_loss"]) != pytest.approx(base, abs=1e-6)


# --- training ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_training_steps_reduce_the_loss(tiny_cfg, train_ds):
    from mixingbuddy.model.audio_lm import AudioLM

    torch.manual_seed(0)
    model = AudioLM.build(tiny_cfg.model)
    model.train()
    batch = _batch(model, train_ds, 4)
    params = [p for p in model.parameters() if p.requires_grad]
    assert all(not p.requires_grad for n, p in model.llm.named_parameters() if "lora_" not in n)
    opt = torch.optim.AdamW(params, lr=1e-2)
    losses, lm_losses = [], []
    for _ in range(15):
        out = model(batch)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(float(out["loss"].detach()))
        lm_losses.append(float(out["lm_loss"]))
    assert losses[-1] < 0.8 * losses[0], losses
    assert lm_losses[-1] < 0.85 * lm_losses[0], lm_losses
    # the auxiliary loss reaches the encoder's first layer and LoRA gets LM gradients
    assert model.encoder.conv[0].weight.grad.abs().sum() > 0
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for n, p in model.llm.named_parameters() if "lora_" in n)


@pytest.mark.slow
def test_stage1_trainer_reduces_aux_loss(tiny_cfg, train_ds):
    from mixingbuddy.model.dataset import Collator
    from mixingbuddy.model.encoder import build_encoder
    from mixingbuddy.model.train import EncoderTrainer

    torch.manual_seed(0)
    trainer = EncoderTrainer(build_encoder(tiny_cfg.model.encoder, tiny_cfg.model.features), tiny_cfg.model.aux)
    batch = Collator()([train_ds[i] for i in range(8)])
    opt = torch.optim.AdamW(trainer.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        out = trainer(batch)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(float(out["loss"].detach()))
    assert losses[-1] < 0.7 * losses[0], losses


def test_step_batches_deterministic_and_sharded():
    from mixingbuddy.model.train import StepBatches, lr_factor

    full = list(StepBatches(10, 3, seed=5, start=0, stop=8))
    tail = list(StepBatches(10, 3, seed=5, start=4, stop=8))
    assert tail == full[4:]
    assert sorted(sum(full[:3], [])) == sorted(set(sum(full[:3], [])))  # no repeat inside an epoch
    r0 = list(StepBatches(10, 2, seed=5, start=0, stop=3, rank=0, world=2))
    r1 = list(StepBatches(10, 2, seed=5, start=0, stop=3, rank=1, world=2))
    assert all(not set(a) & set(b) for a, b in zip(r0, r1))
    st = C.StageConfig(steps=100, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_factor(0, st) == pytest.approx(0.1) and lr_factor(9, st) == pytest.approx(1.0)
    assert lr_factor(99, st) == pytest.approx(0.1, abs=0.01)
    assert lr_factor(55, st) == pytest.approx(0.55, abs=0.02)


# --- save / load, generation ------------------------------------------------------------------

def test_save_load_round_trip_gives_identical_outputs(tmp_path, tiny_cfg, train_ds):
    from mixingbuddy.model.audio_lm import AudioLM, export

    torch.manual_seed(1)
    model = AudioLM.build(tiny_cfg.model)
    # move the trainable weights away from their initial values (LoRA B starts at zero)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.05)
    model.eval()
    batch = _batch(model, train_ds, 3)
    model.save_pretrained(tmp_path / "fp32", dtype=torch.float32)
    loaded = AudioLM.from_pretrained(tmp_path / "fp32")
    with torch.no_grad():
        a, b = model(batch), loaded(batch)
    assert torch.equal(a["class_logits"], b["class_logits"])
    assert float(a["lm_loss"]) == float(b["lm_loss"])
    assert model.generate(batch) == loaded.generate(batch)

    # the shipping export: fp16, small, and close to the float32 model
    out = export(model, tmp_path / "ship")
    from safetensors import safe_open

    with safe_open(str(out / "weights.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
        keys = list(f.keys())
    assert any(k.startswith("lora.") for k in keys) and any(k.startswith("projector.") for k in keys)
    assert any(k.startswith("encoder.") for k in keys)
    half = AudioLM.from_pretrained(out)
    with torch.no_grad():
        c = half(batch)
    assert float(c["lm_loss"]) == pytest.approx(float(a["lm_loss"]), rel=1e-2)


def test_generation_returns_text(tiny_model, train_ds):
    from mixingbuddy.model.dataset import Collator

    model = tiny_model.eval()
    batch = Collator()([train_ds[i] for i in range(2)])
    texts = model.generate(batch, max_new_tokens=6)
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)
    # greedy decoding is deterministic
    assert model.generate(batch, max_new_tokens=6) == texts


# --- the training command ---------------------------------------------------------------------

@pytest.mark.slow
def test_train_command_checkpoints_exports_and_resumes(tmp_path, toy_corpus):
    import yaml

    from mixingbuddy.model.train import add_train_parser, latest_checkpoint, train

    cfg = C.load_train_config(TINY_YAML)
    cfg.data.corpora = [str(toy_corpus)]
    cfg.out_dir = str(tmp_path / "run")
    export_dir = train(cfg, progress=False)
    assert (export_dir / "weights.safetensors").exists() and (export_dir / "config.json").exists()
    card = (export_dir / "README.md").read_text()
    assert "seed 0" in card and "stage 2" in card and str(toy_corpus) in card
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert {e["event"] for e in log} >= {"stage_start", "train", "eval", "done"}
    assert any(e["event"] == "eval" and e["stage"] == 2 and "val_lm_loss" in e for e in log)
    assert latest_checkpoint(tmp_path / "run")[:2] == (2, 4)
    with pytest.raises(FileExistsError):
        train(cfg, progress=False)

    # resume: stop stage 2 after 2 steps, then continue to 4; identical to the straight run
    cfg2 = C.load_train_config(TINY_YAML)
    cfg2.data.corpora = [str(toy_corpus)]
    cfg2.out_dir = str(tmp_path / "run2")
    cfg2.stage2.steps = 4
    # simulate an interruption: run, then delete the last stage-2 checkpoint and the export
    train(cfg2, progress=False)
    import shutil

    ck = tmp_path / "run2" / "checkpoints"
    shutil.rmtree(ck / "stage2-0000004")
    shutil.rmtree(tmp_path / "run2" / "export")
    assert latest_checkpoint(tmp_path / "run2")[:2] == (2, 2)
    train(cfg2, resume=True, progress=False)
    from safetensors.torch import load_file

    a = load_file(str(tmp_path / "run" / "final" / "weights.safetensors"))
    b = load_file(str(tmp_path / "run2" / "final" / "weights.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)

    # the CLI parser: --config, --out, --resume
    import argparse

    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command")
    add_train_parser(sub)
    args = p.parse_args(["train", "--config", str(TINY_YAML), "--out", "x", "--resume"])
    assert args.resume and args.out == "x" and callable(args.func)
    assert yaml.safe_load(TINY_YAML.read_text())["model"]["llm"]["backbone"] == "tiny"


def test_recipes_parse():
    root = TINY_YAML.parent
    for name in ("cpu.yaml", "gpu.yaml", "tiny.yaml"):
        cfg = C.load_train_config(root / name)
        assert cfg.model.n_audio_tokens <= 32
    assert C.load_train_config(root / "gpu.yaml").mixed_precision == "bf16"
    with pytest.raises(ValueError):
        C.from_dict(C.TrainConfig, {"stage1": {"stepz": 3}})


# --- listen -----------------------------------------------------------------------------------

def test_listener_missing_weights_is_a_clear_error(tmp_path):
    from mixingbuddy.model.listen import Listener, ModelWeightsNotFoundError

    with pytest.raises(ModelWeightsNotFoundError) as e:
        Listener.load(tmp_path / "nowhere")
    assert "nowhere" in str(e.value) and e.value.code == "model_not_found"


def test_listener_advises_with_a_saved_tiny_model(tmp_path, tiny_model):
    from mixingbuddy.model.features import loudest_window
    from mixingbuddy.model.listen import Listener

    tiny_model.save_pretrained(tmp_path / "w")
    listener = Listener.load(tmp_path / "w")
    assert Listener.load(tmp_path / "w") is listener  # cached
    sr = 16_000
    rng = np.random.default_rng(0)
    x = rng.standard_normal((sr * 2, 2)).astype(np.float32) * 0.05
    text = listener.advise(x, sr, anchor="drums", stems_present=["bass", "drums", "vocals"])
    assert isinstance(text, str)
    from mixingbuddy.tools.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError):
        listener.advise(x, sr, anchor="other", stems_present=STEM_ORDER)
    # long audio: the loudest window is used
    quiet_loud = np.concatenate([x * 0.01, x], axis=0)
    assert loudest_window(quiet_loud, sr, 2.0, hop_s=0.25) == (2 * sr, 4 * sr)


def test_model_system_batched_answers_match_single_ones(tmp_path, tiny_model, toy_corpus):
    from mixingbuddy.model.dataset import read_manifest
    from mixingbuddy.model.features import load_clip
    from mixingbuddy.model.listen import ModelSystem

    tiny_model.save_pretrained(tmp_path / "w2")
    rows = [r for r in read_manifest(toy_corpus) if r["split"] == "train"][:3]
    system = ModelSystem(weights=tmp_path / "w2", batch_size=3)
    system.progress = False
    # one at a time (the benchmark's plain path) ...
    single = []
    for r in rows:
        x, sr = load_clip(toy_corpus / r["audio_path"])
        assert system.needs_audio_for(r)
        single.append(system.advise(r, x, sr))
    # ... and batched (left-padded prompts of different lengths) give the same answers
    system.prepare(rows, toy_corpus)
    assert not system.needs_audio_for(rows[0])
    assert [system.advise(r, None, None) for r in rows] == single
    assert len({len(r["instruction"]) for r in rows}) > 1


def test_listen_returns_the_posterior_and_the_window(tmp_path, tiny_model):
    from mixingbuddy.model.listen import Listener

    tiny_model.save_pretrained(tmp_path / "w3")
    listener = Listener.load(tmp_path / "w3")
    sr = 16_000
    x = np.random.default_rng(1).standard_normal((sr * 3, 2)).astype(np.float32) * 0.05
    res = listener.listen(x, sr, "vocals", ["bass", "drums", "vocals", "other"])
    assert res.text == listener.advise(x, sr, "vocals", ["bass", "drums", "vocals", "other"])
    assert len(res.class_probs) == 13 and "no_error" in res.class_probs and "very_loud:bass" in res.class_probs
    assert abs(sum(res.class_probs.values()) - 1.0) < 1e-4
    clip_s = listener.cfg.features.clip_s
    assert res.window_s[0] == 0.0 and abs(res.window_s[1] - min(3.0, clip_s)) < 1e-3
    # a stem that is absent cannot be the one to move: its classes get no probability
    res2 = listener.listen(x, sr, "drums", ["bass", "drums"])
    assert all(v < 1e-3 for k, v in res2.class_probs.items() if k.endswith(":vocals"))


def test_model_is_a_registered_benchmark_system(tmp_path, tiny_model, toy_corpus):
    from mixingbuddy.evals.balance import run_balance_eval
    from mixingbuddy.evals.systems import SYSTEMS

    assert "model" in SYSTEMS
    tiny_model.save_pretrained(tmp_path / "w4")
    m = run_balance_eval("model", toy_corpus, tmp_path / "eval", split="train", limit=4, progress=False,
                         system_options={"weights": str(tmp_path / "w4"), "model": "logreg"})
    assert m["meta"]["system"] == "model" and m["n"] == 4
    preds = (tmp_path / "eval" / "model" / "predictions.jsonl").read_text().splitlines()
    assert len(preds) == 4


# --- the shipped checkpoint (model/weights/, committed) --------------------------------------

SHIPPED = Path(__file__).resolve().parents[1] / "model" / "weights"


@pytest.mark.slow
def test_shipped_checkpoint_gives_a_valid_claim_on_a_rendered_clip():
    """Generation from the shipped checkpoint on a clip rendered here, parsed into a valid
    claim (a stem and a direction, or no adjustment). Loads SmolLM2 (~20 s)."""
    from mixingbuddy.model.data.advice_parser import parse_advice
    from mixingbuddy.model.listen import Listener

    rng = np.random.default_rng(3)
    stems = _toy_stems(rng, 16_000 * 6, 16_000)
    stems["vocals"] = stems["vocals"] * 10 ** (-10 / 20)
    mix = sum(stems.values())
    mix = (mix / np.abs(mix).max() * 0.8).astype(np.float32)
    text = Listener.load().advise(mix, 16_000, anchor="drums", stems_present=list(STEM_ORDER))
    parsed = parse_advice(text)
    assert parsed.no_adjustment or (parsed.stem in T.STEMS and parsed.direction in ("increase", "decrease")), text
