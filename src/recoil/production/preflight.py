"""Before a run's first paid call: its plan with estimates, and every provider's checks.

:func:`plan_lines` prices each pending take as it will be sent;
:func:`preflight` builds every provider the run uses (credentials, servers,
templates) and has each check the requests it will get. Both see a request
as it will be sent: an input an earlier step makes (the keyframe a clip is
animated from) and the frame a chained keyframe starts from stand as
placeholder paths (:func:`planned_request`), so a template that binds no
``image`` is a problem now, not after the first step has run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from recoil.dispatch import Dispatcher
from recoil.dispatch.prepare import PLANNED_INPUT, planned
from recoil.errors import ConfigError, PayloadError
from recoil.model.context import DispatchContext
from recoil.model.requests import Request
from recoil.model.take import Beat, Scene, Take
from recoil.model.workflow import StepStatus, WorkflowStep
from recoil.providers.base import ChecksRequests
from recoil.providers.registry import Registry


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanLine:
    """One take to run, for the dry-run plan."""

    scene_id: str
    beat_id: str
    take_id: str
    dispatches: int
    estimate: float


def planned_request(registry: Registry, beat: Beat, take: Take, step: WorkflowStep) -> Request:
    """``step``'s request as it will be sent, placeholders standing for files not made yet."""
    runner = registry.runner(step.modality)
    payload = planned(step.payload, runner.request_type.input_fields)
    chained = beat.beat_metadata.get("chain_from")
    if chained and step.step_id == "keyframe":
        payload["image"] = f"{PLANNED_INPUT}last frame of beat {chained}>"
    payload.setdefault("seed", take.seed)
    return runner.build(payload)


def plan_lines(
    dispatcher: Dispatcher, context: DispatchContext, pending: list[tuple[Scene, Beat, Take]]
) -> list[PlanLine]:
    lines = []
    for scene, beat, take in pending:
        steps = [s for s in take.workflow.steps if s.status is StepStatus.PENDING]
        estimate = 0.0
        for step in steps:
            ctx = dataclasses.replace(context, seed=take.seed)
            try:
                # As it will be sent: an earlier step's output stands in for its file.
                estimate += dispatcher.plan(step.modality, step.payload, ctx).amount
            except PayloadError as exc:  # say which step of which beat, before any call
                where = f" (beat {beat.beat_id}, take {take.take_id}, step {step.step_id})"
                raise PayloadError(exc.modality, exc.field, exc.reason + where) from None
        lines.append(
            PlanLine(
                scene_id=scene.scene_id,
                beat_id=beat.beat_id,
                take_id=take.take_id,
                dispatches=len(steps),
                estimate=estimate,
            )
        )
    return lines


async def preflight(
    dispatcher: Dispatcher, context: DispatchContext, pending: list[tuple[Scene, Beat, Take]]
) -> None:
    """Before the first paid call: every provider built (credentials) and ready."""
    used: dict[str, str] = {}
    for _, _, take in pending:
        for step in take.workflow.steps:
            requested = step.payload.get("provider")
            name = context.provider_for(step.modality, requested if requested else None)
            used.setdefault(name, step.modality)
    problems: list[str] = []
    for name, modality in sorted(used.items()):
        provider = dispatcher.provider(name, modality, context)
        problems += [f"{name}: {p}" for p in await provider.preflight()]
    if not problems:
        problems = await _check_requests(dispatcher, context, pending)
    if len(problems) == 1:
        raise ConfigError(f"preflight failed: {problems[0]}")
    if problems:
        raise ConfigError(
            f"preflight failed ({len(problems)} problems):\n  " + "\n  ".join(problems)
        )


async def _check_requests(
    dispatcher: Dispatcher, context: DispatchContext, pending: list[tuple[Scene, Beat, Take]]
) -> list[str]:
    """Every pending step's request, checked by its provider where it can (``ChecksRequests``).

    An input an earlier step makes stands as a placeholder, and so does the frame
    a chained beat's keyframe will start from.
    """
    batches: dict[str, list[tuple[str, Request]]] = {}
    checkers: dict[str, ChecksRequests] = {}
    for _, beat, take in pending:
        for step in take.workflow.steps:
            if step.status is not StepStatus.PENDING:
                continue
            request = planned_request(dispatcher.registry, beat, take, step)
            name = context.provider_for(step.modality, request.provider)
            provider = dispatcher.provider(name, step.modality, context)
            if isinstance(provider, ChecksRequests):
                checkers[name] = provider
                batches.setdefault(name, []).append((f"{take.take_id}/{step.step_id}", request))
    problems: list[str] = []
    for name, batch in sorted(batches.items()):
        problems += [f"{name}: {p}" for p in await checkers[name].check_requests(batch)]
    return problems
