"""Review: approve, reject and retake takes; the project's status at a glance.

Approving a take makes it the beat's primary (until another approval).
Every decision and note is a ``review`` record in the receipt log, so it
survives the store being deleted.
Rejecting marks the take ``retake`` with the note and queues a new take of its
beat; a rejected take is never chosen as primary automatically. A retake
queues a new take with a new seed; all new takes run on the next ``recoil run``.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recoil.errors import StateError, ValidationError
from recoil.model.ids import utc_now_iso
from recoil.model.take import Beat, Project, Take, TakeStatus
from recoil.production.folder import Production, open_production, open_store
from recoil.production.plan import add_take, beat_workflow, fingerprint, plan_project
from recoil.production.primaries import choose_project_primaries, score_lookup
from recoil.production.staleness import STALE
from recoil.store import ProjectStore, ReviewNote, ReviewStatus
from recoil.store.lock import editing


@dataclass(slots=True)
class _Session:
    production: Production
    store: ProjectStore
    project: Project

    def beat_of(self, take_id: str) -> tuple[Beat, Take]:
        for beat in self.project.beats():
            for take in beat.takes:
                if take.take_id == take_id:
                    return beat, take
        known = [t.take_id for b in self.project.beats() for t in b.takes]
        from recoil.errors import NotFoundError, did_you_mean

        raise NotFoundError(f"no take {take_id!r} in this project{did_you_mean(take_id, known)}")

    def queue_take(self, beat: Beat, **metadata: Any) -> Take:
        scene_spec, spec = self.production.shotlist.beat(beat.beat_id)
        template = beat_workflow(self.production.shotlist, scene_spec, spec, self.production.path)
        return add_take(beat, template, fingerprint(template), **metadata)


@contextmanager
def _session(path: Path, command: str) -> Iterator[_Session]:
    """The project, planned, under its edit lock: a run in progress keeps running, and
    the take queued here and the run's own saves cannot interleave."""
    production = open_production(path)
    with open_store(production) as store, editing(path, command=command):
        project = plan_project(production.shotlist, store.load_project(), base=path)
        yield _Session(production, store, project)
        choose_project_primaries(production, project, store)
        store.save_project(project)


def _said(note: ReviewNote) -> str:
    """``author: text``, with ``[frame N]`` after the author for a note pinned to a frame."""
    frame = "" if note.frame is None else f" [frame {note.frame}]"
    return f"{note.author}{frame}: {note.text}"


def _author(author: str | None) -> str:
    return author or getpass.getuser()


def _note(text: str | None, author: str | None, frame: int | None) -> ReviewNote | None:
    if not text:
        return None
    return ReviewNote(author=_author(author), text=text, created_at=utc_now_iso(), frame=frame)


def approve(
    path: Path, take_id: str, *, note: str | None = None, author: str | None = None
) -> Take:
    """Approve a succeeded take and make it its beat's primary."""
    with _session(path, "recoil approve") as s:
        _, take = s.beat_of(take_id)
        if take.status is not TakeStatus.SUCCEEDED:
            raise StateError(
                f"take {take_id!r} is {take.status.value}; only a succeeded take can be approved"
            )
        s.store.set_review(
            take_id, ReviewStatus.APPROVED, _note(note, author, None), author=_author(author)
        )
        return take


def reject(
    path: Path,
    take_id: str,
    *,
    note: str,
    author: str | None = None,
    frame: int | None = None,
) -> Take:
    """Mark a take ``retake`` with a note; queue a new take of its beat (returned)."""
    with _session(path, "recoil reject") as s:
        beat, _ = s.beat_of(take_id)
        s.store.set_review(
            take_id, ReviewStatus.RETAKE, _note(note, author, frame), author=_author(author)
        )
        return s.queue_take(beat, retake_of=take_id, note=note)


def note(
    path: Path,
    take_id: str,
    *,
    text: str,
    author: str | None = None,
    frame: int | None = None,
) -> ReviewNote:
    """Add a note to a take (pinned to ``frame`` if given); its review status stays."""
    if not text.strip():
        raise ValidationError("a note needs text")
    if frame is not None and frame < 0:
        raise ValidationError(f"a note's frame must be >= 0, got {frame}")
    with _session(path, "recoil note") as s:
        s.beat_of(take_id)
        written = ReviewNote(
            author=_author(author), text=text, created_at=utc_now_iso(), frame=frame
        )
        s.store.set_review(take_id, None, written, author=written.author)
        return written


def retake(path: Path, beat_id: str, *, note: str | None = None) -> Take:
    """Queue one more take of a beat (a new seed); it runs on the next ``recoil run``."""
    with _session(path, "recoil retake") as s:
        beat = s.project.beat(beat_id)
        if not beat.beat_metadata.get("enabled", True):
            raise StateError(f"beat {beat_id!r} is disabled in the shot list; enable it first")
        metadata = {"note": note} if note else {}
        return s.queue_take(beat, **metadata)


@dataclass(slots=True, kw_only=True)
class TakeRow:
    """One take in ``recoil status``."""

    take_id: str
    status: str
    review: str
    primary: bool
    cost: float
    notes: list[str] = field(default_factory=list)
    score: float | None = None
    """The take's aggregate score (``[evals.weights]``); ``None`` when unscored."""
    stale: str | None = None
    """Why the take is stale (chained from a frame its source no longer uses), if it is."""


@dataclass(slots=True, kw_only=True)
class BeatRow:
    """One beat in ``recoil status``."""

    scene_id: str
    beat_id: str
    enabled: bool
    primary_take_id: str | None
    takes: list[TakeRow]


def _text(value: object) -> str | None:
    return str(value) if value else None


def status(path: Path) -> list[BeatRow]:
    """Every beat with its takes' run and review status, the primary and the cost."""
    production = open_production(path)
    with open_store(production) as store:
        project = plan_project(production.shotlist, store.load_project(), base=path)
        reviews = store.reviews()
        choose_project_primaries(production, project, store)
        scores = score_lookup(store)
    weights = production.settings.evals.weights
    rows: list[BeatRow] = []
    for scene in project.scenes:
        for beat in scene.beats:
            if beat.beat_metadata.get("removed"):
                continue
            takes = []
            for take in beat.takes:
                review, notes = reviews.get(take.take_id, (ReviewStatus.PENDING, []))
                takes.append(
                    TakeRow(
                        take_id=take.take_id,
                        status=take.status.value,
                        review=review.value,
                        primary=take.take_id == beat.primary_take_id,
                        cost=sum(r.cost.amount for r in take.receipts()),
                        notes=[_said(n) for n in notes],
                        score=take.score(weights, scores),
                        stale=_text(take.take_metadata.get(STALE)),
                    )
                )
            rows.append(
                BeatRow(
                    scene_id=scene.scene_id,
                    beat_id=beat.beat_id,
                    enabled=bool(beat.beat_metadata.get("enabled", True)),
                    primary_take_id=beat.primary_take_id,
                    takes=takes,
                )
            )
    return rows
