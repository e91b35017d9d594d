"""Reads: the project, its scenes, beats, takes, receipts, notes and the cut's beat list.

The reads the page makes on every load (the project, its scenes, a beat, a
take, its notes) run on the event loop while the catalog in memory is
current, and go to a thread only to read it again (or, for a take, to read its
sidecars): a thread for each would cost more than the read. The JSON of every
scene is made once per catalog.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response
from pydantic import TypeAdapter
from starlette.concurrency import run_in_threadpool

from recoil.errors import NotFoundError, did_you_mean
from recoil.production.catalog import BeatView, Catalog, TakeView
from recoil.production.export import CUT_NAME
from recoil.records import codec
from recoil.server.app import Served
from recoil.server.routes import State
from recoil.server.routes.shapes import (
    beat_json,
    note_json,
    project_json,
    take_detail_json,
)

router = APIRouter(prefix="/api", tags=["project"])

Scenes = list[dict[str, Any]]
_SCENES = TypeAdapter(Scenes)
_TAKE = TypeAdapter(dict[str, Any])
"""How FastAPI would write the scenes: the same bytes, made once per catalog."""


async def _catalog(state: Served) -> Catalog:
    """The current catalog: from memory if the files are unchanged, else read in a thread."""
    catalog = state.catalog.current()
    return catalog if catalog is not None else await run_in_threadpool(state.catalog.get)


def _beat(catalog: Catalog, beat_id: str) -> BeatView:
    beat = catalog.beat(beat_id)
    if beat is None:
        known = [b.beat_id for b in catalog.beats()]
        raise NotFoundError(f"no beat {beat_id!r} in this project{did_you_mean(beat_id, known)}")
    return beat


def _take(catalog: Catalog, take_id: str) -> TakeView:
    take = catalog.take(take_id)
    if take is None:
        known = [t.take_id for b in catalog.beats() for t in b.takes]
        raise NotFoundError(f"no take {take_id!r} in this project{did_you_mean(take_id, known)}")
    return take


@router.get("/project")
async def read_project(state: State) -> dict[str, Any]:
    """The project: title, format, primary strategy, counts, cost, and the page's run."""
    catalog = await _catalog(state)
    return {**project_json(catalog), "run": run_json(state)}


@router.get("/scenes", response_model=Scenes)
async def read_scenes(state: State) -> Response:
    """Every scene with its beats and their takes, in scene order."""
    body = (await _catalog(state)).memo("scenes.json", _scenes_json)
    return Response(content=body, media_type="application/json")


def _scenes_json(catalog: Catalog) -> bytes:
    scenes = [
        {
            "scene_id": scene.scene_id,
            "title": scene.title,
            "beats": [beat_json(beat) for beat in scene.beats],
        }
        for scene in catalog.scenes
    ]
    return _SCENES.dump_json(_SCENES.validate_python(scenes))


@router.get("/beats/{beat_id}")
async def read_beat(beat_id: str, state: State) -> dict[str, Any]:
    """One beat with its takes."""
    return beat_json(_beat(await _catalog(state), beat_id))


@router.get("/takes/{take_id}", response_model=dict[str, Any])
async def read_take(take_id: str, state: State) -> Response:
    """One take with its steps, every attempt's receipt and its provenance sidecars."""
    catalog = await _catalog(state)
    take = _take(catalog, take_id)
    # A take's sidecars are written once with their files, so its JSON holds as long as
    # the catalog does: made once (reading the sidecars in a thread), then from memory.
    name = f"take:{take_id}.json"
    body = catalog.memoized(name)
    if not isinstance(body, bytes):
        body = await run_in_threadpool(
            catalog.memo, name, lambda _: _TAKE.dump_json(take_detail_json(take, state.project))
        )
    return Response(content=body, media_type="application/json")


@router.get("/takes/{take_id}/receipts")
def read_take_receipts(take_id: str, state: State) -> list[dict[str, Any]]:
    """Every receipt of a take's steps, oldest first."""
    take = _take(state.catalog.get(), take_id)
    attempts = sorted(
        (receipt for step in take.steps for receipt in step.attempts),
        key=lambda receipt: receipt.started_us,
    )
    return [codec.encode(receipt) for receipt in attempts]


@router.get("/takes/{take_id}/notes")
async def read_take_notes(take_id: str, state: State) -> list[dict[str, Any]]:
    """A take's review notes, oldest first."""
    return [note_json(note) for note in _take(await _catalog(state), take_id).notes]


@router.get("/receipts")
def read_receipts(
    state: State,
    limit: int = Query(200, ge=1, le=10_000, description="At most this many, newest last."),
) -> list[dict[str, Any]]:
    """The latest receipts of the project's takes (every attempt), newest last."""
    catalog = state.catalog.get()
    found = [
        receipt
        for beat in catalog.beats()
        for take in beat.takes
        for step in take.steps
        for receipt in step.attempts
    ]
    found.sort(key=lambda receipt: receipt.started_us)
    return [codec.encode(receipt) for receipt in found[-limit:]]


@router.get("/cut")
def read_cut(state: State) -> dict[str, Any]:
    """The cut: where its MP4 is served and where each beat starts in it."""
    catalog = state.catalog.get()
    start = 0.0
    beats = []
    for beat in catalog.beats():
        if not beat.enabled:
            continue
        beats.append(
            {
                "scene_id": beat.scene_id,
                "beat_id": beat.beat_id,
                "title": beat.title,
                "start_s": start,
                "duration_s": beat.duration_s,
                "take_id": beat.primary_take_id,
            }
        )
        start += beat.duration_s
    cut = state.exports / CUT_NAME
    return {
        "url": "/cut.mp4" if cut.is_file() else None,
        "fps": catalog.fps,
        "duration_s": start,
        "beats": beats,
        "export": {
            "exports": state.exporter.state.exports,
            "running": state.exporter.state.running,
            "error": state.exporter.state.error,
        },
    }


def run_json(state: Served) -> dict[str, Any]:
    """The page's run as JSON."""
    run = state.runs.state
    return {
        "run_id": run.run_id,
        "phase": run.phase,
        "active": run.active,
        "total": run.total,
        "done": run.done,
        "failed": run.failed,
        "cost": run.cost,
        "last": run.last,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "summary": run.summary,
        "error": run.error,
    }
