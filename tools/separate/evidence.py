"""What separated stems can and cannot prove: the error model, and checks for a failed separation.

:func:`level_error_db` reads the error model; :func:`annotate_stem_balance` applies it and the
failure checks to a stem balance measured on separated stems.
"""
from __future__ import annotations

import functools
import json
from importlib import resources

from ..measure.stem_balance import StemBalanceResult
from ..results import Measurement, Row

__all__ = ["FAILURE_ESTIMATE_DB", "FAILURE_SILENT_DB", "SeparationInfo", "StemSeparationCheck",
           "annotate_stem_balance", "level_error_db", "load_error_model"]

FAILURE_SILENT_DB = -30.0  # a separated stem this far under the mix counts as near silent
FAILURE_ESTIMATE_DB = -20.0  # ... while the mix-only estimate hears it at least this loud
FAILURE_LOUD_DB = -12.0  # a separated stem this loud while the estimate puts it under FAILURE_SILENT_DB
FALLBACK_ERROR_DB = (1.0, 3.0)  # median and p90 |error| when the table has no data for a range
RESIDUAL_WARN_DB = -12.0  # the four stems leave more than this of the mix: the separation is poor


@functools.lru_cache(maxsize=1)
def load_error_model() -> dict:
    """The packaged error table (pooled over real and synthetic songs), or {} when absent.

    The table (``tools/data/separation_error.json``, built by
    :mod:`mixingbuddy.evals.build_separation_error`) gives, per stem and per range of the
    separated level against the rest, the typical (median) and the large (90th percentile)
    absolute error of that level.
    """
    try:
        path = resources.files("mixingbuddy.tools.data").joinpath("separation_error.json")
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def level_error_db(role: str, separated_vs_rest_db: float | None) -> tuple[float, float]:
    """(median, p90) absolute error in dB of a separated stem's level against the rest.

    Parameters
    ----------
    role : str
        vocals, drums, bass or other.
    separated_vs_rest_db : float or None
        The separated stem's level against the rest (picks the table's range).

    Returns
    -------
    tuple of float
        The typical and the large error; :data:`FALLBACK_ERROR_DB` without data.
    """
    table = (load_error_model().get("tables") or {}).get("pooled", {}).get(role)
    if not table:
        return FALLBACK_ERROR_DB
    if separated_vs_rest_db is not None:
        for b in table["bins"]:
            if b["lo_db"] <= separated_vs_rest_db < b["hi_db"] and b.get("n", 0) >= 8:
                return float(b["median_abs_db"]), float(b["p90_abs_db"])
    a = table.get("all") or {}
    return (float(a["median_abs_db"]), float(a["p90_abs_db"])) if a.get("n") else FALLBACK_ERROR_DB


class StemSeparationCheck(Row):
    """One separated stem: its expected level error and whether it looks like a failure."""

    role: str
    level_vs_mix_db: float | None  # separated, whole windows
    estimate_vs_mix_db: float | None  # the mix-only estimate's, for comparison
    typical_error_db: float
    large_error_db: float
    suspect: str | None  # why this stem looks badly separated, or None


class SeparationInfo(Measurement):
    """How the stems of a bounced mix were obtained, and how far to trust them."""

    model: str
    license: str
    windows_s: list[tuple[float, float]]
    duration_s: float
    residual_db: float | None  # (mix - sum of stems) against the mix
    seconds: float
    stems: list[StemSeparationCheck]


def annotate_stem_balance(sb: StemBalanceResult, summary: dict, estimate=None) -> tuple[StemBalanceResult, SeparationInfo]:
    """A stem balance measured on separated stems, marked so (``source='separated'``, each stem's
    ``separation_error_db``, ``separation_suspect``), and the separation's own record.

    A stem is flagged as a probable separation failure when the separator and the mix-only
    estimate (:mod:`mixingbuddy.tools.measure.mix_estimate`, an independent witness) disagree
    about whether it plays at all (:data:`FAILURE_SILENT_DB`, :data:`FAILURE_ESTIMATE_DB`,
    :data:`FAILURE_LOUD_DB`).

    Parameters
    ----------
    sb : StemBalanceResult
        :func:`~mixingbuddy.tools.measure.stem_balance.measure_stem_balance` of the separated stems.
    summary : dict
        :meth:`~mixingbuddy.tools.separate.Separation.summary` of the separation (its levels are
        not read: the stem balance's own whole-clip levels, ``sb.clip_levels``, are the same
        measurement).
    estimate : MixEstimateResult, optional
        The mix-only estimate of the same mix (the witness for failures).

    Returns
    -------
    (StemBalanceResult, SeparationInfo)
    """
    levels = sb.clip_levels or {}
    est = {s.role: s for s in (estimate.stems if estimate is not None else [])}
    checks, stems = [], []
    for st in sb.stems:
        role = st.role or st.name
        lv = levels.get(role) or {}
        vs_mix = lv.get("vs_mix_db")
        typ, large = level_error_db(role, lv.get("vs_rest_db"))
        e = est.get(role)
        e_db = e.estimated_level_vs_mix_db if e is not None and e.status != "uncertain" else None
        suspect = None
        if e_db is not None:
            if (vs_mix is None or vs_mix < FAILURE_SILENT_DB) and e_db > FAILURE_ESTIMATE_DB:
                suspect = f"the separator left the {role} near silent while the mix-only estimate clearly hears it"
            elif vs_mix is not None and vs_mix > FAILURE_LOUD_DB and e_db < FAILURE_SILENT_DB:
                suspect = f"the separator found a loud {role} that the mix-only estimate barely hears"
        checks.append(StemSeparationCheck(role=role, level_vs_mix_db=vs_mix, estimate_vs_mix_db=e_db,
                                          typical_error_db=typ, large_error_db=large, suspect=suspect))
        stems.append(st.model_copy(update={"separation_error_db": typ, "separation_suspect": suspect}))
    res = summary.get("residual_db")
    bad = [c.role for c in checks if c.suspect]
    if res is not None and res > RESIDUAL_WARN_DB:
        verdict = f"Separated from the mix, but the stems leave {res:.1f} dB of it unexplained: treat stem levels as rough."
    elif bad:
        verdict = f"Separated from the mix; the {', '.join(bad)} may be badly separated (check by ear)."
    else:
        verdict = "Separated from the mix; stem levels are good to about the stated error."
    info = SeparationInfo(verdict=verdict, model=summary.get("model", ""), license=summary.get("license", ""),
                          windows_s=[tuple(w) for w in summary.get("windows_s", [])],
                          duration_s=float(summary.get("duration_s", 0.0)), residual_db=res,
                          seconds=float(summary.get("seconds", 0.0)), stems=checks)
    return sb.model_copy(update={"stems": stems, "source": "separated"}), info
