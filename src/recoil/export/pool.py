"""Encoding the cut's pieces in parallel: one thread per core, in this process.

A job is a frozen value of paths and plain numbers (never the project store)
with an ``encode()`` that writes its file at ``path`` atomically. Jobs whose
file is already there are not run; the others are taken in queue order by up
to one thread per core, while the caller goes on: it waits for each file when
it needs it (the cut joins its segments in order as they are done). Threads,
not processes: PyAV lets go of the GIL while FFmpeg demuxes, decodes, scales
and encodes, which is nearly all of a job, so threads keep every core busy
without a worker process to start (most of a second each, a fresh interpreter
importing PyAV), without pickling the jobs, and without asking a script that
exports to guard its entry point. While jobs run, the C heap keeps the buffers
an encoder frees for the next one (:mod:`recoil.media.heap`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from recoil.media.heap import keeping_freed_memory


class Job(Protocol):
    """Something to encode into a file of its own."""

    @property
    def path(self) -> Path:
        """The file the job writes; its name says what decides its bytes."""
        ...

    def encode(self, stop: threading.Event | None = None) -> Path:
        """Write ``path`` (atomically) and return it; once ``stop`` is set, raise
        :class:`~concurrent.futures.CancelledError` (leaving no file) instead."""
        ...


class Encoding:
    """Jobs under way: :meth:`ready` waits for one's file; the first error stops the rest."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self._pool = pool
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._futures: dict[Path, Future[Path]] = {}

    def add(self, jobs: Iterable[Job]) -> None:
        """Queue, after those queued already, each job whose file is neither there nor queued.

        Called from the thread inside :func:`encoding`, before it leaves (the jobs
        queued are waited for on leaving)."""
        for job in jobs:
            if job.path in self._futures or job.path.is_file():
                continue
            job.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock:  # so that a stop sees every job submitted
                if self._stop.is_set():  # an earlier job failed already
                    future: Future[Path] = Future()
                    future.cancel()
                else:
                    future = self._pool.submit(job.encode, self._stop)
                self._futures[job.path] = future
            future.add_done_callback(self._stop_on_error)

    @property
    def made(self) -> frozenset[Path]:
        """The files these jobs write (the others were there already)."""
        return frozenset(self._futures)

    def ready(self, path: Path) -> Path:
        """``path`` once its job is done (at once for a file that was there); raises the
        job's error, or the error that stopped it."""
        future = self._futures.get(path)
        if future is not None:
            try:
                future.result()
            except CancelledError:
                raise self._first_error() from None
        return path

    def finish(self) -> None:
        """Wait for every job; raise the first error."""
        for path in self._futures:
            self.ready(path)

    def stop(self) -> None:
        """Drop the jobs not started and stop the running ones at their next frame."""
        self._stop.set()
        with self._lock:
            futures = list(self._futures.values())
        for future in futures:
            future.cancel()

    def _stop_on_error(self, future: Future[Path]) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if error is None or isinstance(error, CancelledError):
            return
        with self._lock:
            if self._error is None:
                self._error = error
        self.stop()

    def _first_error(self) -> BaseException:
        with self._lock:
            return self._error or CancelledError("the encoding was stopped")


@contextmanager
def encoding(jobs: Iterable[Job] = (), workers: int | None = None) -> Iterator[Encoding]:
    """Start every job whose file is not there yet, in order of the queue; more can be
    queued with :meth:`Encoding.add` while they run.

    ``workers`` caps the threads (default: the cores this process may use). On
    leaving, every job is done; on an error (or Ctrl-C) the jobs not started
    are dropped and the running ones stop at their next frame, leaving no file.
    """
    # The pool starts a thread per job submitted, up to the cap, so a few jobs take a few.
    with (
        keeping_freed_memory(),
        ThreadPoolExecutor(worker_count(workers), thread_name_prefix="recoil-encode") as pool,
    ):
        running = Encoding(pool)
        try:
            running.add(jobs)
            yield running
            running.finish()
        except BaseException:
            running.stop()
            raise


def worker_count(workers: int | None = None) -> int:
    """How many threads encode: ``workers`` (at least one), or one per core."""
    return max(1, workers or available_cores())


def available_cores() -> int:
    """How many cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)
