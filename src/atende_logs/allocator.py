"""glibc's malloc told to keep the memory a request frees, for the next request.

By default glibc gives the free memory at the top of a heap back to the kernel as soon as
more than 128 KB of it is free, and serves every allocation over 128 KB with a fresh
``mmap``. A page of 1,000 documents allocates and frees about 5 MB (the driver's result,
one ``bytes`` per document, the body), so the next page took that memory back from the
kernel one page fault per 4 KB: about 1,000 faults per page, a large share of a PostgreSQL
page's time (docs/benchmarks-history.md, "Page faults and binary rows").

With these settings a process's memory plateaus at its busiest moment instead of rising and
falling with every request, which is what a server wants (and what the memory target of
issue 3 measures).
"""

from __future__ import annotations

import ctypes
import os

_M_TRIM_THRESHOLD = -1  # <malloc.h>
_M_MMAP_THRESHOLD = -3

TRIM_THRESHOLD = 64 << 20
"""Free memory a heap keeps at its top before it gives the excess back: many pages' worth."""
MMAP_THRESHOLD = 32 << 20
"""Allocations from this size up get their own ``mmap``: glibc's ceiling for this setting on
64-bit, so a page's body (2.5 MB) comes from a heap, reused, not freshly mapped each time."""


def is_glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (ValueError, OSError):  # not a glibc system: the name or its value is unknown
        return False


def keep_freed_memory() -> bool:
    """Apply the thresholds above to this process; whether glibc took them.

    A no-op returning False where the C library is not glibc (musl, macOS, Windows): their
    allocators have their own policies and no ``mallopt``. Setting either threshold also
    turns off glibc's own adjustment of both, which only ever raises them after a large
    ``mmap``-ed block is freed, never after many small blocks are.
    """
    if not is_glibc():
        return False
    libc = ctypes.CDLL(None)
    took_trim = libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    took_mmap = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    return bool(took_trim and took_mmap)
