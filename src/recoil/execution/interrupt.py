"""Ctrl-C for a run: the first one stops it gracefully, the second ends the process.

:func:`interruptible` installs SIGINT and SIGTERM handlers on the running
event loop for the duration of an ``async with`` block and yields an
:class:`Interrupt`. Hand it every scheduler the block runs (it is the
``on_scheduler`` callback of :func:`recoil.production.run.run_production`):

- first signal: every scheduler handed over is stopped; calls in flight get
  ``grace_s`` seconds to finish, then are cancelled. What finished is already
  recorded (each receipt is durable before its dispatch returns). The run
  returns its report with ``interrupted`` set; the caller prints
  ``report.summary()`` and exits with :data:`EXIT_INTERRUPTED`.
- a signal while no scheduler runs (planning, or writing the exports): the
  process exits at once with :data:`EXIT_INTERRUPTED`; there is no call in
  flight to wait for, and an export's temp files are swept by the next one.
- second signal: the process exits at once with :data:`EXIT_INTERRUPTED`.
  Nothing needs flushing: receipts are written whole and fsynced as they
  come, and a torn last line is set aside when the log is next opened.

A scheduler handed over after the first signal is stopped at once. Where the
loop cannot take signal handlers (not the main thread, Windows), nothing is
installed and Ctrl-C raises ``KeyboardInterrupt`` as usual.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from recoil.execution.scheduler import Scheduler

EXIT_INTERRUPTED = 130
"""The exit status of an interrupted run (128 + SIGINT)."""

DEFAULT_GRACE_S = 10.0
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _exit_now(code: int) -> NoReturn:
    os._exit(code)


class Interrupt:
    """Routes interrupt signals to the schedulers of one run (see the module docstring)."""

    def __init__(
        self,
        *,
        grace_s: float = DEFAULT_GRACE_S,
        exit_now: Callable[[int], NoReturn] = _exit_now,
    ) -> None:
        self.grace_s = grace_s
        self.signals = 0
        """How many interrupt signals arrived."""
        self._exit_now = exit_now
        self._schedulers: list[Scheduler] = []

    @property
    def interrupted(self) -> bool:
        """True once a signal arrived."""
        return self.signals > 0

    def __call__(self, scheduler: Scheduler) -> None:
        """Hand over a scheduler; it is stopped on the first signal (now, if one came)."""
        self._schedulers.append(scheduler)
        if self.interrupted:
            scheduler.stop(grace_s=self.grace_s)

    def signal(self) -> None:
        """One interrupt signal: stop gracefully the first time, exit the second."""
        self.signals += 1
        if self.signals > 1:
            _say("interrupted again: exiting now")
            self._exit_now(EXIT_INTERRUPTED)
        if not any(s.running for s in self._schedulers):
            # Between calls, or writing the exports: nothing to wait for, and what is
            # half-written is a temp file the next command sweeps.
            _say("interrupted: no provider call in flight; exiting now (run it again to finish)")
            self._exit_now(EXIT_INTERRUPTED)
        in_flight = sum(s.in_flight for s in self._schedulers)
        _say(
            f"interrupted: starting nothing new; waiting up to {self.grace_s:g} s for "
            f"{in_flight} calls in flight (Ctrl-C again to quit now)"
        )
        for scheduler in self._schedulers:
            scheduler.stop(grace_s=self.grace_s)


@asynccontextmanager
async def interruptible(
    *,
    grace_s: float = DEFAULT_GRACE_S,
    exit_now: Callable[[int], NoReturn] = _exit_now,
) -> AsyncIterator[Interrupt]:
    """Install the interrupt handlers on the running loop (see the module docstring)."""
    loop = asyncio.get_running_loop()
    interrupt = Interrupt(grace_s=grace_s, exit_now=exit_now)
    installed: list[signal.Signals] = []
    try:
        for sig in SIGNALS:
            try:
                loop.add_signal_handler(sig, interrupt.signal)
            except (NotImplementedError, RuntimeError, ValueError):
                continue  # no loop signal handling here: Ctrl-C stays KeyboardInterrupt
            installed.append(sig)
        yield interrupt
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
