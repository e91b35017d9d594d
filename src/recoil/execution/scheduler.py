"""The async scheduler: runs the steps of many workflows at once (SPEC section 7).

Steps become ready when their dependencies succeed. A ready step is started
when a global slot and a slot of its provider are free, the provider's
requests-per-minute window allows it and no ``Retry-After`` pause holds the
provider; among startable steps the earliest listed wins (units in the order
given, steps in list order), so with concurrency 1 steps start in list order.

Slots are released by a done-callback on the step's task, so they come back
on every path: success, error, timeout, cancellation, even a task cancelled
before it ran.

Transient failures are retried after ``RetryPolicy.delay`` (never sooner than
the provider's ``Retry-After``, which also pauses that provider); each attempt
is its own receipt. Permanent failures fail the step and skip its dependents
(cascade). With a budget, a step whose estimate would take the spend (plus the
estimates of calls in flight) over it is not started; it stays pending and the
report lists it.

Hooks are synchronous and run on the event loop, one at a time. A raising hook
stops the run: nothing new starts, calls in flight get the grace period, and
the hook's exception propagates from :meth:`Scheduler.run`. ``stop()`` (Ctrl-C)
does the same without an error. Steps not started stay pending; a take cut
short goes back to ``pending`` with its finished steps kept, so executing it
again resumes it.

Preparing a step (validation, cache key) runs on the loop, except for a step
whose payload names input files: hashing those runs in a worker thread so a
large video never blocks the loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import heapq
import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from recoil.context import DispatchContext
from recoil.dispatch import Dispatcher, Prepared
from recoil.errors import BudgetExceededError, DispatchError, StateError, StoreError
from recoil.execution.collector import fewer_collections
from recoil.execution.policy import Limits, ProviderGates, RetryPolicy
from recoil.execution.refs import resolve_refs
from recoil.execution.units import Hooks, RunReport, Unit
from recoil.model.ids import now_us
from recoil.model.take import Take, TakeHook, TakeStatus
from recoil.model.workflow import FailureHook, StepHook, StepStatus, Workflow, WorkflowStep
from recoil.providers.registry import Registry
from recoil.records.receipt import Receipt

__all__ = [
    "Hooks",
    "RunReport",
    "Scheduler",
    "Unit",
    "run_takes",
    "run_units",
    "run_workflow",
]


LOOKAHEAD = 2
"""Prepared steps waiting to start, at most, in global slots (the scheduler's look-ahead)."""
PREPARE_BATCH = 32
"""Steps prepared ahead in one turn of the event loop."""


@dataclass(slots=True, eq=False)
class _Node:
    unit: int
    order: int
    """Position in the run: the unit's index, then the step's; lower starts first."""
    step: WorkflowStep
    waiting: int = 0
    dependents: list[_Node] = field(default_factory=list)
    context: DispatchContext | None = None
    prepared: Prepared | None = None
    attempts: int = 0
    """Attempts in this run (``step.attempts`` counts every run)."""
    reserved: float = 0.0
    """Budget held by this step's call in flight."""
    calling: bool = False
    """Whether the step's provider call holds one of its provider's slots."""
    provider: str = ""
    """The provider its prepared dispatch goes to (set when it is queued)."""
    logging: bool = False
    """Whether its receipt is queued for the log and not yet on disk."""
    held: bool = False
    """Whether it holds a global slot (from its start until its step is done)."""


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
        self.report = RunReport()
        self._gates = ProviderGates(self.limits.providers)
        self._input_fields: dict[str, tuple[str, ...]] = {}
        self._running = False
        self._reset()

    def _reset(self) -> None:
        self.report = RunReport()
        self._units: list[Unit] = []
        self._contexts: list[DispatchContext | None] = []
        self._remaining: list[int] = []
        self._ready: dict[str, list[tuple[int, _Node]]] = {}
        self._waiting = 0
        """Steps in ``_ready``: prepared, waiting to start."""
        self._tasks: dict[asyncio.Task[None], _Node] = {}
        self._logging = 0
        """Steps whose receipts are queued for the log, not yet on disk."""
        self._busy = 0
        self._backlog: deque[_Node] = deque()
        self._preparing: dict[asyncio.Future[Prepared], _Node] = {}
        self._retries: set[asyncio.TimerHandle] = set()
        self._parked: list[_Node] = []
        self._reserved = 0.0
        self._wakeup: asyncio.TimerHandle | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._stop_grace: float | None = None
        self._draining = False
        self._cancel_timer: asyncio.TimerHandle | None = None
        self._hook_error: Exception | None = None

    def stop(self, *, grace_s: float | None = None) -> None:
        """Stop starting steps (Ctrl-C); calls in flight get the grace period.

        The grace period is the run's ``grace_s``, or ``grace_s`` here when that
        is shorter; past it, calls still in flight are cancelled.
        """
        self._stopping = True
        self.report.interrupted = True
        if grace_s is not None:
            self._stop_grace = (
                grace_s if self._stop_grace is None else min(grace_s, self._stop_grace)
            )
            if self._draining:
                self._cancel_after(grace_s)
        self._wake.set()

    @property
    def running(self) -> bool:
        """True while :meth:`run` runs."""
        return self._running

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
        stopped_early, stop_grace = self._stopping, self._stop_grace
        self._reset()
        self._stopping = self.report.interrupted = stopped_early
        self._stop_grace = stop_grace
        with fewer_collections():
            return await self._run(units, grace_s)

    async def _run(self, units: Sequence[Unit], grace_s: float | None) -> RunReport:
        started = time.perf_counter()
        try:
            self._units = list(units)
            self._contexts = [None] * len(self._units)
            nodes = self._build(self._units)
            for unit in self._units:
                if unit.take is not None:
                    unit.take.start()
                    self._call(self.hooks.pre_take, unit.take)
            self._finish_empty_units()
            # Prepared as slots come free, so the first calls start at once.
            self._backlog.extend(
                n for n in nodes if n.waiting == 0 and n.step.status is StepStatus.PENDING
            )
            await self._loop()
            await self._drain(grace_s)
        except asyncio.CancelledError:
            await self._cancel_all()
            raise
        finally:
            self._close()
            self.report.elapsed_s = time.perf_counter() - started
            self.report.spent = self.dispatcher.spent
            self._running = self._stopping = False
            self._stop_grace = None
        if self._hook_error is not None:
            raise self._hook_error
        return self.report

    # -- graph -----------------------------------------------------------------

    def _build(self, units: Sequence[Unit]) -> list[_Node]:
        nodes: list[_Node] = []
        for u, unit in enumerate(units):
            by_id: dict[str, _Node] = {}
            pending = 0
            for step in unit.workflow.steps:
                if step.status is StepStatus.RUNNING:
                    step.status = StepStatus.PENDING  # cut short by a crash or a stop
                node = _Node(u, len(nodes), step)
                by_id[step.step_id] = node
                nodes.append(node)
                if step.status is not StepStatus.PENDING:
                    continue
                pending += 1
                for dep in step.depends_on:
                    parent = by_id[dep]
                    status = parent.step.status
                    if status in (StepStatus.FAILED, StepStatus.SKIPPED):
                        # A dependency that ended badly in an earlier run: cascade now.
                        self._skip(node, dep)
                        pending -= 1
                        break
                    if status is not StepStatus.SUCCEEDED:
                        node.waiting += 1
                        parent.dependents.append(node)
            self._remaining.append(pending)
        return nodes

    def _finish_empty_units(self) -> None:
        for u, remaining in enumerate(self._remaining):
            if remaining == 0:
                self._unit_done(u)

    def _make_ready(self, node: _Node) -> None:
        """Prepare a step whose dependencies succeeded and queue it."""
        unit = self._units[node.unit]
        step = node.step
        try:
            ctx = node.context = self._unit_context(node.unit)
            provenance = {**ctx.provenance, "workflow_step_id": step.step_id}
            payload = resolve_refs(step.payload, unit.workflow, self.dispatcher.artifacts.locate)
            if self._reads_files(step.modality, payload):
                self._prepare_in_thread(node, payload, provenance)
                return
            node.prepared = self.dispatcher.prepare(
                step.modality, payload, ctx, provenance=provenance
            )
        except Exception as exc:
            self._fail(node, exc)
            return
        self._queue(node)

    def _unit_context(self, u: int) -> DispatchContext:
        """The context a unit's steps dispatch under: its take's seed, its identity."""
        ctx = self._contexts[u]
        if ctx is not None:
            return ctx
        unit = self._units[u]
        ctx = unit.context
        seed = ctx.seed
        identity = {"workflow_id": unit.workflow.workflow_id}
        if unit.take is not None:
            identity.update(unit.take.identity())
            if unit.take.seed is not None:
                seed = unit.take.seed
        provenance = {**unit.workflow.global_provenance, **ctx.provenance, **identity}
        # replace() validates the derived context again (SPEC section 5); once a unit,
        # and each step adds only its own id.
        ctx = self._contexts[u] = dataclasses.replace(ctx, provenance=provenance, seed=seed)
        return ctx

    def _reads_files(self, modality: str, payload: Mapping[str, Any]) -> bool:
        fields = self._input_fields.get(modality)
        if fields is None:
            runner = self.dispatcher.registry.runner(modality)
            fields = self._input_fields[modality] = runner.request_type.input_fields
        return bool(fields) and any(payload.get(name) for name in fields)

    def _prepare_in_thread(
        self, node: _Node, payload: dict[str, Any], provenance: dict[str, Any]
    ) -> None:
        assert node.context is not None
        ctx = node.context
        requested = payload.get("provider")
        if requested is None or isinstance(requested, str):
            # Build the provider here, on the loop, so no two threads ever build it.
            self.dispatcher.provider(
                ctx.provider_for(node.step.modality, requested), node.step.modality, ctx
            )
        loop = asyncio.get_running_loop()
        prepare = functools.partial(
            self.dispatcher.prepare, node.step.modality, payload, ctx, provenance=provenance
        )
        future = loop.run_in_executor(None, prepare)
        self._preparing[future] = node
        future.add_done_callback(self._prepared)

    def _prepared(self, future: asyncio.Future[Prepared]) -> None:
        node = self._preparing.pop(future)
        self._wake.set()
        if future.cancelled() or not self._running:
            return
        exc = future.exception()
        if exc is not None:
            self._fail(node, exc)
            return
        node.prepared = future.result()
        self._queue(node)

    def _queue(self, node: _Node) -> None:
        assert node.prepared is not None
        node.provider = provider = node.prepared.provider_name
        heapq.heappush(self._ready.setdefault(provider, []), (node.order, node))
        self._waiting += 1
        self._wake.set()

    # -- the loop ----------------------------------------------------------------

    async def _loop(self) -> None:
        while not self._stopping:
            self._start_ready()
            if self._backlog and (self._tasks or self._waiting):
                # Calls just started reach their providers first; then prepare ahead
                # (what is prepared may all wait for full or paused providers), a
                # batch a turn, so calls in flight are answered in between.
                await asyncio.sleep(0)
                self._start_ready()
                while self._prepare_ahead():
                    self._start_ready()
                    await asyncio.sleep(0)
            if self._stopping or not (
                self._tasks
                or self._logging
                or self._retries
                or self._preparing
                or self._backlog
                or self._has_ready()
            ):
                return
            self._wake.clear()
            await self._wake.wait()

    def _has_ready(self) -> bool:
        return any(self._ready.values())

    def _start_ready(self) -> None:
        loop = asyncio.get_running_loop()
        concurrency = self.limits.concurrency
        backlog = self._backlog
        while self._busy < concurrency and not self._stopping:
            if backlog and backlog[0].order < self._first_ready():
                self._make_ready(backlog.popleft())
                continue
            node = self._pick(loop.time())
            if node is not None:
                self._start(node, loop)
            elif backlog and not self._waiting:
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
            if not backlog or self._stopping or self._waiting >= most:
                return False
            self._make_ready(backlog.popleft())
        return True

    def _first_ready(self) -> float:
        """The lowest order among prepared ready steps (infinity if none)."""
        return min((heap[0][0] for heap in self._ready.values() if heap), default=math.inf)

    def _pick(self, now: float) -> _Node | None:
        """The earliest-listed step that may start now, or ``None``."""
        while True:
            best: tuple[int, str] | None = None
            soonest: float | None = None
            for provider, heap in self._ready.items():
                if not heap or (best is not None and heap[0][0] >= best[0]):
                    continue
                wait = self._gates.wait_s(provider, now)
                if wait is None:
                    continue
                if wait > 0:
                    soonest = wait if soonest is None else min(soonest, wait)
                    continue
                best = (heap[0][0], provider)
            if best is None:
                if soonest is not None:
                    self._wake_in(soonest)
                return None
            if self.limits.concurrency == 1 and any(
                n.order < best[0] for n in self._preparing.values()
            ):
                return None  # keep list order: an earlier step is still being prepared
            node = heapq.heappop(self._ready[best[1]])[1]
            self._waiting -= 1
            if self._admit(node):
                return node

    def _wake_in(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        if self._wakeup is not None:
            if self._wakeup.when() <= when:
                return
            self._wakeup.cancel()
        self._wakeup = loop.call_at(when, self._on_wakeup)

    def _on_wakeup(self) -> None:
        self._wakeup = None
        self._wake.set()

    def _admit(self, node: _Node) -> bool:
        """Whether the budget allows the step; else park it or leave it pending."""
        assert node.prepared is not None and node.context is not None
        budget = node.context.budget
        estimate = node.prepared.estimate.amount
        if budget is None or estimate <= 0:
            return True
        index = self.dispatcher.index
        key = node.prepared.request_sha256
        if (node.context.use_cache and key in index.succeeded) or key in index.open_jobs:
            return True  # a cache hit or a resumed job costs nothing new
        spent = self.dispatcher.spent
        if spent + self._reserved + estimate <= budget + 1e-9:
            return True
        if self._reserved > 0:
            self._parked.append(node)  # calls in flight may cost less than reserved
        else:
            self._budget_stop(
                node,
                f"{node.step.modality} via {node.provider} would cost about {estimate:.4f}; "
                f"spent {spent:.4f} of budget {budget:.4f}",
            )
        return False

    def _budget_stop(self, node: _Node, reason: str) -> None:
        self.report.budget_stops.append(f"{node.step.step_id}: {reason}")

    def _start(self, node: _Node, loop: asyncio.AbstractEventLoop) -> None:
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
        node.held = node.calling = True
        self._gates.started(node.provider, loop.time())
        if node.context is not None and node.context.budget is not None:
            node.reserved = node.prepared.estimate.amount if node.prepared else 0.0
            self._reserved += node.reserved
        task = loop.create_task(self._attempt(node))
        self._tasks[task] = node
        task.add_done_callback(self._released)

    def _call_done(self, node: _Node) -> bool:
        """The provider answered: its provider slot goes to the next call at once.

        Returns whether that started a call. The global slot is kept until the
        step is done (receipt written, hooks called): the global limit bounds
        steps running, pre_step to post_step. After a failure the provider slot
        is kept too, until the failure is handled, so a ``Retry-After`` pause is
        in place before the next call.
        """
        if not node.calling:
            return False
        node.calling = False
        self._gates.finished(node.provider)
        if self._stopping:
            return False
        attempts = self.report.attempts
        self._start_ready()
        return self.report.attempts > attempts

    def _released(self, task: asyncio.Task[None]) -> None:
        """The step's task ended: give its slots and budget back, unless its receipt
        is still on its way to disk (then :meth:`_logged` does)."""
        node = self._tasks.pop(task)
        if node.calling:
            node.calling = False
            self._gates.finished(node.provider)
        if task.cancelled() and node.step.status is StepStatus.RUNNING:
            node.step.status = StepStatus.PENDING
        if not node.logging:
            self._release(node)

    def _release(self, node: _Node) -> None:
        if not node.held:
            return
        node.held = False
        self._busy -= 1
        if node.reserved:
            self._reserved = max(0.0, self._reserved - node.reserved)
            node.reserved = 0.0
            if self._parked:
                parked, self._parked = self._parked, []
                for other in parked:
                    self._queue(other)
        self._wake.set()

    async def _attempt(self, node: _Node) -> None:
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
            self._budget_stop(node, str(exc))
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

    def _logged(self, node: _Node, receipt: Receipt, error: StoreError | None) -> None:
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

    def _succeed(self, node: _Node, receipt: Receipt) -> None:
        step = node.step
        step.receipt = receipt
        step.error = None
        step.status = StepStatus.SUCCEEDED
        step.finished_us = now_us()
        self.report.succeeded += 1
        self.report.cached += receipt.cached
        if self.hooks.post_step is not None:
            self._call(self.hooks.post_step, step)
        for child in node.dependents:
            child.waiting -= 1
            ready = child.waiting == 0 and child.step.status is StepStatus.PENDING
            if ready and not self._stopping:
                self._make_ready(child)
        self._done(node)

    def _after_failure(self, node: _Node, exc: DispatchError) -> None:
        step = node.step
        step.receipt = exc.receipt
        error = exc.receipt.error
        if not (exc.retryable and node.attempts < self.retry.max_attempts):
            self._fail(node, exc)
            return
        step.status = StepStatus.PENDING
        if self._stopping:
            return  # it would have been retried: leave it for the next run
        loop = asyncio.get_running_loop()
        retry_after = error.retry_after_s if error is not None else None
        if retry_after:
            # The provider asked everyone to wait, not just this request.
            self._gates.pause(node.provider, loop.time() + retry_after)
        handle: asyncio.TimerHandle

        def requeue() -> None:
            self._retries.discard(handle)
            self._queue(node)

        handle = loop.call_later(self.retry.delay(node.attempts, retry_after), requeue)
        self._retries.add(handle)

    def _fail(self, node: _Node, exc: BaseException) -> None:
        step = node.step
        step.status = StepStatus.FAILED
        step.error = str(exc) or type(exc).__name__
        step.finished_us = now_us()
        self.report.failed += 1
        self._call(self.hooks.on_failure, step, exc)
        self._done(node)
        stack = [node]
        while stack:
            parent = stack.pop()
            for child in parent.dependents:
                if child.step.status is StepStatus.PENDING:
                    self._skip(child, parent.step.step_id)
                    self._done(child)
                    stack.append(child)

    def _skip(self, node: _Node, cause: str) -> None:
        node.step.status = StepStatus.SKIPPED
        node.step.error = f"skipped: dependency {cause!r} did not succeed"
        self.report.skipped += 1

    def _done(self, node: _Node) -> None:
        self._remaining[node.unit] -= 1
        if self._remaining[node.unit] == 0:
            self._unit_done(node.unit)

    def _unit_done(self, u: int) -> None:
        take = self._units[u].take
        if take is not None and take.status is TakeStatus.RUNNING:
            take.finish()
            self._call(self.hooks.post_take, take)

    # -- winding down --------------------------------------------------------------

    async def _drain(self, grace_s: float | None) -> None:
        """Let calls in flight finish within the grace period, then cancel them."""
        self._draining = True
        if grace_s is not None:
            self._cancel_after(grace_s)
        if self._stop_grace is not None:
            self._cancel_after(self._stop_grace)
        while self._tasks:
            await asyncio.wait(set(self._tasks))
        await self.dispatcher.log.flushed()
        if self._preparing:
            await asyncio.wait(set(self._preparing))

    def _cancel_after(self, grace_s: float) -> None:
        """Cancel the calls in flight ``grace_s`` from now (or sooner, if already set)."""
        loop = asyncio.get_running_loop()
        when = loop.time() + grace_s
        if self._cancel_timer is not None:
            if self._cancel_timer.when() <= when:
                return
            self._cancel_timer.cancel()
        self._cancel_timer = loop.call_at(when, self._cancel_in_flight)

    def _cancel_in_flight(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def _cancel_all(self) -> None:
        self._stopping = True
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        # Receipts already queued are written whatever happens; their steps are done.
        await self.dispatcher.log.flushed()

    def _close(self) -> None:
        for handle in self._retries:
            handle.cancel()
        self._retries.clear()
        for timer in (self._wakeup, self._cancel_timer):
            if timer is not None:
                timer.cancel()
        self._wakeup = self._cancel_timer = None
        self._draining = False
        for node in self._parked:
            self._budget_stop(node, "the budget is spent")
        self._parked = []
        for u, unit in enumerate(self._units):
            if unit.take is not None and self._remaining[u] > 0:
                # Cut short: pending again, finished steps kept; executing it resumes it.
                unit.take.status = TakeStatus.PENDING
        self.report.left = sum(
            step.status in (StepStatus.PENDING, StepStatus.RUNNING)
            for unit in self._units
            for step in unit.workflow.steps
        )

    def _call(self, hook: Callable[..., None] | None, *args: Any) -> None:
        if hook is None or self._hook_error is not None:
            return
        try:
            hook(*args)
        except Exception as exc:
            self._hook_error = exc
            self._stopping = True
            self._wake.set()


async def run_units(
    units: Sequence[Unit],
    context: DispatchContext,
    *,
    hooks: Hooks | None = None,
    limits: Limits | None = None,
    retry: RetryPolicy | None = None,
    registry: Registry | None = None,
) -> RunReport:
    """Run units under one dispatcher opened on ``context``."""
    async with Dispatcher(context, registry=registry) as dispatcher:
        scheduler = Scheduler(dispatcher, limits=limits, retry=retry, hooks=hooks)
        return await scheduler.run(units)


def run_workflow(
    workflow: Workflow,
    context: DispatchContext,
    *,
    pre_step: StepHook | None = None,
    post_step: StepHook | None = None,
    on_failure: FailureHook | None = None,
    concurrency: int = 4,
    registry: Registry | None = None,
) -> RunReport:
    """Run one workflow to completion (the sync entry behind ``Workflow.run``)."""
    hooks = Hooks(pre_step=pre_step, post_step=post_step, on_failure=on_failure)
    unit = Unit(workflow=workflow, context=context)
    return asyncio.run(
        run_units(
            [unit], context, hooks=hooks, limits=Limits(concurrency=concurrency), registry=registry
        )
    )


def run_takes(
    takes: Sequence[Take],
    context: DispatchContext,
    *,
    pre_step: StepHook | None = None,
    post_step: StepHook | None = None,
    on_failure: FailureHook | None = None,
    pre_take: TakeHook | None = None,
    post_take: TakeHook | None = None,
    concurrency: int = 4,
    registry: Registry | None = None,
) -> RunReport:
    """Run takes together (the sync entry behind ``Take.execute``)."""
    for take in takes:
        if take.status is not TakeStatus.PENDING:
            take.start()  # raises: a take runs once
    hooks = Hooks(
        pre_step=pre_step,
        post_step=post_step,
        on_failure=on_failure,
        pre_take=pre_take,
        post_take=post_take,
    )
    units = [Unit(workflow=t.workflow, context=context, take=t) for t in takes]
    return asyncio.run(
        run_units(
            units, context, hooks=hooks, limits=Limits(concurrency=concurrency), registry=registry
        )
    )
