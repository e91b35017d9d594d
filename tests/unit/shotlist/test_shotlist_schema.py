"""The shot-list models: defaults, accepted shorthands, helpers, immutability."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic
import pytest

from recoil.errors import NotFoundError, ShotListError, describe
from recoil.model.problems import format_loc
from recoil.shotlist import BeatSpec, CharacterSpec, Resolution, ShotList, validate_shotlist


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


def problems(data: dict[str, Any]) -> tuple[str, ...]:
    """The problems validating ``data`` finds (it must find some)."""
    with pytest.raises(ShotListError) as info:
        validate_shotlist("shots.yaml", data)
    return info.value.problems


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


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("duration", True, "got True, expected a number"),
        ("duration", "4", "got '4', expected a number"),
        ("takes", True, "got True, expected an integer"),
        ("takes", 2.0, "got 2.0, expected an integer"),
        ("seed", "7", "got '7', expected an integer"),
        ("enabled", "false", "got 'false', expected true or false"),
        ("enabled", 0, "got 0, expected true or false"),
        ("duration", float("inf"), "got inf, expected a finite number"),
    ],
)
def test_values_are_not_coerced(field: str, value: object, message: str) -> None:
    """``duration: true`` is an error, not a 1 s beat (issue 11, item 9)."""
    assert problems(make(**{field: value})) == (f"scenes[1].beats[0].{field}: {message}",)


def test_whole_numbers_are_numbers() -> None:
    data = make(duration=2)
    data["project"]["fps"] = 25
    shotlist = ShotList.model_validate(data)
    assert shotlist.project.fps == 25.0
    assert shotlist.beat("three")[1].duration == 2.0


@pytest.mark.parametrize("version", [True, 1.0, "1", 2])
def test_version_is_exactly_one(version: object) -> None:
    data = {**make(), "version": version}
    assert problems(data) == (f"version: got {version!r}, allowed: 1",)


def too_long_text(length: int, limit: int) -> str:
    excerpt = describe("a" * length)
    return f"got {excerpt} ({length:,} characters), must be at most {limit:,} characters"


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        (("scenes", 1, "beats", 0, "id"), 128),
        (("scenes", 1, "beats", 0, "action"), 4000),
        (("scenes", 1, "beats", 0, "prompt"), 4000),
        (("scenes", 1, "beats", 0, "lighting"), 4000),
        (("scenes", 1, "beats", 0, "provider"), 200),
        (("scenes", 1, "id"), 128),
        (("scenes", 1, "title"), 200),
        (("scenes", 1, "location"), 4000),
        (("project", "title"), 200),
        (("project", "style"), 4000),
        (("characters", "anna", "name"), 200),
        (("characters", "anna", "description"), 4000),
        (("characters", "anna", "voice"), 200),
    ],
    ids=lambda value: ".".join(map(str, value)) if isinstance(value, tuple) else str(value),
)
def test_text_lengths_are_limited(path: tuple[str | int, ...], limit: int) -> None:
    data = make()
    parent: Any = data
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = "a" * limit
    ShotList.model_validate(data)  # at the limit
    parent[path[-1]] = "a" * (limit + 1)
    assert problems(data) == (f"{format_loc(path)}: {too_long_text(limit + 1, limit)}",)


def test_a_long_character_id_is_limited() -> None:
    data = make()
    data["characters"]["a" * 129] = {"name": "A", "description": "d"}
    assert problems(data) == (
        f"characters[{describe('a' * 129)}]: invalid key: {too_long_text(129, 128)}",
    )


def test_list_lengths_are_limited() -> None:
    data = make(
        characters=["anna"] * 101,
        dialogue=[{"character": "anna", "text": "hi"}] * 101,
        expression={f"c{i}": "smiles" for i in range(101)},
    )
    data["characters"] = {f"c{i}": {"name": "C", "description": "d"} for i in range(1001)}
    data["characters"]["anna"] = {
        "name": "Anna",
        "description": "d",
        "reference_images": ["a.png"] * 101,
    }
    data["scenes"][0]["beats"] = [{"id": f"b{i}", "action": "a"} for i in range(1001)]
    data["scenes"] += [
        {"id": f"s{i}", "beats": [{"id": f"x{i}", "action": "a"}]} for i in range(999)
    ]
    assert [p for p in problems(data) if "allows at most" in p] == [
        "characters: allows at most 1,000 entries, got more",
        "scenes: allows at most 1,000 items, got 1,001",
    ]
    del data["characters"]["c1000"], data["scenes"][-1]
    assert [p for p in problems(data) if "allows at most" in p] == [
        "characters.anna.reference_images: allows at most 100 items, got 101",
        "scenes[0].beats: allows at most 1,000 items, got 1,001",
        "scenes[1].beats[0].characters: allows at most 100 items, got 101",
        "scenes[1].beats[0].expression: allows at most 100 entries, got more",
        "scenes[1].beats[0].dialogue: allows at most 100 items, got 101",
    ]
