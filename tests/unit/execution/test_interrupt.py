"""Ctrl-C: a real process running a workflow receives SIGINT (and SIGTERM)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

import pytest

from recoil.model.receipt import Receipt
from recoil.records.log import read_records
from tests.helpers import log_lines, wait_until

SCRIPT = """
import asyncio, sys
from pathlib import Path
from recoil.model.context import DispatchContext
from recoil.dispatch import Dispatcher
from recoil.execution.interrupt import EXIT_INTERRUPTED, interruptible
from recoil.execution.policy import Limits
from recoil.execution.scheduler import Hooks, Scheduler, Unit
from recoil.model.workflow import Workflow, WorkflowStep

project, latency, grace = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
context = DispatchContext(project=project, default_provider="fake", seed=1)
steps = [
    WorkflowStep(step_id=f"k{i}", modality="keyframe",
                 payload={"prompt": f"k{i}", "fake_latency_s": latency})
    for i in range(20)
]
workflow = Workflow(steps=steps)

def started(step):
    with (project / "started").open("a") as marks:
        marks.write(step.step_id + "\\n")

async def main():
    async with interruptible(grace_s=grace) as on_scheduler:
        async with Dispatcher(context) as dispatcher:
            hooks = Hooks(pre_step=started)
            scheduler = Scheduler(dispatcher, limits=Limits(concurrency=2), hooks=hooks)
            on_scheduler(scheduler)
            return await scheduler.run([Unit(workflow=workflow, context=context)])

report = asyncio.run(main())
print(report.summary(), flush=True)
sys.exit(EXIT_INTERRUPTED if report.interrupted else 0)
"""


def start(tmp_path: Path, latency: float, grace: float) -> tuple[subprocess.Popen[str], Path]:
    """Run the script on a new project; its stderr goes to ``stderr.txt`` beside it."""
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    project = tmp_path / "project"
    project.mkdir()
    with (tmp_path / "stderr.txt").open("w") as err:  # the child holds its own copy
        process = subprocess.Popen(
            [sys.executable, str(script), str(project), str(latency), str(grace)],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    return process, project


def running(process: subprocess.Popen[str], project: Path) -> None:
    """Fail the test at once if the script has ended before it was signalled."""
    assert process.poll() is None, stderr(project)


def started(project: Path) -> int:
    """How many steps the script has started."""
    marks = project / "started"
    return len(marks.read_text().splitlines()) if marks.exists() else 0


def stderr(project: Path) -> str:
    return (project.parent / "stderr.txt").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_first_signal_stops_gracefully_and_exits_130(tmp_path: Path, sig: signal.Signals) -> None:
    process, project = start(tmp_path, latency=0.3, grace=10)
    wait_until(lambda: running(process, project) or log_lines(project) >= 2, what="two receipts")
    process.send_signal(sig)
    out, _ = process.communicate(timeout=60)
    err = stderr(project)
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
    """With two calls of a minute in flight and a minute's grace, a second signal ends it now."""
    process, project = start(tmp_path, latency=60, grace=60)
    wait_until(
        lambda: running(process, project) or started(project) == 2, what="two calls in flight"
    )
    process.send_signal(signal.SIGINT)
    wait_until(lambda: "starting nothing new" in stderr(project), what="the first signal")
    assert process.poll() is None, stderr(project)
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=60)
    assert time.monotonic() - sent < 30  # far less than the grace it did not wait out
    assert process.returncode == 130, stderr(project)
    assert "interrupted again: exiting now" in stderr(project)
    assert list(read_records(project / "receipts.jsonl")) == []


def test_a_signal_with_nothing_in_flight_exits_at_once(capsys: pytest.CaptureFixture[str]) -> None:
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
    assert capsys.readouterr().err == (
        "interrupted: no provider call in flight; exiting now (run it again to finish)\n"
    )
