"""The catalog: the project as a reviewer reads it, and a cache that follows every change."""

from __future__ import annotations

from pathlib import Path

from recoil.production.catalog import CatalogCache, load_catalog, sidecar
from recoil.production.review import approve, note, reject
from recoil.production.run import RunOptions, run_production_sync
from tests.helpers import beat, shotlist, write_project


def _project(tmp_path: Path) -> Path:
    text = shotlist(
        {"one": [beat("door", "a door opens", says="who is there"), beat("hall", "a hall")]},
        title="Door",
        provider="fake",
        takes_per_beat=2,
    )
    project = write_project(tmp_path / "door", text)
    outcome = run_production_sync(project, RunOptions(evaluate=False))
    assert outcome.exit_code == 0, outcome.failures
    return project


def test_every_beat_take_media_and_receipt(tmp_path: Path) -> None:
    project = _project(tmp_path)
    catalog = load_catalog(project)
    assert catalog.title == "Door"
    assert [b.beat_id for b in catalog.beats()] == ["door", "hall"]
    door = catalog.beat("door")
    assert door is not None and len(door.takes) == 2
    first = door.takes[0]
    assert first.primary and door.primary_take_id == first.take_id
    assert set(first.media) == {"keyframe", "video", "audio"}
    keyframe = first.media["keyframe"]
    assert keyframe.mime == "image/png" and len(keyframe.sha256) == 64
    assert [s.step_id for s in first.steps] == ["keyframe", "video", "audio"]
    assert all(len(s.attempts) == 1 and s.attempts[0].succeeded for s in first.steps)
    assert first.steps[0].prompt and first.steps[0].provider == "fake"
    found = sidecar(project, keyframe)
    assert found is not None and found["receipt_id"] == keyframe.receipt_id
    assert catalog.take("nope") is None and catalog.beat("nope") is None


def test_the_cache_reads_again_after_each_decision(tmp_path: Path) -> None:
    project = _project(tmp_path)
    cache = CatalogCache(project)
    before = cache.get()
    assert cache.get() is before  # nothing changed: the same catalog
    second = before.beats()[0].takes[1].take_id
    approve(project, second)
    after = cache.get()
    assert after is not before
    take = after.take(second)
    assert take is not None and take.primary and take.review.value == "approved"

    note(project, second, text="the door creaks", frame=3, author="ed")
    noted = cache.get().take(second)
    assert noted is not None
    assert [(n.author, n.text, n.frame) for n in noted.notes] == [("ed", "the door creaks", 3)]
    assert noted.review.value == "approved"  # a note leaves the decision as it was

    queued = reject(project, second, note="too dark", frame=5, author="ed")
    rejected = cache.get()
    door = rejected.beat("door")
    assert door is not None and door.takes[-1].take_id == queued.take_id
    assert door.takes[-1].status == "pending" and door.takes[-1].retake_of == second


def test_a_take_chained_from_a_frame_no_longer_used_reads_as_stale(tmp_path: Path) -> None:
    text = shotlist(
        {"one": [beat("door", "a door opens"), beat("hall", "a hall", chain_from_previous=True)]},
        title="Door",
        provider="fake",
        takes_per_beat=2,
    )
    project = write_project(tmp_path / "door", text)
    assert run_production_sync(project, RunOptions(evaluate=False)).exit_code == 0

    approve(project, "door-t02")

    hall = load_catalog(project).beat("hall")
    assert hall is not None
    stale = {t.take_id: t.stale for t in hall.takes}
    assert stale["hall-t01"] == "chained from door-t01; door's primary is now door-t02"
    assert stale["hall-t02"] and stale["hall-t03"] is None
