"""Encoding jobs in parallel threads: queue order, files already there, waiting, the first error."""

from __future__ import annotations

import threading
import time
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from recoil.export.pool import encoding
from tests.heap import PAGES_PER_ROUND, glibc_default_heap, run_fresh


@dataclass(frozen=True)
class Write:
    """A job that writes its name into its file; ``fails`` raises instead."""

    path: Path
    log: list[str] = field(compare=False)
    seconds: float = 0.0
    fails: bool = False

    def encode(self, stop: threading.Event | None = None) -> Path:
        self.log.append(f"start {self.path.name} {threading.current_thread().name}")
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline:
            if stop is not None and stop.is_set():
                self.log.append(f"stopped {self.path.name}")
                raise CancelledError(f"{self.path.name} stopped")
            time.sleep(0.01)
        if self.fails:
            raise RuntimeError(f"{self.path.name} cannot be encoded")
        self.path.write_text(self.path.name)
        return self.path


def test_jobs_run_on_several_threads_and_files_already_there_are_skipped(tmp_path: Path) -> None:
    log: list[str] = []
    (tmp_path / "out" / "kept").parent.mkdir()
    (tmp_path / "out" / "kept").write_text("old")
    jobs = [Write(tmp_path / "out" / name, log, seconds=0.05) for name in ("a", "b", "kept", "c")]

    with encoding(jobs, workers=2) as running:
        assert running.ready(tmp_path / "out" / "c").read_text() == "c"

    assert running.made == {tmp_path / "out" / name for name in ("a", "b", "c")}
    assert (tmp_path / "out" / "kept").read_text() == "old", "a file already there is not redone"
    started = [line.split()[1] for line in log]
    assert set(started[:2]) == {"a", "b"} and started[2] == "c", "queue order"
    assert len({line.split()[2] for line in log}) == 2, "two threads at once"


def test_the_first_error_stops_the_jobs_not_started_and_is_raised(tmp_path: Path) -> None:
    log: list[str] = []
    jobs = [
        Write(tmp_path / "a", log, seconds=0.2),
        Write(tmp_path / "b", log, fails=True),
        *(Write(tmp_path / f"later{n}", log, seconds=0.2) for n in range(5)),
    ]
    # b fails at once: a is stopped (it is the job that runs), and no later job starts.

    with pytest.raises(RuntimeError, match="b cannot be encoded"), encoding(jobs, 2) as running:
        running.ready(tmp_path / "later4")  # cancelled by b's error, which is raised

    assert "stopped a" in log and not (tmp_path / "a").exists()
    started = [line.split()[1] for line in log if line.startswith("start")]
    assert set(started[:2]) == {"a", "b"} and len(started) <= 3, started


def test_one_worker_runs_the_jobs_one_after_another(tmp_path: Path) -> None:
    log: list[str] = []

    with encoding([Write(tmp_path / "a", log), Write(tmp_path / "b", log)], workers=1):
        pass

    assert len({line.split()[2] for line in log}) == 1, "one thread"
    assert (tmp_path / "b").read_text() == "b", "every job is done on leaving"


def test_an_error_while_waiting_stops_the_running_jobs_and_leaves_their_files_unmade(
    tmp_path: Path,
) -> None:
    log: list[str] = []
    (tmp_path / "there").write_text("old")
    jobs = [Write(tmp_path / "long", log, seconds=30), Write(tmp_path / "there", log)]
    began = time.monotonic()

    with pytest.raises(KeyboardInterrupt), encoding(jobs, workers=2) as running:
        assert running.ready(tmp_path / "there") == tmp_path / "there", "there already"
        raise KeyboardInterrupt  # what Ctrl-C raises in the waiting thread

    assert time.monotonic() - began < 5, "the 30 s job stopped at its next frame"
    assert "stopped long" in log and not (tmp_path / "long").exists()
    assert running.made == {tmp_path / "long"}


def test_jobs_added_while_others_run_queue_after_them_once_each(tmp_path: Path) -> None:
    log: list[str] = []
    first = [Write(tmp_path / name, log, seconds=0.05) for name in ("a", "b")]
    (tmp_path / "kept").write_text("old")

    with encoding(first, workers=1) as running:
        running.add([*first, Write(tmp_path / "kept", log), Write(tmp_path / "c", log)])
        assert running.ready(tmp_path / "c").read_text() == "c"

    assert [line.split()[1] for line in log] == ["a", "b", "c"], "each once, in queue order"
    assert running.made == {tmp_path / name for name in ("a", "b", "c")}
    assert (tmp_path / "kept").read_text() == "old"


def test_jobs_added_after_an_error_never_start(tmp_path: Path) -> None:
    log: list[str] = []

    failing = [Write(tmp_path / "a", log, fails=True)]
    with (
        pytest.raises(RuntimeError, match="a cannot be encoded"),
        encoding(failing, workers=1) as running,
    ):
        with pytest.raises(RuntimeError, match="a cannot be encoded"):
            running.ready(tmp_path / "a")
        running.add([Write(tmp_path / "late", log)])
        with pytest.raises(RuntimeError, match="a cannot be encoded"):
            running.ready(tmp_path / "late")  # cancelled, with a's error

    assert [line.split()[1] for line in log] == ["a"]
    assert not (tmp_path / "late").exists()


@glibc_default_heap()
def test_jobs_reuse_the_buffers_the_jobs_before_them_freed() -> None:
    out = run_fresh(
        """
        import tempfile
        from pathlib import Path
        from recoil.export.pool import encoding

        class Churn:
            # An encoder's buffers: allocated, written and freed; the page faults it took.
            def __init__(self, name, faults):
                self.path, self.faults = Path(name), faults
            def encode(self, stop=None):
                self.faults.append(churn(1))
                return self.path

        faults = []
        with tempfile.TemporaryDirectory() as folder:
            jobs = [Churn(f"{folder}/job{n}", faults) for n in range(6)]
            with encoding(jobs, workers=1):
                pass
        print(*faults)
        """
    )
    first, *later = map(int, out.split())
    assert first > PAGES_PER_ROUND * 0.9
    assert max(later) < PAGES_PER_ROUND / 20
