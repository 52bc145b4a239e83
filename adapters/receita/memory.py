"""Keep glibc from holding on to the large buffers that parsing frees.

Each chunk allocates and frees tens of megabytes of short-lived buffers
(decoded text, CSV payloads) on two parsing threads. glibc's malloc raises
its mmap threshold after the first large free, so later buffers come from
per-thread arenas and freed memory stays in the process. Resident memory
then grows with the length of the run although the live data does not.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: mallopt parameter of the size above which malloc uses mmap (glibc's M_MMAP_THRESHOLD).
_M_MMAP_THRESHOLD = -3
#: Buffers above this size are mapped and unmapped on their own.
_MMAP_THRESHOLD_BYTES = 1 << 20

_libc: ctypes.CDLL | None = None


def _load_libc() -> ctypes.CDLL | None:
    global _libc
    if _libc is None and sys.platform.startswith("linux"):
        name = ctypes.util.find_library("c")
        if name is not None:
            try:
                candidate = ctypes.CDLL(name)
                if hasattr(candidate, "mallopt") and hasattr(candidate, "malloc_trim"):
                    _libc = candidate
            except OSError:
                _libc = None
    return _libc


def pin_mmap_threshold() -> None:
    """Fix glibc's mmap threshold so large buffers go back to the system when freed."""
    libc = _load_libc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)


def release_free_memory() -> None:
    """Return the free pages of glibc's arenas to the system (no-op elsewhere)."""
    libc = _load_libc()
    if libc is not None:
        libc.malloc_trim(0)
