"""Audio encoders: features -> at most 32 audio tokens, plus auxiliary heads.

:class:`ConvEncoder` (default, trained from scratch) and :class:`HFEncoder` (a local Hugging
Face audio encoder) pool time into ``n_tokens`` tokens and append one summary token, which
:class:`AuxHeads` read to predict stem levels and the published label.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .config import MAX_AUDIO_TOKENS, AuxConfig, EncoderConfig, FeatureConfig
from .data.templates import CLASSES, CORRECTIVE_DIRECTION, FLAW_CATEGORIES, NO_ERROR, class_name
from .data.templates import STEMS as ANCHOR_STEMS

LEVEL_STEMS = ANCHOR_STEMS + ("other",)
N_CLASSES = len(CLASSES)  # 13
N_COND = len(ANCHOR_STEMS) + len(LEVEL_STEMS)  # anchor one-hot + stems present


def class_index(category: str, target: str | None) -> int:
    """The classifier head's row for a class (:data:`~.data.templates.CLASSES` names them):
    0 for no_error, else 1 + stem * 4 + category (stems bass, drums, vocals). The layout is the
    shipped head's, stem-major; :func:`class_names` lists the names in this order."""
    if category == NO_ERROR:
        return 0
    return 1 + ANCHOR_STEMS.index(target) * len(FLAW_CATEGORIES) + FLAW_CATEGORIES.index(category)


def class_label(index: int) -> tuple[str, str | None]:
    """Inverse of :func:`class_index`: (category, target)."""
    if index == 0:
        return NO_ERROR, None
    stem, cat = divmod(index - 1, len(FLAW_CATEGORIES))
    return FLAW_CATEGORIES[cat], ANCHOR_STEMS[stem]


def class_names() -> list[str]:
    """The class names (:data:`~.data.templates.CLASSES`) in the head's row order."""
    return [class_name(*class_label(i)) for i in range(N_CLASSES)]


@dataclass
class EncoderOutput:
    tokens: torch.Tensor  # (B, n_tokens + 1, d_enc): time tokens then the summary token
    summary: torch.Tensor  # (B, d_enc)
    pred_vs_rest_db: torch.Tensor  # (B, 4)
    pred_vs_mix_db: torch.Tensor  # (B, 4)
    pred_vs_anchor_db: torch.Tensor  # (B, 4)
    class_logits: torch.Tensor  # (B, 13)


def segment_pool(x: torch.Tensor, valid: torch.Tensor, n_out: int) -> torch.Tensor:
    """Masked average pooling of ``x`` (B, T, C) into ``n_out`` equal segments of each row's
    first ``valid[b]`` steps (a 6.8 s clip and a 10 s clip both give ``n_out`` tokens spanning
    their own length). Returns (B, n_out, C)."""
    B, T, _ = x.shape
    t = torch.arange(T, device=x.device, dtype=torch.float32)[None, :]  # (1, T)
    length = valid.clamp(min=1).to(torch.float32)[:, None]  # (B, 1)
    seg = torch.floor(t * n_out / length).clamp(max=n_out - 1)  # (B, T) segment of each step
    inside = (t < length)
    onehot = (seg[:, None, :] == torch.arange(n_out, device=x.device)[None, :, None]) & inside[:, None, :]
    w = onehot.to(x.dtype)
    # a segment shorter than one step (very short clip) borrows the nearest step
    empty = w.sum(-1) == 0  # (B, n_out)
    if empty.any():
        centre = ((torch.arange(n_out, device=x.device)[None, :] + 0.5) * length / n_out).long()
        centre = torch.minimum(centre, (length.long() - 1).clamp(min=0))
        fill = F.one_hot(centre, T).to(x.dtype)
        w = torch.where(empty[..., None], fill, w)
    w = w / w.sum(-1, keepdim=True)
    return torch.bmm(w, x)


def invalid_classes(cond: torch.Tensor) -> torch.Tensor:
    """(B, 13) bool: classes that name the anchor, or a stem absent from the mix, as the target
    (``cond`` = anchor one-hot over bass/drums/vocals, then stems present)."""
    n_a = len(ANCHOR_STEMS)
    bad_stem = (cond[:, :n_a] > 0.5) | (cond[:, n_a:n_a + n_a] < 0.5)  # (B, 3)
    per_class = bad_stem.repeat_interleave(len(FLAW_CATEGORIES), dim=1)  # (B, 12)
    return torch.cat([torch.zeros_like(per_class[:, :1]), per_class], dim=1)


class AuxHeads(nn.Module):
    """Summary token and auxiliary predictions from the pooled time tokens.

    Notes
    -----
    The summary token is the mean of the time tokens plus an embedding of the condition (anchor
    stem, stems present), passed through an MLP. The heads predict:

    - levels (dB): every stem (bass, drums, vocals, other) vs the rest of the mix and vs the
      mix, from the unconditioned pooled vector; and vs the anchor, from the summary;
    - the published label (13 classes: no error, or one of bass/drums/vocals x very quiet /
      quiet / loud / very loud), from the summary.

    The heads are trained alone in stage 1 and kept as an auxiliary loss in stage 2, so the
    encoder keeps receiving a strong gradient (the MixingBuddy-gain study reported gradients
    vanishing before its projector).
    """

    def __init__(self, d: int, dropout: float):
        super().__init__()
        self.cond = nn.Linear(N_COND, d)
        self.summary = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d), nn.GELU(), nn.Dropout(dropout),
                                     nn.Linear(d, d))
        self.levels = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d), nn.GELU(), nn.Linear(d, 2 * len(LEVEL_STEMS)))
        self.anchor_levels = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, len(LEVEL_STEMS)))
        self.classes = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, N_CLASSES))

    def forward(self, tokens: torch.Tensor, cond: torch.Tensor) -> EncoderOutput:
        pooled = tokens.mean(dim=1)
        summary = pooled + self.summary(pooled + self.cond(cond))
        lv = self.levels(pooled)
        # a class whose target is the anchor or a stem not in the mix is impossible
        invalid = invalid_classes(cond)
        logits = self.classes(summary).masked_fill(invalid, -1e4)
        return EncoderOutput(
            tokens=torch.cat([tokens, summary[:, None, :]], dim=1),
            summary=summary,
            pred_vs_rest_db=lv[:, : len(LEVEL_STEMS)],
            pred_vs_mix_db=lv[:, len(LEVEL_STEMS):],
            pred_vs_anchor_db=self.anchor_levels(summary),
            class_logits=logits,
        )


class _TokenMixer(nn.Module):
    """Position embeddings + a small pre-norm transformer over the pooled tokens."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.pos = nn.Parameter(torch.zeros(1, cfg.n_tokens, cfg.d_enc))
        nn.init.normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(cfg.d_enc, cfg.n_heads, dim_feedforward=2 * cfg.d_enc,
                                           dropout=cfg.dropout, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False) if cfg.n_layers else None
        self.norm = nn.LayerNorm(cfg.d_enc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.pos
        if self.blocks is not None:
            x = self.blocks(x)
        return self.norm(x)


def _check_tokens(cfg: EncoderConfig) -> None:
    if cfg.n_audio_tokens > MAX_AUDIO_TOKENS:
        raise ValueError(f"n_tokens + 1 summary token must be <= {MAX_AUDIO_TOKENS}, got {cfg.n_audio_tokens}")


class ConvEncoder(nn.Module):
    """1-D CNN + transformer over the features of ``features.py``.

    Features are channels and time is the axis; strides 4-2-1 give 80 ms steps, the first
    layer being a cheap 40 ms "patch" layer, which keeps CPU training fast. Then masked average
    pooling into ``n_tokens`` equal time segments of each clip's valid length, learned position
    embeddings and a small transformer over those tokens (:class:`_TokenMixer`).
    """

    def __init__(self, cfg: EncoderConfig, feat: FeatureConfig):
        super().__init__()
        _check_tokens(cfg)
        self.cfg = cfg
        layers: list[nn.Module] = []
        c_in = feat.n_features
        if not len(cfg.conv_channels) == len(cfg.conv_strides) == len(cfg.conv_kernels):
            raise ValueError("conv_channels, conv_strides and conv_kernels must have the same length")
        for c_out, stride, k in zip(cfg.conv_channels, cfg.conv_strides, cfg.conv_kernels):
            layers += [nn.Conv1d(c_in, c_out, k, stride=stride, padding=(k - stride + 1) // 2),
                       nn.GroupNorm(1, c_out), nn.GELU()]
            c_in = c_out
        self.conv = nn.Sequential(*layers)
        self.to_d = nn.Linear(c_in, cfg.d_enc)
        self.mixer = _TokenMixer(cfg)
        self.heads = AuxHeads(cfg.d_enc, cfg.dropout)
        self.floor_db = feat.floor_db

    def forward(self, frames: torch.Tensor, n_frames: torch.Tensor, cond: torch.Tensor,
                wave: torch.Tensor | None = None, n_wave: torch.Tensor | None = None) -> EncoderOutput:
        """frames (B, T, F) dB relative to the clip level; n_frames (B,) valid lengths;
        cond (B, 7) anchor one-hot + stems present."""
        x = frames.to(self.to_d.weight.dtype)
        # dB -> roughly unit scale; padded frames sit at the floor (silence)
        t = torch.arange(x.shape[1], device=x.device)[None, :]
        x = torch.where((t < n_frames[:, None])[..., None], x, torch.full_like(x, self.floor_db))
        x = (x + 40.0) / 20.0
        h = self.conv(x.transpose(1, 2)).transpose(1, 2)  # (B, T', C)
        valid = n_frames.clone()
        for conv in self.conv[::3]:  # each clip's valid length after every conv layer
            (k,), (s,), (p,) = conv.kernel_size, conv.stride, conv.padding
            valid = (torch.div(valid + 2 * p - k, s, rounding_mode="floor") + 1).clamp(min=1)
        tokens = segment_pool(self.to_d(h), valid, self.cfg.n_tokens)
        return self.heads(self.mixer(tokens), cond.to(tokens.dtype))


class HFEncoder(nn.Module):
    """A local Hugging Face audio encoder (``AutoModel.from_pretrained(cfg.hf_path)``: MERT,
    wav2vec 2.0, HuBERT...) over the 16 kHz mid waveform, pooled to ``n_tokens`` like
    :class:`ConvEncoder` and projected to ``d_enc``."""

    def __init__(self, cfg: EncoderConfig, feat: FeatureConfig):
        super().__init__()
        _check_tokens(cfg)
        if not cfg.hf_path:
            raise ValueError("encoder kind 'hf' needs hf_path (a local model folder)")
        if not feat.keep_wave:
            raise ValueError("encoder kind 'hf' needs features.keep_wave: true")
        from transformers import AutoModel

        self.cfg = cfg
        self.backbone = AutoModel.from_pretrained(cfg.hf_path)
        if cfg.hf_freeze:
            self.backbone.requires_grad_(False)
        width = self.backbone.config.hidden_size
        self.to_d = nn.Linear(width, cfg.d_enc)
        self.mixer = _TokenMixer(cfg)
        self.heads = AuxHeads(cfg.d_enc, cfg.dropout)

    def forward(self, frames: torch.Tensor, n_frames: torch.Tensor, cond: torch.Tensor,
                wave: torch.Tensor | None = None, n_wave: torch.Tensor | None = None) -> EncoderOutput:
        if wave is None:
            raise ValueError("HFEncoder needs the waveform (features.keep_wave)")
        w = wave.to(self.to_d.weight.dtype)
        t = torch.arange(w.shape[1], device=w.device)[None, :]
        inside = t < n_wave[:, None]
        # zero mean, unit variance per clip over its valid samples (what the wav2vec 2.0 /
        # MERT feature extractors do)
        cnt = inside.sum(1, keepdim=True).clamp(min=1)
        mean = (w * inside).sum(1, keepdim=True) / cnt
        var = (((w - mean) * inside) ** 2).sum(1, keepdim=True) / cnt
        w = torch.where(inside, (w - mean) / torch.sqrt(var + 1e-7), torch.zeros_like(w))
        out = self.backbone(w, output_hidden_states=True)
        hidden = out.hidden_states[self.cfg.hf_layer]  # (B, T', H)
        valid = torch.ceil(n_wave.float() * hidden.shape[1] / w.shape[1]).long().clamp(min=1)
        tokens = segment_pool(self.to_d(hidden), valid, self.cfg.n_tokens)
        return self.heads(self.mixer(tokens), cond.to(tokens.dtype))


def encoder_state(encoder: nn.Module) -> dict[str, torch.Tensor]:
    """The encoder's weights to save: everything but a frozen pretrained HF backbone (which is
    reloaded from ``hf_path``, so checkpoints and the shipped folder stay small)."""
    state = encoder.state_dict()
    if isinstance(encoder, HFEncoder) and encoder.cfg.hf_freeze:
        state = {k: v for k, v in state.items() if not k.startswith("backbone.")}
    return state


def load_encoder_state(encoder: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Inverse of :func:`encoder_state` (strict about every other key)."""
    missing, unexpected = encoder.load_state_dict(state, strict=False)
    frozen_hf = isinstance(encoder, HFEncoder) and encoder.cfg.hf_freeze
    missing = [k for k in missing if not (frozen_hf and k.startswith("backbone."))]
    if missing or unexpected:
        raise KeyError(f"encoder weights do not match: missing {missing[:3]}, unexpected {unexpected[:3]}")


def build_encoder(cfg: EncoderConfig, feat: FeatureConfig) -> nn.Module:
    if cfg.kind == "conv":
        return ConvEncoder(cfg, feat)
    if cfg.kind == "hf":
        return HFEncoder(cfg, feat)
    raise ValueError(f"unknown encoder kind {cfg.kind!r} (conv | hf)")


def aux_loss(out: EncoderOutput, batch: dict, cfg: AuxConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """Auxiliary loss: Huber on the dB levels (targets that are missing/non-finite are masked)
    + cross entropy on the published class. Returns (loss, logged parts)."""
    parts: dict[str, float] = {}
    total = out.class_logits.new_zeros(())
    level_terms = []
    for name, pred in (("vs_rest_db", out.pred_vs_rest_db), ("vs_mix_db", out.pred_vs_mix_db),
                       ("vs_anchor_db", out.pred_vs_anchor_db)):
        target = batch[name].to(pred.dtype)
        mask = batch[name + "_mask"]
        if mask.any():
            err = F.huber_loss(pred[mask] / cfg.level_scale_db, target[mask] / cfg.level_scale_db,
                               delta=cfg.huber_delta)
            level_terms.append(err)
            parts[name + "_mae"] = float((pred[mask] - target[mask]).abs().mean().detach())
    if level_terms and cfg.level_weight:
        total = total + cfg.level_weight * torch.stack(level_terms).mean()
    if cfg.class_weight:
        ce = F.cross_entropy(out.class_logits.float(), batch["class_idx"])
        total = total + cfg.class_weight * ce
        parts["class_ce"] = float(ce.detach())
    from .projector import _joint_map, joint_decision

    probs = torch.softmax(out.class_logits.detach().float(), dim=-1)
    parts["class_acc"] = float((probs.argmax(-1) == batch["class_idx"]).float().mean())
    # the decision the label tokens pass to the LLM (joint-optimal, see projector.joint_decision)
    pred = joint_decision(probs, _joint_map().to(probs.device)).argmax(-1)
    # study's joint criterion: stem + direction right (no error counts when predicted as such)
    parts["joint_acc"] = float((_JOINT.to(pred.device)[pred] == _JOINT.to(pred.device)[batch["class_idx"]]).float().mean())
    return total, parts


def _joint_table() -> torch.Tensor:
    """class index -> (stem, direction) id: 0 no error, 1 + 2 * stem + (0 up | 1 down)."""
    ids = [0]
    for i in range(1, N_CLASSES):
        category, stem = class_label(i)
        ids.append(1 + 2 * ANCHOR_STEMS.index(stem) + (0 if CORRECTIVE_DIRECTION[category] == "increase" else 1))
    return torch.tensor(ids)


_JOINT = _joint_table()
