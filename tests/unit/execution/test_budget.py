"""Budget: no dispatch starts whose estimate would take the spend over it."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING

import pytest

from recoil.dispatch import Dispatcher
from recoil.execution.policy import Limits
from recoil.execution.scheduler import Scheduler, Unit
from recoil.model.workflow import StepStatus, Workflow, WorkflowStep

if TYPE_CHECKING:
    from conftest import Fake, Probes
    from recoil.model.context import DispatchContext


def keyframes(n: int, cost: float, tag: str = "k") -> Workflow:
    return Workflow(
        steps=[
            WorkflowStep(
                step_id=f"{tag}{i}",
                modality="keyframe",
                payload={"prompt": f"{tag}{i}", "fake_cost": cost, "fake_latency_s": 0.02},
            )
            for i in range(n)
        ]
    )


def test_concurrent_steps_never_overshoot_the_budget(fake: Fake) -> None:
    context = fake.context(budget=1.0)
    wf = keyframes(4, 0.4)

    async def main() -> tuple[float, list[str], int, str]:
        async with Dispatcher(context) as dispatcher:
            scheduler = Scheduler(dispatcher, limits=Limits(concurrency=4))
            report = await scheduler.run([Unit(workflow=wf, context=context)])
            return dispatcher.spent, report.budget_stops, report.left, report.summary()

    spent, stops, left, summary = asyncio.run(main())
    assert spent == pytest.approx(0.8)
    assert [s.status for s in wf.steps].count(StepStatus.SUCCEEDED) == 2
    assert [s.status for s in wf.steps].count(StepStatus.PENDING) == 2
    assert left == 2 and len(stops) == 2
    assert "would cost about 0.4000; spent 0.8000 of budget 1.0000" in stops[0]
    assert "budget reached, 2 dispatches not started" in summary
    assert fake.calls() == 2


def test_steps_waiting_on_an_over_budget_step_stay_pending(fake: Fake) -> None:
    context = fake.context(budget=0.5)
    free = WorkflowStep(step_id="free", modality="keyframe", payload={"prompt": "y"})
    chained = fake.keyframe_then_video({"$step": "k"}, keyframe={"fake_cost": 1})
    wf = Workflow(steps=[*chained, free])
    wf.run(context)
    assert [s.status for s in wf.steps] == [
        StepStatus.PENDING,
        StepStatus.PENDING,
        StepStatus.SUCCEEDED,
    ]
    assert wf.steps[0].attempts == 0 and wf.steps[0].started_us is None
    assert fake.calls() == 1


def test_cache_hits_are_free_under_a_spent_budget(fake: Fake) -> None:
    wf = keyframes(2, 0.4)
    wf.run(fake.context())
    again = keyframes(2, 0.4)
    again.run(fake.context(budget=0.0))
    assert all(s.receipt is not None and s.receipt.cached for s in again.steps)
    assert fake.calls() == 2


def test_dispatcher_refusal_leaves_the_step_pending(fake: Fake) -> None:
    """The scheduler admits a likely cache hit; the dispatcher finds it gone and refuses."""
    context = fake.context(budget=0.5)
    first = keyframes(1, 0.4)

    async def main() -> tuple[list[str], int]:
        async with Dispatcher(context) as dispatcher:
            scheduler = Scheduler(dispatcher)
            await scheduler.run([Unit(workflow=first, context=context)])
            receipt = first.steps[0].receipt
            assert receipt is not None
            await asyncio.to_thread(
                (context.receipts_file.parent / receipt.artifacts["image"].path).unlink
            )
            report = await scheduler.run([Unit(workflow=keyframes(1, 0.4), context=context)])
            return report.budget_stops, report.attempts

    stops, attempts = asyncio.run(main())
    assert len(stops) == 1 and "budget" in stops[0] and attempts == 0
    assert fake.calls() == 1


def test_reported_cost_above_estimate_stops_later_steps(
    probes: Probes, context: DispatchContext
) -> None:
    context = dataclasses.replace(context, budget=1.0)
    wf = probes.workflow(*[probes.step(f"s{i}", estimate=0.3, cost=0.6) for i in range(4)])
    report, _ = probes.run(context, wf, limits=Limits(concurrency=1))
    assert report.succeeded == 2 and report.left == 2
    assert len(report.budget_stops) == 2
