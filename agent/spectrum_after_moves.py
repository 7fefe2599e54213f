"""The spectrum once the suggested balance moves are made: each region's level change, measured.

One story for the review: a region that reads out of range only because a stem is too loud (or
too quiet) is fixed by that stem's move, not by EQ; what the moves leave is sized for EQ.

Long (spooled) stems are never summed whole: the mixes before and after the moves are computed a
block at a time (``agent.whatif.mix_spool``) and their spectra measured as the review measures a
long mix (``ltas_power_blocks``: the same frames), so the shifts are the whole song's.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
from pydantic import BaseModel

from ..tools.measure.spectral import ltas_power_blocks, measure_spectrum, profile_from_power, spectrum_result
from .balance_moves import BalanceMoves
from .whatif import apply_gains, blockwise, mix_spool, sum_mix

__all__ = ["MovesSpectrum", "region_shifts_db", "region_shifts_db_long", "spectrum_after_moves",
           "suggested_gains_db"]


class MovesSpectrum(BaseModel):
    """The suggested stem moves (dB, by stem role) and how much each spectral region's level
    (normalised to the whole spectrum, as ``SpectrumRegion.level_db``) changes with them."""

    gains_db: dict[str, float]
    region_shift_db: dict[str, float]
    source: Literal["stems", "separated"]


def suggested_gains_db(sol: BalanceMoves) -> dict[str, float]:
    """The move per stem a user is offered first: the middle of each move's range (between the
    smallest move that puts every stem in range and the one that reaches the median)."""
    return {m.stem: round((m.gain_db + m.gain_max_db) / 2.0, 1) for m in sol.moves}


def region_shifts_db(arrays: Mapping[str, np.ndarray], sr: int, gains_db: Mapping[str, float],
                     residual: np.ndarray | None = None) -> dict[str, float]:
    """Level change of every spectral region (dB) when ``gains_db`` is applied to the stems.

    Parameters
    ----------
    arrays : mapping of str to ndarray
        Stem role -> (n, 2) float32 samples at ``sr``, all the same length.
    sr : int
        Sample rate, Hz.
    gains_db : mapping of str to float
        Stem role -> gain, dB (absent roles unchanged).
    residual : ndarray, optional
        What the mix adds to the stems' sum (a master bus, or what a separator left out), kept
        on both sides.

    Returns
    -------
    dict of str to float
        Region name -> after minus before of the normalised region level, dB. Measured on the
        same audio before and after, so the change applies to the mix's own region levels.
    """
    before = measure_spectrum(sum_mix(arrays, residual), sr, compare=False)
    after = measure_spectrum(sum_mix(apply_gains(arrays, gains_db), residual), sr, compare=False)
    return _shifts(before, after)


def region_shifts_db_long(stems, gains_db: Mapping[str, float], residual=None) -> dict[str, float]:
    """:func:`region_shifts_db` of a ``StemSet`` with long (spooled) stems, read a block at a time:
    each mix is computed on read (``agent.whatif.mix_spool``; ``residual`` an array, a spool or
    ``whatif.MasterResidual``) and its spectrum measured over the same frames as the whole array's
    (``ltas_power_blocks``); the region levels agree with the whole-array path to float rounding
    (the frames' powers are summed in another order)."""
    def spectrum(gains):
        src = mix_spool(stems, gains, residual)
        return spectrum_result(profile_from_power(*ltas_power_blocks(src, stems.sr), stems.sr), stems.sr,
                               compare=False)

    return _shifts(spectrum({}), spectrum(gains_db))


def _shifts(before, after) -> dict[str, float]:
    was = {g.name: g.level_db for g in before.regions}
    return {g.name: float(g.level_db - was[g.name]) for g in after.regions if g.name in was}


def spectrum_after_moves(sol: BalanceMoves | None, stems, residual,
                         source: Literal["stems", "separated"]) -> MovesSpectrum | None:
    """:class:`MovesSpectrum` of the joint solution ``sol`` on ``stems`` (a ``StemSet``), or None
    when there is no move to make or no stem to make it on. ``residual``: an array, or for a long
    mix the ``whatif.MasterResidual`` that ``master_residual`` gives (then read block-wise)."""
    if sol is None or not sol.moves or stems is None:
        return None
    gains = {k: v for k, v in suggested_gains_db(sol).items() if k in stems.stems}
    if not gains:
        return None
    if blockwise(stems, residual):
        shifts = region_shifts_db_long(stems, gains, residual)
    else:
        shifts = region_shifts_db({role: a.stereo() for role, a in stems.stems.items()}, stems.sr, gains, residual)
    return MovesSpectrum(gains_db=gains, region_shift_db=shifts, source=source)
