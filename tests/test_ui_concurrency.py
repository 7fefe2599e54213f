"""ui.app under load: ten simultaneous sessions through gradio_client against one real server
(a real MixingBuddy, tools only): no errors, and no answer mentioning another session's audio."""
from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf
from conftest import make_sine
from test_ui_app import R_BOOK, R_CHAT, R_THREAD, _review, _send, text_of

from mixingbuddy.ui import app as ui_app
from mixingbuddy.ui.app import AppConfig

SR = 44_100
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from mixingbuddy.agent import api
    mb = api.MixingBuddy(tmp_path_factory.mktemp("home"), llm=None, use_model=False)
    demo = ui_app.serve(mb, port=0, block=False, quiet=True,
                        config=AppConfig(work_root=tmp_path_factory.mktemp("work"), concurrency=4))
    yield {"mb": mb, "demo": demo}
    demo.close()


def test_ten_simultaneous_sessions_stay_apart(live, tmp_path):
    """Ten clients review ten different mixes at once: no errors, and each answer is about its
    own mix (its name and its measured loudness), never another session's."""
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client

    n = 10
    mixes = []
    for k in range(n):
        x = make_sine(110.0 * (k + 2), 3.0, SR, amp=0.02 * (k + 1), channels=2)
        x += (0.01 * np.random.default_rng(k).standard_normal(x.shape)).astype(np.float32)
        mixes.append(tmp_path / f"session{k:02d}_take.wav")
        sf.write(mixes[-1], x, SR)

    def one(k):
        client = Client(live["demo"].local_url, verbose=False)
        out = _review(client, mixes[k])
        tid = out[R_THREAD]
        ask = _send(client, "is it loud enough for Spotify?", thread=tid, book=out[R_BOOK])[0]
        return k, out, tid, ask

    with ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(one, range(n)))
    threads = {tid for _, _, tid, _ in results}
    assert len(threads) == n
    lufs = {k: live["mb"].state(tid)["report"]["loudness"]["integrated_lufs"] for k, _, tid, _ in results}
    assert len({f"{v:.1f}" for v in lufs.values()}) == n  # ten different mixes, ten loudnesses
    for k, out, tid, ask in results:
        texts = " ".join(text_of(m) for m in out[R_CHAT] + ask)
        assert "error[" not in texts
        assert live["mb"].state(tid)["report"]["mix"]["name"] == mixes[k].name
        assert f"{lufs[k]:.1f}" in text_of(ask[-1])
        for j in range(n):
            if j != k:  # nothing from another session: its file name, its loudness
                assert f"session{j:02d}" not in texts
                assert f"{lufs[j]:.1f} LUFS" not in texts
