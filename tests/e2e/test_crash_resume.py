"""Kill -9 a run at random moments, rerun each time, finish: nothing lost, nothing paid twice.

SPEC 3 and 7. The fake provider runs as a submit-then-poll service with
latency, so steps overlap and jobs are in flight when the process dies; its
``calls_file`` counts every submit across the killed processes (and makes it a
remote provider, whose jobs outlive the process). No job may ever be submitted
twice: not one with a ``submitted`` record, and not one a kill cut off between
the vendor accepting it and our log recording it (its ``sending`` record makes
the next run look it up).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SHOTLIST = """\
version: 1
project:
  title: Crash Test
  provider: fake
  resolution: 160x90
  fps: 12
  takes_per_beat: 3
  seed: 11
characters:
  ana: {name: Ana, description: a woman in a red coat, voice: en-us}
scenes:
  - id: one
    beats:
      - {id: a, action: Ana waits, characters: [ana], duration: 1,
         dialogue: [{character: ana, text: "Still here."}]}
      - {id: b, action: Ana turns, duration: 1}
      - {id: c, action: Ana runs, duration: 1, chain_from_previous: true}
  - id: two
    beats:
      - {id: d, action: Ana stops, duration: 1}
      - {id: e, action: Ana smiles, duration: 1}
"""

SETTINGS = """\
[run]
concurrency = 2

[providers.fake]
latency_s = 0.8
async = true
calls_file = "{calls}"
"""

BACKENDS = ["sqlite"]
if os.environ.get("RECOIL_TEST_DATABASE_URL"):
    BACKENDS.append("postgresql")


def _make(project: Path) -> Path:
    project.mkdir(parents=True)
    calls = project.parent / f"{project.name}-calls.jsonl"
    (project / "shotlist.yaml").write_text(SHOTLIST)
    (project / "recoil.toml").write_text(SETTINGS.format(calls=calls))
    return calls


def _env(backend: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("RECOIL_DATABASE_URL", None)
    if backend == "postgresql":
        env["RECOIL_DATABASE_URL"] = os.environ["RECOIL_TEST_DATABASE_URL"]
    return env


def _run_cmd(project: Path) -> list[str]:
    return [sys.executable, "-m", "recoil", "run", str(project)]


def _records(project: Path) -> list[dict[str, object]]:
    log = project / "receipts.jsonl"
    if not log.exists():
        return []
    data = log.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]  # a torn tail is set aside on the next open
    return [json.loads(line) for line in complete.splitlines()]


def _calls(calls_file: Path) -> Counter[str]:
    if not calls_file.exists():
        return Counter()
    return Counter(json.loads(line)["job_id"] for line in calls_file.read_text().splitlines())


def _artifacts(project: Path) -> set[str]:
    return {
        hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (project / "artifacts").rglob("*")
        if p.is_file() and p.suffix != ".json"
    }


@pytest.mark.parametrize("backend", BACKENDS)
def test_kill_nine_and_resume(tmp_path: Path, backend: str) -> None:
    """SPEC 7: ten or more SIGKILLs, a rerun after each, then a clean finish."""
    project = tmp_path / "film"
    calls_file = _make(project)
    env = _env(backend)
    rng = random.Random(20261121)
    kills = 0
    for _ in range(30):
        log = tmp_path / "run.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(_run_cmd(project), env=env, stdout=out, stderr=out)
            time.sleep(rng.uniform(0.4, 1.6))
        if proc.poll() is not None:
            assert proc.returncode == 0, log.read_text()
            break
        proc.kill()
        proc.wait()
        kills += 1
        again = sorted(job for job, n in _calls(calls_file).items() if n > 1)
        assert not again, f"jobs submitted twice: {again}"
        if kills >= 12:
            break
    # Two jobs of 0.8 s at a time: on the machine this was tuned on, an uncapped
    # loop needed 19 kills to let the run finish, so there is room for faster ones.
    assert kills >= 10, "the run finished before it could be killed ten times"

    final = subprocess.run(_run_cmd(project), env=env, capture_output=True, text=True, check=False)
    assert final.returncode == 0, final.stderr
    calls = _calls(calls_file)
    again = sorted(job for job, n in calls.items() if n > 1)
    assert not again, f"jobs submitted twice: {again}"

    # The log parses completely; torn tails (if a kill landed mid-write) were set aside.
    raw = (project / "receipts.jsonl").read_bytes()
    assert raw.endswith(b"\n")
    records = [json.loads(line) for line in raw.splitlines()]
    receipts = [r for r in records if r["kind"] == "receipt"]
    assert all(r["status"] == "succeeded" for r in receipts)
    # Every job the vendor accepted was paid for once and ended in a receipt.
    assert set(calls) == {r["job_id"] for r in receipts if not r["cached"]}

    # Every enabled beat has its three takes, all succeeded, and a primary.
    status = subprocess.run(
        [sys.executable, "-m", "recoil", "status", str(project), "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    beats = json.loads(status.stdout)
    assert [b["beat_id"] for b in beats] == ["a", "b", "c", "d", "e"]
    for beat in beats:
        assert len(beat["takes"]) == 3
        assert all(t["status"] == "succeeded" for t in beat["takes"])
        assert beat["primary_take_id"] is not None

    # The same film as an uninterrupted run.
    clean = tmp_path / "clean"
    _make(clean)
    subprocess.run(_run_cmd(clean), env=env, check=True, capture_output=True)
    assert _artifacts(project) == _artifacts(clean)
