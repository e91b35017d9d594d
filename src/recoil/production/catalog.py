"""The project as a reviewer reads it: scenes, beats, takes, their media, receipts and notes.

:func:`load_catalog` is the read side of the review server (and of anything
that shows a project): every beat of the shot list in scene order, each take
with its run and review status, the primary as the project's strategy
chooses it, scores, cost, the media its steps made (named by content hash,
never by a path) and every receipt of every attempt. Nothing is written.

A catalog is read whole from the store and the receipt log; :class:`CatalogCache`
keeps the last one while the files it was read from are unchanged, so a page
of hundreds of takes is answered from memory until something changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, TypeVar

from recoil.model.context import ARTIFACTS_DIR
from recoil.model.receipt import Artifact, Receipt
from recoil.model.review import ReviewNote, ReviewStatus
from recoil.model.take import Beat, Take
from recoil.production.folder import open_production, open_store
from recoil.production.plan import plan_project
from recoil.production.primaries import choose_project_primaries, score_lookup
from recoil.production.staleness import STALE
from recoil.records.artifacts import ArtifactStore
from recoil.records.provenance import read_sidecar, sidecar_path
from recoil.store.project_db import RECEIPTS_FILE

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Media:
    """A file a step made, named by its content hash (``<sha256>.<ext>``)."""

    sha256: str
    ext: str
    mime: str
    step_id: str
    receipt_id: str

    @property
    def name(self) -> str:
        """``<sha256>.<ext>``, the file's name in the artifact store."""
        return f"{self.sha256}.{self.ext}"


@dataclass(frozen=True, slots=True, kw_only=True)
class StepView:
    """One step of a take: its status, its request and every attempt's receipt."""

    step_id: str
    modality: str
    status: str
    error: str | None
    prompt: str
    seed: int | None
    provider: str | None
    model: str | None
    attempts: tuple[Receipt, ...]
    """Every receipt of this step, oldest first (failed attempts, retries, cache hits)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TakeView:
    """One take as a reviewer sees it."""

    take_id: str
    scene_id: str
    beat_id: str
    take_index: int
    seed: int | None
    status: str
    review: ReviewStatus
    notes: tuple[ReviewNote, ...]
    primary: bool
    cost: float
    score: float | None
    scores: Mapping[str, float]
    """``step.scorer`` -> score in [0, 1]."""
    media: Mapping[str, Media]
    """``keyframe``, ``video``, ``audio`` -> the file shown for it."""
    steps: tuple[StepView, ...]
    retake_of: str | None = None
    note: str | None = None
    """What the take was queued to change (a rejection's or a retake's note)."""
    stale: str | None = None
    """Why the take is stale (chained from a frame its source no longer uses), if it is."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BeatView:
    """One beat: its shot-list fields and its takes in take order."""

    scene_id: str
    beat_id: str
    title: str
    duration_s: float
    enabled: bool
    primary_take_id: str | None
    takes: tuple[TakeView, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SceneView:
    """One scene and its beats."""

    scene_id: str
    title: str
    beats: tuple[BeatView, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Catalog:
    """The whole project for review."""

    title: str
    fps: float
    width: int
    height: int
    currency: str
    primary_strategy: str
    scenes: tuple[SceneView, ...]
    notes: tuple[str, ...] = ()
    """How primaries were chosen where it needs saying (unscored takes passed over)."""
    _takes: dict[str, TakeView] = field(default_factory=dict, repr=False, compare=False)
    _beats: dict[str, BeatView] = field(default_factory=dict, repr=False, compare=False)
    _memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for scene in self.scenes:
            for beat in scene.beats:
                self._beats[beat.beat_id] = beat
                self._takes.update((take.take_id, take) for take in beat.takes)

    def beats(self) -> list[BeatView]:
        """Every beat in scene order."""
        return [beat for scene in self.scenes for beat in scene.beats]

    def beat(self, beat_id: str) -> BeatView | None:
        """The beat ``beat_id``, or ``None``."""
        return self._beats.get(beat_id)

    def take(self, take_id: str) -> TakeView | None:
        """The take ``take_id``, or ``None``."""
        return self._takes.get(take_id)

    @property
    def cost(self) -> float:
        """What every take cost together."""
        return sum(take.cost for take in self._takes.values())

    def memo(self, name: str, make: Callable[[Catalog], T]) -> T:
        """``make(self)``, made once for this catalog and kept with it as ``name``.

        A catalog never changes, so what is derived from it whole (the JSON of
        every scene) need not be derived again while the cache hands out this
        one. Two threads asking at once may both make it; one answer is kept.
        """
        if name not in self._memo:
            self._memo.setdefault(name, make(self))
        found: T = self._memo[name]
        return found

    def memoized(self, name: str) -> object | None:
        """What :meth:`memo` keeps as ``name``, if it was made already."""
        return self._memo.get(name)


def load_catalog(path: Path) -> Catalog:
    """Read the project at ``path`` for review (nothing is written)."""
    production = open_production(path)
    with open_store(production) as store:
        project = plan_project(production.shotlist, store.load_project(), base=path)
        notes = choose_project_primaries(production, project, store)
        reviews = store.reviews()
        scores = score_lookup(store)
        attempts: dict[tuple[str, str], list[Receipt]] = {}
        for receipt in store.receipts():
            key = (str(receipt.provenance.get("take_id", "")), _step_of(receipt))
            attempts.setdefault(key, []).append(receipt)
    weights = production.settings.evals.weights
    scenes = []
    for scene in project.scenes:
        if scene.scene_metadata.get("removed"):
            continue
        beats = []
        for beat in scene.beats:
            if beat.beat_metadata.get("removed"):
                continue
            takes = tuple(
                _take_view(
                    scene.scene_id,
                    beat,
                    take,
                    review=reviews.get(take.take_id, (ReviewStatus.PENDING, [])),
                    score=take.score(weights, scores),
                    scores={
                        f"{step.step_id}.{name}": value
                        for step in take.workflow.steps
                        if step.receipt is not None and step.receipt.succeeded
                        for name, value in scores(step.receipt).items()
                    },
                    attempts=attempts,
                )
                for take in beat.takes
            )
            beats.append(_beat_view(scene.scene_id, beat, takes))
        title = str(scene.scene_metadata.get("title") or "")
        scenes.append(SceneView(scene_id=scene.scene_id, title=title, beats=tuple(beats)))
    settings = project.settings
    return Catalog(
        title=project.name,
        fps=float(settings.get("fps", 24.0)),
        width=int(settings.get("width", 640)),
        height=int(settings.get("height", 360)),
        currency=production.settings.run.currency,
        primary_strategy=str(settings.get("primary_strategy", "first_success")),
        scenes=tuple(scenes),
        notes=tuple(notes),
    )


def sidecar(path: Path, media: Media) -> dict[str, Any] | None:
    """The provenance sidecar beside ``media``'s file in the project, if it has one."""
    file = ArtifactStore(path / ARTIFACTS_DIR).path_for(media.sha256, media.ext)
    return read_sidecar(file) if sidecar_path(file).is_file() else None


class CatalogCache:
    """The last catalog of one project, read again only when its files changed.

    The key is the size and modification time of the receipt log (every run,
    decision and note appends to it), the shot list and ``recoil.toml``, and
    the store's own files.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._last: tuple[tuple[object, ...], Catalog] | None = None
        """The stamp of the files and the catalog read from them, set together."""

    def get(self) -> Catalog:
        """The current catalog (read now if anything changed since the last one)."""
        with self._lock:
            key = self._stamp()
            if self._last is None or key != self._last[0]:
                self._last = (key, load_catalog(self.path))
            return self._last[1]

    def current(self) -> Catalog | None:
        """The last catalog if the files are unchanged since it was read, else ``None``.

        Never reads a catalog nor waits for one being read (a few ``stat`` calls
        only), so an event loop may ask; on ``None``, :meth:`get` (in a thread)
        reads it.
        """
        last = self._last
        return last[1] if last is not None and self._stamp() == last[0] else None

    def _stamp(self) -> tuple[object, ...]:
        stamps: list[object] = []
        for child in sorted(self.path.iterdir()):
            if child.is_file() and not child.name.startswith(".recoil-"):
                info = child.stat()
                stamps.append((child.name, info.st_size, info.st_mtime_ns))
        log = self.path / RECEIPTS_FILE
        stamps.append(log.stat().st_size if log.exists() else -1)
        return tuple(stamps)


def _step_of(receipt: Receipt) -> str:
    return str(receipt.provenance.get("workflow_step_id", receipt.modality))


def _beat_view(scene_id: str, beat: Beat, takes: tuple[TakeView, ...]) -> BeatView:
    meta = beat.beat_metadata
    return BeatView(
        scene_id=scene_id,
        beat_id=beat.beat_id,
        title=str(meta.get("caption", "")),
        duration_s=float(meta.get("duration_s", 4.0)),
        enabled=bool(meta.get("enabled", True)),
        primary_take_id=beat.primary_take_id,
        takes=takes,
    )


def _take_view(
    scene_id: str,
    beat: Beat,
    take: Take,
    *,
    review: tuple[ReviewStatus, list[ReviewNote]],
    score: float | None,
    scores: dict[str, float],
    attempts: Mapping[tuple[str, str], list[Receipt]],
) -> TakeView:
    steps = tuple(_step_view(take, step_id, attempts) for step_id in _step_ids(take))
    meta = take.take_metadata
    return TakeView(
        take_id=take.take_id,
        scene_id=scene_id,
        beat_id=beat.beat_id,
        take_index=take.take_index,
        seed=take.seed,
        status=take.status.value,
        review=review[0],
        notes=tuple(review[1]),
        primary=take.take_id == beat.primary_take_id,
        cost=sum(r.cost.amount for step in steps for r in step.attempts),
        score=score,
        scores=scores,
        media=_media(take),
        steps=steps,
        retake_of=_optional(meta.get("retake_of")),
        note=_optional(meta.get("note")),
        stale=_optional(meta.get(STALE)),
    )


def _step_ids(take: Take) -> list[str]:
    return [step.step_id for step in take.workflow.steps]


def _step_view(
    take: Take, step_id: str, attempts: Mapping[tuple[str, str], list[Receipt]]
) -> StepView:
    step = take.workflow.step(step_id)
    request = step.receipt.request if step.receipt is not None else step.payload
    found = tuple(attempts.get((take.take_id, step_id), ()))
    latest = step.receipt
    return StepView(
        step_id=step_id,
        modality=step.modality,
        status=step.status.value,
        error=step.error,
        prompt=latest.prompt if latest is not None else str(request.get("prompt", "")),
        seed=latest.seed if latest is not None else take.seed,
        provider=latest.provider if latest is not None else None,
        model=latest.model if latest is not None else None,
        attempts=found,
    )


def _media(take: Take) -> dict[str, Media]:
    """The keyframe, the clip (the upscaled one if there is one) and the dialogue."""
    found: dict[str, Media] = {}
    for label, step_id, kind in _SHOWN:
        step = next((s for s in take.workflow.steps if s.step_id == step_id), None)
        if step is None or step.receipt is None or not step.receipt.succeeded:
            continue
        artifact = _first_of(step.receipt.artifacts, kind)
        if artifact is not None:
            found[label] = Media(
                sha256=artifact.sha256,
                ext=PurePath(artifact.path).suffix[1:],
                mime=artifact.mime,
                step_id=step_id,
                receipt_id=step.receipt.receipt_id,
            )
    return found


_SHOWN = (
    ("keyframe", "keyframe", "image"),
    ("video", "video", "video"),
    ("video", "upscale", "video"),  # an upscaled clip replaces the clip it was made from
    ("audio", "audio", "audio"),
)
"""(what it is shown as, the step that makes it, its media type)."""


def _first_of(artifacts: Mapping[str, Artifact], kind: str) -> Artifact | None:
    return next((a for a in artifacts.values() if a.mime.startswith(f"{kind}/")), None)


def _optional(value: object) -> str | None:
    return None if value is None else str(value)
