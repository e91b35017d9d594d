"""Scheduler: dependencies, limits, order, cascade, hooks, takes, preparing off the loop."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from recoil.dispatch import Dispatcher
from recoil.errors import StateError
from recoil.execution.policy import Limits, ProviderLimit
from recoil.execution.scheduler import Hooks, Scheduler, Unit
from recoil.model.context import DispatchContext
from recoil.model.requests import Request
from recoil.model.take import Beat, TakeStatus
from recoil.model.workflow import StepStatus, Workflow, WorkflowStep
from recoil.providers.base import Job
from tests.helpers import until

if TYPE_CHECKING:
    from conftest import Fake, Probes


def test_dependencies_start_after_their_parents_succeed(
    probes: Probes, context: DispatchContext
) -> None:
    wf = probes.workflow(
        probes.step("a", latency_s=0.02),
        probes.step("b", "a", latency_s=0.01),
        probes.step("c", "a", latency_s=0.01),
        probes.step("d", "b", "c"),
    )
    report, _ = probes.run(context, wf, limits=Limits(concurrency=4))
    assert report.succeeded == 4
    by = {a.prompt: a for a in probes.probe.attempts}
    assert by["b"].start >= by["a"].end and by["c"].start >= by["a"].end
    assert by["d"].start >= max(by["b"].end, by["c"].end)
    assert probes.probe.max_active == 2  # b and c ran together
    assert [s.status for s in wf.steps] == [StepStatus.SUCCEEDED] * 4
    assert len(probes.receipts(context)) == 4


def test_global_concurrency_limit(probes: Probes, context: DispatchContext) -> None:
    wf = probes.workflow(*[probes.step(f"s{i}", latency_s=0.02) for i in range(12)])
    report, _ = probes.run(context, wf, limits=Limits(concurrency=3))
    assert report.succeeded == 12
    assert probes.tracker.max_active == 3


def test_per_provider_in_flight_limit(probes: Probes, context: DispatchContext) -> None:
    steps = [probes.step(f"a{i}", latency_s=0.02, provider="probe") for i in range(8)]
    steps += [probes.step(f"b{i}", latency_s=0.02, provider="probe2") for i in range(8)]
    limits = Limits(concurrency=6, providers={"probe": ProviderLimit(in_flight=2)})
    report, _ = probes.run(context, probes.workflow(*steps), limits=limits)
    assert report.succeeded == 16
    assert probes.probe.max_active == 2
    assert probes.tracker.max_active == 6
    assert probes.probe2.max_active == 4


def test_requests_per_minute_limit_holds_further_starts(
    probes: Probes, context: DispatchContext
) -> None:
    limits = Limits(concurrency=4, providers={"probe": ProviderLimit(rpm=2)})
    wf = probes.workflow(*[probes.step(f"s{i}", latency_s=0.05) for i in range(4)])
    # Four slots: but for the window, all four calls would be in flight together.
    wave_done = probes.stop_when(
        lambda: len(probes.probe.attempts) >= 2 and not probes.tracker.active
    )
    report, _ = probes.run(context, wf, limits=limits, during=wave_done)
    assert report.succeeded == 2  # the window allows two per minute
    assert report.left == 2
    assert [s.status for s in wf.steps[2:]] == [StepStatus.PENDING] * 2


def test_concurrency_one_runs_in_list_order_across_workflows(
    probes: Probes, context: DispatchContext
) -> None:
    first = probes.workflow(
        probes.step("a1"), probes.step("a2", "a1"), probes.step("a3"), workflow_id="wf-a"
    )
    second = probes.workflow(probes.step("b1"), probes.step("b2", "b1"), workflow_id="wf-b")
    order: list[str] = []
    hooks = Hooks(pre_step=lambda s: order.append(s.step_id))
    probes.run(context, first, second, limits=Limits(concurrency=1), hooks=hooks)
    assert order == ["a1", "a2", "a3", "b1", "b2"]
    assert probes.starts() == ["a1", "a2", "a3", "b1", "b2"]


def test_failure_skips_dependents_and_the_rest_runs(
    probes: Probes, context: DispatchContext
) -> None:
    wf = probes.workflow(
        probes.step("bad", script=["400"]),
        probes.step("child", "bad"),
        probes.step("grandchild", "child"),
        probes.step("free"),
    )
    failures: list[tuple[str, str]] = []
    hooks = Hooks(on_failure=lambda s, exc: failures.append((s.step_id, type(exc).__name__)))
    report, _ = probes.run(context, wf, hooks=hooks)
    status = {s.step_id: s.status for s in wf.steps}
    assert status == {
        "bad": StepStatus.FAILED,
        "child": StepStatus.SKIPPED,
        "grandchild": StepStatus.SKIPPED,
        "free": StepStatus.SUCCEEDED,
    }
    assert "'bad'" in (wf.step("child").error or "")
    assert "'child'" in (wf.step("grandchild").error or "")
    assert failures == [("bad", "DispatchError")]
    assert (report.failed, report.skipped, report.succeeded) == (1, 2, 1)
    assert len(probes.probe.attempts_of("bad")) == 1  # permanent: not retried


def test_hooks_see_each_transition_in_order(probes: Probes, context: DispatchContext) -> None:
    wf = probes.workflow(probes.step("a"), probes.step("b", "a"))
    seen: list[tuple[str, str, StepStatus, bool]] = []

    def pre(s: WorkflowStep) -> None:
        seen.append(("pre", s.step_id, s.status, s.receipt is None))

    def post(s: WorkflowStep) -> None:
        assert s.finished_us is not None and s.started_us is not None
        seen.append(("post", s.step_id, s.status, s.receipt is None))

    probes.run(context, wf, hooks=Hooks(pre_step=pre, post_step=post))
    assert seen == [
        ("pre", "a", StepStatus.PENDING, True),
        ("post", "a", StepStatus.SUCCEEDED, False),
        ("pre", "b", StepStatus.PENDING, True),
        ("post", "b", StepStatus.SUCCEEDED, False),
    ]


def test_raising_pre_step_stops_the_run_and_propagates(
    probes: Probes, context: DispatchContext
) -> None:
    wf = probes.workflow(probes.step("a"), probes.step("b"), probes.step("c"))

    def pre(s: WorkflowStep) -> None:
        if s.step_id == "b":
            raise RuntimeError("hook says no")

    with pytest.raises(RuntimeError, match="hook says no"):
        probes.run(context, wf, limits=Limits(concurrency=1), hooks=Hooks(pre_step=pre))
    assert [s.status for s in wf.steps] == [
        StepStatus.SUCCEEDED,
        StepStatus.PENDING,
        StepStatus.PENDING,
    ]
    assert probes.starts() == ["a"]


def test_raising_post_step_lets_calls_in_flight_finish_then_propagates(
    probes: Probes, context: DispatchContext
) -> None:
    wf = probes.workflow(
        probes.step("fast", latency_s=0.01),
        probes.step("slow", latency_s=0.1),
        probes.step("after", "fast"),
        *[probes.step(f"later{i}", latency_s=0.05) for i in range(4)],
    )
    started: list[str] = []
    calls: list[str] = []

    def post(s: WorkflowStep) -> None:
        calls.append(s.step_id)
        raise KeyError("post hook broke")

    hooks = Hooks(pre_step=lambda s: started.append(s.step_id), post_step=post)
    with pytest.raises(KeyError, match="post hook broke"):
        probes.run(context, wf, limits=Limits(concurrency=2), hooks=hooks)
    assert calls == ["fast"]  # no hook runs after one raised
    assert "slow" in started and "after" not in started and len(started) < 6
    for s in wf.steps:
        # Calls in flight finished and were recorded; the rest never started.
        expected = StepStatus.SUCCEEDED if s.step_id in started else StepStatus.PENDING
        assert s.status is expected, s.step_id
    assert len(probes.receipts(context)) == len(started)


def test_step_gets_identity_provenance_and_take_seed(fake: Fake) -> None:
    context = fake.context(provenance={"who": "caller", "workflow_id": "spoof"})
    beat = Beat(beat_id="b1", beat_metadata={"scene_id": "s1"})
    wf = Workflow(
        steps=[WorkflowStep(step_id="k", modality="keyframe", payload={"prompt": "x"})],
        global_provenance={"who": "global", "show": "pilot"},
    )
    take = beat.new_take(wf)
    take.execute(context=context)
    receipt = wf.steps[0].receipt
    assert receipt is not None
    assert receipt.provenance == {
        "who": "caller",
        "show": "pilot",
        "workflow_id": wf.workflow_id,
        "workflow_step_id": "k",
        "take_id": take.take_id,
        "beat_id": "b1",
        "scene_id": "s1",
    }
    assert receipt.seed == take.seed


def test_step_outputs_feed_later_steps(fake: Fake) -> None:
    context = fake.context()
    wf = Workflow(steps=fake.keyframe_then_video({"$step": "k", "output": "image"}))
    wf.run(context)
    k, v = wf.steps
    assert k.receipt is not None and v.receipt is not None
    assert v.receipt.inputs == {"image": k.receipt.artifacts["image"].sha256}
    assert wf.steps[1].payload["image"] == {"$step": "k", "output": "image"}  # not mutated


def test_missing_output_reference_fails_the_step(fake: Fake) -> None:
    context = fake.context()
    wf = Workflow(steps=fake.keyframe_then_video({"$step": "k", "output": "nope"}))
    wf.run(context)
    assert wf.steps[1].status is StepStatus.FAILED
    assert "no output 'nope'" in (wf.steps[1].error or "")


def test_steps_with_input_files_are_prepared_off_the_loop_in_list_order(
    probes: Probes, context: DispatchContext, tmp_path: Path
) -> None:
    image = tmp_path / "in.bin"
    image.write_bytes(b"\0" * (1 << 20))
    wf = probes.workflow(probes.step("with_file", image=str(image)), probes.step("plain"))
    report, _ = probes.run(context, wf, limits=Limits(concurrency=1))
    assert report.succeeded == 2
    assert probes.starts() == ["with_file", "plain"]
    assert threading.get_ident() in probes.probe.validate_threads  # "plain", on the loop
    assert len(probes.probe.validate_threads) == 2  # "with_file", in a worker thread


def test_cut_short_take_goes_back_to_pending_and_resumes(fake: Fake) -> None:
    beat = Beat(beat_id="b1")
    steps = fake.keyframe_then_video({"$step": "k"}, keyframe={"fake_cost": 1}, fake_cost=1)
    wf = Workflow(steps=steps)
    take = beat.new_take(wf)
    take.execute(context=fake.context(budget=1.5))
    assert take.status is TakeStatus.PENDING
    assert [s.status for s in wf.steps] == [StepStatus.SUCCEEDED, StepStatus.PENDING]
    take.execute(context=fake.context(budget=5.0))
    assert take.status is TakeStatus.SUCCEEDED
    assert fake.calls() == 2  # the keyframe was not generated again
    with pytest.raises(StateError):
        take.execute(context=fake.context())


def test_failed_step_from_an_earlier_run_cascades(probes: Probes, context: DispatchContext) -> None:
    wf = probes.workflow(probes.step("a"), probes.step("b", "a"), probes.step("c"))
    wf.steps[0].status = StepStatus.FAILED
    report, _ = probes.run(context, wf)
    assert [s.status for s in wf.steps] == [
        StepStatus.FAILED,
        StepStatus.SKIPPED,
        StepStatus.SUCCEEDED,
    ]
    assert report.skipped == 1 and report.succeeded == 1


def test_a_scheduler_runs_one_run_at_a_time_and_can_run_again(
    probes: Probes, context: DispatchContext
) -> None:
    async def main() -> None:
        async with Dispatcher(context, registry=probes.registry) as dispatcher:
            scheduler = Scheduler(dispatcher)
            slow = Unit(workflow=probes.workflow(probes.step("a", latency_s=0.05)), context=context)
            task = asyncio.create_task(scheduler.run([slow]))
            await until(lambda: probes.tracker.active, what="the first run's call")
            with pytest.raises(StateError):
                await scheduler.run([])
            assert (await task).succeeded == 1
            again = Unit(workflow=probes.workflow(probes.step("b")), context=context)
            report = await scheduler.run([again])
            assert (report.succeeded, report.attempts) == (1, 1)

    asyncio.run(main())


def test_summary_says_what_was_done_and_left() -> None:
    from recoil.execution.scheduler import RunReport

    report = RunReport(succeeded=3, cached=1, failed=1, skipped=2, left=4, spent=1.5)
    report.budget_stops = ["x: too dear"]
    text = report.summary()
    assert text.startswith("3 succeeded (1 cached), 1 failed, 2 skipped, 4 not run")
    assert "budget reached, 1 dispatches not started" in text
    report.interrupted = True
    assert report.summary().startswith("interrupted: ")


def test_a_full_provider_does_not_hide_steps_for_another(
    probes: Probes, context: DispatchContext
) -> None:
    """Steps for probe2, listed after more probe steps than the look-ahead holds, still start
    while probe is full, and a long backlog is not prepared before the first calls start."""
    from recoil.execution.scheduler import LOOKAHEAD

    concurrency = 4
    many = LOOKAHEAD * concurrency * 3
    steps = [probes.step(f"a{i}", latency_s=0.01, provider="probe") for i in range(many)]
    steps += [probes.step(f"b{i}", latency_s=0.01, provider="probe2") for i in range(4)]
    limits = Limits(concurrency=concurrency, providers={"probe": ProviderLimit(in_flight=1)})
    report, _ = probes.run(context, probes.workflow(*steps), limits=limits)
    assert report.succeeded == many + 4
    assert probes.probe.max_active == 1
    # probe2's steps ran alongside probe's, not after all of them.
    first_b = min(a.start for a in probes.probe2.attempts)
    last_a = max(a.start for a in probes.probe.attempts)
    assert first_b < last_a
    assert probes.tracker.max_active >= 2


def test_a_long_backlog_is_not_prepared_before_the_first_calls(
    probes: Probes, context: DispatchContext
) -> None:
    """The first calls start after a slotful of steps is prepared, not the whole backlog."""
    prepared = 0
    at_first_submit: list[int] = []
    validate, submit = probes.probe.validate, probes.probe.submit

    def counting_validate(request: Request) -> None:
        nonlocal prepared
        prepared += 1
        validate(request)

    async def recording_submit(request: Request, key: str) -> Job:
        at_first_submit.append(prepared)
        return await submit(request, key)

    probes.probe.validate = counting_validate  # type: ignore[method-assign]
    probes.probe.submit = recording_submit  # type: ignore[method-assign]
    wf = probes.workflow(*[probes.step(f"s{i}", latency_s=0.001) for i in range(500)])
    # The provider, not the global limit, is what is full: the case that used to
    # prepare every waiting step before any call started.
    limits = Limits(concurrency=4, providers={"probe": ProviderLimit(in_flight=2)})
    report, _ = probes.run(context, wf, limits=limits)
    assert report.succeeded == 500
    assert at_first_submit[0] <= 3


def test_priority_starts_long_paths_first(probes: Probes, context: DispatchContext) -> None:
    """With priorities, ready steps go by priority, then by the steps still to follow
    them in their unit (first steps before last ones), then in run order."""
    low = probes.workflow(probes.step("l1"), probes.step("l2", "l1"))
    high = probes.workflow(probes.step("h1"), probes.step("h2", "h1"))
    other = probes.workflow(probes.step("o1"), probes.step("o2", "o1"))
    order: list[str] = []

    async def main() -> None:
        async with Dispatcher(context, registry=probes.registry) as dispatcher:
            hooks = Hooks(pre_step=lambda s: order.append(s.step_id))
            scheduler = Scheduler(dispatcher, limits=Limits(concurrency=1), hooks=hooks)
            units = [
                Unit(workflow=low, context=context),
                Unit(workflow=high, context=context, priority=4),
                Unit(workflow=other, context=context),
            ]
            assert (await scheduler.run(units)).succeeded == 6

    asyncio.run(main())
    assert order == ["h1", "h2", "l1", "o1", "l2", "o2"]
