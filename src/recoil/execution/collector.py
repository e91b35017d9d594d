"""Fewer garbage collections while a run is going.

A run allocates many small objects that live on (steps' receipts, the log
index). At CPython's default first threshold (700 allocations) the cyclic
collector keeps rescanning them, and its full collections walk the whole
heap: in the overhead benchmark that was about a fifth of the time of each
step. :func:`fewer_collections` raises the first threshold for the duration of
a run and restores the previous thresholds after, and moves the objects that
exist when a run starts out of the collector's sight until it ends
(``gc.freeze``), so its full collections walk only what the run made. Runs
that overlap (several schedulers, several threads) share one raise. Collection
is not turned off, so reference cycles made during a run are still freed.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

RUN_THRESHOLD = 10_000
"""Allocations between young-generation collections during a run."""

_lock = threading.Lock()
_depth = 0
_saved: tuple[int, int, int] = (0, 0, 0)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the collector's first threshold while the block runs (module docstring)."""
    global _depth, _saved  # noqa: PLW0603 - one process-wide collector setting
    with _lock:
        if _depth == 0:
            _saved = gc.get_threshold()
            if _saved[0] and _saved[0] < RUN_THRESHOLD:  # 0: the caller turned collection off
                gc.set_threshold(RUN_THRESHOLD, _saved[1], _saved[2])
            # What exists before the run (modules, the project) lives on: full
            # collections during the run need not walk it again and again.
            gc.freeze()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gc.unfreeze()
                gc.set_threshold(*_saved)
