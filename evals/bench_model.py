"""Benchmark of the audio language model: ``listen`` latency, peak memory, training throughput.

    python -m mixingbuddy.evals.bench_model [--real] [--weights DIR] [--threads 2] [--n 5]

Prints a markdown table. Timings on a shared machine vary; the machine load is printed too.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc

import numpy as np
import torch


def _synthetic_items(n: int, feat, seconds: float = 10.0, seed: int = 0) -> list[dict]:
    from mixingbuddy.model.data import templates as T
    from mixingbuddy.model.dataset import make_item
    from mixingbuddy.model.features import compute_features

    rng = np.random.default_rng(seed)
    sr = 16_000
    items = []
    base = compute_features((rng.standard_normal((int(seconds * sr), 2)) * 0.1).astype(np.float32), sr, feat)
    for i in range(n):
        cat = T.CATEGORIES[i % 5]
        target, anchor = rng.choice(T.STEMS, 2, replace=False).tolist()
        row = {"id": f"b{i}", "anchor": anchor, "stems_present": ["bass", "drums", "vocals", "other"],
               "instruction": T.format_instruction(i, ["bass", "drums", "vocals", "other"], anchor),
               "response": T.format_response(cat, i, target),
               "published": {"category": cat, "target": None if cat == "no_error" else target},
               "true_levels": {s: {"vs_rest_db": float(rng.normal(-5, 3)), "vs_mix_db": float(rng.normal(-7, 3)),
                                   "vs_anchor_db": float(rng.normal(0, 4))} for s in ("bass", "drums", "vocals", "other")}}
        items.append(make_item(base, row))
    return items


def _time_steps(model, batch, params, n_steps: int) -> float:
    """Median seconds per optimiser step (fwd + bwd + AdamW) after one warm-up step."""
    opt = torch.optim.AdamW(params, lr=1e-4)
    times = []
    for i in range(n_steps + 1):
        t = time.perf_counter()
        out = model(batch)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_stage1(cfg, batch_size: int, n_steps: int) -> dict:
    """Training throughput (samples/s, median step time after warm-up) of stage 1: encoder + aux
    heads on cached features, on a synthetic batch of 10 s clips."""
    from mixingbuddy.model.dataset import Collator
    from mixingbuddy.model.encoder import build_encoder
    from mixingbuddy.model.train import EncoderTrainer

    torch.manual_seed(0)
    trainer = EncoderTrainer(build_encoder(cfg.encoder, cfg.features), cfg.aux).train()
    batch = Collator()(_synthetic_items(batch_size, cfg.features))
    s = _time_steps(trainer, batch, [p for p in trainer.parameters() if p.requires_grad], n_steps)
    n_params = sum(p.numel() for p in trainer.parameters())
    return {"what": f"stage 1, encoder {n_params / 1e6:.1f}M params", "batch": batch_size, "step_s": s,
            "samples_per_s": batch_size / s}


def bench_stage2(cfg, batch_size: int, n_steps: int, label: str) -> dict:
    """Training throughput of stage 2: encoder + projector + LoRA LLM, LM + aux loss, AdamW step
    included, on a synthetic batch of 10 s clips with real template prompts/responses. Run on
    the tiny random backbone always, and on SmolLM2-135M with ``--real``."""
    from mixingbuddy.model.audio_lm import AudioLM
    from mixingbuddy.model.dataset import Collator

    torch.manual_seed(0)
    model = AudioLM.build(cfg).train()
    batch = Collator(model.prompts)(_synthetic_items(batch_size, cfg.features))
    params = [p for p in model.parameters() if p.requires_grad]
    s = _time_steps(model, batch, params, n_steps)
    seq = int(batch["attention_mask"].shape[1])
    return {"what": f"stage 2, {label} (seq {seq} tokens)", "batch": batch_size, "step_s": s,
            "samples_per_s": batch_size / s}


def bench_listen(weights: str | None, n: int, new_tokens: int = 24) -> dict:
    """``listen`` latency per 10 s clip (features + encoder + greedy decoding; median over ``n``
    runs after one warm-up run) and the number of tokens generated.

    With ``weights`` the trained model is used; otherwise an untrained SmolLM2 model (random
    encoder, zero LoRA) decoding a fixed ``new_tokens`` (24), the length of a typical answer.
    Memory: the Python heap peak (``tracemalloc``) during the latency runs; the process's
    maximum resident set size (:func:`max_rss_mb`, covers torch's allocations) is read after.
    """
    from mixingbuddy.model.audio_lm import AudioLM
    from mixingbuddy.model.config import AudioLMConfig
    from mixingbuddy.model.listen import Listener

    tmp = None
    if weights is None:
        tmp = tempfile.TemporaryDirectory()
        torch.manual_seed(0)
        AudioLM.build(AudioLMConfig()).save_pretrained(tmp.name)
        weights = tmp.name
    t = time.perf_counter()
    listener = Listener.load(weights)
    load_s = time.perf_counter() - t
    sr = 44_100
    rng = np.random.default_rng(0)
    clip = (rng.standard_normal((10 * sr, 2)) * 0.1).astype(np.float32)
    kw = {} if tmp is None else {"max_new_tokens": new_tokens}
    listener.advise(clip, sr, "drums", None, **kw)  # warm-up
    tracemalloc.start()
    times, n_tokens = [], []
    for _ in range(n):
        t = time.perf_counter()
        text = listener.advise(clip, sr, "drums", None, **kw)
        times.append(time.perf_counter() - t)
        n_tokens.append(len(listener.model.tokenizer(text, add_special_tokens=False)["input_ids"]))
    _, py_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    if tmp is not None:
        tmp.cleanup()
    return {"load_s": load_s, "median_s": statistics.median(times), "min_s": min(times),
            "tokens": statistics.median(n_tokens), "py_heap_peak_mb": py_peak / 1e6,
            "trained": tmp is None, "example": text}


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--real", action="store_true", help="also SmolLM2-135M (stage 2 and listen latency)")
    p.add_argument("--weights", help="trained model folder for the latency runs (default: untrained)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--n", type=int, default=5, help="latency runs (after one warm-up)")
    p.add_argument("--steps", type=int, default=3, help="timed training steps (after one warm-up)")
    p.add_argument("--stage1-batch", type=int, nargs="+", default=[16, 32])
    p.add_argument("--stage2-batch", type=int, nargs="+", default=[4, 8])
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from mixingbuddy.model import config as C

    lat = bench_listen(args.weights, args.n) if (args.real or args.weights) else None
    listen_rss_mb = max_rss_mb()  # before the training runs, which need more memory
    rows = []
    default = C.AudioLMConfig()
    for bs in args.stage1_batch:
        rows.append(bench_stage1(default, bs, args.steps))
    tiny = C.load_train_config(os.path.join(os.path.dirname(C.__file__), "configs", "tiny.yaml")).model
    tiny.features = default.features
    tiny.encoder = default.encoder
    for bs in args.stage2_batch:
        rows.append(bench_stage2(tiny, bs, args.steps, "tiny random LLM"))
    if args.real:
        for bs in args.stage2_batch:
            rows.append(bench_stage2(default, bs, args.steps, "SmolLM2-135M + LoRA"))
    print(f"torch threads: {torch.get_num_threads()}, load average: {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs\n")
    print("| training | batch | s/step | samples/s |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['what']} | {r['batch']} | {r['step_s']:.2f} | {r['samples_per_s']:.1f} |")
    if lat is not None:
        kind = "trained" if lat["trained"] else "untrained, 24 tokens forced"
        print(f"\n| listen, 10 s clip ({kind}) | value |\n|---|---|")
        print(f"| model load (once) | {lat['load_s']:.1f} s |")
        print(f"| latency, median of {args.n} | {lat['median_s']:.2f} s |")
        print(f"| latency, best | {lat['min_s']:.2f} s |")
        print(f"| tokens generated (median) | {lat['tokens']:.0f} |")
        print(f"| peak RSS of the process after the listen runs | {listen_rss_mb:.0f} MB |")
        print(f"| peak Python heap during listen (tracemalloc) | {lat['py_heap_peak_mb']:.1f} MB |")
        print(f"\nexample answer: {lat['example']!r}")
    print(f"\npeak RSS of the process after the training runs: {max_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
