"""``recoil run``: plan, preflight, generate every pending take, choose primaries, export.

A run is resumable at any point. The store remembers takes and steps; the
receipt log (the source of truth) is reconciled into it on open; succeeded
steps are never generated again, a job with a ``submitted`` record is polled
instead of re-sent, and the cache turns a repeated request into a free
``cached`` receipt. Beats that start from the previous beat's last frame
(keyframe chaining) run in a later wave, once that beat has a primary.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from recoil.dispatch import Dispatcher
from recoil.errors import ProjectBusyError
from recoil.execution.policy import Limits, ProviderLimit, RetryPolicy
from recoil.execution.scheduler import Hooks, RunReport, Scheduler, Unit
from recoil.media.frames import last_frame
from recoil.model.context import DispatchContext
from recoil.model.ids import new_id
from recoil.model.receipt import Receipt
from recoil.model.take import Beat, Project, Scene, Take
from recoil.model.workflow import StepStatus, WorkflowStep
from recoil.production.export import ExportResult, export_project
from recoil.production.folder import Production, open_production, open_store
from recoil.production.plan import plan_project, runnable_takes
from recoil.production.preflight import PlanLine, plan_lines, preflight
from recoil.production.primaries import choose_project_primaries, reviews_of
from recoil.production.repair import check_outputs, requeue_damaged, requeue_failed
from recoil.production.scoring import Scoring, ScoringTasks, score_receipt
from recoil.records import codec
from recoil.records.artifacts import recorded_path
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
    executor: Literal["local", "ray"] = "local"
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
"""Called with each wave's scheduler, e.g. to route Ctrl-C to ``scheduler.stop``."""


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
        async with _dispatcher(context, options) as dispatcher:
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
            outcome.report = await run.waves(pending, on_scheduler)
            outcome.failures = run.failures
            outcome.notes += run.scoring_notes()
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
    if not dry_run:
        store.mark_verified(checked.intact)
        if repaired or retried:
            store.save_project(project)
    return project


class _Run:
    """One run's waves of takes through the scheduler."""

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

    async def waves(
        self, pending: list[tuple[Scene, Beat, Take]], on_scheduler: SchedulerHook | None
    ) -> RunReport:
        """Run the pending takes, a wave per keyframe-chaining depth; stop when interrupted."""
        by_depth: dict[int, list[tuple[Scene, Beat, Take]]] = {}
        beats = {b.beat_id: b for b in self.project.beats()}
        for item in pending:
            by_depth.setdefault(_chain_depth(item[1], beats), []).append(item)
            for step in item[2].workflow.steps:
                self.owner[id(step)] = item
        total = RunReport()
        if self.progress is not None:
            self.progress.start(_pending_steps(take for _, _, take in pending))
        try:
            for depth in sorted(by_depth):
                wave = by_depth[depth]
                if depth > 0:
                    choose_project_primaries(self.production, self.project, self.store)
                    for _, beat, take in wave:
                        self._chain(beat, take, beats)
                report = await self._wave([take for _, _, take in wave], on_scheduler)
                total = _merge(total, report)
                if report.interrupted:
                    break
        finally:
            if self.progress is not None:
                self.progress.finish()
        return total

    async def _wave(self, takes: list[Take], on_scheduler: SchedulerHook | None) -> RunReport:
        """Run one wave of takes on a scheduler of its own."""
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
        units = [Unit(workflow=t.workflow, context=self.context, take=t) for t in takes]
        try:
            # A long wave's receipts are indexed by a second process as they come.
            with self.store.following(_pending_steps(takes)):
                return await scheduler.run(units, grace_s=self.options.grace_s)
        finally:
            await self.scores.settle()
            self._flush(wait=True)
            self.store.reconcile()  # index the rest of this wave's receipts and scores

    def _chain(self, beat: Beat, take: Take, beats: dict[str, Beat]) -> None:
        """Start the take's keyframe from the last frame of the source beat's primary."""
        keyframe = take.workflow.step("keyframe")
        source = beats.get(str(beat.beat_metadata.get("chain_from")))
        if keyframe.status is not StepStatus.PENDING or source is None:
            return
        primary = source.primary_take
        video = primary.workflow.step("video").receipt if primary is not None else None
        clip = next(
            (a for a in (video.artifacts.values() if video else ()) if a.mime.startswith("video/")),
            None,
        )
        if clip is None:
            return  # nothing to chain from: the keyframe is drawn from its prompt alone
        frame = last_frame(self.production.artifacts.locate(clip), self.production.frames)
        # Relative to the project folder, like every path a receipt records.
        keyframe.payload = {**keyframe.payload, "image": recorded_path(frame, self.production.path)}

    def _step_failed(self, step: WorkflowStep, exc: BaseException) -> None:
        item = self.owner.get(id(step))
        name = f"{item[2].take_id}/{step.step_id}" if item is not None else step.step_id
        self.failures.append(f"{name}: {step.error or exc}")
        self._step_done(step)

    def _step_done(self, step: WorkflowStep) -> None:
        if self.scoring is not None and step.status is StepStatus.SUCCEEDED and step.receipt:
            self.scores.start(self._score(step.receipt, self.scoring))
        item = self.owner.get(id(step))
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
        self.scores.note(result.skipped)

    def scoring_notes(self) -> list[str]:
        """One line per scorer skipped in this run, and per scoring that failed."""
        return self.scores.notes()

    def _take_done(self, take: Take) -> None:
        self._dirty(take)

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
        event loop never waits. At the end of a wave it is waited for.
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
    return sum(s.status is StepStatus.PENDING for take in takes for s in take.workflow.steps)


def _chain_depth(beat: Beat, beats: dict[str, Beat]) -> int:
    depth = 0
    seen = {beat.beat_id}
    source = beat.beat_metadata.get("chain_from")
    while isinstance(source, str) and source in beats and source not in seen:
        depth += 1
        seen.add(source)
        source = beats[source].beat_metadata.get("chain_from")
    return depth


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
    )


def _dispatcher(context: DispatchContext, options: RunOptions) -> Dispatcher:
    if options.executor == "ray":
        from recoil.execution.ray import RayDispatcher

        return RayDispatcher(context)
    return Dispatcher(context)


def _merge(a: RunReport, b: RunReport) -> RunReport:
    return RunReport(
        succeeded=a.succeeded + b.succeeded,
        failed=a.failed + b.failed,
        skipped=a.skipped + b.skipped,
        cached=a.cached + b.cached,
        left=a.left + b.left,
        attempts=a.attempts + b.attempts,
        spent=max(a.spent, b.spent),
        budget_stops=a.budget_stops + b.budget_stops,
        interrupted=a.interrupted or b.interrupted,
        elapsed_s=a.elapsed_s + b.elapsed_s,
    )


def run_production_sync(path: Path, options: RunOptions | None = None) -> RunOutcome:
    """:func:`run_production` for callers without an event loop."""
    return asyncio.run(run_production(path, options))
