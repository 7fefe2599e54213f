"""The browser app: a Gradio chat that reviews a mix, shows the measurements, and keeps talking.

:func:`build_app` makes the page (one message box for files and questions, the review's progress
and its folded answer in the chat, findings, figures, audition, downloads, a list of
conversations); :func:`serve` runs it. Errors reach the chat as one line (:func:`error_line`).
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
import time
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
from .chat import (
    NONE,
    assign_files,
    echo_text,
    fold_review,
    messages_from_history,
    progress_message,
    step_lines,
    streaming_message,
    text_of,
)
from .conversations import (
    TokenBook,
    book_choices,
    book_entry,
    book_forget,
    book_put,
    book_rename,
    browser_secret,
    new_book,
)
from .finding_links import HEARD, PLOT_TABS, FindingLink, finding_links, highlighted_waveform, see_line
from .plots import plot_alt_text
from .starting import allowed_host_names, on_sigterm
from .uploads import UploadLimits, UploadSession, cleanup_stale, prepare_upload, upload_path

log = logging.getLogger("mixingbuddy.ui")

ANCHOR_AUTO = "auto"
GENRE_ANY = "any"
GENRES = (GENRE_ANY, "pop", "rock", "electronic", "hip-hop", "r&b", "jazz", "acoustic", "metal",
          "classical")
DEFAULT_PLATFORM = "spotify"
STORAGE_KEY = "mixingbuddy-conversations"
WORK_PREFIX = "mixingbuddy-ui-"  # the temporary folder of one app process
# Gradio itself refuses any one file above this multiple of the upload limit (a hard cap that
# protects the disk); files between the limit and the cap reach ui.uploads, whose message is
# shown in the chat.
HARD_FILE_FACTOR = 2
MODEL_POLL_S = 1.0  # the readiness line's polling period while the audio model loads
MAX_QUESTION_CHARS = 2000  # as agent.api.MAX_QUESTION_CHARS (not imported: the page builds without the agent)
SAMPLE_SECONDS = 12.0
FIRST_QUESTIONS = ("What should I fix first?", "Is it loud enough for Spotify?")
FOLLOW_UPS = ("What should I fix first?", "Is it loud enough for Spotify?", "What if I raise the vocals by 3 dB?")
PLACEHOLDER = ("**Drop a mix** (wav, flac, mp3, m4a, ogg, aiff or a .stem.mp4), optionally its stems (files or "
               "a ZIP) and a reference, in the box below and press **Review**. Then ask follow-up questions.")
RETRY_REVIEW = "To review again, drop the files in the box again; retry repeats follow-up questions."
FINDING_SLOTS = 16  # findings shown one by one (each may carry a "try it"); any beyond share the last
SEE_BUTTONS = 2  # "See:" buttons per finding: its plot's tab, its time ranges on the waveform
NO_THREAD = "Drop a mix in the box and press Review first; follow-up questions continue that conversation."
_URL_JS = """(thread) => {
  const url = new URL(window.location.href);
  if (thread) { url.searchParams.set("thread", thread); } else { url.searchParams.delete("thread"); }
  window.history.replaceState(null, "", url);
  return [];
}"""
# the chat does not follow new text (autoscroll off): it shows the start of the newest exchange,
# the last question at the top and the answer's first lines below it
_SCROLL_FN = """() => {
  const c = document.querySelector('#chat');
  if (!c) return [];
  const users = c.querySelectorAll('[data-testid="user"]');
  const u = users[users.length - 1];
  if (!u) return [];
  let p = u.parentElement;
  while (p && p !== document.body) {
    const st = getComputedStyle(p);
    if (p.scrollHeight > p.clientHeight + 2 && /(auto|scroll)/.test(st.overflowY)) break;
    p = p.parentElement;
  }
  if (p && p !== document.body) {
    p.scrollTop += u.getBoundingClientRect().top - p.getBoundingClientRect().top - 8;
  }
  return [];
}"""
_SCROLL_JS = "() => { setTimeout(" + _SCROLL_FN + ", 60); return []; }"
_SCROLL_SOON_JS = ("() => { for (const ms of [150, 400, 900]) { setTimeout(" + _SCROLL_FN
                   + ", ms); } return []; }")


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

    from ..agent.api import default_home  # the agent's home: the app keeps its conversation keys there

    make.home = Path(home).expanduser() if home is not None else default_home()
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


# words, not emoji: they read the same without an emoji font
_SEVERITY_MARK = {"high": "**[fix first]**", "medium": "**[worth fixing]**", "low": "[minor]", "ok": "[fine]"}
@dataclass(frozen=True)
class FindingEntry:
    """One finding as the Findings tab shows it: its lines in a mixer's words (what was heard and
    measured, what to do), where to look (:func:`ui.finding_links.finding_links`), the finding."""

    lines: tuple[str, ...]
    links: tuple[FindingLink, ...]
    finding: dict

    def text(self, see: bool = True) -> str:
        """The finding as Markdown, with its "*See:*" line (``see=False``: without it, the
        "heard by the audio model" note then on the title line)."""
        src = self.finding.get("source")
        if see:
            line = see_line(list(self.links), src)
            return "  \n".join(self.lines + ((line,) if line else ()))  # two spaces: a Markdown line break
        head = self.lines[0] + (f" ({HEARD})" if src == "model+tools" else "")
        return "  \n".join((head,) + self.lines[1:])


def finding_entries(findings: list[Any], report: Any = None) -> list[FindingEntry]:
    """Each finding in a mixer's words, most severe first as given, with where to look (the
    plot's tab, and the time ranges in the waveform; ``report`` adds the dynamics finding's
    loudest window). No internal keys, and a finding repeated word for word is shown once."""
    out, seen = [], set()
    for f in (_as_dict(x) for x in findings or []):
        key = (f.get("title"), f.get("detail"), f.get("action"))
        if key in seen:
            continue
        seen.add(key)
        sev = f.get("severity", "")
        lines = [f"{_SEVERITY_MARK.get(sev, '-')} **{f.get('title', '')}**"]
        if f.get("detail"):
            lines.append(str(f["detail"]))
        if f.get("action"):
            lines.append(f"*What to do:* {f['action']}")
        out.append(FindingEntry(tuple(lines), tuple(finding_links(f, report)), f))
    return out


def finding_blocks(findings: list[Any], report: Any = None) -> list[tuple[str, dict]]:
    """Each finding (:func:`finding_entries`) as Markdown ending with where to look ("*See:* the
    Balance tab and the Waveform tab at 0:01.0-0:02.5"), with the finding."""
    return [(e.text(), e.finding) for e in finding_entries(findings, report)]


def findings_markdown(findings: list[Any]) -> str:
    """The findings in a mixer's words (:func:`finding_blocks`) as one Markdown text."""
    blocks = finding_blocks(findings)
    return "\n\n".join(text for text, _ in blocks) if blocks else "_No findings yet._"


def finding_move(finding: dict, report: dict) -> dict[str, float] | None:
    """The balance move a finding's "try it" opens the audition with: for a ``balance:<stem>``
    finding whose stem moves in the review's joint solution, that stem's move
    (``ui.audition.suggested_gains``), the other stems at 0; else None."""
    from .audition import suggested_gains

    fid = str(finding.get("id") or "")
    stem = fid.partition(":")[2] if fid.startswith("balance:") else ""
    if stem not in STEM_ROLES:
        return None
    gains = suggested_gains(report or {}, stem=stem)
    return gains if abs(gains.get(stem, 0.0)) > 0 else None


def move_label(gains: dict[str, float]) -> str:
    """"vocals +4.3 dB, bass -1.0 dB": the moves that are not 0."""
    return ", ".join(f"{s} {g:+.1f} dB" for s, g in gains.items() if abs(g) > 0)


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


@dataclass
class AppConfig:
    """Where the app keeps its temporary files, and its limits."""

    work_root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix=WORK_PREFIX)))
    limits: UploadLimits = field(default_factory=UploadLimits.from_env)
    concurrency: int = 2
    max_duration_s: float = 1200.0
    home: Path | None = None  # conversation keys (default: the agent's home)

    def folder(self, kind: str, thread_id: str | None = None) -> Path:
        d = self.work_root / kind / (sanitize_name(thread_id) if thread_id else "")
        d.mkdir(parents=True, exist_ok=True)
        return d


def _run_with_progress(fn: Callable[..., Any]) -> Iterator[tuple[str, Any]]:
    """Run ``fn(on_progress, on_text)`` in a worker thread; yields ("progress", "node: status")
    and ("text", the answer's checked text so far, from a streaming language model) as they
    come, then ("done", result) or ("error", exception)."""
    q: queue.Queue = queue.Queue()

    def on_progress(node: str, status: str) -> None:
        q.put(("progress", f"{node}: {status}"))

    def on_text(checked: str) -> None:
        q.put(("text", checked))

    def work() -> None:
        try:
            q.put(("done", fn(on_progress, on_text)))
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

def sample_mix(cfg: AppConfig) -> str | None:
    """A sample mix for a first visit, rendered locally (``model.data.demo_song``: vocals 8 dB
    down, so the review has something to say); None when rendering fails."""
    path = cfg.folder("sample") / "sample_mix.wav"
    if path.is_file():
        return str(path)
    try:
        import soundfile as sf

        from ..model.data.demo_song import SongConfig, render_song

        mix, _ = render_song(SongConfig(duration_s=SAMPLE_SECONDS, seed=5), gains_db={"vocals": -8.0})
        sf.write(path, mix, 44_100, subtype="PCM_16")
        return str(path)
    except Exception:  # noqa: BLE001 - a first-visit extra; the app works without it
        log.warning("the sample mix could not be rendered", exc_info=True)
        return None


def _home_of(agent: AgentHandle, cfg: AppConfig) -> Path:
    """Where the app keeps its conversation keys: ``cfg.home``, else the agent's home, else (an
    agent factory of unknown home) a folder in the app's temporary folder (keys then last as long
    as the process)."""
    home = cfg.home or (getattr(agent._mb, "home", None) if agent.loaded else getattr(agent._factory, "home", None))
    home = Path(home) if home is not None else cfg.work_root / "home"
    home.mkdir(parents=True, exist_ok=True)
    return home


def _try_label(gains: dict[str, float] | None) -> str:
    """The what-if audition button's label: "Audition this move: vocals +3.0 dB"."""
    return f"Audition this move: {move_label(gains)}" if gains else "Audition this move"


def _whatif_gains(state: dict) -> dict[str, float] | None:
    """The stem move of the last question when it was a what-if (``route`` in the stored state)."""
    rt = state.get("route") or {}
    if rt.get("stem") in STEM_ROLES and isinstance(rt.get("gain_db"), (int, float)):
        return {rt["stem"]: float(rt["gain_db"])}
    return None


def build_app(mb: Any = None, *, config: AppConfig | None = None, title: str = "MixingBuddy"):
    """The Gradio Blocks app around ``mb`` (a ``MixingBuddy``, or a zero-argument factory that
    makes one on first use; None = ``agent.api.MixingBuddy()`` with its defaults).

    Notes
    -----
    The conversation comes first: one message box takes the files (a mix, stems, a ZIP, a
    reference; :func:`ui.chat.assign_files` says what each is taken as and two pickers correct
    it) and the question. A message with files runs ``MixingBuddy.review`` in a worker thread:
    the request is echoed at once, a progress message lists each step with its time, and the
    answer comes back folded (:func:`ui.chat.fold_review`: a short lead, then each section under
    its heading). A message without files goes to ``MixingBuddy.ask`` on the open conversation.
    The side panel holds the findings in a mixer's words, the figures (``ui.plots``), the
    audition (``ui.audition``; opened from a what-if answer or a balance finding with the moves
    prefilled) and the downloads.

    Conversations are listed in a side bar from this browser's storage (``gr.BrowserState``,
    encrypted with a key kept in the agent's home) and checked against the server's threads; each
    is bound to the browser that made it by a token (:class:`ui.conversations.TokenBook`), so a
    thread id alone (``?thread=...`` in the URL) opens nothing elsewhere.

    Errors never reach the page as a traceback: ``error[<code>]: <message>`` in the chat.
    """
    from . import audition as aud

    agent = AgentHandle(mb if mb is not None else default_factory())
    cfg = config or AppConfig()
    cleanup_stale(cfg.work_root / "uploads", max_age_s=6 * 3600)
    home = _home_of(agent, cfg)
    tokens = TokenBook(home)
    banner = llm_banner(agent._mb) if agent.loaded else llm_banner(None)
    platform_choices = [(p.label, k) for k, p in PLATFORM_TARGETS.items()]
    sample = sample_mix(cfg)
    examples = ([{"text": "Review this sample mix", "files": [sample]}] if sample else [])
    examples += [{"text": q} for q in FIRST_QUESTIONS]

    with gr.Blocks(title=title, delete_cache=(1800, 3600), analytics_enabled=False) as demo:
        thread = gr.Textbox("", visible="hidden", elem_id="thread-id", label="thread")
        book_st = gr.BrowserState(None, storage_key=STORAGE_KEY, secret=browser_secret(home))
        whatif_st = gr.State(None)
        with gr.Sidebar(label="Conversations", open=False, elem_id="conversations"):
            new_btn = gr.Button("New conversation", variant="primary", elem_id="new-conversation")
            conv_list = gr.Radio([], label="Your conversations (this browser)", elem_id="conversation-list")
            with gr.Row():
                rename_in = gr.Textbox(placeholder="a new name", show_label=False, scale=3, elem_id="rename-text")
                rename_btn = gr.Button("Rename", scale=1, size="sm", elem_id="rename-button")
            delete_btn = gr.Button("Remove this conversation", size="sm", variant="stop", elem_id="delete-button")
            with gr.Group(visible=False, elem_id="delete-confirm") as confirm_box:
                confirm_md = gr.Markdown("", elem_id="delete-question")
                with gr.Row():
                    confirm_yes = gr.Button("Delete", size="sm", variant="stop", elem_id="delete-yes")
                    confirm_no = gr.Button("Keep", size="sm", elem_id="delete-no")
        with gr.Row(elem_id="header"):
            gr.HTML(f"<b>{title}</b><span class='tagline'>: a mix critic you can talk to; every piece of advice "
                    "comes with the number that justifies it.</span>", elem_id="title")
            model_line = model_status_line(agent._mb)
            model_md = gr.Markdown(model_line, elem_id="model-status")
        model_timer = gr.Timer(MODEL_POLL_S, active=model_line.endswith("loading…"))
        gr.Markdown(banner or "", visible=bool(banner), elem_id="llm-banner")
        with gr.Row(equal_height=False, elem_id="main"):
            with gr.Column(scale=3, min_width=320, elem_id="chat-column"):
                chat = gr.Chatbot(label="MixingBuddy", show_label=False, height="56vh", min_height=300, elem_id="chat",
                                  autoscroll=False, editable="user", examples=examples or None,
                                  placeholder=PLACEHOLDER, sanitize_html=True, allow_tags=False,
                                  buttons=["copy"], feedback_options=None, layout="panel")
                box = gr.MultimodalTextbox(
                    placeholder="Drop a mix (and stems, a ZIP or a reference) and press Review, "
                                "or ask about the open mix", file_count="multiple", sources=["upload"],
                    show_label=False, elem_id="message-box", submit_btn="Review", stop_btn="Stop",
                    max_plain_text_length=MAX_QUESTION_CHARS)
                with gr.Row(visible=False, elem_id="taken-as") as taken_row:
                    taken_md = gr.Markdown("", elem_id="taken-as-text")
                    # custom values allowed: the choices follow the attached files, and assign_files
                    # ignores a name that is not one of them
                    mix_pick = gr.Dropdown([], label="Take as the mix", elem_id="mix-pick", scale=1,
                                           allow_custom_value=True)
                    ref_pick = gr.Dropdown([NONE], value=NONE, label="Take as the reference",
                                           elem_id="reference-pick", scale=1, allow_custom_value=True)
                with gr.Row(elem_id="chat-actions"):
                    try_btn = gr.Button("Audition this move", visible=False, size="sm", variant="primary",
                                        elem_id="try-whatif")
                    q_btns = [gr.Button(q, visible=False, size="sm", elem_classes=["suggestion"])
                              for q in FOLLOW_UPS]
                with gr.Accordion("Review options: platform, genre, anchor stem", open=False, elem_id="options"):
                    with gr.Row():
                        platform_in = gr.Dropdown(platform_choices, value=DEFAULT_PLATFORM, label="Target platform")
                        genre_in = gr.Dropdown(list(GENRES), value=GENRE_ANY, label="Genre", allow_custom_value=True)
                        anchor_in = gr.Dropdown([("auto (vocals if present, else drums)", ANCHOR_AUTO)]
                                                + [(r, r) for r in STEM_ROLES], value=ANCHOR_AUTO,
                                                label="Anchor stem (assumed right)")
            with gr.Column(scale=2, min_width=320, elem_id="side-column"):
                with gr.Tabs(elem_id="panels") as tabs:
                    with gr.Tab("Findings", id="findings"), gr.Column(elem_id="findings"):
                        findings_md = gr.Markdown("_No review yet._", elem_id="findings-note")
                        finding_mds, finding_btns, see_rows, see_btns = [], [], [], []
                        # one slot per finding, in order: its text, then its buttons: "See:" its plot's
                        # tab and its time ranges on the waveform, "try it" on a balance move
                        for i in range(FINDING_SLOTS):
                            finding_mds.append(gr.Markdown("", visible=False, elem_classes=["finding"]))
                            with gr.Row(visible=False, elem_classes=["finding-actions"]) as row:
                                see_btns.append([gr.Button("See", visible=False, size="sm", scale=0,
                                                           elem_id=f"see-finding-{i}-{j}", elem_classes=["see-finding"])
                                                 for j in range(SEE_BUTTONS)])
                                finding_btns.append(gr.Button("Try it", visible=False, size="sm", scale=0,
                                                              elem_id=f"try-finding-{i}", elem_classes=["try-finding"]))
                            see_rows.append(row)
                        finding_moves_st = gr.State([])
                        finding_links_st = gr.State([])  # each slot's links (FindingLink.as_dict)
                        try_balance = gr.Button("Try the balance moves in the audition", visible=False,
                                                size="sm", elem_id="try-balance")
                    with gr.Tab("Audition", id="audition", elem_id="audition-tab"):
                        aud_hint = gr.Markdown("Review a mix with stems (or one the separator can split) to "
                                               "audition balance moves.", elem_id="audition-hint")
                        with gr.Group(visible=False) as aud_box:
                            sliders = [gr.Slider(-aud.MAX_GAIN_DB, aud.MAX_GAIN_DB, value=0.0, step=aud.GAIN_STEP_DB,
                                                 label=f"{r} (dB)", visible=False, elem_id=f"gain-{r}")
                                       for r in STEM_ROLES]
                            aud_btn = gr.Button("Render before / after (loudness-matched)", elem_id="audition-button")
                            before_out = gr.Audio(label="Before", type="filepath", interactive=False,
                                                  elem_id="audition-before")
                            after_out = gr.Audio(label="After", type="filepath", interactive=False,
                                                 elem_id="audition-after")
                            aud_md = gr.Markdown("", elem_id="audition-numbers")
                    plot_outs, plot_alts = [], []
                    for name, label in PLOT_TABS:
                        with gr.Tab(label, id=name):
                            plot_outs.append(gr.Plot(label=label, show_label=False, elem_id=f"plot-{name}"))
                            plot_alts.append(gr.Markdown("", elem_id=f"alt-{name}", elem_classes=["plot-alt"]))
                    with gr.Tab("Downloads", id="downloads"):
                        md_file = gr.File(label="Review (Markdown)", interactive=False, elem_id="download-md")
                        json_file = gr.File(label="Review (JSON)", interactive=False, elem_id="download-json")
                        with gr.Accordion("About", open=False, elem_id="about"):
                            gr.Markdown(about_text())

        panel = [findings_md, try_balance, aud_hint, aud_box, *sliders, *plot_outs, *plot_alts, md_file, json_file,
                 *finding_mds, *finding_btns, finding_moves_st, *see_rows, *(b for p in see_btns for b in p),
                 finding_links_st]
        outputs = [chat, box, thread, book_st, conv_list, taken_row, try_btn, whatif_st, *q_btns, *panel]

        # ------------------------------------------------------------------ pieces of output

        def _panel(thread_id: str, state: dict, history: list[dict]) -> dict:
            figs = figures_for(state)
            roles = stem_roles_of(state)
            gains = aud.suggested_gains(state.get("report") or {})
            md_path, js_path = write_downloads(cfg.folder("downloads", thread_id), thread_id, state, history)
            out = {**_findings_out(state, figs), try_balance: gr.update(visible=any(abs(v) > 0 for v in gains.values())),
                   aud_hint: gr.update(visible=not roles), aud_box: gr.update(visible=bool(roles)),
                   md_file: md_path, json_file: js_path}
            out.update({s: gr.update(visible=r in roles, value=float(gains.get(r, 0.0)))
                        for r, s in zip(STEM_ROLES, sliders)})
            out.update({p: figs.get(name) for (name, _), p in zip(PLOT_TABS, plot_outs)})
            out.update({a: plot_alt_text(name, state.get("report") or {}) if figs.get(name) is not None else ""
                        for (name, _), a in zip(PLOT_TABS, plot_alts)})
            out.update({b: gr.update(visible=True) for b in q_btns})
            return out

        def _findings_out(state: dict | None, figs: dict | None = None) -> dict:
            """The findings, one slot each (the last slot takes any beyond), each with "See:"
            buttons for the places to look whose figure is drawn (``figs``; the others stay in
            its text), and a "try it" button on each balance finding that has a move."""
            report = (state or {}).get("report") or {}
            if not state:
                entries = []
                note = "_No review yet._"
            else:
                entries = finding_entries(state.get("findings") or [], report)
                note = "" if entries else "_No findings yet._"
            out: dict = {findings_md: gr.update(value=note, visible=bool(note))}
            moves: list = []
            links_st: list = []
            for i, (md, btn, row, pair) in enumerate(zip(finding_mds, finding_btns, see_rows, see_btns)):
                mine = entries[i:i + 1] if i < FINDING_SLOTS - 1 else entries[i:]
                gains = finding_move(mine[0].finding, report) if mine else None
                moves.append(gains)
                shown = [ln for ln in mine[0].links if (figs or {}).get(ln.tab) is not None][:SEE_BUTTONS] \
                    if len(mine) == 1 else []
                if len(mine) == 1 and shown:  # the buttons say where to look; the rest stays in the text
                    rest = FindingEntry(mine[0].lines, tuple(ln for ln in mine[0].links if ln not in shown),
                                        mine[0].finding)
                    text = rest.text(see=bool(rest.links))
                else:
                    text = "\n\n".join(e.text() for e in mine)
                links_st.append([ln.as_dict() for ln in shown])
                out[md] = gr.update(value=text, visible=bool(mine))
                for j, b in enumerate(pair):
                    ln = shown[j] if j < len(shown) else None
                    out[b] = gr.update(visible=ln is not None, value=ln.button_text() if ln else "See")
                out[btn] = gr.update(visible=bool(gains), value=f"Try it: {move_label(gains)}" if gains else "Try it")
                out[row] = gr.update(visible=bool(shown or gains))
            out[finding_moves_st] = moves
            out[finding_links_st] = links_st
            return out

        def _empty_panel() -> dict:
            out = {**_findings_out(None), try_balance: gr.update(visible=False),
                   aud_hint: gr.update(visible=True), aud_box: gr.update(visible=False),
                   md_file: None, json_file: None, try_btn: gr.update(visible=False), whatif_st: None}
            out.update({p: None for p in plot_outs})
            out.update({a: "" for a in plot_alts})
            out.update({b: gr.update(visible=False) for b in q_btns})
            return out

        def _list(book: dict) -> Any:
            return gr.update(choices=book_choices(book), value=book.get("current"))

        def _owned(thread_id: str | None, book: dict) -> str:
            """The thread id when this browser holds its token, else an InvalidArgumentError."""
            entry = book_entry(book, thread_id)
            if not tokens.check(thread_id, (entry or {}).get("token")):
                raise InvalidArgumentError("this conversation was started in another browser (or its key was "
                                           "removed); it cannot be opened here")
            return str(thread_id)

        def _fail(where: str, e: BaseException) -> str:
            if not isinstance(e, MixingBuddyError):
                log.exception("%s failed", where)
            return error_line(e)

        # ------------------------------------------------------------------ the conversation

        def _ask_stream(q: str, chat_now: list, thread_id: str, book: dict) -> Iterator[dict]:
            """A follow-up: progress in the chat, then the answer (and the audition button when
            the question was a what-if)."""
            if not thread_id:
                yield {chat: chat_now + [{"role": "assistant", "content": NO_THREAD}], box: gr.MultimodalTextbox(value=None)}
                return
            try:
                nodes: dict[str, str] = {}
                t0 = time.perf_counter()
                yield {chat: chat_now + [progress_message("Thinking...", step_lines(nodes, 0.0))],
                       try_btn: gr.update(visible=False), box: gr.MultimodalTextbox(value=None)}
                tid = _owned(thread_id, book)
                mbx = agent.get()
                turn = None
                writing: list = []  # the streamed answer so far, as a chat message
                for kind, payload in _run_with_progress(lambda cb, on_text: mbx.ask(tid, q, on_progress=cb,
                                                                                    on_text=on_text)):
                    if kind == "progress":
                        node, _, status = payload.partition(": ")
                        nodes[node] = status
                        yield {chat: chat_now + [progress_message(
                            "Thinking...", step_lines(nodes, time.perf_counter() - t0))] + writing}
                    elif kind == "text":
                        writing = [streaming_message(payload)]
                        yield {chat: chat_now + [progress_message(
                            "Writing...", step_lines(nodes, time.perf_counter() - t0))] + writing}
                    elif kind == "error":
                        raise payload
                    else:
                        turn = payload
                state, history = mbx.state(tid), mbx.history(tid)
                took = sum(turn.timings_s.values())
                steps = progress_message(f"Answered in {took:.1f} s", step_lines(nodes, took), done=True)
                answer = turn.answer + "".join(f"\n\n_note: {d}_" for d in turn.degradations)
                gains = _whatif_gains(state) if stem_roles_of(state) else None
                label = _try_label(gains)
                md_path, js_path = write_downloads(cfg.folder("downloads", tid), tid, state, history)
                yield {chat: chat_now + [steps, {"role": "assistant", "content": answer}],
                       try_btn: gr.update(visible=bool(gains), value=label), whatif_st: gains,
                       md_file: md_path, json_file: js_path, book_st: book_put(book, tid)}
            except Exception as e:
                yield {chat: chat_now + [{"role": "assistant", "content": _fail("follow-up", e)}]}

        def _review_stream(text: str, files: list[str], picks: tuple, opts: tuple, chat_now: list,
                           book: dict) -> Iterator[dict]:
            anchor, platform, genre = opts
            session = None
            nodes: dict[str, str] = {}
            t0 = time.perf_counter()
            try:
                a = assign_files(files, *picks)
                by_name = {os.path.basename(f): f for f in files}
                taken = "Taking " + "; ".join(a.lines()) + ".\n\n"
                base = chat_now
                yield {chat: base + [progress_message("Reviewing...", taken + "checking the files...")],
                       box: gr.MultimodalTextbox(value=None), taken_row: gr.update(visible=False)}
                if platform not in PLATFORM_TARGETS:
                    raise InvalidArgumentError(f"unknown platform {platform!r}")
                session = UploadSession(cfg.work_root / "uploads")
                prep = prepare_upload(session, by_name.get(a.mix) if a.mix else None,
                                      [by_name[s] for s in a.stems], by_name.get(a.reference) if a.reference else None,
                                      limits=cfg.limits, max_duration_s=cfg.max_duration_s)
                notes = "".join(f"\n\nnote: {w}" for w in prep.warnings)
                genre_v = None if not genre or genre == GENRE_ANY else str(genre)[:40]
                mbx = agent.get()
                title_now = f"Reviewing {a.mix}..."

                def run(cb, on_text):
                    return mbx.review(prep.mix, stems=[str(p) for p in prep.stems] or None,
                                      reference=prep.reference, anchor=pick_anchor(anchor), platform=platform,
                                      genre=genre_v, thread_id=None, on_progress=cb, on_text=on_text)

                result = None
                writing: list = []  # the streamed answer so far, as a chat message
                for kind, payload in _run_with_progress(run):
                    if kind == "progress":
                        node, _, status = payload.partition(": ")
                        nodes[node] = status
                        yield {chat: base + [progress_message(
                            title_now, taken + step_lines(nodes, time.perf_counter() - t0) + notes)] + writing}
                    elif kind == "text":
                        writing = [streaming_message(payload)]
                        yield {chat: base + [progress_message(
                            title_now, taken + step_lines(nodes, time.perf_counter() - t0) + notes)] + writing}
                    elif kind == "error":
                        raise payload
                    else:
                        result = payload
                tid = result.thread_id
                state, history = mbx.state(tid), mbx.history(tid)
                took = sum(result.timings_s.values())
                extra = (f" + {len(a.stems)} stem file{'s' if len(a.stems) != 1 else ''}" if a.stems else "") + \
                    (f" + reference {a.reference}" if a.reference else "")
                done = f"Reviewed {a.mix}{extra} in {took:.1f} s"
                if result.source == "composer" and banner:
                    done += " (the external model was not used: fallback composer)"
                msgs = base + [progress_message(done, taken + step_lines(nodes, took) + notes, done=True)]
                msgs += fold_review(result.answer)
                token = tokens.issue(tid)
                book = book_put(book, tid, token, title=a.mix)
                out = {chat: msgs, thread: tid, book_st: book, conv_list: _list(book), **_panel(tid, state, history)}
                yield out
                if text.rstrip().endswith("?"):  # a question typed with the files: answer it too
                    msgs = msgs + [{"role": "user", "content": text}]
                    for upd in _ask_stream(text, msgs, tid, book):
                        yield upd
            except Exception as e:  # one line in the chat, never a traceback
                yield {chat: chat_now + [{"role": "assistant", "content": _fail("review", e)}],
                       box: gr.MultimodalTextbox(value=None)}
            finally:
                if session is not None:
                    session.cleanup()

        def send(msg, mix_choice, ref_choice, anchor, platform, genre, chat_now, thread_id, book):
            """One message from the box: with files, a review (and the typed question after it);
            without, a follow-up on the open conversation."""
            msg = msg if isinstance(msg, dict) else {"text": str(msg or ""), "files": []}
            text = " ".join(str(msg.get("text") or "").split())
            try:
                files = [p for p in (upload_path(f) for f in msg.get("files") or []) if p]
            except MixingBuddyError as e:
                yield {chat: list(chat_now or []) + [{"role": "assistant", "content": error_line(e)}]}
                return
            book = new_book(book)
            chat_now = list(chat_now or [])
            if not text and not files:
                yield {box: gr.skip()}
                return
            chat_now.append({"role": "user", "content": echo_text(text, files)})
            if files:
                # a new review is a new conversation: the chat starts again from this request
                chat_now = chat_now[-1:]
                yield from _review_stream(text, files, (mix_choice, ref_choice), (anchor, platform, genre),
                                          chat_now, book)
            else:
                yield from _ask_stream(text, chat_now, thread_id, book)

        def on_box_change(msg):
            """What the attached files will be taken as, with pickers to correct it."""
            files = [os.path.basename(upload_path(f) or "") for f in ((msg or {}).get("files") or [])]
            if not files:
                return gr.update(visible=False), "", gr.update(choices=[], value=None), gr.update(
                    choices=[NONE], value=NONE)
            a = assign_files(files)
            return (gr.update(visible=True), "**Taking:** " + "; ".join(a.lines()),
                    gr.update(choices=files, value=a.mix), gr.update(choices=[NONE] + files, value=a.reference or NONE))

        def on_pick(msg, mix_choice, ref_choice):
            files = [os.path.basename(upload_path(f) or "") for f in ((msg or {}).get("files") or [])]
            return "**Taking:** " + "; ".join(assign_files(files, mix_choice, ref_choice).lines()) if files else ""

        def _last_user(chat_now: list, index: int | None = None) -> tuple[int, str]:
            idx = [k for k, m in enumerate(chat_now) if isinstance(m, dict) and m.get("role") == "user"]
            if index is not None:
                idx = [k for k in idx if k <= index]
            if not idx:
                return -1, ""
            return idx[-1], text_of(chat_now[idx[-1]])

        def _first_user(chat_now: list) -> int:
            """The index of the review's request (the chat's first user message), or -1."""
            return next((k for k, m in enumerate(chat_now) if isinstance(m, dict) and m.get("role") == "user"), -1)

        def _take_back(thread_id: str, book: dict, kept: list) -> str:
            """Retract on the server every follow-up question the page no longer shows (those
            after ``kept``, the chat that stays), so they leave the stored history and the context
            of later answers (``MixingBuddy.retract_last_turn``). Returns the thread id."""
            tid = _owned(thread_id, book)
            mbx = agent.get()
            keep = max(0, sum(1 for m in kept if isinstance(m, dict) and m.get("role") == "user") - 1)
            asked = sum(1 for m in mbx.history(tid) if m.get("role") == "user") - 1
            for _ in range(asked - keep):
                mbx.retract_last_turn(tid)
            return tid

        def retry(chat_now, thread_id, book, data: gr.RetryData):
            """Ask a question again: it and what followed are taken back on the server, then it is
            asked anew (a review is retried by dropping its files again)."""
            chat_now = list(chat_now or [])
            k, q = _last_user(chat_now, data.index if data is not None else None)
            if k < 0 or not thread_id or k <= _first_user(chat_now):
                yield {chat: chat_now + [{"role": "assistant", "content": RETRY_REVIEW}]}
                return
            book = new_book(book)
            try:
                _take_back(thread_id, book, chat_now[:k])
            except Exception as e:
                yield {chat: chat_now + [{"role": "assistant", "content": _fail("retry", e)}]}
                return
            yield from _ask_stream(q, chat_now[:k + 1], thread_id, book)

        def edit(chat_now, thread_id, book, data: gr.EditData):
            """The edited question replaces it and what came after (taken back on the server too),
            and is answered."""
            chat_now = list(chat_now or [])
            k = data.index if isinstance(data.index, int) else data.index[0]
            q = " ".join(str(data.value or "").split())
            if not q or not thread_id:
                yield {chat: chat_now}
                return
            if k <= _first_user(chat_now):
                yield {chat: chat_now + [{"role": "assistant", "content": RETRY_REVIEW}]}
                return
            book = new_book(book)
            kept = chat_now[:k] + [{"role": "user", "content": q}]
            yield {chat: kept}
            try:
                _take_back(thread_id, book, chat_now[:k])
            except Exception as e:
                yield {chat: chat_now + [{"role": "assistant", "content": _fail("edit", e)}]}
                return
            yield from _ask_stream(q, kept, thread_id, book)

        def undo(chat_now, thread_id, book, data: gr.UndoData):
            """The last question leaves the chat and the stored conversation (its text goes back to
            the box)."""
            chat_now = list(chat_now or [])
            k, q = _last_user(chat_now, data.index if data is not None else None)
            if k <= _first_user(chat_now):
                return {chat: chat_now}
            out = {chat: chat_now[:k], box: gr.MultimodalTextbox(value={"text": q, "files": []})}
            if thread_id:
                try:
                    tid = _take_back(thread_id, new_book(book), chat_now[:k])
                    mbx = agent.get()
                    state, history = mbx.state(tid), mbx.history(tid)
                except Exception as e:  # noqa: BLE001 - said in the chat; nothing was taken back
                    return {chat: chat_now + [{"role": "assistant", "content": _fail("undo", e)}]}
                # the audition button and the downloads follow the conversation as it now stands
                gains = _whatif_gains(state) if stem_roles_of(state) and len(history) > 2 else None
                md_path, js_path = write_downloads(cfg.folder("downloads", tid), tid, state, history)
                out.update({try_btn: gr.update(visible=bool(gains), value=_try_label(gains)), whatif_st: gains,
                            md_file: md_path, json_file: js_path})
            return out

        def stopped(chat_now):
            chat_now = [m for m in list(chat_now or [])
                        if not (isinstance(m, dict) and (m.get("metadata") or {}).get("status") == "pending")]
            return chat_now + [{"role": "assistant", "content": "Stopped. Send the files again to review, or "
                                "ask another question."}]

        # ------------------------------------------------------------------ conversations

        def open_thread(wanted: str | None, book: Any, status: str | None = None) -> dict:
            book = new_book(book)
            if not wanted:
                return {chat: [], thread: "", book_st: book, conv_list: _list(book), **_empty_panel()}
            try:
                tid = _owned(wanted, book)
                mbx = agent.get()
                history, state = mbx.history(tid), mbx.state(tid)
                book = book_put(book, tid)
                msgs = messages_from_history(history)
                if status:
                    msgs.append({"role": "assistant", "content": status})
                gains = _whatif_gains(state) if stem_roles_of(state) and len(history) > 2 else None
                return {chat: msgs, thread: tid, book_st: book, conv_list: _list(book),
                        try_btn: gr.update(visible=bool(gains), value=_try_label(gains)), whatif_st: gains,
                        **_panel(tid, state, history)}
            except Exception as e:
                msg = f"Could not reopen the conversation: {_fail('reopen', e)}"
                if isinstance(e, InvalidArgumentError) and "unknown conversation" in str(e):
                    book = book_forget(book, wanted)  # gone from the server: gone from the list
                book["current"] = None
                return {chat: [{"role": "assistant", "content": msg}], thread: "", book_st: book,
                        conv_list: _list(book), **_empty_panel()}

        def do_reopen(book, request: gr.Request):
            """On page load: the conversation named in the URL, else the one open last."""
            params = getattr(request, "query_params", None) or {}
            book = new_book(book)
            return open_thread(params.get("thread") or book.get("current"), book)

        def do_open(choice, book):
            return open_thread(choice, book)

        def do_new(book):
            """A new conversation: an empty chat, nothing open (the old one stays in the list)."""
            book = new_book(book)
            book["current"] = None
            return {chat: [], thread: "", book_st: book, conv_list: _list(book), box: gr.MultimodalTextbox(value=None),
                    taken_row: gr.update(visible=False), **_empty_panel()}

        def do_rename(name, thread_id, book):
            book = book_rename(book, thread_id, name)
            return {book_st: book, conv_list: _list(book), rename_in: ""}

        def ask_delete(thread_id, book):
            """The first step of Remove: what will be deleted, with Delete / Keep."""
            book = new_book(book)
            entry = book_entry(book, thread_id)
            if not thread_id or entry is None:
                return (gr.update(visible=True), "Open a conversation of this list first, then remove it.",
                        gr.update(visible=False))
            return gr.update(visible=True), (f"Delete **{entry['title']}** on the server (its review, answers and "
                                             "stored audio)? This cannot be undone."), gr.update(visible=True)

        def do_delete(thread_id, book):
            """The open conversation is deleted on the server (``MixingBuddy.delete_thread``) when this
            browser holds its key (a conversation another browser owns is never deleted), then it
            leaves this browser's list and its key is forgotten."""
            book = new_book(book)
            note = None
            if thread_id:
                try:
                    tid = _owned(thread_id, book)
                    agent.get().delete_thread(tid)
                    tokens.forget(tid)
                    book = book_forget(book, tid)
                except Exception as e:  # noqa: BLE001 - said in the chat; the list keeps the entry
                    if isinstance(e, InvalidArgumentError) and "unknown conversation" in str(e):
                        book = book_forget(book, thread_id)  # already gone on the server
                    else:
                        note = f"Could not delete the conversation: {_fail('delete', e)}"
            out = do_new(book)
            out[confirm_box] = gr.update(visible=False)
            if note:
                out[chat] = [{"role": "assistant", "content": note}]
            return out

        # ------------------------------------------------------------------ audition

        def do_audition(thread_id, book, vocals_db, drums_db, bass_db, other_db):
            gains = (vocals_db, drums_db, bass_db, other_db)  # in the order of STEM_ROLES
            try:
                if not thread_id:
                    raise InvalidArgumentError("review a mix with stems first")
                tid = _owned(thread_id, new_book(book))
                state = agent.get().state(tid)
                report = state.get("report") or {}
                residual, kind, mix = None, "separated", None
                if (report.get("stem_balance") or {}).get("source") == "separated":
                    sep = agent.get().store.separation(tid)  # a bounced mix: the stems separated in the review
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
                folder = cfg.folder("auditions", tid)
                for old in folder.glob("audition-*"):  # keep only the latest renders of a thread
                    shutil.rmtree(old, ignore_errors=True)
                res = aud.audition(stems, chosen, folder, anchor=report.get("anchor"),
                                   platform=report.get("platform") or DEFAULT_PLATFORM, residual=residual,
                                   residual_kind=kind, mix=mix)  # a long mix: its loudest windows, as the review
                return res.before_wav, res.after_wav, aud.audition_markdown(res)
            except Exception as e:
                return None, None, _fail("audition", e)

        def prefill(gains):
            """Sliders set to ``gains`` (others 0) and the audition tab opened."""
            gains = gains or {}
            return [gr.Tabs(selected="audition")] + [gr.update(value=float(gains.get(r, 0.0))) for r in STEM_ROLES]

        def balance_gains(thread_id, book):
            try:
                tid = _owned(thread_id, new_book(book))
                return aud.suggested_gains(agent.get().state(tid).get("report") or {})
            except Exception as e:  # noqa: BLE001 - the sliders stay as they are
                log.info("balance prefill skipped: %s", e)
                return None

        # ------------------------------------------------------------------ wiring

        lim = cfg.concurrency
        send_in = [box, mix_pick, ref_pick, anchor_in, platform_in, genre_in, chat, thread, book_st]
        ev_send = box.submit(send, send_in, outputs, api_name="send", concurrency_limit=lim,
                             show_progress="hidden")
        ev_send.then(None, [thread], None, js=_URL_JS, api_visibility="private")
        ev_send.then(None, None, None, js=_SCROLL_JS, api_visibility="private")
        # the echo is shown at the top of the chat as soon as the first output arrives
        box.submit(None, None, None, js=_SCROLL_SOON_JS, api_visibility="private")
        box.change(on_box_change, [box], [taken_row, taken_md, mix_pick, ref_pick], api_visibility="private",
                   show_progress="hidden", queue=False)
        for pick in (mix_pick, ref_pick):
            pick.input(on_pick, [box, mix_pick, ref_pick], [taken_md], api_visibility="private",
                       show_progress="hidden", queue=False)
        cancellable = [ev_send]

        def _fill(q: str):
            return lambda: {"text": q, "files": []}

        for b, q in zip(q_btns, FOLLOW_UPS):
            ev = b.click(_fill(q), None, box, api_visibility="private", queue=False
                         ).then(send, send_in, outputs, api_visibility="private", concurrency_limit=lim,
                                show_progress="hidden")
            ev.then(None, None, None, js=_SCROLL_JS, api_visibility="private")
            cancellable.append(ev)
        ev_retry = chat.retry(retry, [chat, thread, book_st], outputs, api_visibility="private",
                              concurrency_limit=lim, show_progress="hidden")
        ev_edit = chat.edit(edit, [chat, thread, book_st], outputs, api_visibility="private",
                            concurrency_limit=lim, show_progress="hidden")
        chat.undo(undo, [chat, thread, book_st], [chat, box, try_btn, whatif_st, md_file, json_file],
                  api_visibility="private", show_progress="hidden",
                  concurrency_limit=lim)
        cancellable += [ev_retry, ev_edit]
        box.stop(stopped, [chat], [chat], cancels=cancellable, api_visibility="private", queue=False)
        def pick_example(data: gr.SelectData):
            """A first-visit example goes into the box (the sample mix with it), ready to send."""
            v = data.value if isinstance(data.value, dict) else {"text": str(data.value or "")}
            files = [sample] if sample and v.get("files") else []  # the local file, not the page's URL of it
            return gr.MultimodalTextbox(value={"text": v.get("text", ""), "files": files})

        chat.example_select(pick_example, None, box, api_visibility="private")

        clear_outs = outputs
        for ev in (new_btn.click, chat.clear):
            ev(do_new, [book_st], clear_outs, api_visibility="private", show_progress="hidden"
               ).then(None, [thread], None, js=_URL_JS, api_visibility="private")
        conv_list.input(do_open, [conv_list, book_st], outputs, api_name="open", show_progress="hidden"
                        ).then(None, [thread], None, js=_URL_JS, api_visibility="private")
        rename_btn.click(do_rename, [rename_in, thread, book_st], [book_st, conv_list, rename_in],
                         api_visibility="private")
        delete_btn.click(ask_delete, [thread, book_st], [confirm_box, confirm_md, confirm_yes], api_visibility="private",
                         queue=False)
        confirm_no.click(lambda: gr.update(visible=False), None, [confirm_box], api_visibility="private", queue=False)
        confirm_yes.click(do_delete, [thread, book_st], outputs + [confirm_box], api_visibility="private"
                          ).then(None, [thread], None, js=_URL_JS, api_visibility="private")

        aud_args = [thread, book_st, *sliders]
        aud_outs = [before_out, after_out, aud_md]
        aud_btn.click(do_audition, aud_args, aud_outs, api_name="audition", concurrency_limit=lim)
        try_btn.click(prefill, [whatif_st], [tabs, *sliders], api_visibility="private", queue=False
                      ).then(do_audition, aud_args, aud_outs, api_visibility="private", concurrency_limit=lim)
        def _slot_move(i: int):
            return lambda moves: (moves[i] if isinstance(moves, list) and i < len(moves) else None)

        for i, btn in enumerate(finding_btns):
            btn.click(_slot_move(i), [finding_moves_st], [whatif_st], api_visibility="private", queue=False
                      ).then(prefill, [whatif_st], [tabs, *sliders], api_visibility="private", queue=False
                             ).then(do_audition, aud_args, aud_outs, api_visibility="private", concurrency_limit=lim)

        # a finding's "See:" button: its plot's tab at once, then for time ranges the waveform
        # re-drawn with them highlighted (its alt text naming them)
        wave = [name for name, _ in PLOT_TABS].index("waveform")
        wave_plot, wave_alt = plot_outs[wave], plot_alts[wave]

        def _slot_link(links: Any, i: int, j: int) -> FindingLink | None:
            mine = links[i] if isinstance(links, list) and i < len(links) and isinstance(links[i], list) else []
            return FindingLink.from_dict(mine[j]) if j < len(mine) else None

        def _see_tab(i: int, j: int):
            def show_tab(links):
                link = _slot_link(links, i, j)
                return gr.Tabs(selected=link.tab) if link else gr.skip()
            return show_tab

        def _see_range(i: int, j: int):
            def show_range(links, thread_id, book):
                link = _slot_link(links, i, j)
                if link is None or not link.spans:
                    return gr.skip(), gr.skip()
                try:
                    tid = _owned(thread_id, new_book(book))
                    fig, alt = highlighted_waveform(agent.get().state(tid), link)
                except Exception as e:  # noqa: BLE001 - the waveform stays as it was
                    log.info("waveform highlight skipped: %s", e)
                    return gr.skip(), gr.skip()
                return (fig, alt) if fig is not None else (gr.skip(), gr.skip())
            return show_range

        for i, pair in enumerate(see_btns):
            for j, b in enumerate(pair):
                b.click(_see_tab(i, j), [finding_links_st], [tabs], api_visibility="private", queue=False
                        ).then(_see_range(i, j), [finding_links_st, thread, book_st], [wave_plot, wave_alt],
                               api_visibility="private", concurrency_limit=lim)
        try_balance.click(balance_gains, [thread, book_st], [whatif_st], api_visibility="private"
                          ).then(prefill, [whatif_st], [tabs, *sliders], api_visibility="private"
                                 ).then(do_audition, aud_args, aud_outs, api_visibility="private",
                                        concurrency_limit=lim)

        def poll_model():
            line = model_status_line(agent._mb)
            return line, gr.Timer(active=line.endswith("loading…"))

        model_timer.tick(poll_model, None, [model_md, model_timer], api_visibility="private",
                         show_progress="hidden", concurrency_limit=None)
        load_ev = demo.load(do_reopen, [book_st], outputs, api_name="reopen")
        load_ev.then(None, [thread], None, js=_URL_JS, api_visibility="private")
    demo.mb_config = cfg  # for tests and serve(): where the temporary files live
    demo.mb_agent = agent
    demo.mb_tokens = tokens
    demo.mb_outputs = {c.elem_id or f"_{k}": k for k, c in enumerate(outputs)}
    return demo


# ----------------------------------------------------------------------------- serving and CLI


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (the OS picks it)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


OWNER_FILE = "owner.pid"
CSS = """
#header { align-items: center; gap: 0.5rem; }
#header p { margin: 0; }
#title { flex-grow: 3; }
#model-status { flex-grow: 1; text-align: right; font-size: 0.85em; opacity: 0.8; }
#chat-actions { flex-wrap: wrap; gap: 0.4rem; }
#chat-actions button { flex: 0 1 auto; min-width: fit-content; white-space: nowrap; }
.finding-actions { flex-wrap: wrap; gap: 0.4rem; margin-bottom: 0.6rem; }
.finding-actions button { flex: 0 1 auto; min-width: 0; max-width: 100%; white-space: normal; }
.plot-alt { font-size: 0.85em; opacity: 0.85; }
html, body, gradio-app { max-width: 100vw; overflow-x: hidden; }
@media (max-width: 640px) {
  #header { flex-direction: column; align-items: flex-start; }
  #title .tagline { display: none; }
  #model-status { text-align: left; }
  #chat { height: 62vh !important; }
}
"""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_work_roots(parent: str | os.PathLike | None = None, keep: Path | None = None) -> int:
    """Remove the temporary folders (uploads, review downloads, audition WAVs) of app processes
    that ended without cleaning up: folders named ``mixingbuddy-ui-*`` whose ``owner.pid`` names a
    process that is gone. Returns how many were removed."""
    parent = Path(parent or tempfile.gettempdir())
    removed = 0
    for d in parent.glob(WORK_PREFIX + "*"):
        try:
            if keep is not None and d.resolve() == keep.resolve():
                continue
            pid = int((d / OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(d, ignore_errors=True)
            removed += 1
    return removed


def _host_middleware(host: str, allowed_hosts: list[str] | None) -> list:
    """Starlette's ``TrustedHostMiddleware`` (a request whose Host header names another host is
    refused with 400, against DNS rebinding) for :func:`ui.starting.allowed_host_names`: the bound
    address (and localhost for a loopback bind) unless ``allowed_hosts`` is given; none for 0.0.0.0
    without it."""
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    hosts = allowed_host_names(host, allowed_hosts)
    return [] if hosts is None else [Middleware(TrustedHostMiddleware, allowed_hosts=hosts)]


GRACEFUL_SHUTDOWN_S = 1  # open event streams are closed after this on SIGTERM (uvicorn's graceful shutdown)


def serve(mb: Any = None, *, host: str = "127.0.0.1", port: int = 7860, config: AppConfig | None = None,
          block: bool = True, quiet: bool = False, allowed_hosts: list[str] | None = None,
          sock: Any = None, starting: Any = None):
    """Build and launch the app; returns the Blocks (``block=False``: the server runs in the
    background, ``demo.local_url`` is its address and ``demo.close()`` stops it). ``port=0``
    picks a free port.

    With ``sock`` (a listening socket, :func:`ui.starting.bind_listening_socket`; blocking only),
    the app is served on that socket by uvicorn in this thread (``gr.mount_gradio_app``), and
    ``starting`` (the :class:`ui.starting.StartingPage` answering on it meanwhile) is stopped
    just before: the socket is never closed, so no connection is refused during the handover.

    The temporary folder is removed at exit and on SIGTERM (when serving in the main thread);
    folders left by app processes that died are swept at start (:func:`sweep_work_roots`).
    Requests whose Host header is not ``allowed_hosts`` (default: the bound address) are refused."""
    if sock is not None and not block:
        raise InvalidArgumentError("serving on a given socket blocks (block=True)")
    if sock is not None:
        port = int(sock.getsockname()[1])
    if port == 0:
        port = free_port(host if host not in ("0.0.0.0", "") else "127.0.0.1")
    cfg = config or AppConfig()
    sweep_work_roots(cfg.work_root.parent, keep=cfg.work_root)
    cfg.work_root.mkdir(parents=True, exist_ok=True)
    (cfg.work_root / OWNER_FILE).write_text(str(os.getpid()))
    demo = build_app(mb, config=cfg)
    atexit.register(shutil.rmtree, cfg.work_root, True)
    if block and threading.current_thread() is threading.main_thread():
        import signal

        signal.signal(signal.SIGTERM, on_sigterm)
    demo.queue(default_concurrency_limit=cfg.concurrency)
    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                              font_mono=["ui-monospace", "monospace"])
    common = dict(show_error=False, ssr_mode=False, max_file_size=HARD_FILE_FACTOR * cfg.limits.max_total_bytes,
                  allowed_paths=[str(cfg.work_root)], theme=theme, footer_links=[], css=CSS)
    if sock is None:
        demo.launch(server_name=host, server_port=port, prevent_thread_lock=not block, quiet=quiet,
                    share=False, inbrowser=False, app_kwargs={"middleware": _host_middleware(host, allowed_hosts)},
                    **common)
        return demo
    import uvicorn
    from fastapi import FastAPI

    app = gr.mount_gradio_app(FastAPI(middleware=_host_middleware(host, allowed_hosts), docs_url=None,
                                      redoc_url=None, openapi_url=None), demo, path="/",
                              server_name=host, server_port=port, **common)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S))
    demo.local_url = f"http://{'localhost' if host in ('0.0.0.0', '') else host}:{port}/"
    if starting is not None:
        starting.stop()  # from here the socket's queue holds new connections for uvicorn
    server.run(sockets=[sock])
    return demo
