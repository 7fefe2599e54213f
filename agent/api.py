"""MixingBuddy's Python API: review a mix, then keep talking about it.

    from mixingbuddy.agent.api import MixingBuddy
    buddy = MixingBuddy()                      # home: $MIXINGBUDDY_HOME or ~/.mixingbuddy
    rv = buddy.review("mix.wav", stems=["stems/"], platform="spotify")
    print(rv.answer)
    print(buddy.ask(rv.thread_id, "is it loud enough for Spotify?").answer)
"""
from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver

from ..tools.errors import InvalidArgumentError
from ..tools.io.audio import STEM_ROLES
from ..tools.io.stems import check_roles, is_stem_mp4_name
from ..tools.measure.loudness import PLATFORM_TARGETS
from .context import AgentContext, resolve_llm
from .graph import compile_graph
from .schema import Review, Turn
from .state import STATE_MODELS, as_json, typed
from .store import DEFAULT_MAX_DURATION_S, ThreadStore, check_thread_id

log = logging.getLogger("mixingbuddy.agent")
MAX_QUESTION_CHARS = 2000


def default_home() -> Path:
    return Path(os.environ.get("MIXINGBUDDY_HOME") or Path.home() / ".mixingbuddy").expanduser()


def _path_arg(value: Any, what: str) -> str:
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise InvalidArgumentError(f"{what} must be a file path, got {type(value).__name__}")
    return os.fspath(value)


class MixingBuddy:
    """The agent (see the module docstring for an example).

    A conversation is a LangGraph thread checkpointed in ``<home>/conversations.sqlite``
    (``SqliteSaver``); its audio is copied to ``<home>/threads/<thread_id>/``. Both survive a
    process restart: a new ``MixingBuddy`` on the same home continues any thread.

    Bad input raises a ``tools.errors.MixingBuddyError`` subclass with a one-line message, and a
    review that fails leaves no thread behind.
    """

    def __init__(self, home: str | Path | None = None, *, llm: Any = "env",
                 weights: str | Path | None = None, use_model: bool = True, separate: bool | None = None):
        self.home = Path(home).expanduser() if home is not None else default_home()
        self.home.mkdir(parents=True, exist_ok=True)
        self.store = ThreadStore(self.home)
        self.llm = resolve_llm(llm)
        self.weights = str(weights) if weights is not None else None
        self.use_model = bool(use_model)
        # None: on unless MIXINGBUDDY_SEPARATE=0 (it also needs the weights the set-up fetches)
        self.separate = (os.environ.get("MIXINGBUDDY_SEPARATE", "1").strip() not in ("0", "false", "no", "off")
                         if separate is None else bool(separate))
        self.notes: list[str] = []  # what opening the home found and repaired
        self._conn, self._saver = self._open_database(self.home / "conversations.sqlite")
        self.graph = compile_graph(self._saver)
        self._lock = threading.Lock()  # guards the two dicts below
        self._reviewing: set[str] = set()  # thread ids whose review is running
        self._turn_locks: dict[str, threading.Lock] = {}  # one turn at a time per thread

    # ------------------------------------------------------------------ lifecycle

    def _open_database(self, path: Path) -> tuple[sqlite3.Connection, SqliteSaver]:
        """The conversation database, checked: a file SQLite cannot read, or an empty file where
        conversations were kept, is moved aside (``conversations.sqlite.damaged-<time>``, kept for
        recovery) and a fresh one started; ``notes`` says so."""
        stored = self.store.root.is_dir() and any(self.store.root.iterdir())
        damaged = None
        if path.exists() and path.stat().st_size == 0 and stored:
            damaged = "it is empty"
        if damaged is None:
            try:
                conn = sqlite3.connect(str(path), check_same_thread=False)
                ok = conn.execute("PRAGMA quick_check").fetchone()
                if ok is None or ok[0] != "ok":
                    raise sqlite3.DatabaseError(str(ok[0] if ok else "no answer to a quick check"))
                return conn, self._saver_on(conn)
            except sqlite3.DatabaseError as e:
                damaged = " ".join(str(e).split())[:120] or type(e).__name__
                try:
                    conn.close()
                except Exception:  # noqa: BLE001 - the file is being set aside anyway
                    pass
        aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        path.replace(aside)
        for extra in ("-wal", "-shm", "-journal"):
            side = path.with_name(path.name + extra)
            if side.exists():
                side.replace(aside.with_name(aside.name + extra))
        note = (f"the conversation database could not be read ({damaged}); it was moved aside to {aside.name} "
                "and a fresh one started (the stored audio of earlier conversations is kept)")
        log.warning(note)
        self.notes.append(note)
        conn = sqlite3.connect(str(path), check_same_thread=False)
        return conn, self._saver_on(conn)

    @staticmethod
    def _saver_on(conn: sqlite3.Connection) -> SqliteSaver:
        # strict deserialisation: a checkpoint may rebuild only LangGraph's safe types (JSON values,
        # LangChain messages) and the state's own models, never an arbitrary class named in the file
        saver = SqliteSaver(conn, serde=JsonPlusSerializer(
            allowed_msgpack_modules=[(m.__module__, m.__name__) for m in STATE_MODELS]))
        saver.setup()
        return saver

    def close(self) -> None:
        conn = getattr(self, "_conn", None)  # None when __init__ failed (an unwritable home)
        if conn is None:
            return
        try:
            conn.close()
        except sqlite3.Error:
            log.debug("closing the conversation database failed", exc_info=True)

    def __enter__(self) -> MixingBuddy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        self.close()

    def warm_up(self) -> threading.Thread:
        """Load the audio model and the separator in a background thread (the app calls this at
        start-up, so the first review does not wait for them). Loads are cached per process, so a
        review that starts meanwhile waits for the same load instead of starting another. Failures
        are only logged: the review reports them as degradations when it gets there."""
        def load() -> None:
            import time

            t0 = time.perf_counter()
            if self.use_model:
                try:
                    from ..model.listen import Listener

                    Listener.load(self.weights)
                    self._model_load = {"state": "ready", "seconds": round(time.perf_counter() - t0, 2)}
                    log.info("audio model ready in %.1f s", time.perf_counter() - t0)
                except Exception as e:  # noqa: BLE001 - the listen node degrades with its own message
                    self._model_load = {"state": "failed", "error": getattr(e, "code", None) or type(e).__name__}
                    log.warning("the audio model did not load at start-up", exc_info=True)
            if self.separate:
                try:
                    from ..tools.separate import SeparatorConfig, load_separator, separator_status
                    from .nodes.measure import SEPARATE_OVERLAP

                    if separator_status().available:  # the session the measure node will use (cached per config)
                        load_separator(SeparatorConfig(overlap=SEPARATE_OVERLAP))
                        log.info("separator ready in %.1f s", time.perf_counter() - t0)
                except Exception:  # noqa: BLE001 - the measure node says why separation is off
                    log.warning("the separator did not load at start-up", exc_info=True)

        if self.use_model:
            self._model_load = {"state": "loading"}
        th = threading.Thread(target=load, name="mixingbuddy-warm-up", daemon=True)
        th.start()
        return th

    def model_status(self) -> dict:
        """The audio model's load, for the app's readiness line (cheap, never blocks):
        ``{"state": ...}`` with ``off`` (``use_model=False``), ``idle`` (not loaded by
        :meth:`warm_up`: it loads with the first review), ``loading``, ``ready`` (plus
        ``seconds``, the load's duration) or ``failed`` (plus ``error``, its code or type)."""
        if not self.use_model:
            return {"state": "off"}
        return dict(getattr(self, "_model_load", None) or {"state": "idle"})

    # ------------------------------------------------------------------ helpers

    def _config(self, thread_id: str) -> dict:
        return {"configurable": {"thread_id": thread_id}}

    def _context(self, on_progress) -> AgentContext:
        return AgentContext(store=self.store, weights=self.weights, use_model=self.use_model,
                            llm=self.llm, on_progress=on_progress, log=log, separate=self.separate)

    def _values(self, thread_id: str) -> dict:
        tid = check_thread_id(thread_id)
        values = dict(self.graph.get_state(self._config(tid)).values or {})
        if not values.get("report"):
            raise InvalidArgumentError(f"unknown conversation {tid!r}: no review was stored under that id")
        return values

    def _discard(self, thread_id: str) -> None:
        """Remove every trace of a thread (a failed review must not leave half a thread)."""
        try:
            self._saver.delete_thread(thread_id)
        except Exception:
            log.warning("could not delete checkpoints of %s", thread_id, exc_info=True)
        self.store.remove(thread_id)

    # ------------------------------------------------------------------ the API

    def review(self, mix: str | Path, *, stems: list[str | Path] | str | Path | None = None,
               reference: str | Path | None = None, anchor: str | None = None, platform: str = "spotify",
               genre: str | None = None, thread_id: str | None = None,
               on_progress: Callable[[str, str], None] | None = None,
               stem_roles: dict[str, str] | None = None,
               max_duration_s: float = DEFAULT_MAX_DURATION_S) -> Review:
        """Review a mix: listen, measure, check the claims, compose. ``stems``: a list of stem files, or
        one folder / ``.stem.mp4`` (alone or as a one-item list); ``stem_roles`` maps a stem
        file's name to its role when its name does not say it. Returns the :class:`Review`."""
        mix_p = _path_arg(mix, "mix")
        if platform not in PLATFORM_TARGETS:
            raise InvalidArgumentError(
                f"unknown platform {platform!r}; choose one of {', '.join(PLATFORM_TARGETS)}")
        if anchor is not None and anchor not in STEM_ROLES:
            raise InvalidArgumentError(f"anchor must be one of {', '.join(STEM_ROLES)}, got {anchor!r}")
        if genre is not None and (not isinstance(genre, str) or len(genre) > 60):
            raise InvalidArgumentError("genre must be a short text (at most 60 characters)")
        stems_spec: Any = None
        if stems is not None:
            items = [stems] if isinstance(stems, (str, os.PathLike)) else list(stems)
            items = [_path_arg(s, "a stem") for s in items]
            if not items:
                raise InvalidArgumentError("stems is an empty list; leave it out for a mix-only review")
            single = len(items) == 1 and (os.path.isdir(items[0]) or is_stem_mp4_name(items[0]))
            stems_spec = items[0] if single else items
        ref_p = _path_arg(reference, "reference") if reference is not None else None
        roles = check_roles(stem_roles)  # a clear error for a list, a string or a bad role, up front
        tid = check_thread_id(thread_id) if thread_id is not None else uuid.uuid4().hex[:16]
        with self._lock:
            stored = self.graph.get_state(self._config(tid)).values
            if tid in self._reviewing or (stored and stored.get("report")):
                raise InvalidArgumentError(
                    f"conversation {tid!r} already holds a review; ask follow-up questions with ask(), "
                    "or start a new conversation")
            self._reviewing.add(tid)
        if stored:  # half a thread left by a process that died mid-review: start it afresh
            self._discard(tid)
        try:
            ctx = self._context(on_progress)
            ctx.max_duration_s = float(max_duration_s)
            inputs = {"mix": mix_p, "stems": stems_spec, "reference": ref_p, "anchor": anchor,
                      "platform": platform, "platform_label": PLATFORM_TARGETS[platform].label,
                      "genre": genre, "stem_roles": roles}
            try:
                out = self.graph.invoke({"mode": "review", "thread_id": tid, "inputs": inputs},
                                        self._config(tid), context=ctx)
            except BaseException:
                self._discard(tid)
                raise
        finally:
            with self._lock:
                self._reviewing.discard(tid)
        return Review(thread_id=tid, answer=out["answer"],
                      findings=list(out.get("findings") or []), claims=list(out.get("claims") or []),
                      report=as_json(out["report"]), source=out.get("source", "composer"),
                      degradations=list(out.get("degradations") or []),
                      timings_s=dict(out.get("timings_s") or {}),
                      balance_judgement=out.get("balance_judgement"))

    def ask(self, thread_id: str, question: str, *,
            on_progress: Callable[[str, str], None] | None = None) -> Turn:
        """Answer a follow-up question in an existing conversation."""
        if not isinstance(question, str) or not question.strip():
            raise InvalidArgumentError("the question is empty")
        if len(question) > MAX_QUESTION_CHARS:
            raise InvalidArgumentError(f"the question is too long (at most {MAX_QUESTION_CHARS} characters)")
        question = " ".join(question.split())
        values = self._values(thread_id)  # unknown thread -> InvalidArgumentError
        upgrade = typed(values)
        if upgrade:  # a conversation stored before the state was typed
            self.graph.update_state(self._config(thread_id), upgrade)
        with self._lock:
            turn_lock = self._turn_locks.setdefault(thread_id, threading.Lock())
        with turn_lock:  # two questions on one thread are answered one after the other
            out = self.graph.invoke({"mode": "followup", "question": question}, self._config(thread_id),
                                    context=self._context(on_progress))
        return Turn(thread_id=thread_id, question=question, answer=out["answer"],
                    source=out.get("source", "composer"), degradations=list(out.get("degradations") or []),
                    timings_s=dict(out.get("timings_s") or {}))

    def history(self, thread_id: str) -> list[dict]:
        """Every turn of the conversation: ``[{"role": "user"|"assistant", "content": str}, ...]``."""
        return [dict(m) for m in self._values(thread_id).get("messages") or []]

    def state(self, thread_id: str) -> dict:
        """The stored values as JSON: ``report``, ``claims``, ``findings``, ``audio`` (stored file
        paths), ``evidence``, ``messages``, ``listen``, ``platform``, ``anchor``... and
        ``llm_messages``, the last language-model turn in the chat-completions format."""
        values = self._values(thread_id)
        if values.get("llm_messages"):
            from .endpoint import endpoint_messages

            values["llm_messages"] = endpoint_messages(values["llm_messages"])
        return as_json(values)

    def threads(self) -> list[str]:
        """Conversation ids in this home, most recent first (a review still running, or one cut
        short by a crash, may be listed before it holds a report)."""
        try:
            rows = self._conn.execute(
                "SELECT thread_id, MAX(checkpoint_id) AS last FROM checkpoints "
                "GROUP BY thread_id ORDER BY last DESC").fetchall()
            return [r[0] for r in rows]
        except sqlite3.Error:
            return sorted({c.config["configurable"]["thread_id"] for c in self._saver.list(None)})
