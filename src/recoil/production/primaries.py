"""The edit: which take of each beat is primary, and the export model built from it.

Primary choice per beat, in order: a take a person approved (the latest
approval wins, as the review records in the receipt log say); otherwise the
project's strategy over the succeeded takes a person has not sent back for a
retake, preferring takes of the beat's current version. ``score`` falls back
to ``first_success`` when no take has scores yet, and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from recoil.errors import SelectionError
from recoil.export import BeatCut, Edit, ReviewNote, TakeMedia
from recoil.model.receipt import Artifact, Receipt
from recoil.model.take import Beat, PrimaryStrategy, Project, Take, TakeStatus
from recoil.production.folder import Production
from recoil.store import ProjectStore

Reviews = Mapping[str, tuple[str, list[ReviewNote]]]
"""take_id -> (review status, notes)."""
Scores = Callable[[Receipt], Mapping[str, float]]
Locate = Callable[[Artifact], Path]


def reviews_of(store: ProjectStore) -> Reviews:
    """Every take's review status (as text) and notes, from the store."""
    return {tid: (status.value, notes) for tid, (status, notes) in store.reviews().items()}


def choose_project_primaries(
    production: Production, project: Project, store: ProjectStore
) -> list[str]:
    """:func:`choose_primaries` with the project's own strategy, score weights and the
    review decisions in its store."""
    return choose_primaries(
        project,
        production.shotlist.project.primary_strategy,
        reviews_of(store),
        approvals=store.approvals(),
        weights=production.settings.evals.weights,
    )


def choose_primaries(
    project: Project,
    strategy: str,
    reviews: Reviews,
    *,
    approvals: Mapping[str, str] | None = None,
    weights: Mapping[str, float] | None = None,
    scores: Scores | None = None,
) -> list[str]:
    """Set every beat's primary take; returns notes for people (e.g. fallbacks).

    ``approvals`` maps a beat id to the take a person approved last (still approved).
    """
    notes: list[str] = []
    for beat in project.beats():
        approved = (approvals or {}).get(beat.beat_id)
        note = _choose(
            beat,
            PrimaryStrategy(strategy),
            reviews=reviews,
            approved=approved,
            weights=weights,
            scores=scores,
        )
        if note:
            notes.append(note)
    return notes


def _choose(
    beat: Beat,
    strategy: PrimaryStrategy,
    *,
    reviews: Reviews,
    approved: str | None,
    weights: Mapping[str, float] | None,
    scores: Scores | None,
) -> str | None:
    if approved is not None and any(
        t.take_id == approved and t.status is TakeStatus.SUCCEEDED for t in beat.takes
    ):
        beat.primary_take_id = approved
        return None
    version = beat.beat_metadata.get("version")
    usable = [t for t in beat.takes if reviews.get(t.take_id, ("pending", []))[0] != "retake"]
    current = [t for t in usable if t.take_metadata.get("version") == version]
    pool = current if any(t.status is TakeStatus.SUCCEEDED for t in current) else usable
    view = Beat(beat_id=beat.beat_id, takes=pool, primary_take_id=beat.primary_take_id)
    note = None
    if strategy is PrimaryStrategy.MANUAL:
        if beat.primary_take_id not in {t.take_id for t in pool}:
            view.primary_take_id = None
            view.select_primary(PrimaryStrategy.FIRST_SUCCESS)
    elif strategy is PrimaryStrategy.SCORE:
        try:
            if scores is None:
                view.select_primary(strategy, weights=weights)
            else:
                view.select_primary(strategy, weights=weights, scores=scores)
        except SelectionError:
            view.select_primary(PrimaryStrategy.FIRST_SUCCESS)
            if view.primary_take_id is not None:
                note = f"{beat.beat_id}: no take has scores yet; chose the first success"
    else:
        view.select_primary(strategy)
    beat.primary_take_id = view.primary_take_id
    return note


def build_edit(
    project: Project,
    reviews: Reviews,
    *,
    locate: Locate,
    weights: Mapping[str, float] | None = None,
    scores: Scores | None = None,
) -> Edit:
    """The export model: every enabled beat in scene order with its primary and alternates.

    ``locate`` finds an artifact's file (by its hash, in the project's artifact store).
    """
    settings = project.settings
    strategy = str(settings.get("primary_strategy", "first_success"))
    beats: list[BeatCut] = []
    for scene in project.scenes:
        for beat in scene.beats:
            meta = beat.beat_metadata
            if not meta.get("enabled", True) or meta.get("removed"):
                continue
            media = {
                t.take_id: _take_media(t, reviews, locate, weights, scores)
                for t in beat.takes
                if t.status is not TakeStatus.PENDING
            }
            primary = media.get(beat.primary_take_id) if beat.primary_take_id else None
            alternates = tuple(m for tid, m in media.items() if tid != beat.primary_take_id)
            beats.append(
                BeatCut(
                    scene_id=scene.scene_id,
                    beat_id=beat.beat_id,
                    title=str(meta.get("caption", "")),
                    duration_s=float(meta.get("duration_s", 4.0)),
                    primary=primary,
                    alternates=alternates,
                    primary_strategy=strategy,
                )
            )
    return Edit(
        title=project.name,
        fps=float(settings.get("fps", 24.0)),
        width=int(settings.get("width", 640)),
        height=int(settings.get("height", 360)),
        beats=tuple(beats),
    )


def _take_media(
    take: Take,
    reviews: Reviews,
    locate: Locate,
    weights: Mapping[str, float] | None,
    scores: Scores | None,
) -> TakeMedia:
    receipts = {s.step_id: s.receipt for s in take.workflow.steps if s.receipt is not None}

    def artifact(step_id: str, kind: str) -> Path | None:
        """The step's first output of a media kind, whatever the provider named it."""
        receipt = receipts.get(step_id)
        if receipt is None or not receipt.succeeded:
            return None
        found = (a for a in receipt.artifacts.values() if a.mime.startswith(f"{kind}/"))
        first = next(found, None)
        return locate(first) if first is not None else None

    picture = receipts.get("upscale") or receipts.get("video")
    status, notes = reviews.get(take.take_id, ("pending", []))
    return TakeMedia(
        take_id=take.take_id,
        take_index=take.take_index,
        status=take.status.value,
        video=artifact("upscale", "video") or artifact("video", "video"),
        audio=artifact("audio", "audio"),
        keyframe=artifact("keyframe", "image"),
        review_status=status,  # type: ignore[arg-type]
        notes=tuple(notes),
        receipt_id=picture.receipt_id if picture is not None else None,
        seed=take.seed,
        provider=picture.provider if picture is not None else None,
        model=picture.model if picture is not None else None,
        prompt_sha256=picture.prompt_sha256 if picture is not None else None,
        score=take.score(weights, scores) if scores is not None else take.score(weights),
        cost=sum(r.cost.amount for r in take.receipts() if r.succeeded or r.cost.amount),
    )
