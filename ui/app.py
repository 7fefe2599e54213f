"""The browser app: a Gradio chat that reviews a mix, shows the measurements, and keeps talking.

:func:`build_app` makes the page (upload, review with streamed progress, findings, figures,
audition panel, downloads, follow-up questions); conversations survive a reload and a server
restart, and errors reach the chat as one line (:func:`error_line`), never as a traceback.
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr

from ..tools.errors import InvalidArgumentError, MixingBuddyError, sanitize_name
from ..tools.io.audio import STEM_ROLES
from ..tools.measure.loudness import PLATFORM_TARGETS
from .uploads import UploadLimits, UploadSession, cleanup_stale, prepare_upload

log = logging.getLogger("mixingbuddy.ui")

ANCHOR_AUTO = "auto"
GENRE_ANY = "any"
GENRES = (GENRE_ANY, "pop", "rock", "electronic", "hip-hop", "r&b", "jazz", "acoustic", "metal",
          "classical")
DEFAULT_PLATFORM = "spotify"
STORAGE_KEY = "mixingbuddy-thread"
# Gradio itself refuses any one file above this multiple of the upload limit (a hard cap that
# protects the disk); files between the limit and the cap reach ui.uploads, whose message is
# shown in the chat.
HARD_FILE_FACTOR = 2
PROGRESS_POLL_S = 0.2
MODEL_POLL_S = 1.0  # the readiness line's polling period while the audio model loads
PROGRESS_LINES = 12
PLOT_TABS = (("spectrum", "Spectrum"), ("loudness", "Loudness"), ("stem_levels", "Stem balance"),
             ("masking", "Masking"), ("waveform", "Waveform"))
NO_THREAD = "Upload a mix and press Review first; follow-up questions continue that conversation."
_URL_JS = """(thread) => {
  const url = new URL(window.location.href);
  if (thread) { url.searchParams.set("thread", thread); } else { url.searchParams.delete("thread"); }
  window.history.replaceState(null, "", url);
  return [];
}"""


# ----------------------------------------------------------------------------- the agent, lazily


class AgentHandle:
    """The app's ``MixingBuddy``: given, or made by a factory on first use (thread-safe)."""

    def __init__(self, mb: Any):
        self._lock = threading.Lock()
        if callable(mb) and not hasattr(mb, "review"):
            self._factory, self._mb = mb, None
        else:
            self._factory, self._mb = None, mb

    @property
    def loaded(self) -> bool:
        return self._mb is not None

    def get(self) -> Any:
        if self._mb is None:
            with self._lock:
                if self._mb is None:
                    if self._factory is None:
                        raise InvalidArgumentError("no MixingBuddy agent is configured for this app")
                    self._mb = self._factory()
        return self._mb


def default_factory(home: str | os.PathLike | None = None, **kwargs: Any) -> Callable[[], Any]:
    """A factory for the agent (imported only when called)."""

    def make():
        from ..agent.api import MixingBuddy

        return MixingBuddy(home, **kwargs)

    return make


# ----------------------------------------------------------------------------- text helpers


def error_line(exc: BaseException) -> str:
    """One line for the chat: typed errors as ``error[code]: message``; anything else names
    its type only (the traceback goes to the server log)."""
    if isinstance(exc, MixingBuddyError):
        return f"error[{exc.code}]: {' '.join(str(exc).split())}"
    return (f"error[internal]: the request failed on the server ({type(exc).__name__}); "
            "it was logged. Try again, or with a different file.")


def _as_dict(x: Any) -> dict:
    if hasattr(x, "model_dump"):
        return x.model_dump(mode="json")
    return dict(x) if isinstance(x, dict) else {}


def _fmt_value(ev: dict) -> str:
    try:
        return f"{float(ev['value']):.{int(ev.get('decimals', 1))}f}"
    except (KeyError, TypeError, ValueError):
        return str(ev.get("value"))


# words, not emoji: they read the same without an emoji font
_SEVERITY_MARK = {"high": "**[fix first]**", "medium": "**[worth fixing]**", "low": "[minor]", "ok": "[fine]"}


def findings_markdown(findings: list[Any]) -> str:
    """The findings, most severe first as given, each with its evidence (tool, quantity, value)."""
    items = [_as_dict(f) for f in findings or []]
    if not items:
        return "_No findings yet._"
    out = []
    for f in items:
        sev = f.get("severity", "")
        head = f"{_SEVERITY_MARK.get(sev, '-')} **{f.get('title', '')}** ({sev}, {f.get('topic', '')}"
        head += ", from the audio model and the tools)" if f.get("source") == "model+tools" else ")"
        out.append(head)
        if f.get("detail"):
            out.append(f"  {f['detail']}")
        if f.get("action"):
            out.append(f"  *What to do:* {f['action']}")
        for ev in f.get("evidence") or []:
            ev = _as_dict(ev)
            out.append(f"  - {ev.get('quantity', '')}: {_fmt_value(ev)} {ev.get('unit', '')} "
                       f"(`{ev.get('tool', '')}`)")
        out.append("")
    return "\n".join(out).strip()


def claims_markdown(claims: list[Any]) -> str:
    items = [_as_dict(c) for c in claims or []]
    if not items:
        return ""
    out = []
    for c in items:
        verdict = c.get("verdict") or "unverified"
        line = f"- \"{c.get('text', '')}\" -> **{verdict}**"
        if c.get("note"):
            line += f": {c['note']}"
        out.append(line)
    return "\n".join(out)


def chat_from_history(history: list[dict] | None, answer: str | None = None) -> list[dict]:
    """Chatbot messages (``{"role", "content"}``) from the agent's history; the review's answer
    alone when the history is empty."""
    msgs = [{"role": m["role"], "content": str(m.get("content", ""))} for m in history or []
            if isinstance(m, dict) and m.get("role") in ("user", "assistant")]
    if not msgs and answer:
        msgs = [{"role": "assistant", "content": answer}]
    return msgs


def key_numbers_markdown(report: dict) -> str:
    loud = (report or {}).get("loudness") or {}
    if not loud:
        return ""
    rows = [("integrated loudness", loud.get("integrated_lufs"), "LUFS"),
            ("true peak", loud.get("true_peak_dbtp"), "dBTP"),
            ("loudness range", loud.get("loudness_range_lu"), "LU"),
            ("max short-term loudness", loud.get("max_short_term_lufs"), "LUFS")]
    lines = ["| measurement | value |", "|---|---|"]
    lines += [f"| {n} | {v:.1f} {u} |" for n, v, u in rows if isinstance(v, (int, float))]
    return "\n".join(lines)


def review_markdown(thread_id: str, state: dict, history: list[dict]) -> str:
    """The whole conversation as a Markdown document."""
    report = state.get("report") or {}
    mix = ((report.get("mix") or {}).get("name")) or "the mix"
    lines = [f"# MixingBuddy review: {mix}", "", f"Conversation `{thread_id}`"]
    if report.get("platform"):
        lines.append(f"Target platform: {report['platform']}")
    if report.get("anchor"):
        lines.append(f"Anchor stem: {report['anchor']}")
    lines += ["", "## Key measurements", "", key_numbers_markdown(report), "",
              "## Findings", "", findings_markdown(state.get("findings") or [])]
    claims = claims_markdown(state.get("claims") or [])
    if claims:
        lines += ["", "## What the audio model said, checked", "", claims]
    if state.get("degradations"):
        lines += ["", "## Notes", ""] + [f"- {d}" for d in state["degradations"]]
    lines += ["", "## Conversation", ""]
    for m in chat_from_history(history):
        who = "You" if m["role"] == "user" else "MixingBuddy"
        lines += [f"**{who}:**", "", m["content"], ""]
    return "\n".join(lines).rstrip() + "\n"


def review_json(thread_id: str, state: dict, history: list[dict]) -> dict:
    """The review as JSON: measurements, findings, claims, conversation; file names only (no
    server paths)."""
    audio = state.get("audio") or {}
    files = {"mix": Path(audio["mix"]).name if audio.get("mix") else None,
             "stems": [Path(p).name for p in audio.get("stems") or []],
             "reference": Path(audio["reference"]).name if audio.get("reference") else None}
    return {"thread_id": thread_id, "files": files,
            "findings": [_as_dict(f) for f in state.get("findings") or []],
            "claims": [_as_dict(c) for c in state.get("claims") or []],
            "degradations": list(state.get("degradations") or []),
            "report": state.get("report") or {},
            "conversation": chat_from_history(history)}


def write_downloads(folder: Path, thread_id: str, state: dict, history: list[dict]) -> tuple[str, str]:
    """Write ``review-<thread>.md`` and ``.json`` into ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    base = f"mixingbuddy-review-{sanitize_name(thread_id)}"
    md, js = folder / f"{base}.md", folder / f"{base}.json"
    md.write_text(review_markdown(thread_id, state, history), encoding="utf-8")
    js.write_text(json.dumps(review_json(thread_id, state, history), indent=2, default=str),
                  encoding="utf-8")
    return str(md), str(js)


def llm_banner(mb: Any = None, env: dict[str, str] | None = None) -> str | None:
    """The banner text when answers are written by an external LLM endpoint, else None. Reads the
    agent's ``llm`` config when it has one, else ``MIXINGBUDDY_LLM_BASE_URL`` / ``_MODEL``."""
    cfg = None
    for attr in ("llm", "llm_config"):
        v = getattr(mb, attr, None) if mb is not None else None
        if v is not None and hasattr(v, "base_url"):
            cfg = v
            break
    if cfg is not None:
        url, model = cfg.base_url, getattr(cfg, "model", "")
    elif mb is not None and getattr(mb, "llm", "unset") is None:
        return None
    else:
        env = os.environ if env is None else env
        url, model = (env.get("MIXINGBUDDY_LLM_BASE_URL") or "").strip(), (env.get("MIXINGBUDDY_LLM_MODEL") or "").strip()
    if not url:
        return None
    host = urlparse(url).netloc or url
    return (f"**External language model in use:** answers are written by `{model or '?'}` at `{host}`. "
            "Your questions and the measured numbers are sent there; every number in an answer is "
            "still checked against the measurements.")


def model_status_line(mb: Any) -> str:
    """The page's readiness line, from ``MixingBuddy.model_status()`` (cheap: a dict read). An
    agent not created yet (the app was given a factory) loads the model with the first review."""
    status = getattr(mb, "model_status", None) if mb is not None else None
    st = status() if callable(status) else {}
    state = st.get("state")
    if state == "loading":
        return "Audio model: loading…"
    if state == "ready":
        return f"Audio model: ready (loaded in {float(st.get('seconds') or 0.0):.1f} s)"
    if state == "off":
        return "Audio model: off (reviews use the measurements alone)"
    if state == "failed":
        return f"Audio model: did not load ({st.get('error')}); reviews use the measurements alone"
    return "Audio model: loads with the first review"


# ----------------------------------------------------------------------------- state helpers


def figures_for(state: dict) -> dict[str, Any]:
    """The figures of a stored review (waveform from the stored mix file when present)."""
    from . import plots

    report = state.get("report") or None
    if not report:
        return {name: None for name, _ in PLOT_TABS}
    mix = (state.get("audio") or {}).get("mix")
    audio = mix if mix and os.path.isfile(mix) else None
    try:
        return plots.all_figures(report, audio, state.get("findings") or [])
    except MixingBuddyError as e:  # the stored mix is unreadable: everything but the waveform
        log.warning("waveform skipped: %s", e)
        return plots.all_figures(report, None, state.get("findings") or [])


def stem_roles_of(state: dict) -> list[str]:
    report = state.get("report") or {}
    names = [s.get("name") for s in ((report.get("stem_balance") or {}).get("stems") or [])]
    return [r for r in STEM_ROLES if r in names]


def pick_anchor(choice: str | None) -> str | None:
    """The anchor to pass to the agent: a role, or None for ``auto`` (the agent then picks:
    vocals when present, else drums)."""
    return choice if choice in STEM_ROLES else None


class ProgressLog:
    """One line per graph node, updated as ``on_progress(node, status)`` calls arrive:
    "... ingest" while it runs, "done ingest (0.21 s)" when it ends."""

    def __init__(self, header: list[str] | None = None):
        self.header = list(header or [])
        self.nodes: dict[str, str] = {}

    def add(self, line: str) -> None:
        node, _, status = line.partition(": ")
        self.nodes[node] = status

    def markdown(self) -> str:
        rows = []
        for node, status in list(self.nodes.items())[-PROGRESS_LINES:]:
            if status.startswith("done"):
                rows.append(f"- ✅ {node} {status[4:].strip()}")
            elif status == "failed":
                rows.append(f"- ❌ {node} failed")
            else:
                rows.append(f"- ⏳ {node} {'' if status == 'started' else status}".rstrip())
        return "\n\n".join(self.header) + ("\n\n" if self.header and rows else "") + "\n".join(rows)


@dataclass
class AppConfig:
    """Where the app keeps its temporary files, and its limits."""

    work_root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mixingbuddy-ui-")))
    limits: UploadLimits = field(default_factory=UploadLimits.from_env)
    concurrency: int = 2
    max_duration_s: float = 1200.0

    def folder(self, kind: str, thread_id: str | None = None) -> Path:
        d = self.work_root / kind / (sanitize_name(thread_id) if thread_id else "")
        d.mkdir(parents=True, exist_ok=True)
        return d


def _run_with_progress(fn: Callable[[Callable[[str, str], None]], Any]) -> Iterator[tuple[str, Any]]:
    """Run ``fn(on_progress)`` in a worker thread; yields ("progress", "node: status") as they
    come, then ("done", result) or ("error", exception)."""
    q: queue.Queue = queue.Queue()

    def on_progress(node: str, status: str) -> None:
        q.put(("progress", f"{node}: {status}"))

    def work() -> None:
        try:
            q.put(("done", fn(on_progress)))
        except BaseException as e:  # noqa: BLE001 - handed to the generator, shown as one line
            q.put(("error", e))

    threading.Thread(target=work, name="mixingbuddy-review", daemon=True).start()
    while True:
        kind, payload = q.get()
        yield kind, payload
        if kind in ("done", "error"):
            return


# ----------------------------------------------------------------------------- the app



def about_text() -> str:
    """The about box: what MixingBuddy measures with, and the separator's license and state."""
    from ..tools.separate import LICENSE_NOTE, separator_status

    st = separator_status()
    sep = ("Without stems, MixingBuddy separates the mix into vocals, drums, bass and other and measures "
           "those; every figure from separated stems says so." if st.available else
           f"Stem separation is off on this server: {st.reason}.")
    return (f"Measurements: ITU-R BS.1770-4 loudness, spectrum, stereo, stem balance against professional "
            f"mixes (MUSDB18), masking. {sep}\n\n{LICENSE_NOTE}")

def build_app(mb: Any = None, *, config: AppConfig | None = None, title: str = "MixingBuddy"):
    """The Gradio Blocks app around ``mb`` (a ``MixingBuddy``, or a zero-argument factory that
    makes one on first use; None = ``agent.api.MixingBuddy()`` with its defaults).

    Notes
    -----
    Flow: upload (``ui.uploads``: limits, private session folder, safe ZIPs) ->
    ``MixingBuddy.review`` in a worker thread, its ``on_progress(node, status)`` calls streamed
    to the page as they come -> the answer in the chat, the findings with their evidence, the
    figures (``ui.plots``), the audition panel (``ui.audition``) prefilled with the balance
    suggestions, and the review as Markdown and JSON downloads. Follow-up questions go to
    ``MixingBuddy.ask`` on the same thread.

    Conversations survive a reload and a server restart: the thread id is kept in the page's
    URL (``?thread=...``) and in the browser's local storage (``gr.BrowserState``); on load the
    app asks ``MixingBuddy.history`` / ``MixingBuddy.state`` for the conversation and rebuilds
    the chat and the figures from the stored report and audio.

    Errors never reach the page as a traceback: a bad upload or a bad request is answered in
    the chat with one line, ``error[<code>]: <message>`` for the typed errors of
    ``tools.errors``; anything else is logged on the server and answered with one line saying
    what failed.

    With a factory, the ``MixingBuddy`` is created on first use, so the page can be built (and
    served) without loading the agent until a review is asked for.
    """
    from . import audition as aud

    agent = AgentHandle(mb if mb is not None else default_factory())
    cfg = config or AppConfig()
    cleanup_stale(cfg.work_root / "uploads", max_age_s=6 * 3600)
    banner = llm_banner(agent._mb) if agent.loaded else llm_banner(None)
    platform_choices = [(p.label, k) for k, p in PLATFORM_TARGETS.items()]

    with gr.Blocks(title=title, delete_cache=(1800, 3600), analytics_enabled=False) as demo:
        gr.Markdown(f"# {title}\nA mix critic you can talk to: every piece of advice comes with the "
                    "number that justifies it.")
        gr.Markdown(banner or "", visible=bool(banner), elem_id="llm-banner")
        # readiness: polled while the audio model loads in the background (MixingBuddy.warm_up)
        model_line = model_status_line(agent._mb)
        model_md = gr.Markdown(model_line, elem_id="model-status")
        model_timer = gr.Timer(MODEL_POLL_S, active=model_line.endswith("loading…"))
        # the conversation's id: a hidden textbox, so that the page's URL can carry it
        thread = gr.Textbox("", visible="hidden", elem_id="thread-id", label="thread")
        saved_thread = gr.BrowserState(None, storage_key=STORAGE_KEY)
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                mix_in = gr.File(label="Mix (wav, flac, mp3, m4a, ogg, aiff, or a .stem.mp4)",
                                 file_count="single", type="filepath", elem_id="mix-upload")
                stems_in = gr.File(label="Stems, optional (several files, a .zip, or a .stem.mp4)",
                                   file_count="multiple", type="filepath", elem_id="stems-upload")
                ref_in = gr.File(label="Reference track, optional", file_count="single",
                                 type="filepath", elem_id="reference-upload")
                anchor_in = gr.Dropdown([("auto (vocals if present, else drums)", ANCHOR_AUTO)]
                                        + [(r, r) for r in STEM_ROLES],
                                        value=ANCHOR_AUTO, label="Anchor stem (assumed right)")
                platform_in = gr.Dropdown(platform_choices, value=DEFAULT_PLATFORM, label="Target platform")
                genre_in = gr.Dropdown(list(GENRES), value=GENRE_ANY, label="Genre",
                                       allow_custom_value=True)
                review_btn = gr.Button("Review", variant="primary", elem_id="review-button")
                status_md = gr.Markdown("", elem_id="status")
                with gr.Accordion("About", open=False, elem_id="about"):
                    gr.Markdown(about_text())
            with gr.Column(scale=2):
                chat = gr.Chatbot(label="MixingBuddy", height=460, elem_id="chat")
                with gr.Row():
                    question_in = gr.Textbox(placeholder="Ask a follow-up: why? how do I fix it? "
                                             "is it loud enough for Spotify?", show_label=False,
                                             scale=5, elem_id="question")
                    ask_btn = gr.Button("Ask", scale=1, elem_id="ask-button")
                with gr.Tabs():
                    with gr.Tab("Findings"):
                        findings_md = gr.Markdown("_No review yet._", elem_id="findings")
                    plot_outs = []
                    for name, label in PLOT_TABS:
                        with gr.Tab(label):
                            plot_outs.append(gr.Plot(label=label, elem_id=f"plot-{name}"))
                with gr.Accordion("Audition the fix (your stems, or stems separated from the mix)", open=False, visible=False) as aud_box:
                    gr.Markdown("Gain changes per stem, prefilled with the balance suggestions; the two "
                                "versions are loudness-matched so you hear the balance, not the volume.")
                    with gr.Row():
                        sliders = [gr.Slider(-aud.MAX_GAIN_DB, aud.MAX_GAIN_DB, value=0.0, step=0.5,
                                             label=f"{r} (dB)", visible=False, elem_id=f"gain-{r}")
                                   for r in STEM_ROLES]
                    aud_btn = gr.Button("Render before / after", elem_id="audition-button")
                    with gr.Row():
                        before_out = gr.Audio(label="Before", type="filepath", interactive=False)
                        after_out = gr.Audio(label="After", type="filepath", interactive=False)
                    aud_md = gr.Markdown("", elem_id="audition-numbers")
                with gr.Row():
                    md_file = gr.File(label="Review (Markdown)", interactive=False, elem_id="download-md")
                    json_file = gr.File(label="Review (JSON)", interactive=False, elem_id="download-json")

        full_outputs = [chat, status_md, findings_md, *plot_outs, thread, saved_thread, aud_box,
                        *sliders, md_file, json_file]

        def _panel(thread_id: str, state: dict, history: list[dict], answer: str | None,
                   status: str) -> list[Any]:
            figs = figures_for(state)
            roles = stem_roles_of(state)
            gains = aud.suggested_gains(state.get("report") or {})
            slider_ups = [gr.update(visible=r in roles, value=float(gains.get(r, 0.0))) for r in STEM_ROLES]
            md_path, js_path = write_downloads(cfg.folder("downloads", thread_id), thread_id, state, history)
            return [chat_from_history(history, answer), status, findings_markdown(state.get("findings") or []),
                    *[figs.get(name) for name, _ in PLOT_TABS], thread_id, thread_id,
                    gr.update(visible=bool(roles)), *slider_ups, md_path, js_path]

        def _only(status: str | None = None, chat_value: Any = None) -> list[Any]:
            out = [gr.skip()] * len(full_outputs)
            if chat_value is not None:
                out[0] = chat_value
            if status is not None:
                out[1] = status
            return out

        def do_review(mix, stems, reference, anchor, platform, genre, chat_now):
            chat_now = list(chat_now or [])
            session = None
            try:
                session = UploadSession(cfg.work_root / "uploads")
                prep = prepare_upload(session, mix, stems, reference, limits=cfg.limits,
                                      max_duration_s=cfg.max_duration_s)
                if platform not in PLATFORM_TARGETS:
                    raise InvalidArgumentError(f"unknown platform {platform!r}")
                anchor_role = pick_anchor(anchor)
                genre_v = None if not genre or genre == GENRE_ANY else str(genre)[:40]
                uploaded = f"Uploaded {', '.join(prep.file_names)} ({prep.total_bytes / 1e6:.1f} MB)."
                progress = ProgressLog([uploaded] + [f"note: {w}" for w in prep.warnings])
                yield _only(progress.markdown() + "\n\nstarting the review...")
                mbx = agent.get()

                def run(on_progress):
                    return mbx.review(prep.mix, stems=[str(p) for p in prep.stems] or None,
                                      reference=prep.reference, anchor=anchor_role, platform=platform,
                                      genre=genre_v, thread_id=None, on_progress=on_progress)

                result = None
                for kind, payload in _run_with_progress(run):
                    if kind == "progress":
                        progress.add(payload)
                        yield _only(progress.markdown())
                    elif kind == "error":
                        raise payload
                    else:
                        result = payload
                tid = result.thread_id
                state, history = mbx.state(tid), mbx.history(tid)
                state.setdefault("findings", [f.model_dump(mode="json") for f in result.findings])
                state.setdefault("claims", [c.model_dump(mode="json") for c in result.claims])
                state.setdefault("report", result.report)
                state.setdefault("degradations", list(result.degradations))
                done = f"Done in {sum(result.timings_s.values()):.1f} s."
                if result.source == "composer" and banner:
                    done += " The external model was not used for this answer (fallback composer)."
                done += "".join(f"\n\nnote: {d}" for d in result.degradations)
                yield _panel(tid, state, history, result.answer, done)
            except Exception as e:  # one line in the chat, never a traceback
                if not isinstance(e, MixingBuddyError):
                    log.exception("review failed")
                yield _only("Review failed.", chat_now + [{"role": "assistant", "content": error_line(e)}])
            finally:
                if session is not None:
                    session.cleanup()

        def do_ask(question, thread_id, chat_now):
            chat_now = list(chat_now or [])
            q = " ".join(str(question or "").split())
            if not q:
                yield chat_now, gr.skip(), "", gr.skip(), gr.skip()
                return
            chat_now.append({"role": "user", "content": q})
            if not thread_id:
                yield chat_now + [{"role": "assistant", "content": NO_THREAD}], gr.skip(), "", gr.skip(), gr.skip()
                return
            yield chat_now, "thinking...", "", gr.skip(), gr.skip()
            try:
                mbx = agent.get()
                turn = None
                progress = ProgressLog()
                for kind, payload in _run_with_progress(
                        lambda on_progress: mbx.ask(thread_id, q, on_progress=on_progress)):
                    if kind == "progress":
                        progress.add(payload)
                        yield chat_now, progress.markdown(), "", gr.skip(), gr.skip()
                    elif kind == "error":
                        raise payload
                    else:
                        turn = payload
                history = mbx.history(thread_id)
                msgs = chat_from_history(history)
                if not msgs or msgs[-1]["content"] != turn.answer:
                    msgs = chat_now + [{"role": "assistant", "content": turn.answer}]
                md_path, js_path = write_downloads(cfg.folder("downloads", thread_id), thread_id,
                                                   mbx.state(thread_id), history)
                note = "".join(f"\n\nnote: {d}" for d in turn.degradations)
                yield msgs, f"Answered in {sum(turn.timings_s.values()):.1f} s.{note}", "", md_path, js_path
            except Exception as e:
                if not isinstance(e, MixingBuddyError):
                    log.exception("follow-up failed")
                yield chat_now + [{"role": "assistant", "content": error_line(e)}], "", "", gr.skip(), gr.skip()

        def do_audition(thread_id, vocals_db, drums_db, bass_db, other_db):
            gains = (vocals_db, drums_db, bass_db, other_db)  # in the order of STEM_ROLES
            try:
                if not thread_id:
                    raise InvalidArgumentError("review a mix with stems first")
                state = agent.get().state(thread_id)
                report = state.get("report") or {}
                residual, kind = None, "separated"
                if (report.get("stem_balance") or {}).get("source") == "separated":
                    # a bounced mix: audition on the stems separated during the review
                    sep = agent.get().store.separation(thread_id)
                    if sep is None:
                        raise InvalidArgumentError("the separated stems of this conversation are gone; "
                                                   "review the mix again")
                    stems, residual = sep.stem_set(), sep.residual
                else:
                    mix, stems = aud.stems_from_audio_record(state.get("audio") or {},
                                                             max_duration_s=cfg.max_duration_s, with_mix=True)
                    from ..agent.whatif import master_residual

                    residual, kind = master_residual(mix, stems)  # before is the mix the review measured
                chosen = {r: float(g) for r, g in zip(STEM_ROLES, gains) if r in stems.stems and g is not None}
                folder = cfg.folder("auditions", thread_id)
                for old in folder.glob("audition-*"):  # keep only the latest renders of a thread
                    shutil.rmtree(old, ignore_errors=True)
                res = aud.audition(stems, chosen, folder, anchor=report.get("anchor"),
                                   platform=report.get("platform") or DEFAULT_PLATFORM, residual=residual,
                                   residual_kind=kind)
                return res.before_wav, res.after_wav, aud.audition_markdown(res)
            except Exception as e:
                if not isinstance(e, MixingBuddyError):
                    log.exception("audition failed")
                return None, None, error_line(e)

        def do_reopen(saved, request: gr.Request):
            """On page load: reopen the conversation named in the URL, else the one in the
            browser's storage."""
            wanted = None
            params = getattr(request, "query_params", None) or {}
            wanted = params.get("thread") or saved
            if not wanted:
                return _only()
            try:
                mbx = agent.get()
                history = mbx.history(wanted)
                state = mbx.state(wanted)
                if not history and not state.get("report"):
                    raise InvalidArgumentError(f"no conversation {wanted!r} here")
                return _panel(wanted, state, history, None, f"Reopened conversation `{wanted}`.")
            except Exception as e:
                if not isinstance(e, MixingBuddyError):
                    log.exception("reopen failed")
                out = _only(f"Could not reopen the conversation: {error_line(e)}")
                out[full_outputs.index(saved_thread)] = None
                return out

        review_ev = review_btn.click(do_review, [mix_in, stems_in, ref_in, anchor_in, platform_in, genre_in, chat],
                                     full_outputs, api_name="review", concurrency_limit=cfg.concurrency,
                                     show_progress="minimal")
        review_ev.then(None, [thread], None, js=_URL_JS, api_visibility="private")
        ask_outputs = [chat, status_md, question_in, md_file, json_file]
        ask_btn.click(do_ask, [question_in, thread, chat], ask_outputs, api_name="ask",
                      concurrency_limit=cfg.concurrency, show_progress="minimal")
        question_in.submit(do_ask, [question_in, thread, chat], ask_outputs, api_visibility="private",
                           concurrency_limit=cfg.concurrency, show_progress="minimal")
        aud_btn.click(do_audition, [thread, *sliders], [before_out, after_out, aud_md], api_name="audition",
                      concurrency_limit=cfg.concurrency)
        def poll_model():
            line = model_status_line(agent._mb)
            return line, gr.Timer(active=line.endswith("loading…"))

        model_timer.tick(poll_model, None, [model_md, model_timer], api_visibility="private",
                         show_progress="hidden", concurrency_limit=None)
        load_ev = demo.load(do_reopen, [saved_thread], full_outputs, api_name="reopen")
        load_ev.then(None, [thread], None, js=_URL_JS, api_visibility="private")
    demo.mb_config = cfg  # for tests and serve(): where the temporary files live
    demo.mb_agent = agent
    return demo


# ----------------------------------------------------------------------------- serving and CLI


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (the OS picks it)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def serve(mb: Any = None, *, host: str = "127.0.0.1", port: int = 7860, config: AppConfig | None = None,
          block: bool = True, quiet: bool = False):
    """Build and launch the app; returns the Blocks (``block=False``: the server runs in the
    background, ``demo.local_url`` is its address and ``demo.close()`` stops it). ``port=0``
    picks a free port. The temporary folder is removed at exit."""
    if port == 0:
        port = free_port(host if host not in ("0.0.0.0", "") else "127.0.0.1")
    cfg = config or AppConfig()
    demo = build_app(mb, config=cfg)
    atexit.register(shutil.rmtree, cfg.work_root, True)
    demo.queue(default_concurrency_limit=cfg.concurrency)
    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                              font_mono=["ui-monospace", "monospace"])
    demo.launch(server_name=host, server_port=port, prevent_thread_lock=not block, quiet=quiet,
                share=False, inbrowser=False, show_error=False, ssr_mode=False,
                max_file_size=HARD_FILE_FACTOR * cfg.limits.max_total_bytes, allowed_paths=[str(cfg.work_root)],
                theme=theme, footer_links=[])
    return demo
