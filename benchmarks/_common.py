"""Shared pieces of the benchmarks: a no-op modality and provider, workloads, measurement.

The ``noop`` modality's request has ``outputs_required = False`` and the
``noop`` provider returns no outputs (after an optional ``fake_latency_s``
sleep), so one step costs exactly: payload validation, the cache key, the
provider call, one durable receipt (group commit) and scheduler bookkeeping.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import ConfigDict
from pydantic.dataclasses import dataclass as pydantic_dataclass

from recoil.dispatch import Dispatcher
from recoil.execution.policy import Limits, ProviderLimit
from recoil.execution.scheduler import RunReport, Scheduler, Unit
from recoil.model.context import DispatchContext
from recoil.model.cost import FREE, Cost
from recoil.model.provider_config import ProviderConfig
from recoil.model.requests import Request
from recoil.model.workflow import Workflow, WorkflowStep
from recoil.providers.base import Job, JobState, JobStatus
from recoil.providers.registry import Registry, register_default_runners


@pydantic_dataclass(frozen=True, kw_only=True, config=ConfigDict(extra="forbid"))
class NoopRequest(Request):
    """A request that produces no file."""

    modality: ClassVar[str] = "noop"
    outputs_required: ClassVar[bool] = False


_DONE = JobState(status=JobStatus.SUCCEEDED, raw_status="succeeded")


class NoopProvider:
    """Answers every request with success and no outputs, after ``fake_latency_s``."""

    name = "noop"
    version = "noop-1"
    poll_interval_s = 0.0
    remote = False

    def __init__(self, config: ProviderConfig | None = None) -> None:
        self.config = config

    def model_for(self, request: Request) -> str:
        """Always ``noop``."""
        return "noop"

    def validate(self, request: Request) -> None:
        """Nothing to check."""

    def estimate_cost(self, request: Request) -> Cost:
        """Free."""
        return FREE

    async def preflight(self) -> list[str]:
        """Nothing can be wrong."""
        return []

    async def submit(self, request: Request, key: str) -> Job:
        """Sleep for the latency, then finish with no outputs."""
        latency = request.params.get("fake_latency_s", 0.0)
        if latency:
            await asyncio.sleep(latency)
        return Job(job_id="noop", result=_DONE)

    async def find(self, request: Request, key: str, sent_us: int) -> Job | None:
        """Nothing outlives the process."""
        return None

    async def check(self, job: Job) -> JobState:
        """Jobs finish in ``submit``."""
        return _DONE

    async def cancel(self, job: Job) -> None:
        """Nothing to stop."""

    async def aclose(self) -> None:
        """Nothing to release."""


def noop_registry() -> Registry:
    """A registry with the built-ins plus the ``noop`` modality and provider."""
    registry = register_default_runners(Registry(load_entry_points=False))
    registry.register("noop", NoopRequest)
    registry.register_provider("noop", NoopProvider, ["noop"])
    return registry


def noop_context(project: Path) -> DispatchContext:
    """A context sending ``noop`` to the no-op provider, with a fixed seed."""
    return DispatchContext(project=project, default_provider="noop", seed=1)


def chains(n: int, length: int, latency_s: float = 0.0, *, tag: str = "") -> list[Workflow]:
    """``n // length`` workflows, each a chain of ``length`` dependent noop steps."""
    workflows = []
    for c in range(n // length):
        steps = []
        for s in range(length):
            payload: dict[str, Any] = {"prompt": f"{tag}c{c}s{s}"}
            if latency_s:
                payload["fake_latency_s"] = latency_s
            deps = [f"s{s - 1}"] if s else []
            steps.append(
                WorkflowStep(step_id=f"s{s}", modality="noop", payload=payload, depends_on=deps)
            )
        workflows.append(Workflow(steps=steps, workflow_id=f"{tag}wf{c}"))
    return workflows


def independent(n: int, per_workflow: int, latency_s: float, *, tag: str = "") -> list[Workflow]:
    """``n // per_workflow`` workflows of ``per_workflow`` independent noop steps."""
    workflows = []
    for w in range(n // per_workflow):
        steps = [
            WorkflowStep(
                step_id=f"s{s}",
                modality="noop",
                payload={"prompt": f"{tag}w{w}s{s}", "fake_latency_s": latency_s},
            )
            for s in range(per_workflow)
        ]
        workflows.append(Workflow(steps=steps, workflow_id=f"{tag}wf{w}"))
    return workflows


@dataclass(slots=True)
class Timed:
    """A run's wall time and report."""

    seconds: float
    report: RunReport


def run_recoil(
    workflows: list[Workflow],
    project: Path,
    concurrency: int,
    registry: Registry,
    *,
    store: bool = False,
    provider_limit: int | None = None,
) -> Timed:
    """Run the workflows through a fresh Dispatcher + Scheduler and time it.

    With ``store``, the project store (SQLite) indexes every receipt too, the way
    ``recoil run`` does: the receipts are durable in the log as they come; a
    follower process indexes the log as it grows (for runs of 2,000 steps or
    more), and the store reads whatever is left in one pass when the run ends.
    Starting and stopping the follower and that last pass are inside the
    measured time. ``provider_limit`` bounds the noop
    provider's calls in flight; ``concurrency`` bounds steps running, from
    ``pre_step`` until their receipt is durable.
    """

    async def main() -> Timed:
        context = noop_context(project)
        async with Dispatcher(context, registry=registry) as dispatcher:
            providers = {}
            if provider_limit is not None:
                providers["noop"] = ProviderLimit(in_flight=provider_limit)
            limits = Limits(concurrency=concurrency, providers=providers)
            scheduler = Scheduler(dispatcher, limits=limits)
            units = [Unit(workflow=w, context=context) for w in workflows]
            opened = None
            if store:
                from recoil.store import ProjectStore

                opened = ProjectStore.open(project)
            steps = sum(len(w.steps) for w in workflows)
            start = time.perf_counter()
            if opened is None:
                report = await scheduler.run(units)
            else:
                with opened.following(steps):
                    report = await scheduler.run(units)
                opened.reconcile()
            seconds = time.perf_counter() - start
            if opened is not None:
                opened.close()
            return Timed(seconds, report)

    return asyncio.run(main())


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def check(label: str, value: float, limit: float, unit: str = "") -> bool:
    """Print one target line and return whether it was met."""
    ok = value <= limit
    print(f"  target {label}: {value:.3g}{unit} <= {limit:g}{unit}: {'ok' if ok else 'MISSED'}")
    return ok


def best_of(runs: int, fn: Callable[[int], float]) -> float:
    """The smallest of ``runs`` measurements (``fn`` gets the run index)."""
    return min(fn(i) for i in range(runs))
