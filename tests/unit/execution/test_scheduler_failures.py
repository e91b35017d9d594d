"""Scheduler under failure: retries, Retry-After, chaos, cancellation, stop with a grace period."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
from typing import TYPE_CHECKING

from recoil.dispatch import Dispatcher
from recoil.execution.policy import Limits, ProviderLimit, RetryPolicy
from recoil.execution.scheduler import Scheduler, Unit
from recoil.model.context import DispatchContext
from recoil.model.receipt import ReceiptStatus
from recoil.model.workflow import StepStatus
from tests.helpers import until

if TYPE_CHECKING:
    from conftest import Probes


def test_transient_errors_are_retried_each_attempt_its_own_receipt(
    probes: Probes, context: DispatchContext
) -> None:
    wf = probes.workflow(probes.step("a", script=["500", "conn", "ok"]))
    report, _ = probes.run(context, wf)
    assert report.succeeded == 1 and report.attempts == 3
    step = wf.steps[0]
    assert step.attempts == 3 and step.status is StepStatus.SUCCEEDED
    log = probes.receipts(context)
    assert [r.status for r in log] == [ReceiptStatus.FAILED] * 2 + [ReceiptStatus.SUCCEEDED]
    assert [r.attempt for r in log] == [1, 2, 3]
    assert len({r.receipt_id for r in log}) == 3
    assert log[0].error is not None and log[0].error.provider_status == "500"
    assert log[1].error is not None and log[1].error.type == "ConnectionResetError"
    assert step.receipt == log[2]


def test_permanent_and_unknown_outcome_errors_are_not_retried(
    probes: Probes, context: DispatchContext
) -> None:
    wf = probes.workflow(
        probes.step("permanent", script=["400"]), probes.step("unknown", script=["unknown"])
    )
    report, _ = probes.run(context, wf)
    assert report.failed == 2 and report.attempts == 2
    assert len(probes.probe.attempts_of("permanent")) == 1
    assert len(probes.probe.attempts_of("unknown")) == 1
    unknown = wf.step("unknown").receipt
    assert unknown is not None and unknown.error is not None
    assert unknown.error.unknown_outcome and not unknown.error.retryable


def test_retries_stop_at_max_attempts(probes: Probes, context: DispatchContext) -> None:
    wf = probes.workflow(probes.step("a", script=["500"] * 10), probes.step("b", "a"))
    report, _ = probes.run(context, wf, retry=RetryPolicy(max_attempts=3, base_delay_s=0.001))
    assert (report.failed, report.skipped, report.attempts) == (1, 1, 3)
    assert len(probes.probe.attempts_of("a")) == 3
    assert [s.status for s in wf.steps] == [StepStatus.FAILED, StepStatus.SKIPPED]
    assert len(probes.receipts(context)) == 3


def test_timeouts_are_retried(probes: Probes, context: DispatchContext) -> None:
    context = dataclasses.replace(context, timeout_s=0.05)
    wf = probes.workflow(probes.step("a", script=["hang", "ok"]))
    report, _ = probes.run(context, wf)
    assert report.succeeded == 1
    first = probes.receipts(context)[0]
    assert first.error is not None and first.error.type == "timeout"


def test_retry_after_is_honoured_between_attempts(probes: Probes, context: DispatchContext) -> None:
    wf = probes.workflow(probes.step("a", script=["429:0.2", "ok"]), probes.step("b"))
    report, _ = probes.run(context, wf, limits=Limits(concurrency=1))
    assert report.succeeded == 2
    first, second = probes.probe.attempts_of("a")
    assert second.start - first.end >= 0.2
    # The pause holds the whole provider, not only the step that was told to wait.
    (b,) = probes.probe.attempts_of("b")
    assert b.start - first.end >= 0.2


def test_rate_limited_provider_mix_completes_within_limits(
    probes: Probes, context: DispatchContext
) -> None:
    # A third of calls answer 429 with Retry-After, a tenth answer 500.
    outcomes = ["429:0.03", "ok", "ok", "500", "ok", "429:0.03", "ok", "ok", "ok", "ok"] * 3
    outcomes += ["429:0.03", "ok", "429:0.03", "ok", "ok", "ok", "429:0.03", "ok", "ok", "ok"] * 3
    probes.probe.CHAOS = tuple(outcomes)
    probes.probe2.CHAOS = tuple(outcomes)
    steps = [
        probes.step(f"s{i}", latency_s=0.003, chaos=True, provider="probe" if i % 2 else "probe2")
        for i in range(80)
    ]
    limits = Limits(concurrency=5, providers={"probe": ProviderLimit(in_flight=2)})
    retry = RetryPolicy(max_attempts=30, base_delay_s=0.001, max_delay_s=0.01)
    report, scheduler = probes.run(context, probes.workflow(*steps), limits=limits, retry=retry)
    assert report.succeeded == 80 and report.failed == 0
    assert probes.probe.max_active <= 2
    assert probes.tracker.max_active <= 5
    limited = 0
    for provider in (probes.probe, probes.probe2):
        for prompt in {a.prompt for a in provider.attempts}:
            attempts = provider.attempts_of(prompt)
            for before, after in itertools.pairwise(attempts):
                if before.outcome.startswith("429"):
                    limited += 1
                    assert after.start - before.end >= 0.03
    assert limited > 10
    assert all(v == 0 for v in scheduler.provider_in_flight.values())


def test_slots_are_released_on_every_path(probes: Probes, context: DispatchContext) -> None:
    """Random errors, timeouts, cancellations and adapter bugs leave no slot taken."""
    context = dataclasses.replace(context, timeout_s=0.02)
    chains = [
        probes.workflow(
            *[
                probes.step(
                    f"s{j}",
                    *([f"s{j - 1}"] if j else []),
                    prompt=f"c{c}s{j}",
                    chaos=True,
                    latency_s=0.001,
                    provider="probe" if c % 2 else "probe2",
                )
                for j in range(4)
            ]
        )
        for c in range(50)
    ]
    limits = Limits(concurrency=6, providers={"probe": ProviderLimit(in_flight=3)})
    retry = RetryPolicy(max_attempts=3, base_delay_s=0.001, max_delay_s=0.005)

    async def main() -> None:
        async with Dispatcher(context, registry=probes.registry) as dispatcher:
            scheduler = Scheduler(dispatcher, limits=limits, retry=retry)
            report = await scheduler.run([Unit(workflow=w, context=context) for w in chains])
            outcomes = {a.outcome for a in probes.probe.attempts + probes.probe2.attempts}
            assert {"cancel", "hang", "bug", "conn", "500", "400"} <= outcomes
            assert scheduler.in_flight == 0
            assert set(scheduler.provider_in_flight.values()) == {0}
            assert probes.tracker.active == 0
            steps = [s for w in chains for s in w.steps]
            counted = report.succeeded + report.failed + report.skipped + report.left
            assert counted == len(steps) == 200
            assert all(s.status is not StepStatus.RUNNING for s in steps)
            assert report.left == sum(s.status is StepStatus.PENDING for s in steps) > 0

            # Every slot is usable again: global ones, then the provider's own.
            probes.tracker.max_active = probes.probe.max_active = 0
            wide = probes.workflow(
                *[probes.step(f"w{i}", latency_s=0.03, provider="probe2") for i in range(12)]
            )
            narrow = probes.workflow(
                *[probes.step(f"n{i}", latency_s=0.03, provider="probe") for i in range(6)]
            )
            patient = dataclasses.replace(context, timeout_s=5)
            report = await scheduler.run([Unit(workflow=wide, context=patient)])
            assert report.succeeded == 12 and probes.tracker.max_active == 6
            report = await scheduler.run([Unit(workflow=narrow, context=patient)])
            assert report.succeeded == 6 and probes.probe.max_active == 3

    asyncio.run(main())


def test_stop_lets_calls_in_flight_finish_within_grace(
    probes: Probes, context: DispatchContext
) -> None:
    wf = probes.workflow(*[probes.step(f"s{i}", latency_s=0.1) for i in range(6)])
    stop = probes.stop_when(lambda: probes.tracker.active == 2)  # two calls in flight
    report, _ = probes.run(context, wf, limits=Limits(concurrency=2), during=stop, grace_s=5)
    assert report.interrupted and report.succeeded == 2 and report.left == 4
    assert len(probes.receipts(context)) == 2
    assert report.summary().startswith("interrupted: 2 succeeded")


def test_stop_cancels_calls_still_in_flight_after_grace(
    probes: Probes, context: DispatchContext
) -> None:
    wf = probes.workflow(probes.step("slow", latency_s=60), probes.step("quick", latency_s=0.01))
    quick_done = probes.stop_when(
        lambda: wf.step("quick").status is StepStatus.SUCCEEDED, grace_s=0.05
    )
    report, scheduler = probes.run(context, wf, limits=Limits(concurrency=2), during=quick_done)
    assert report.interrupted and report.elapsed_s < 30  # "slow" was cut off, not waited for
    assert [s.status for s in wf.steps] == [StepStatus.PENDING, StepStatus.SUCCEEDED]
    assert report.left == 1 and scheduler.in_flight == 0
    assert probes.tracker.active == 0
    assert len(probes.receipts(context)) == 1


def test_cancelling_the_run_cancels_calls_and_frees_slots(
    probes: Probes, context: DispatchContext
) -> None:
    wf = probes.workflow(*[probes.step(f"s{i}", latency_s=5) for i in range(3)])

    async def main() -> None:
        async with Dispatcher(context, registry=probes.registry) as dispatcher:
            scheduler = Scheduler(dispatcher, limits=Limits(concurrency=2))
            task = asyncio.create_task(scheduler.run([Unit(workflow=wf, context=context)]))
            await until(lambda: probes.tracker.active == 2, what="two calls in flight")
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            assert task.cancelled()
            assert scheduler.in_flight == 0
            assert set(scheduler.provider_in_flight.values()) == {0}

    asyncio.run(main())
    assert [s.status for s in wf.steps] == [StepStatus.PENDING] * 3
    assert probes.tracker.active == 0
