"""The agent as a system of the balance benchmark: ``mixingbuddy eval balance --system agent``.

The benchmark gives each row's mix only (no stems) and names the anchor; the agent reviews it
and its answer is the sentence :func:`mixingbuddy.agent.claims.balance_verdict` makes from the
review (the model's claim as the tools reconciled it, else the stem the tools place furthest
outside the professional range, else "balanced"), in the benchmark's own wording.
``agent-full`` (:class:`AgentFullSystem`) and the fast ``agent`` (:class:`AgentFastSystem`) run
the same decision code; the test suite checks that both give the same sentence on the same clips.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .systems import System, register


def _model_anchor(anchor: str | None) -> str:
    """The ingest node's rule (:func:`~mixingbuddy.agent.nodes.ingest.model_anchor_for`) for a
    full mix, where every stem is present."""
    from ..agent.nodes.ingest import model_anchor_for
    from ..tools.io.audio import ALL_STEMS

    return model_anchor_for(anchor, ALL_STEMS)


class _AgentBase(System):
    needs_audio = False  # both read the row's file themselves (as the agent reads the user's)
    with_stems = False  # the row's stem files are given to the agent too (``--keep-stems`` corpora)

    def __init__(self, weights: str | Path | None = None, use_model: bool = True, seed: int = 0,
                 **_ignored):
        super().__init__(seed=seed)
        self.weights = weights
        self.use_model = use_model
        self._texts: dict[str, str] = {}
        self._norm_texts: dict[str, str] = {}
        self.degradations: list[str] = []

    def stem_files(self, row: dict, corpus_dir) -> list[str]:
        """The row's four stem files (bass, drums, other, vocals)."""
        paths = row.get("stem_paths")
        if not paths:
            raise ValueError(f"{self.name}: row {row['id']} has no stems; build the corpus with "
                             "--keep-stems for this split")
        return [str(Path(corpus_dir) / p) for _, p in sorted(paths.items())]

    def advise_norm(self, row: dict) -> str | None:
        """The answer to the norm-referenced question; None (scored on the balance answer)
        without stems, where the agent has no measurement of its own for it."""
        return self._norm_texts.get(row["id"]) if self.with_stems else None

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


def weights_fingerprint(weights) -> str:
    """A short id of a weights folder (its config and the size and time of its tensors), so a
    cache of the model's answers is never reused for other weights."""
    import hashlib

    from ..model.listen import DEFAULT_WEIGHTS

    w = Path(weights) if weights else Path(DEFAULT_WEIGHTS)
    h = hashlib.sha1(str(w.resolve()).encode())
    for name in ("config.json", "weights.safetensors"):
        p = w / name
        if p.is_file():
            st = p.stat()
            h.update(f"{name}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:12]


@register("agent")
class AgentFastSystem(_AgentBase):
    """The agent's balance decision on the mix, called step by step (the fast path, for
    thousands of rows).

    The steps of the review that decide the balance sentence, called directly: the mix decoded
    by the same ingest (``tools.io.ingest.load_mix_and_stems``, resampled to 48 kHz); the listen
    node's inputs to the audio model (its stereo samples, the anchor, all four stems as present,
    the default instruction) answered in batches by :class:`~mixingbuddy.model.listen.Listener`;
    the answer parsed by :func:`~mixingbuddy.agent.claims.parse_claim`; the measure node's
    mix-only stem estimate (``tools.measure.mix_estimate.estimate_stem_levels`` on the same
    samples, which is the only part of ``tools.measure.analyze`` these decisions read); the
    check_claims node's :func:`~mixingbuddy.agent.nodes.check_claims.check_balance` and
    :func:`~mixingbuddy.agent.claims.balance_verdict`. Loudness, spectrum and stereo, which do
    not enter the balance sentence, are skipped. Without trained weights there is no claim and
    the decision falls to the tools alone, as in the agent (which records a degradation).
    """

    def __init__(self, weights=None, use_model: bool = True, batch_size: int = 8, seed: int = 0,
                 use_judge: bool = True, **kw):
        super().__init__(weights=weights, use_model=use_model, seed=seed, **kw)
        self.batch_size = int(batch_size)
        self.use_judge = bool(use_judge)
        self._listener = None
        self._listener_tried = False
        self._listens: dict[str, dict] = {}
        self.judgements: dict[str, dict] = {}
        self.features: dict[str, tuple[str, list[float]]] = {}  # the judge's inputs, per row

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

    def judge(self):
        if not self.use_judge or not self.use_model:
            return None
        from ..agent.balance_judge import load_judge

        return load_judge(self.weights)

    # ---- the model's answers, cached on disk per weights (the benchmark reruns are cheap)
    def _listen_cache_path(self) -> Path | None:
        cd = getattr(self, "cache_dir", None)
        if cd is None or not self.use_model:
            return None
        mode = "stems" if self.with_stems else "mix"
        return Path(cd) / f"listen_{mode}_{weights_fingerprint(self.weights)}.jsonl"

    def _load_listens(self) -> None:
        import json

        p = self._listen_cache_path()
        if p is None or not p.is_file() or self._listens:
            return
        for line in p.read_text(encoding="utf-8").splitlines():
            try:
                d = json.loads(line)
                self._listens[d["id"]] = {"text": d["text"], "class_probs": d["class_probs"]}
            except (ValueError, KeyError, TypeError):
                continue

    def _save_listens(self, ids: Sequence[str]) -> None:
        import json

        p = self._listen_cache_path()
        if p is None or not ids:
            return
        p.parent.mkdir(parents=True, exist_ok=True)
        with p.open("a", encoding="utf-8") as f:
            for i in ids:
                f.write(json.dumps({"id": i, **self._listens[i]}) + "\n")

    def load_row(self, row: dict, corpus_dir):
        """The row's audio as the agent ingests it: (mix Audio, StemSet or None)."""
        from ..tools.io.ingest import load_mix_and_stems

        return load_mix_and_stems(Path(corpus_dir) / row["audio_path"], None)[0], None

    def present_of(self, stems) -> list[str]:
        from ..agent.store import stems_present

        return stems_present(stems)

    def measure(self, row: dict, mix, stems):
        """The verify node's measurements these decisions read, as an AnalysisReport."""
        from ..tools.measure.analyze import AnalysisReport
        from ..tools.measure.mix_estimate import estimate_stem_levels

        return AnalysisReport.model_construct(mix_estimate=estimate_stem_levels(mix.samples, mix.sr),
                                              stem_balance=None, anchor=None)

    def decide(self, rows: Sequence[dict], reports: Sequence, listens: Sequence[dict | None],
               presents: Sequence[Sequence[str]]) -> list[tuple[str, str]]:
        """(balance sentence, norm-question sentence) for each row from its measurements and
        the model's answer (None: no claim), by the agent's claim, judge and verdict functions."""
        from ..agent.claims import balance_verdict, norm_verdict, parse_claim
        from ..agent.nodes.check_claims import check_balance

        judge = self.judge()
        out = []
        for row, rep, lis, present in zip(rows, reports, listens, presents):
            anchor = _model_anchor(row.get("anchor"))
            check = check_balance([parse_claim(lis["text"])] if lis is not None else [], rep,
                                  lis["class_probs"] if lis else None, anchor, present, judge)
            if check.features is not None:
                self.features[row["id"]] = check.features  # fit-judge reads the judge's inputs
            j = check.judgement
            if j is not None:
                self.judgements[row["id"]] = j.to_json()
            state = {"report": rep, "claims": check.claims, "anchor": row.get("anchor"),
                     "balance_judgement": j.to_json() if j is not None else None}
            out.append((balance_verdict(state), norm_verdict(state)))
        return out

    def prepare(self, rows, corpus_dir) -> None:
        from tqdm import tqdm

        self._corpus_dir = corpus_dir
        todo = [r for r in rows if r["id"] not in self._texts]
        lst = self.listener() if todo else None
        self._load_listens()
        bar = tqdm(total=len(todo), desc=self.name, unit="clip", file=sys.stderr,
                   disable=not self.progress or None, leave=False)
        step = max(1, self.batch_size)
        for i in range(0, len(todo), step):
            chunk = todo[i:i + step]
            loaded = [self.load_row(r, corpus_dir) for r in chunk]
            presents = [self.present_of(st) for _, st in loaded]
            if lst is not None:
                need = [j for j, r in enumerate(chunk) if r["id"] not in self._listens]
                for sr in sorted({loaded[j][0].sr for j in need}):
                    idx = [j for j in need if loaded[j][0].sr == sr]
                    res = lst.listen_many([loaded[j][0].stereo() for j in idx], sr,
                                          [_model_anchor(chunk[j].get("anchor")) for j in idx],
                                          [presents[j] for j in idx])
                    for j, r in zip(idx, res):
                        self._listens[chunk[j]["id"]] = {"text": str(r.text), "class_probs": dict(r.class_probs)}
                self._save_listens([chunk[j]["id"] for j in need])
            listens = [self._listens.get(r["id"]) if lst is not None else None for r in chunk]
            reports = [self.measure(r, mix, st) for r, (mix, st) in zip(chunk, loaded)]
            for r, (text, norm_text) in zip(chunk, self.decide(chunk, reports, listens, presents)):
                self._texts[r["id"]] = text
                self._norm_texts[r["id"]] = norm_text
            bar.update(len(chunk))
        bar.close()

@register("agent-stems")
class AgentStemsSystem(AgentFastSystem):
    """The agent's decisions when the producer also gives the stems (the corpus must be built
    with ``--keep-stems`` for the split): the mix and the row's four stem files ingested
    together, the audio model told which stems exist, the measure node's stem-balance
    measurement (each stem against the rest, the mix and the named anchor), the judge's
    ``stems`` variant. It answers the norm-referenced question with its own measurement
    (:func:`~mixingbuddy.agent.claims.norm_verdict`)."""

    with_stems = True

    def load_row(self, row: dict, corpus_dir):
        from ..tools.io.ingest import load_mix_and_stems

        return load_mix_and_stems(Path(corpus_dir) / row["audio_path"], self.stem_files(row, corpus_dir))

    def measure(self, row: dict, mix, stems):
        from ..tools.measure.analyze import AnalysisReport
        from ..tools.measure.stem_balance import measure_stem_balance

        anchor = row.get("anchor") if row.get("anchor") in stems.stems else None
        # the measure node's call (tools.measure.analyze): the stems by role, the named anchor
        sb = measure_stem_balance({r: a.samples for r, a in stems.stems.items()}, stems.sr, anchor=anchor)
        return AnalysisReport.model_construct(mix_estimate=None, stem_balance=sb, anchor=anchor)


@register("agent-sep")
class AgentSepSystem(AgentFastSystem):
    """The agent's decisions on a bounced mix with separation switched on (the corpus gives the
    mix only): the measure node's measurements on stems separated from the clip
    (:mod:`.separated`, the whole clip), i.e. the stem balance marked as separated beside the
    mix-only estimate (``tools.measure.analyze`` with ``separation=``), the judge's ``stems`` variant,
    and the norm-referenced answer from the separated stem balance. HT-Demucs was trained on
    MUSDB18's training songs: on MUSDB18 clips this flatters it."""

    def advise_norm(self, row: dict) -> str | None:
        return self._norm_texts.get(row["id"])

    def measure(self, row: dict, mix, stems):
        from ..tools.measure.analyze import AnalysisReport
        from ..tools.measure.mix_estimate import estimate_stem_levels
        from ..tools.measure.stem_balance import measure_stem_balance
        from ..tools.separate.evidence import annotate_stem_balance
        from .separated import separated_clip

        sep = separated_clip(row, self._corpus_dir)
        est = estimate_stem_levels(mix.samples, mix.sr)
        sb = measure_stem_balance(dict(sep.stems), sep.sr, anchor=None)
        sb, info = annotate_stem_balance(sb, sep.summary(levels=False), est)
        return AnalysisReport.model_construct(mix_estimate=est, stem_balance=sb, separation=info, anchor=None)


@register("agent-full")
class AgentFullSystem(_AgentBase):
    """A full :meth:`MixingBuddy.review` of each row's mix (embedded default, no LLM).

    On each row's file (no language model, a temporary home), then ``balance_verdict`` of the
    stored conversation state. The whole graph: ingest, listen, measure (every standing
    measurement), check_claims, compose, the SQLite checkpointer.
    """

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
        from ..agent.claims import balance_verdict, norm_verdict

        buddy = self.buddy()
        tid = f"row{index:06d}"
        stems = self.stem_files(row, self._corpus_dir) if self.with_stems else None
        rv = buddy.review(str(path), stems=stems, anchor=row.get("anchor"), thread_id=tid)
        for d in rv.degradations:
            if d not in self.degradations:
                self.degradations.append(d)
        # the stored state holds the anchor the user named (the report has none without stems)
        st = buddy.state(tid)
        text = balance_verdict(st)
        if self.with_stems:
            self._norm_texts[row["id"]] = norm_verdict(st)
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


@register("agent-full-stems")
class AgentFullStemsSystem(AgentFullSystem):
    """A full review of each row's mix with its four stem files (``--keep-stems`` corpora): the
    whole graph as a producer with stems runs it; ``agent-stems`` is its fast path."""

    with_stems = True


__all__ = ["AgentFullStemsSystem", "AgentFastSystem", "AgentFullSystem", "AgentSepSystem", "AgentStemsSystem",
           "weights_fingerprint"]
