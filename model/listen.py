"""``mixingbuddy listen MIX --anchor STEM``: the trained audio language model's advice.

:class:`Listener` loads a trained model folder once per process and answers with text;
:class:`ModelSystem` adapts it to the balance benchmark (registered as ``model`` by
``evals/systems.py``).
"""
from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mixingbuddy.tools.errors import InvalidArgumentError, MixingBuddyError
from mixingbuddy.tools.io.audio import ALL_STEMS

from .data import templates as T

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights"


class ModelWeightsNotFoundError(MixingBuddyError):
    code = "model_not_found"


_CACHE: dict[str, Listener] = {}
_LOCK = threading.Lock()


@dataclass
class ListenResult:
    """What the model heard in one clip: its advice, the auxiliary classifier's posterior over
    the published classes (``no_error`` and ``<category>:<stem>``) and the window it heard."""

    text: str
    class_probs: dict[str, float]
    window_s: tuple[float, float]


def _class_names() -> list[str]:
    from .encoder import class_names

    return class_names()


class Listener:
    # torch threads while loading and listening: decoding one token is a few small
    # matrix-vector products, where a second thread gains little and loses much when the cores
    # are shared (measured on the 2-core machine, 10 s clip, other jobs running: 1.3-2.1 s with
    # 1 thread, 6.6-12 s with 2); the load's copies of small tensors likewise
    threads: int | None = 1

    def __init__(self, model, path: Path):
        self.model = model
        self.path = path
        self.cfg = model.cfg

    @classmethod
    def load(cls, path: str | Path | None = None, *, merge_lora: bool = True) -> Listener:
        """The model in ``path`` (default ``model/weights/`` in the package), loaded once.

        The LoRA weights are merged into SmolLM2 for speed (``merge_lora``), and the merged
        model is kept on disk by ``model.inference_cache`` (a warm start reads it in about 0.3 s
        after importing torch).
        """
        folder = Path(path) if path is not None else DEFAULT_WEIGHTS
        if not (folder / "weights.safetensors").exists() or not (folder / "config.json").exists():
            where = "the package's model/weights/ folder" if path is None else str(folder)
            raise ModelWeightsNotFoundError(
                f"no trained model in {where} (weights.safetensors + config.json); train one with "
                f"`mixingbuddy train --config model/configs/cpu.yaml` and pass --weights RUN/export")
        key = str(folder.resolve())
        with _LOCK:
            if key not in _CACHE:
                if merge_lora:  # through the merged inference cache (model/inference_cache.py)
                    from .inference_cache import load_for_inference

                    with _torch_threads(cls.threads):  # small copies: each would wait for a 2nd thread
                        model = load_for_inference(folder)
                else:
                    from .audio_lm import AudioLM

                    model = AudioLM.from_pretrained(folder)
                    model.eval()
                _CACHE[key] = cls(model, folder)
            return _CACHE[key]

    def instruction(self, anchor: str, stems_present: Sequence[str]) -> str:
        return T.format_instruction(0, stems_present, anchor)

    def advise(self, audio: np.ndarray, sr: int, anchor: str, stems_present: Sequence[str] | None = None,
               *, instruction: str | None = None, max_new_tokens: int | None = None) -> str:
        """The model's advice on ``audio`` ((n, 2) or (n,) float at ``sr``), judged against
        ``anchor`` (bass, drums or vocals)."""
        return self.advise_many([audio], sr, [anchor], [stems_present], instructions=[instruction],
                                max_new_tokens=max_new_tokens)[0]

    def advise_many(self, audios: list[np.ndarray], sr: int, anchors: list[str],
                    stems_present: list[Sequence[str] | None], *, instructions: list[str | None] | None = None,
                    max_new_tokens: int | None = None) -> list[str]:
        """Batched :meth:`advise` (one greedy decoding pass for all clips)."""
        return [r.text for r in self.listen_many(audios, sr, anchors, stems_present, instructions=instructions,
                                                 max_new_tokens=max_new_tokens)]

    def listen(self, audio: np.ndarray, sr: int, anchor: str, stems_present: Sequence[str] | None = None,
               *, instruction: str | None = None) -> ListenResult:
        """:meth:`advise` with the classifier's posterior and the window heard."""
        return self.listen_many([audio], sr, [anchor], [stems_present], instructions=[instruction])[0]

    def listen_many(self, audios: list[np.ndarray], sr: int, anchors: list[str],
                    stems_present: list[Sequence[str] | None], *, instructions: list[str | None] | None = None,
                    max_new_tokens: int | None = None) -> list[ListenResult]:
        """Batched :meth:`listen` (one greedy decoding pass for all clips).

        Audio longer than the model's clip length (10 s, the corpus chunk length) is cut to its
        loudest window (highest mean power, 0.5 s hop): on a full song that is where all stems
        play, which is where the training chunks came from (the corpus keeps a chunk only when
        its target and anchor stems are active), and it keeps the latency independent of the
        song length.
        """
        import torch

        from .dataset import Collator, item_from_audio
        from .features import loudest_window

        items, windows = [], []
        for i, (audio, anchor) in enumerate(zip(audios, anchors)):
            present = list(stems_present[i] or ALL_STEMS)
            _check_stems(anchor, present)
            x = np.asarray(audio, dtype=np.float32)
            a, b = loudest_window(x, sr, self.cfg.features.clip_s)
            windows.append((round(a / sr, 3), round(b / sr, 3)))
            instr = (instructions[i] if instructions and instructions[i] else self.instruction(anchor, present))
            items.append(item_from_audio(x[a:b], sr, self.cfg.features, anchor, present, instr))
        with torch.no_grad(), _torch_threads(self.threads):
            texts, probs = self.model.generate_with_probs(Collator()(items), max_new_tokens=max_new_tokens)
        names = _class_names()
        return [ListenResult(text=t, class_probs={n: round(float(v), 6) for n, v in zip(names, row.tolist())},
                             window_s=w) for t, row, w in zip(texts, probs, windows)]


@contextmanager
def _torch_threads(n: int | None):
    """torch's intra-op threads set to ``n`` in this thread for the block (None: unchanged)."""
    import torch

    before = torch.get_num_threads()
    if not n or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _check_stems(anchor: str, present: Sequence[str]) -> None:
    if anchor not in T.STEMS:
        raise InvalidArgumentError(f"anchor must be one of {', '.join(T.STEMS)}, got {anchor!r}")
    unknown = [s for s in present if s not in ALL_STEMS]
    if unknown:
        raise InvalidArgumentError(f"unknown stems {unknown}; use {', '.join(ALL_STEMS)}")
    if anchor not in present:
        raise InvalidArgumentError(f"the anchor {anchor!r} must be one of the stems present")


class ModelSystem:
    """Balance-benchmark system (the system interface of ``evals/systems.py``,
    ``advise(row, audio, sr) -> str``): the model answers each row's own instruction.
    ``prepare`` answers many rows in batches (one greedy decoding pass per ``batch_size``
    clips, reading the clips itself), after which ``advise`` returns the stored answer without needing the audio. Register it with
    ``register("model")(type("ModelSystem", (System, ModelSystem), {}))`` or as a subclass."""

    name = "model"
    needs_audio = True

    def __init__(self, weights: str | Path | None = None, batch_size: int = 8, **_ignored):
        self.weights = weights
        self.batch_size = int(batch_size)
        self.progress = True
        self._listener: Listener | None = None
        self._answers: dict[str, str] = {}

    @property
    def listener(self) -> Listener:
        if self._listener is None:
            self._listener = Listener.load(self.weights)
        return self._listener

    def fit(self, train_rows, corpus_dir) -> None:  # nothing to fit: the model is trained
        return None

    def prepare(self, rows, corpus_dir) -> None:
        from tqdm import tqdm

        from .features import load_clip

        todo = [r for r in rows if r["id"] not in self._answers]
        bar = tqdm(total=len(todo), desc="model", unit="clip", disable=not self.progress, file=sys.stderr)
        for i in range(0, len(todo), self.batch_size):
            chunk = todo[i:i + self.batch_size]
            clips = [load_clip(Path(corpus_dir) / r["audio_path"]) for r in chunk]
            # clips of one corpus share a rate; group by rate otherwise
            for sr in sorted({c[1] for c in clips}):
                idx = [j for j, c in enumerate(clips) if c[1] == sr]
                texts = self.listener.advise_many(
                    [clips[j][0] for j in idx], sr, [chunk[j]["anchor"] for j in idx],
                    [chunk[j].get("stems_present") for j in idx],
                    instructions=[chunk[j].get("instruction") for j in idx])
                for j, text in zip(idx, texts):
                    self._answers[chunk[j]["id"]] = text
            bar.update(len(chunk))
        bar.close()

    def needs_audio_for(self, row: dict) -> bool:
        return row["id"] not in self._answers

    def advise(self, row: dict, audio: np.ndarray | None, sr: int | None) -> str:
        if row["id"] in self._answers:
            return self._answers[row["id"]]
        return self.listener.advise(audio, sr, row["anchor"], row.get("stems_present"),
                                    instruction=row.get("instruction"))


# --- CLI ------------------------------------------------------------------------------------

def cmd_listen(args) -> int:
    from mixingbuddy.tools.io.ingest import load_audio

    audio = load_audio(args.mix, max_duration_s=args.max_minutes * 60.0)
    listener = Listener.load(args.weights)
    x = audio.stereo()
    clip_s = listener.cfg.features.clip_s
    if audio.duration_s > clip_s + 1e-6:
        from .features import loudest_window

        a, _ = loudest_window(x, audio.sr, clip_s)
        print(f"listening to the loudest {clip_s:.0f} s: {a / audio.sr:.1f}-{a / audio.sr + clip_s:.1f} s",
              file=sys.stderr)
    print(listener.advise(x, audio.sr, args.anchor, args.stems_present or None))
    return 0


def add_listen_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``listen`` to the ``mixingbuddy`` sub-commands."""
    p = subparsers.add_parser("listen", help="the audio language model's balance advice on a mix")
    p.add_argument("mix", help="the mix (any format `analyze` reads)")
    p.add_argument("--anchor", required=True, choices=list(T.STEMS), help="stem assumed correctly balanced")
    p.add_argument("--stems-present", nargs="+", choices=list(ALL_STEMS), metavar="STEM",
                   help="stems in the mix (default: bass drums vocals other)")
    p.add_argument("--weights", metavar="DIR", help="trained model folder (default: the shipped model/weights/)")
    p.add_argument("--max-minutes", type=float, default=20.0, help="refuse files longer than this (default 20)")
    p.set_defaults(func=cmd_listen)
    return p
