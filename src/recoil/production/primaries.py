"""The edit: which take of each beat is primary, and the export model built from it.

Primary choice per beat, in order: a take a person approved (the latest
approval wins, as the review records in the receipt log say); otherwise the
project's strategy over the succeeded takes a person has not sent back for a
retake and that are not stale (:mod:`.staleness`), preferring takes of the
beat's current version. ``score`` picks the highest weighted aggregate (ties
to the lower take index); it falls back to ``first_success`` when no take has
scores yet, and says so, and it says so too when succeeded takes without
scores were passed over for a scored one. Beats are chosen in film order, so
a chained beat's takes are judged stale against its source's new primary.

A run chains a beat from its source's primary as soon as that is
:func:`decided`: no take still to finish in the run could change it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from recoil.errors import SelectionError
from recoil.export import BeatCut, Edit, Extent, ReviewNote, TakeMedia
from recoil.model.receipt import Artifact, Receipt
from recoil.model.review import ReviewStatus
from recoil.model.take import Beat, PrimaryStrategy, Project, Take, TakeStatus
from recoil.production.folder import Production
from recoil.production.staleness import is_stale, mark_stale
from recoil.store import ProjectStore

Reviews = Mapping[str, tuple[str, list[ReviewNote]]]
"""take_id -> (review status, notes)."""
Scores = Callable[[Receipt], Mapping[str, float]]
Locate = Callable[[Artifact], Path]


def reviews_of(store: ProjectStore) -> Reviews:
    """Every take's review status (as text) and notes, from the store."""
    return {tid: (status.value, notes) for tid, (status, notes) in store.reviews().items()}


def score_lookup(store: ProjectStore) -> Scores:
    """A receipt's scores: its own merged with the ``eval`` records the store indexed."""
    evals = store.eval_scores()

    def scores(receipt: Receipt) -> Mapping[str, float]:
        extra = evals.get(receipt.receipt_id)
        return {**receipt.eval_scores, **extra} if extra else receipt.eval_scores

    return scores


@dataclass(frozen=True, slots=True, kw_only=True)
class PrimaryRule:
    """How a project chooses its primaries: the strategy and what it weighs."""

    strategy: PrimaryStrategy
    reviews: Reviews = field(default_factory=dict)
    approvals: Mapping[str, str] = field(default_factory=dict)
    """Beat id -> the take a person approved last (still approved)."""
    weights: Mapping[str, float] | None = None
    scores: Scores | None = None


def project_rule(production: Production, store: ProjectStore) -> PrimaryRule:
    """The project's own strategy and score weights, with the scores and the review
    decisions in its store."""
    return PrimaryRule(
        strategy=PrimaryStrategy(production.shotlist.project.primary_strategy),
        reviews=reviews_of(store),
        approvals=store.approvals(),
        weights=production.settings.evals.weights,
        scores=score_lookup(store),
    )


def choose_project_primaries(
    production: Production, project: Project, store: ProjectStore
) -> list[str]:
    """:func:`choose_by_rule` by the project's :func:`project_rule`; notes for people."""
    return choose_by_rule(project, project_rule(production, store))


def choose_by_rule(project: Project, rule: PrimaryRule) -> list[str]:
    """Set every beat's primary take by ``rule``, in film order, marking stale chains."""
    notes: list[str] = []
    beats = {b.beat_id: b for b in project.beats()}
    for beat in project.beats():
        source = beats.get(str(beat.beat_metadata.get("chain_from")))
        if source is not None and source is not beat:
            notes += mark_stale(beat, source)
        note = choose_beat(beat, rule)
        if note:
            notes.append(note)
    return notes


def approved_take(beat: Beat, rule: PrimaryRule) -> str | None:
    """The take of ``beat`` a person approved, if it is one that succeeded."""
    approved = rule.approvals.get(beat.beat_id)
    ok = any(t.take_id == approved and t.status is TakeStatus.SUCCEEDED for t in beat.takes)
    return approved if ok else None


def choose_beat(beat: Beat, rule: PrimaryRule) -> str | None:
    """Set ``beat``'s primary take by ``rule``; returns a note for people, if any."""
    approved = approved_take(beat, rule)
    if approved is not None:
        beat.primary_take_id = approved
        return None
    pool = _pool(beat, rule)
    view = Beat(beat_id=beat.beat_id, takes=pool, primary_take_id=beat.primary_take_id)
    note = None
    if rule.strategy is PrimaryStrategy.MANUAL:
        if beat.primary_take_id not in {t.take_id for t in pool}:
            view.primary_take_id = None
            view.select_primary(PrimaryStrategy.FIRST_SUCCESS)
    elif rule.strategy is PrimaryStrategy.SCORE:
        note = _choose_by_score(view, rule.weights, rule.scores)
    else:
        view.select_primary(rule.strategy)
    beat.primary_take_id = view.primary_take_id
    return note


def _usable(beat: Beat, rule: PrimaryRule) -> list[Take]:
    """The takes an automatic choice may pick: not sent back for a retake, not stale."""
    return [
        t
        for t in beat.takes
        if rule.reviews.get(t.take_id, ("pending", []))[0] != "retake" and not is_stale(t)
    ]


def _pool(beat: Beat, rule: PrimaryRule) -> list[Take]:
    """The usable takes of the beat's current version if one succeeded, else all usable."""
    usable = _usable(beat, rule)
    version = beat.beat_metadata.get("version")
    current = [t for t in usable if t.take_metadata.get("version") == version]
    return current if any(t.status is TakeStatus.SUCCEEDED for t in current) else usable


def decided(beat: Beat, rule: PrimaryRule, unfinished: Collection[str]) -> bool:
    """Whether ``beat``'s primary is settled while the takes ``unfinished`` still run.

    An approval settles it at once. Otherwise ``manual`` waits for one;
    ``score`` waits for every usable take (their scores are the caller's to
    wait for); ``first_success`` waits only for the takes that would come
    before the first success (lower take indices, or any of the current version
    while the first success is of an older one).
    """
    if approved_take(beat, rule) is not None:
        return True
    if rule.strategy is PrimaryStrategy.MANUAL:
        return False
    usable = [t for t in _usable(beat, rule) if t.take_id in unfinished]
    if rule.strategy is PrimaryStrategy.SCORE or not usable:
        return not usable
    view = Beat(beat_id=beat.beat_id, takes=_pool(beat, rule))
    first = view.select_primary(PrimaryStrategy.FIRST_SUCCESS)
    if first is None:
        return False
    version = beat.beat_metadata.get("version")
    older = first.take_metadata.get("version") != version
    return not any(
        t.take_index < first.take_index or (older and t.take_metadata.get("version") == version)
        for t in usable
    )


def _choose_by_score(
    view: Beat, weights: Mapping[str, float] | None, scores: Scores | None
) -> str | None:
    lookup = scores or _own_scores
    try:
        view.select_primary(PrimaryStrategy.SCORE, weights=weights, scores=lookup)
    except SelectionError:
        view.select_primary(PrimaryStrategy.FIRST_SUCCESS)
        if view.primary_take_id is None:
            return None
        return f"{view.beat_id}: no take has scores yet; chose the first success (recoil score)"
    unscored = [
        t.take_id
        for t in view.takes
        if t.status is TakeStatus.SUCCEEDED and t.score(weights, lookup) is None
    ]
    if not unscored:
        return None
    return (
        f"{view.beat_id}: chose {view.primary_take_id} by score over "
        f"{', '.join(unscored)} (no scores yet; recoil score scores them)"
    )


def _own_scores(receipt: Receipt) -> Mapping[str, float]:
    return receipt.eval_scores


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
            reason = _reason(primary, alternates, strategy)
            beats.append(
                BeatCut(
                    scene_id=scene.scene_id,
                    beat_id=beat.beat_id,
                    title=str(meta.get("caption", "")),
                    duration_s=float(meta.get("duration_s", 4.0)),
                    primary=primary,
                    alternates=alternates,
                    primary_strategy=strategy,
                    primary_reason=reason,
                )
            )
    return Edit(
        title=project.name,
        fps=float(settings.get("fps", 24.0)),
        width=int(settings.get("width", 640)),
        height=int(settings.get("height", 360)),
        beats=tuple(beats),
    )


def _reason(primary: TakeMedia | None, others: tuple[TakeMedia, ...], strategy: str) -> str:
    """Why ``primary`` is the beat's primary, in a few words."""
    if primary is None:
        return ""
    if primary.review_status is ReviewStatus.APPROVED:
        return "approved"
    if strategy == PrimaryStrategy.SCORE and primary.score is not None:
        rivals = sum(t.score is not None for t in others if t.status == TakeStatus.SUCCEEDED)
        return f"best score {primary.score:.3f} of {rivals + 1} scored"
    if strategy == PrimaryStrategy.MANUAL:
        return "chosen by hand"
    return "first success"


def _take_media(
    take: Take,
    reviews: Reviews,
    locate: Locate,
    weights: Mapping[str, float] | None,
    scores: Scores | None,
) -> TakeMedia:
    receipts = {s.step_id: s.receipt for s in take.workflow.steps if s.receipt is not None}
    lookup = scores or _own_scores

    def artifact(step_id: str, kind: str) -> Artifact | None:
        """The step's first output of a media kind, whatever the provider named it."""
        receipt = receipts.get(step_id)
        if receipt is None or not receipt.succeeded:
            return None
        return next((a for a in receipt.artifacts.values() if a.mime.startswith(f"{kind}/")), None)

    video = artifact("upscale", "video") or artifact("video", "video")
    audio = artifact("audio", "audio")
    keyframe = artifact("keyframe", "image")
    picture = receipts.get("upscale") or receipts.get("video")
    status, notes = reviews.get(take.take_id, ("pending", []))
    return TakeMedia(
        take_id=take.take_id,
        take_index=take.take_index,
        status=take.status.value,
        video=None if video is None else locate(video),
        audio=None if audio is None else locate(audio),
        keyframe=None if keyframe is None else locate(keyframe),
        video_extent=None if video is None else _extent(video, "frames", "fps"),
        audio_extent=None if audio is None else _extent(audio, None, "sample_rate"),
        review_status=ReviewStatus(status),
        notes=tuple(notes),
        receipt_id=picture.receipt_id if picture is not None else None,
        seed=take.seed,
        provider=picture.provider if picture is not None else None,
        model=picture.model if picture is not None else None,
        prompt_sha256=picture.prompt_sha256 if picture is not None else None,
        score=take.score(weights, lookup),
        scores={
            f"{step_id}.{name}": value
            for step_id, receipt in receipts.items()
            if receipt.succeeded
            for name, value in lookup(receipt).items()
        },
        cost=sum(r.cost.amount for r in take.receipts() if r.succeeded or r.cost.amount),
    )


def _extent(artifact: Artifact, counted: str | None, rate_fact: str) -> Extent | None:
    """How long the artifact runs, from the facts probed when it was stored (``None`` when
    they do not say): ``counted`` names the fact that counts its frames; without it the
    count is its duration times its rate."""
    facts = artifact.facts
    rate = _positive(facts.get(rate_fact))
    if rate is None:
        return None
    count = _positive(facts.get(counted)) if counted is not None else None
    if count is None:
        seconds = _positive(facts.get("duration_s"))
        if seconds is None:
            return None
        count = seconds * rate
    return Extent(count=round(count), rate=rate)


def _positive(value: object) -> float | None:
    """A fact that is a finite number above zero, as a float; else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 < value < math.inf else None
