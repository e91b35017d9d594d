"""The async scheduler: runs the steps of many workflows at once (SPEC section 7).

Steps become ready when their dependencies succeed. A ready step is started
when a global slot and a slot of its provider are free (and the provider's
requests-per-minute window allows it); among startable steps the earliest
listed wins, so with concurrency 1 steps run in list order. Every slot is
released in a ``finally``: on success, error, timeout and cancellation.

Transient failures are retried with backoff (each attempt its own receipt);
permanent ones fail the step and skip its dependents (cascade). A step whose
estimate would exceed the budget is left pending. ``stop()`` stops scheduling;
calls in flight get a grace period, then are cancelled (a submitted job stays
recorded, so the next run polls it instead of paying again).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import heapq
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from recoil.context import DispatchContext
from recoil.dispatch import Dispatcher, Prepared
from recoil.errors import BudgetExceededError, DispatchError, RecoilError
from recoil.execution.policy import Limits, RateWindow, RetryPolicy
from recoil.model.ids import now_us
from recoil.model.take import Take, TakeHook, TakeStatus
from recoil.model.workflow import (
    STEP_REF,
    FailureHook,
    StepHook,
    StepStatus,
    Workflow,
    WorkflowStep,
)
from recoil.providers.registry import Registry
from recoil.records.receipt import Receipt


@dataclass(slots=True, kw_only=True)
class Hooks:
    """Synchronous hooks, called one at a time; a raising hook stops the run."""

    pre_step: StepHook | None = None
    post_step: StepHook | None = None
    on_failure: FailureHook | None = None
    pre_take: TakeHook | None = None
    post_take: TakeHook | None = None


@dataclass(slots=True, kw_only=True)
class Unit:
    """One workflow to run, with its context and (optionally) its take."""

    workflow: Workflow
    context: DispatchContext
    take: Take | None = None


@dataclass(slots=True, kw_only=True)
class RunReport:
    """What a run did."""

    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    cached: int = 0
    left: int = 0
    """Steps not run: stopped, or over budget."""
    attempts: int = 0
    spent: float = 0.0
    budget_stops: list[str] = field(default_factory=list)
    interrupted: bool = False
    elapsed_s: float = 0.0

    def summary(self) -> str:
        """One line for people."""
        parts = [f"{self.succeeded} succeeded ({self.cached} cached)"]
        parts += [f"{self.failed} failed", f"{self.skipped} skipped"]
        if self.left:
            parts.append(f"{self.left} not run")
        parts.append(f"spent {self.spent:.4f}")
        text = ", ".join(parts) + f" in {self.elapsed_s:.1f} s"
        if self.interrupted:
            text = "interrupted: " + text
        if self.budget_stops:
            text += f"; budget reached, {len(self.budget_stops)} dispatches not started"
        return text


@dataclass(slots=True)
class _Node:
    unit: int
    index: int
    step: WorkflowStep
    waiting: int
    dependents: list[_Node] = field(default_factory=list)
    prepared: Prepared | None = None
    context: DispatchContext | None = None

    @property
    def key(self) -> tuple[int, int]:
        return (self.unit, self.index)


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
        self._ready: dict[str, list[tuple[tuple[int, int], _Node]]] = {}
        self._in_flight: dict[str, int] = {}
        self._windows: dict[str, RateWindow] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._hook_error: BaseException | None = None
        self._units: list[Unit] = []
        self._remaining: list[int] = []

    def stop(self) -> None:
        """Stop starting new steps (Ctrl-C); steps in flight run on."""
        self._stopping = True
        self.report.interrupted = True
        self._wake.set()

    @property
    def in_flight(self) -> int:
        """Steps being dispatched now."""
        return len(self._tasks)

    async def run(self, units: Sequence[Unit], *, grace_s: float | None = None) -> RunReport:
        """Run every unit's steps; returns the report once nothing more can start.

        ``grace_s`` bounds how long calls in flight may finish after ``stop()``.
        """
        started = time.perf_counter()
        self._units = list(units)
        nodes = self._build(self._units)
        try:
            for unit in self._units:
                if unit.take is not None:
                    unit.take.start()
                    self._call(self.hooks.pre_take, unit.take)
            for node in nodes:
                if node.waiting == 0 and node.step.status is StepStatus.PENDING:
                    self._make_ready(node)
            await self._loop(grace_s)
        finally:
            await self._drain(grace_s)
            for timer in self._timers:
                timer.cancel()
            self.report.elapsed_s = time.perf_counter() - started
            self.report.spent = self.dispatcher.spent
        if self._hook_error is not None:
            raise self._hook_error
        return self.report

    # -- graph ---------------------------------------------------------------

    def _build(self, units: Sequence[Unit]) -> list[_Node]:
        nodes: list[_Node] = []
        self._remaining = []
        for u, unit in enumerate(units):
            by_id: dict[str, _Node] = {}
            pending = 0
            for i, step in enumerate(unit.workflow.steps):
                node = _Node(u, i, step, waiting=0)
                for dep in step.depends_on:
                    parent = by_id[dep]
                    if parent.step.status is not StepStatus.SUCCEEDED:
                        node.waiting += 1
                        parent.dependents.append(node)
                by_id[step.step_id] = node
                nodes.append(node)
                if step.status in (StepStatus.PENDING, StepStatus.RUNNING):
                    step.status = StepStatus.PENDING
                    pending += 1
            self._remaining.append(pending)
        return nodes

    def _make_ready(self, node: _Node) -> None:
        unit = self._units[node.unit]
        workflow = unit.workflow
        identity = {"workflow_id": workflow.workflow_id, "workflow_step_id": node.step.step_id}
        if unit.take is not None:
            identity.update(unit.take.identity())
        ctx = unit.context
        provenance = {**workflow.global_provenance, **ctx.provenance, **identity}
        seed = unit.take.seed if unit.take is not None and unit.take.seed is not None else ctx.seed
        node.context = dataclasses.replace(ctx, provenance=provenance, seed=seed)
        try:
            payload = _resolve(node.step.payload, workflow)
            node.prepared = self.dispatcher.prepare(node.step.modality, payload, node.context)
        except RecoilError as exc:
            self._fail(node, exc)
            return
        provider = node.prepared.provider_name
        heapq.heappush(self._ready.setdefault(provider, []), (node.key, node))

    # -- the loop --------------------------------------------------------------

    async def _loop(self, grace_s: float | None) -> None:
        while not self._stopping:
            self._start_ready()
            if not self._tasks and not self._timers:
                return
            self._wake.clear()
            await self._wake.wait()

    def _start_ready(self) -> None:
        loop = asyncio.get_running_loop()
        while len(self._tasks) < self.limits.concurrency and not self._stopping:
            node = self._pick(loop.time())
            if node is None:
                return
            self._start(node)

    def _pick(self, now: float) -> _Node | None:
        best: tuple[tuple[int, int], str] | None = None
        soonest: float | None = None
        for provider, heap in self._ready.items():
            if not heap:
                continue
            limit = self.limits.providers.get(provider)
            if limit is not None and limit.in_flight is not None:
                if self._in_flight.get(provider, 0) >= limit.in_flight:
                    continue
            if limit is not None and limit.rpm is not None:
                window = self._windows.setdefault(provider, RateWindow(limit.rpm))
                wait = window.wait_s(now)
                if wait > 0:
                    soonest = wait if soonest is None else min(soonest, wait)
                    continue
            if best is None or heap[0][0] < best[0]:
                best = (heap[0][0], provider)
        if best is None:
            if soonest is not None:
                self._timer(soonest, self._wake.set)
            return None
        provider = best[1]
        window = self._windows.get(provider)
        if window is not None:
            window.record(now)
        return heapq.heappop(self._ready[provider])[1]

    def _start(self, node: _Node) -> None:
        step = node.step
        assert node.prepared is not None
        provider = node.prepared.provider_name
        if step.attempts == 0:
            self._call(self.hooks.pre_step, step)
            if self._hook_error is not None:
                return
            step.started_us = now_us()
        step.status = StepStatus.RUNNING
        step.attempts += 1
        self._in_flight[provider] = self._in_flight.get(provider, 0) + 1
        task = asyncio.get_running_loop().create_task(self._attempt(node, provider))
        self._tasks.add(task)

    async def _attempt(self, node: _Node, provider: str) -> None:
        step = node.step
        assert node.prepared is not None and node.context is not None
        self.report.attempts += 1
        try:
            receipt = await self.dispatcher.send(node.prepared, node.context, attempt=step.attempts)
        except BudgetExceededError as exc:
            self.report.budget_stops.append(f"{step.step_id}: {exc}")
            step.status = StepStatus.PENDING
            step.attempts -= 1
        except DispatchError as exc:
            if self.on_receipt is not None:
                self.on_receipt(step, exc.receipt)
            self._after_failure(node, exc)
        except asyncio.CancelledError:
            step.status = StepStatus.PENDING
            raise
        else:
            if self.on_receipt is not None:
                self.on_receipt(step, receipt)
            self._succeed(node, receipt)
        finally:
            self._in_flight[provider] -= 1
            self._tasks.discard(asyncio.current_task())  # type: ignore[arg-type]
            self._wake.set()

    # -- outcomes --------------------------------------------------------------

    def _succeed(self, node: _Node, receipt: Receipt) -> None:
        step = node.step
        step.receipt = receipt
        step.error = None
        step.status = StepStatus.SUCCEEDED
        step.finished_us = now_us()
        self.report.succeeded += 1
        self.report.cached += receipt.cached
        self._call(self.hooks.post_step, step)
        for child in node.dependents:
            child.waiting -= 1
            if child.waiting == 0 and not self._stopping:
                self._make_ready(child)
        self._done(node)

    def _after_failure(self, node: _Node, exc: DispatchError) -> None:
        step = node.step
        error = exc.receipt.error
        if exc.retryable and step.attempts < self.retry.max_attempts and not self._stopping:
            retry_after = error.retry_after_s if error is not None else None
            delay = self.retry.delay(step.attempts, retry_after)
            step.status = StepStatus.PENDING
            step.receipt = exc.receipt

            def requeue() -> None:
                assert node.prepared is not None
                provider = node.prepared.provider_name
                heapq.heappush(self._ready.setdefault(provider, []), (node.key, node))
                self._wake.set()

            self._timer(delay, requeue)
            return
        step.receipt = exc.receipt
        self._fail(node, exc)

    def _fail(self, node: _Node, exc: BaseException) -> None:
        step = node.step
        step.status = StepStatus.FAILED
        step.error = str(exc)
        step.finished_us = now_us()
        self.report.failed += 1
        self._call(self.hooks.on_failure, step, exc)
        self._skip_dependents(node, step.step_id)
        self._done(node)

    def _skip_dependents(self, node: _Node, cause: str) -> None:
        for child in node.dependents:
            if child.step.status is StepStatus.PENDING:
                child.step.status = StepStatus.SKIPPED
                child.step.error = f"skipped: dependency {cause!r} did not succeed"
                self.report.skipped += 1
                self._skip_dependents(child, child.step.step_id)
                self._done(child)

    def _done(self, node: _Node) -> None:
        self._remaining[node.unit] -= 1
        unit = self._units[node.unit]
        if self._remaining[node.unit] == 0 and unit.take is not None:
            unit.take.finish()
            self._call(self.hooks.post_take, unit.take)

    # -- helpers ---------------------------------------------------------------

    def _call(self, hook: Callable[..., None] | None, *args: Any) -> None:
        if hook is None or self._hook_error is not None:
            return
        try:
            hook(*args)
        except Exception as exc:
            self._hook_error = exc
            self._stopping = True
            self._wake.set()

    def _timer(self, delay: float, callback: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            callback()

        handle = loop.call_later(delay, fire)
        self._timers.add(handle)

    async def _drain(self, grace_s: float | None) -> None:
        if not self._tasks:
            self._count_left()
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        self._count_left()

    def _count_left(self) -> None:
        self.report.left = sum(
            step.status in (StepStatus.PENDING, StepStatus.RUNNING)
            for unit in self._units
            for step in unit.workflow.steps
        )


def _resolve(payload: Mapping[str, Any], workflow: Workflow) -> dict[str, Any]:
    """The payload with every ``{"$step": ...}`` replaced by that step's artifact path."""

    def walk(value: Any) -> Any:
        if isinstance(value, Mapping):
            if STEP_REF in value:
                return _artifact_path(workflow, str(value[STEP_REF]), value.get("output"))
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return dict(walk(copy.deepcopy(dict(payload))))


def _artifact_path(workflow: Workflow, step_id: str, output: str | None) -> str:
    receipt = workflow.step(step_id).receipt
    if receipt is None or not receipt.artifacts:
        raise DependencyOutputError(f"step {step_id!r} has no output to pass on")
    if output is None:
        return next(iter(receipt.artifacts.values())).path
    artifact = receipt.artifacts.get(output)
    if artifact is None:
        names = ", ".join(receipt.artifacts)
        raise DependencyOutputError(f"step {step_id!r} has no output {output!r}; it has: {names}")
    return artifact.path


class DependencyOutputError(RecoilError):
    """A step references an output its dependency did not produce."""


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
