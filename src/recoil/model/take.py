"""Take, Beat and Scene (SPEC section 6).

A take is one execution of one workflow; a beat is one logical shot holding
an append-only list of takes and the choice of a primary; a scene is an
ordered list of beats. Existing takes are never mutated by a retake: a retake
is a new take with a new seed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from recoil.errors import NotFoundError, SelectionError, StateError, ValidationError, did_you_mean
from recoil.model.hooks import FailureHook, Hooks, StepHook, TakeHook
from recoil.model.ids import derive_seed, utc_now_iso
from recoil.model.receipt import Receipt
from recoil.model.workflow import StepStatus, Workflow

if TYPE_CHECKING:
    from recoil.model.context import DispatchContext
    from recoil.providers.registry import Registry


class TakeStatus(StrEnum):
    """Where a take stands."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PARTIAL = "partial"


class PrimaryStrategy(StrEnum):
    """How a beat chooses its primary take."""

    FIRST_SUCCESS = "first_success"
    MANUAL = "manual"
    SCORE = "score"


ScoreLookup = Callable[[Receipt], Mapping[str, float]]
"""A receipt's scores, including later ``eval`` records (default: its own)."""


def _own_scores(receipt: Receipt) -> Mapping[str, float]:
    return receipt.eval_scores


@dataclass(slots=True, kw_only=True)
class Take:
    """One execution of one workflow."""

    take_id: str
    take_index: int
    workflow: Workflow
    status: TakeStatus = TakeStatus.PENDING
    created_at: str = field(default_factory=utc_now_iso)
    take_metadata: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    """The seed of every step whose payload does not pin one."""

    def __post_init__(self) -> None:
        if self.take_index < 0:
            raise ValidationError(f"take {self.take_id!r}: take_index must be >= 0")

    def identity(self) -> dict[str, str]:
        """The identity keys this take stamps on its receipts' provenance."""
        ids = {"take_id": self.take_id}
        for key in ("beat_id", "scene_id"):
            value = self.take_metadata.get(key)
            if isinstance(value, str):
                ids[key] = value
        return ids

    def execute(
        self,
        *,
        context: DispatchContext,
        pre_step: StepHook | None = None,
        post_step: StepHook | None = None,
        on_failure: FailureHook | None = None,
        pre_take: TakeHook | None = None,
        post_take: TakeHook | None = None,
        concurrency: int = 4,
        registry: Registry | None = None,
    ) -> Take:
        """Run the take's workflow once, then set the take's status from its steps."""
        # Up a layer, lazily: the scheduler this thin sync wrapper runs on sits above model.
        from recoil.execution.sync import run_takes

        hooks = Hooks(
            pre_step=pre_step,
            post_step=post_step,
            on_failure=on_failure,
            pre_take=pre_take,
            post_take=post_take,
        )
        run_takes([self], context, hooks=hooks, concurrency=concurrency, registry=registry)
        return self

    def start(self) -> None:
        """Mark the take running; a take runs once."""
        if self.status is not TakeStatus.PENDING:
            raise StateError(
                f"take {self.take_id!r} already ran ({self.status.value}); "
                "a retake is a new take: Beat.new_take(...)"
            )
        self.status = TakeStatus.RUNNING

    def finish(self) -> TakeStatus:
        """Compress the step statuses into the take's status."""
        statuses = [s.status for s in self.workflow.steps]
        ok = sum(s is StepStatus.SUCCEEDED for s in statuses)
        if ok == len(statuses):
            self.status = TakeStatus.SUCCEEDED
        elif ok == 0:
            self.status = TakeStatus.FAILED
        else:
            self.status = TakeStatus.PARTIAL
        return self.status

    def receipts(self) -> list[Receipt]:
        """The receipts of the take's steps, in step order."""
        return [s.receipt for s in self.workflow.steps if s.receipt is not None]

    def score(
        self, weights: Mapping[str, float] | None = None, scores: ScoreLookup = _own_scores
    ) -> float | None:
        """Weighted mean of the eval scores of the take's receipts (SPEC section 10).

        A scorer missing from ``weights`` weighs 1; ``None`` when there are no scores.
        """
        found = [item for receipt in self.receipts() for item in scores(receipt).items()]
        return weighted_score(found, weights)


def weighted_score(
    scores: Iterable[tuple[str, float]], weights: Mapping[str, float] | None = None
) -> float | None:
    """Weighted mean of ``(scorer, score)`` pairs; a scorer missing from ``weights`` weighs 1.

    ``None`` when there is nothing to weigh (SPEC section 10).
    """
    total = weight_sum = 0.0
    for name, value in scores:
        weight = 1.0 if weights is None else weights.get(name, 1.0)
        total += weight * value
        weight_sum += weight
    return total / weight_sum if weight_sum > 0 else None


@dataclass(slots=True, kw_only=True)
class Beat:
    """One logical shot: an append-only list of takes and a primary take."""

    beat_id: str
    takes: list[Take] = field(default_factory=list)
    primary_take_id: str | None = None
    beat_metadata: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=utc_now_iso)
    base_seed: int | None = None
    """Seed the take seeds derive from; ``None`` derives it from the beat id."""

    def new_take(
        self,
        workflow: Workflow,
        *,
        take_id: str | None = None,
        take_metadata: Mapping[str, Any] | None = None,
    ) -> Take:
        """Append a new take running ``workflow`` and return it."""
        index = len(self.takes)
        take_id = take_id or f"{self.beat_id}-t{index + 1:02d}"
        for take in self.takes:
            if take.take_id == take_id:
                raise ValidationError(f"beat {self.beat_id!r} already has a take {take_id!r}")
            if take.workflow.workflow_id == workflow.workflow_id:
                raise ValidationError(
                    f"beat {self.beat_id!r}: workflow {workflow.workflow_id!r} is already used "
                    f"by take {take.take_id!r}; use workflow.fresh() for a new take"
                )
        metadata = {"beat_id": self.beat_id, **copy.deepcopy(dict(take_metadata or {}))}
        scene_id = self.beat_metadata.get("scene_id")
        if isinstance(scene_id, str):
            metadata.setdefault("scene_id", scene_id)
        take = Take(
            take_id=take_id,
            take_index=index,
            workflow=workflow,
            take_metadata=metadata,
            seed=self.take_seed(index),
        )
        self.takes.append(take)
        return take

    def take_seed(self, index: int) -> int:
        """The seed of take ``index``: derived from the base seed and the index."""
        base = self.base_seed if self.base_seed is not None else derive_seed(0, self.beat_id)
        return derive_seed(base, index)

    def take(self, take_id: str) -> Take:
        """The take with this id; :class:`NotFoundError` if the beat has none."""
        for take in self.takes:
            if take.take_id == take_id:
                return take
        known = [t.take_id for t in self.takes]
        raise NotFoundError(
            f"beat {self.beat_id!r} has no take {take_id!r}{did_you_mean(take_id, known)}; "
            f"takes: {', '.join(known) or 'none'}"
        )

    @property
    def primary_take(self) -> Take | None:
        """The take named by ``primary_take_id``."""
        return self.take(self.primary_take_id) if self.primary_take_id is not None else None

    def select_primary(
        self,
        strategy: PrimaryStrategy | str = PrimaryStrategy.FIRST_SUCCESS,
        *,
        weights: Mapping[str, float] | None = None,
        scores: ScoreLookup = _own_scores,
    ) -> Take | None:
        """Choose the primary take by ``strategy``, set it and return it."""
        strategy = PrimaryStrategy(strategy)
        if strategy is PrimaryStrategy.MANUAL:
            return self.primary_take  # raises when the id names no take of this beat
        succeeded = [t for t in self.takes if t.status is TakeStatus.SUCCEEDED]
        chosen: Take | None
        if strategy is PrimaryStrategy.FIRST_SUCCESS:
            chosen = succeeded[0] if succeeded else None
        else:
            scored = [(t.score(weights, scores), t) for t in succeeded]
            ranked = [(s, t) for s, t in scored if s is not None]
            if not ranked:
                raise SelectionError(
                    f"beat {self.beat_id!r}: no succeeded take has eval scores; "
                    "run the scorers or choose the primary another way"
                )
            # Highest score wins; ties go to the lower take index.
            chosen = max(ranked, key=lambda st: (st[0], -st[1].take_index))[1]
        self.primary_take_id = chosen.take_id if chosen is not None else None
        return chosen


@dataclass(slots=True, kw_only=True)
class Scene:
    """An ordered list of beats."""

    scene_id: str
    beats: list[Beat] = field(default_factory=list)
    scene_metadata: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=utc_now_iso)


@dataclass(slots=True, kw_only=True)
class Project:
    """The scenes of one production plus its settings."""

    name: str
    scenes: list[Scene] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=utc_now_iso)

    def beats(self) -> list[Beat]:
        """Every beat, in scene order."""
        return [beat for scene in self.scenes for beat in scene.beats]

    def beat(self, beat_id: str) -> Beat:
        """The beat with this id; :class:`NotFoundError` if the project has none."""
        for beat in self.beats():
            if beat.beat_id == beat_id:
                return beat
        known = [beat.beat_id for beat in self.beats()]
        hint = did_you_mean(beat_id, known) or f"; beats: {', '.join(known) or 'none'}"
        raise NotFoundError(f"project {self.name!r} has no beat {beat_id!r}{hint}")
