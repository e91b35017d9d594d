"""``recoil run``: plan, preflight, generate every pending take, choose primaries, export.

A run is resumable at any point. The store remembers takes and steps; the
receipt log (the source of truth) is reconciled into it on open; succeeded
steps are never generated again, a job with a ``submitted`` record is polled
instead of re-sent, and the cache turns a repeated request into a free
``cached`` receipt. The run is one graph on one scheduler: a beat that starts
from another beat's last frame (keyframe chaining) starts as soon as that
beat's primary is decided (:mod:`.chains`), and nothing else waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from recoil.dispatch import Dispatcher
from recoil.errors import ProjectBusyError
from recoil.execution.policy import Limits, ProviderLimit, RetryPolicy
from recoil.execution.scheduler import Hooks, RunReport, Scheduler, Unit
from recoil.model.context import DispatchContext
from recoil.model.ids import new_id
from recoil.model.receipt import Receipt
from recoil.model.take import Beat, Project, Scene, Take
from recoil.model.workflow import StepStatus, WorkflowStep
from recoil.production.chains import Chains
from recoil.production.export import ExportResult, export_project
from recoil.production.folder import Production, open_production, open_store
from recoil.production.plan import plan_project, runnable_takes
from recoil.production.preflight import PlanLine, plan_lines, preflight
from recoil.production.primaries import choose_project_primaries, reviews_of
from recoil.production.repair import check_outputs, requeue_damaged, requeue_failed
from recoil.production.scoring import Scoring, ScoringTasks, score_receipt
from recoil.production.staleness import is_stale
from recoil.records import codec
from recoil.store import ProjectStore
from recoil.store.lock import EDIT_LOCK_FILE, EDIT_WAIT_S, ProjectLock, editing

STORE_FLUSH_S = 0.25
"""How long finished steps wait to be saved to the store together."""


class Progress(Protocol):
    """Where a run reports progress (a rich bar on a terminal, plain lines otherwise)."""

    def start(self, total: int) -> None:
        """The run will dispatch ``total`` steps."""

    def step_done(self, step: WorkflowStep, take: Take | None) -> None:
        """A step finished (succeeded, failed or was skipped)."""

    def finish(self) -> None:
        """The run ended."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """How to run a project."""

    dry_run: bool = False
    use_cache: bool = True
    budget: float | None = None
    concurrency: int | None = None
    provider: str | None = None
    """Send every modality to this provider instead of the shot list's choice."""
    executor: Literal["local", "ray"] | None = None
    """Where provider calls run; ``None``: the project's ``[run] executor``."""
    grace_s: float = 10.0
    evaluate: bool = True
    """Score each step's outputs as it succeeds (``[evals] enabled`` must allow it too)."""


@dataclass(slots=True, kw_only=True)
class RunOutcome:
    """What a run did."""

    plan: list[PlanLine] = field(default_factory=list)
    report: RunReport = field(default_factory=RunReport)
    export: ExportResult | None = None
    """What the export wrote; ``None`` for a dry or interrupted run."""
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    """``take/step: reason`` for every step that failed in this run."""
    currency: str = "USD"
    dry_run: bool = False

    @property
    def estimate(self) -> float:
        """Estimated cost of the planned dispatches."""
        return sum(line.estimate for line in self.plan)

    @property
    def exit_code(self) -> int:
        """0 success, 1 some steps failed or the cut has holes, 130 interrupted (SPEC 12)."""
        if self.report.interrupted:
            return 130
        holes = self.export is not None and bool(self.export.missing)
        return 1 if self.report.failed or holes else 0


SchedulerHook = Callable[[Scheduler], Any]
"""Called with the run's scheduler, e.g. to route Ctrl-C to ``scheduler.stop``."""


async def run_production(
    path: Path,
    options: RunOptions | None = None,
    *,
    progress: Progress | None = None,
    on_scheduler: SchedulerHook | None = None,
) -> RunOutcome:
    """Run the project at ``path`` (see the module docstring).

    Before any dispatch, every pending step is checked by its provider as it
    will be sent (the keyframe a clip is made from included) and every provider
    used is preflighted (servers, node classes, bindings): a ``PayloadError``
    or :class:`~recoil.errors.ConfigError` otherwise. A dry run stops there,
    having sent nothing. Unless it is a dry run, the run is the project's one
    writer while it lasts (:class:`~recoil.errors.ProjectBusyError` if another
    process is writing it).
    """
    options = options or RunOptions()
    production = open_production(path)
    outcome = RunOutcome(currency=production.settings.run.currency, dry_run=options.dry_run)
    writer = None if options.dry_run else "recoil run"
    with open_store(production, writer=writer) as store:
        outcome.notes += store.notes
        with nullcontext() if options.dry_run else editing(path, command="recoil run"):
            project = _prepare(production, store, outcome, dry_run=options.dry_run)
        context = _context(production, options)
        pending = runnable_takes(project)
        async with _dispatcher(production, context, options) as dispatcher:
            outcome.plan = plan_lines(dispatcher, context, pending)
            # A dry run checks what a run checks (as `recoil providers` does); it sends nothing.
            await preflight(dispatcher, context, pending)
            if options.dry_run:
                return outcome
            run = _Run(
                production=production,
                store=store,
                project=project,
                dispatcher=dispatcher,
                context=context,
                options=options,
                progress=progress,
            )
            outcome.report = await run.graph(pending, on_scheduler)
            outcome.failures = run.failures
            outcome.notes += run.scoring_notes() + run.chain_notes(outcome.report.interrupted)
        with editing(path, command="recoil run"):
            # Re-read: a take may have been queued (a rejection, a retake) while this ran.
            project = plan_project(production.shotlist, store.load_project(), base=path)
            outcome.notes += choose_project_primaries(production, project, store)
            store.save_project(project)
        if not outcome.report.interrupted:
            outcome.export = await asyncio.to_thread(export_project, production, project, store)
    return outcome


def _prepare(
    production: Production, store: ProjectStore, outcome: RunOutcome, *, dry_run: bool
) -> Project:
    """Plan the project, then send back to pending what a rerun repairs (:mod:`.repair`)."""
    project = plan_project(production.shotlist, store.load_project(), base=production.path)
    if not dry_run:
        store.save_project(project)
        # Receipts logged for takes the store had not saved yet (a crash right
        # after the log append) are attached now, so those steps are not re-sent.
        if store.reattach():
            project = store.load_project() or project
    checked = check_outputs(project, production.artifacts.locate, store.verified_files())
    rejected = {t for t, (status, _) in reviews_of(store).items() if status == "retake"}
    repaired = requeue_damaged(project, checked.damage)
    retried, unknown = requeue_failed(project, rejected)
    outcome.notes += repaired + retried + unknown
    # A primary changed since the last run (an approval) makes the takes chained from its
    # old frame stale now, so this run makes their new takes, not the next one.
    stale = _stale_count(project)
    choose_project_primaries(production, project, store)
    restaled = _stale_count(project) > stale
    if restaled:
        project = plan_project(production.shotlist, project, base=production.path)
    if not dry_run:
        store.mark_verified(checked.intact)
        if repaired or retried or restaled:
            store.save_project(project)
    return project


def _stale_count(project: Project) -> int:
    return sum(is_stale(take) for beat in project.beats() for take in beat.takes)


class _Run:
    """One run's takes through one scheduler."""

    def __init__(
        self,
        *,
        production: Production,
        store: ProjectStore,
        project: Project,
        dispatcher: Dispatcher,
        context: DispatchContext,
        options: RunOptions,
        progress: Progress | None,
    ) -> None:
        self.production = production
        self.store = store
        self.project = project
        self.dispatcher = dispatcher
        self.context = context
        self.options = options
        self.progress = progress
        self.owner: dict[int, tuple[Scene, Beat, Take]] = {}
        self.dirty: dict[str, Take] = {}
        self.failures: list[str] = []
        self.flush_timer: asyncio.TimerHandle | None = None
        settings = production.settings
        names = set(settings.providers)
        self.limits = Limits(
            concurrency=options.concurrency or settings.run.concurrency,
            providers={
                name: ProviderLimit(
                    in_flight=settings.provider_limit(name), rpm=settings.provider_rpm(name)
                )
                for name in names
            },
        )
        self.retry = RetryPolicy(max_attempts=settings.run.retries + 1)
        evals = settings.evals
        self.scoring = (
            Scoring.from_settings(evals, production.path)
            if evals.enabled and options.evaluate
            else None
        )
        self.scores = ScoringTasks()
        self.chains: Chains | None = None

    async def graph(
        self, pending: Sequence[tuple[Scene, Beat, Take]], on_scheduler: SchedulerHook | None
    ) -> RunReport:
        """Run the pending takes as one graph (chained keyframes behind gates)."""
        for item in pending:
            for step in item[2].workflow.steps:
                self.owner[id(step)] = item
        takes = [take for _, _, take in pending]
        chains = self.chains = Chains(self.production, self.store, self.project, takes)
        if self.progress is not None:
            self.progress.start(_pending_steps(takes))
        try:
            return await self._schedule(takes, chains, on_scheduler)
        finally:
            if self.progress is not None:
                self.progress.finish()

    def chain_notes(self, interrupted: bool) -> list[str]:
        """What the chained takes still waiting wait on (:meth:`Chains.notes`)."""
        return self.chains.notes(interrupted) if self.chains is not None else []

    async def _schedule(
        self, takes: list[Take], chains: Chains, on_scheduler: SchedulerHook | None
    ) -> RunReport:
        """Run the takes on the run's scheduler."""
        scheduler = Scheduler(
            self.dispatcher,
            limits=self.limits,
            retry=self.retry,
            hooks=Hooks(
                post_step=self._step_done,
                on_failure=self._step_failed,
                post_take=self._take_done,
            ),
        )
        if on_scheduler is not None:
            on_scheduler(scheduler)
        units = [
            Unit(
                workflow=t.workflow,
                context=self.context,
                take=t,
                priority=chains.priority(t),
                gates=chains.gates(t),
            )
            for t in takes
        ]
        chains.start(scheduler, units, changed=self._dirty)
        try:
            # A long run's receipts are indexed by a second process as they come.
            with self.store.following(_pending_steps(takes)):
                return await scheduler.run(units, grace_s=self.options.grace_s)
        finally:
            await chains.close()
            await self.scores.settle()
            self._flush(wait=True)
            self.store.reconcile()  # index the rest of this run's receipts and scores

    def _step_failed(self, step: WorkflowStep, exc: BaseException) -> None:
        item = self.owner.get(id(step))
        name = f"{item[2].take_id}/{step.step_id}" if item is not None else step.step_id
        self.failures.append(f"{name}: {step.error or exc}")
        self._step_done(step)

    def _step_done(self, step: WorkflowStep) -> None:
        item = self.owner.get(id(step))
        if self.scoring is not None and step.status is StepStatus.SUCCEEDED and step.receipt:
            task = self.scores.start(self._score(step.receipt, self.scoring))
            if item is not None and self.chains is not None:
                self.chains.scoring(item[2], task)
        if item is not None:
            self._dirty(item[2])
        if self.progress is not None:
            self.progress.step_done(step, item[2] if item is not None else None)

    async def _score(self, receipt: Receipt, scoring: Scoring) -> None:
        """Score a step's outputs in a worker thread, then log the ``eval`` records."""
        async with self.scores.slots:
            result = await asyncio.to_thread(
                score_receipt,
                receipt,
                scoring,
                locate=self.production.artifacts.locate,
                project=self.production.path,
            )
        for record in result.records:
            await self.dispatcher.log.append_async(codec.encode(record))
        if self.chains is not None:
            self.chains.scored(result.records)
        self.scores.note(result.skipped)

    def scoring_notes(self) -> list[str]:
        """One line per scorer skipped in this run, and per scoring that failed."""
        return self.scores.notes()

    def _take_done(self, take: Take) -> None:
        self._dirty(take)
        if self.chains is not None:
            self.chains.take_done(take)

    def _dirty(self, take: Take) -> None:
        """Save the take soon. The receipt log is already durable: a crash before the
        save loses nothing, since reopening the store re-attaches logged receipts."""
        self.dirty[take.take_id] = take
        if self.flush_timer is None:
            loop = asyncio.get_running_loop()
            self.flush_timer = loop.call_later(STORE_FLUSH_S, self._flush)

    def _flush(self, *, wait: bool = False) -> None:
        """Save the dirty takes, under the edit lock.

        From the timer (``wait`` false) the lock is only tried: while a review
        command holds it, the takes stay dirty and the timer tries again, so the
        event loop never waits. At the end of the run it is waited for.
        """
        if self.flush_timer is not None:
            self.flush_timer.cancel()
            self.flush_timer = None
        if not self.dirty:
            return
        lock = ProjectLock(self.production.path, command="recoil run", name=EDIT_LOCK_FILE)
        try:
            lock.acquire(wait_s=EDIT_WAIT_S if wait else 0.0)
        except ProjectBusyError:
            if wait:
                raise
            loop = asyncio.get_running_loop()
            self.flush_timer = loop.call_later(STORE_FLUSH_S, self._flush)
            return
        try:
            takes, self.dirty = list(self.dirty.values()), {}
            for take in takes:
                scene, beat, _ = self.owner[id(take.workflow.steps[0])]
                self.store.save_take(scene.scene_id, beat.beat_id, take)
        finally:
            lock.release()


def _pending_steps(takes: Iterable[Take]) -> int:
    """Steps still to run: pending, or cut short (``running``) by a crash."""
    todo = (StepStatus.PENDING, StepStatus.RUNNING)
    return sum(s.status in todo for take in takes for s in take.workflow.steps)


def _context(production: Production, options: RunOptions) -> DispatchContext:
    settings = production.settings
    shot = production.shotlist.project
    return DispatchContext(
        project=production.path,
        providers={} if options.provider else dict(shot.providers),
        default_provider=options.provider or shot.provider,
        provider_config=production.provider_configs(),
        run_id=new_id("run"),
        timeout_s=settings.run.timeout_s,
        budget=options.budget if options.budget is not None else settings.run.budget,
        use_cache=options.use_cache,
        embed_prompts=settings.project.embed_prompts,
        signing=production.content_signing(),
    )


def _dispatcher(
    production: Production, context: DispatchContext, options: RunOptions
) -> Dispatcher:
    settings = production.settings.run
    if (options.executor or settings.executor) == "ray":
        from recoil.execution.ray import RayDispatcher

        return RayDispatcher(context, address=settings.ray_address)
    return Dispatcher(context)


def run_production_sync(path: Path, options: RunOptions | None = None) -> RunOutcome:
    """:func:`run_production` for callers without an event loop."""
    return asyncio.run(run_production(path, options))
