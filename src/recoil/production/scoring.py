"""Scores for a project's takes: which scorers run, on which file, and the ``eval`` records.

A succeeded receipt is scored on its main output (the file its modality must
produce), with the request rebuilt from the receipt and the step's input
files (the keyframe a clip was animated from) beside it. Each scorer's result
is one ``eval`` record naming the receipt, the scorer and its version, appended
to the receipt log; receipts are never rewritten (SPEC 10). A scorer that
already scored the receipt at its current version is not run again, and
neither is one whose score a cache hit carried over from the receipt it
copies.

``[evals]`` in ``recoil.toml`` chooses the scorers (``scorers``, default all
that fit), their weights in a take's aggregate and the CLIP model
(``clip_model``, a folder relative to the project or a name in the user's
model cache).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recoil.errors import PayloadError, RecoilError
from recoil.evals.evaluate import Evaluation, evaluate
from recoil.evals.registry import ScorerRegistry, register_builtin_scorers
from recoil.evals.subject import Subject
from recoil.model.ids import now_us
from recoil.model.receipt import Artifact, EvalRecord, Receipt
from recoil.model.requests import Request
from recoil.production.folder import open_production, open_store
from recoil.production.plan import plan_project
from recoil.production.primaries import choose_project_primaries
from recoil.production.settings import EvalSettings
from recoil.providers.registry import default_registry
from recoil.records.log import read_records
from recoil.store.lock import editing
from recoil.store.project_db import RECEIPTS_FILE

Locate = Callable[[Artifact], Path]

_KIND_MODALITY = {"image": "keyframe", "video": "video", "audio": "audio"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Scoring:
    """The scorers a project runs, from its ``[evals]`` settings."""

    registry: ScorerRegistry
    names: tuple[str, ...] | None = None
    """The scorers chosen by name; ``None`` for every one that fits."""

    @classmethod
    def from_settings(cls, settings: EvalSettings, project: Path) -> Scoring:
        """The scorers ``settings`` choose; an unknown name is a clear error now."""
        clip: str | Path | None = settings.clip_model
        if clip is not None and (project / clip).is_dir():
            clip = project / clip
        registry = register_builtin_scorers(ScorerRegistry(), clip_model=clip)
        names = tuple(settings.scorers) if settings.scorers is not None else None
        for name in names or ():
            registry.scorer(name)  # NotFoundError with a suggestion
        return cls(registry=registry, names=names)

    def wanted(self, modality: str) -> dict[str, str]:
        """Scorer name -> version for the scorers that serve ``modality``."""
        chosen = self.registry.scorers(modality)
        return {s.name: s.version for s in chosen if self.names is None or s.name in self.names}


@dataclass(slots=True, kw_only=True)
class ReceiptScores:
    """What scoring one receipt gave: the records to append and the scorers skipped."""

    records: list[EvalRecord] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """``scorer skipped: reason`` lines, one per scorer."""


class ScoringTasks:
    """A run's scoring tasks: a few at a time, all awaited before the run ends."""

    def __init__(self) -> None:
        # Scoring is CPU work in threads; past the cores it only queues.
        self.slots = asyncio.Semaphore(max(1, min(4, os.cpu_count() or 1)))
        self._tasks: set[asyncio.Task[None]] = set()
        self._lines: dict[str, str] = {}

    def start(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``work`` (a scoring) alongside the run; returns its task."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def note(self, lines: Iterable[str]) -> None:
        """Keep the first line said of each scorer (a skip or a failure)."""
        for line in lines:
            self._lines.setdefault(line.partition(":")[0], line)

    async def settle(self) -> None:
        """Wait for every scoring started; one that failed becomes a note."""
        tasks = list(self._tasks)
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(outcome, Exception):
                self.note([f"scoring failed: {outcome}"])

    def notes(self) -> list[str]:
        """The lines kept, one per scorer."""
        return list(self._lines.values())


def subject_of(receipt: Receipt, locate: Locate, project: Path) -> Subject | None:
    """The file to score for ``receipt`` with its request and inputs; ``None`` if none."""
    artifact = _main_output(receipt)
    if artifact is None:
        return None
    request = _request(receipt)
    inputs: tuple[Path, ...] = ()
    if request is not None:
        found = (project / path for path in request.inputs().values())
        inputs = tuple(path for path in found if path.is_file())
    modality = _KIND_MODALITY[artifact.mime.partition("/")[0]]
    if modality == "keyframe" and receipt.modality == "upscale":
        modality = "upscale"
    return Subject(path=locate(artifact), modality=modality, request=request, inputs=inputs)


def score_receipt(
    receipt: Receipt,
    scoring: Scoring,
    *,
    locate: Locate,
    project: Path,
    done: Mapping[str, str] | None = None,
) -> ReceiptScores:
    """Score ``receipt`` with the scorers it still lacks (``done``: scorer -> version).

    A file that does not decode is one skipped line, not an error: the take
    stays as it is, unscored.
    """
    subject = subject_of(receipt, locate, project)
    if subject is None:
        return ReceiptScores()
    done = done or {}
    missing = [
        name
        for name, version in scoring.wanted(subject.modality).items()
        if done.get(name) != version and not (receipt.cached and name in receipt.eval_scores)
    ]
    if not missing:
        return ReceiptScores()
    try:
        evaluation = evaluate(subject, registry=scoring.registry, names=missing)
    except RecoilError as exc:
        return ReceiptScores(skipped=[f"scoring {receipt.receipt_id} failed: {exc}"])
    return ReceiptScores(
        records=eval_records(receipt.receipt_id, evaluation),
        skipped=[str(s) for s in evaluation.skipped],
    )


def eval_records(receipt_id: str, evaluation: Evaluation) -> list[EvalRecord]:
    """One ``eval`` record per scorer result of ``evaluation``."""
    created = now_us()
    return [
        EvalRecord(
            receipt_id=receipt_id,
            scorer=result.scorer,
            version=result.version,
            scores={result.scorer: result.score.value},
            measurements=dict(result.score.measurements),
            created_us=created,
        )
        for result in evaluation.results
    ]


def scored_versions(records: Iterable[object]) -> dict[str, dict[str, str]]:
    """receipt_id -> scorer -> the version it scored at, from the log's records."""
    done: dict[str, dict[str, str]] = {}
    for record in records:
        if isinstance(record, EvalRecord) and record.scorer:
            done.setdefault(record.receipt_id, {})[record.scorer] = record.version
    return done


def _main_output(receipt: Receipt) -> Artifact | None:
    if not receipt.succeeded:
        return None
    kinds = [a for a in receipt.artifacts.values() if a.mime.partition("/")[0] in _KIND_MODALITY]
    expected = {"keyframe": "image", "video": "video", "audio": "audio"}.get(receipt.modality)
    preferred = [a for a in kinds if a.mime.startswith(f"{expected}/")]
    found = preferred or kinds
    return found[0] if found else None


def _request(receipt: Receipt) -> Request | None:
    registry = default_registry()
    if receipt.modality not in registry:
        return None
    try:
        return registry.runner(receipt.modality).build(dict(receipt.request))
    except PayloadError:
        return None  # a request an older version wrote: score without it


@dataclass(slots=True, kw_only=True)
class ScoreOutcome:
    """What ``recoil score`` did."""

    receipts: int = 0
    """Succeeded receipts looked at."""
    scored: int = 0
    """Receipts that got new scores."""
    records: int = 0
    """``eval`` records appended."""
    notes: list[str] = field(default_factory=list)
    """Scorers skipped (one line each) and how the primaries were then chosen."""


def score_project(path: Path) -> ScoreOutcome:
    """Score every succeeded step of the project that lacks a current score (``recoil score``).

    Nothing is generated; a second call computes nothing new. The project's
    primaries are chosen again afterwards, so ``primary_strategy: score`` sees
    the new scores. The command is the project's one writer while it lasts.
    """
    production = open_production(path)
    scoring = Scoring.from_settings(production.settings.evals, path)
    outcome = ScoreOutcome()
    skipped: dict[str, str] = {}
    with open_store(production, writer="recoil score") as store:
        done = scored_versions(read_records(path / RECEIPTS_FILE))
        project = plan_project(production.shotlist, store.load_project(), base=path)
        for take in (t for beat in project.beats() for t in beat.takes):
            for receipt in take.receipts():
                if not receipt.succeeded:
                    continue
                outcome.receipts += 1
                result = score_receipt(
                    receipt,
                    scoring,
                    locate=production.artifacts.locate,
                    project=path,
                    done=done.get(receipt.receipt_id),
                )
                if result.records:
                    store.record(result.records)
                    outcome.scored += 1
                    outcome.records += len(result.records)
                for line in result.skipped:
                    skipped.setdefault(line.partition(":")[0], line)
        outcome.notes += skipped.values()
        with editing(path, command="recoil score"):
            project = plan_project(production.shotlist, store.load_project(), base=path)
            outcome.notes += choose_project_primaries(production, project, store)
            store.save_project(project)
    return outcome
