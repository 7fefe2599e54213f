"""The agent as a system of the balance benchmark: ``mixingbuddy eval balance --system agent``.

The benchmark gives each row's mix only (no stems) and names the anchor; the agent reviews it
and its answer is the sentence :func:`mixingbuddy.agent.claims.balance_verdict` makes from the
review (the model's claim as the tools reconciled it, else the stem the tools place furthest
outside the professional range, else "balanced"), in the benchmark's own wording.

Two registered systems run the same decision code:

- ``agent-full``: :meth:`MixingBuddy.review` on each row's file (embedded default, no language
  model, a temporary home), then ``balance_verdict`` of the stored conversation state. The whole graph: ingest, listen,
  verify (every standing measurement), reconcile, compose, the SQLite checkpointer.
- ``agent`` (the fast path, for thousands of rows): the steps of the review that decide the
  balance sentence, called directly: the mix decoded by the same ingest
  (``tools.ingest.load_mix_and_stems``, resampled to 48 kHz); the listen node's inputs to the
  audio model (its stereo samples, the anchor, all four stems as present, the default
  instruction) answered in batches by :class:`~mixingbuddy.model.listen.Listener`; the answer
  parsed by :func:`~mixingbuddy.agent.claims.parse_claim`; the verify node's mix-only stem
  estimate (``tools.mix_estimate.estimate_stem_levels`` on the same samples, which is the only
  part of ``tools.analyze`` these decisions read); :func:`~mixingbuddy.agent.claims.verify_claim`
  and :func:`~mixingbuddy.agent.claims.balance_verdict`. Loudness, spectrum and stereo, which
  do not enter the balance sentence, are skipped. The test suite checks that both give the same
  sentence on the same clips.

Without trained weights the listen step records a degradation in the agent and the decision
falls to the tools alone; the fast path does the same (no claim).
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .systems import System, register

ALL_STEMS = ["bass", "drums", "vocals", "other"]  # the listen node's stems for a full mix
MODEL_ANCHORS = ("vocals", "drums", "bass")


def _model_anchor(anchor: str | None) -> str:
    """The listen node's rule for a full mix: the anchor when the model knows it, else the
    first of vocals, drums, bass."""
    return anchor if anchor in MODEL_ANCHORS else MODEL_ANCHORS[0]


class _AgentBase(System):
    needs_audio = False  # both read the row's file themselves (as the agent reads the user's)

    def __init__(self, weights: str | Path | None = None, use_model: bool = True, seed: int = 0,
                 **_ignored):
        super().__init__(seed=seed)
        self.weights = weights
        self.use_model = use_model
        self._texts: dict[str, str] = {}
        self.degradations: list[str] = []

    def fit(self, train_rows, corpus_dir) -> None:  # nothing to fit: the agent is fixed
        return None

    def needs_audio_for(self, row: dict) -> bool:
        return False

    def advise(self, row: dict, audio, sr) -> str:
        if row["id"] not in self._texts:
            if getattr(self, "_corpus_dir", None) is None:
                raise ValueError(f"{self.name}: row {row['id']} was not prepared")
            self.prepare([row], self._corpus_dir)
        return self._texts[row["id"]]


@register("agent")
class AgentFastSystem(_AgentBase):
    """The agent's balance decision on the mix, called step by step (module docstring)."""

    def __init__(self, weights=None, use_model: bool = True, batch_size: int = 8, seed: int = 0, **kw):
        super().__init__(weights=weights, use_model=use_model, seed=seed, **kw)
        self.batch_size = int(batch_size)
        self._listener = None
        self._listener_tried = False

    def listener(self):
        """The audio model, or None (with the agent's degradation recorded) when it cannot load."""
        if not self._listener_tried:
            self._listener_tried = True
            if not self.use_model:
                self.degradations.append("audio model switched off; tools only")
                return None
            try:
                from ..model.listen import Listener

                self._listener = Listener.load(self.weights)
            except Exception as e:  # noqa: BLE001 - the agent goes on without the model too
                self.degradations.append(f"audio model unavailable ({type(e).__name__}: {e}); tools only")
                print(f"agent: {self.degradations[-1]}", file=sys.stderr)
        return self._listener

    def decide(self, rows: Sequence[dict], audios: Sequence, texts: Sequence[str | None]) -> list[str]:
        """The balance sentence for each row from its ingested mix and the model's text (None:
        no claim), by the agent's claim, verify and verdict functions."""
        from ..agent.claims import balance_verdict, parse_claim, verify_claim
        from ..tools.analyze import AnalysisReport
        from ..tools.mix_estimate import estimate_stem_levels

        out = []
        for row, a, text in zip(rows, audios, texts):
            est = estimate_stem_levels(a.samples, a.sr)
            rep = AnalysisReport.model_construct(mix_estimate=est, stem_balance=None, anchor=None)
            claims = [verify_claim(parse_claim(text), rep)] if text is not None else []
            out.append(balance_verdict({"report": rep, "claims": claims, "anchor": row.get("anchor")}))
        return out

    def prepare(self, rows, corpus_dir) -> None:
        from tqdm import tqdm

        from ..tools.ingest import load_mix_and_stems

        self._corpus_dir = corpus_dir
        todo = [r for r in rows if r["id"] not in self._texts]
        lst = self.listener() if todo else None
        bar = tqdm(total=len(todo), desc="agent", unit="clip", file=sys.stderr,
                   disable=not self.progress or None, leave=False)
        step = max(1, self.batch_size)
        for i in range(0, len(todo), step):
            chunk = todo[i:i + step]
            audios = [load_mix_and_stems(Path(corpus_dir) / r["audio_path"], None)[0] for r in chunk]
            texts: list[str | None] = [None] * len(chunk)
            if lst is not None:
                for sr in sorted({a.sr for a in audios}):
                    idx = [j for j, a in enumerate(audios) if a.sr == sr]
                    res = lst.listen_many([audios[j].stereo() for j in idx], sr,
                                          [_model_anchor(chunk[j].get("anchor")) for j in idx],
                                          [ALL_STEMS for _ in idx])
                    for j, r in zip(idx, res):
                        texts[j] = str(r.text)
            for r, text in zip(chunk, self.decide(chunk, audios, texts)):
                self._texts[r["id"]] = text
            bar.update(len(chunk))
        bar.close()


@register("agent-full")
class AgentFullSystem(_AgentBase):
    """A full :meth:`MixingBuddy.review` of each row's mix (embedded default, no LLM)."""

    def __init__(self, weights=None, use_model: bool = True, seed: int = 0, **kw):
        super().__init__(weights=weights, use_model=use_model, seed=seed, **kw)
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._buddy = None

    def buddy(self):
        if self._buddy is None:
            from ..agent.api import MixingBuddy

            self._tmp = tempfile.TemporaryDirectory(prefix="mb-agent-bench-")
            self._buddy = MixingBuddy(home=self._tmp.name, llm=None, weights=self.weights,
                                      use_model=self.use_model)
        return self._buddy

    def review_text(self, row: dict, path: Path, index: int) -> str:
        from ..agent.claims import balance_verdict

        buddy = self.buddy()
        tid = f"row{index:06d}"
        rv = buddy.review(str(path), anchor=row.get("anchor"), thread_id=tid)
        for d in rv.degradations:
            if d not in self.degradations:
                self.degradations.append(d)
        # the stored state holds the anchor the user named (the report has none without stems)
        text = balance_verdict(buddy.state(tid))
        # the thread's copy of the audio is not needed again (the benchmark asks no follow-up)
        shutil.rmtree(Path(self._tmp.name) / "threads" / tid, ignore_errors=True)
        return text

    def prepare(self, rows, corpus_dir) -> None:
        from tqdm import tqdm

        self._corpus_dir = corpus_dir
        todo = [r for r in rows if r["id"] not in self._texts]
        for r in tqdm(todo, desc="agent-full", unit="clip", file=sys.stderr,
                      disable=not self.progress or None, leave=False):
            self._texts[r["id"]] = self.review_text(r, Path(corpus_dir) / r["audio_path"], len(self._texts))

    def close(self) -> None:
        if self._buddy is not None:
            close = getattr(self._buddy, "close", None)
            if close:
                close()
            self._buddy = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __del__(self):  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass


__all__ = ["AgentFastSystem", "AgentFullSystem"]
