"""The C allocator asked to keep the memory a run frees for the next simulated year."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# glibc's mallopt parameters (malloc.h) and the values set: blocks below MMAP_THRESHOLD bytes come from the heap
# and are reused there instead of being mapped and unmapped one by one; larger ones (a column's worth of floats
# from about 500,000 residents) are still mapped on their own, in huge pages where NumPy asks for them (from 4 MiB),
# and given back when freed; the heap's free top is given back only above TRIM_THRESHOLD, and it grows by TOP_PAD
# beyond what is asked.
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
MMAP_THRESHOLD = 4 << 20
TRIM_THRESHOLD = 256 << 20
TOP_PAD = 16 << 20

_kept: bool | None = None


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse (once per process; later calls return the first
    answer). Returns whether the settings took (False off Linux or with another C library).

    A simulated year allocates and frees the same temporaries (columns' worth of floats) every year.
    By default glibc maps each block above 128 KiB on its own, or trims the heap's top, and gives the
    memory back on free; the next year asks for it again and pays a page fault per 4 KiB page touched:
    100,000 residents over 40 years took about 76,000 faults besides the imports', a tenth of the run's
    time. Kept, about 8,000. Blocks of 4 MiB and more are still mapped on their own (NumPy asks for huge
    pages there, so they cost few faults) and given back when freed, so the peak memory of a large
    county is what it holds at once, not a heap's high-water mark. Results do not depend on it.
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
