"""What a rerun repairs: missing or damaged outputs, and definitely failed steps."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from recoil.model.receipt import Receipt, ReceiptError
from recoil.model.take import Project, Take, TakeStatus
from recoil.model.workflow import StepStatus
from recoil.production.folder import Production, open_production, open_store
from recoil.production.plan import plan_project
from recoil.production.repair import (
    check_outputs,
    requeue_damaged,
    requeue_failed,
    verify_project,
)
from recoil.production.run import RunOptions, run_production_sync
from recoil.records import codec

if TYPE_CHECKING:
    from conftest import Doors


@pytest.fixture
def project(doors: Doors) -> Path:
    folder = doors(1)
    assert run_production_sync(folder, RunOptions()).exit_code == 0
    return folder


def _load(project: Path) -> tuple[Production, Project]:
    production = open_production(project)
    with open_store(production) as store:
        return production, plan_project(production.shotlist, store.load_project(), base=project)


def test_intact_files_are_hashed_once_then_trusted_by_size_and_time(project: Path) -> None:
    production, film = _load(project)
    first = check_outputs(film, production.artifacts.locate, {})
    assert first.damage == [] and first.hashed == first.files == 4
    known = {sha: (size, mtime) for sha, size, mtime in first.intact}
    again = check_outputs(film, production.artifacts.locate, known)
    assert again.damage == [] and again.hashed == 0
    assert check_outputs(film, production.artifacts.locate, known, rehash=True).hashed == 4


def test_a_missing_or_flipped_file_is_damage_and_its_step_runs_again(project: Path) -> None:
    production, film = _load(project)
    take = film.beat("a").takes[0]
    video = take.workflow.step("video").receipt
    assert video is not None
    path = production.artifacts.locate(video.artifacts["video"])
    data = bytearray(path.read_bytes())
    data[-10] ^= 0x01
    path.write_bytes(bytes(data))
    stat = path.stat()
    known = {video.artifacts["video"].sha256: (stat.st_size, stat.st_mtime_ns)}
    # Same size and time as a file that hashed intact: only a rehash sees the flip.
    assert check_outputs(film, production.artifacts.locate, known).damage == []
    damage = check_outputs(film, production.artifacts.locate, known, rehash=True).damage
    assert [(d.take_id, d.step_id) for d in damage] == [(take.take_id, "video")]
    assert "damaged" in damage[0].line()

    path.unlink()
    damage = check_outputs(film, production.artifacts.locate, {}).damage
    assert "missing" in damage[0].reason
    notes = requeue_damaged(film, damage)
    assert notes and take.status is TakeStatus.PENDING
    assert take.workflow.step("video").status is StepStatus.PENDING
    assert take.workflow.step("keyframe").status is StepStatus.SUCCEEDED


def test_verify_project_reports_every_damaged_file(project: Path) -> None:
    assert verify_project(project).damage == []
    for path in (project / "artifacts").rglob("*.mp4"):
        path.unlink()
    assert {d.step_id for d in verify_project(project).damage} == {"video"}


def _fail(take: Take, step_id: str, receipt: Receipt, *, unknown: bool) -> None:
    """Make the step failed, with a failed receipt like ``receipt``."""
    error = ReceiptError(
        type="ProviderError", message="boom", retryable=False, unknown_outcome=unknown
    )
    failed = codec.decode_as(
        Receipt,
        {
            **codec.encode(receipt),
            "status": "failed",
            "artifacts": {},
            "error": codec.plain(error),
        },
    )
    step = take.workflow.step(step_id)
    step.status, step.receipt, step.error = StepStatus.FAILED, failed, "boom"
    take.status = TakeStatus.PARTIAL


def test_a_definite_failure_is_retried_and_an_unknown_outcome_is_not(project: Path) -> None:
    _, film = _load(project)
    retried, unknown = film.beat("a").takes[0], film.beat("b").takes[0]
    receipt = retried.workflow.step("video").receipt
    assert receipt is not None
    _fail(retried, "video", receipt, unknown=False)
    _fail(unknown, "video", receipt, unknown=True)

    notes, left = requeue_failed(film, rejected=set())

    assert retried.status is TakeStatus.PENDING
    assert retried.workflow.step("video").status is StepStatus.PENDING
    assert notes == [f"{retried.take_id}: trying video again (it failed)"]
    assert unknown.workflow.step("video").status is StepStatus.FAILED
    assert len(left) == 1 and "outcome is unknown" in left[0] and "recoil retake" in left[0]
    # A take a person sent back is not retried.
    _fail(retried, "video", receipt, unknown=False)
    assert requeue_failed(film, rejected={retried.take_id}) == ([], left)


def test_a_pending_take_whose_failed_receipt_came_back_is_retried(project: Path) -> None:
    """A run reset the step, then stopped before it; reopening re-attached the failed
    receipt to the step of a take that stayed pending. The next run still retries it."""
    _, film = _load(project)
    take = film.beat("a").takes[0]
    receipt = take.workflow.step("video").receipt
    assert receipt is not None
    _fail(take, "video", receipt, unknown=False)
    take.status = TakeStatus.PENDING
    notes, _ = requeue_failed(film, rejected=set())
    assert notes and take.workflow.step("video").status is StepStatus.PENDING
