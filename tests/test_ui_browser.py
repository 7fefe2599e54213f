"""End to end in headless Chromium (Playwright driving Debian's chromium): upload a flawed mix the
test renders, wait for the findings, see a plot, ask a follow-up whose answer names a measured
number, reload the page and find the conversation again (URL), then open the bare address and
find it again (browser storage).

Set MIXINGBUDDY_SCREENSHOTS=DIR to also save screenshots of the main screens there (for the
README)."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import soundfile as sf

CHROMIUM = os.environ.get("MIXINGBUDDY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SR = 44_100
TIMEOUT_MS = 60_000

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no chromium at {CHROMIUM}")]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from mixingbuddy.agent import api
    from mixingbuddy.ui import app as ui_app

    home = tmp_path_factory.mktemp("home")
    mb = api.MixingBuddy(home, llm=None, use_model=False)
    demo = ui_app.serve(mb, port=0, block=False, quiet=True,
                        config=ui_app.AppConfig(work_root=tmp_path_factory.mktemp("work")))
    yield {"mb": mb, "url": demo.local_url.rstrip("/")}
    demo.close()


@pytest.fixture(scope="module")
def flawed_mix(tmp_path_factory) -> Path:
    """An 8 s demo song, vocals 10 dB down, bounced too loud (clipped)."""
    import numpy as np

    from mixingbuddy.model.data.demo_song import SongConfig, render_song

    d = tmp_path_factory.mktemp("mix")
    mix, _ = render_song(SongConfig(duration_s=8.0, seed=21), gains_db={"vocals": -10.0})
    mix = np.clip(mix * 4.0, -1.0, 1.0)
    sf.write(d / "flawed_mix.wav", mix, SR, subtype="PCM_16")
    return d / "flawed_mix.wav"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def _shot(page, name: str) -> None:
    folder = os.environ.get("MIXINGBUDDY_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def _bot_texts(page) -> list[str]:
    return [t.strip() for t in page.locator('[data-testid="bot"]').all_inner_texts()]


def test_review_follow_up_and_reload_in_chromium(app, flawed_mix, browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = ctx.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(app["url"])
    page.wait_for_selector("#review-button")
    _shot(page, "1-start")

    page.locator("#mix-upload input[type=file]").set_input_files(str(flawed_mix))
    page.wait_for_selector("#mix-upload :text('flawed_mix.wav')")
    page.click("#review-button")

    # findings arrive in the chat and in the findings panel; the URL now names the thread
    page.wait_for_function("() => document.querySelectorAll('[data-testid=\"bot\"]').length > 0")
    page.wait_for_function("() => new URL(window.location.href).searchParams.get('thread')")
    thread = re.search(r"[?&]thread=([^&#]+)", page.url).group(1)
    first_answer = _bot_texts(page)[0]
    assert first_answer and not first_answer.startswith("error[")
    page.wait_for_function("() => !document.querySelector('#findings').innerText.includes('No review yet')")
    state = app["mb"].state(thread)
    assert state["report"]["mix"]["name"] == "flawed_mix.wav"
    _shot(page, "2-review")

    # a plot is shown
    page.get_by_role("tab", name="Spectrum").click()
    img = page.locator("#plot-spectrum img")
    img.wait_for(state="visible")
    assert img.evaluate("el => el.naturalWidth") > 100
    _shot(page, "3-spectrum")

    # a follow-up whose answer names a measured number
    lufs = state["report"]["loudness"]["integrated_lufs"]
    n_before = len(_bot_texts(page))
    page.fill("#question textarea", "is it loud enough for Spotify?")
    page.click("#ask-button")
    page.wait_for_function(
        f"() => document.querySelectorAll('[data-testid=\"bot\"]').length > {n_before}")
    answer = _bot_texts(page)[-1]
    assert f"{lufs:.1f}" in answer
    _shot(page, "4-follow-up")

    # reload: the conversation comes back from the URL
    page.reload()
    page.wait_for_function(
        f"() => document.querySelectorAll('[data-testid=\"bot\"]').length > {n_before}")
    assert any(f"{lufs:.1f}" in t for t in _bot_texts(page))
    assert thread in page.url

    # the bare address in the same browser: back from the browser's storage
    page.goto(app["url"])
    page.wait_for_function(
        f"() => document.querySelectorAll('[data-testid=\"bot\"]').length > {n_before}")
    page.wait_for_function("() => new URL(window.location.href).searchParams.get('thread')")
    assert thread in page.url
    ctx.close()
