"""The shot-list models: defaults, accepted shorthands, helpers, immutability."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic
import pytest

from recoil.errors import NotFoundError
from recoil.shotlist import BeatSpec, CharacterSpec, Resolution, ShotList


def make(**beat_overrides: Any) -> dict[str, Any]:
    beats = [
        {"id": "one", "action": "a"},
        {"id": "two", "action": "b", "enabled": False},
        {"id": "three", "action": "c", **beat_overrides},
    ]
    return {
        "project": {"title": "T", "seed": 5, "takes_per_beat": 2, "providers": {"video": "fal"}},
        "characters": {"anna": {"name": "Anna", "description": "d", "voice": "en-us+f3"}},
        "scenes": [{"id": "s1", "beats": beats[:2]}, {"id": "s2", "beats": beats[2:]}],
    }


def test_defaults() -> None:
    shotlist = ShotList.model_validate(make())
    project = shotlist.project
    assert (project.provider, project.fps, project.resolution) == (
        "previz",
        24.0,
        Resolution(width=640, height=360),
    )
    assert project.primary_strategy == "first_success"
    beat = shotlist.scenes[1].beats[0]
    assert (beat.shot.size, beat.shot.angle, beat.shot.lens, beat.shot.movement) == (
        "medium",
        "eye_level",
        35,
        "static",
    )
    assert beat.duration == 4.0
    assert beat.enabled


@pytest.mark.parametrize("text", ["640x360", "640X360", " 640 x 360 ", "640×360"])
def test_resolution_accepts_text(text: str) -> None:
    data = make()
    data["project"]["resolution"] = text
    assert ShotList.model_validate(data).project.resolution == Resolution(width=640, height=360)


def test_models_are_frozen() -> None:
    shotlist = ShotList.model_validate(make())
    with pytest.raises(pydantic.ValidationError):
        setattr(shotlist.project, "fps", 30)  # noqa: B010 -- bypass the type checker on purpose


def test_programmatic_construction_checks_references() -> None:
    with pytest.raises(pydantic.ValidationError, match="unknown character 'bob'; defined: anna"):
        ShotList.model_validate(make(characters=["bob"]))


def test_iter_beats_skips_disabled_unless_asked() -> None:
    shotlist = ShotList.model_validate(make())
    assert [b.id for _, b in shotlist.iter_beats()] == ["one", "three"]
    assert [b.id for _, b in shotlist.iter_beats(include_disabled=True)] == ["one", "two", "three"]
    scene, beat = shotlist.beat("three")
    assert (scene.id, beat.id) == ("s2", "three")
    with pytest.raises(NotFoundError, match=r"no beat 'thre' in the shot list \(did you mean"):
        shotlist.beat("thre")


def test_previous_beat_is_the_previous_enabled_one_across_scenes() -> None:
    shotlist = ShotList.model_validate(make(chain_from_previous=True))
    _, three = shotlist.beat("three")
    _, one = shotlist.beat("one")
    assert shotlist.previous_beat(three) == one
    assert shotlist.previous_beat(one) is None


def test_takes_seeds_and_providers() -> None:
    shotlist = ShotList.model_validate(make(takes=5, seed=9, provider="comfyui"))
    _, one = shotlist.beat("one")
    _, three = shotlist.beat("three")
    assert shotlist.takes_for(one) == 2
    assert shotlist.takes_for(three) == 5
    assert shotlist.beat_seed(three) == 9
    derived = shotlist.beat_seed(one)
    assert 0 <= derived < 2**63
    assert derived == ShotList.model_validate(make()).beat_seed(one)  # stable
    reseeded = make()
    reseeded["project"]["seed"] = 6
    assert ShotList.model_validate(reseeded).beat_seed(one) != derived
    assert shotlist.provider_for(one, "video") == "fal"
    assert shotlist.provider_for(one, "keyframe") == "previz"
    assert shotlist.provider_for(three, "video") == "comfyui"


def test_reference_paths_resolve_against_the_shotlist_folder(tmp_path: Path) -> None:
    character = CharacterSpec(
        name="A", description="d", reference_images=["refs/a.png", "/abs/b.png"]
    )
    assert character.reference_paths(tmp_path) == (
        (tmp_path / "refs" / "a.png").resolve(),
        Path("/abs/b.png"),
    )


def test_beat_rejects_unknown_fields() -> None:
    with pytest.raises(pydantic.ValidationError):
        BeatSpec.model_validate({"id": "a", "action": "x", "colour": "red"})
