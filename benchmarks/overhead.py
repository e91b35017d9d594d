"""Per-step overhead of the full dispatch path, against Dask's threaded scheduler (and Ray).

Workload: N no-op steps as N/10 independent chains of 10 (each chain one
workflow, each step depending on the one before), N = 1,000 and 10,000.

- recoil: each step goes through the whole path: payload validation, the cache
  key, the provider call (the ``noop`` provider: no latency, no outputs), one
  receipt appended and fsynced (group commit) before the step counts as done,
  and the scheduler's bookkeeping; global limit 256. Every receipt is read back
  from disk afterwards. Time is ``Scheduler.run`` after a warm-up run.
- dask (equivalent work): ``dask.threaded.get`` on a graph of the same chains;
  each task builds a record like a receipt (a sha256, timestamps), encodes it
  as a canonical JSON line, appends it with one ``os.write`` and fsyncs, so
  its record too is durable before dependents start (best of 2 and 16 threads).
- dask (scheduler only): the same graph, each task a no-op: Dask's own
  overhead, with nothing durable, for reference.
  The project store (SQLite) indexes every receipt as ``recoil run`` does: a
  follower process indexes the log as it grows, on the other core, and the
  store reads whatever is left in one pass at the end, inside the time.
- ray (N = 1,000 only, with --ray): the same chains as Ray tasks doing the
  equivalent work; each worker opens the log for append.

Each measurement runs in a fresh child process, so peak RSS is its own; each
is repeated (``--repeat``, default 3, interleaved) and the best run counts,
since this 2-core VM's noise only ever adds time.
Run: ``python benchmarks/overhead.py [--ray] [--repeat 3] [--sizes 1000,10000]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def durable_record(fd: int, key: str) -> None:
    """The equivalent of one receipt for the anchors: build, encode, append, fsync."""
    started = time.time_ns() // 1000
    record = {
        "kind": "receipt",
        "receipt_id": key,
        "request_sha256": hashlib.sha256(key.encode()).hexdigest(),
        "started_us": started,
        "finished_us": time.time_ns() // 1000,
        "status": "succeeded",
    }
    os.write(fd, (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode())
    os.fsync(fd)


def chain_graph(n: int, task: Any, *args: Any) -> tuple[dict[str, Any], list[str]]:
    graph: dict[str, Any] = {}
    ends = []
    for c in range(n // 10):
        for s in range(10):
            deps = (f"c{c}s{s - 1}",) if s else ()
            # Ints, not the key string: Dask reads a string that names a key as a dependency.
            graph[f"c{c}s{s}"] = (task, c, s, *args, *deps)
        ends.append(f"c{c}s9")
    return graph, ends


def child_recoil(n: int) -> dict[str, Any]:
    from _common import chains, noop_registry, peak_rss_mb, run_recoil

    from recoil.model.receipt import Receipt
    from recoil.records.log import read_records
    from recoil.store import ProjectStore

    registry = noop_registry()
    with tempfile.TemporaryDirectory() as tmp:
        run_recoil(chains(500, 10, tag="warm"), Path(tmp) / "warm", 256, registry)
        workflows = chains(n, 10)
        project = Path(tmp) / "bench"
        cpu = time.process_time()
        timed = run_recoil(workflows, project, 256, registry, store=True)
        cpu = time.process_time() - cpu
        rss_mb = peak_rss_mb()  # the run's peak, before the checks below read everything back
        follower_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        durable = sum(
            isinstance(r, Receipt) and r.succeeded for r in read_records(project / "receipts.jsonl")
        )
        with ProjectStore.open(project) as store:
            indexed = len(store.receipts())
    assert timed.report.succeeded == n, timed.report.summary()
    return {
        "us": timed.seconds / n * 1e6,
        "cpu_us": cpu / n * 1e6,
        "rss_mb": rss_mb,
        "follower_mb": follower_mb,
        "durable": durable,
        "indexed": indexed,
    }


def child_dask(n: int, durable: bool) -> dict[str, Any]:
    import dask.threaded

    best = float("inf")
    threads_used = 0
    with tempfile.TemporaryDirectory() as tmp:
        for threads in (2, 16) if durable else (2,):
            fd = os.open(Path(tmp) / f"log{threads}", os.O_WRONLY | os.O_APPEND | os.O_CREAT)

            def task(c: int, s: int, *deps: Any, fd: int = fd) -> int:
                if durable:
                    durable_record(fd, f"c{c}s{s}")
                return s

            graph, ends = chain_graph(n, task)
            dask.threaded.get(chain_graph(1000, task)[0], ["c0s9"], num_workers=threads)
            start = time.perf_counter()
            dask.threaded.get(graph, ends, num_workers=threads)
            seconds = time.perf_counter() - start
            os.close(fd)
            if seconds < best:
                best, threads_used = seconds, threads
    return {"us": best / n * 1e6, "threads": threads_used}


def child_ray(n: int) -> dict[str, Any]:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    with tempfile.TemporaryDirectory() as tmp:
        log = str(Path(tmp) / "log")

        @ray.remote
        def step(key: str, *deps: Any) -> str:
            fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            try:
                durable_record(fd, key)
            finally:
                os.close(fd)
            return key

        def run(count: int) -> float:
            start = time.perf_counter()
            ends = []
            for c in range(count // 10):
                ref = step.remote(f"c{c}s0")
                for s in range(1, 10):
                    ref = step.remote(f"c{c}s{s}", ref)
                ends.append(ref)
            ray.get(ends)
            return time.perf_counter() - start

        run(200)
        seconds = run(n)
    ray.shutdown()
    return {"us": seconds / n * 1e6}


def in_child(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> int:
    from _common import check

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--ray", action="store_true", help="also run the Ray anchor (N=1000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; best counts")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, n = args.child[0], int(args.child[1])
        result = {
            "recoil": lambda: child_recoil(n),
            "dask": lambda: child_dask(n, durable=True),
            "dask-noop": lambda: child_dask(n, durable=False),
            "ray": lambda: child_ray(n),
        }[kind]()
        print(json.dumps(result))
        return 0
    ok = True
    for n in (int(s) for s in args.sizes.split(",")):
        runs: dict[str, list[dict[str, Any]]] = {"recoil": [], "dask": [], "dask-noop": []}
        for _ in range(args.repeat):
            for kind, results in runs.items():
                results.append(in_child(kind, str(n)))
        recoil, dask, noop = (min(runs[k], key=lambda r: r["us"]) for k in runs)
        print(f"overhead, N={n:,} ({n // 10} chains of 10):")
        print(
            f"  recoil         {recoil['us']:7.1f} us/step wall, "
            f"{recoil['cpu_us']:.1f} us/step CPU, peak RSS {recoil['rss_mb']:.0f} MB "
            f"(store follower process {recoil['follower_mb']:.0f} MB), "
            f"{recoil['durable']:,} receipts durable, {recoil['indexed']:,} in the store"
        )
        print(
            f"  dask threaded  {dask['us']:7.1f} us/task (no-op + durable JSON line, "
            f"{dask['threads']} threads)  recoil/dask = {recoil['us'] / dask['us']:.2f}"
        )
        print(
            f"  dask threaded  {noop['us']:7.1f} us/task (no-op, nothing durable)  "
            f"recoil/dask = {recoil['us'] / noop['us']:.2f}"
        )
        if args.ray and n <= 1000:
            ray = in_child("ray", str(n))
            print(
                f"  ray tasks      {ray['us']:7.1f} us/task (no-op + durable JSON line)  "
                f"recoil/ray = {recoil['us'] / ray['us']:.2f}"
            )
        if n >= 10_000:
            ok &= check("us/step", recoil["us"], 100, " us")
            ok &= check("recoil/dask (equivalent work)", recoil["us"] / dask["us"], 0.5)
            ok &= check("peak RSS", recoil["rss_mb"], 100, " MB")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
