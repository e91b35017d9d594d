"""Makespan of many fixed-latency steps under a concurrency limit, against Dask (and Ray).

Shape: N independent steps (N/10 workflows of 10 steps, no dependencies), each
taking 50 ms at the provider (the ``noop`` provider sleeps ``fake_latency_s``
on the event loop, then answers with no outputs); every step still validates,
keys, writes one durable receipt (group commit) and does the scheduler's
bookkeeping. Ideal wall time: ceil(N / limit) x 50 ms.

Workloads: 200 steps at limit 32, and 10,000 steps at limit 256.

- recoil: ``Scheduler.run`` after a warm-up, with the limit as the provider's
  limit on calls in flight (``ProviderLimit(in_flight=limit)``: what a hosted
  provider or a GPU pool imposes) and the global step limit at twice that, so
  a step whose call is done but whose receipt is still being fsynced does not
  keep the next call waiting.
- dask: ``dask.threaded.get`` on a graph of N independent tasks, each
  ``time.sleep(0.05)``, with ``num_workers=limit`` threads (a thread per slot,
  as Dask does it): the pure scheduling anchor, nothing recorded.
- ray (200 steps only, with --ray): N Ray tasks each sleeping 50 ms on a local
  Ray with ``num_cpus=limit`` (logical CPUs: one worker process per slot, so
  10,000 at 256 is out of reach of this machine).

Each side runs ``--repeat`` times (default 3, interleaved) and its best run
counts, since this 2-core VM's noise only ever adds time.
Run: ``python benchmarks/makespan.py [--ray] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

LATENCY_S = 0.05
WORKLOADS = ((200, 32), (10_000, 256))


def ideal_s(n: int, limit: int) -> float:
    return math.ceil(n / limit) * LATENCY_S


def recoil_s(n: int, limit: int) -> float:
    from _common import independent, noop_registry, run_recoil

    registry = noop_registry()
    with tempfile.TemporaryDirectory() as tmp:
        run_recoil(independent(200, 10, 0.001, tag="warm"), Path(tmp) / "warm", limit, registry)
        timed = run_recoil(
            independent(n, 10, LATENCY_S),
            Path(tmp) / "bench",
            2 * limit,
            registry,
            provider_limit=limit,
        )
    assert timed.report.succeeded == n, timed.report.summary()
    return timed.seconds


def dask_s(n: int, limit: int) -> float:
    import dask.threaded

    graph = {f"t{i}": (time.sleep, LATENCY_S) for i in range(n)}
    dask.threaded.get({"w": (time.sleep, 0.001)}, ["w"], num_workers=limit)
    start = time.perf_counter()
    dask.threaded.get(graph, list(graph), num_workers=limit)
    return time.perf_counter() - start


def ray_s(n: int, limit: int) -> float:
    import ray

    ray.init(num_cpus=limit, include_dashboard=False, log_to_driver=False)

    @ray.remote
    def sleep(seconds: float) -> None:
        time.sleep(seconds)

    ray.get([sleep.remote(0.001) for _ in range(limit * 2)])  # start the workers first
    start = time.perf_counter()
    ray.get([sleep.remote(LATENCY_S) for _ in range(n)])
    seconds = time.perf_counter() - start
    ray.shutdown()
    return seconds


def main() -> int:
    from _common import check

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ray", action="store_true", help="also run the Ray anchor (200 steps)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per side; the best counts")
    args = parser.parse_args()
    ok = True
    for n, limit in WORKLOADS:
        ideal = ideal_s(n, limit)
        ours = dask = math.inf
        for _ in range(args.repeat):
            ours = min(ours, recoil_s(n, limit))
            dask = min(dask, dask_s(n, limit))
        print(f"makespan, {n:,} independent steps x 50 ms at limit {limit} (ideal {ideal:.2f} s):")
        print(f"  recoil  {ours:6.3f} s  ratio to ideal {ours / ideal:.3f}")
        print(
            f"  dask    {dask:6.3f} s  ratio to ideal {dask / ideal:.3f}  "
            f"recoil/dask = {ours / dask:.3f}"
        )
        if args.ray and n <= 200:
            ray = ray_s(n, limit)
            print(
                f"  ray     {ray:6.3f} s  ratio to ideal {ray / ideal:.3f}  "
                f"recoil/ray = {ours / ray:.3f}"
            )
        ok &= check("ratio to ideal", ours / ideal, 1.05)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
