"""Scores end to end through the real CLI: a black take loses the primary to a good one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
from PIL import Image

from tests.e2e.conftest import Run
from tests.helpers import beat, records, shotlist, write_project

pytestmark = pytest.mark.slow


def test_score_picks_the_good_take_over_a_black_one(recoil_cli: Run, tmp_path: Path) -> None:
    text = shotlist(
        {"one": [beat("door", "a door opens", says="who is there")]},
        title="Door",
        provider="fake",
        takes_per_beat=3,
        primary_strategy="score",
        seed=5,
    )
    project = write_project(tmp_path / "door", text, "[providers.fake]\nblack = 1\n")
    run = recoil_cli("run", str(project))
    assert run.returncode == 0, run.stderr

    keyframes = {
        r["receipt_id"]: r for r in records(project, "receipt") if r["modality"] == "keyframe"
    }
    black = {
        rid
        for rid, r in keyframes.items()
        if not np.asarray(Image.open(project / r["artifacts"]["image"]["path"])).any()
    }
    assert len(black) == 1 and len(keyframes) == 3  # one bad take of three
    scored = {e["receipt_id"] for e in records(project, "eval")}
    assert set(keyframes) <= scored

    rows = json.loads(recoil_cli("status", str(project), "--json").stdout)
    [row] = rows
    primary = next(t for t in row["takes"] if t["primary"])
    assert all(t["score"] is not None for t in row["takes"])
    assert primary["score"] == max(t["score"] for t in row["takes"])

    timeline = otio.adapters.read_from_file(str(project / "exports" / "cut.otio"))
    [clip] = timeline.video_tracks()[0].find_clips()
    meta = clip.metadata["recoil"]
    assert meta["take_id"] == primary["take_id"]
    bad_take = next(
        t["take_id"]
        for t in row["takes"]
        if any(r["receipt_id"] in black for r in _take_receipts(project, t["take_id"]))
    )
    assert bad_take != primary["take_id"]
    table = recoil_cli("status", str(project)).stdout
    assert f"{primary['score']:.3f}" in table

    again = recoil_cli("score", str(project))
    assert again.returncode == 0, again.stderr
    assert "(0 new scores); nothing was generated" in again.stdout


def _take_receipts(project: Path, take_id: str) -> list[dict[str, object]]:
    return [
        r
        for r in records(project, "receipt")
        if isinstance(r.get("provenance"), dict) and r["provenance"].get("take_id") == take_id
    ]


def test_shootout_twice_through_the_cli_generates_once(recoil_cli: Run, tmp_path: Path) -> None:
    args = ("shootout", "a lighthouse at dusk", "--providers", "previz,fake", "--seeds", "1-2")
    small = ("--param", "width=96", "--param", "height=64", "--out", "shoot")
    first = recoil_cli(*args, *small)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[-1] == "4 generated, 0 cached, 0 failed"
    again = recoil_cli(*args, *small)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1] == "0 generated, 4 cached, 0 failed"
    receipts = records(tmp_path / "shoot", "receipt")
    assert [r["cached"] for r in receipts] == [False] * 4 + [True] * 4
    artifacts = list((tmp_path / "shoot" / "artifacts").rglob("*.png"))
    assert len(artifacts) == 4
    assert "BEST" in (tmp_path / "shoot" / "shootout.html").read_text()
