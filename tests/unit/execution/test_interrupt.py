"""Ctrl-C: a real process running a workflow receives SIGINT (and SIGTERM)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pytest

from recoil.model.receipt import Receipt
from recoil.records.log import read_records

SCRIPT = """
import asyncio, sys
from pathlib import Path
from recoil.model.context import DispatchContext
from recoil.dispatch import Dispatcher
from recoil.execution.interrupt import EXIT_INTERRUPTED, interruptible
from recoil.execution.policy import Limits
from recoil.execution.scheduler import Scheduler, Unit
from recoil.model.workflow import Workflow, WorkflowStep

project, latency, grace = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
context = DispatchContext(project=project, default_provider="fake", seed=1)
steps = [
    WorkflowStep(step_id=f"k{i}", modality="keyframe",
                 payload={"prompt": f"k{i}", "fake_latency_s": latency})
    for i in range(20)
]
workflow = Workflow(steps=steps)

async def main():
    async with interruptible(grace_s=grace) as on_scheduler:
        async with Dispatcher(context) as dispatcher:
            scheduler = Scheduler(dispatcher, limits=Limits(concurrency=2))
            on_scheduler(scheduler)
            (project / "running").write_text("")
            return await scheduler.run([Unit(workflow=workflow, context=context)])

report = asyncio.run(main())
print(report.summary(), flush=True)
sys.exit(EXIT_INTERRUPTED if report.interrupted else 0)
"""


def start(tmp_path: Path, latency: float, grace: float) -> tuple[subprocess.Popen[str], Path]:
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    project = tmp_path / "project"
    project.mkdir()
    process = subprocess.Popen(
        [sys.executable, str(script), str(project), str(latency), str(grace)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, project


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def receipt_lines(project: Path) -> int:
    log = project / "receipts.jsonl"
    return log.read_bytes().count(b"\n") if log.exists() else 0


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_first_signal_stops_gracefully_and_exits_130(tmp_path: Path, sig: signal.Signals) -> None:
    process, project = start(tmp_path, latency=0.3, grace=10)
    wait_for(lambda: receipt_lines(project) >= 2)
    process.send_signal(sig)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("interrupted: "), out
    assert "run again to resume" in summary
    assert "interrupted: starting nothing new" in err
    receipts = [r for r in read_records(project / "receipts.jsonl") if isinstance(r, Receipt)]
    assert 2 <= len(receipts) < 20
    assert summary.startswith(f"interrupted: {len(receipts)} succeeded")
    assert all(r.succeeded for r in receipts)
    assert not list(project.glob("receipts.jsonl.torn-*"))


@pytest.mark.slow
def test_second_signal_exits_at_once(tmp_path: Path) -> None:
    process, project = start(tmp_path, latency=60, grace=60)
    wait_for((project / "running").exists)
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    time.sleep(0.3)
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert time.monotonic() - started < 5
    assert "interrupted again: exiting now" in err
    assert list(read_records(project / "receipts.jsonl")) == []


def test_a_signal_with_nothing_in_flight_exits_at_once() -> None:
    """SIGTERM while the exports are written (no scheduler running) ends the process now."""
    from recoil.execution.interrupt import EXIT_INTERRUPTED, Interrupt

    codes: list[int] = []

    class ExitedError(Exception):
        pass

    def exit_now(code: int) -> NoReturn:
        codes.append(code)
        raise ExitedError

    interrupt = Interrupt(exit_now=exit_now)
    with pytest.raises(ExitedError):
        interrupt.signal()
    assert codes == [EXIT_INTERRUPTED]
