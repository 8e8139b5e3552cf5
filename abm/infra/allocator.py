"""The C allocator asked to keep the memory a run frees for the next simulated year."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# glibc's mallopt parameters (malloc.h) and the values set: blocks up to MMAP_THRESHOLD bytes come from
# the heap (glibc's largest on 64 bits) instead of being mapped and unmapped one by one; the heap's free top
# is given back to the system only above TRIM_THRESHOLD; the heap grows by TOP_PAD beyond what is asked.
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 256 << 20
TOP_PAD = 16 << 20

_kept: bool | None = None


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse (once per process; later calls return the first
    answer). Returns whether the settings took (False off Linux or with another C library).

    A simulated year allocates and frees the same temporaries (columns' worth of floats) every year.
    By default glibc maps each block above 128 KiB on its own, or trims the heap's top, and gives the
    memory back on free; the next year asks for it again and pays a page fault per 4 KiB page touched:
    about 66,000 faults and a tenth of the time of 100,000 residents over 40 years. Kept, the faults
    fall to a few thousand; the peak memory is the same (a run's largest blocks are freed and reused,
    and blocks above 32 MiB are still mapped on their own). Results do not depend on it.
    """
    global _kept
    if _kept is None:
        _kept = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                mallopt = libc.mallopt
            except (OSError, AttributeError):
                return _kept
            settings = ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TOP_PAD))
            _kept = all(mallopt(param, value) == 1 for param, value in settings)
    return _kept
