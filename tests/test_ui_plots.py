"""ui.plots: figures built from a real analysis of a short rendered song with stems."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from mixingbuddy.tools.errors import InvalidArgumentError
from mixingbuddy.tools.io.ingest import load_audio, load_mix_and_stems
from mixingbuddy.tools.measure.analyze import analyze
from mixingbuddy.ui import plots

SR = 44_100
CLIP_S = (2.0, 2.5)


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    """An 8 s demo song with quiet vocals and a hard-clipped half second in the mix."""
    from mixingbuddy.model.data.demo_song import SongConfig, render_song

    d = tmp_path_factory.mktemp("song")
    mix, stems = render_song(SongConfig(duration_s=8.0, seed=3), gains_db={"vocals": -9.0})
    mix = mix.copy()
    a, b = (int(s * SR) for s in CLIP_S)
    mix[a:b] = np.clip(mix[a:b] * 8.0, -0.9, 0.9)
    sf.write(d / "mix.wav", mix, SR, subtype="PCM_24")
    (d / "stems").mkdir()
    for role, x in stems.items():
        sf.write(d / "stems" / f"{role}.wav", x, SR, subtype="PCM_24")
    m, s = load_mix_and_stems(d / "mix.wav", d / "stems")
    with_stems = analyze(m, s, anchor="drums", platform="apple_music").model_dump()
    mix_only = analyze(m, None, platform="spotify").model_dump()
    return {"dir": d, "mix": m, "with_stems": with_stems, "mix_only": mix_only}


def _labels(ax):
    return ax.get_xlabel(), ax.get_ylabel()


def test_spectrum_against_target(song, tmp_path):
    rep = song["with_stems"]
    fig = plots.spectrum_figure(rep)
    ax = fig.axes[0]
    x_label, y_label = _labels(ax)
    assert "band" in x_label and "dB" in y_label
    assert ax.get_xscale() == "log"
    # the frequency axis reads in Hz and kHz, not powers of ten
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert "100 Hz" not in labels and "1 kHz" in labels and "125 Hz" in labels
    assert all(lab.endswith(("Hz", "kHz")) for lab in labels) and not any("^" in lab for lab in labels)
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    mix_line = lines["this mix"]
    assert len(mix_line.get_xdata()) == len(rep["spectrum"]["bands"])
    assert np.allclose(mix_line.get_ydata(), [b["level_db"] for b in rep["spectrum"]["bands"]])
    assert any(k.startswith("target") for k in lines)
    # the p10-p90 band is drawn when the report carries it
    has_range = any(b["target_p10_db"] is not None for b in rep["spectrum"]["bands"])
    assert has_range == any("p10-p90" in c.get_label() for c in ax.collections)
    png = plots.save_png(fig, tmp_path / "sub" / "spectrum.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_spectrum_without_target_range_and_absent():
    rep = {"spectrum": {"bands": [{"centre_hz": f, "level_db": 0.0} for f in (100.0, 1000.0, 10000.0)]}}
    ax = plots.spectrum_figure(rep).axes[0]
    assert [ln.get_label() for ln in ax.get_lines()] == ["this mix"]
    assert not ax.collections
    assert plots.spectrum_figure({"spectrum": {"bands": []}}) is None
    assert plots.spectrum_figure(None) is None


def test_loudness_over_time_against_platform(song):
    rep = song["with_stems"]
    ax = plots.loudness_figure(rep).axes[0]
    assert "s" in ax.get_xlabel() and "LUFS" in ax.get_ylabel()
    labels = [ln.get_label() for ln in ax.get_lines()]
    assert len(labels) == 3
    target = next(ln for ln in ax.get_lines() if "target" in ln.get_label())
    assert "Apple Music" in target.get_label()
    assert target.get_ydata()[0] == pytest.approx(-16.0)
    series = ax.get_lines()[0]
    assert len(series.get_xdata()) == len(rep["loudness"]["short_term_times_s"])
    # an explicit platform overrides the report's
    ax2 = plots.loudness_figure(rep, platform="ebu_r128").axes[0]
    assert any(ln.get_ydata()[0] == pytest.approx(-23.0) for ln in ax2.get_lines())
    no_series = dict(rep, loudness=dict(rep["loudness"], short_term_times_s=[], short_term_lufs=[]))
    assert plots.loudness_figure(no_series) is None


def test_stem_levels_against_range(song):
    rep = song["with_stems"]
    fig = plots.stem_levels_figure(rep)
    ax = fig.axes[0]
    assert "dB" in ax.get_xlabel()
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert names == [f"{s['name']}{' (anchor)' if s['is_anchor'] else ''}" for s in rep["stem_balance"]["stems"]]
    # one range bar per stem with a reference
    assert len(ax.patches) == sum(1 for s in rep["stem_balance"]["stems"] if s["vs_rest"]["reference"])
    # the vocals (9 dB down) are marked too quiet, in their annotation
    vocals = next(s for s in rep["stem_balance"]["stems"] if s["name"] == "vocals")
    assert vocals["status"] == "too_quiet"
    assert any("too quiet" in t.get_text() and f"{vocals['vs_rest']['value_db']:+.1f}" in t.get_text()
               for t in ax.texts)
    assert plots.stem_levels_figure(song["mix_only"]) is None


def test_masking_heat_map(song):
    rep = song["with_stems"]
    fig = plots.masking_figure(rep)
    ax = fig.axes[0]
    img = ax.get_images()[0]
    n_pairs = len(rep["masking"]["pairs"])
    assert img.get_array().shape == (n_pairs, len(rep["masking"]["band_centres_hz"]))
    assert len(ax.get_yticklabels()) == n_pairs
    assert "Hz" in ax.get_xlabel()
    assert "masked" in fig.axes[1].get_ylabel()  # the colour bar
    assert plots.masking_figure(song["mix_only"]) is None


def test_waveform_with_problem_regions(song):
    rep = song["mix_only"]
    findings = [{"title": "masking in the chorus", "regions_s": [(5.0, 6.0)]}]
    regions = plots.problem_regions(rep, findings)
    kinds = {r.kind for r in regions}
    assert "finding" in kinds and "loud" in kinds
    clip_runs = rep["dynamics"]["clipping"]["worst_runs"]
    assert clip_runs, "the injected clipping must be measured"
    clipped = [r for r in regions if r.kind == "clipping"]
    assert clipped and all(CLIP_S[0] - 0.05 <= r.start_s <= CLIP_S[1] for r in clipped)
    fig = plots.waveform_figure(song["dir"] / "mix.wav", rep, findings)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Time (s)" and "Amplitude" in ax.get_ylabel()
    spans = [p for p in ax.patches]
    assert len(spans) == len(regions)
    assert ax.get_xlim()[1] == pytest.approx(song["mix"].duration_s, abs=0.01)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("clipped" in t for t in legend) and any("finding" in t for t in legend)


def test_waveform_inputs():
    x = np.sin(np.linspace(0, 200, 48_000)).astype(np.float32)[:, None] * 0.5
    lo, hi = plots.envelope(x, columns=100)
    assert lo.shape == hi.shape == (100,)
    assert hi.max() == pytest.approx(0.5, abs=0.01) and lo.min() == pytest.approx(-0.5, abs=0.01)
    fig = plots.waveform_figure(x, None, sr=48_000)
    assert fig.axes[0].get_xlim()[1] == pytest.approx(1.0)
    assert plots.waveform_figure(None) is None
    with pytest.raises(InvalidArgumentError):
        plots.waveform_figure(x, None)
    with pytest.raises(InvalidArgumentError):
        plots.envelope(np.zeros(0))


def test_all_figures_names(song):
    figs = plots.all_figures(song["mix_only"], load_audio(song["dir"] / "mix.wav"))
    assert set(figs) == set(plots.PLOT_NAMES)
    assert figs["stem_levels"] is None and figs["masking"] is None
    assert all(figs[k] is not None for k in ("spectrum", "loudness", "waveform"))


def test_a_long_mix_waveform_is_read_a_slice_at_a_time(tmp_path):
    """A mix past the spooling length is drawn from its spool, one slice per column, with the
    same envelope as the whole file decoded into memory."""
    from mixingbuddy.tools.io.spool import SPOOL_ABOVE_S, Spool

    sr = 8_000
    n = int((SPOOL_ABOVE_S + 10) * sr)
    t = np.arange(n) / sr
    x = (0.5 * np.sin(2 * np.pi * 220 * t) * np.minimum(1.0, t / 60.0)).astype(np.float32)
    path = tmp_path / "long.wav"
    sf.write(path, np.stack([x, x], axis=1), sr, subtype="PCM_16")
    spooled = load_audio(path, spool_above_s=SPOOL_ABOVE_S)
    assert isinstance(spooled.source(), Spool)
    lo, hi = plots.envelope(spooled.source())
    lo2, hi2 = plots.envelope(load_audio(path).samples)
    np.testing.assert_array_equal(lo, lo2)
    np.testing.assert_array_equal(hi, hi2)
    assert hi[0] < 0.05 < 0.45 < hi[-1]  # the fade-in is drawn
    assert plots.waveform_figure(path) is not None


def test_waveform_highlights_a_findings_range():
    """A finding's time ranges picked out on the waveform: hatched spans at those x positions with
    solid edges (a few-millisecond clipped run stays visible), named in the legend and title,
    clipped to the file; the alt text says which range is highlighted."""
    x = np.sin(np.linspace(0, 400, 96_000)).astype(np.float32)[:, None] * 0.5  # 2 s at 48 kHz
    fig = plots.waveform_figure(x, None, sr=48_000, highlight=[(1.25, 1.75), (0.4, 0.402), (1.9, 9.0)])
    ax = fig.axes[0]
    spans = sorted((p.get_x(), p.get_x() + p.get_width()) for p in ax.patches if p.get_gid() == "highlight")
    assert np.allclose(spans, [(0.4, 0.402), (1.25, 1.75), (1.9, 2.0)])
    edges = sorted(ln.get_xdata()[0] for ln in ax.get_lines() if ln.get_gid() == "highlight-edge")
    assert edges == pytest.approx([0.4, 0.402, 1.25, 1.75, 1.9, 2.0])
    assert all(p.get_facecolor()[:3] == pytest.approx(matplotlib_rgb(plots.HIGHLIGHT_COLOUR))
               for p in ax.patches if p.get_gid() == "highlight")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "highlighted: 0:00.4, 0:01.2-0:01.8 and 1 more" in legend
    assert ax.get_title().endswith("0:00.4, 0:01.2-0:01.8 and 1 more highlighted")
    # without a highlight: nothing of it drawn
    plain = plots.waveform_figure(x, None, sr=48_000).axes[0]
    assert not [p for p in plain.patches if p.get_gid() == "highlight"]
    assert plain.get_title() == "Waveform with problem regions"

    base = plots.plot_alt_text("waveform", {})
    assert base.startswith("Figure: the mix's waveform") and "Highlighted" not in base
    alt = plots.plot_alt_text("waveform", {}, highlight=[(61.04, 64.5)], highlight_what="Clipping")
    assert alt == base + " Highlighted in blue: 1:01.0-1:04.5 (Clipping)."
    assert plots.spans_text([(3.0, 3.04), (0.0, 3.0), (0.0, 3.0)]) == "0:00.0-0:03.0, 0:03.0"
    assert plots.time_span(63.2, 64.0) == "1:03.2-1:04.0" and plots.spans_text([]) == ""


def matplotlib_rgb(colour: str) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb

    return to_rgb(colour)
