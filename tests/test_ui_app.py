"""ui.app: the Gradio app's helpers, its layout, and a real server on 127.0.0.1 driven with
gradio_client (bad uploads answered in the chat as one line, the agent created only when needed)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import make_sine

from mixingbuddy.tools.errors import EmptyFileError
from mixingbuddy.tools.io.ingest import load_mix_and_stems
from mixingbuddy.tools.measure.analyze import analyze
from mixingbuddy.ui import app as ui_app
from mixingbuddy.ui.app import (
    AppConfig,
    chat_from_history,
    error_line,
    figures_for,
    findings_markdown,
    llm_banner,
    pick_anchor,
    review_json,
    review_markdown,
    write_downloads,
)
from mixingbuddy.ui.chat import text_of  # noqa: F401 - also used by test_ui_concurrency
from mixingbuddy.ui.uploads import UploadLimits

SR = 44_100
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory):
    """A stored review's state as the agent keeps it: a real analysis of a rendered song with
    stems, findings and claims in the shared contract's shape, and the stored audio record."""
    from mixingbuddy.model.data.demo_song import SongConfig, render_song

    d = tmp_path_factory.mktemp("song")
    mix, stems = render_song(SongConfig(duration_s=6.0, seed=7), gains_db={"vocals": -9.0})
    sf.write(d / "mix.wav", mix, SR)
    (d / "stems").mkdir()
    for role, x in stems.items():
        sf.write(d / "stems" / f"{role}.wav", x, SR)
    m, s = load_mix_and_stems(d / "mix.wav", d / "stems")
    report = analyze(m, s, anchor="drums", platform="spotify").model_dump(mode="json")
    vocals = next(st for st in report["stem_balance"]["stems"] if st["name"] == "vocals")
    findings = [{
        "id": "balance-vocals", "topic": "balance", "severity": "high", "title": "Vocals too quiet",
        "detail": vocals["verdict"], "action": "raise the vocals",
        "evidence": [{"tool": "stem_balance", "quantity": "vocals vs rest",
                      "value": vocals["level_vs_rest_db"], "unit": "dB", "decimals": 1}],
        "source": "model+tools", "regions_s": [[1.0, 2.5]]}]
    claims = [{"text": "the vocals are too quiet", "stem": "vocals", "direction": "increase",
               "magnitude_db": [3.0, 6.0], "no_adjustment": False, "verdict": "confirmed",
               "evidence": [], "note": "measured too"}]
    audio = {"mix": str(d / "mix.wav"), "stems": [str(p) for p in sorted((d / "stems").iterdir())],
             "stem_roles": {}, "stems_container": None, "reference": None}
    state = {"report": report, "findings": findings, "claims": claims, "audio": audio,
             "degradations": ["audio model weights not found: reviewed with the tools only"]}
    history = [{"role": "user", "content": "Review my mix"},
               {"role": "assistant", "content": "Your vocals sit low."},
               {"role": "user", "content": "why?"}, {"role": "assistant", "content": "Because."}]
    return {"dir": d, "state": state, "history": history, "vocals": vocals}


# ----------------------------------------------------------------------------- helpers


def test_findings_markdown_in_a_mixers_words(reviewed):
    findings = reviewed["state"]["findings"]
    md = findings_markdown(findings + findings)  # a repeated finding is shown once
    assert md.count("**Vocals too quiet**") == 1 and "**[fix first]**" in md
    assert reviewed["vocals"]["verdict"] in md  # the measured sentence, not the evidence keys
    assert "What to do:* raise the vocals" in md
    assert "*See:* the Balance tab and the Waveform tab at 0:01.0-0:02.5; heard by the audio model and measured" in md
    for key in ("stem_balance", "vocals vs rest", "`", "->"):
        assert key not in md
    assert findings_markdown([]) == "_No findings yet._"


def test_each_finding_links_to_its_plot_and_time_range(reviewed):
    """finding -> (tab, time ranges): the topic's plot tab, then the waveform at the ranges the
    measurements report (a finding's regions_s; for dynamics, the loudest 3 s of the report's
    short-term loudness series); the "See:" line and the buttons read from the same links."""
    from mixingbuddy.ui.finding_links import FindingLink, finding_links, loudest_window, see_line

    report = reviewed["state"]["report"]

    def where(f, rep=None):
        return [(ln.tab, ln.spans) for ln in finding_links(f, rep)]

    clip = {"topic": "clipping", "title": "Clipping", "regions_s": [[3.263, 3.313], [0.011, 0.061], [3.263, 3.313]]}
    assert where(clip) == [("waveform", ((0.011, 0.061), (3.263, 3.313)))]  # the waveform is its tab: once
    assert finding_links(clip)[0].button_text() == "See: Waveform at 0:00.0-0:00.1, 0:03.3"
    balance = reviewed["state"]["findings"][0]
    links = finding_links(balance)
    assert [(ln.tab, ln.spans) for ln in links] == [("stem_levels", ()), ("waveform", ((1.0, 2.5),))]
    assert [ln.button_text() for ln in links] == ["See: Balance tab", "See: Waveform at 0:01.0-0:02.5"]
    assert see_line(links, "model+tools") == ("*See:* the Balance tab and the Waveform tab at 0:01.0-0:02.5; "
                                              "heard by the audio model and measured")
    assert where({"topic": "masking", "regions_s": [(4.0, 6.5)]}) == [("masking", ()), ("waveform", ((4.0, 6.5),))]
    assert where({"topic": "true_peak"}, report) == [("loudness", ())]  # no time is measured for it
    assert where({"topic": "spectrum"}) == [("spectrum", ())] and where({"topic": "reference"}) == [("spectrum", ())]
    assert where({"topic": "stereo"}) == [] and see_line([]) == ""  # no stereo figure
    assert where({"topic": "stereo", "regions_s": [(2.0, 5.0)]}) == [("waveform", ((2.0, 5.0),))]
    # dynamics: the PSR is the true peak over the loudest short-term loudness: that window
    loud = report["loudness"]
    k = max(range(len(loud["short_term_lufs"])), key=lambda i: loud["short_term_lufs"][i])
    end, lufs = loud["short_term_times_s"][k], loud["short_term_lufs"][k]
    assert loudest_window(report) == (max(0.0, end - 3.0), end, lufs)
    dyn = finding_links({"topic": "dynamics", "title": "Dynamics intact"}, report)
    assert [(ln.tab, ln.spans) for ln in dyn] == [("loudness", ()), ("waveform", ((max(0.0, end - 3.0), end),))]
    assert dyn[1].what == f"the loudest 3 s, short-term loudness {lufs:.1f} LUFS"
    assert where({"topic": "dynamics"}) == [("loudness", ())]  # without the report: the tab alone
    no_psr = dict(report, dynamics=dict(report["dynamics"], psr_db=None))
    assert where({"topic": "dynamics"}, no_psr) == [("loudness", ())]
    assert loudest_window({"loudness": {"short_term_times_s": [3.0, 4.0], "short_term_lufs": [None, -9.5]}}) == \
        (1.0, 4.0, -9.5)
    assert loudest_window({}) is None
    # the link as the page keeps it, and back
    assert FindingLink.from_dict(dyn[1].as_dict()) == dyn[1]
    assert FindingLink.from_dict({"tab": "nowhere"}) is None and FindingLink.from_dict(None) is None
    # the Findings tab's text without the "See:" line (the buttons say it), the note on the title
    entry = ui_app.finding_entries([balance])[0]
    assert entry.links == tuple(links) and "See:" not in entry.text(see=False)
    assert entry.text(see=False).startswith("**[fix first]** **Vocals too quiet** (heard by the audio model")


def test_highlighted_waveform_of_a_stored_review(reviewed):
    from mixingbuddy.ui.finding_links import FindingLink, highlighted_waveform

    link = FindingLink("waveform", ((1.0, 2.5),), "Vocals too quiet")
    fig, alt = highlighted_waveform(reviewed["state"], link)
    ax = fig.axes[0]
    spans = [(p.get_x(), p.get_x() + p.get_width()) for p in ax.patches if p.get_gid() == "highlight"]
    assert np.allclose(spans, [(1.0, 2.5)])
    assert any("finding" in t.get_text() for t in ax.get_legend().get_texts())  # the other regions stay
    assert alt.endswith(" Highlighted in blue: 0:01.0-0:02.5 (Vocals too quiet).")
    gone = dict(reviewed["state"], audio={"mix": str(reviewed["dir"] / "missing.wav")})
    assert highlighted_waveform(gone, link) == (None, "")


def test_review_downloads(reviewed, tmp_path):
    st, hist = reviewed["state"], reviewed["history"]
    md_path, js_path = write_downloads(tmp_path / "dl", "thread-1", st, hist)
    md = Path(md_path).read_text()
    lufs = st["report"]["loudness"]["integrated_lufs"]
    assert md.startswith("# MixingBuddy review: mix.wav")
    assert f"| integrated loudness | {lufs:.1f} LUFS |" in md
    assert "**You:**" in md and "Because." in md and "confirmed" in md
    assert "audio model weights not found" in md
    data = json.loads(Path(js_path).read_text())
    assert data["thread_id"] == "thread-1" and data["files"]["mix"] == "mix.wav"
    assert sorted(data["files"]["stems"]) == ["bass.wav", "drums.wav", "other.wav", "vocals.wav"]
    assert str(reviewed["dir"]) not in Path(js_path).read_text()  # no server paths leak
    assert data["report"]["loudness"]["integrated_lufs"] == lufs
    assert len(data["conversation"]) == 4
    assert review_json("t", {}, [])["findings"] == []
    assert "## Findings" in review_markdown("t", {}, [])


def test_figures_and_sliders_from_state(reviewed):
    figs = figures_for(reviewed["state"])
    assert all(figs[name] is not None for name, _ in ui_app.PLOT_TABS)
    wave = figs["waveform"].axes[0]
    assert any("finding" in t.get_text() for t in wave.get_legend().get_texts())
    assert ui_app.stem_roles_of(reviewed["state"]) == ["vocals", "drums", "bass", "other"]
    assert all(v is None for v in figures_for({}).values())
    # a stored mix that disappeared: every figure but the waveform
    gone = dict(reviewed["state"], audio={"mix": str(reviewed["dir"] / "missing.wav")})
    figs = figures_for(gone)
    assert figs["waveform"] is None and figs["spectrum"] is not None


def test_chat_history_error_line_banner_anchor(tmp_path):
    assert chat_from_history([], "answer") == [{"role": "assistant", "content": "answer"}]
    assert chat_from_history([{"role": "system", "content": "x"}, {"role": "user", "content": "q"}]) == \
        [{"role": "user", "content": "q"}]
    line = error_line(EmptyFileError("is an empty file (0 bytes)", path="/x/y/a.wav"))
    assert line == "error[empty_file]: a.wav: is an empty file (0 bytes)"
    other = error_line(KeyError("secret /home/user/path"))
    assert other.startswith("error[internal]") and "KeyError" in other and "/home" not in other
    assert llm_banner(None, env={}) is None
    b = llm_banner(None, env={"MIXINGBUDDY_LLM_BASE_URL": "http://10.0.0.5:11434/v1",
                              "MIXINGBUDDY_LLM_MODEL": "qwen", "MIXINGBUDDY_LLM_API_KEY": "sk-hidden"})
    assert "qwen" in b and "10.0.0.5:11434" in b and "sk-hidden" not in b
    assert pick_anchor("auto") is None and pick_anchor("bass") == "bass"
    assert pick_anchor("<script>") is None


def test_layout_builds_without_creating_the_agent(tmp_path):
    calls = []
    demo = ui_app.build_app(lambda: calls.append(1), config=AppConfig(work_root=tmp_path / "work"))
    cfg = demo.config
    names = {d.get("api_name") for d in cfg["dependencies"] if d.get("api_visibility") == "public"}
    assert {"send", "open", "audition", "reopen"} <= names
    labels = {c.get("props", {}).get("label") for c in cfg["components"]}
    for want in ("Target platform", "Anchor stem (assumed right)", "Genre", "Before", "After",
                 "Review (Markdown)", "Review (JSON)", "MixingBuddy", "Take as the mix", "Take as the reference"):
        assert want in labels
    types = [c.get("type") for c in cfg["components"]]
    assert types.count("plot") == len(ui_app.PLOT_TABS)
    assert {"browserstate", "chatbot", "multimodaltextbox", "sidebar"} <= set(types)
    chat = next(c for c in cfg["components"] if c.get("type") == "chatbot")["props"]
    assert chat["sanitize_html"] is True and chat["allow_tags"] is False  # endpoint text: no raw HTML
    assert chat["autoscroll"] is False
    assert calls == []


# ----------------------------------------------------------------------------- a real server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app on a free port of 127.0.0.1, with an agent factory that must not be reached by
    requests that fail before the review starts."""
    calls: list[int] = []

    def factory():
        calls.append(1)
        raise RuntimeError("the agent must not be created for a bad upload")

    work = tmp_path_factory.mktemp("work")
    cfg = AppConfig(work_root=work, limits=UploadLimits(max_total_bytes=2_000_000, max_files=4))
    demo = ui_app.serve(factory, port=0, block=False, quiet=True, config=cfg)
    from gradio_client import Client

    client = Client(demo.local_url, verbose=False)
    yield {"client": client, "calls": calls, "work": work, "demo": demo}
    demo.close()


# what gradio_client returns for /send, /open and /reopen (buttons, rows and gr.State are left out)
R_CHAT, R_BOX, R_THREAD, R_BOOK, R_LIST, R_FINDINGS = 0, 1, 2, 3, 4, 5
R_SLIDERS, R_PLOTS, R_ALTS, R_MD, R_JSON = slice(7, 11), slice(11, 16), slice(16, 21), 21, 22
R_FINDING_SLOTS = slice(23, 23 + ui_app.FINDING_SLOTS)  # one Markdown per finding


def _findings(out) -> str:
    """The Findings tab's text: its note, then each finding's slot."""
    return "\n\n".join(str(_val(x) or "") for x in [out[R_FINDINGS], *out[R_FINDING_SLOTS]])


def _send(client, text="", files=(), chat=None, thread="", book=None, mix=None, reference=None):
    """One message from the message box: text and files (the mix and reference picks as the
    user may correct them)."""
    from gradio_client import handle_file

    out = client.predict({"text": text, "files": [handle_file(str(f)) for f in files]}, mix,
                         reference or "(none)", "auto", "spotify", "any", chat or [], thread, book,
                         api_name="/send")
    assert len(out) == R_FINDING_SLOTS.stop
    return out


def _review(client, mix, stems=None, reference=None):
    files = [mix, *(stems or []), *([reference] if reference else [])]
    return _send(client, files=files, mix=Path(mix).name, reference=Path(reference).name if reference else None)


def test_bad_uploads_answered_in_the_chat(server, tmp_path):
    client = server["client"]
    notes = tmp_path / "notes.wav"
    notes.write_text("not audio, just my notes\n" * 40)
    chat = _review(client, notes)[0]
    assert len(chat) == 2 and text_of(chat[-1]) == "error[not_audio]: notes.wav: is a text file, not an audio file"
    assert text_of(chat[0]) == "Review my mix (files: notes.wav)"  # the request, echoed
    big = tmp_path / "big.wav"
    sf.write(big, make_sine(440, 30.0, SR, 0.3, channels=1), SR)  # 2.6 MB > the 2 MB limit
    chat = _review(client, big)[0]
    assert text_of(chat[-1]).startswith("error[upload_limit]: the upload is 2.65 MB; the limit is 2 MB")
    ok = tmp_path / "ok.wav"
    sf.write(ok, make_sine(440, 1.0, SR, 0.3), SR)
    zip_path = tmp_path / "stems.zip"
    import zipfile

    with zipfile.ZipFile(zip_path, "w") as z:
        z.writestr("../../escape.wav", ok.read_bytes())
    chat = _review(client, ok, [zip_path])[0]
    assert text_of(chat[-1]).startswith("error[unsafe_archive]: stems.zip: holds")
    # each error is one line, and none reached the agent; the session folders are gone
    assert server["calls"] == []
    assert list((server["work"] / "uploads").iterdir()) == []


def test_follow_up_and_audition_need_a_review_first(server):
    client = server["client"]
    chat = _send(client, "is it loud enough for Spotify?")[0]
    assert text_of(chat[0]) == "is it loud enough for Spotify?"
    assert text_of(chat[-1]) == ui_app.NO_THREAD
    before, after, numbers = client.predict("", None, 0.0, 0.0, 0.0, 0.0, api_name="/audition")
    assert before is None and after is None and numbers.startswith("error[invalid_argument]")
    assert server["calls"] == []


# ----------------------------------------------------------------------------- with the agent
# (a real MixingBuddy on a home folder in tmp_path, tools only so no weights are needed)

def _val(x):
    """A component's value, whether it came back as a value or as an update dict."""
    return x.get("value") if isinstance(x, dict) and x.get("__type__") == "update" else x


def _render_song(folder: Path, seed: int, seconds: float, vocals_db: float, name: str = "mix.wav",
                 stems: bool = True) -> Path:
    from mixingbuddy.model.data.demo_song import SongConfig, render_song

    folder.mkdir(parents=True, exist_ok=True)
    mix, parts = render_song(SongConfig(duration_s=seconds, seed=seed), gains_db={"vocals": vocals_db})
    sf.write(folder / name, mix, SR)
    if stems:
        (folder / "stems").mkdir(exist_ok=True)
        for role, x in parts.items():
            sf.write(folder / "stems" / f"{role}.wav", x, SR)
    return folder / name


def _agent(home: Path):
    from mixingbuddy.agent import api
    return api.MixingBuddy(home, llm=None, use_model=False)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    mb = _agent(home)
    work = tmp_path_factory.mktemp("work")
    demo = ui_app.serve(mb, port=0, block=False, quiet=True,
                        config=AppConfig(work_root=work, concurrency=4))
    from gradio_client import Client

    yield {"mb": mb, "home": home, "demo": demo, "client": Client(demo.local_url, verbose=False),
           "work": work}
    demo.close()


@pytest.fixture(scope="module")
def reviewed_live(live, tmp_path_factory):
    song = tmp_path_factory.mktemp("flawed")
    mix = _render_song(song, seed=11, seconds=8.0, vocals_db=-10.0)
    stems = sorted((song / "stems").iterdir())
    out = _review(live["client"], mix, stems)
    return {"out": out, "thread": out[R_THREAD], "mix": mix}


def test_review_through_the_server(live, reviewed_live):
    out, tid = reviewed_live["out"], reviewed_live["thread"]
    assert isinstance(tid, str) and tid
    chat = out[R_CHAT]
    assert chat and chat[-1]["role"] == "assistant" and not text_of(chat[-1]).startswith("error[")
    assert chat[1]["metadata"]["title"].startswith("Reviewed mix.wav + 4 stem files in")  # the progress, folded
    assert "measure: done (" in text_of(chat[1])
    assert "vocals" in _findings(out).lower()
    assert all(a.startswith("Figure:") for a in out[R_ALTS])
    assert out[R_BOOK]["current"] == tid and out[R_BOOK]["items"][0]["token"]
    assert all(p is not None for p in out[R_PLOTS])  # every figure, stems included
    vocals_gain = _val(out[R_SLIDERS][0])
    assert vocals_gain > 0 and out[R_SLIDERS][0]["visible"] is True  # prefilled from the balance suggestion
    md = Path(out[R_MD]).read_text()
    state = live["mb"].state(tid)
    lufs = state["report"]["loudness"]["integrated_lufs"]
    assert f"{lufs:.1f} LUFS" in md
    assert json.loads(Path(out[R_JSON]).read_text())["thread_id"] == tid
    assert list((live["work"] / "uploads").iterdir()) == []  # the upload folder was cleaned up


def test_follow_up_names_a_measured_number(live, reviewed_live):
    tid, book = reviewed_live["thread"], reviewed_live["out"][R_BOOK]
    chat = _send(live["client"], "is it loud enough for Spotify?", thread=tid, book=book)[0]
    answer = text_of(chat[-1])
    lufs = live["mb"].state(tid)["report"]["loudness"]["integrated_lufs"]
    assert f"{lufs:.1f}" in answer
    assert len(live["mb"].history(tid)) >= 4


def test_audition_through_the_server(live, reviewed_live):
    tid, book = reviewed_live["thread"], reviewed_live["out"][R_BOOK]
    gain = _val(reviewed_live["out"][R_SLIDERS][0])
    # the thread id alone renders nothing: the conversation is bound to the browser that made it
    assert live["client"].predict(tid, None, gain, 0.0, 0.0, 0.0, api_name="/audition")[2].startswith(
        "error[invalid_argument]: this conversation was started in another browser")
    before, after, numbers = live["client"].predict(tid, book, gain, 0.0, 0.0, 0.0, api_name="/audition")
    assert before and after and "| vocals |" in numbers
    x_b, sr_b = sf.read(before)
    x_a, sr_a = sf.read(after)
    assert sr_a == sr_b and x_a.shape == x_b.shape and not np.allclose(x_a, x_b)


def test_conversation_reopens_after_a_restart(live, reviewed_live, tmp_path):
    tid, book = reviewed_live["thread"], reviewed_live["out"][R_BOOK]
    demo2 = ui_app.serve(_agent(live["home"]), port=0, block=False, quiet=True,
                         config=AppConfig(work_root=tmp_path / "work2"))
    try:
        from gradio_client import Client

        client = Client(demo2.local_url, verbose=False)
        out = client.predict(book, api_name="/reopen")
        assert out[R_THREAD] == tid
        texts = [text_of(m) for m in out[R_CHAT]]
        assert any("first:" in t for t in texts)  # the review's lead, folded as on the first day
        assert out[R_PLOTS][0] is not None
        assert out[R_LIST]["value"] == tid if isinstance(out[R_LIST], dict) else out[R_LIST] == tid
        # the id alone (another browser: no key in its storage) opens nothing
        bad = client.predict(tid, {"items": [], "current": None}, api_name="/open")
        assert bad[R_THREAD] == "" and "started in another browser" in text_of(bad[R_CHAT][0])
        stolen = dict(book, items=[dict(book["items"][0], token="guessed")])
        assert client.predict(stolen, api_name="/reopen")[R_THREAD] == ""
    finally:
        demo2.close()


def test_banner_when_an_external_llm_is_configured(tmp_path):
    from mixingbuddy.agent import api
    from mixingbuddy.agent.endpoint import EndpointConfig

    mb = api.MixingBuddy(tmp_path / "home", use_model=False,
                         llm=EndpointConfig(base_url="http://127.0.0.1:9/v1", model="tiny-chat", api_key="sk-x"))
    demo = ui_app.build_app(mb, config=AppConfig(work_root=tmp_path / "work"))
    banner = next(c for c in demo.config["components"] if c.get("props", {}).get("elem_id") == "llm-banner")
    assert banner["props"]["visible"] is True
    assert "tiny-chat" in banner["props"]["value"] and "sk-x" not in banner["props"]["value"]
    plain = ui_app.build_app(api.MixingBuddy(tmp_path / "home2", use_model=False, llm=None),
                             config=AppConfig(work_root=tmp_path / "work2"))
    banner = next(c for c in plain.config["components"] if c.get("props", {}).get("elem_id") == "llm-banner")
    assert banner["props"]["visible"] is False


def test_ui_command_serves_on_localhost(tmp_path):
    """``mixingbuddy ui`` as a process: the parser's defaults, then a real start on a free port
    of 127.0.0.1 that answers HTTP, then a clean stop."""
    import argparse
    import subprocess
    import sys
    import time

    import httpx

    from mixingbuddy.ui import serve as ui_serve

    p = argparse.ArgumentParser()
    ui_serve.add_ui_parser(p.add_subparsers())
    args = p.parse_args(["ui"])
    assert (args.host, args.port, args.home) == ("127.0.0.1", 7860, None)
    assert args.func is ui_serve.cmd_ui
    port = ui_app.free_port()
    code = ("import argparse, sys; from mixingbuddy.ui.serve import add_ui_parser; "
            "p = argparse.ArgumentParser(); add_ui_parser(p.add_subparsers()); "
            "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))")
    env = dict(os.environ, MIXINGBUDDY_LLM_BASE_URL="", NO_PROXY="127.0.0.1,localhost")
    proc = subprocess.Popen([sys.executable, "-c", code, "ui", "--port", str(port), "--home",
                             str(tmp_path / "home"), "--no-model"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = proc.stdout.readline()
        assert first.strip() == f"MixingBuddy on http://127.0.0.1:{port} (embedded defaults, no network)"
        deadline = time.time() + 90
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                if not r.headers.get("x-mixingbuddy-starting"):  # the app, not its "starting" page
                    break
            except httpx.HTTPError:
                pass
            assert time.time() < deadline and proc.poll() is None, "the server did not come up"
            time.sleep(0.3)
        assert r.status_code == 200 and "MixingBuddy" in r.text and "gradio" in r.text.lower()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ----------------------------------------------------------------------------- readiness


def test_model_status_line_without_a_load(tmp_path):
    from mixingbuddy.agent import api

    assert ui_app.model_status_line(None) == "Audio model: loads with the first review"
    off = api.MixingBuddy(tmp_path / "home", llm=None, use_model=False)
    assert off.model_status() == {"state": "off"}
    assert ui_app.model_status_line(off) == "Audio model: off (reviews use the measurements alone)"
    demo = ui_app.build_app(off, config=AppConfig(work_root=tmp_path / "work"))
    line = next(c for c in demo.config["components"] if c.get("props", {}).get("elem_id") == "model-status")
    assert line["props"]["value"] == "Audio model: off (reviews use the measurements alone)"
    timer = next(c for c in demo.config["components"] if c.get("type") == "timer")
    assert timer["props"]["active"] is False  # nothing to wait for: no polling


@pytest.mark.slow
def test_model_status_goes_from_loading_to_ready(tmp_path):
    """``MixingBuddy.warm_up`` loads the shipped audio model in the background; the status the
    page polls says "loading" at once (the page is built meanwhile, its timer polling), then
    "ready" with the load's duration."""
    import re

    from mixingbuddy.agent import api
    from mixingbuddy.model import listen

    mb = api.MixingBuddy(tmp_path / "home", llm=None, use_model=True, separate=False)
    assert mb.model_status() == {"state": "idle"}
    assert ui_app.model_status_line(mb) == "Audio model: loads with the first review"
    with listen._LOCK:  # the load waits for this lock, so "loading" is seen even by a warm process
        th = mb.warm_up()
        assert mb.model_status() == {"state": "loading"}
        assert ui_app.model_status_line(mb) == "Audio model: loading…"
        demo = ui_app.build_app(mb, config=AppConfig(work_root=tmp_path / "work"))
        timer = next(c for c in demo.config["components"] if c.get("type") == "timer")
        assert timer["props"]["active"] is True
    th.join(timeout=600)
    status = mb.model_status()
    assert status["state"] == "ready" and status["seconds"] >= 0.0
    assert re.fullmatch(r"Audio model: ready \(loaded in \d+\.\d s\)", ui_app.model_status_line(mb))
