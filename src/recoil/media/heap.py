"""The C heap under FFmpeg's encoders: kept between encoders, handed back after.

Every libx264 (and AAC) encoder allocates its frame buffers afresh, a few MB
at cut sizes, and frees them when it closes. glibc's defaults hand blocks of
that size straight back to the kernel (they are mapped on their own, and a
freed heap top over 128 KiB is trimmed), so the next encoder page-faults every
page in again and the kernel zeroes it: measured at 11 ms of a 57 ms segment
(48 frames at 640x360), a fifth of the cut's encoding, and worse with two
encoders faulting at once. :func:`keeping_freed_memory` lets glibc keep such
blocks for reuse while encoders come and go; once they are done, it hands what
is free back to the kernel and puts glibc's default thresholds back.

Only glibc has these knobs; elsewhere both are no-ops.
"""

from __future__ import annotations

import ctypes
import platform
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

# mallopt's parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Blocks up to this size come from the heap, not from mappings of their own: glibc's own
# ceiling for its sliding threshold (on 64-bit), above an encoder's largest buffer at 4K.
_MMAP_THRESHOLD = 32 * 1024 * 1024
# A free heap top up to this size is kept, in each arena (an encoding thread has its own):
# a few encoders' buffers.
_TRIM_THRESHOLD = 128 * 1024 * 1024
# glibc's defaults for both.
_DEFAULT_THRESHOLD = 128 * 1024


class _Users:
    """How many callers are inside :func:`keeping_freed_memory`, across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    def enter(self, libc: ctypes.CDLL) -> None:
        with self._lock:
            if self._count == 0:
                libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
                libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
            self._count += 1

    def leave(self, libc: ctypes.CDLL) -> None:
        with self._lock:
            self._count -= 1
            if self._count == 0:
                libc.mallopt(_M_MMAP_THRESHOLD, _DEFAULT_THRESHOLD)
                libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_THRESHOLD)
                libc.malloc_trim(0)


_USERS = _Users()


@cache
def _glibc() -> ctypes.CDLL | None:
    # The thresholds above exceed what 32-bit glibc accepts (it would refuse them).
    if (
        platform.system() != "Linux"
        or platform.libc_ver()[0] != "glibc"
        or ctypes.sizeof(ctypes.c_void_p) != 8
    ):
        return None
    libc = ctypes.CDLL(None)
    libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    libc.mallopt.restype = ctypes.c_int
    libc.malloc_trim.argtypes = (ctypes.c_size_t,)
    libc.malloc_trim.restype = ctypes.c_int
    return libc


@contextmanager
def keeping_freed_memory() -> Iterator[None]:
    """While inside, the C heap keeps freed encoder buffers for the next encoder; when
    the last user leaves (exports may run at once, in threads), what is free is handed
    back to the kernel and glibc's default thresholds are set again.

    So a long-lived process, such as the review server, does not hold an export's
    peak. glibc cannot say what the thresholds were, so a process that set its own
    gets the defaults back; and glibc's sliding threshold stays off, as after any
    mallopt call.
    """
    libc = _glibc()
    if libc is None:
        yield
        return
    _USERS.enter(libc)
    try:
        yield
    finally:
        _USERS.leave(libc)
