"""The JSON shapes of the catalog: what the page and API clients read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recoil.model.review import ReviewNote
from recoil.production.catalog import BeatView, Catalog, Media, TakeView, sidecar
from recoil.records import codec


def media_url(media: Media) -> str:
    """Where the server serves ``media``: by its hash, never by a path."""
    return f"/media/{media.name}"


def note_json(note: ReviewNote) -> dict[str, Any]:
    """A review note."""
    return {
        "author": note.author,
        "text": note.text,
        "created_at": note.created_at,
        "frame": note.frame,
    }


def take_json(take: TakeView) -> dict[str, Any]:
    """A take as listed in its beat."""
    return {
        "take_id": take.take_id,
        "scene_id": take.scene_id,
        "beat_id": take.beat_id,
        "take_index": take.take_index,
        "seed": take.seed,
        "status": take.status,
        "review": take.review.value,
        "primary": take.primary,
        "cost": take.cost,
        "score": take.score,
        "scores": dict(take.scores),
        "notes": [note_json(note) for note in take.notes],
        "media": {
            label: {"url": media_url(m), "mime": m.mime, "sha256": m.sha256}
            for label, m in take.media.items()
        },
        "prompt": next((s.prompt for s in take.steps if s.prompt), ""),
        "retake_of": take.retake_of,
        "note": take.note,
        "stale": take.stale,
    }


def take_detail_json(take: TakeView, project: Path) -> dict[str, Any]:
    """A take with its steps, every attempt's receipt and the media's provenance sidecars."""
    return {
        **take_json(take),
        "steps": [
            {
                "step_id": step.step_id,
                "modality": step.modality,
                "status": step.status,
                "error": step.error,
                "prompt": step.prompt,
                "seed": step.seed,
                "provider": step.provider,
                "model": step.model,
                "attempts": [codec.encode(receipt) for receipt in step.attempts],
            }
            for step in take.steps
        ],
        "sidecars": {label: sidecar(project, m) for label, m in take.media.items()},
    }


def beat_json(beat: BeatView) -> dict[str, Any]:
    """A beat with its takes."""
    return {
        "scene_id": beat.scene_id,
        "beat_id": beat.beat_id,
        "title": beat.title,
        "duration_s": beat.duration_s,
        "enabled": beat.enabled,
        "primary_take_id": beat.primary_take_id,
        "takes": [take_json(take) for take in beat.takes],
    }


def project_json(catalog: Catalog) -> dict[str, Any]:
    """The project's header: title, format, strategy, counts and cost."""
    beats = catalog.beats()
    return {
        "title": catalog.title,
        "fps": catalog.fps,
        "width": catalog.width,
        "height": catalog.height,
        "currency": catalog.currency,
        "primary_strategy": catalog.primary_strategy,
        "scenes": len(catalog.scenes),
        "beats": len(beats),
        "takes": sum(len(beat.takes) for beat in beats),
        "cost": catalog.cost,
        "notes": list(catalog.notes),
    }
