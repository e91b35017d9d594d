"""Does one timer for every call in flight (``Deadlines``) pay over ``asyncio.timeout``?

Workload: N zero-latency dispatches (the ``noop`` provider: no latency, no outputs)
as N/100 workflows of 100 independent steps, through the Scheduler with 256 steps
in flight, each receipt durable (group commit) before its step counts as done.
Two dispatchers run it in the same process, interleaved, best of ``--repeat``:

- timer: the shipped Dispatcher, whose provider call is bounded by
  ``recoil.dispatch.deadlines.Deadlines`` (one timer for all calls in flight);
- asyncio.timeout: a subclass whose provider call is bounded by
  ``asyncio.timeout`` per call (a timer armed and cancelled per call).

Both run the same call steps; only the deadline differs. Prints us/dispatch for
each and the ratio timer / asyncio.timeout (below 1: the timer is faster).
Run: ``python benchmarks/deadlines.py [--n 5000] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import independent, noop_context, noop_registry  # noqa: E402

from recoil.dispatch import Dispatcher  # noqa: E402
from recoil.dispatch.call import Call, checked, exchange, timed_out, translated  # noqa: E402
from recoil.execution.policy import Limits  # noqa: E402
from recoil.execution.scheduler import Scheduler, Unit  # noqa: E402
from recoil.providers.base import JobState  # noqa: E402
from recoil.providers.registry import Registry  # noqa: E402

CONCURRENCY = 256


class PerCallTimeout(Dispatcher):
    """The Dispatcher with ``asyncio.timeout`` per provider call instead of ``Deadlines``."""

    async def _call_provider(self, call: Call) -> JobState:
        try:
            async with asyncio.timeout(call.context.timeout_s):
                state = await exchange(call, self._journal)
        except TimeoutError:
            raise await timed_out(call) from None
        except BaseException as exc:
            translated(call, exc)
        return checked(call, state)


def run_once(cls: type[Dispatcher], n: int, registry: Registry, tmp: Path, tag: str) -> float:
    """Seconds per dispatch of one run of ``n`` steps through a fresh ``cls``."""
    workflows = independent(n, 100, 0.0, tag=tag)

    async def main() -> float:
        context = noop_context(tmp / tag)
        async with cls(context, registry=registry) as dispatcher:
            scheduler = Scheduler(dispatcher, limits=Limits(concurrency=CONCURRENCY))
            units = [Unit(workflow=w, context=context) for w in workflows]
            start = time.perf_counter()
            report = await scheduler.run(units)
            seconds = time.perf_counter() - start
        assert report.succeeded == n, report.summary()
        return seconds / n

    gc.collect()
    return asyncio.run(main())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="dispatches per run")
    parser.add_argument("--repeat", type=int, default=5, help="runs per variant; best counts")
    args = parser.parse_args()
    registry = noop_registry()
    variants: dict[str, type[Dispatcher]] = {
        "timer": Dispatcher,
        "asyncio.timeout": PerCallTimeout,
    }
    best = dict.fromkeys(variants, float("inf"))
    with tempfile.TemporaryDirectory() as tmp:
        for name, cls in variants.items():
            run_once(cls, 1000, registry, Path(tmp), f"warm-{name}")
        for i in range(args.repeat):
            for name, cls in variants.items():
                tag = f"{name}-{i}"
                best[name] = min(best[name], run_once(cls, args.n, registry, Path(tmp), tag))
    print(f"deadlines, N={args.n:,} zero-latency dispatches, {CONCURRENCY} in flight:")
    for name, seconds in best.items():
        print(f"  {name:<16} {seconds * 1e6:6.1f} us/dispatch (best of {args.repeat})")
    ratio = best["timer"] / best["asyncio.timeout"]
    print(f"  timer / asyncio.timeout = {ratio:.3f} ({(1 - ratio) * 100:+.1f}% saved by the timer)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
