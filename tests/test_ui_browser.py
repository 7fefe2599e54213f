"""The app as a producer uses it, in Debian's chromium driven by Playwright, against a real
``mixingbuddy ui`` process (tools only) at 1280x800 and on a 390x844 phone: what is above the
fold, the request echoed and the progress shown within 1 s, the folded review, the findings in a
mixer's words, a what-if answer opening the audition, retry, the conversation list across a
reload and a server restart (and closed to another browser), Clear -> a new conversation, the
plots, no horizontal scroll on the phone. Saves the README's screenshots in docs/screenshots/."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import soundfile as sf

CHROMIUM = os.environ.get("MIXINGBUDDY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SR = 44_100
TIMEOUT_MS = 60_000
SHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
DESK, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}
ROLES = ("vocals", "drums", "bass", "other")

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no chromium at {CHROMIUM}")]


# ----------------------------------------------------------------------------- the app process


class App:
    """``mixingbuddy ui`` in a subprocess on a fixed port, its home and temp folder in tmp_path."""

    def __init__(self, home: Path, tmp: Path, env: dict[str, str] | None = None):
        from mixingbuddy.ui.app import free_port

        self.home, self.tmp, self.port, self.extra_env = home, tmp, free_port(), dict(env or {})
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = tmp / "app.log"  # a file, not a pipe: an unread pipe fills (64 KiB) and blocks the app

    def log_tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""

    def start(self) -> None:
        env = dict(os.environ, MIXINGBUDDY_HOME=str(self.home), MIXINGBUDDY_SEPARATE="0", TMPDIR=str(self.tmp),
                   NO_PROXY="127.0.0.1,localhost", GRADIO_ANALYTICS_ENABLED="False", **self.extra_env)
        exe = Path(sys.executable).with_name("mixingbuddy")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([str(exe), "ui", "--host", "127.0.0.1", "--port", str(self.port),
                                          "--no-model"], env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app exited: {self.log_tail(2000)}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as r:
                    if r.status == 200 and not r.headers.get("X-MixingBuddy-Starting"):  # the app, not its placeholder
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError("the app did not answer within 120 s")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def work_folders(self) -> list[Path]:
        return sorted(self.tmp.glob("mixingbuddy-ui-*"))

    def history(self, thread: str) -> list[dict]:
        from mixingbuddy.agent.api import MixingBuddy

        with MixingBuddy(self.home, llm=None, use_model=False) as mb:
            return mb.history(thread)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    a = App(tmp_path_factory.mktemp("home"), tmp_path_factory.mktemp("tmp"))
    a.start()
    yield a
    if a.proc.poll() is None:
        a.stop()


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> list[Path]:
    """An 8 s demo song with its four stems, vocals 10 dB down, the mix too hot (clipped)."""
    import numpy as np

    from mixingbuddy.model.data.demo_song import SongConfig, render_song

    d = tmp_path_factory.mktemp("song")
    mix, parts = render_song(SongConfig(duration_s=8.0, seed=21), gains_db={"vocals": -10.0})
    sf.write(d / "flawed_mix.wav", np.clip(mix * 2.0, -1.0, 1.0), SR, subtype="PCM_16")
    for role in ROLES:
        sf.write(d / f"{role}.wav", parts[role] * 2.0, SR, subtype="FLOAT")
    return [d / "flawed_mix.wav"] + [d / f"{r}.wav" for r in ROLES]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def desk(browser, app):
    """One desktop tab kept across the tests (its browser storage holds the conversations)."""
    ctx = browser.new_context(viewport=DESK)
    page = ctx.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(app.url)
    page.wait_for_selector("#message-box textarea")
    yield page
    ctx.close()


# ----------------------------------------------------------------------------- page helpers

_WATCH_JS = """(n) => {
  window.__mb = {t0: performance.now(), echo: null, busy: null};
  const check = () => {
    const m = window.__mb, now = performance.now() - m.t0;
    if (m.echo === null && document.querySelectorAll('#chat [data-testid="user"]').length > n) m.echo = now;
    if (m.busy === null && document.querySelector('#chat .thought-group .loading-spinner')) m.busy = now;
  };
  new MutationObserver(check).observe(document.body, {subtree: true, childList: true, attributes: true,
                                                      characterData: true});
}"""


def _users(page) -> list[str]:
    return [t.strip() for t in page.locator('#chat [data-testid="user"]').all_inner_texts()]


def _thread(page) -> str | None:
    m = re.search(r"[?&]thread=([^&#]+)", page.url)
    return m.group(1) if m else None


def _send(page, text: str = "", files: list[Path] | None = None) -> None:
    """Attach files and type into the message box, then press its Review (submit) button; records
    when the echo and the progress spinner first appear (window.__mb)."""
    if files:
        page.locator("#message-box input[type=file]").set_input_files([str(f) for f in files])
        page.wait_for_function("() => (document.querySelector('#taken-as-text') || {innerText: ''})"
                               ".innerText.includes('Taking')")
    if text:
        page.locator("#message-box textarea").fill(text)
    page.evaluate(_WATCH_JS, len(_users(page)))
    page.locator("#message-box .submit-button").click()


def _idle(page) -> None:
    """Wait until no chat message is pending (the event ended)."""
    page.wait_for_function("() => window.__mb && window.__mb.echo !== null && window.__mb.busy !== null && "
                           "!document.querySelector('#chat .thought-group .loading-spinner')")
    page.wait_for_timeout(300)


def _box(page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


def _no_horizontal_scroll(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")


# ----------------------------------------------------------------------------- the tests


def test_first_visit_above_the_fold(desk, browser, app):
    # desktop: the message box with its Review button, the chat and the sample mix, no scrolling
    for sel in ("#chat", "#message-box", "#message-box .submit-button"):
        b = _box(desk, sel)
        assert b is not None and b["y"] >= 0 and b["y"] + b["height"] <= DESK["height"], (sel, b)
    assert desk.locator("#chat :text('Review this sample mix')").is_visible()
    # phone: the chat first, then the box, inside the first screen; no horizontal scroll
    ctx = browser.new_context(viewport=PHONE)
    page = ctx.new_page()
    page.goto(app.url)
    page.wait_for_selector("#message-box textarea")
    chat, box, side = _box(page, "#chat"), _box(page, "#message-box"), _box(page, "#panels")
    assert chat["y"] < box["y"] < side["y"]
    assert box["y"] + 40 < PHONE["height"]
    assert _no_horizontal_scroll(page)
    ctx.close()


def test_review_echo_progress_and_folded_answer(desk, app, song):
    _send(desk, files=song)
    _idle(desk)
    timing = desk.evaluate("() => window.__mb")
    assert timing["echo"] is not None and timing["echo"] < 1000, timing  # the request echoed at once
    assert timing["busy"] is not None and timing["busy"] < 1000, timing  # and a working message
    assert "flawed_mix.wav" in _users(desk)[-1] and "vocals.wav" in _users(desk)[-1]
    thread = _thread(desk)
    assert thread and app.history(thread)

    # the progress, folded once done: each step with its time
    fold = desk.locator("#chat .thought-group .title", has_text="Reviewed flawed_mix.wav + 4 stem files in")
    assert fold.is_visible()
    fold.click()
    steps = desk.locator("#chat :text('measure: done (')")
    steps.first.wait_for(state="visible")
    assert re.search(r"measure: done \(\d+\.\d\d s\)", steps.first.inner_text())
    assert desk.locator("#chat :text('vocals.wav: the vocals stem')").first.is_visible()
    fold.click()

    # the lead: at most three fixes, each with a number, at the top of the chat's view
    lead = desk.locator('#chat [data-testid="bot"]', has_text="first:").first
    items = lead.locator("li").all_inner_texts()
    assert 1 <= len(items) <= 3 and all(re.search(r"\d", t) for t in items), items
    chat_box, lead_box = _box(desk, "#chat"), lead.bounding_box()
    assert chat_box["y"] <= lead_box["y"] < chat_box["y"] + chat_box["height"] - 60
    assert lead_box["y"] < DESK["height"] - 100
    desk.screenshot(path=str(SHOTS / "desktop-review.png"))

    # the rest folded by section: closed until opened
    fine = desk.locator("#chat .thought-group .title", has_text="What is already fine")
    assert fine.count() == 1
    group = desk.locator("#chat .thought-group", has=desk.locator(".title", has_text="What is already fine"))
    assert group.locator(".content").count() == 0 or not group.locator(".content").first.is_visible()
    fine.click()
    group.locator(".content").first.wait_for(state="visible")
    assert len(group.locator(".content").first.inner_text()) > 40
    fine.click()

    # the findings in a mixer's words: no internal keys, no repeated paragraph
    text = desk.locator("#findings").inner_text()
    assert "Vocals" in text
    for key in ("->", "rule:", "[0]", "_db", "worst_bands", "level_vs_rest"):
        assert key not in text, key
    paras = [p.strip() for p in text.split("\n") if p.strip() and not p.startswith("See:")]
    assert len(paras) == len(set(paras))


def test_what_if_answer_opens_the_audition(desk, app):
    _send(desk, "What if I raise the vocals by 3 dB?")
    _idle(desk)
    answer = desk.locator('#chat [data-testid="bot"]').last.inner_text()
    assert "vocals" in answer.lower() and "before" in answer
    try_btn = desk.locator("#try-whatif")
    try_btn.wait_for(state="visible")
    assert "vocals +3.0 dB" in try_btn.inner_text()
    try_btn.click()
    numbers = desk.locator("#audition-numbers")
    desk.wait_for_function("() => (document.querySelector('#audition-numbers') || {innerText: ''})"
                           ".innerText.includes('vocals')")
    assert desk.locator("#gain-vocals input[type=number]").input_value() == "3"
    assert "vocals" in numbers.inner_text()
    assert desk.locator("#audition-after audio, #audition-after [data-testid='waveform-After']").count() >= 1
    desk.screenshot(path=str(SHOTS / "desktop-audition.png"))
    # "try it" from the findings: the balance moves the review suggests, prefilled
    desk.get_by_role("tab", name="Findings").click()
    desk.locator("#try-balance").click()
    desk.wait_for_function("() => { const el = document.querySelector('#gain-vocals input[type=number]');"
                           " return el && el.value !== '3'; }")
    assert float(desk.locator("#gain-vocals input[type=number]").input_value()) > 3.0


def test_try_it_on_a_balance_finding(desk, app):
    # each balance finding with a move has its own "try it": the audition opens with that move alone
    from mixingbuddy.agent.api import MixingBuddy
    from mixingbuddy.agent.findings import joint_moves
    from mixingbuddy.agent.spectrum_after_moves import suggested_gains_db
    from mixingbuddy.tools.measure.analyze import AnalysisReport

    with MixingBuddy(app.home, llm=None, use_model=False) as mb:
        report = AnalysisReport.model_validate(mb.state(_thread(desk))["report"])
    moves = suggested_gains_db(joint_moves(report.stem_balance))
    assert moves.get("vocals", 0.0) > 0
    desk.get_by_role("tab", name="Findings").click()
    buttons = desk.locator("#findings .try-finding:visible")
    labels = buttons.all_inner_texts()
    assert sorted(labels) == sorted(f"Try it: {s} {g:+.1f} dB" for s, g in moves.items() if abs(g) > 0), labels
    # each button sits right after its finding, whose title names the stem
    before = desk.evaluate("""() => {
      const els = [...document.querySelectorAll('#findings .finding, #findings .try-finding')]
        .filter(e => e.offsetParent !== null);
      const i = els.findIndex(e => e.classList.contains('try-finding') && e.innerText.includes('vocals'));
      return i > 0 ? els[i - 1].innerText : null; }""")
    assert before and "Vocals too quiet" in before, before
    desk.locator("#audition-numbers").evaluate("el => { el.dataset.was = el.innerText; }")
    desk.locator("#findings .try-finding:visible", has_text="vocals").click()
    want = f"{moves['vocals']:g}"
    desk.wait_for_function("v => { const el = document.querySelector('#gain-vocals input[type=number]');"
                           " return el && el.value === v; }", arg=want)
    for role in ROLES[1:]:
        if desk.locator(f"#gain-{role} input[type=number]").count():
            assert float(desk.locator(f"#gain-{role} input[type=number]").input_value()) == 0.0
    desk.wait_for_function("() => { const el = document.querySelector('#audition-numbers');"
                           " return el.innerText.includes('vocals') && el.innerText !== el.dataset.was; }")


def test_retry_asks_the_last_question_again(desk, app):
    thread = _thread(desk)
    asked = [m for m in app.history(thread) if m["role"] == "user"]
    users_before = _users(desk)
    desk.evaluate(_WATCH_JS, len(users_before) - 1)
    desk.locator("#chat button[aria-label='Retry']").last.click()
    _idle(desk)
    again = [m for m in app.history(thread) if m["role"] == "user"]
    # the first asking was taken back on the server: the question is stored once, answered once
    assert [m["content"] for m in again] == [m["content"] for m in asked]
    assert _users(desk) == users_before  # the question is not repeated on the page
    assert "before" in desk.locator('#chat [data-testid="bot"]').last.inner_text()
    desk.reload()
    desk.locator('#chat [data-testid="bot"]').last.wait_for()
    desk.wait_for_function("n => document.querySelectorAll('#chat [data-testid=\"user\"]').length >= n",
                           arg=len(users_before))
    assert _users(desk).count(asked[-1]["content"]) == 1
    assert _users(desk)[-1] == asked[-1]["content"]


def test_edit_the_last_question(desk, app):
    thread = _thread(desk)
    n_users = len(_users(desk))
    desk.evaluate(_WATCH_JS, n_users - 1)
    desk.locator("#chat button[aria-label='Edit']").last.click()
    desk.locator("#chat textarea.edit-textarea").fill("Is it loud enough for Apple Music?")
    desk.locator("#chat").get_by_role("button", name=re.compile("submit", re.IGNORECASE)).click()
    _idle(desk)
    assert len(_users(desk)) == n_users and _users(desk)[-1] == "Is it loud enough for Apple Music?"
    stored = [m["content"] for m in app.history(thread) if m["role"] == "user"]
    assert stored[-1] == "Is it loud enough for Apple Music?"
    assert "What if I raise the vocals by 3 dB?" not in stored  # the edited question was taken back
    assert "Apple Music" in desk.locator('#chat [data-testid="bot"]').last.inner_text()


def test_undo_takes_the_question_back(desk, app):
    thread = _thread(desk)
    asked = [m["content"] for m in app.history(thread) if m["role"] == "user"]
    n_users = len(_users(desk))
    desk.locator("#chat button[aria-label='Undo']").last.click()
    desk.wait_for_function("n => document.querySelectorAll('#chat [data-testid=\"user\"]').length === n - 1",
                           arg=n_users)
    assert desk.locator("#message-box textarea").input_value() == asked[-1]  # back in the box
    assert [m["content"] for m in app.history(thread) if m["role"] == "user"] == asked[:-1]  # and off the server
    desk.reload()
    desk.locator('#chat [data-testid="bot"]').last.wait_for()
    desk.wait_for_timeout(500)
    assert asked[-1] not in _users(desk) and len(_users(desk)) == n_users - 1


def test_conversations_survive_a_reload_and_a_restart(desk, app, browser):
    thread = _thread(desk)
    desk.reload()
    desk.wait_for_selector('#chat [data-testid="bot"]')
    assert _thread(desk) == thread
    assert desk.locator('#chat [data-testid="bot"]', has_text="first:").count() == 1
    assert thread in desk.locator("#conversation-list").inner_html()

    folders = app.work_folders()
    assert folders and any(folders[0].rglob("*.wav"))  # audition renders were kept there
    app.stop()
    assert app.work_folders() == []  # SIGTERM removed the temporary files
    app.start()
    desk.goto(app.url)  # the bare address: the list and the open conversation from the browser
    desk.wait_for_function("() => new URL(location.href).searchParams.get('thread')")
    assert _thread(desk) == thread
    desk.wait_for_selector('#chat [data-testid="bot"]')
    assert desk.locator('#chat [data-testid="bot"]', has_text="first:").count() == 1
    assert "flawed_mix.wav" in desk.locator("#conversation-list").inner_text()

    # another browser with the thread id alone opens nothing
    other = browser.new_context(viewport=DESK)
    page = other.new_page()
    page.goto(f"{app.url}/?thread={thread}")
    page.wait_for_selector('#chat [data-testid="bot"]')
    assert "started in another browser" in page.locator("#chat").inner_text()
    assert page.locator('#chat [data-testid="bot"]', has_text="first:").count() == 0
    other.close()


def test_clear_starts_a_new_conversation(desk, app):
    thread = _thread(desk)
    desk.locator("#chat button[aria-label='Clear']").click()
    desk.wait_for_function("() => !new URL(location.href).searchParams.get('thread')")
    assert desk.locator('#chat [data-testid="bot"]').count() == 0
    _send(desk, "Is it loud enough for Spotify?")
    desk.locator("#chat :text('Drop a mix in the box and press Review first')").wait_for()
    desk.reload()
    desk.wait_for_selector("#message-box textarea")
    desk.wait_for_timeout(1500)
    assert _thread(desk) is None and desk.locator('#chat [data-testid="bot"]', has_text="first:").count() == 0
    # the old conversation is still in the list (the side bar), and reopens from it
    desk.locator("button[aria-label='Toggle Sidebar']").click()
    desk.locator("#conversation-list label", has_text="flawed_mix.wav").first.click()
    desk.wait_for_function("t => new URL(location.href).searchParams.get('thread') === t", arg=thread)
    desk.locator('#chat [data-testid="bot"]', has_text="first:").first.wait_for()
    desk.locator("button[aria-label='Toggle Sidebar']").click()


def test_plots_read_in_hz_with_alt_text(desk, app):
    from mixingbuddy.agent.api import MixingBuddy
    from mixingbuddy.ui import plots

    desk.get_by_role("tab", name="Spectrum").click()
    img = desk.locator("#plot-spectrum img")
    img.wait_for(state="visible")
    assert img.evaluate("el => el.naturalWidth") > 100
    assert desk.locator("#alt-spectrum").inner_text().startswith("Figure: the mix's 1/3-octave spectrum")
    with MixingBuddy(app.home, llm=None, use_model=False) as mb:
        fig = plots.spectrum_figure(mb.state(_thread(desk))["report"])
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks and all(re.fullmatch(r"\d+(\.\d+)? k?Hz", t) for t in ticks), ticks


def test_a_finding_links_to_its_plot_and_time_range(browser, app, song):
    """Each finding's "See:" buttons: one selects its plot's tab, one for a time range selects the
    waveform and re-draws it with the range highlighted (its alt text names the range); the
    buttons fit a phone's width."""
    from mixingbuddy.agent.api import MixingBuddy
    from mixingbuddy.ui.finding_links import finding_links
    from mixingbuddy.ui.plots import spans_text

    ctx = browser.new_context(viewport=DESK)  # a tab of its own: a new conversation, whatever ran before
    desk = ctx.new_page()
    desk.set_default_timeout(TIMEOUT_MS)
    desk.goto(app.url)
    desk.wait_for_selector("#message-box textarea")
    _send(desk, files=song)
    _idle(desk)
    with MixingBuddy(app.home, llm=None, use_model=False) as mb:
        state = mb.state(_thread(desk))
    clip = next(f for f in state["findings"] if f["topic"] == "clipping" and f["regions_s"])
    wave = finding_links(clip, state["report"])[-1]
    assert wave.tab == "waveform" and wave.spans

    desk.get_by_role("tab", name="Findings").click()
    card = desk.locator("#findings .finding:visible", has_text="Clipping").first
    assert "See:" not in card.inner_text()  # the buttons say where to look
    # the tab-only link: the vocals finding's Balance plot
    desk.locator("#findings .see-finding:visible", has_text="See: Balance tab").first.click()
    balance = desk.get_by_role("tab", name="Balance")
    desk.wait_for_function("() => [...document.querySelectorAll('#panels [role=tab]')].some("
                           "t => t.innerText.trim() === 'Balance' && t.getAttribute('aria-selected') === 'true')")
    assert balance.get_attribute("aria-selected") == "true"
    assert desk.locator("#plot-stem_levels").is_visible()

    # the clipping finding's time ranges: the waveform tab, re-drawn with them highlighted
    desk.get_by_role("tab", name="Findings").click()
    btn = desk.locator("#findings .see-finding:visible", has_text=wave.button_text())
    assert btn.count() == 1, desk.locator("#findings .see-finding:visible").all_inner_texts()
    btn.click()
    desk.wait_for_function("() => [...document.querySelectorAll('#panels [role=tab]')].some("
                           "t => t.innerText.trim() === 'Waveform' && t.getAttribute('aria-selected') === 'true')")
    want = f"Highlighted in blue: {spans_text(wave.spans)} ({clip['title']})."
    desk.wait_for_function("w => (document.querySelector('#alt-waveform') || {innerText: ''}).innerText.includes(w)",
                           arg=want)
    desk.locator("#plot-waveform img").wait_for(state="visible")

    # on a phone: the buttons wrap inside the screen, no horizontal scroll
    desk.set_viewport_size(PHONE)
    try:
        desk.get_by_role("tab", name="Findings").click()
        boxes = [b.bounding_box() for b in desk.locator("#findings .see-finding:visible").all()]
        assert boxes and all(b["x"] >= 0 and b["x"] + b["width"] <= PHONE["width"] for b in boxes), boxes
        assert _no_horizontal_scroll(desk)
    finally:
        desk.set_viewport_size(DESK)
    assert _no_horizontal_scroll(desk)
    ctx.close()


def test_phone_sample_mix_review(browser, app):
    ctx = browser.new_context(viewport=PHONE)
    page = ctx.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(app.url)
    page.wait_for_selector("#message-box textarea")
    page.locator("#chat :text('Review this sample mix')").click()  # the first-visit example
    page.wait_for_function("() => (document.querySelector('#taken-as-text') || {innerText: ''})"
                           ".innerText.includes('sample_mix.wav')")
    page.evaluate(_WATCH_JS, 0)
    page.locator("#message-box .submit-button").click()
    _idle(page)
    assert page.locator('#chat [data-testid="bot"]', has_text="MixingBuddy review").count() == 1
    assert _no_horizontal_scroll(page)
    assert _box(page, "#chat")["y"] < _box(page, "#message-box")["y"]
    page.screenshot(path=str(SHOTS / "phone-review.png"))
    ctx.close()


def test_remove_deletes_on_the_server(desk, app, browser, song):
    from mixingbuddy.agent.api import MixingBuddy

    def stored() -> list[str]:
        with MixingBuddy(app.home, llm=None, use_model=False) as mb:
            return [t.thread_id for t in mb.thread_summaries()]

    if _thread(desk) is None:  # run alone: review something to remove
        _send(desk, files=song[:1])
        _idle(desk)
    thread = _thread(desk)
    assert thread in stored()
    # another browser, with the thread id alone, cannot remove it
    other = browser.new_context(viewport=DESK)
    page = other.new_page()
    page.goto(f"{app.url}/?thread={thread}")
    page.wait_for_selector('#chat [data-testid="bot"]')
    page.locator("button[aria-label='Toggle Sidebar']").click()
    page.locator("#delete-button").click()
    page.locator("#delete-question", has_text="Open a conversation").wait_for()
    assert not page.locator("#delete-yes").is_visible()
    other.close()
    assert thread in stored()

    desk.locator("button[aria-label='Toggle Sidebar']").click()
    desk.locator("#delete-button").click()  # asks first; Keep keeps it
    desk.locator("#delete-question", has_text="cannot be undone").wait_for()
    assert "flawed_mix.wav" in desk.locator("#delete-question").inner_text()
    desk.locator("#delete-no").click()
    desk.locator("#delete-yes").wait_for(state="hidden")
    assert thread in stored() and _thread(desk) == thread
    desk.locator("#delete-button").click()
    desk.locator("#delete-yes").click()
    desk.wait_for_function("() => !new URL(location.href).searchParams.get('thread')")
    desk.reload()
    desk.wait_for_selector("#message-box textarea")
    desk.wait_for_timeout(1500)
    assert thread not in stored()
    assert thread not in desk.locator("#conversation-list").inner_html()
    assert _thread(desk) is None


def test_a_streaming_language_model_writes_into_the_chat(browser, tmp_path, song):
    """With an external language model that streams (MIXINGBUDDY_LLM_STREAM=1), its answer grows in
    the chat a few checked sentences at a time, marked as being written, then the final answer
    replaces it (issue 16)."""
    from fake_openai import FakeOpenAI, streamed
    from test_agent_llm_e2e import draft_of

    with FakeOpenAI(reply_fn=lambda body: streamed("A friendly review. " + draft_of(body), 0.08)) as server:
        llm_app = App(tmp_path / "home", tmp_path / "tmp", env={
            "MIXINGBUDDY_LLM_BASE_URL": server.base_url, "MIXINGBUDDY_LLM_MODEL": "fake-model",
            "MIXINGBUDDY_LLM_STREAM": "1", "MIXINGBUDDY_LLM_TIMEOUT_S": "60"})
        (tmp_path / "tmp").mkdir()
        llm_app.start()
        ctx = browser.new_context(viewport=DESK)
        try:
            page = ctx.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(llm_app.url)
            page.wait_for_selector("#message-box textarea")
            _send(page, files=song[:1])
            writing = page.locator('#chat [data-testid="bot"]', has_text="Being written by the language model")
            writing.first.wait_for()
            partial = writing.first.inner_text()
            assert "A friendly review." in partial
            _idle(page)
            page.wait_for_function("() => ![...document.querySelectorAll('#chat [data-testid=\"bot\"]')]"
                                   ".some(b => b.innerText.includes('Being written by the language model'))")
            final = " ".join(page.locator('#chat [data-testid="bot"]').all_inner_texts())
            assert "A friendly review." in final
            assert len(server.requests) >= 1 and server.requests[0].get("stream") is True
        finally:
            ctx.close()
            llm_app.stop()
