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

from langchain_core.messages import RemoveMessage
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph.message import REMOVE_ALL_MESSAGES
from langgraph.types import Overwrite

from ..tools.errors import InvalidArgumentError
from ..tools.io.audio import STEM_ROLES
from ..tools.io.stems import check_roles, is_stem_mp4_name
from ..tools.measure.loudness import PLATFORM_TARGETS
from .context import AgentContext, resolve_llm
from .graph import compile_graph
from .home import (
    NO_ANSWER,
    UNLOCKED_REVIEW_GRACE_S,
    ThreadIndex,
    ThreadLock,
    ThreadSummary,
    folder_bytes,
    retention_days_from_env,
)
from .schema import Review, Turn
from .state import STATE_MODELS, TURN_KEYS, as_json, typed
from .store import DEFAULT_MAX_DURATION_S, ThreadStore, check_thread_id

__all__ = ["MAX_QUESTION_CHARS", "NO_ANSWER", "MixingBuddy", "ThreadSummary", "default_home"]

log = logging.getLogger("mixingbuddy.agent")
MAX_QUESTION_CHARS = 2000
DAY_S = 86_400.0


def default_home() -> Path:
    return Path(os.environ.get("MIXINGBUDDY_HOME") or Path.home() / ".mixingbuddy").expanduser()


def _path_arg(value: Any, what: str) -> str:
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise InvalidArgumentError(f"{what} must be a file path, got {type(value).__name__}")
    return os.fspath(value)


class MixingBuddy:
    """The agent (see the module docstring for an example).

    A conversation is a LangGraph thread checkpointed in ``<home>/conversations.sqlite``
    (``SqliteSaver``, only its latest checkpoint kept); its input files are stored once in
    ``<home>/blobs/`` and linked from ``<home>/threads/<thread_id>/``. Both survive a process
    restart: a new ``MixingBuddy`` on the same home continues any thread.

    Bad input raises a ``tools.errors.MixingBuddyError`` subclass with a one-line message, and a
    review that fails leaves no thread behind. Opening a home heals it (:meth:`_heal`): a review
    a killed process left half done is removed, and with ``retention_days`` (or
    ``MIXINGBUDDY_RETENTION_DAYS``; default: keep everything) conversations unused for longer
    are deleted. ``notes`` says what opening the home found and did.
    """

    def __init__(self, home: str | Path | None = None, *, llm: Any = "env",
                 weights: str | Path | None = None, use_model: bool = True, separate: bool | None = None,
                 retention_days: float | None | str = "env"):
        self.home = Path(home).expanduser() if home is not None else default_home()
        self.home.mkdir(parents=True, exist_ok=True)
        self.store = ThreadStore(self.home)
        self.llm = resolve_llm(llm)
        self.weights = str(weights) if weights is not None else None
        self.use_model = bool(use_model)
        # None: on unless MIXINGBUDDY_SEPARATE=0 (it also needs the weights the set-up fetches)
        self.separate = (os.environ.get("MIXINGBUDDY_SEPARATE", "1").strip() not in ("0", "false", "no", "off")
                         if separate is None else bool(separate))
        if retention_days == "env":
            retention_days = retention_days_from_env()
        elif retention_days is not None and (isinstance(retention_days, bool) or not isinstance(
                retention_days, (int, float)) or not 0 < retention_days < float("inf")):
            raise InvalidArgumentError(f"retention_days must be a positive number of days or None, got {retention_days!r}")
        self.retention_days = retention_days
        self.notes: list[str] = []  # what opening the home found and repaired
        self._conn, self._saver = self._open_database(self.home / "conversations.sqlite")
        self.index = ThreadIndex(self._saver)
        self.graph = compile_graph(self._saver)
        self._lock = threading.Lock()  # guards the two dicts below
        self._reviewing: set[str] = set()  # thread ids whose review is running
        self._turn_locks: dict[str, threading.Lock] = {}  # one turn at a time per thread
        self._heal()

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

    def _note(self, text: str) -> None:
        log.warning(text)
        self.notes.append(text)

    def _in_use(self, thread_id: str, row: dict | None) -> bool:
        """Whether a process (this one included) is reviewing or answering on the thread."""
        if ThreadLock(self.home, thread_id).busy():
            return True
        from .home import fcntl

        return (fcntl is None and row is not None and row["status"] == "reviewing"
                and time.time() - row["last_active_unix"] < UNLOCKED_REVIEW_GRACE_S)

    def _heal(self) -> None:
        """Open-time repair. A thread with checkpoints but no finished review, that no process
        holds, was cut short by a killed process: its checkpoints and files are removed. A
        finished review not in the index yet (a home from before the index, or a process killed
        just after the review) is indexed. A review row with neither checkpoints nor a running
        process is removed with its folder; folders the database knows nothing about (e.g. after
        a damaged database was set aside) are kept. Then the retention setting, then the blobs
        nothing refers to."""
        rows, stored = self.index.rows(), self.index.checkpointed()
        for tid, (first, _last) in stored.items():
            row = rows.get(tid)
            if (row and row["status"] == "done") or self._in_use(tid, row):
                continue
            try:
                snap = self.graph.get_state(self._config(tid))
            except Exception:  # noqa: BLE001 - unreadable: leave it for the user to delete
                log.warning("could not read conversation %s while opening the home", tid, exc_info=True)
                continue
            values = snap.values or {}
            if values.get("report"):
                self._index_stored(tid, values, first, snap.created_at)
            else:
                self._discard(tid)
                self._note(f"removed conversation {tid}: its review was cut short (the process stopped "
                           "before it finished) and it held no answer")
        for tid, row in rows.items():
            if tid in stored:
                continue
            if row["status"] == "reviewing" and not self._in_use(tid, row):
                self._discard(tid)
                self._note(f"removed conversation {tid}: its review was cut short before anything was stored")
            elif row["status"] == "done":  # checkpoints deleted behind our back; the files stay listed
                self.index.remove(tid)
        if self.retention_days is not None:
            # folders whose record went with a damaged database are kept: only an explicit prune deletes them
            gone = self.prune(older_than_days=self.retention_days, _statuses=("done",))
            if gone:
                self._note(f"retention: deleted {len(gone)} conversation(s) unused for more than "
                           f"{self.retention_days:g} days ({', '.join(gone[:5])}{' ...' if len(gone) > 5 else ''})")
        self.store.blobs.collect_garbage()

    def _index_stored(self, tid: str, values: dict, first_checkpoint: str, last_ts: str | None) -> None:
        """Index a finished review found in the checkpoints (times from the checkpoints' own
        timestamps, turns from the stored answers after the review's)."""
        from datetime import datetime

        def unix(ts: str | None) -> float:
            try:
                return datetime.fromisoformat(str(ts)).timestamp()
            except ValueError:
                return time.time()

        first = self._saver.get_tuple({"configurable": {"thread_id": tid, "checkpoint_ns": "",
                                                        "checkpoint_id": first_checkpoint}})
        created = unix(first.checkpoint.get("ts") if first else last_ts)
        answers = sum(1 for m in values.get("messages") or [] if m.get("role") == "assistant")
        self.index.put(tid, created_unix=created, last_active_unix=max(created, unix(last_ts)),
                       title=(values.get("audio") or {}).get("mix_name"), turns=max(0, answers - 1), status="done")

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
            try:  # the follow-up router, fitted once per process (a few seconds) before the first question
                from .intents import get_router

                get_router()
            except Exception:  # noqa: BLE001 - the route node fits it (and reports) on the first question
                log.warning("the question router did not fit at start-up", exc_info=True)

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

    def _context(self, on_progress, on_text=None) -> AgentContext:
        return AgentContext(store=self.store, weights=self.weights, use_model=self.use_model,
                            llm=self.llm, on_progress=on_progress, on_text=on_text, log=log,
                            separate=self.separate)

    def _values(self, thread_id: str) -> dict:
        tid = check_thread_id(thread_id)
        values = dict(self.graph.get_state(self._config(tid)).values or {})
        if not values.get("report"):
            raise InvalidArgumentError(f"unknown conversation {tid!r}: no review was stored under that id")
        return values

    def _discard(self, thread_id: str) -> None:
        """Remove every trace of a thread (a failed review must not leave half a thread): its
        checkpoints and pending writes, its index row, its folder, and blobs only it used."""
        try:
            self._saver.delete_thread(thread_id)
            self.index.remove(thread_id)
        except Exception:
            log.warning("could not delete checkpoints of %s", thread_id, exc_info=True)
        self.store.remove(thread_id)
        ThreadLock(self.home, thread_id).path.unlink(missing_ok=True)
        self.store.blobs.collect_garbage()

    # ------------------------------------------------------------------ the API

    def review(self, mix: str | Path, *, stems: list[str | Path] | str | Path | None = None,
               reference: str | Path | None = None, anchor: str | None = None, platform: str = "spotify",
               genre: str | None = None, thread_id: str | None = None,
               on_progress: Callable[[str, str], None] | None = None,
               stem_roles: dict[str, str] | None = None,
               max_duration_s: float = DEFAULT_MAX_DURATION_S,
               on_text: Callable[[str], None] | None = None) -> Review:
        """Review a mix: listen, measure, check the claims, compose. ``stems``: a list of stem files, or
        one folder / ``.stem.mp4`` (alone or as a one-item list); ``stem_roles`` maps a stem
        file's name to its role when its name does not say it. ``on_text``: with a streaming
        language model, called with each longer checked prefix of its answer (the final answer,
        in the returned :class:`Review`, may differ: the guard judges the whole). Returns the
        :class:`Review`."""
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
            held = ThreadLock(self.home, tid)
            if not held.acquire(blocking=False):  # the OS drops it if this process is killed
                raise InvalidArgumentError(f"conversation {tid!r} is being reviewed by another process")
            self._reviewing.add(tid)
        if stored:  # half a thread left by a process that died mid-review: start it afresh
            self._discard(tid)
        try:
            self.index.started(tid)
            ctx = self._context(on_progress, on_text)
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
            self.index.finished(tid, (out.get("audio") or {}).get("mix_name"))
            self.index.compact(tid)
        finally:
            held.release()
            with self._lock:
                self._reviewing.discard(tid)
        return Review(thread_id=tid, answer=out["answer"],
                      findings=list(out.get("findings") or []), claims=list(out.get("claims") or []),
                      report=as_json(out["report"]), source=out.get("source", "composer"),
                      degradations=list(out.get("degradations") or []),
                      timings_s=dict(out.get("timings_s") or {}),
                      balance_judgement=out.get("balance_judgement"))

    def ask(self, thread_id: str, question: str, *,
            on_progress: Callable[[str, str], None] | None = None,
            on_text: Callable[[str], None] | None = None) -> Turn:
        """Answer a follow-up question in an existing conversation (``on_text`` as in :meth:`review`)."""
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
        # two questions on one thread are answered one after the other, in one process or several
        with turn_lock, ThreadLock(self.home, thread_id):
            now = self._values(thread_id)  # re-read: a turn may have ended while this one waited
            before = {"messages": len(now.get("messages") or []), "evidence": len(now.get("evidence") or []),
                      **{k: as_json(now.get(k)) for k in TURN_KEYS}}
            undo = [*(now.get("turn_undo") or []), before]
            out = self.graph.invoke({"mode": "followup", "question": question, "turn_undo": undo},
                                    self._config(thread_id), context=self._context(on_progress, on_text))
            self.index.answered(thread_id)
            self.index.compact(thread_id)
        return Turn(thread_id=thread_id, question=question, answer=out["answer"],
                    source=out.get("source", "composer"), degradations=list(out.get("degradations") or []),
                    timings_s=dict(out.get("timings_s") or {}))

    def retract_last_turn(self, thread_id: str) -> dict[str, str]:
        """Take back the last follow-up question and its answer: they leave :meth:`history`, and
        the context later answers use (``messages``, ``evidence``, ``focus``, ``focus_stem``, the
        previous ``route``...) is restored to what it was before that question, from the entry
        :meth:`ask` kept in ``turn_undo``. The app's undo is this; its retry and edit are this and
        :meth:`ask`. Returns the retracted ``{"question", "answer"}`` (``answer`` is ``NO_ANSWER``
        when the turn never finished). Raises ``InvalidArgumentError`` for an unknown thread or one
        with no follow-up question left to take back (the review itself stays)."""
        tid = check_thread_id(thread_id)
        self._values(tid)  # unknown thread -> InvalidArgumentError
        with self._lock:
            turn_lock = self._turn_locks.setdefault(tid, threading.Lock())
        with turn_lock, ThreadLock(self.home, tid):
            values = self._values(tid)
            undo = list(values.get("turn_undo") or [])
            if not undo:
                raise InvalidArgumentError(f"conversation {tid!r} has no follow-up question to take back")
            before = undo.pop()
            messages = list(values.get("messages") or [])
            n = int(before["messages"])
            gone = messages[n:]
            question = next((m["content"] for m in gone if m.get("role") == "user"), "")
            answer = next((m["content"] for m in gone if m.get("role") == "assistant"), NO_ANSWER)
            restored: dict[str, Any] = {k: before.get(k) for k in TURN_KEYS}
            restored["focus"] = restored["focus"] or []
            self.graph.update_state(self._config(tid), {
                **restored, "tool_results": None, "turn_undo": undo,
                "messages": Overwrite(messages[:n]),
                "evidence": Overwrite(list(values.get("evidence") or [])[:int(before["evidence"])]),
                "llm_messages": [RemoveMessage(id=REMOVE_ALL_MESSAGES)]})
            self.index.compact(tid)
            row = self.index.rows().get(tid)
            if row is not None and any(m.get("role") == "assistant" for m in gone):
                self.index.put(tid, **{**{k: row[k] for k in ("created_unix", "title", "status")},
                                      "last_active_unix": time.time(), "turns": max(0, int(row["turns"]) - 1)})
        log.info("retracted the last question of %s", tid)
        return {"question": question, "answer": answer}

    def history(self, thread_id: str) -> list[dict]:
        """Every turn of the conversation: ``[{"role": "user"|"assistant", "content": str}, ...]``.

        A question whose answer never came (the process answering it was killed, or the turn
        failed) is followed by ``{"role": "assistant", "content": NO_ANSWER}`` ("(no answer:
        interrupted)"), unless it is the last question and is being answered right now."""
        messages = [dict(m) for m in self._values(thread_id).get("messages") or []]
        out: list[dict] = []
        for i, m in enumerate(messages):
            out.append(m)
            if m.get("role") != "user":
                continue
            nxt = messages[i + 1] if i + 1 < len(messages) else None
            if nxt is not None and nxt.get("role") == "user":
                out.append({"role": "assistant", "content": NO_ANSWER})
            elif nxt is None and not self._answering(thread_id):
                out.append({"role": "assistant", "content": NO_ANSWER})
        return out

    def _answering(self, thread_id: str) -> bool:
        with self._lock:
            turn_lock = self._turn_locks.get(thread_id)
        return bool(turn_lock and turn_lock.locked()) or thread_id in self._reviewing or self._in_use(thread_id, None)

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
        """Conversation ids in this home, most recent first: every finished review, and a review
        still running (it may be listed before it holds a report). A review a killed process cut
        short is removed when a home is opened; :meth:`thread_summaries` gives the details, and
        also lists folders whose record was lost with a damaged database."""
        try:
            rows = self._conn.execute(
                "SELECT thread_id, MAX(checkpoint_id) AS last FROM checkpoints "
                "GROUP BY thread_id ORDER BY last DESC").fetchall()
            return [r[0] for r in rows]
        except sqlite3.Error:
            return sorted({c.config["configurable"]["thread_id"] for c in self._saver.list(None)})

    def thread_summaries(self) -> list[ThreadSummary]:
        """Every conversation of this home, most recently used first: id, created and last-active
        times (Unix seconds), title (the mix's name), answered follow-ups, status and size on disk
        (:class:`~mixingbuddy.agent.home.ThreadSummary`). The CLI's ``threads list`` and the app's
        conversation list both read this."""
        rows, stored = self.index.rows(), self.index.checkpointed()
        out: list[ThreadSummary] = []
        for tid in sorted(set(rows) | set(stored) | set(self.store.thread_ids())):
            row = rows.get(tid)
            size, frees = folder_bytes(self.store.root / tid)
            if row is not None:
                status = row["status"] if tid in stored or row["status"] == "reviewing" else "audio_only"
                out.append(ThreadSummary(tid, row["created_unix"], row["last_active_unix"], row["title"],
                                         int(row["turns"]), status, size, frees))
                continue
            folder = self.store.root / tid
            mtime = folder.stat().st_mtime if folder.is_dir() else time.time()
            # checkpoints without a row: a review another process is running (not indexed yet)
            out.append(ThreadSummary(tid, mtime, mtime, None, 0, "reviewing" if tid in stored else "audio_only",
                                     size, frees))
        out.sort(key=lambda t: t.last_active_unix, reverse=True)
        return out

    def delete_thread(self, thread_id: str) -> int:
        """Delete a conversation: its checkpoints and pending writes (every LangGraph table), its
        index row, its folder and the blobs no other conversation uses. Returns the bytes of
        files freed. Raises ``InvalidArgumentError`` for an unknown id or one in use (a review or
        an answer running in some process)."""
        tid = check_thread_id(thread_id)
        known = tid in self.index.rows() or tid in self.index.checkpointed() or self.store.exists(tid)
        if not known:
            raise InvalidArgumentError(f"unknown conversation {tid!r}: nothing is stored under that id")
        held = ThreadLock(self.home, tid)
        with self._lock:
            busy = tid in self._reviewing or not held.acquire(blocking=False)
        if busy:
            raise InvalidArgumentError(f"conversation {tid!r} is in use (a review or an answer is running); "
                                       "try again when it has finished")
        try:
            frees = folder_bytes(self.store.root / tid)[1]
            self._discard(tid)
        finally:
            held.release()
        log.info("deleted conversation %s (%d bytes freed)", tid, frees)
        return frees

    def prune(self, *, older_than_days: float | None = None, keep: int | None = None,
              dry_run: bool = False, _statuses: tuple[str, ...] = ("done", "audio_only")) -> list[str]:
        """Delete conversations last used more than ``older_than_days`` ago and/or beyond the
        ``keep`` most recently used; with both, a conversation goes only when it is both old and
        beyond the newest ``keep``. Conversations in use are skipped. Returns the deleted ids
        (with ``dry_run``, those that would be)."""
        if older_than_days is None and keep is None:
            raise InvalidArgumentError("prune needs older_than_days and/or keep")
        if older_than_days is not None and (isinstance(older_than_days, bool) or not isinstance(
                older_than_days, (int, float)) or not 0 <= older_than_days < float("inf")):
            raise InvalidArgumentError(f"older_than_days must be a number of days >= 0, got {older_than_days!r}")
        if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 0):
            raise InvalidArgumentError(f"keep must be a whole number >= 0, got {keep!r}")
        now = time.time()
        candidates = [t for t in self.thread_summaries() if t.status in _statuses]  # newest first
        gone: list[str] = []
        for rank, t in enumerate(candidates):
            old = older_than_days is None or now - t.last_active_unix > older_than_days * DAY_S
            beyond = keep is None or rank >= keep
            if not (old and beyond):
                continue
            if dry_run:
                gone.append(t.thread_id)
                continue
            try:
                self.delete_thread(t.thread_id)
                gone.append(t.thread_id)
            except InvalidArgumentError:  # started being used meanwhile
                continue
        if gone and not dry_run:
            self.index.vacuum()
        return gone
