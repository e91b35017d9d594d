"""Scores in a project: a run scores each step, ``score_project`` fills in the rest once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import opentimelineio as otio
import pytest
from PIL import Image

from recoil.errors import NotFoundError
from recoil.model.receipt import EvalRecord, Receipt
from recoil.model.take import PrimaryStrategy
from recoil.production.primaries import PrimaryRule, choose_by_rule
from recoil.production.review import status
from recoil.production.run import RunOptions, run_production_sync
from recoil.production.scoring import score_project
from recoil.records.log import read_records
from recoil.store import ProjectStore
from tests.helpers import beat, shotlist, write_project

if TYPE_CHECKING:
    from conftest import Doors


def _evals(project: Path) -> list[EvalRecord]:
    return [r for r in read_records(project / "receipts.jsonl") if isinstance(r, EvalRecord)]


def _receipts(project: Path) -> list[Receipt]:
    return [r for r in read_records(project / "receipts.jsonl") if isinstance(r, Receipt)]


def test_a_run_scores_every_step_once_and_score_then_computes_nothing(doors: Doors) -> None:
    project = doors(1)
    outcome = run_production_sync(project, RunOptions())
    assert outcome.report.failed == 0
    evals = _evals(project)
    scored = {e.receipt_id for e in evals}
    assert scored == {r.receipt_id for r in _receipts(project) if r.succeeded}
    for record in evals:
        assert record.version and 0.0 <= record.scores[record.scorer] <= 1.0
    keyframe = next(r for r in _receipts(project) if r.modality == "keyframe")
    mine = {e.scorer for e in evals if e.receipt_id == keyframe.receipt_id}
    assert {"exposure", "noise", "sharpness"} <= mine
    assert any(n.startswith("prompt_adherence skipped: ") for n in outcome.notes)

    again = score_project(project)
    assert (again.scored, again.records) == (0, 0)
    assert len(_evals(project)) == len(evals)


def test_score_fills_in_what_a_run_without_eval_left(doors: Doors) -> None:
    project = doors(1)
    run_production_sync(project, RunOptions(evaluate=False))
    assert _evals(project) == []

    outcome = score_project(project)
    succeeded = [r for r in _receipts(project) if r.succeeded]
    assert outcome.receipts == outcome.scored == len(succeeded)
    assert outcome.records == len(_evals(project)) > 0
    rows = status(project)
    assert all(t.score is not None for row in rows for t in row.takes)


def test_evals_can_be_switched_off_and_an_unknown_scorer_is_named(doors: Doors) -> None:
    project = doors(1)
    (project / "recoil.toml").write_text("[evals]\nenabled = false\n")
    run_production_sync(project, RunOptions())
    assert _evals(project) == []
    (project / "recoil.toml").write_text('[evals]\nscorers = ["sharpnes"]\n')
    with pytest.raises(NotFoundError, match="did you mean 'sharpness'"):
        score_project(project)


def _luma(path: Path) -> float:
    return float(np.asarray(Image.open(path).convert("L")).mean())


def test_primary_by_score_passes_over_a_black_take(tmp_path: Path) -> None:
    """One take of the beat comes out black (the fake's ``black`` option): score picks the other."""
    text = shotlist(
        {"one": [beat("a", "a door opens")]},
        title="Doors",
        provider="fake",
        takes_per_beat=2,
        primary_strategy="score",
        seed=3,
    )
    project = write_project(tmp_path / "film", text, "[providers.fake]\nblack = 1\n")
    outcome = run_production_sync(project, RunOptions())
    assert outcome.report.failed == 0

    with ProjectStore.open(project) as store:
        loaded = store.load_project()
    assert loaded is not None
    [beat_a] = loaded.beats()
    keyframes = {t.take_id: t.workflow.step("keyframe").receipt for t in beat_a.takes}
    lumas = {}
    for take_id, receipt in keyframes.items():
        assert receipt is not None
        [artifact] = receipt.artifacts.values()
        lumas[take_id] = _luma(project / artifact.path)
    black = [t for t, luma in lumas.items() if luma == 0.0]
    assert len(black) == 1, lumas  # exactly one bad take
    assert beat_a.primary_take_id is not None and beat_a.primary_take_id not in black

    [row] = status(project)
    chosen = [t for t in row.takes if t.primary]
    assert [t.take_id for t in chosen] == [beat_a.primary_take_id]
    bad = next(t for t in row.takes if t.take_id == black[0])
    assert chosen[0].score is not None and bad.score is not None
    assert chosen[0].score > bad.score

    timeline = otio.adapters.read_from_file(str(project / "exports" / "cut.otio"))
    [clip] = [c for c in timeline.find_clips() if c.metadata.get("recoil", {}).get("beat_id")]
    meta = clip.metadata["recoil"]
    assert meta["take_id"] == beat_a.primary_take_id
    assert meta["score"] == pytest.approx(chosen[0].score)
    assert meta["primary_reason"].startswith("best score")
    reference = clip.media_reference.metadata["recoil"]
    assert reference["scores"]["keyframe.exposure"] > 0.0
    contact = (project / "exports" / "contact.html").read_text()
    assert "primary: best score" in contact and "keyframe.exposure" in contact


def test_an_unscored_take_passed_over_for_a_scored_one_is_said(doors: Doors) -> None:
    project = doors(2)
    run_production_sync(project, RunOptions(evaluate=False))
    with ProjectStore.open(project) as store:
        loaded = store.load_project()
    assert loaded is not None
    first = {t.take_id for b in loaded.beats() for t in b.takes if t.take_index == 0}
    owner = {r.receipt_id: t.take_id for b in loaded.beats() for t in b.takes for r in t.receipts()}

    def scores(receipt: Receipt) -> dict[str, float]:
        return {"exposure": 0.5} if owner[receipt.receipt_id] in first else {}

    notes = choose_by_rule(loaded, PrimaryRule(strategy=PrimaryStrategy.SCORE, scores=scores))
    assert {b.primary_take_id for b in loaded.beats()} == first
    assert len(notes) == 2
    assert all("by score over" in n and "no scores yet; recoil score" in n for n in notes)

    nothing = PrimaryRule(strategy=PrimaryStrategy.SCORE, scores=lambda r: {})
    none = choose_by_rule(loaded, nothing)
    assert all("no take has scores yet; chose the first success" in n for n in none)
