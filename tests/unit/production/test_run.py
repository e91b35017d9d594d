"""A production run keeps the store current while a long wave runs (the log follower)."""

from __future__ import annotations

from pathlib import Path

import pytest

from recoil.model.receipt import Receipt
from recoil.production.run import RunOptions, run_production_sync
from recoil.records.log import read_records
from recoil.store import ProjectStore
from recoil.store import store as store_module
from recoil.store.follower import LogFollower

SHOTLIST = """\
version: 1
project:
  title: Follow
  provider: fake
  resolution: 160x90
  fps: 12
  takes_per_beat: 2
  seed: 3
scenes:
  - id: one
    beats:
      - {id: a, action: a door opens, duration: 1}
      - {id: b, action: a door closes, duration: 1}
"""


def test_a_long_wave_is_indexed_by_a_follower(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RECOIL_DATABASE_URL", raising=False)
    monkeypatch.setattr(store_module, "FOLLOW_MIN_RECORDS", 1)  # this small run counts as long
    started: list[LogFollower] = []
    real_start = LogFollower.start

    def start(self: LogFollower) -> None:
        started.append(self)
        real_start(self)

    monkeypatch.setattr(LogFollower, "start", start)
    project = tmp_path / "film"
    project.mkdir()
    (project / "shotlist.yaml").write_text(SHOTLIST)

    outcome = run_production_sync(project, RunOptions())

    assert started, "the wave ran without a follower"
    assert outcome.report.failed == 0 and outcome.report.succeeded > 0
    logged = [r for r in read_records(project / "receipts.jsonl") if isinstance(r, Receipt)]
    with ProjectStore.open(project) as opened:
        indexed = opened.receipts()
        # Each once (saving a take may index its step's receipt before the log pass does).
        assert sorted(indexed, key=lambda r: r.receipt_id) == sorted(
            logged, key=lambda r: r.receipt_id
        )
        project_back = opened.load_project()
        assert project_back is not None
        takes = [t for b in project_back.beats() for t in b.takes]
        assert takes and all(t.status.value == "succeeded" for t in takes)
