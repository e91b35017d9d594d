"""A run is one graph: a chained beat starts once its source's primary is decided.

Judged by the receipts (when each step started and finished), never by timing
thresholds: the slow beat is slow by a whole second per step, the others instant.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from recoil.model.receipt import EvalRecord, Receipt
from recoil.model.take import TakeStatus
from recoil.production.plan import runnable_takes
from recoil.production.review import approve, status
from recoil.production.run import RunOptions, run_production_sync
from recoil.production.staleness import CHAINED_FROM, STALE, is_stale, mark_stale
from recoil.records.log import read_records
from recoil.store import ProjectStore
from tests.helpers import beat, shotlist, write_project

SLOW = {"keyframe": {"fake_latency_s": 1.0}, "video": {"fake_latency_s": 1.0}}


@pytest.fixture(autouse=True)
def _sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECOIL_DATABASE_URL", raising=False)


def _receipts(project: Path) -> dict[tuple[str, str], Receipt]:
    """(take id, step id) -> the take's succeeded receipt of that step."""
    found = {}
    for record in read_records(project / "receipts.jsonl"):
        if isinstance(record, Receipt) and record.succeeded:
            take = str(record.provenance["take_id"])
            found[take, str(record.provenance["workflow_step_id"])] = record
    return found


def _film(tmp_path: Path, *, takes: int = 1, strategy: str = "first_success") -> Path:
    text = shotlist(
        {
            "one": [beat("a", "a door opens"), beat("b", "it shuts", chain_from_previous=True)],
            "two": [beat("s", "a slow pan", params=SLOW)],
        },
        title="Graph",
        provider="fake",
        takes_per_beat=takes,
        seed=5,
        primary_strategy=strategy,
    )
    return write_project(tmp_path / "film", text, "[run]\nconcurrency = 4\n")


def _stored_takes(project: Path) -> dict[str, dict[str, object]]:
    with ProjectStore.open(project) as store:
        loaded = store.load_project()
    assert loaded is not None
    return {t.take_id: t.take_metadata for b in loaded.beats() for t in b.takes}


def test_a_chained_beat_starts_before_an_unrelated_slow_beat_finishes(tmp_path: Path) -> None:
    project = _film(tmp_path)

    outcome = run_production_sync(project, RunOptions())

    assert outcome.exit_code == 0, outcome.failures
    receipts = _receipts(project)
    chained = receipts["b-t01", "keyframe"]
    assert chained.request["image"]  # it started from a's last frame
    assert chained.started_us > receipts["a-t01", "video"].finished_us
    # ...and long before the slow beat of the other scene was done.
    assert chained.finished_us < receipts["s-t01", "keyframe"].finished_us
    assert receipts["b-t01", "video"].finished_us < receipts["s-t01", "video"].started_us
    record = _stored_takes(project)["b-t01"][CHAINED_FROM]
    assert isinstance(record, dict) and record["take_id"] == "a-t01"
    assert record["frame_sha256"] == chained.inputs["image"]


def test_approving_another_take_of_the_source_makes_the_chain_stale(tmp_path: Path) -> None:
    project = _film(tmp_path, takes=2)
    first = run_production_sync(project, RunOptions())
    assert first.exit_code == 0, first.failures
    metadata = _stored_takes(project)
    assert {metadata[t][CHAINED_FROM]["take_id"] for t in ("b-t01", "b-t02")} == {"a-t01"}  # type: ignore[index]
    made = {key: r.receipt_id for key, r in _receipts(project).items()}

    approve(project, "a-t02", author="ed")

    rows = {t.take_id: t for row in status(project) for t in row.takes}
    assert rows["b-t01"].stale and rows["b-t02"].stale
    assert not rows["a-t01"].stale and not rows["b-t03"].stale  # b-t03: queued in its place
    assert rows["b-t03"].status == "pending" and rows["b-t04"].status == "pending"
    second = run_production_sync(project, RunOptions())
    assert second.exit_code == 0, second.failures

    receipts = _receipts(project)
    for key, receipt_id in made.items():  # the stale takes are kept as they were
        assert receipts[key].receipt_id == receipt_id
    metadata = _stored_takes(project)
    assert {metadata[t][CHAINED_FROM]["take_id"] for t in ("b-t03", "b-t04")} == {"a-t02"}  # type: ignore[index]
    rows_b = next(row for row in status(project) if row.beat_id == "b")
    assert rows_b.primary_take_id == "b-t03"  # never a stale take
    stale = {t.take_id for t in rows_b.takes if t.stale}
    assert stale == {"b-t01", "b-t02"}
    new_frame = receipts["b-t03", "keyframe"].inputs["image"]
    assert new_frame != receipts["b-t01", "keyframe"].inputs["image"]


def test_manual_strategy_waits_for_an_approval_and_says_so(tmp_path: Path) -> None:
    project = _film(tmp_path, strategy="manual")

    outcome = run_production_sync(project, RunOptions())

    assert outcome.report.failed == 0
    assert any(n.startswith("b waits on a person: approve a take of a") for n in outcome.notes)
    receipts = _receipts(project)
    assert ("a-t01", "video") in receipts and ("s-t01", "video") in receipts
    assert not any(take == "b-t01" for take, _ in receipts)  # nothing was sent for b
    assert outcome.report.left == 2  # b's keyframe and video

    approve(project, "a-t01", author="ed")
    again = run_production_sync(project, RunOptions())

    assert again.exit_code == 0, again.failures
    assert not any("waits on a person" in n for n in again.notes)
    assert _receipts(project)["b-t01", "keyframe"].request["image"]
    assert _stored_takes(project)["b-t01"][CHAINED_FROM]["take_id"] == "a-t01"  # type: ignore[index]


def test_under_score_a_chained_beat_waits_for_its_source_to_be_scored(tmp_path: Path) -> None:
    project = _film(tmp_path, takes=2, strategy="score")

    outcome = run_production_sync(project, RunOptions())

    assert outcome.exit_code == 0, outcome.failures
    receipts = _receipts(project)
    source = {r.receipt_id for (take, _), r in receipts.items() if take.startswith("a-")}
    scored = [
        record
        for record in read_records(project / "receipts.jsonl")
        if isinstance(record, EvalRecord) and record.receipt_id in source
    ]
    assert {r.receipt_id for r in scored} == source  # every step of both takes of a
    first_chained = min(receipts[t, "keyframe"].started_us for t in ("b-t01", "b-t02"))
    assert max(r.created_us for r in scored) < first_chained
    primary = next(row.primary_take_id for row in status(project) if row.beat_id == "a")
    metadata = _stored_takes(project)
    assert {metadata[t][CHAINED_FROM]["take_id"] for t in ("b-t01", "b-t02")} == {primary}  # type: ignore[index]


def test_a_source_clip_made_again_makes_its_chain_stale(tmp_path: Path) -> None:
    """The same primary take whose clip was regenerated (a damaged file, a provider that
    does not repeat itself) no longer holds the frame its chained takes started from."""
    project = _film(tmp_path)
    assert run_production_sync(project, RunOptions()).exit_code == 0
    with ProjectStore.open(project) as store:
        loaded = store.load_project()
    assert loaded is not None
    beats = {b.beat_id: b for b in loaded.beats()}
    source, chained = beats["a"], beats["b"]
    assert mark_stale(chained, source) == []  # the same clip: nothing is stale

    video = source.takes[0].workflow.step("video")
    assert video.receipt is not None
    clip = next(a for a in video.receipt.artifacts.values() if a.mime.startswith("video/"))
    again = dataclasses.replace(clip, sha256="0" * 64)
    artifacts = {name: again if a is clip else a for name, a in video.receipt.artifacts.items()}
    video.receipt = dataclasses.replace(video.receipt, artifacts=artifacts)

    [note] = mark_stale(chained, source)
    assert note.startswith("b-t01 is stale (chained from a-t01, whose clip was made again")
    assert is_stale(chained.takes[0])


def test_a_stale_take_is_not_run_further(tmp_path: Path) -> None:
    """Its steps still pending are never dispatched (and never paid for): its new take runs."""
    project = _film(tmp_path)
    assert run_production_sync(project, RunOptions()).exit_code == 0
    with ProjectStore.open(project) as store:
        loaded = store.load_project()
    assert loaded is not None
    take = next(t for b in loaded.beats() if b.beat_id == "b" for t in b.takes)
    take.status = TakeStatus.PENDING
    assert take in [t for _, _, t in runnable_takes(loaded)]

    take.take_metadata[STALE] = "chained from a-t01; a's primary is now a-t02"
    assert take not in [t for _, _, t in runnable_takes(loaded)]
