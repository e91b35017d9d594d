"""Writes on takes: approve, reject with a note, a frame-pinned note, a retake; re-export.

Each is the library's own function (:mod:`recoil.production.review`), so a
decision here is the same record ``recoil approve`` would write, visible at
once in ``recoil status``; the exports follow in the background.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from recoil.production import review
from recoil.server.routes import State, Writer
from recoil.server.routes.shapes import note_json

router = APIRouter(prefix="/api", tags=["review"], dependencies=[Writer])

_TEXT = 10_000
_AUTHOR = 200


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Approval(_Body):
    """An approval, optionally with a note."""

    note: str | None = Field(None, max_length=_TEXT)
    author: str | None = Field(None, min_length=1, max_length=_AUTHOR)


class Rejection(_Body):
    """A rejection: what to change, optionally on which frame."""

    note: str = Field(..., min_length=1, max_length=_TEXT)
    frame: int | None = Field(None, ge=0, le=10_000_000)
    author: str | None = Field(None, min_length=1, max_length=_AUTHOR)


class Note(_Body):
    """A note on a take, optionally pinned to a frame."""

    text: str = Field(..., min_length=1, max_length=_TEXT)
    frame: int | None = Field(None, ge=0, le=10_000_000)
    author: str | None = Field(None, min_length=1, max_length=_AUTHOR)


class Retake(_Body):
    """One more take of a beat."""

    note: str | None = Field(None, max_length=_TEXT)


@router.post("/takes/{take_id}/approve")
def approve_take(take_id: str, body: Approval, state: State) -> dict[str, Any]:
    """Approve a succeeded take: it becomes its beat's primary."""
    take = review.approve(state.project, take_id, note=body.note, author=body.author)
    state.exporter.request()
    return {"take_id": take.take_id, "review": "approved", "primary": True}


@router.post("/takes/{take_id}/reject")
def reject_take(take_id: str, body: Rejection, state: State) -> dict[str, Any]:
    """Mark a take ``retake`` with its reason; a new take of its beat is queued."""
    queued = review.reject(
        state.project, take_id, note=body.note, author=body.author, frame=body.frame
    )
    state.exporter.request()
    return {"take_id": take_id, "review": "retake", "queued": queued.take_id}


@router.post("/takes/{take_id}/notes", status_code=201)
def add_note(take_id: str, body: Note, state: State) -> dict[str, Any]:
    """Add a note to a take (its review status stays as it is)."""
    written = review.note(
        state.project, take_id, text=body.text, author=body.author, frame=body.frame
    )
    state.exporter.request()
    return note_json(written)


@router.post("/beats/{beat_id}/retake", status_code=201)
def retake_beat(beat_id: str, body: Retake, state: State) -> dict[str, Any]:
    """Queue one more take of a beat (a new seed); the next run makes it."""
    take = review.retake(state.project, beat_id, note=body.note)
    return {"beat_id": beat_id, "queued": take.take_id, "seed": take.seed}


@router.post("/export")
def export_cut(state: State) -> dict[str, Any]:
    """Export the cut, the timeline and the contact sheet now."""
    result = state.exporter.export_now()
    return {
        "written": result.written,
        "missing": list(result.missing),
        "outputs": [path.name for path in result.outputs],
    }
