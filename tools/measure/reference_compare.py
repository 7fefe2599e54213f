"""A mix against a reference track the user likes, loudness-matched.

Both are measured with the same tools and every spectral band is compared at matched integrated
loudness; the method is in the Notes of :func:`compare_to_reference`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidArgumentError
from ..results import Measurement, Row, r
from .bands import REGION_LABELS, nominal_hz
from .dynamics import crest_factor_db
from .loudness import integrated_loudness_lufs, loudness_range_lu, true_peak_dbtp
from .spectral import SpectralProfile, spectral_profile
from .stereo import measure_stereo

NOTABLE_DIFFERENCE_DB = 2.0  # region differences at least this large are named in the verdict


class BandDifference(Row):
    centre_hz: float
    mix_db: float
    reference_matched_db: float
    difference_db: float


class RegionDifference(Row):
    region: str
    label: str
    difference_db: float
    action: str


class ReferenceComparison(Measurement):
    matched_gain_db: float  # gain applied to the reference to match the mix's loudness
    mix_integrated_lufs: float
    reference_integrated_lufs: float
    loudness_delta_lu: float
    mix_lra_lu: float | None
    reference_lra_lu: float | None
    lra_delta_lu: float | None
    mix_crest_factor_db: float | None
    reference_crest_factor_db: float | None
    crest_factor_delta_db: float | None
    mix_true_peak_dbtp: float
    reference_true_peak_dbtp: float
    mix_width_ratio: float | None
    reference_width_ratio: float | None
    width_delta_ratio: float | None
    bands: list[BandDifference]
    regions: list[RegionDifference]


@dataclass(frozen=True)
class SideMeasures:
    """What the comparison needs of one signal (a long file's come from ``long_mix.side_long``,
    read a block at a time)."""

    integrated_lufs: float | None
    lra_lu: float | None
    crest_factor_db: float | None
    true_peak_dbtp: float
    width_ratio: float | None
    profile: SpectralProfile


def measure_side(samples: np.ndarray, sr: int) -> SideMeasures:
    """:class:`SideMeasures` of ``samples`` ((n,) or (n, ch)) in memory."""
    return SideMeasures(integrated_loudness_lufs(samples, sr), loudness_range_lu(samples, sr),
                        crest_factor_db(samples), true_peak_dbtp(samples, sr),
                        measure_stereo(samples, sr).width_ratio, spectral_profile(samples, sr))


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _region_action(diff_db: float, label: str) -> str:
    if abs(diff_db) < NOTABLE_DIFFERENCE_DB:
        return f"{label}: within {NOTABLE_DIFFERENCE_DB:.0f} dB of the reference"
    verb = "cut" if diff_db > 0 else "boost"
    more = "more" if diff_db > 0 else "less"
    return (f"{label}: {abs(diff_db):.1f} dB {more} than the reference; "
            f"{verb} about {abs(diff_db) / 2:.1f}-{abs(diff_db):.1f} dB to get closer")


def compare_to_reference(mix: np.ndarray | None, reference: np.ndarray | None, sr: int, *,
                         mix_side: SideMeasures | None = None,
                         reference_side: SideMeasures | None = None) -> ReferenceComparison:
    """Loudness-matched comparison of ``mix`` with ``reference`` (both (n,) or (n, ch), same sr).
    ``mix_side`` / ``reference_side``: that signal's measures, taken already (a long file's, read
    a block at a time); its samples are then not needed (None).

    Notes
    -----
    Both signals are measured with the same tools (BS.1770-4 integrated loudness, EBU Tech 3342
    LRA, crest factor, stereo width, 1/3-octave long-term spectrum). The reference is then
    virtually gained by ``delta = I_mix - I_ref`` so both have the same integrated loudness — the
    way a mastering engineer A/B's against a reference at matched level, because the louder of
    two otherwise equal tracks is heard as better — and every band and region of the spectrum is
    compared after that gain::

        difference_db(band) = L_mix(band) - (L_ref(band) + delta)

    Positive: the mix has more energy there than the reference at the same loudness. The other
    deltas are plain differences, mix minus reference.
    """
    sm = mix_side if mix_side is not None else measure_side(mix, sr)
    sref = reference_side if reference_side is not None else measure_side(reference, sr)
    i_mix, i_ref = sm.integrated_lufs, sref.integrated_lufs
    if i_mix is None:
        raise InvalidArgumentError("the mix is too quiet to loudness-match (all blocks gated)")
    if i_ref is None:
        raise InvalidArgumentError("the reference is too quiet to loudness-match (all blocks gated)")
    gain = i_mix - i_ref
    pm, pr = sm.profile, sref.profile
    ref_matched = pr.band_power_db + gain
    bands = [BandDifference(centre_hz=float(nominal_hz(c)), mix_db=r(m), reference_matched_db=r(f),
                            difference_db=r(m - f))
             for c, m, f in zip(pm.centres_hz, pm.band_power_db, ref_matched)]
    # region absolute levels: share of total + total power
    reg_mix = pm.region_share_db + pm.total_power_db
    reg_ref = pr.region_share_db + pr.total_power_db + gain
    regions = []
    for name, a, b in zip(pm.region_names, reg_mix, reg_ref):
        d = float(a - b)
        regions.append(RegionDifference(region=name, label=REGION_LABELS[name], difference_db=r(d),
                                        action=_region_action(d, REGION_LABELS[name])))
    lra_m, lra_r = sm.lra_lu, sref.lra_lu
    cf_m, cf_r = sm.crest_factor_db, sref.crest_factor_db
    res = dict(
        matched_gain_db=r(gain), mix_integrated_lufs=r(i_mix), reference_integrated_lufs=r(i_ref),
        loudness_delta_lu=r(i_mix - i_ref),
        mix_lra_lu=r(lra_m), reference_lra_lu=r(lra_r), lra_delta_lu=r(_diff(lra_m, lra_r)),
        mix_crest_factor_db=r(cf_m), reference_crest_factor_db=r(cf_r),
        crest_factor_delta_db=r(_diff(cf_m, cf_r)),
        mix_true_peak_dbtp=r(sm.true_peak_dbtp),
        reference_true_peak_dbtp=r(sref.true_peak_dbtp),
        mix_width_ratio=r(sm.width_ratio), reference_width_ratio=r(sref.width_ratio),
        width_delta_ratio=r(_diff(sm.width_ratio, sref.width_ratio)),
        bands=bands, regions=regions)
    return ReferenceComparison(verdict=_verdict(res, regions), **res)


def _verdict(res: dict, regions: list[RegionDifference]) -> str:
    parts = []
    d = res["loudness_delta_lu"]
    parts.append(f"The mix is {abs(d):.1f} LU {'louder' if d > 0 else 'quieter'} than the reference "
                 f"({res['mix_integrated_lufs']:.1f} vs {res['reference_integrated_lufs']:.1f} LUFS)"
                 if abs(d) >= 0.5 else
                 f"The mix matches the reference's loudness ({res['mix_integrated_lufs']:.1f} LUFS)")
    notable = sorted((g for g in regions if abs(g.difference_db) >= NOTABLE_DIFFERENCE_DB),
                     key=lambda g: -abs(g.difference_db))[:3]
    if notable:
        parts.append("at matched loudness it has " + ", ".join(
            f"{abs(g.difference_db):.1f} dB {'more' if g.difference_db > 0 else 'less'} {g.label}"
            for g in notable))
    else:
        parts.append(f"at matched loudness every region is within {NOTABLE_DIFFERENCE_DB:.0f} dB of it")
    if res["lra_delta_lu"] is not None and abs(res["lra_delta_lu"]) >= 1.0:
        parts.append(f"LRA {res['mix_lra_lu']:.1f} vs {res['reference_lra_lu']:.1f} LU")
    if res["crest_factor_delta_db"] is not None and abs(res["crest_factor_delta_db"]) >= 1.0:
        parts.append(f"crest factor {res['mix_crest_factor_db']:.1f} vs "
                     f"{res['reference_crest_factor_db']:.1f} dB")
    if res["width_delta_ratio"] is not None and abs(res["width_delta_ratio"]) >= 0.1:
        parts.append(f"width {res['mix_width_ratio']:.2f} vs {res['reference_width_ratio']:.2f}")
    return "; ".join(parts) + "."
