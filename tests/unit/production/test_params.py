"""SPEC 9: ``params`` in the shot list reach the provider, the receipt and the sidecar."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from recoil.errors import PayloadError, ShotListError
from recoil.production.folder import open_production
from recoil.production.run import RunOptions, run_production_sync
from recoil.records.provenance import sidecar_path
from tests.helpers import beat, records, shotlist, write_project


def _film(tmp_path: Path, beats: list[dict[str, Any]], **project: Any) -> tuple[Path, Path]:
    calls = tmp_path / "calls.jsonl"
    text = shotlist({"one": beats}, title="Doors", provider="fake", seed=3, **project)
    settings = f'[providers.fake]\ncalls_file = "{calls}"\n'
    return write_project(tmp_path / "film", text, settings), calls


def _calls(calls: Path) -> dict[str, dict[str, Any]]:
    """The fake vendor's calls by job id."""
    lines = [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []
    return {line["job_id"]: line for line in lines}


def _receipts(project: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(beat id, modality) -> its receipt."""
    return {
        (r["provenance"]["beat_id"], r["modality"]): r
        for r in records(project, "receipt")
        if r["status"] == "succeeded"
    }


def test_params_on_a_beat_reach_the_provider_and_the_sidecar(tmp_path: Path) -> None:
    project_params = {"video": {"motion_bucket_id": 127, "noise_aug_strength": 0.02}}
    beat_params = {
        "video": {"motion_bucket_id": 200, "lora": {"name": "film-grain", "weight": 0.6}},
        "keyframe": {"steps": 30, "sampler": "euler"},
        "audio": {"emotion": "calm"},
    }
    film, calls = _film(
        tmp_path,
        [
            beat("a", "a door opens", says="Hello.", params=beat_params),
            beat("b", "a door closes"),
        ],
        params=project_params,
    )

    outcome = run_production_sync(film, RunOptions())

    assert outcome.exit_code == 0, outcome.failures
    sent = _calls(calls)
    receipts = _receipts(film)
    video_a, video_b = receipts["a", "video"], receipts["b", "video"]
    # The beat's value wins name by name; the project's others stay.
    expected_a = {
        "motion_bucket_id": 200,
        "noise_aug_strength": 0.02,
        "lora": {"name": "film-grain", "weight": 0.6},
    }
    assert sent[video_a["job_id"]]["params"] == expected_a
    assert sent[video_b["job_id"]]["params"] == project_params["video"]
    # A name that is a request field sets it; the others pass through as params.
    keyframe_a = receipts["a", "keyframe"]
    assert keyframe_a["request"]["steps"] == 30
    assert sent[keyframe_a["job_id"]]["params"] == {"sampler": "euler"}
    assert sent[receipts["a", "audio"]["job_id"]]["params"] == {"emotion": "calm"}
    assert sent[receipts["b", "keyframe"]["job_id"]]["params"] == {}
    # The receipt and the artifact's sidecar record them (and so the cache key covers them).
    assert video_a["request"]["params"] == expected_a
    clip = video_a["artifacts"]["video"]
    artifact = open_production(film).artifacts.path_for(clip["sha256"], clip["path"][-3:])
    sidecar = json.loads(sidecar_path(artifact).read_text())
    assert sidecar["request"]["params"] == expected_a
    assert sidecar["request_sha256"] == video_a["request_sha256"]
    assert video_a["request_sha256"] != video_b["request_sha256"]


def test_editing_a_beats_params_queues_a_new_take_that_is_not_a_cache_hit(
    tmp_path: Path,
) -> None:
    film, calls = _film(tmp_path, [beat("a", "a door opens", params={"video": {"cfg": 1}})])
    assert run_production_sync(film, RunOptions()).exit_code == 0
    shot = film / "shotlist.yaml"
    shot.write_text(shot.read_text().replace("cfg: 1", "cfg: 2"))

    assert run_production_sync(film, RunOptions()).exit_code == 0

    videos = [line["params"] for line in _calls(calls).values() if line["modality"] == "video"]
    assert videos == [{"cfg": 1}, {"cfg": 2}]


def test_a_bad_value_for_a_request_field_is_one_line_before_any_call(tmp_path: Path) -> None:
    film, calls = _film(
        tmp_path,
        [beat("a", "a door opens"), beat("b", "a door closes", params={"keyframe": {"steps": 0}})],
    )

    with pytest.raises(PayloadError) as info:
        run_production_sync(film, RunOptions())

    message = str(info.value)
    assert "\n" not in message
    assert "'steps'" in message and "beat b" in message and "step keyframe" in message
    assert not calls.exists()


def test_a_provider_that_takes_no_params_refuses_them_before_any_call(tmp_path: Path) -> None:
    text = shotlist(
        {"one": [beat("a", "a door opens", params={"video": {"motion_bucket_id": 127}})]},
        title="Doors",
        provider="previz",
    )
    film = write_project(tmp_path / "film", text)

    with pytest.raises(PayloadError) as info:
        run_production_sync(film, RunOptions())

    assert "motion_bucket_id" in str(info.value) and "beat a" in str(info.value)
    assert records(film, "receipt") == []


@pytest.mark.parametrize(
    ("params", "where", "what"),
    [
        ({"vidoe": {"x": 1}}, "scenes[0].beats[0].params", "unknown modality 'vidoe'"),
        ({"video": {"": 1}}, "scenes[0].beats[0].params.video['']", "must not be empty"),
        ({"video": {"x": float("nan")}}, "scenes[0].beats[0].params.video.x", "finite"),
        ({"video": ["x"]}, "scenes[0].beats[0].params.video", "a mapping"),
        ({"video": {"x": {"when": None, 1: 2}}}, "scenes[0].beats[0].params.video.x", "expected"),
    ],
)
def test_bad_params_are_shot_list_errors_with_their_path(
    tmp_path: Path, params: dict[str, Any], where: str, what: str
) -> None:
    film, _ = _film(tmp_path, [beat("a", "a door opens", params=params)])

    with pytest.raises(ShotListError) as info:
        open_production(film)

    [problem] = info.value.problems
    assert problem.startswith(f"{where}:") and what in problem, problem
