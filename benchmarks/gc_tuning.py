"""Whether tuning the cyclic garbage collector during a run pays for itself.

The tuning measured is what ``recoil.execution.collector`` did for every run
before this benchmark: raise the collector's first threshold from 700 to
10,000 allocations and ``gc.freeze()`` every object that exists when the run
starts, restoring both after. It is process-wide, so an engine embedded in a
long-lived host (the review server) imposes it on the whole host while a run
goes on; it belongs in the engine only if it saves a good share of a run
(about 5 %). It did not (2-3 %), so the engine no longer does it; the copy
below keeps the comparison reproducible.

Workload: N FakeProvider keyframe steps (zero latency, each one small PNG
stored) as N/10 chains of 10, through one Dispatcher and Scheduler, global
limit 256. Each repeat runs the workload twice in this process, in turn:
plain (the collector as the process has it) and tuned; each on a fresh
project after a warm-up run, with ``gc.collect()`` before each. Wall time and
CPU time (process time, the artifact-writing threads included) are per step:
the best run counts and the median is shown, since this 2-core VM's noise
only ever adds time. The time spent inside collections (``gc.callbacks``) is
the steadiest figure, and the most the tuning could ever save.
``--host-objects`` keeps that many small objects alive first, as a host with a
large heap would (where ``gc.freeze`` helps the most).

Run: ``python benchmarks/gc_tuning.py [--steps 3000] [--repeat 5] [--host-objects 0]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from recoil.dispatch import Dispatcher
from recoil.execution.policy import Limits
from recoil.execution.scheduler import Scheduler, Unit
from recoil.model.context import DispatchContext
from recoil.model.workflow import Workflow, WorkflowStep

TUNED_THRESHOLD = 10_000
"""The first threshold the tuning used during a run (CPython's default is 700)."""


@contextmanager
def tuned_collector() -> Iterator[None]:
    """Raise the first threshold and freeze what exists, for the block; restore both after."""
    saved = gc.get_threshold()
    gc.set_threshold(TUNED_THRESHOLD, saved[1], saved[2])
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*saved)


def fake_chains(n: int, tag: str) -> list[Workflow]:
    """``n // 10`` workflows, each a chain of 10 dependent FakeProvider keyframes."""
    return [
        Workflow(
            workflow_id=f"{tag}wf{c}",
            steps=[
                WorkflowStep(
                    step_id=f"s{s}",
                    modality="keyframe",
                    payload={"prompt": f"{tag} chain {c} step {s}"},
                    depends_on=[f"s{s - 1}"] if s else [],
                )
                for s in range(10)
            ],
        )
        for c in range(n // 10)
    ]


class CollectorClock:
    """Time spent in the cyclic collector, and its collections, from ``gc.callbacks``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._began
            self.collections += 1


@dataclass(slots=True)
class Measured:
    """One run: wall, CPU and collector seconds, and how many collections ran."""

    wall: float
    cpu: float
    in_gc: float
    collections: int


def run_once(project: Path, n: int, tag: str, collector: AbstractContextManager[None]) -> Measured:
    """Run ``n`` fake steps under ``collector`` and measure it."""

    async def main() -> Measured:
        context = DispatchContext(project=project, default_provider="fake", seed=1)
        async with Dispatcher(context) as dispatcher:
            scheduler = Scheduler(dispatcher, limits=Limits(concurrency=256))
            units = [Unit(workflow=w, context=context) for w in fake_chains(n, tag)]
            clock = CollectorClock()
            gc.callbacks.append(clock)
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                with collector:
                    report = await scheduler.run(units)
            finally:
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                gc.callbacks.remove(clock)
        assert report.succeeded == n, report.summary()
        return Measured(wall, cpu, clock.seconds, clock.collections)

    return asyncio.run(main())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each; best counts")
    parser.add_argument("--host-objects", type=int, default=0, help="live objects kept first")
    args = parser.parse_args()
    n = args.steps
    host = [{"i": i} for i in range(args.host_objects)]  # alive until the end, as a host's heap
    runs: dict[str, list[Measured]] = {"plain": [], "tuned": []}
    with tempfile.TemporaryDirectory() as tmp:
        run_once(Path(tmp) / "warm", 500, "warm", nullcontext())
        for r in range(args.repeat):
            for kind, results in runs.items():
                collector = tuned_collector() if kind == "tuned" else nullcontext()
                gc.collect()
                results.append(run_once(Path(tmp) / f"{kind}{r}", n, f"{kind}{r}", collector))
    print(
        f"gc tuning, N={n:,} FakeProvider steps ({n // 10} chains of 10), "
        f"{len(host):,} host objects, best (median) of {args.repeat}:"
    )
    best = {}
    for kind, results in runs.items():
        walls = sorted(m.wall for m in results)
        best[kind] = walls[0], min(m.cpu for m in results)
        in_gc = statistics.median(m.in_gc for m in results)
        collections = statistics.median(m.collections for m in results)
        print(
            f"  {kind}  {walls[0] / n * 1e6:7.1f} ({statistics.median(walls) / n * 1e6:.1f}) "
            f"us/step wall, {best[kind][1] / n * 1e6:7.1f} us/step CPU, "
            f"{in_gc / n * 1e6:5.1f} us/step in the collector ({collections:,.0f} collections)"
        )
    wall_ratio = best["tuned"][0] / best["plain"][0]
    cpu_ratio = best["tuned"][1] / best["plain"][1]
    print(
        f"  tuned/plain = {wall_ratio:.3f} wall, {cpu_ratio:.3f} CPU "
        f"(saves {1 - wall_ratio:.1%} wall, {1 - cpu_ratio:.1%} CPU)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
