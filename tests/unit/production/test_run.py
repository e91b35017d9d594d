"""A production run keeps the store current while a long wave runs (the log follower)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from recoil.model.receipt import Receipt
from recoil.production.run import RunOptions, run_production_sync
from recoil.records.log import read_records
from recoil.store import ProjectStore
from recoil.store import store as store_module
from recoil.store.follower import LogFollower

if TYPE_CHECKING:
    from conftest import Doors


def test_a_long_wave_is_indexed_by_a_follower(
    doors: Doors, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "FOLLOW_MIN_RECORDS", 1)  # this small run counts as long
    started: list[LogFollower] = []
    real_start = LogFollower.start

    def start(self: LogFollower) -> None:
        started.append(self)
        real_start(self)

    monkeypatch.setattr(LogFollower, "start", start)
    project = doors(2)

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
