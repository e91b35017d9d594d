"""Review status and notes per take."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from recoil.errors import NotFoundError, ValidationError
from recoil.model.receipt import ReviewRecord
from recoil.model.take import Project
from recoil.records import codec
from recoil.records.log import read_records
from recoil.store import ProjectStore, ReviewNote, ReviewStatus, schema

OpenStore = Callable[..., ProjectStore]


def note(text: str, frame: int | None = None) -> ReviewNote:
    return ReviewNote(author="dana", text=text, created_at="2025-01-02T03:04:05+00:00", frame=frame)


def test_a_take_starts_pending_and_keeps_every_note(open_store: OpenStore, film: Project) -> None:
    store = open_store()
    store.save_project(film)
    take_id = film.scenes[0].beats[0].takes[0].take_id
    assert store.review(take_id) == (ReviewStatus.PENDING, [])

    store.set_review(take_id, ReviewStatus.RETAKE, note("too dark", frame=12))
    store.set_review(take_id, ReviewStatus.APPROVED, note("better"))
    store.set_review(take_id, ReviewStatus.APPROVED)
    assert store.review(take_id) == (
        ReviewStatus.APPROVED,
        [note("too dark", frame=12), note("better")],
    )


def test_reviews_lists_every_take(open_store: OpenStore, film: Project) -> None:
    store = open_store()
    store.save_project(film)
    take_ids = [t.take_id for beat in film.beats() for t in beat.takes]
    store.set_review(take_ids[1], ReviewStatus.RETAKE, note("again"))
    reviews = store.reviews()
    assert sorted(reviews) == sorted(take_ids)
    assert reviews[take_ids[1]] == (ReviewStatus.RETAKE, [note("again")])
    assert reviews[take_ids[0]] == (ReviewStatus.PENDING, [])


def test_reviews_survive_saving_the_take_again(open_store: OpenStore, film: Project) -> None:
    store = open_store()
    store.save_project(film)
    beat = film.scenes[0].beats[0]
    store.set_review(beat.takes[0].take_id, "approved")  # type: ignore[arg-type]
    store.save_take("sc0", beat.beat_id, beat.takes[0])
    store.save_project(film)
    assert store.review(beat.takes[0].take_id)[0] is ReviewStatus.APPROVED


def test_reviewing_an_unknown_take_names_it(open_store: OpenStore) -> None:
    store = open_store()
    with pytest.raises(NotFoundError, match="no take 'ghost'"):
        store.set_review("ghost", ReviewStatus.APPROVED)
    with pytest.raises(NotFoundError, match="no take 'ghost'"):
        store.review("ghost")


def test_review_note_round_trips_and_checks_its_frame() -> None:
    pinned = note("flicker here", frame=3)
    assert codec.parse(ReviewNote, codec.plain(pinned)) == pinned
    with pytest.raises(ValidationError, match="frame"):
        note("bad", frame=-1)


def test_review_decisions_are_log_records_that_outlive_the_store(
    open_store: OpenStore, film: Project
) -> None:
    store = open_store()
    store.save_project(film)
    first, second = film.scenes[0].beats[0].takes
    store.set_review(first.take_id, ReviewStatus.APPROVED)
    store.set_review(second.take_id, ReviewStatus.APPROVED, note("the better one"))
    store.set_review(first.take_id, ReviewStatus.RETAKE, note("soft focus", frame=3))
    before = store.reviews(), store.approvals()
    store.purge()
    assert store.reconcile() > 0
    assert (store.reviews(), store.approvals()) == before
    assert store.approvals() == {film.scenes[0].beats[0].beat_id: second.take_id}
    assert store.load_project() is not None  # the takes come back from their records


def test_an_older_stores_review_tables_move_into_the_log(
    open_store: OpenStore, film: Project, project_dir: Path
) -> None:
    """Schema 2 kept decisions only in tables; opening moves them into the receipt log."""
    store = open_store()
    store.save_project(film)
    take_id = film.scenes[0].beats[0].takes[1].take_id
    with store._db.write() as conn:  # what a schema-2 store held
        schema.legacy.create_all(conn)
        conn.execute(
            schema.legacy_reviews.insert(),
            [
                {
                    "project_id": store.project_id,
                    "take_id": take_id,
                    "status": "approved",
                    "updated_at": "2025-01-01T00:00:00+00:00",
                }
            ],
        )
        conn.execute(
            schema.legacy_notes.insert(),
            [
                {
                    "project_id": store.project_id,
                    "take_id": take_id,
                    "author": "dana",
                    "text": "keep",
                    "created_at": "2025-01-01T00:00:00+00:00",
                    "frame": 4,
                }
            ],
        )
    store.close()

    reopened = open_store()
    status, notes = reopened.review(take_id)
    assert status is ReviewStatus.APPROVED and [n.text for n in notes] == ["keep"]
    logged = [
        r for r in read_records(project_dir / "receipts.jsonl") if isinstance(r, ReviewRecord)
    ]
    assert len(logged) == 2
    reopened.purge()  # the decisions now outlive the store
    reopened.reconcile()
    assert reopened.review(take_id)[0] is ReviewStatus.APPROVED
