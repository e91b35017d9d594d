"""A killed owner takes its previz workers with it (no orphaned render processes)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import records, wait_until

pytestmark = pytest.mark.slow

_OWNER = textwrap.dedent(
    """
    import asyncio
    import sys
    from pathlib import Path

    from recoil.model.context import DispatchContext
    from recoil.dispatch import Dispatcher
    from recoil.model.provider_config import ProviderConfig


    async def main() -> None:
        context = DispatchContext(
            project=Path(sys.argv[1]),
            provider_config={"previz": ProviderConfig(options={"workers": 2})},
            default_provider="previz",
        )
        async with Dispatcher(context) as dispatcher:
            seed = 0
            while True:  # always a render in flight, until the test kills this process
                seed += 2
                payload = {"prompt": "a slow dolly", "width": 320, "height": 180,
                           "duration_s": 2.0, "camera_movement": "push_in"}
                await asyncio.gather(
                    *(dispatcher.dispatch("video", {**payload, "seed": seed + i}, context)
                      for i in range(2))
                )


    asyncio.run(main())
    """
)


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time) of a process from /proc, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[19])


def _descendants(root: int) -> dict[int, int]:
    """pid -> start time of every live process whose parent chain leads to ``root``."""
    parents: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[0] != "Z":
                parents[int(entry.name)] = (stat[1], stat[2])
    found: dict[int, int] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, started) in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = started
                frontier.append(pid)
    return found


def _alive(pid: int, started: int) -> bool:
    # The same start time rules out a new process that got a recycled pid; a zombie
    # (nobody reaped it yet) has exited already.
    stat = _stat(pid)
    return stat is not None and stat[2] == started and stat[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table")
def test_sigkill_mid_render_leaves_no_process_behind(tmp_path: Path) -> None:
    """SPEC 7 (kill -9 at any point): the resource tracker, the forkserver and both
    render workers all exit within seconds of their owner's SIGKILL."""
    log = tmp_path / "owner.log"
    with log.open("wb") as errors:
        owner = subprocess.Popen(
            [sys.executable, "-c", _OWNER, str(tmp_path)], stdout=errors, stderr=errors
        )
    try:
        # The owner starts the next renders as soon as one finishes: from its first
        # receipt on, the kill lands mid-render.
        wait_until(lambda: _rendered(owner, tmp_path, log), what="a first previz render")
        tree = _descendants(owner.pid)
        # The tracker and the forkserver, then the two workers below the forkserver.
        assert len(tree) >= 4, tree
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(timeout=10)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
    alive = dict(tree)

    def all_gone() -> bool:
        for pid, started in list(alive.items()):
            if not _alive(pid, started):
                del alive[pid]
        return not alive

    try:
        wait_until(all_gone, timeout_s=5, interval_s=0.1, what=f"processes {sorted(tree)} to exit")
    finally:
        for pid in alive:  # leave nothing behind for the next test
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _rendered(owner: subprocess.Popen[bytes], project: Path, log: Path) -> bool:
    assert owner.poll() is None, log.read_text()
    return bool(records(project, "receipt"))
