"""Review from the CLI changes what ``recoil status`` and the next export show (SPEC 6, 11, 12)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import opentimelineio as otio
import pytest

from tests.e2e.conftest import Run

pytestmark = pytest.mark.slow


def _status(run: Run, project: Path) -> dict[str, dict[str, Any]]:
    result = run("status", str(project), "--json")
    assert result.returncode == 0, result.stderr
    return {beat["beat_id"]: beat for beat in json.loads(result.stdout)}


def _timeline(project: Path) -> dict[str, otio.schema.Clip]:
    timeline = otio.adapters.read_from_file(str(project / "exports" / "cut.otio"))
    return {c.metadata["recoil"]["beat_id"]: c for c in timeline.video_tracks()[0].find_clips()}


def _take(beat: dict[str, Any], take_id: str) -> dict[str, Any]:
    return next(t for t in beat["takes"] if t["take_id"] == take_id)


def test_approve_reject_retake_flow(recoil_cli: Run, small_project: Path) -> None:
    """SPEC 12: approving makes a take primary; rejecting and retaking queue new takes."""
    assert recoil_cli("run", str(small_project)).returncode == 0
    status = _status(recoil_cli, small_project)
    assert status["look"]["primary_take_id"] == "look-t01"
    assert status["walk"]["primary_take_id"] == "walk-t01"

    approved = recoil_cli("approve", str(small_project), "look-t02", "--note", "better light")
    assert approved.returncode == 0, approved.stderr
    rejected = recoil_cli(
        "reject", str(small_project), "walk-t01", "--note", "too dark", "--author", "ed"
    )
    assert rejected.returncode == 0, rejected.stderr
    assert "queued walk-t03" in rejected.stdout
    retaken = recoil_cli("retake", str(small_project), "look", "--note", "slower", "--json")
    assert retaken.returncode == 0, retaken.stderr
    assert json.loads(retaken.stdout)["queued"] == "look-t03"

    status = _status(recoil_cli, small_project)
    assert status["look"]["primary_take_id"] == "look-t02"
    assert _take(status["look"], "look-t02")["review"] == "approved"
    assert _take(status["look"], "look-t03")["status"] == "pending"
    walk_t01 = _take(status["walk"], "walk-t01")
    assert walk_t01["review"] == "retake"
    assert walk_t01["notes"] == ["ed: too dark"]
    assert status["walk"]["primary_take_id"] == "walk-t02"  # the rejected take is not used

    result = recoil_cli("run", str(small_project))
    assert result.returncode == 0, result.stderr
    assert "5 succeeded" in result.stdout  # look-t03 (3 steps) and walk-t03 (2 steps)
    status = _status(recoil_cli, small_project)
    assert _take(status["look"], "look-t03")["status"] == "succeeded"
    assert status["look"]["primary_take_id"] == "look-t02"  # the approval holds

    clips = _timeline(small_project)
    assert clips["look"].metadata["recoil"]["take_id"] == "look-t02"
    assert clips["walk"].metadata["recoil"]["take_id"] == "walk-t02"
    assert set(clips["look"].media_references()) == {"DEFAULT_MEDIA", "take_01", "take_03"}
    colors = {m.color for m in clips["look"].markers}
    assert otio.schema.MarkerColor.GREEN in colors


def test_receipts_summary_sums_spend(recoil_cli: Run, small_project: Path) -> None:
    """SPEC 8: ``recoil receipts --summary`` sums spend per provider, modality, scene, run."""
    assert recoil_cli("run", str(small_project)).returncode == 0
    result = recoil_cli("receipts", str(small_project), "--summary", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    by_modality = {row["key"]: row["dispatches"] for row in summary["modality"]}
    assert by_modality == {"audio": 2, "keyframe": 4, "video": 4}
    assert [row["key"] for row in summary["provider"]] == ["previz"]
    assert {row["key"] for row in summary["scene"]} == {"street"}
    listing = recoil_cli("receipts", str(small_project))
    assert listing.returncode == 0
    assert len(listing.stdout.strip().splitlines()) == 10
