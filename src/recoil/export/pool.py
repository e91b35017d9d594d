"""Encoding the cut's pieces in parallel: worker processes, and the calling process too.

A job is a frozen value of paths and plain numbers (never the project store)
with an ``encode()`` that writes its file at ``path`` atomically. Jobs whose
file is already there are not run; the others run in up to one process per
core, unless there are only one or two (what one approval changes: a beat's
segment and perhaps the audio track), which this process finishes sooner than
a worker could start. The calling process is one of the workers: it takes jobs
from the back of the queue while the others take them from the front. They
start in fresh interpreters: forking a process that holds threads (the
store's, an event loop's) can copy a held lock into the child. So a script
that exports must guard its entry point with ``if __name__ == "__main__"``, as
for any ``multiprocessing`` pool.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Protocol

# A worker takes most of a second to start (a fresh interpreter importing PyAV); this
# many jobs or fewer run in this process alone.
_ALONE = 2


class Job(Protocol):
    """Something to encode into a file of its own."""

    @property
    def path(self) -> Path:
        """The file the job writes; its name says what decides its bytes."""
        ...

    def encode(self) -> Path:
        """Write ``path`` (atomically) and return it."""
        ...


def encode_all(jobs: Sequence[Job], workers: int | None = None) -> frozenset[Path]:
    """Run every job whose file is not there yet, in order of the queue; return their paths.

    ``workers`` caps the processes, this one included (default: the cores this
    process may use). The first error stops the jobs not yet started and is raised.
    """
    pending: dict[Path, Job] = {}
    for job in jobs:
        if job.path not in pending and not job.path.is_file():
            pending[job.path] = job
    for path in pending:
        path.parent.mkdir(parents=True, exist_ok=True)
    processes = min(len(pending), workers or available_cores())
    queue = list(pending.values())
    if processes <= 1 or len(queue) <= _ALONE:
        for job in queue:
            job.encode()
        return frozenset(pending)
    with ProcessPoolExecutor(processes - 1, mp_context=get_context("spawn")) as pool:
        futures: list[Future[Path]] = [pool.submit(_encode, job) for job in queue]
        try:
            for job, future in zip(reversed(queue), reversed(futures), strict=True):
                if not future.cancel():
                    break  # a worker has it, and every job before it
                job.encode()
            for future in futures:
                if not future.cancelled():
                    future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return frozenset(pending)


def available_cores() -> int:
    """How many cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _encode(job: Job) -> Path:
    return job.encode()
