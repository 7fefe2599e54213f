"""Stem balance: each stem's level against the rest of the mix, the mix and an anchor stem,
compared with how professionals balance stems (MUSDB18-HQ, ``data/balance_reference.json``).

The method, its gates and its sources are in the Notes of :func:`measure_stem_balance`.
"""
from __future__ import annotations

import functools
import json
import math
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Literal

import numpy as np

from ..errors import InvalidArgumentError
from ..io.audio import STEM_ROLES
from ..io.validate import check_sr, check_stems
from ..results import Measurement, Row, r
from .clip_levels import ALL_STEMS as CLIP_ROLES
from .clip_levels import measure_clip_levels
from .iir import sosfilt_axis0
from .loudness import integrated_from_block_power, k_weighting_sos, power_to_lufs

FRAME_S = 0.05  # activity frame (s), as in the reference study
SEGMENT_FRAMES = 200  # 10 s segments
MIN_TAIL_FRAMES = 100  # keep a tail segment of >= 5 s
ACTIVE_FRAME_DBFS = -50.0  # a frame is active when its RMS (mean of channels) is above this
ACTIVE_SEGMENT_RATIO = 0.5  # a segment counts when >= half its frames are active
SPARSE_MIN_ACTIVE_PCT = 25.0  # a stem active in no segment is still measured if it plays this often
MAX_GAIN_DB = 12.0  # suggested gain changes are clipped to +-this
_ALIASES = {"vocal": "vocals", "vox": "vocals", "voice": "vocals", "voices": "vocals",
            "lead_vocals": "vocals", "drum": "drums", "percussion": "drums", "kit": "drums",
            "basses": "bass", "bass_guitar": "bass", "others": "other", "accompaniment": "other"}

Status = Literal["within_range", "too_loud", "too_quiet", "silent", "no_reference"]


class ReferenceRange(Row):
    """Professional distribution of one relative level (dB), from the reference table."""

    population: str  # "all" (MUSDB18-HQ train+test) or "train"
    p5_db: float
    p10_db: float
    p25_db: float
    p50_db: float
    p75_db: float
    p90_db: float
    p95_db: float
    mean_db: float
    sd_db: float | None
    n: int  # segments
    song_mean_sd_db: float | None = None  # spread between songs


class LevelComparison(Row):
    """One relative level of one stem and where it sits in the professional range."""

    quantity: Literal["vs_rest", "vs_mix", "vs_anchor"]
    against: str  # "rest", "mix" or the anchor's name
    value_db: float | None  # median over the gated 10 s segments (power-sum form for vs_rest)
    n_segments: int
    gate: str
    reference: ReferenceRange | None
    status: Status
    distance_db: float | None  # outside p10..p90 (0 inside)
    suggested_gain_db: float | None  # change on this stem that reaches the reference median
    suggested_gain_min_db: float | None  # smallest change that reaches p25..p75


class StemLevel(Measurement):
    name: str
    role: str | None  # reference role (vocals, drums, bass, other) or None if unknown
    is_anchor: bool
    integrated_lufs: float | None
    rest_integrated_lufs: float | None
    loudness_vs_rest_lu: float | None
    loudness_vs_mix_lu: float | None
    short_term_max_lufs: float | None
    short_term_median_lufs: float | None
    short_term_p10_lufs: float | None
    short_term_p95_lufs: float | None
    rms_dbfs: float | None  # whole song, channels pooled
    active_pct: float  # share of 50 ms frames above -50 dBFS
    active_segments: int  # 10 s segments with >= 50 % active frames
    level_vs_rest_db: float | None  # against the actual sum of the other stems
    level_vs_rest_power_sum_db: float | None  # against the power sum (reference form)
    level_vs_mix_db: float | None
    level_vs_anchor_db: float | None
    vs_rest: LevelComparison | None
    vs_mix: LevelComparison | None
    vs_anchor: LevelComparison | None
    status: Status
    distance_db: float | None
    suggested_gain_db: float | None
    suggested_gain_min_db: float | None
    # stems separated from a bounced mix (tools.separate.evidence): the typical error of this
    # stem's level, and why it looks badly separated (None: it does not)
    separation_error_db: float | None = None
    separation_suspect: str | None = None


class StemBalanceResult(Measurement):
    stems: list[StemLevel]
    anchor: str | None
    duration_s: float
    n_segments: int
    segment_s: float
    mix_integrated_lufs: float | None  # the sum of the stems
    mix_rms_dbfs: float | None
    out_of_range: list[str]  # stem names outside p10..p90, worst first
    reference_population: str | None
    reference_source: str
    method: str
    # whole-clip levels per role (tools.measure.clip_levels: RMS of the whole clip, against the rest,
    # the mix and the anchor's role), stems of one role summed; what the balance judge reads
    clip_levels: dict[str, dict[str, float | None]] | None = None
    source: Literal["stems", "separated"] = "stems"  # the user's stems, or separated from the mix


# --------------------------------------------------------------------------- reference table

@functools.lru_cache(maxsize=4)
def _load_table() -> dict:
    path = resources.files("mixingbuddy.tools.data").joinpath("balance_reference.json")
    return json.loads(path.read_text())


def load_balance_reference(population: str = "all") -> dict:
    """The packaged reference table's population ``all`` (MUSDB18-HQ train+test) or ``train``:
    a dict with ``vs_mix[stem]``, ``vs_rest[stem]`` and ``vs_anchor[anchor][stem]`` statistics
    (``p5_db .. p95_db, mean_db, sd_db, n, n_songs, song_mean_sd_db, within_song_sd_db``)."""
    table = _load_table()
    pops = table["populations"]
    if population not in pops:
        raise InvalidArgumentError(
            f"unknown reference population {population!r}; choose one of {', '.join(pops)}")
    return dict(pops[population], population=population)


def resolve_reference(reference) -> dict | None:
    """The balance table to judge against: None -> the packaged "all" population, a population
    name -> that one, a dict -> itself, False -> no table."""
    if reference is None:
        return load_balance_reference("all")
    if isinstance(reference, str):
        return load_balance_reference(reference)
    if isinstance(reference, dict):
        if "populations" in reference:
            return dict(reference["populations"]["all"], population="all")
        if "vs_rest" in reference or "vs_mix" in reference:
            return dict(reference, population=reference.get("population", "custom"))
    if reference is False:
        return None
    raise InvalidArgumentError("reference must be None, 'all', 'train', False or a reference-table dict")


def reference_range(stats: dict | None, population: str) -> ReferenceRange | None:
    """One quantity's percentiles from the table as a :class:`ReferenceRange` (None if absent)."""
    if not stats:
        return None
    keys = ("p5_db", "p10_db", "p25_db", "p50_db", "p75_db", "p90_db", "p95_db", "mean_db")
    if any(stats.get(k) is None for k in keys):
        return None
    return ReferenceRange(population=population, sd_db=stats.get("sd_db"), n=int(stats.get("n", 0)),
                          song_mean_sd_db=stats.get("song_mean_sd_db"),
                          **{k: float(stats[k]) for k in keys})


# --------------------------------------------------------------------------- roles

def normalise_role(name: str) -> str | None:
    """Reference role for a stem name (case and separators ignored), or None if unknown."""
    key = str(name).strip().lower().replace(" ", "_").replace("-", "_")
    key = _ALIASES.get(key, key)
    return key if key in STEM_ROLES else None


# --------------------------------------------------------------------------- signal helpers

def _frame_gram(arrays: list[np.ndarray], frame: int, n_frames: int) -> np.ndarray:
    """Per-frame cross products between every stem and channel:
    ``G[f, i, c, j, d] = sum over frame f of x_i[:, c] * x_j[:, d]`` (float64)."""
    s, c = len(arrays), arrays[0].shape[1]
    g = np.empty((n_frames, s, c, s, c), dtype=np.float64)
    views = [a[: n_frames * frame].reshape(n_frames, frame, c) for a in arrays]
    for i in range(s):
        vi = views[i].transpose(0, 2, 1)
        for j in range(i, s):
            m = np.matmul(vi, views[j])  # (F, c, c), BLAS
            g[:, i, :, j, :] = m
            if j != i:
                g[:, j, :, i, :] = m.transpose(0, 2, 1)
    return g


def _energies(g: np.ndarray, weights: np.ndarray, mono: bool) -> np.ndarray:
    """Frame energies of the stem combinations in ``weights`` (n_signals, n_stems):
    ``pooled`` = sum over channels of sum x^2; ``mono`` = sum of (mean of channels)^2."""
    if mono:
        gm = g.sum(axis=(2, 4)) / (g.shape[2] ** 2)  # (F, S, S)
    else:
        gm = np.einsum("ficjc->fij", g)
    return np.maximum(np.einsum("fij,ni,nj->nf", gm, weights, weights), 0.0)


def _db_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return 10.0 * np.log10(num / den)


# --------------------------------------------------------------------------- comparison logic

def place_in_range(value_db: float, ref: ReferenceRange) -> tuple[str, float]:
    """``(status, distance_db)`` of a level against the professional p10..p90 range:
    ``too_quiet`` / ``too_loud`` with the distance outside it, or ``within_range`` and 0."""
    if value_db < ref.p10_db:
        return "too_quiet", ref.p10_db - value_db
    if value_db > ref.p90_db:
        return "too_loud", value_db - ref.p90_db
    return "within_range", 0.0


def _judge(quantity, against, value, n_seg, gate, ref: ReferenceRange | None,
           mix_form: bool = False) -> LevelComparison:
    """Place ``value`` in the reference range and size a gain change."""
    status: Status = "no_reference"
    dist = gain = gain_min = None
    if ref is not None and value is not None:
        status, dist = place_in_range(value, ref)
        target_lo, target_hi = ref.p25_db, ref.p75_db
        nearest = min(max(value, target_lo), target_hi)
        if mix_form:  # a stem's level vs a mix that contains it: convert via stem-vs-rest
            gain = _mix_gain(value, ref.p50_db)
            gain_min = _mix_gain(value, nearest)
        else:
            gain, gain_min = ref.p50_db - value, nearest - value
        if gain is not None:
            gain = float(np.clip(gain, -MAX_GAIN_DB, MAX_GAIN_DB))
        if gain_min is not None:
            gain_min = float(np.clip(gain_min, -MAX_GAIN_DB, MAX_GAIN_DB))
    return LevelComparison(quantity=quantity, against=against, value_db=r(value), n_segments=n_seg,
                           gate=gate, reference=ref, status=status, distance_db=r(dist),
                           suggested_gain_db=r(gain), suggested_gain_min_db=r(gain_min))


def _mix_gain(m_now: float, m_target: float) -> float | None:
    """Gain on a stem that moves its stem-vs-mix level from ``m_now`` to ``m_target`` dB,
    assuming stem and rest uncorrelated: stem-vs-rest = m - 10*log10(1 - 10^(m/10))."""
    if m_now >= -0.01 or m_target >= -0.01:
        return None

    def to_rest(m):
        return m - 10.0 * math.log10(1.0 - 10.0 ** (m / 10.0))

    return to_rest(m_target) - to_rest(m_now)


def _median_or_none(v: np.ndarray) -> float | None:
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else None


# --------------------------------------------------------------------------- main function

def measure_stem_balance(stems: dict[str, np.ndarray], sr: int, anchor: str | None = None,
                         reference=None) -> StemBalanceResult:
    """Balance of the given stems against each other and against professional mixes.

    ``stems``: name -> samples, (n,) or (n, 2) float in [-1, 1], all the same length (the mix is
    taken to be their sum). ``anchor``: a stem name (or role) assumed correct; every other stem
    is also judged relative to it. ``reference``: None (the packaged table, population ``all``),
    ``"train"``, a table dict, or False (no reference: everything ``no_reference``).

    Notes
    -----
    Like with like. The reference (built by ``build_balance_reference``) holds RMS levels of 10 s
    segments, both channels pooled, with a segment counted only when the stems involved are
    active: ``active_frame_ratio >= 0.5``, a frame being 50 ms (non-overlapping, on the mean of
    the channels) with an RMS above -50 dBFS. This function measures exactly that quantity on the
    user's stems: it cuts the song into 10 s segments (a tail of 5 s or more is kept as a shorter
    segment; a song under 10 s is one segment), computes each segment's pooled RMS dBFS for every
    stem, for "the rest" of every stem and for the mix (the sum of all stems), applies the same
    activity gate, and takes the **median over the gated segments** of the segment-wise
    differences as the song's relative level. The segment and frame grid is in whole 50 ms frames
    (10 s = 200 frames), exact at 48 and 44.1 kHz.

    Relative levels reported per stem (dB):

    - ``level_vs_rest_db``: stem minus the actual sum of the other stems' audio;
    - ``level_vs_rest_power_sum_db``: stem minus ``10*log10(sum of the other stems' powers)``,
      the form of the reference (it assumes uncorrelated stems; the two differ when stems share
      material, e.g. a bass doubled by a synth). This is the value compared with the reference
      range;
    - ``level_vs_mix_db``: stem minus the mix (the sum of all stems);
    - ``level_vs_anchor_db``: stem minus the anchor stem.

    Segment gates: vs rest, the segments where every non-silent stem is active (the reference's
    "all four active"), falling back to "this stem and its rest active" when there are none; vs
    mix, the stem and the mix active; vs anchor, both stems active. A stem active in no segment
    but in at least ``SPARSE_MIN_ACTIVE_PCT`` of all frames (a buried part, or one a separator
    thinned out) is measured over the frames where it plays, so the quietest stems, the ones most
    worth flagging, still get a level; a part heard less often (a fill, a tail) gets none.

    Status per stem comes from the vs-rest comparison (the tightest professional distribution):
    below the reference p10 -> ``too_quiet``, above p90 -> ``too_loud``, ``distance_db`` is how
    far outside p10..p90 it lies (0 inside). ``suggested_gain_db`` moves the stem to the
    reference median (clipped to +-12 dB); ``suggested_gain_min_db`` is the smallest change that
    lands it inside the interquartile range p25..p75. ``silent``: no 50 ms frame above -50 dBFS.
    ``no_reference``: a role without reference data (any name other than vocals, drums, bass,
    other), a single stem, or a stem heard too rarely to judge (above).

    Loudness for the user (ITU-R BS.1770-4): integrated loudness of each stem, its rest and the
    mix (K-weighting, 400 ms blocks stepped by 100 ms, absolute gate -70 LUFS, relative gate
    -10 LU), and a short-term (3 s window, 100 ms step, EBU Tech 3341) summary per stem.

    Speed: every quantity above is a quadratic form of per-frame cross products between stems,
    so the stems are K-filtered once and the rests and the mix are never built: the 50 ms frame
    Gram matrices (stem x stem x channel x channel, a batched BLAS product, :func:`_frame_gram`)
    give the energy of any sum of stems.

    References
    ----------
    ITU-R BS.1770-4 (2015); EBU Tech 3341 (2016); Z. Rafii et al., MUSDB18-HQ (2019),
    doi:10.5281/zenodo.3338373; the MixingBuddy-gain study's published segment table (activity
    gate and segment RMS definition).
    """
    sr = check_sr(sr, "measure_stem_balance", integer_only=True)
    names, arrays = check_stems(stems, sr, "measure_stem_balance", min_s=FRAME_S)
    roles = [normalise_role(nm) for nm in names]
    anchor_idx = None
    if anchor is not None:
        if not isinstance(anchor, str):
            raise InvalidArgumentError(f"anchor must be a stem name, got {anchor!r}")
        if anchor in names:
            anchor_idx = names.index(anchor)
        else:
            hits = [i for i, ro in enumerate(roles) if ro is not None and ro == normalise_role(anchor)]
            if len(hits) != 1:
                raise InvalidArgumentError(
                    f"anchor stem {anchor!r} is not among the stems ({', '.join(names)})")
            anchor_idx = hits[0]
    ref = resolve_reference(reference)
    pop = ref["population"] if ref else None

    n, n_ch = arrays[0].shape
    s = len(arrays)
    frame = max(1, int(sr * FRAME_S))
    n_frames = n // frame

    # K-weighting (the only per-sample filtering) and the frame Gram matrices, in 10 s chunks
    # (filter state carried across) so the K-weighted copy never exists whole; stems are
    # filtered in parallel (scipy releases the GIL).
    sos = k_weighting_sos(sr).astype(np.float32)
    g_raw = np.empty((n_frames, s, n_ch, s, n_ch), dtype=np.float64)
    g_k = np.empty_like(g_raw)
    zi = [np.zeros((sos.shape[0], 2, n_ch), dtype=np.float32) for _ in range(s)]
    step = SEGMENT_FRAMES

    def kfilter(i: int, a: int, b: int) -> np.ndarray:
        y, zi[i] = sosfilt_axis0(sos, arrays[i][a:b], zi=zi[i])
        return y

    with ThreadPoolExecutor(max_workers=min(2, s)) as pool:
        for f0 in range(0, n_frames, step):
            f1 = min(f0 + step, n_frames)
            a, b = f0 * frame, f1 * frame
            kw = list(pool.map(kfilter, range(s), [a] * s, [b] * s))
            raw = [x[a:b] for x in arrays]
            g_raw[f0:f1], g_k[f0:f1] = pool.map(_frame_gram, (raw, kw), (frame, frame),
                                                (f1 - f0, f1 - f0))
    if not (np.isfinite(g_raw).all() and np.isfinite(g_k).all()):
        bad = [nm for nm, a in zip(names, arrays) if not np.isfinite(a).all()]
        raise InvalidArgumentError(
            f"measure_stem_balance: stem(s) {', '.join(map(repr, bad)) or '?'} contain NaN or "
            "infinite samples")

    # Signals: 0..s-1 the stems, s..2s-1 each stem's rest, 2s the mix.
    eye = np.eye(s)
    weights = np.vstack([eye, 1.0 - eye, np.ones((1, s))])
    e_pool = _energies(g_raw, weights, mono=False)  # (n_sig, F)
    e_mono = _energies(g_raw, weights, mono=True)
    e_k = _energies(g_k, weights, mono=False)

    # Activity per frame and 10 s segments.
    with np.errstate(divide="ignore"):
        frame_db = 10.0 * np.log10(e_mono / frame)
    active = frame_db > ACTIVE_FRAME_DBFS  # (n_sig, F)
    seg_starts = list(range(0, n_frames, SEGMENT_FRAMES))
    seg_bounds = [(a, min(a + SEGMENT_FRAMES, n_frames)) for a in seg_starts]
    if len(seg_bounds) > 1 and seg_bounds[-1][1] - seg_bounds[-1][0] < MIN_TAIL_FRAMES:
        seg_bounds.pop()
    idx = np.array([a for a, _ in seg_bounds])
    lens = np.array([b - a for a, b in seg_bounds], dtype=np.float64)
    seg_energy = np.stack([e_pool[:, a:b].sum(axis=1) for a, b in seg_bounds], axis=1)
    seg_active = np.stack([active[:, a:b].mean(axis=1) for a, b in seg_bounds], axis=1)
    seg_power = seg_energy / (lens * frame * n_ch)  # mean square, channels pooled
    seg_on = seg_active >= ACTIVE_SEGMENT_RATIO  # (n_sig, n_seg)

    # Whole-song levels.
    total_pool = e_pool.sum(axis=1)
    with np.errstate(divide="ignore"):
        song_rms_db = 10.0 * np.log10(total_pool / max(1, n_frames * frame * n_ch))
    active_pct = 100.0 * active.mean(axis=1) if n_frames else np.zeros(len(weights))
    silent = ~active.any(axis=1)

    # Loudness: 400 ms blocks (8 frames) every 100 ms (2 frames); 3 s short-term windows.
    csum = np.concatenate([np.zeros((len(weights), 1)), np.cumsum(e_k, axis=1)], axis=1)
    blk_frames = round(0.4 / FRAME_S)
    if n_frames >= blk_frames:
        starts = np.arange(0, n_frames - blk_frames + 1, 2)
        block_power = (csum[:, starts + blk_frames] - csum[:, starts]) / (blk_frames * frame)
    else:
        block_power = np.zeros((len(weights), 0))
    integ = [integrated_from_block_power(bp) for bp in block_power]
    st_frames = round(3.0 / FRAME_S)
    if n_frames >= st_frames:
        st_starts = np.arange(0, n_frames - st_frames + 1, 2)
        st_lufs = power_to_lufs((csum[:s, st_starts + st_frames] - csum[:s, st_starts]) / (st_frames * frame))
    else:
        st_lufs = np.full((s, 0), -np.inf)

    # Per-stem comparisons.
    nonsilent = [i for i in range(s) if not silent[i]]
    all_on = seg_on[nonsilent].all(axis=0) if nonsilent else np.zeros(len(idx), bool)
    mix_i = 2 * s
    stem_results: list[StemLevel] = []
    for i in range(s):
        role = roles[i]
        rest_i = s + i
        d_rest_actual = _db_ratio(seg_power[i], seg_power[rest_i])
        others = [j for j in range(s) if j != i]
        # power-sum of the other stems' segment powers (reference form)
        ps = seg_power[others].sum(axis=0) if others else np.zeros(len(idx))
        d_rest_ps = _db_ratio(seg_power[i], ps)
        gate_rest = all_on & seg_on[i] & seg_on[rest_i]
        gate_name = "every non-silent stem active"
        if not gate_rest.any():
            gate_rest = seg_on[i] & seg_on[rest_i]
            gate_name = "this stem and its rest active"
        gate_name += " (>= 50 % of 50 ms frames above -50 dBFS in the 10 s segment)"
        v_rest = _median_or_none(d_rest_actual[gate_rest]) if s > 1 else None
        v_rest_ps = _median_or_none(d_rest_ps[gate_rest]) if s > 1 else None
        gate_mix = seg_on[i] & seg_on[mix_i]
        v_mix = _median_or_none(_db_ratio(seg_power[i], seg_power[mix_i])[gate_mix])
        if s > 1 and v_rest_ps is None and active_pct[i] >= SPARSE_MIN_ACTIVE_PCT:
            # heard often, yet active in under half of every segment's frames (a buried part, or
            # one the separator thinned out): its level over the frames where it plays, rather
            # than no level at all for the quietest stems
            on = active[i]
            p_i = e_pool[i, on].sum()
            v_rest = float(_db_ratio(p_i, e_pool[rest_i, on].sum()))
            v_rest_ps = float(_db_ratio(p_i, e_pool[others][:, on].sum()))
            v_mix = float(_db_ratio(p_i, e_pool[mix_i, on].sum()))
            gate_name = (f"the 50 ms frames where this stem plays ({active_pct[i]:.0f} % of the clip; "
                         "no 10 s segment has it active in half its frames)")
        v_anchor = gate_anchor = None
        if anchor_idx is not None and anchor_idx != i:
            gate_anchor = seg_on[i] & seg_on[anchor_idx]
            v_anchor = _median_or_none(_db_ratio(seg_power[i], seg_power[anchor_idx])[gate_anchor])

        usable = ref is not None and role is not None and not silent[i] and s > 1
        anchor_role = roles[anchor_idx] if anchor_idx is not None else None
        vs_rest = vs_mix = vs_anchor = None
        if s > 1:
            vs_rest = _judge("vs_rest", "rest", v_rest_ps, int(gate_rest.sum()), gate_name,
                             reference_range(ref["vs_rest"].get(role), pop) if usable else None)
            vs_mix = _judge("vs_mix", "mix", v_mix, int(gate_mix.sum()),
                            "this stem and the mix active",
                            reference_range(ref["vs_mix"].get(role), pop) if usable else None, mix_form=True)
        if v_anchor is not None or (anchor_idx is not None and anchor_idx != i):
            aref = None
            if usable and anchor_role is not None and anchor_role != role:
                aref = reference_range(ref["vs_anchor"].get(anchor_role, {}).get(role), pop)
            vs_anchor = _judge("vs_anchor", names[anchor_idx], v_anchor,
                               int(gate_anchor.sum()) if gate_anchor is not None else 0,
                               "this stem and the anchor active", aref)

        primary = vs_rest
        if silent[i]:
            status: Status = "silent"
        elif primary is None:
            status = "no_reference"
        else:
            status = primary.status
        st = st_lufs[i][np.isfinite(st_lufs[i]) & (st_lufs[i] > -70.0)]
        lufs_i, lufs_rest, lufs_mix = integ[i], integ[rest_i], integ[mix_i]
        stem_results.append(StemLevel(
            verdict="",
            name=names[i], role=role, is_anchor=(anchor_idx == i),
            integrated_lufs=r(lufs_i), rest_integrated_lufs=r(lufs_rest),
            loudness_vs_rest_lu=r(lufs_i - lufs_rest) if None not in (lufs_i, lufs_rest) else None,
            loudness_vs_mix_lu=r(lufs_i - lufs_mix) if None not in (lufs_i, lufs_mix) else None,
            short_term_max_lufs=r(float(st.max())) if st.size else None,
            short_term_median_lufs=r(float(np.median(st))) if st.size else None,
            short_term_p10_lufs=r(float(np.percentile(st, 10))) if st.size else None,
            short_term_p95_lufs=r(float(np.percentile(st, 95))) if st.size else None,
            rms_dbfs=r(float(song_rms_db[i])), active_pct=round(float(active_pct[i]), 1),
            active_segments=int(seg_on[i].sum()),
            level_vs_rest_db=r(v_rest), level_vs_rest_power_sum_db=r(v_rest_ps),
            level_vs_mix_db=r(v_mix), level_vs_anchor_db=r(v_anchor),
            vs_rest=vs_rest, vs_mix=vs_mix, vs_anchor=vs_anchor, status=status,
            distance_db=primary.distance_db if primary and status != "silent" else None,
            suggested_gain_db=primary.suggested_gain_db if primary and status != "silent" else None,
            suggested_gain_min_db=(primary.suggested_gain_min_db
                                   if primary and status != "silent" else None),
        ))
        stem_results[-1].verdict = _stem_verdict(stem_results[-1], s, ref is not None)

    out = sorted((st for st in stem_results if st.status in ("too_loud", "too_quiet")),
                 key=lambda st: -(st.distance_db or 0.0))
    result = StemBalanceResult(
        verdict="", stems=stem_results, anchor=names[anchor_idx] if anchor_idx is not None else None,
        duration_s=round(n / sr, 3), n_segments=len(idx), segment_s=SEGMENT_FRAMES * FRAME_S,
        mix_integrated_lufs=r(integ[mix_i]),
        mix_rms_dbfs=r(float(song_rms_db[mix_i])) if not silent[mix_i] else None,
        out_of_range=[st.name for st in out], reference_population=pop,
        reference_source="MUSDB18-HQ segment RMS (MixingBuddy-gain study), tools/data/balance_reference.json",
        method=("median over 10 s segments of RMS-dB differences, channels pooled, segments gated "
                "on >= 50 % of 50 ms frames above -50 dBFS; status from stem vs power-sum of the "
                "other stems against the p10-p90 professional range"))
    by_role: dict[str, np.ndarray] = {}
    for ro, x in zip(roles, arrays):  # check_stems: arrays in the order of names
        if ro in CLIP_ROLES:
            # several stems of one role are summed in float64 (measure_clip_levels rounds to float32)
            by_role[ro] = np.asarray(by_role[ro], dtype=np.float64) + x if ro in by_role else x
    if by_role:
        result.clip_levels = measure_clip_levels(
            by_role, roles[anchor_idx] if anchor_idx is not None and roles[anchor_idx] in by_role else None)
    result.verdict = _overall_verdict(result)
    return result


# --------------------------------------------------------------------------- verdicts

def _label(st: StemLevel) -> str:
    return st.name[:1].upper() + st.name[1:]


def _stem_verdict(st: StemLevel, n_stems: int, have_ref: bool) -> str:
    name = _label(st)
    tag = " (the anchor)" if st.is_anchor else ""
    if st.status == "silent":
        return f"{name}{tag} is silent: no 50 ms frame rises above -50 dBFS."
    if n_stems == 1:
        lufs = f" ({st.integrated_lufs:.1f} LUFS integrated)" if st.integrated_lufs is not None else ""
        return f"{name} is the only stem{lufs}; balance needs at least two stems."
    c = st.vs_rest
    if c is None or c.value_db is None:
        return (f"{name}{tag} is active in {st.active_pct}% of the song but never in half of a "
                "10 s segment together with the rest; its balance is not compared.")
    where = (f"{abs(c.value_db):.1f} dB under" if c.value_db < 0 else
             f"{c.value_db:.1f} dB over")
    head = f"{name}{tag} {'sit' if _plural(st) else 'sits'} {where} the rest of the mix"
    if c.reference is None:
        why = "no professional reference for this role" if have_ref else "no reference used"
        return f"{head} ({why})."
    rng = (f"professional mixes put {_pronoun(st)} between {c.reference.p10_db:.1f} and "
           f"{c.reference.p90_db:.1f} dB (p10-p90)")
    if c.status == "within_range":
        return f"{head}, within the range where {rng}; no change needed."
    lo, hi = sorted((abs(c.suggested_gain_min_db or 0.0), abs(c.suggested_gain_db or 0.0)))
    verb = "raise" if c.status == "too_quiet" else "lower"
    amount = f"{lo:.1f}-{hi:.1f} dB" if hi - lo >= 0.05 else f"{hi:.1f} dB"
    return f"{head}; {rng}: {verb} {_pronoun(st)} {amount}."


def _plural(st: StemLevel) -> bool:
    if st.role in ("vocals", "drums"):
        return True
    if st.role in ("bass", "other"):
        return False
    low = st.name.lower()
    return low.endswith("s") and not low.endswith("ss")


def _pronoun(st: StemLevel) -> str:
    return "them" if _plural(st) else "it"


def _overall_verdict(res: StemBalanceResult) -> str:
    judged = [st for st in res.stems if st.status in ("within_range", "too_loud", "too_quiet")]
    silent = [st.name for st in res.stems if st.status == "silent"]
    tail = f"; silent: {', '.join(silent)}" if silent else ""
    if len(res.stems) == 1:
        return f"Only one stem ({res.stems[0].name}); balance needs at least two stems."
    if not judged:
        return "No stem could be compared with the professional range" + tail + "."
    if not res.out_of_range:
        return (f"All {len(judged)} judged stems sit within the professional range "
                f"(p10-p90 of level vs the rest of the mix, MUSDB18-HQ){tail}.")
    by_name = {st.name: st for st in res.stems}
    parts = []
    for nm in res.out_of_range:
        st = by_name[nm]
        word = "too quiet" if st.status == "too_quiet" else "too loud"
        parts.append(f"{nm} {word} by {st.distance_db:.1f} dB (change {st.suggested_gain_db:+.1f} dB)")
    return (f"{len(res.out_of_range)} of {len(judged)} judged stems outside the professional range "
            f"vs the rest of the mix: {'; '.join(parts)}{tail}.")
