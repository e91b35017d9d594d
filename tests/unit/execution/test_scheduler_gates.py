"""Gates: a step that also waits for something outside the run (``Unit.gates``)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from recoil.dispatch import Dispatcher
from recoil.errors import StateError
from recoil.execution.scheduler import Hooks, Scheduler, Unit
from recoil.model.context import DispatchContext
from recoil.model.take import Beat
from recoil.model.workflow import StepStatus, Workflow, WorkflowStep

if TYPE_CHECKING:
    from conftest import Probes


def _gated(probes: Probes) -> tuple[Workflow, Workflow]:
    """``a`` alone; ``b`` (behind a gate) then ``c``."""
    first = probes.workflow(probes.step("a", latency_s=0.02))
    second = probes.workflow(probes.step("b", latency_s=0.01), probes.step("c", "b"))
    return first, second


def test_a_gate_opened_by_a_hook_starts_its_step(probes: Probes, context: DispatchContext) -> None:
    first, second = _gated(probes)

    async def main() -> None:
        async with Dispatcher(context, registry=probes.registry) as dispatcher:
            gated = Unit(workflow=second, context=context, gates=frozenset({"b"}))

            def opened(step: WorkflowStep) -> None:
                if step.step_id == "a":
                    scheduler.open(gated, "b")

            scheduler = Scheduler(dispatcher, hooks=Hooks(post_step=opened))
            report = await scheduler.run([Unit(workflow=first, context=context), gated])
            assert report.succeeded == 3 and report.left == 0

    asyncio.run(main())
    by = {a.prompt: a for a in probes.probe.attempts}
    assert by["b"].start >= by["a"].end  # behind its gate, though it has no dependency
    assert by["c"].start >= by["b"].end


def test_a_gate_left_closed_leaves_its_step_and_what_follows_pending(
    probes: Probes, context: DispatchContext
) -> None:
    first, second = _gated(probes)

    async def main() -> None:
        async with Dispatcher(context, registry=probes.registry) as dispatcher:
            gated = Unit(workflow=second, context=context, gates=frozenset({"b"}))
            report = await Scheduler(dispatcher).run([Unit(workflow=first, context=context), gated])
            assert report.succeeded == 1 and report.left == 2

    asyncio.run(main())  # it ends: nothing under way could open the gate
    assert [s.status for s in second.steps] == [StepStatus.PENDING, StepStatus.PENDING]
    assert [a.prompt for a in probes.probe.attempts] == ["a"]


def test_work_outside_the_run_keeps_it_going_and_may_open_a_gate(
    probes: Probes, context: DispatchContext
) -> None:
    first, second = _gated(probes)

    async def main() -> None:
        async with Dispatcher(context, registry=probes.registry) as dispatcher:
            gated = Unit(workflow=second, context=context, gates=frozenset({"b"}))
            loop = asyncio.get_running_loop()
            work: asyncio.Future[None] = loop.create_future()
            work.add_done_callback(lambda _: scheduler.open(gated, "b"))

            def begin(step: WorkflowStep) -> None:
                if step.step_id == "a":  # then nothing is under way in the run but this work
                    scheduler.outside(work)
                    loop.call_later(0.05, work.set_result, None)

            scheduler = Scheduler(dispatcher, hooks=Hooks(post_step=begin))
            report = await scheduler.run([Unit(workflow=first, context=context), gated])
            assert report.succeeded == 3 and report.left == 0

    asyncio.run(main())
    by = {a.prompt: a for a in probes.probe.attempts}
    assert by["b"].start >= by["a"].end


def test_a_gate_opens_only_while_its_run_runs(probes: Probes, context: DispatchContext) -> None:
    _, second = _gated(probes)

    async def main() -> None:
        async with Dispatcher(context, registry=probes.registry) as dispatcher:
            with pytest.raises(StateError, match="while its run runs"):
                Scheduler(dispatcher).open(Unit(workflow=second, context=context), "b")

    asyncio.run(main())


def test_a_gate_opened_as_the_run_starts_runs_its_step_once(
    probes: Probes, context: DispatchContext
) -> None:
    """A take with nothing left to run finishes as the run starts; the gate its
    ``post_take`` opens then readies its step, which must not start twice."""
    done = probes.workflow(probes.step("a"))
    done.steps[0].status = StepStatus.SUCCEEDED
    finished = Beat(beat_id="x").new_take(done)
    _, second = _gated(probes)

    async def main() -> None:
        async with Dispatcher(context, registry=probes.registry) as dispatcher:
            gated = Unit(workflow=second, context=context, gates=frozenset({"b"}))
            hooks = Hooks(post_take=lambda take: scheduler.open(gated, "b"))
            scheduler = Scheduler(dispatcher, hooks=hooks)
            units = [Unit(workflow=done, context=context, take=finished), gated]
            report = await scheduler.run(units)
            assert report.succeeded == 2

    asyncio.run(main())
    assert [a.prompt for a in probes.probe.attempts] == ["b", "c"]
