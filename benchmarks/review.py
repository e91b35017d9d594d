"""How fast the review server answers: its page of 200 beats x 3 takes, and its read API.

- generate: a shot list of ``--beats`` beats of 0.5 s at 64x36 in scenes of 20,
  ``--takes`` takes a beat, the fake provider, run with ``run_production_sync``
  (no scoring) into a temporary folder; its time is printed on its own.
- page: Debian's Chromium (headless, driven by playwright) opens ``/`` in a
  fresh browser context each time (no HTTP cache): first contentful paint
  (Paint Timing) and the time every ``.beat`` is in the page (a
  MutationObserver in the page takes ``performance.now()``, from navigation
  start), and the time the frame after it was painted. Cold: the first load
  after a server starts, its catalog not read yet, on ``--repeat`` fresh
  servers; warm: ``--warm`` loads after each cold one. Floor: the first paint
  of ``/static/review.css`` opened as a document (no script, no API) on the
  same server, as a ratio. Target: the beat list under 1 s.
- API: ``--clients`` closed-loop clients, each on its own keep-alive
  connection, in a process apart from the server's (so that the two do not
  share a GIL), ask one route for ``--seconds``: ``/api/project``,
  ``/api/scenes``, ``/api/beats/<id>`` and ``/api/takes/<id>`` (ids drawn at
  random): req/s, p50/p99/p99.9/max of the best of ``--rounds`` rounds by p99
  (every round's p99 is printed too), and p50 with one client alone. The
  client is a few lines of asyncio, not httpx, whose pool costs more than
  this server's trivial routes at 32 connections. Floor: a trivial route on
  the same server (the faster p99 of ``/static/review.css`` and
  ``/openapi.json``), as a ratio. Target: p99 under 50 ms.

Both run on ``tests.serving.serving``, whose listener is made as ``recoil
review`` makes its own (``IPPROTO_TCP``, so asyncio sets ``TCP_NODELAY`` on
every connection; without it each small response waited ~40 ms for the
client's delayed ACK). The exit status is 1 when a target is missed.

Run: ``python benchmarks/review.py [--beats 200] [--repeat 3] [--seconds 2] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests.serving and tests.helpers


from recoil.production.catalog import load_catalog  # noqa: E402
from recoil.production.run import RunOptions, run_production_sync  # noqa: E402
from tests.helpers import beat, shotlist, write_project  # noqa: E402
from tests.serving import Served, serving  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
PAGE_TARGET_S = 1.0
P99_TARGET_S = 0.050
BEATS_PER_SCENE = 20
WARMUP_S = 0.5
ALONE_S = 1.0
FLOORS = ("/static/review.css", "/openapi.json")
READS = ("/api/project", "/api/scenes", "/api/beats/<id>", "/api/takes/<id>")

# Runs in the page before its own script: notes when every beat is in the DOM, and
# when the frame after that has been painted (a task queued from the next frame).
WATCH = """
(() => {
  const want = %d;
  const seen = () => {
    if (document.querySelectorAll('.beat').length < want) return false;
    window.__beats = performance.now();
    requestAnimationFrame(() => setTimeout(() => { window.__painted = performance.now(); }));
    return true;
  };
  new MutationObserver((_, watch) => { if (seen()) watch.disconnect(); })
    .observe(document, { childList: true, subtree: true });
})();
"""

TIMES = """() => {
  const paint = (name) => {
    const found = performance.getEntriesByName(name);
    return found.length ? found[0].startTime : null;
  };
  const scenes = performance.getEntriesByType('resource')
    .find((entry) => entry.name.endsWith('/api/scenes'));
  return {
    fcp: paint('first-contentful-paint') ?? paint('first-paint'),
    beats: window.__beats ?? null,
    painted: window.__painted ?? null,
    scenes: scenes ? scenes.responseEnd : null,
  };
}"""


def generate(folder: Path, beats: int, takes: int) -> tuple[Path, float]:
    """The project of ``beats`` x ``takes`` made with the fake provider, and how long it took."""
    entries = [beat(f"b{i:03d}", f"Ana waits, beat {i}", duration=0.5) for i in range(beats)]
    scenes = {
        f"s{n // BEATS_PER_SCENE + 1:02d}": entries[n : n + BEATS_PER_SCENE]
        for n in range(0, beats, BEATS_PER_SCENE)
    }
    text = shotlist(
        scenes, title="review bench", provider="fake", takes_per_beat=takes, resolution="64x36"
    )
    project = write_project(folder, text)
    start = time.perf_counter()
    outcome = run_production_sync(project, RunOptions(evaluate=False))
    seconds = time.perf_counter() - start
    report = outcome.report
    assert report.failed == 0 and report.succeeded > 0, report.summary()
    return project, seconds


Serve = Callable[[Path], AbstractContextManager[Served]]
SHIPPED = "recoil review"
SERVERS: dict[str, Serve] = {SHIPPED: serving}


# -- the page -------------------------------------------------------------------------


def load_page(browser: Any, url: str, beats: int) -> dict[str, float]:
    """One load of the page in a fresh context: its times in ms from navigation start."""
    context = browser.new_context()
    try:
        context.add_init_script(WATCH % beats)
        page = context.new_page()
        page.goto(url + "/", wait_until="commit")
        page.wait_for_function("window.__painted !== undefined", timeout=60_000)
        times: dict[str, float] = page.evaluate(TIMES)
    finally:
        context.close()
    assert None not in times.values(), times
    return times


def floor_paint(browser: Any, url: str) -> float:
    """First paint of a plain document from the same server: ``/static/review.css``."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url + "/static/review.css", wait_until="load")
        page.wait_for_function(
            "performance.getEntriesByName('first-contentful-paint').length > 0", timeout=60_000
        )
        fcp: float = page.evaluate(
            "performance.getEntriesByName('first-contentful-paint')[0].startTime"
        )
    finally:
        context.close()
    return fcp


@dataclass(slots=True)
class Loads:
    """One server's page loads: cold, warm, and the floor's first paints (ms)."""

    cold: list[dict[str, float]] = field(default_factory=list)
    warm: list[dict[str, float]] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)


def page_times(browser: Any, project: Path, beats: int, repeat: int, warm: int) -> dict[str, Loads]:
    """Server -> its loads; the servers take turns, so that other work loads both alike."""
    found = {name: Loads() for name in SERVERS}
    for _ in range(repeat):
        for name, serve in SERVERS.items():
            with serve(project) as served:
                found[name].cold.append(load_page(browser, served.url, beats))
                for _ in range(warm):
                    found[name].warm.append(load_page(browser, served.url, beats))
                    found[name].floor.append(floor_paint(browser, served.url))
    return found


def spread(values: Sequence[float]) -> str:
    """``median (min-max)`` in ms."""
    return f"{statistics.median(values):4.0f} ms ({min(values):.0f}-{max(values):.0f})"


def report_page(name: str, loads: Loads) -> bool:
    """Print one server's page figures; whether the beat list met its target."""
    cold, hot, floor = loads.cold, loads.warm, loads.floor
    print(f"  {name}: {len(cold)} cold loads, {len(hot)} warm, median (min-max)")
    for label, times in (("cold", cold), ("warm", hot)):
        print(
            f"    {label}  first paint {spread([t['fcp'] for t in times])}   "
            f"/api/scenes in {spread([t['scenes'] for t in times])}   "
            f"beat list {spread([t['beats'] for t in times])}   "
            f"painted {spread([t['painted'] for t in times])}"
        )
    warm_fcp = statistics.median([t["fcp"] for t in hot])
    print(
        f"    floor: first paint of /static/review.css as a document {spread(floor)}; "
        f"warm first paint / floor = {warm_fcp / statistics.median(floor):.2f}"
    )
    ok = True
    for label, times in (("cold", cold), ("warm", hot)):
        worst = max(t["beats"] for t in times) / 1000
        ok &= worst < PAGE_TARGET_S
        print(
            f"    target {label} beat list under {PAGE_TARGET_S:g} s: worst {worst:.2f} s: "
            f"{'ok' if worst < PAGE_TARGET_S else 'MISSED'}"
        )
    return ok


# -- the API ---------------------------------------------------------------------------


async def _client(
    host: str, port: int, paths: list[str], seed: int, counted: float, end: float
) -> list[float]:
    """One closed-loop client on one keep-alive connection: its latencies after ``counted``."""
    pick = random.Random(seed).choice
    latencies = []
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while (now := time.perf_counter()) < end:
            path = pick(paths)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = None
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            assert length is not None, head  # every route here answers with a length
            await reader.readexactly(length)
            took = time.perf_counter() - now
            status = int(head.split(b" ", 2)[1])
            assert status == 200, f"{path}: {head.decode('latin-1')}"
            if now >= counted:
                latencies.append(took)
    finally:
        writer.close()
    return latencies


def hammer(url: str, paths: list[str], clients: int, seconds: float) -> list[float]:
    """Sorted latencies (s) of ``clients`` closed-loop clients asking ``paths`` at random
    for ``seconds``, after ``WARMUP_S`` not counted. Runs in a process of its own."""
    host, _, port = url.removeprefix("http://").partition(":")

    async def main() -> list[float]:
        counted = time.perf_counter() + WARMUP_S
        found = await asyncio.gather(
            *(
                _client(host, int(port), paths, seed, counted, counted + seconds)
                for seed in range(clients)
            )
        )
        return sorted(latency for latencies in found for latency in latencies)

    return asyncio.run(main())


def quantile(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile of sorted ``ordered``."""
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


@dataclass(slots=True)
class Route:
    """One route on one server: its best round under load, every round's p99, alone."""

    best: list[float] = field(default_factory=list)
    p99s: list[float] = field(default_factory=list)
    alone_p50: float = 0.0


def api_latencies(
    pool: ProcessPoolExecutor,
    routes: dict[str, list[str]],
    project: Path,
    clients: int,
    seconds: float,
    rounds: int,
) -> dict[str, dict[str, Route]]:
    """Server -> route -> its figures. Both servers are up at once (the one not asked is
    idle); every round asks each route of each server in turn; the round of least p99
    counts, so that a burst of other work on the machine does not."""
    found = {name: {route: Route() for route in routes} for name in SERVERS}
    with ExitStack() as stack:
        urls = {name: stack.enter_context(serve(project)).url for name, serve in SERVERS.items()}
        for name, url in urls.items():
            for route, paths in routes.items():  # the server reads its catalog
                pool.submit(hammer, url, paths, 1, 0.1).result()
                alone = pool.submit(hammer, url, paths, 1, ALONE_S).result()
                found[name][route].alone_p50 = quantile(alone, 0.5)
        for _ in range(rounds):
            for route, paths in routes.items():
                for name, url in urls.items():
                    latencies = pool.submit(hammer, url, paths, clients, seconds).result()
                    figures = found[name][route]
                    figures.p99s.append(quantile(latencies, 0.99))
                    if not figures.best or figures.p99s[-1] < quantile(figures.best, 0.99):
                        figures.best = latencies
    return found


def report_api(name: str, found: dict[str, Route], seconds: float) -> bool:
    """Print one server's API figures; whether every read met its target."""
    print(f"  {name}, the best of {len(next(iter(found.values())).p99s)} rounds by p99 (ms):")
    print(
        f"    {'route':<20} {'req/s':>6} {'p50':>7} {'p99':>7} {'p99.9':>7} {'max':>7}"
        f" {'p99 of rounds':>15} {'alone p50':>10}"
    )
    for route, figures in found.items():
        latencies = figures.best
        cells = [quantile(latencies, q) * 1000 for q in (0.5, 0.99, 0.999)]
        cells.append(latencies[-1] * 1000)
        rounds = f"{min(figures.p99s) * 1000:.0f}-{max(figures.p99s) * 1000:.0f}"
        print(
            f"    {route:<20} {len(latencies) / seconds:6.0f} "
            + " ".join(f"{cell:7.1f}" for cell in cells)
            + f" {rounds:>15} {figures.alone_p50 * 1000:10.2f}"
        )
    floors = {route: quantile(found[route].best, 0.99) for route in FLOORS}
    trivial = min(floors, key=floors.__getitem__)
    ok = True
    print(f"    p99 / floor ({trivial}, p99 {floors[trivial] * 1000:.1f} ms):")
    for route in READS:
        p99 = quantile(found[route].best, 0.99)
        ok &= p99 < P99_TARGET_S
        print(
            f"      {route:<18} {p99 / floors[trivial]:6.2f}x   target p99 under "
            f"{P99_TARGET_S * 1000:g} ms: {'ok' if p99 < P99_TARGET_S else 'MISSED'}"
        )
    return ok


# -- the run -----------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beats", type=int, default=200)
    parser.add_argument("--takes", type=int, default=3, help="takes a beat")
    parser.add_argument("--repeat", type=int, default=3, help="fresh servers for cold loads")
    parser.add_argument("--warm", type=int, default=3, help="warm loads after each cold one")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=2.0, help="per API route and round")
    parser.add_argument("--rounds", type=int, default=3, help="API rounds; the best counts")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"review server, {os.cpu_count()} cores, load average {load} at the start")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        project, made = generate(Path(tmp) / "project", args.beats, args.takes)
        catalog = load_catalog(project)
        takes = [t for b in catalog.beats() for t in b.takes]
        steps = sum(len(t.steps) for t in takes)
        print(
            f"generate {args.beats} beats x {args.takes} takes ({steps} steps, fake provider, "
            f"64x36, 0.5 s): {made:.1f} s"
        )

        print(f"page in Chromium, {args.beats} beats, ms from navigation start:")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                loads = page_times(browser, project, args.beats, args.repeat, args.warm)
                for name, found_loads in loads.items():
                    met = report_page(name, found_loads)
                    ok &= met or name != SHIPPED
            finally:
                browser.close()

        routes = {
            "/static/review.css": ["/static/review.css"],
            "/openapi.json": ["/openapi.json"],
            "/api/project": ["/api/project"],
            "/api/scenes": ["/api/scenes"],
            "/api/beats/<id>": [f"/api/beats/{b.beat_id}" for b in catalog.beats()],
            "/api/takes/<id>": [f"/api/takes/{t.take_id}" for t in takes],
        }
        print(
            f"read API, {args.clients} closed-loop clients, {args.seconds:g} s a route and "
            f"round ({WARMUP_S:g} s more not counted); alone: one client for {ALONE_S:g} s:"
        )
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            found = api_latencies(pool, routes, project, args.clients, args.seconds, args.rounds)
        for name, figures in found.items():
            met = report_api(name, figures, args.seconds)
            ok &= met or name != SHIPPED
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"load average {load} at the end")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
