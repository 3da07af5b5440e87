"""The C allocator of the short run's own process: freed memory is kept for the next step.

A training step frees and allocates the same few hundred kilobytes to megabytes of tensors each
time. With glibc's defaults that memory goes back to the operating system between steps (the top
of the heap is trimmed, and blocks above the mmap threshold are unmapped), and the next step takes
it again page by page: measured here, 300–1400 minor page faults a step on the reference nets, in
plain training too, some 10–25 % of a step and most of the spread between one run and the next
(`python scripts/torch/bench_trainer.py` prints the faults a step). The trainer is a process of
its own, so it can keep what it freed; `watch()` runs in the user's process and never calls this.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

# mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# glibc refuses an mmap threshold above HEAP_MAX_SIZE / 2: 32 MiB on 64-bit systems.
_MMAP_THRESHOLD = 32 * 1024 * 1024
_TRIM_THRESHOLD = 1024 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Tells glibc's malloc to keep freed memory (no trimming, no mmap below 32 MiB). False where
    the C library is not glibc (macOS, Windows, musl): nothing changes there."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
