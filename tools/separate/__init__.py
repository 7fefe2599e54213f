"""Source separation of a bounced mix into vocals, drums, bass and other (HT-Demucs v4 on
onnxruntime; weights for personal and research use only, fetched by the set-up).

The names below are imported on first use (PEP 562), so ``from mixingbuddy.tools.separate.license
import LICENSE_NOTE`` (the command line's help) imports neither numpy, the model code nor the
weights' download code."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_WHERE = {
    "MODEL_SR": "htdemucs", "SEGMENT": "htdemucs", "SOURCES": "htdemucs", "HTDemucs": "htdemucs",
    "SeparatorConfig": "htdemucs", "load_separator": "htdemucs",
    "Separation": "separation", "separate_mix": "separation",
    "LICENSE_NOTE": "license", "SeparatorStatus": "weights", "check_weights": "weights",
    "fetch_weights": "weights", "separator_status": "weights", "weights_path": "weights",
    "loudest_windows": "windows",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if TYPE_CHECKING:  # for type checkers and editors
    from .htdemucs import MODEL_SR, SEGMENT, SOURCES, HTDemucs, SeparatorConfig, load_separator  # noqa: F401
    from .license import LICENSE_NOTE  # noqa: F401
    from .separation import Separation, separate_mix  # noqa: F401
    from .weights import SeparatorStatus, check_weights, fetch_weights, separator_status, weights_path  # noqa: F401
    from .windows import loudest_windows  # noqa: F401
