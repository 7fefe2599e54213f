"""Source separation of a bounced mix into vocals, drums, bass and other (HT-Demucs v4 on
onnxruntime; weights for personal and research use only, fetched by the set-up)."""
from .htdemucs import MODEL_SR, SEGMENT, SOURCES, HTDemucs, SeparatorConfig, load_separator
from .separation import Separation, separate_mix
from .weights import LICENSE_NOTE, SeparatorStatus, check_weights, fetch_weights, separator_status, weights_path
from .windows import loudest_windows

__all__ = ["LICENSE_NOTE", "MODEL_SR", "SEGMENT", "SOURCES", "HTDemucs", "Separation", "SeparatorConfig",
           "SeparatorStatus", "check_weights", "fetch_weights", "load_separator", "loudest_windows",
           "separate_mix", "separator_status", "weights_path"]
