"""The scripting API: ``recoil.open_project`` and its handle, on the offline default (previz)."""

from __future__ import annotations

from pathlib import Path

import pytest

import recoil
from recoil.errors import ConfigError, NotFoundError
from recoil.records.log import read_records
from recoil.shotlist import write_example


@pytest.fixture
def film(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example project cut down: its second scene (two beats, the second chained
    from the first), one small take per beat, one previz worker."""
    monkeypatch.delenv("RECOIL_DATABASE_URL", raising=False)
    folder = tmp_path / "film"
    write_example(folder)
    shotlist = folder / "shotlist.yaml"
    text = shotlist.read_text()
    start, end = text.index("  - id: platform"), text.index("  - id: waiting-room")
    text = (text[:start] + text[end:]).replace("640x360", "64x36").replace("fps: 24", "fps: 6")
    shotlist.write_text(text.replace("takes_per_beat: 2", "takes_per_beat: 1"))
    settings = folder / "recoil.toml"
    settings.write_text(settings.read_text().replace("limit = 2 ", "workers = 1\nlimit = 2 "))
    return folder


def test_open_project_fails_early_on_a_folder_that_is_not_a_project(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="recoil init"):
        recoil.open_project(tmp_path / "missing")


def test_plan_lists_the_takes_and_writes_nothing(film: Path) -> None:
    handle = recoil.open_project(film)
    assert handle.path == film
    plan = handle.plan()
    assert [(line.beat_id, line.dispatches) for line in plan] == [("clock", 2), ("offer", 3)]
    assert not list(read_records(film / "receipts.jsonl"))  # nothing was sent
    assert not (film / "exports").exists()


def test_run_review_and_export(film: Path) -> None:
    handle = recoil.open_project(str(film))
    outcome = handle.run()
    assert outcome.exit_code == 0, outcome.failures
    assert outcome.export is not None and outcome.export.written
    assert all(path.is_file() for path in outcome.export.outputs)
    assert handle.plan() == []  # nothing left to generate

    rows = handle.status()
    assert [row.beat_id for row in rows] == ["clock", "offer"]
    assert all(row.primary_take_id is not None for row in rows)
    assert handle.export().written is False  # the same edit: nothing rewritten

    clock = rows[0].takes[0].take_id
    assert handle.approve(clock, note="keep", author="ed").take_id == clock
    queued = handle.reject(rows[1].takes[0].take_id, note="warmer light", author="ed")
    again = handle.retake("clock", note="tighter")
    assert {line.take_id for line in handle.plan()} == {queued.take_id, again.take_id}
    reviews = {t.take_id: t.review for row in handle.status() for t in row.takes}
    assert reviews[clock] == "approved" and reviews[rows[1].takes[0].take_id] == "retake"

    with pytest.raises(NotFoundError, match="no take 'no-such-take'"):
        handle.approve("no-such-take")
