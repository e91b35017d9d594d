"""``recoil run`` on a shot list served by the diffusers provider, a chained beat included."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.helpers import beat, records, shotlist, write_project
from tests.unit.cli.running import Recoil, runner
from tests.unit.providers.diffusers.conftest import settings
from tests.unit.providers.diffusers.test_diffusers_provider import EULER_ARRAY

pytest.importorskip("torch")
pytest.importorskip("diffusers")


@pytest.fixture
def recoil(tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch) -> Recoil:
    monkeypatch.chdir(tmp_path)
    return runner()


@pytest.mark.filterwarnings(EULER_ARRAY)
def test_a_run_makes_keyframes_and_clips_and_chains_a_beat(
    recoil: Recoil, tmp_path: Path, sd_folder: Path, svd_folder: Path
) -> None:
    text = shotlist(
        {
            "one": [
                beat("a", "a red door", duration=0.5),
                beat("b", "the door opens", duration=0.5, chain_from_previous=True),
            ]
        },
        title="Doors",
        resolution="32x32",
        fps=8,
        provider="diffusers",
        seed=5,
        params={"keyframe": {"steps": 2}, "video": {"steps": 2, "decode_chunk_size": 2}},
    )
    film = write_project(tmp_path / "film", text, settings(sd_folder, svd_folder))
    result = recoil("run", film)
    assert result.exit_code == 0, result.output
    receipts = {
        (r["provenance"]["beat_id"], r["modality"]): r
        for r in records(film, "receipt")
        if r["status"] == "succeeded"
    }
    assert set(receipts) == {("a", "keyframe"), ("a", "video"), ("b", "keyframe"), ("b", "video")}
    assert {r["provider"] for r in receipts.values()} == {"diffusers"}
    for (_, modality), receipt in receipts.items():
        if modality == "keyframe":
            with Image.open(film / receipt["artifacts"]["image"]["path"]) as image:
                assert image.size == (32, 32)
        else:
            assert receipt["artifacts"]["video"]["mime"] == "video/mp4"
    tasks = {key: r["provenance"]["provider_identity"]["task"] for key, r in receipts.items()}
    assert tasks["a", "keyframe"] == "text-to-image"
    assert tasks["b", "keyframe"] == "image-to-image"  # from the last frame of beat a's clip

    again = recoil("run", film)
    assert again.exit_code == 0, again.output
    assert len([r for r in records(film, "receipt") if r["status"] == "succeeded"]) == 4
