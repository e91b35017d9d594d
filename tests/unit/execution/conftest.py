"""Scheduler test fixtures: a scriptable probe provider that records what it was made to do.

The ``probe`` modality's request produces no files (``outputs_required`` is
False), so a step costs only the dispatch path. Each request's ``params``
script its behaviour:

- ``latency_s``: how long each attempt takes;
- ``script``: outcomes of successive attempts (``"ok"``, ``"429:<seconds>"``,
  ``"500"``, ``"400"``, ``"unknown"``, ``"conn"``, ``"hang"``, ``"cancel"``,
  ``"bug"``); attempts past the list succeed;
- ``chaos``: pick each attempt's outcome at random from the list of outcomes;
- ``cost`` / ``estimate``: the reported and the estimated cost.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import ConfigDict
from pydantic.dataclasses import dataclass as pydantic_dataclass

from recoil.dispatch import Dispatcher
from recoil.errors import ProviderError
from recoil.execution.policy import Limits, RetryPolicy
from recoil.execution.scheduler import Hooks, RunReport, Scheduler, Unit
from recoil.model.context import DispatchContext
from recoil.model.cost import Cost
from recoil.model.provider_config import ProviderConfig
from recoil.model.receipt import Receipt
from recoil.model.requests import Request
from recoil.model.workflow import Workflow, WorkflowStep
from recoil.providers.base import Job, JobState, JobStatus
from recoil.providers.registry import Registry, register_default_runners
from recoil.records.log import read_records
from tests.helpers import until


@pydantic_dataclass(frozen=True, kw_only=True, config=ConfigDict(extra="forbid"))
class ProbeRequest(Request):
    """A request that makes no file; ``image`` is an optional input file."""

    modality: ClassVar[str] = "probe"
    input_fields: ClassVar[tuple[str, ...]] = ("image",)
    outputs_required: ClassVar[bool] = False

    image: str | None = None


@dataclass
class Tracker:
    """Concurrency across every probe provider of a test."""

    active: int = 0
    max_active: int = 0


@dataclass
class Attempt:
    """One submit: which step, when it started and ended (monotonic), how it ended."""

    prompt: str
    start: float
    end: float = 0.0
    outcome: str = ""


@dataclass
class ProbeProvider:
    """Scriptable provider (see the module docstring)."""

    name: str = "probe"
    tracker: Tracker = field(default_factory=Tracker)
    seed: int = 0
    version: str = "probe-1"
    poll_interval_s: float = 0.001
    remote: bool = False
    active: int = 0
    max_active: int = 0
    attempts: list[Attempt] = field(default_factory=list)
    validate_threads: set[int] = field(default_factory=set)
    counts: Counter[str] = field(default_factory=Counter)
    rng: random.Random = field(default_factory=random.Random)

    CHAOS: ClassVar[tuple[str, ...]] = (
        "ok",
        "ok",
        "ok",
        "ok",
        "500",
        "429:0.002",
        "conn",
        "hang",
        "cancel",
        "bug",
        "400",
    )

    def __post_init__(self) -> None:
        self.rng.seed(self.seed)

    def model_for(self, request: Request) -> str:
        return "probe"

    def validate(self, request: Request) -> None:
        self.validate_threads.add(threading.get_ident())

    def estimate_cost(self, request: Request) -> Cost:
        return Cost(amount=float(request.params.get("estimate", 0.0)), source="estimated")

    async def preflight(self) -> list[str]:
        return []

    def attempts_of(self, prompt: str) -> list[Attempt]:
        return [a for a in self.attempts if a.prompt == prompt]

    async def submit(self, request: Request, key: str) -> Job:
        p = request.params
        n = self.counts[request.prompt]
        self.counts[request.prompt] += 1
        script = p.get("script", [])
        if p.get("chaos"):
            outcome = self.rng.choice(self.CHAOS)
        else:
            outcome = script[n] if n < len(script) else "ok"
        attempt = Attempt(request.prompt, time.monotonic(), outcome=outcome)
        self.attempts.append(attempt)
        self.active += 1
        self.tracker.active += 1
        self.max_active = max(self.max_active, self.active)
        self.tracker.max_active = max(self.tracker.max_active, self.tracker.active)
        try:
            latency = float(p.get("latency_s", 0.0))
            if latency:
                await asyncio.sleep(latency)
            if outcome == "hang":
                await asyncio.sleep(30)  # until the context's timeout cuts it
            _act(outcome)
        finally:
            self.active -= 1
            self.tracker.active -= 1
            attempt.end = time.monotonic()
        state = JobState(
            status=JobStatus.SUCCEEDED,
            cost=Cost(amount=float(p.get("cost", 0.0)), source="reported"),
        )
        return Job(job_id=f"{request.prompt}-{n}", result=state)

    async def find(self, request: Request, key: str, sent_us: int) -> Job | None:
        return None

    async def check(self, job: Job) -> JobState:
        assert job.result is not None
        return job.result

    async def cancel(self, job: Job) -> None:
        return None

    async def aclose(self) -> None:
        return None


def _act(outcome: str) -> None:
    if outcome == "ok":
        return
    if outcome.startswith("429"):
        wait = float(outcome.partition(":")[2] or 0)
        raise ProviderError(
            "too many requests", retryable=True, provider_status="429", retry_after_s=wait
        )
    if outcome == "500":
        raise ProviderError("server error", retryable=True, provider_status="500")
    if outcome == "400":
        raise ProviderError("bad request", retryable=False, provider_status="400")
    if outcome == "unknown":
        raise ProviderError("connection dropped after send", retryable=True, unknown_outcome=True)
    if outcome == "conn":
        raise ConnectionResetError("connection reset by peer")
    if outcome == "cancel":
        raise asyncio.CancelledError
    if outcome == "bug":
        raise ValueError("adapter bug")
    raise AssertionError(outcome)


FAST_RETRY = RetryPolicy(max_attempts=4, base_delay_s=0.001, max_delay_s=0.01)


@dataclass
class Probes:
    """The registry of a test, its probe providers, and helpers to build and run work."""

    registry: Registry
    probe: ProbeProvider
    probe2: ProbeProvider
    tracker: Tracker

    @staticmethod
    def step(step_id: str, *deps: str, **params: object) -> WorkflowStep:
        """A probe step; ``params`` go to the provider (``latency_s``, ``script``...)."""
        payload: dict[str, object] = {"prompt": params.pop("prompt", step_id), **params}
        return WorkflowStep(
            step_id=step_id, modality="probe", payload=payload, depends_on=list(deps)
        )

    @staticmethod
    def workflow(*steps: WorkflowStep, workflow_id: str | None = None) -> Workflow:
        """A workflow of the given steps."""
        if workflow_id is None:
            return Workflow(steps=list(steps))
        return Workflow(steps=list(steps), workflow_id=workflow_id)

    def starts(self) -> list[str]:
        """The probe's submits, in the order they started."""
        return [a.prompt for a in sorted(self.probe.attempts, key=lambda a: a.start)]

    def run(
        self,
        context: DispatchContext,
        *workflows: Workflow,
        limits: Limits | None = None,
        retry: RetryPolicy = FAST_RETRY,
        hooks: Hooks | None = None,
        grace_s: float | None = None,
        during: Callable[[Scheduler], None] | None = None,
    ) -> tuple[RunReport, Scheduler]:
        """Run the workflows through one dispatcher and scheduler; ``during`` gets the scheduler."""

        async def main() -> tuple[RunReport, Scheduler]:
            async with Dispatcher(context, registry=self.registry) as dispatcher:
                scheduler = Scheduler(dispatcher, limits=limits, retry=retry, hooks=hooks)
                if during is not None:
                    during(scheduler)
                units = [Unit(workflow=w, context=context) for w in workflows]
                return await scheduler.run(units, grace_s=grace_s), scheduler

        return asyncio.run(main())

    @staticmethod
    def stop_when(
        condition: Callable[[], object], *, grace_s: float | None = None
    ) -> Callable[[Scheduler], None]:
        """A ``during`` for :meth:`run`: stop the scheduler once ``condition`` holds."""
        waiting: list[asyncio.Task[None]] = []  # held, so that the task is not collected

        async def stop(scheduler: Scheduler) -> None:
            await until(condition, what="the moment to stop")
            scheduler.stop(grace_s=grace_s)

        return lambda scheduler: waiting.append(asyncio.create_task(stop(scheduler)))

    @staticmethod
    def receipts(context: DispatchContext) -> list[Receipt]:
        """Every receipt in the context's log, read back from disk."""
        return [r for r in read_records(context.receipts_file) if isinstance(r, Receipt)]


@dataclass
class Fake:
    """Contexts on the shipped FakeProvider, whose ``calls_file`` counts its submits."""

    root: Path

    def context(self, **kwargs: Any) -> DispatchContext:
        """A context writing under ``root``; ``kwargs`` override its fields."""
        config = ProviderConfig(options={"calls_file": str(self.root / "calls.txt")})
        fields: dict[str, Any] = {
            "project": self.root / "project",
            "default_provider": "fake",
            "provider_config": {"fake": config},
            "seed": 3,
        }
        return DispatchContext(**{**fields, **kwargs})

    @staticmethod
    def keyframe_then_video(
        image: dict[str, str], *, keyframe: dict[str, Any] | None = None, **video: Any
    ) -> list[WorkflowStep]:
        """Keyframe ``k``, then video ``v`` with ``image`` (a reference to ``k``) as input.

        ``keyframe`` and ``video`` add to the steps' payloads (each with the prompt "x").
        """
        return [
            WorkflowStep(
                step_id="k", modality="keyframe", payload={"prompt": "x", **(keyframe or {})}
            ),
            WorkflowStep(
                step_id="v",
                modality="video",
                payload={"prompt": "x", "image": image, **video},
                depends_on=["k"],
            ),
        ]

    def calls(self) -> int:
        """How many times the FakeProvider's submit ran."""
        calls = self.root / "calls.txt"
        return len(calls.read_text().splitlines()) if calls.exists() else 0


@pytest.fixture
def probes() -> Iterator[Probes]:
    tracker = Tracker()
    probe = ProbeProvider("probe", tracker, seed=1)
    probe2 = ProbeProvider("probe2", tracker, seed=2)
    registry = register_default_runners(Registry(load_entry_points=False))
    registry.register("probe", ProbeRequest)
    registry.register_provider("probe", lambda _config: probe, ["probe"])
    registry.register_provider("probe2", lambda _config: probe2, ["probe"])
    yield Probes(registry, probe, probe2, tracker)


@pytest.fixture
def context(tmp_path: Path) -> DispatchContext:
    return DispatchContext(project=tmp_path / "project", default_provider="probe", seed=7)


@pytest.fixture
def fake(tmp_path: Path) -> Fake:
    return Fake(tmp_path)
