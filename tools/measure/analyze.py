"""Full analysis of a mix: every standing measurement in one typed report.

Data flow: files -> ``ingest`` (decode, check, resample to 48 kHz) -> the measurement tools
(loudness, dynamics, spectrum, stereo; with stems: stem balance and masking; without stems: the
mix-only stem estimate; with a reference: the loudness-matched comparison) -> ``AnalysisReport``.
The tools are independent, so they run on a small thread pool (numpy, scipy and soxr release the
GIL in their inner loops). A long mix (spooled by ingest, see ``tools.io.spool``) is measured a
block at a time by ``.long_mix`` (the same numbers), and long stems on the mix's loudest windows.
"""
from __future__ import annotations

import functools
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from pydantic import BaseModel
from threadpoolctl import ThreadpoolController

from ..errors import InvalidArgumentError
from ..io.audio import Audio, StemSet
from ..separate.evidence import SeparationInfo, annotate_stem_balance
from . import long_mix
from .bandwidth import BandwidthResult, measure_bandwidth
from .dynamics import DynamicsResult, measure_dynamics
from .fft import one_thread_each
from .loudness import PLATFORM_TARGETS, LoudnessResult, measure_loudness
from .masking import MaskingResult, measure_masking
from .mix_estimate import MixEstimateResult, estimate_stem_levels
from .reference_compare import ReferenceComparison
from .spectral import SpectrumResult, measure_spectrum
from .stem_balance import StemBalanceResult, measure_stem_balance
from .stereo import StereoResult, measure_stereo


class FileInfo(BaseModel):
    name: str
    duration_s: float
    analysis_sr_hz: int
    source_sr_hz: int | None
    source_channels: int | None
    source_format: str | None
    warnings: list[str]


class AnalysisReport(BaseModel):
    mix: FileInfo
    stems: list[FileInfo] = []
    stem_sources: dict[str, list[str]] = {}
    reference: FileInfo | None = None
    platform: str | None = None
    anchor: str | None = None
    loudness: LoudnessResult
    dynamics: DynamicsResult
    spectrum: SpectrumResult
    bandwidth: BandwidthResult | None = None  # None in reports stored before it was measured
    stereo: StereoResult
    stem_balance: StemBalanceResult | None = None
    masking: MaskingResult | None = None
    mix_estimate: MixEstimateResult | None = None
    separation: SeparationInfo | None = None  # stems separated from the mix (no user stems)
    reference_comparison: ReferenceComparison | None = None
    warnings: list[str] = []
    timings_s: dict[str, float] = {}


@functools.lru_cache(maxsize=1)
def _threadpools() -> ThreadpoolController:
    """The process's native thread pools (OpenBLAS behind numpy), found once: finding them
    walks every loaded library, about 7 ms, which ``threadpool_limits`` would pay per call."""
    return ThreadpoolController()


# Longest first, so that the two workers end together (seconds each took beside another on a
# 3-minute mix with 4 stems: stem balance 0.46, masking 0.26, loudness with dynamics 0.20, the
# mix-only estimate 0.16, stereo 0.08-0.11, spectrum 0.07, bandwidth 0.04). The mix alone:
# 0.31 -> 0.28 s against the earlier order, which left stereo for last.
_JOB_ORDER = ("stem_balance", "masking", "loudness", "mix_estimate", "stereo", "spectrum",
              "reference_comparison", "bandwidth")


@functools.lru_cache(maxsize=1)
def prepare() -> None:
    """Load now what the measurements would otherwise load on first use: numpy's FFT and
    masked-array modules (``np.median`` and ``np.percentile`` import the latter: 7-20 ms), scipy's compiled FFT and
    biquad loops, and the packaged tables (the target curve, the mix-estimate calibration, the
    balance reference). :func:`analyze` calls it before it starts its pool, so the tools, side
    by side, never wait for one another's imports (an import holds the GIL) or load a kernel
    twice; the command line calls it earlier, while the files decode. Once per process."""
    import numpy.fft  # noqa: F401
    import numpy.ma  # noqa: F401

    from .fft import _KERNEL_MODULE as FFT_KERNEL
    from .iir import _KERNEL_MODULE as IIR_KERNEL
    from .mix_estimate import load_calibration
    from .scipy_kernels import load_kernel
    from .spectral import load_target_curve
    from .stem_balance import load_balance_reference

    load_kernel(FFT_KERNEL)
    load_kernel(IIR_KERNEL)
    load_target_curve()
    load_calibration()
    load_balance_reference()
    _threadpools()


def file_info(a: Audio) -> FileInfo:
    return FileInfo(name=a.name, duration_s=round(a.duration_s, 3), analysis_sr_hz=a.sr,
                    source_sr_hz=a.source_sr, source_channels=a.source_channels,
                    source_format=a.source_format, warnings=list(a.warnings))


def analyze(mix: Audio, stems: StemSet | None = None, *, anchor: str | None = None,
            reference: Audio | None = None, platform: str | None = None,
            workers: int = 2, progress: Callable[[str], None] | None = None,
            separation=None) -> AnalysisReport:
    """Run every measurement that applies and return the report.

    ``separation`` (a :class:`~mixingbuddy.tools.separate.Separation` of this mix, used only
    without ``stems``): stem balance is measured on the separated stems, marked as such with
    the separator's error model, beside the mix-only estimate (the witness for a failed
    separation).

    ``progress`` is called with each step's name as it finishes (for progress bars)."""
    if platform is not None and platform not in PLATFORM_TARGETS:
        raise InvalidArgumentError(
            f"unknown platform {platform!r}; choose one of {', '.join(PLATFORM_TARGETS)}")
    if anchor is not None and stems is not None and anchor not in stems.stems:
        raise InvalidArgumentError(
            f"anchor stem {anchor!r} is not among the stems ({', '.join(stems.roles)})")
    prepare()  # before the pool: what the tools would load on first use, loaded once
    x, sr = mix.samples, mix.sr
    def loudness_and_dynamics() -> tuple[LoudnessResult, DynamicsResult]:
        loud = measure_loudness(x, sr, platform=platform)
        # reuses true peak and short-term max; clipping as counted at the file's own rate
        return loud, measure_dynamics(x, sr, loudness=loud, clipping=mix.source_clipping)

    jobs: dict[str, Callable[[], Any]] = {
        "loudness": loudness_and_dynamics,
        "spectrum": lambda: measure_spectrum(x, sr),
        "bandwidth": lambda: measure_bandwidth(x, sr),
        "stereo": lambda: measure_stereo(x, sr),
    }
    if mix.spool is not None:  # a long mix: the same tools, read a block at a time (.long_mix)
        jobs = {"loudness": lambda: long_mix.loudness_and_dynamics_long(mix, platform),
                "spectrum": lambda: long_mix.spectrum_long(mix),
                "bandwidth": lambda: long_mix.bandwidth_long(mix),
                "stereo": lambda: long_mix.stereo_long(mix)}
    stem_note = None
    if stems is not None:
        if any(a.spool is not None for a in stems.stems.values()):  # long stems: the loudest windows
            arrays, stem_note = long_mix.stem_windows(mix, stems)
        else:
            arrays = {role: a.samples for role, a in stems.stems.items()}
        jobs["stem_balance"] = lambda: measure_stem_balance(arrays, stems.sr, anchor=anchor)
        if len(arrays) >= 2:
            jobs["masking"] = lambda: measure_masking(arrays, stems.sr)
    else:
        jobs["mix_estimate"] = ((lambda: long_mix.mix_estimate_long(mix)) if mix.spool is not None
                                else (lambda: estimate_stem_levels(x, sr)))
        if separation is not None:
            sep_arrays = dict(separation.stems)
            jobs["stem_balance"] = lambda: measure_stem_balance(sep_arrays, separation.sr, anchor=None)
    if reference is not None:
        jobs["reference_comparison"] = lambda: long_mix.reference_comparison(mix, reference)

    def timed(name: str) -> tuple[str, Any, float]:
        t0 = time.perf_counter()
        out = jobs[name]()
        return name, out, time.perf_counter() - t0

    results: dict[str, Any] = {}
    timings: dict[str, float] = {}
    order = sorted(jobs, key=lambda k: _JOB_ORDER.index(k) if k in _JOB_ORDER else len(_JOB_ORDER))
    # The tools run side by side, so BLAS (numpy's matrix products) and the FFT get one thread
    # each: their own threads would only wait for cores the pool already uses.
    with _threadpools().limit(limits=1, user_api="blas"), one_thread_each(), \
            ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for name, out, dt in pool.map(timed, order):
            if name == "loudness":
                results["loudness"], results["dynamics"] = out
            else:
                results[name] = out
            timings[name] = round(dt, 3)
            if progress:
                progress(name)
    if separation is not None and stems is None and "stem_balance" in results:
        results["stem_balance"], results["separation"] = annotate_stem_balance(
            results["stem_balance"], separation.summary(levels=False), results.get("mix_estimate"))
    warnings = list(mix.warnings)
    if stems is not None:
        warnings += stems.warnings + ([stem_note] if stem_note else [])
    if reference is not None:
        warnings += [f"reference: {w}" for w in reference.warnings]
    return AnalysisReport(
        mix=file_info(mix),
        stems=[file_info(a) for a in stems.stems.values()] if stems else [],
        stem_sources=dict(stems.sources) if stems else {},
        reference=file_info(reference) if reference else None,
        platform=platform, anchor=anchor, warnings=warnings, timings_s=timings, **results)
