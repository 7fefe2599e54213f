"""The merged inference cache: the audio model ready to listen, in one memory-mapped file.

Building the listening model from its sources (GGUF backbone, LoRA merge, transformers and
peft imports) takes seconds; an entry of this cache, under ``$MIXINGBUDDY_CACHE/audio_lm/<key>/``,
loads with torch, safetensors and tokenizers alone. See :func:`entry_dir` and :func:`write_entry`.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from mixingbuddy.tools.cache import cache_dir, sha256_file_remembered

from . import config as C

log = logging.getLogger(__name__)

FORMAT = 1
MODEL_FILE = "model.safetensors"
LLAMA_FILE = "llama.json"
SOURCES_FILE = "sources.json"
LIBRARIES = ("torch", "transformers", "peft", "tokenizers", "safetensors", "librosa")


def cacheable(cfg: C.AudioLMConfig) -> bool:
    """Whether ``cfg`` is cached: GGUF backbones (``smollm2``, ``gguf``) with the conv encoder.

    The others load quickly or are not plain Llamas; they take the transformers path, as
    training always does.
    """
    return cfg.llm.backbone in ("smollm2", "gguf") and cfg.encoder.kind == "conv"


def source_files(folder: str | Path, cfg: C.AudioLMConfig) -> dict[str, Path]:
    """The files the merged model is made from, by role."""
    from .audio_lm import CONFIG_FILE, WEIGHTS_FILE
    from .llm import smollm2_location

    folder = Path(folder)
    if cfg.llm.backbone == "smollm2":
        backbone = Path(*smollm2_location())
    elif cfg.llm.path:
        backbone = Path(cfg.llm.path)
    else:
        raise ValueError("backbone 'gguf' needs path (a .gguf file)")
    return {"weights": folder / WEIGHTS_FILE, "config": folder / CONFIG_FILE, "backbone": backbone}


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def cache_sources(folder: str | Path, cfg: C.AudioLMConfig) -> dict:
    """What the key is made of: the format, each source file's SHA-256, the library versions."""
    files = {role: sha256_file_remembered(p) for role, p in source_files(folder, cfg).items()}
    return {"format": FORMAT, "files": files, "versions": library_versions()}


def entry_dir(folder: str | Path, cfg: C.AudioLMConfig) -> Path:
    """The cache entry for the trained folder ``folder`` (config ``cfg``).

    Notes
    -----
    The key is the SHA-256 of the SHA-256 of every source file (the trained folder's weights and
    config, the GGUF) and of the versions of torch, transformers, peft, tokenizers, safetensors
    and librosa, so a changed file or library builds a new entry; file digests are remembered
    per file version (``tools.cache.sha256_file_remembered``).
    """
    blob = json.dumps(cache_sources(folder, cfg), sort_keys=True).encode()
    return cache_dir() / "audio_lm" / hashlib.sha256(blob).hexdigest()[:24]


def load_for_inference(folder: str | Path, *, use_cache: bool = True):
    """The trained model in ``folder`` with its LoRA merged, in eval mode: from the cache entry
    when there is one, else built from the sources (and the entry written).

    Notes
    -----
    Building from the sources takes the GGUF backbone (de-quantised by transformers), the LoRA,
    encoder and projector weights of the trained folder (``model/weights/``), a peft merge of
    the LoRA into the backbone, and the imports of transformers and peft: 6.5 s with the
    de-quantised backbone cached (2 cores, shared), 22 s the first time. A cache entry loads in
    1.5 s (1.0 s of it importing torch): no de-quantisation, no peft, no tokenizer rebuilt from
    the GGUF. An entry that does not load is logged, removed and rebuilt; an unwritable cache
    only costs the time.
    """
    from .audio_lm import AudioLM, load_config

    folder = Path(folder)
    cfg = load_config(folder)
    dest = None
    if use_cache and cacheable(cfg):
        try:
            dest = entry_dir(folder, cfg)
        except (OSError, ValueError) as e:  # a missing source: the transformers path says what
            log.debug("no inference cache key for %s (%s)", folder, e)
    if dest is not None and (dest / MODEL_FILE).exists():
        try:
            return read_entry(dest, cfg)
        except Exception:  # noqa: BLE001 - a damaged entry is rebuilt from the sources
            if _shutting_down():  # a load on a background thread outlived the program: the entry is fine
                raise
            log.warning("the inference cache %s does not load; rebuilding it", dest, exc_info=True)
            shutil.rmtree(dest, ignore_errors=True)
    model = AudioLM.from_pretrained(folder)
    model.merge_lora()
    model.eval()
    if dest is None:
        return model
    try:
        write_entry(model, dest, cache_sources(folder, cfg))
    except (OSError, ValueError) as e:
        log.warning("could not write the inference cache %s (%s)", dest, e)
        return model
    # listen with the cached model from the first start on: one implementation per entry
    try:
        return read_entry(dest, cfg)
    except Exception:  # noqa: BLE001
        log.warning("the inference cache %s just written does not load", dest, exc_info=True)
        return model


def _shutting_down() -> bool:
    """Whether the interpreter is exiting (the main thread has ended): a load then fails because
    no new thread or future may start, not because the cache entry is damaged."""
    import sys
    import threading

    return sys.is_finalizing() or not threading.main_thread().is_alive()


def write_entry(model, dest: Path, sources: dict) -> None:
    """Write the merged ``model`` (an ``AudioLM`` over a transformers Llama) as the entry ``dest``.

    Notes
    -----
    The entry holds:

    - ``model.safetensors``: every float32 tensor of the merged model (``llm.*`` the backbone
      with the LoRA folded in, tied output head stored once; ``encoder.*``, ``projector.*``,
      ``labels.*``) and ``features.mel``, the feature extractor's mel filterbank (librosa's,
      which would cost 0.4-1 s of imports to recompute);
    - ``llama.json``: the backbone's shape (:class:`~.llama.LlamaConfig`);
    - ``tokenizer.json``, ``tokenizer_meta.json``: the tokenizer
      (:class:`~.chat_tokenizer.ChatTokenizer`);
    - ``sources.json``: what the key was made of, for people.

    It is written into a temporary folder renamed into place, so a killed writer leaves no half
    entry.
    """
    import torch
    from safetensors.torch import save_file

    from .chat_tokenizer import ChatTokenizer
    from .features import mel_matrix
    from .llama import LlamaConfig

    lcfg = LlamaConfig.from_hf(model.llm.config)  # ValueError: not a plain Llama
    tokenizer = ChatTokenizer.from_hf(model.tokenizer)
    state = {}
    for k, v in model.state_dict().items():
        if lcfg.tie_word_embeddings and k == "llm.lm_head.weight":
            continue
        state[k] = v.detach().to("cpu", torch.float32).contiguous()
    state["features.mel"] = torch.from_numpy(mel_matrix(model.cfg.features).copy())
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=dest.parent))
    try:
        save_file(state, str(tmp / MODEL_FILE), metadata={"format": "mixingbuddy-merged-audio-lm"})
        (tmp / LLAMA_FILE).write_text(json.dumps(lcfg.to_dict(), indent=1), encoding="utf-8")
        tokenizer.save(tmp)
        (tmp / SOURCES_FILE).write_text(json.dumps(sources, indent=1), encoding="utf-8")
        try:
            os.replace(tmp, dest)
        except OSError:
            if not (dest / MODEL_FILE).exists():  # else another process wrote the same entry first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_entry(dest: Path, cfg: C.AudioLMConfig):
    """The ``AudioLM`` of the entry ``dest``: the backbone's tensors stay memory-mapped.

    Uses torch, safetensors and tokenizers alone (:mod:`.llama` states the decoder without
    transformers).
    """
    from safetensors.torch import load_file

    from .audio_lm import AudioLM
    from .chat_tokenizer import ChatTokenizer
    from .encoder import build_encoder
    from .features import remember_mel_matrix
    from .llama import LlamaConfig, LlamaForCausalLM

    state = load_file(str(dest / MODEL_FILE))
    lcfg = LlamaConfig.from_dict(json.loads((dest / LLAMA_FILE).read_text(encoding="utf-8")))
    llm = LlamaForCausalLM.from_state_dict(lcfg, {k[4:]: v for k, v in state.items() if k.startswith("llm.")})
    model = AudioLM(cfg, build_encoder(cfg.encoder, cfg.features), llm, ChatTokenizer.load(dest))
    parts = {"encoder": model.encoder, "projector": model.projector, "labels": model.labels}
    for name, module in parts.items():
        if module is not None:
            module.load_state_dict({k[len(name) + 1:]: v for k, v in state.items() if k.startswith(name + ".")})
    unknown = [k for k in state if k.split(".", 1)[0] not in ("llm", "features", *parts)]
    if unknown:
        raise KeyError(f"cached weights do not match: unexpected {unknown[:3]}")
    remember_mel_matrix(cfg.features, state["features.mel"].numpy().copy())
    return model.requires_grad_(False).eval()


def main(argv: list[str] | None = None) -> int:
    """``python -m mixingbuddy.model.inference_cache [FOLDER]``: build the cache entry of a
    trained model folder (the shipped ``model/weights/`` by default) unless it is there. ``make
    setup`` runs it once, so that the first review after installing loads the model in about
    1.5 s instead of de-quantising SmolLM2 first (about 20 s)."""
    import argparse
    import time

    from .listen import DEFAULT_WEIGHTS

    p = argparse.ArgumentParser(prog="python -m mixingbuddy.model.inference_cache",
                                description="build the audio model's inference cache entry")
    p.add_argument("folder", nargs="?", default=str(DEFAULT_WEIGHTS), help="trained model folder")
    args = p.parse_args(argv)
    from .audio_lm import load_config

    t0 = time.perf_counter()
    load_for_inference(args.folder)
    cfg = load_config(args.folder)
    where = entry_dir(args.folder, cfg) if cacheable(cfg) else "not cached (this backbone loads quickly)"
    print(f"audio model ready to listen in {time.perf_counter() - t0:.1f} s: {where}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
