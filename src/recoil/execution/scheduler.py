"""The async scheduler: runs the steps of many workflows at once (SPEC section 7).

Steps become ready when their dependencies succeed (:mod:`.graph`); a ready
step is prepared (:mod:`.preparation`) and queued for its provider; it starts
when a global slot is free and admission lets it (:mod:`.admission`: the
provider's limits, rate window and ``Retry-After`` pauses, and the budget).
The global limit bounds steps running, from ``pre_step`` until their receipt
is on disk.

Slots are released by a done-callback on the step's task, so they come back
on every path: success, error, timeout, cancellation, even a task cancelled
before it ran.

A step may also wait behind a gate (``Unit.gates``) for something outside
the run, until :meth:`Scheduler.open` opens it (from a hook, or from work
the run was told of with :meth:`Scheduler.outside`). The run waits for its
gates only while something is under way that could open them: once nothing
is, the steps behind closed gates are left pending, for a later run.

Transient failures are retried after a delay (:mod:`.retries`); each attempt
is its own receipt. Permanent failures fail the step and skip its dependents
(cascade). With a budget, a step that would take the spend over it is not
started; it stays pending and the report lists it.

Hooks are synchronous and run on the event loop, one at a time. A raising hook
stops the run: nothing new starts, calls in flight get the grace period
(:mod:`.drain`), and the hook's exception propagates from :meth:`Scheduler.run`.
``stop()`` (Ctrl-C) does the same without an error. Steps not started stay
pending; a take cut short goes back to ``pending`` with its finished steps
kept, so executing it again resumes it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from recoil.dispatch import Dispatcher, Prepared
from recoil.errors import BudgetExceededError, DispatchError, StateError, StoreError
from recoil.execution.admission import Admission
from recoil.execution.drain import Drain
from recoil.execution.graph import Graph, Node
from recoil.execution.policy import Limits, ProviderGates, RetryPolicy
from recoil.execution.preparation import Preparer
from recoil.execution.retries import Retries
from recoil.execution.units import RunReport, Unit
from recoil.model.hooks import Hooks
from recoil.model.ids import now_us
from recoil.model.receipt import Receipt
from recoil.model.take import Take
from recoil.model.workflow import StepStatus, WorkflowStep

__all__ = ["Hooks", "RunReport", "Scheduler", "Unit"]


LOOKAHEAD = 2
"""Prepared steps waiting to start, at most, in global slots (the scheduler's look-ahead)."""
PREPARE_BATCH = 32
"""Steps prepared ahead in one turn of the event loop."""


class Scheduler:
    """Runs units of work through one dispatcher under limits (module docstring)."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        limits: Limits | None = None,
        retry: RetryPolicy | None = None,
        hooks: Hooks | None = None,
        on_receipt: Callable[[WorkflowStep, Receipt], None] | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.limits = limits or Limits()
        self.retry = retry or RetryPolicy()
        self.hooks = hooks or Hooks()
        self.on_receipt = on_receipt
        # Both outlive a run: calls still count against their provider, and the fields are fixed.
        self._gates = ProviderGates(self.limits.providers)
        self._input_fields: dict[str, tuple[str, ...]] = {}
        self._running = False
        self._reset()

    def _reset(self) -> None:
        self.report = RunReport()
        self._wake = asyncio.Event()
        self._graph = Graph((), self.report)
        self._tasks: dict[asyncio.Task[None], Node] = {}
        self._backlog: deque[Node] = deque()
        """Steps whose dependencies succeeded, not prepared yet (in run order)."""
        self._busy = 0
        """Global slots held."""
        self._logging = 0
        """Steps whose receipts are queued for the log, not yet on disk."""
        self._preparer = Preparer(self.dispatcher, self._input_fields, self._prepared)
        self._admission = Admission(
            self.limits, self._gates, self.dispatcher, self.report, self._wake
        )
        self._retries = Retries(self.retry, self._gates, self._admission.queue)
        self._drain = Drain(self.dispatcher, self._tasks, self._preparer.pending)
        self._outside: set[asyncio.Future[Any]] = set()
        self._stopping = False
        self._hook_error: Exception | None = None

    def stop(self, *, grace_s: float | None = None) -> None:
        """Stop starting steps (Ctrl-C); calls in flight get the grace period.

        The grace period is the run's ``grace_s``, or ``grace_s`` here when that
        is shorter; past it, calls still in flight are cancelled.
        """
        self._stopping = True
        self.report.interrupted = True
        self._drain.stop(grace_s)
        self._wake.set()

    @property
    def running(self) -> bool:
        """True while :meth:`run` runs."""
        return self._running

    def open(self, unit: Unit, step_id: str) -> None:
        """Open ``unit``'s gate of ``step_id`` (``Unit.gates``), during :meth:`run`.

        Its step starts once its dependencies have succeeded too. Opening a gate
        that is open already, or whose step is no longer pending, does nothing.
        """
        if not self._running:
            raise StateError("a gate opens while its run runs; start the run first")
        node = self._graph.open(unit, step_id)
        if node is not None and not self._stopping:
            self._make_ready(node)
        self._wake.set()

    def outside(self, work: asyncio.Future[Any]) -> None:
        """Count ``work``, done outside the run, as under way until it ends.

        For work that may open a gate: the run does not end while it goes on.
        """
        if work.done():
            return
        self._outside.add(work)
        work.add_done_callback(self._outside_done)

    def _outside_done(self, work: asyncio.Future[Any]) -> None:
        self._outside.discard(work)
        self._wake.set()

    @property
    def in_flight(self) -> int:
        """Steps being dispatched now."""
        return len(self._tasks)

    @property
    def provider_in_flight(self) -> Mapping[str, int]:
        """Calls in flight per provider (all zero once a run has returned)."""
        return dict(self._gates.in_flight)

    async def run(self, units: Sequence[Unit], *, grace_s: float | None = None) -> RunReport:
        """Run every unit's pending steps; returns the report once nothing more can start.

        ``grace_s`` bounds how long calls in flight may finish once the run stops
        (``stop()`` or a raising hook); then they are cancelled and their steps
        stay pending. ``None`` waits for them. A raising hook's exception
        propagates once the run has wound down.
        """
        if self._running:
            raise StateError("this scheduler is already running; use one scheduler per run")
        self._running = True
        # A stop() before the run stops it as it starts.
        stopped_early, stop_grace = self._stopping, self._drain.stop_grace
        self._reset()
        self._stopping = self.report.interrupted = stopped_early
        self._drain.stop_grace = stop_grace
        return await self._run(units, grace_s)

    async def _run(self, units: Sequence[Unit], grace_s: float | None) -> RunReport:
        started = time.perf_counter()
        try:
            self._graph = Graph(units, self.report)
            # Prepared as slots come free, so the first calls start at once. Listed
            # before any hook runs: a gate a hook opens readies its step itself.
            self._backlog.extend(self._graph.startable())
            self._start_takes()
            await self._loop()
            await self._drain.drain(grace_s)
        except asyncio.CancelledError:
            self._stopping = True
            await self._drain.cancel_all()
            raise
        finally:
            self._close()
            self.report.elapsed_s = time.perf_counter() - started
            self.report.spent = self.dispatcher.spent
            self._running = self._stopping = False
            self._drain.stop_grace = None
        if self._hook_error is not None:
            raise self._hook_error
        return self.report

    def _start_takes(self) -> None:
        """Mark every take running, then finish those with no step left to run."""
        for unit in self._graph.units:
            if unit.take is not None:
                unit.take.start()
                self._call(self.hooks.pre_take, unit.take)
        for u in self._graph.empty_units():
            self._finished(self._graph.finish(u))

    def _close(self) -> None:
        self._retries.close()
        self._admission.close()
        self._drain.close()
        self.report.left = self._graph.close()

    # -- the loop ----------------------------------------------------------------

    async def _loop(self) -> None:
        while not self._stopping:
            self._start_ready()
            if self._backlog and (self._tasks or self._admission.waiting):
                # Calls just started reach their providers first; then prepare ahead
                # (what is prepared may all wait for full or paused providers), a
                # batch a turn, so calls in flight are answered in between.
                await asyncio.sleep(0)
                self._start_ready()
                while self._prepare_ahead():
                    self._start_ready()
                    await asyncio.sleep(0)
            if self._stopping or not self._has_work():
                return
            self._wake.clear()
            await self._wake.wait()

    def _has_work(self) -> bool:
        """Whether anything is under way or may still start."""
        return bool(
            self._tasks
            or self._outside
            or self._logging
            or self._retries.waiting
            or self._preparer.pending
            or self._backlog
            or self._admission.has_ready()
        )

    def _start_ready(self) -> None:
        loop = asyncio.get_running_loop()
        concurrency = self.limits.concurrency
        backlog = self._backlog
        admission = self._admission
        while self._busy < concurrency and not self._stopping:
            if backlog and backlog[0].order < admission.first_ready():
                self._make_ready(backlog.popleft())
                continue
            node = admission.pick(loop.time(), self._preparer.pending.values())
            if node is not None:
                self._start(node, loop)
            elif backlog and not admission.waiting:
                self._make_ready(backlog.popleft())
            else:
                # What is prepared waits for full providers; _prepare_ahead looks
                # further, once the calls just started have reached their providers.
                return

    def _prepare_ahead(self) -> bool:
        """Prepare up to a batch of waiting steps, so freed slots are refilled at once.

        Returns True when a whole batch was prepared (there may be more to do).
        Up to ``LOOKAHEAD`` slotfuls are kept prepared: enough to find steps for
        other providers while one is full, and a long backlog is prepared as
        slots free up rather than all at once while calls in flight wait.
        """
        most = LOOKAHEAD * self.limits.concurrency
        backlog = self._backlog
        for _ in range(PREPARE_BATCH):
            if not backlog or self._stopping or self._admission.waiting >= most:
                return False
            self._make_ready(backlog.popleft())
        return True

    def _make_ready(self, node: Node) -> None:
        """Prepare a step whose dependencies succeeded and queue it."""
        try:
            prepared = self._preparer.prepare(node, self._graph.units[node.unit])
        except Exception as exc:
            self._fail(node, exc)
            return
        if prepared:
            self._admission.queue(node)

    def _prepared(self, node: Node, future: asyncio.Future[Prepared]) -> None:
        """A step prepared in a worker thread is prepared, or failed to be."""
        self._wake.set()
        if future.cancelled() or not self._running:
            return
        exc = future.exception()
        if exc is not None:
            self._fail(node, exc)
            return
        node.prepared = future.result()
        self._admission.queue(node)

    # -- one step's attempt -----------------------------------------------------------

    def _start(self, node: Node, loop: asyncio.AbstractEventLoop) -> None:
        step = node.step
        if node.attempts == 0:
            if self.hooks.pre_step is not None:
                self._call(self.hooks.pre_step, step)
                if self._hook_error is not None:
                    return  # the step was not started: it stays pending
            step.started_us = now_us()
        step.status = StepStatus.RUNNING
        step.attempts += 1
        node.attempts += 1
        self.report.attempts += 1
        self._busy += 1
        node.held = True
        self._admission.started(node, loop.time())
        task = loop.create_task(self._attempt(node))
        self._tasks[task] = node
        task.add_done_callback(self._released)

    def _call_done(self, node: Node) -> bool:
        """The provider answered: its provider slot goes to the next call at once.

        Returns whether that started a call. The global slot is kept until the
        step is done (receipt written, hooks called): the global limit bounds
        steps running, pre_step to post_step. After a failure the provider slot
        is kept too, until the failure is handled, so a ``Retry-After`` pause is
        in place before the next call.
        """
        if not self._admission.call_ended(node) or self._stopping:
            return False
        attempts = self.report.attempts
        self._start_ready()
        return self.report.attempts > attempts

    def _released(self, task: asyncio.Task[None]) -> None:
        """The step's task ended: give its slots and budget back, unless its receipt
        is still on its way to disk (then :meth:`_logged` does)."""
        node = self._tasks.pop(task)
        self._admission.call_ended(node)
        if task.cancelled() and node.step.status is StepStatus.RUNNING:
            node.step.status = StepStatus.PENDING
        if not node.logging:
            self._release(node)

    def _release(self, node: Node) -> None:
        if not node.held:
            return
        node.held = False
        self._busy -= 1
        self._admission.release(node)
        self._wake.set()

    async def _attempt(self, node: Node) -> None:
        step = node.step
        assert node.prepared is not None and node.context is not None
        try:
            await self.dispatcher.send_then(
                node.prepared,
                node.context,
                attempt=step.attempts,
                on_call_done=lambda: self._call_done(node),
                on_durable=lambda receipt, error: self._logged(node, receipt, error),
            )
        except BudgetExceededError as exc:
            # Reported costs outran the estimates: leave the step for a later run.
            step.status = StepStatus.PENDING
            step.attempts -= 1
            node.attempts -= 1
            self.report.attempts -= 1
            self._admission.budget_stop(node, str(exc))
        except DispatchError as exc:
            self._call(self.on_receipt, step, exc.receipt)
            self._after_failure(node, exc)
        except asyncio.CancelledError:
            step.status = StepStatus.PENDING
            raise
        except Exception as exc:
            # Not a provider failure (the dispatcher turns those into receipts): a
            # broken store or adapter. The step fails; the rest of the run goes on.
            self._fail(node, exc)
        else:
            # The step holds its global slot until the receipt is on disk (_logged).
            node.logging = True
            self._logging += 1

    def _logged(self, node: Node, receipt: Receipt, error: StoreError | None) -> None:
        """The step's receipt reached the disk (or could not): the step is done."""
        node.logging = False
        self._logging -= 1
        if error is not None:
            self._fail(node, error)
        else:
            if self.on_receipt is not None:
                self._call(self.on_receipt, node.step, receipt)
            self._succeed(node, receipt)
        self._release(node)

    # -- outcomes ------------------------------------------------------------------

    def _succeed(self, node: Node, receipt: Receipt) -> None:
        step = node.step
        step.receipt = receipt
        step.error = None
        step.status = StepStatus.SUCCEEDED
        step.finished_us = now_us()
        self.report.succeeded += 1
        self.report.cached += receipt.cached
        if self.hooks.post_step is not None:
            self._call(self.hooks.post_step, step)
        for child in self._graph.succeeded(node):
            if not self._stopping:
                self._make_ready(child)
        self._finished(self._graph.done(node))

    def _after_failure(self, node: Node, exc: DispatchError) -> None:
        node.step.receipt = exc.receipt
        if not self._retries.allowed(node, exc):
            self._fail(node, exc)
            return
        node.step.status = StepStatus.PENDING
        if not self._stopping:  # else it would have been retried: leave it for the next run
            self._retries.schedule(node, exc)

    def _fail(self, node: Node, exc: BaseException) -> None:
        step = node.step
        step.status = StepStatus.FAILED
        step.error = str(exc) or type(exc).__name__
        step.finished_us = now_us()
        self.report.failed += 1
        self._call(self.hooks.on_failure, step, exc)
        self._finished(self._graph.fail(node))

    def _finished(self, take: Take | None) -> None:
        """A take's last step is done (the graph has set its status)."""
        if take is not None:
            self._call(self.hooks.post_take, take)

    def _call(self, hook: Callable[..., None] | None, *args: Any) -> None:
        if hook is None or self._hook_error is not None:
            return
        try:
            hook(*args)
        except Exception as exc:
            self._hook_error = exc
            self._stopping = True
            self._wake.set()
