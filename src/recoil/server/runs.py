"""A run started from the page: the same engine in a background thread, its progress live.

:class:`RunManager` runs :func:`~recoil.production.run.run_production` in a
thread of its own with its own event loop, so the server stays responsive
and the run keeps every guarantee of ``recoil run`` (receipts, resume, the
project's one-writer lock). Only one run at a time: a second start, from the
page or while ``recoil run`` holds the project, is refused with
:class:`~recoil.errors.ProjectBusyError`. Progress is a :class:`RunState`
snapshot, published to every subscriber (the server-sent event stream) as
each step finishes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from recoil.errors import ProjectBusyError, RecoilError
from recoil.model.ids import new_id
from recoil.production.run import RunOptions, run_production
from recoil.records.redact import redact_text
from recoil.store.lock import ProjectLock

if TYPE_CHECKING:
    from recoil.execution.scheduler import Scheduler
    from recoil.model.take import Take
    from recoil.model.workflow import WorkflowStep

RunPhase = Literal["idle", "running", "stopping", "done", "failed", "interrupted"]

_GRACE_S = 10.0
"""How long calls in flight may finish after a stop."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunState:
    """Where the page's run stands."""

    run_id: str | None = None
    phase: RunPhase = "idle"
    total: int = 0
    """Steps the run will dispatch."""
    done: int = 0
    """Steps finished (succeeded, failed or skipped)."""
    failed: int = 0
    cost: float = 0.0
    """Spent so far, in the project currency."""
    last: str = ""
    """The last step finished, as ``take/step: status``."""
    started_at: float | None = None
    finished_at: float | None = None
    summary: str = ""
    """The run's summary line once it ended."""
    error: str | None = None
    """Why the run could not run (one line)."""

    @property
    def active(self) -> bool:
        """Whether the run is still going."""
        return self.phase in ("running", "stopping")


class RunManager:
    """The one run a review server may have going (see the module docstring)."""

    def __init__(self, project: Path) -> None:
        self.project = project
        self._lock = threading.Lock()
        self._state = RunState()
        self._thread: threading.Thread | None = None
        self._scheduler: tuple[asyncio.AbstractEventLoop, Scheduler] | None = None
        self._stop_requested = False
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[RunState]]] = set()

    @property
    def state(self) -> RunState:
        """The latest snapshot."""
        return self._state

    def start(self, options: RunOptions) -> RunState:
        """Start a run; :class:`ProjectBusyError` if one is going, here or elsewhere."""
        with self._lock:
            if self._state.active:
                raise ProjectBusyError(
                    f"a run started from the review page is in progress "
                    f"({self._state.done}/{self._state.total} steps); stop it or wait for it"
                )
            probe = ProjectLock(self.project, command="recoil review")
            probe.acquire()  # ProjectBusyError naming `recoil run` if it holds the project
            probe.release()
            self._stop_requested = False
            self._scheduler = None
            self._set(RunState(run_id=new_id("run"), phase="running", started_at=time.time()))
            self._thread = threading.Thread(
                target=self._main, args=(options,), name="recoil-review-run", daemon=True
            )
            self._thread.start()
            return self._state

    def stop(self) -> RunState:
        """Stop the run gracefully: no new steps; calls in flight get a grace period."""
        with self._lock:
            if not self._state.active:
                return self._state
            self._stop_requested = True
            if self._scheduler is not None:
                loop, scheduler = self._scheduler
                loop.call_soon_threadsafe(partial(scheduler.stop, grace_s=_GRACE_S))
            self._set(dataclasses.replace(self._state, phase="stopping"))
            return self._state

    def join(self, timeout_s: float | None = None) -> None:
        """Wait for the run's thread to end (tests, shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)

    @contextmanager
    def subscription(self) -> Iterator[asyncio.Queue[RunState]]:
        """A queue that gets the current state now, then every change, while the block runs."""
        entry = (asyncio.get_running_loop(), asyncio.Queue[RunState]())
        with self._lock:
            self._subscribers.add(entry)
            entry[1].put_nowait(self._state)
        try:
            yield entry[1]
        finally:
            with self._lock:
                self._subscribers.discard(entry)

    # -- the run's thread ---------------------------------------------------------

    def _main(self, options: RunOptions) -> None:
        try:
            outcome = asyncio.run(
                run_production(
                    self.project, options, progress=_Progress(self), on_scheduler=self._on_scheduler
                )
            )
        except RecoilError as exc:
            self._finish(phase="failed", error=redact_text(" ".join(str(exc).split())))
            return
        except Exception as exc:  # a bug must still end the run's state
            self._finish(phase="failed", error=redact_text(f"{type(exc).__name__}: {exc}"))
            raise
        phase: RunPhase = "interrupted" if outcome.report.interrupted else "done"
        self._finish(phase=phase, summary=outcome.report.summary())

    def _on_scheduler(self, scheduler: Scheduler) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            self._scheduler = (loop, scheduler)
            stop = self._stop_requested
        if stop:
            scheduler.stop(grace_s=_GRACE_S)

    def _finish(self, *, phase: RunPhase, summary: str = "", error: str | None = None) -> None:
        with self._lock:
            self._scheduler = None
            self._set(
                dataclasses.replace(
                    self._state,
                    phase=phase,
                    summary=summary,
                    error=error,
                    finished_at=time.time(),
                )
            )

    def _set(self, state: RunState) -> None:
        """Publish ``state`` (the caller holds the lock)."""
        self._state = state
        for loop, queue in list(self._subscribers):
            try:
                loop.call_soon_threadsafe(queue.put_nowait, state)
            except RuntimeError:  # that subscriber's loop has closed
                self._subscribers.discard((loop, queue))

    # -- Progress (called on the run's event loop) ----------------------------------

    def start_steps(self, total: int) -> None:
        """The run will dispatch ``total`` steps (the whole run: it is one graph)."""
        with self._lock:
            self._set(dataclasses.replace(self._state, total=total))

    def step_done(self, step: WorkflowStep, take: Take | None) -> None:
        """One step finished."""
        name = f"{take.take_id}/{step.step_id}" if take is not None else step.step_id
        receipt = step.receipt
        spent = receipt.cost.amount if receipt is not None and not receipt.cached else 0.0
        with self._lock:
            state = self._state
            self._set(
                dataclasses.replace(
                    state,
                    done=state.done + 1,
                    failed=state.failed + (step.status.value == "failed"),
                    cost=state.cost + spent,
                    last=f"{name}: {step.status.value}",
                )
            )


@dataclass(frozen=True, slots=True)
class _Progress:
    """The ``Progress`` of a run, reported to its :class:`RunManager`."""

    manager: RunManager

    def start(self, total: int) -> None:
        self.manager.start_steps(total)

    def step_done(self, step: WorkflowStep, take: Take | None) -> None:
        self.manager.step_done(step, take)

    def finish(self) -> None:
        """Nothing to do: the run's end is published when it returns."""
