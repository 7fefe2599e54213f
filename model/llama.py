"""A Llama decoder for inference, without transformers: the SmolLM2 backbone at start-up speed.

Importing ``transformers.models.llama`` costs about 2.6 s on a 2-core machine, more than the
whole start-up budget; :class:`LlamaForCausalLM` states the same network in plain torch so the
merged inference cache (``model.inference_cache``) loads without it. Training, LoRA and every
other backbone stay on transformers (``model.llm``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class LlamaConfig:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    rms_norm_eps: float
    rope_theta: float
    tie_word_embeddings: bool = True

    @classmethod
    def from_hf(cls, config) -> LlamaConfig:
        """From a transformers ``LlamaConfig``; ValueError for what this file does not state
        (another architecture, biases, scaled RoPE, another activation)."""
        rope = dict(getattr(config, "rope_parameters", None) or {})
        theta = rope.get("rope_theta", getattr(config, "rope_theta", None))
        problems = []
        if getattr(config, "model_type", None) != "llama":
            problems.append(f"model_type {getattr(config, 'model_type', None)!r}")
        if rope.get("rope_type", "default") != "default" or theta is None:
            problems.append(f"RoPE {rope or 'unset'}")
        if getattr(config, "hidden_act", "silu") != "silu":
            problems.append(f"activation {config.hidden_act!r}")
        if getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
            problems.append("biases")
        if problems:
            raise ValueError(f"not a plain Llama: {', '.join(problems)}")
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        return cls(vocab_size=config.vocab_size, hidden_size=config.hidden_size,
                   intermediate_size=config.intermediate_size, num_hidden_layers=config.num_hidden_layers,
                   num_attention_heads=config.num_attention_heads,
                   num_key_value_heads=config.num_key_value_heads, head_dim=head_dim,
                   rms_norm_eps=float(config.rms_norm_eps), rope_theta=float(theta),
                   tie_word_embeddings=bool(getattr(config, "tie_word_embeddings", False)))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> LlamaConfig:
        return cls(**{f.name: data[f.name] for f in fields(cls)})


class KVCache:
    """Keys and values per layer, (B, kv_heads, T, head_dim), grown by concatenation."""

    def __init__(self, n_layers: int):
        self.keys: list[torch.Tensor | None] = [None] * n_layers
        self.values: list[torch.Tensor | None] = [None] * n_layers

    def __len__(self) -> int:
        """Tokens seen so far."""
        return 0 if self.keys[0] is None else self.keys[0].shape[-2]

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.keys[layer] is not None:
            k = torch.cat([self.keys[layer], k], dim=-2)
            v = torch.cat([self.values[layer], v], dim=-2)
        self.keys[layer], self.values[layer] = k, v
        return k, v


class DecoderOutput(NamedTuple):
    last_hidden_state: torch.Tensor
    past_key_values: KVCache | None


class CausalLMOutput(NamedTuple):
    logits: torch.Tensor
    past_key_values: KVCache | None


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.to(torch.float32)
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rope_inv_freq(cfg: LlamaConfig) -> torch.Tensor:
    """RoPE's inverse frequencies, on the CPU even when the model is built on the meta device."""
    arange = torch.arange(0, cfg.head_dim, 2, dtype=torch.float, device="cpu")
    return 1.0 / (cfg.rope_theta ** (arange / cfg.head_dim))


def rope(position_ids: torch.Tensor, inv_freq: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, sin), (B, T, head_dim), for the positions."""
    freqs = position_ids[..., None].float() * inv_freq.to(device=position_ids.device, dtype=torch.float)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def causal_mask(attention_mask: torch.Tensor | None, q_len: int, past: int) -> torch.Tensor | None:
    """The (B, 1, q_len, past + q_len) boolean mask (True: attend), or None where sdpa's own
    causal flag (or no mask, for one query) is exact: no padding, or padding only after the
    queries of a first pass. transformers' ``create_causal_mask`` for sdpa, for a dynamic cache."""
    kv_len = past + q_len
    if attention_mask is None:  # no padding: a mask only for several queries after a cache
        if q_len == 1 or past == 0:
            return None
        q_idx = torch.arange(q_len)[:, None] + past
        return (torch.arange(kv_len)[None, :] <= q_idx)[None, None]
    pad = attention_mask.to(torch.bool)[:, :kv_len]
    if pad.shape[-1] < kv_len:
        pad = F.pad(pad, (0, kv_len - pad.shape[-1]))
    if (q_len == 1 or kv_len == q_len) and bool(pad.all()):
        return None
    if past == 0 and bool(pad[:, :q_len].all()) and bool((~pad[:, q_len:]).all()):
        return None
    q_idx = torch.arange(q_len, device=pad.device)[:, None] + past
    kv_idx = torch.arange(kv_len, device=pad.device)[None, :]
    mask = (kv_idx <= q_idx)[None, None] & pad[:, None, None, :]
    return mask.expand(pad.shape[0], 1, q_len, kv_len)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None,
           scale: float) -> torch.Tensor:
    """Scaled dot-product attention of q (B, H, T, D) over k, v (B, H_kv, S, D) -> (B, T, H, D),
    with transformers' choices of kernel arguments (grouped heads, causal flag)."""
    n_rep = q.shape[1] // k.shape[1]
    q_len = q.shape[2]
    gqa = False
    if n_rep > 1:
        if mask is None and k.shape[-1] == v.shape[-1] <= 256:
            gqa = True
        elif q_len == 1:  # one query: the groups' heads as queries of their key/value head
            q = q.reshape(q.shape[0], q.shape[1] // n_rep, n_rep, q.shape[-1])
        else:
            k = k[:, :, None].expand(-1, -1, n_rep, -1, -1).reshape(k.shape[0], -1, k.shape[2], k.shape[3])
            v = v[:, :, None].expand(-1, -1, n_rep, -1, -1).reshape(v.shape[0], -1, v.shape[2], v.shape[3])
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.0, scale=scale,
                                         is_causal=q_len > 1 and mask is None, enable_gqa=gqa)
    return out.reshape(out.shape[0], -1, q_len, v.shape[-1]).transpose(1, 2).contiguous()


class Attention(nn.Module):
    def __init__(self, cfg: LlamaConfig, layer: int):
        super().__init__()
        self.layer = layer
        self.head_dim = cfg.head_dim
        self.scale = cfg.head_dim ** -0.5
        self.q_proj = nn.Linear(cfg.hidden_size, cfg.num_attention_heads * cfg.head_dim, bias=False)
        self.k_proj = nn.Linear(cfg.hidden_size, cfg.num_key_value_heads * cfg.head_dim, bias=False)
        self.v_proj = nn.Linear(cfg.hidden_size, cfg.num_key_value_heads * cfg.head_dim, bias=False)
        self.o_proj = nn.Linear(cfg.num_attention_heads * cfg.head_dim, cfg.hidden_size, bias=False)

    def forward(self, x, cos, sin, mask, cache: KVCache | None):
        shape = (*x.shape[:-1], -1, self.head_dim)
        q = self.q_proj(x).view(shape).transpose(1, 2)
        k = self.k_proj(x).view(shape).transpose(1, 2)
        v = self.v_proj(x).view(shape).transpose(1, 2)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        q = (q * cos) + (rotate_half(q) * sin)
        k = (k * cos) + (rotate_half(k) * sin)
        if cache is not None:
            k, v = cache.update(self.layer, k, v)
        out = attend(q, k, v, mask, self.scale)
        return self.o_proj(out.reshape(*x.shape[:-1], -1).contiguous())


class MLP(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, cfg: LlamaConfig, layer: int):
        super().__init__()
        self.self_attn = Attention(cfg, layer)
        self.mlp = MLP(cfg)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, x, cos, sin, mask, cache):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(nn.Module):
    """The decoder: embeddings, blocks, final norm (``LlamaForCausalLM.get_decoder()``)."""

    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.cfg = cfg
        # no random initialisation: this model is only ever loaded (and on the meta device an
        # Embedding's normal_, like an arange, would import torch._dynamo: 1 s)
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size,
                                         _weight=torch.empty(cfg.vocab_size, cfg.hidden_size))
        self.layers = nn.ModuleList([Block(cfg, i) for i in range(cfg.num_hidden_layers)])
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.register_buffer("inv_freq", rope_inv_freq(cfg), persistent=False)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, past_key_values: KVCache | None = None,
                inputs_embeds: torch.Tensor | None = None, use_cache: bool = False) -> DecoderOutput:
        """``attention_mask`` (B, past + T), 1 on tokens and 0 on (left) padding; with
        ``use_cache`` the keys and values are kept in ``past_key_values`` (a new cache when None)."""
        x = self.embed_tokens(input_ids) if inputs_embeds is None else inputs_embeds
        cache = past_key_values if past_key_values is not None or not use_cache else KVCache(len(self.layers))
        past = len(cache) if cache is not None else 0
        if position_ids is None:
            position_ids = (torch.arange(x.shape[1], device=x.device) + past)[None]
        mask = causal_mask(attention_mask, x.shape[1], past)
        cos, sin = rope(position_ids, self.inv_freq, x.dtype)
        for block in self.layers:
            x = block(x, cos, sin, mask, cache)
        return DecoderOutput(self.norm(x), cache)


class LlamaForCausalLM(nn.Module):
    """Op for op what transformers' ``LlamaForCausalLM`` computes with its default ``sdpa``
    attention (5.x), so the inference cache gives the same logits as the transformers path
    (``tests/test_model_cache.py`` checks that on the shipped model).

    Notes
    -----
    Only what inference needs: float weights, no biases, default RoPE, SiLU gated MLP, grouped
    query attention, a key/value cache for greedy decoding, left padding through a 2-D
    attention mask. Parameter names are transformers' (``model.layers.0.self_attn.q_proj.weight``
    ...), so a transformers state dict loads as it is.
    """

    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.cfg = cfg
        self.model = LlamaModel(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        self.tie_weights()

    def tie_weights(self) -> None:
        if self.cfg.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight

    @classmethod
    def from_state_dict(cls, cfg: LlamaConfig, state: dict[str, torch.Tensor]) -> LlamaForCausalLM:
        """Built without initialising any weight (meta device), then given ``state``'s tensors
        as they are (no copy: a memory-mapped safetensors file stays mapped). Frozen, eval mode."""
        with torch.device("meta"):
            model = cls(cfg)
        if cfg.tie_word_embeddings:
            state = {k: v for k, v in state.items() if k != "lm_head.weight"}
            missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
            missing = [k for k in missing if k != "lm_head.weight"]
        else:
            missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
        if missing or unexpected:
            raise KeyError(f"Llama weights do not match: missing {missing[:3]}, unexpected {unexpected[:3]}")
        model.tie_weights()
        return model.requires_grad_(False).eval()

    def get_decoder(self) -> LlamaModel:
        return self.model

    def get_input_embeddings(self) -> nn.Embedding:
        return self.model.embed_tokens

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, past_key_values: KVCache | None = None,
                inputs_embeds: torch.Tensor | None = None, use_cache: bool = False) -> CausalLMOutput:
        out = self.model(input_ids, attention_mask, position_ids, past_key_values, inputs_embeds, use_cache)
        return CausalLMOutput(self.lm_head(out.last_hidden_state), out.past_key_values)
