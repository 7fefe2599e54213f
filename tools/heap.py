"""Give freed heap memory back to the operating system (glibc's ``malloc_trim``).

Large numpy and onnxruntime buffers freed by one step stay in glibc's heaps and count in the
process's resident memory until something reuses them. Trimming before a memory-hungry step
(the separator's activations, about 0.7 GB per segment) keeps the peak at what is live, not at
what was live plus what the allocator kept. A no-op where glibc is not the allocator.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools

__all__ = ["trim_heap"]


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        fn = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None
    if fn is not None:
        fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
    return fn


def trim_heap() -> bool:
    """Release free memory at the top and inside glibc's heaps (all arenas).

    Returns
    -------
    bool
        True when memory was released, False when none was or the C library has no
        ``malloc_trim``.
    """
    fn = _malloc_trim()
    return bool(fn(0)) if fn is not None else False
