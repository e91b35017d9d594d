"""Touching the C heap the way an encoder does, in a fresh interpreter.

The tests of :mod:`recoil.media.heap` and of the encoding pool run their code
with :func:`run_fresh`: glibc's thresholds are process-wide, and a fresh
process starts from glibc's defaults (the variables that change those are
dropped from its environment). The code can use what :data:`PRELUDE` defines:
``churn(rounds)`` allocates, writes and frees eight 4 MB blocks a round (an
encoder's buffers, more than glibc maps on their own by default) and returns
the page faults it took; ``resident_mb()`` is the process's resident memory.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BLOCKS = 8
BLOCK_BYTES = 4 * 1024 * 1024
PAGES_PER_ROUND = BLOCKS * BLOCK_BYTES // os.sysconf("SC_PAGE_SIZE")

PRELUDE = f"""
import ctypes, os, resource
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]

def resident_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

def churn(rounds):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(rounds):
        blocks = [libc.malloc({BLOCK_BYTES}) for _ in range({BLOCKS})]
        for block in blocks:
            libc.memset(block, 1, {BLOCK_BYTES})
        for block in blocks:
            libc.free(block)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
"""


def glibc_default_heap() -> pytest.MarkDecorator:
    """Skip where glibc's default heap is not what these tests measure against."""
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    thp = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    # With huge pages always on, a fresh 4 MB mapping faults in a couple of huge pages.
    always = thp.is_file() and "[always]" in thp.read_text(encoding="ascii")
    return pytest.mark.skipif(
        not glibc or always, reason="measures glibc's heap with 4 KiB pages faulted one by one"
    )


def run_fresh(code: str) -> str:
    """The stdout of :data:`PRELUDE` and ``code`` run in a fresh interpreter (a failure
    fails the test)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("MALLOC_") and name != "GLIBC_TUNABLES"
    }
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
