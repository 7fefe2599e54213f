"""Projector: audio tokens (encoder width) -> the LLM's embedding space.

A 2-layer MLP with GELU, as in LLaVA-1.5 and the MixingBuddy-gain study's cascade; the last
layer's output scale is matched to the LLM's token embeddings by a learned gain initialised to
the embeddings' RMS, so spliced audio tokens start at the same magnitude as text tokens.
"""
from __future__ import annotations

import torch
from torch import nn

from .config import ProjectorConfig


class Projector(nn.Module):
    def __init__(self, d_in: int, d_out: int, cfg: ProjectorConfig | None = None, embed_rms: float = 1.0):
        super().__init__()
        cfg = cfg or ProjectorConfig()
        self.net = nn.Sequential(
            nn.Linear(d_in, cfg.d_hidden),
            nn.GELU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.d_hidden, d_out),
        )
        self.norm = nn.LayerNorm(d_out, elementwise_affine=False)
        self.gain = nn.Parameter(torch.tensor(float(embed_rms)))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, N, d_in) -> (B, N, d_out)."""
        return self.gain * self.norm(self.net(tokens))


# The encoder's class posterior, read out as three "label tokens" (see LabelTokens).
LABEL_WORDS = {
    "stem": (" balanced", " bass", " drums", " vocals"),
    "direction": (" fine", " raise", " lower"),
    "size": (" nothing", " little", " lot"),
}


def _label_maps() -> dict[str, torch.Tensor]:
    """(13, k) 0/1 matrices from the encoder's 13 classes to each word group: stem (none,
    bass, drums, vocals), direction (none, raise, lower), size (none, 3-6 dB, 6-12 dB)."""
    from .encoder import N_CLASSES, class_label

    stems = ("bass", "drums", "vocals")
    maps = {g: torch.zeros(N_CLASSES, len(w)) for g, w in LABEL_WORDS.items()}
    for i in range(N_CLASSES):
        category, stem = class_label(i)
        if category == "no_error":
            for m in maps.values():
                m[i, 0] = 1.0
            continue
        maps["stem"][i, 1 + stems.index(stem)] = 1.0
        maps["direction"][i, 1 if category in ("very_quiet", "quiet") else 2] = 1.0
        maps["size"][i, 1 if category in ("quiet", "loud") else 2] = 1.0
    return maps


def _joint_map() -> torch.Tensor:
    """(13, 7) 0/1: class -> the study's joint outcome (no error, or stem x direction)."""
    from .encoder import N_CLASSES, class_label

    stems = ("bass", "drums", "vocals")
    m = torch.zeros(N_CLASSES, 1 + 2 * len(stems))
    for i in range(N_CLASSES):
        category, stem = class_label(i)
        j = 0 if category == "no_error" else 1 + 2 * stems.index(stem) + (category in ("loud", "very_loud"))
        m[i, j] = 1.0
    return m


def joint_decision(p: torch.Tensor, joint_map: torch.Tensor) -> torch.Tensor:
    """One-hot (B, 13) of the decision that maximises the expected joint accuracy: the joint
    outcome (no error, or stem + direction) with the largest summed probability, then its most
    probable class (size)."""
    joint = p @ joint_map  # (B, 7)
    members = joint_map[:, joint.argmax(-1)].T  # (B, 13): classes of the chosen outcome
    cls = (p * members).argmax(-1)
    return torch.nn.functional.one_hot(cls, p.shape[-1]).to(p.dtype)


class LabelTokens(nn.Module):
    """Three extra audio tokens that carry the encoder's judgement in the LLM's own vocabulary.

    The auxiliary classifier's posterior p over the 13 published classes is turned into a
    decision q, and the stem (none / bass / drums / vocals), direction (none / raise / lower) and
    size (none / a little / a lot) implied by q weight learned vectors initialised from the LLM's
    embeddings of those words: token = sum_k q_k v_k. The frozen LLM already reads " vocals",
    " raise", " little", so LoRA only has to learn to copy them into the answer.

    ``mode="hard"`` (default): q is the one-hot decision that maximises the expected joint
    accuracy (:func:`joint_decision`), with a straight-through gradient (forward: one-hot;
    backward: as if q = p), so the tokens are exact word vectors at test time and the LM loss
    still reaches the classifier and the encoder (a direct answer to the study's vanishing
    gradients). ``mode="soft"``: q = p (a mixture; measured to make the LLM ignore the "no
    error" cases, whose probability is spread over many classes)."""

    def __init__(self, embedding: nn.Embedding, tokenizer, mode: str = "hard"):
        super().__init__()
        if mode not in ("hard", "soft"):
            raise ValueError(f"label token mode must be hard or soft, got {mode!r}")
        self.mode = mode
        self.register_buffer("joint_map", _joint_map(), persistent=False)
        weight = embedding.weight.detach()
        self.vectors = nn.ParameterDict()
        for group, words in LABEL_WORDS.items():
            rows = []
            for w in words:
                ids = tokenizer(w, add_special_tokens=False)["input_ids"]
                rows.append(weight[torch.tensor(ids)].float().mean(0))
            self.vectors[group] = nn.Parameter(torch.stack(rows))
        for group, m in _label_maps().items():
            self.register_buffer(f"map_{group}", m, persistent=False)

    def forward(self, class_logits: torch.Tensor, forced: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 13) logits -> (B, 3, H) tokens. ``forced`` (B,) class indices (-1: none) replace
        the decision of those rows by the one-hot of that class (teacher forcing in training)."""
        p = torch.softmax(class_logits.float(), dim=-1)
        if self.mode == "hard":
            p = joint_decision(p.detach(), self.joint_map) + p - p.detach()  # straight-through
        if forced is not None and bool((forced >= 0).any()):
            onehot = torch.nn.functional.one_hot(forced.clamp(min=0), p.shape[-1]).to(p.dtype)
            p = torch.where((forced >= 0)[:, None], onehot, p)
        out = [(p @ getattr(self, f"map_{g}")) @ self.vectors[g] for g in LABEL_WORDS]
        return torch.stack(out, dim=1)
