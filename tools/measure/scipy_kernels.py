"""scipy's compiled kernels loaded on their own, without the Python packages around them.

``import scipy.signal`` loads scipy.stats, scipy.interpolate, scipy.spatial and scipy.optimize
(about 0.7 s on the 2-core machine) and ``import scipy.fft`` loads scipy's array-API layer and
scipy.special (about 0.15 s), while the measurements need one compiled loop from each: the biquad
cascade behind ``scipy.signal.sosfilt`` and pocketfft's real FFT behind ``scipy.fft.rfft``. A
cold ``mixingbuddy analyze`` of a 3-minute mix takes about a second, so these imports were a
quarter of it. Each extension module is loaded from its file and registered under its own name,
so a later ``import scipy.signal`` / ``import scipy.fft`` shares the same copy.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import threading
from functools import lru_cache
from pathlib import Path
from types import ModuleType

__all__ = ["load_kernel"]

# One load at a time: a Cython module puts itself in sys.modules as its initialisation starts,
# so a second thread asking meanwhile would be handed a module without its functions yet (seen:
# "module 'scipy.signal._sosfilt' has no attribute '_sosfilt'" when two measurement tools
# filtered for the first time side by side).
_LOADING = threading.Lock()


@lru_cache(maxsize=None)
def load_kernel(module: str) -> ModuleType | None:
    """The compiled scipy module ``module`` (e.g. ``"scipy.signal._sosfilt"``), loaded without its
    package's ``__init__``; None when scipy's layout has changed and it cannot be found, so the
    caller falls back to the public function.

    Parameters
    ----------
    module : str
        Dotted name of an extension module inside scipy.

    Returns
    -------
    module or None
    """
    with _LOADING:
        return _load(module)


def _load(module: str) -> ModuleType | None:
    """:func:`load_kernel`'s work, under its lock."""
    if module in sys.modules:  # the package is already imported: share its copy
        return sys.modules[module]
    try:
        import scipy

        parts = module.split(".")
        folder = Path(scipy.__file__).parent.joinpath(*parts[1:-1])
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = folder / f"{parts[-1]}{suffix}"
            if path.is_file():
                loader = importlib.machinery.ExtensionFileLoader(module, str(path))
                spec = importlib.util.spec_from_file_location(module, path, loader=loader)
                mod = importlib.util.module_from_spec(spec)
                loader.exec_module(mod)
                sys.modules[module] = mod  # a later `import scipy....` reuses it
                return mod
    except Exception:  # any change in scipy's layout: the caller uses the public function
        return None
    return None
