"""The shot-list schema: project defaults, characters, scenes, beats, shots.

Every model is frozen and forbids unknown fields, so a typo in a shot list is an
error rather than a silently ignored key. Field rules (ranges, allowed values)
live on the fields; rules that span fields (unique ids, references to defined
characters, chaining) live in :func:`reference_problems`, which works on plain
data so the loader can report them together with the field errors.

Decisions the spec leaves open:

- Scene, beat and character ids are slugs (``^[a-z0-9][a-z0-9_-]*$``); beat ids
  are unique across the whole file because take and receipt ids derive from them.
- An ``expression`` entry must name a character that is in the beat's
  ``characters`` (an expression for someone off screen would be ignored, which
  hides a mistake); a dialogue speaker may be off screen.
- ``chain_from_previous`` chains from the previous *enabled* beat in file order,
  across scene boundaries; the first beat of the file cannot chain.
- ``version`` is the shot-list format version; only ``1`` exists.
- Types are strict: ``duration: true`` or ``fps: "24"`` is an error, not 1 s or
  24 fps, as YAML makes such slips easy (``yes``, ``on`` and ``no`` are booleans)
  and a quietly converted value costs a paid generation to notice. Whole numbers
  are accepted where a number is expected; NaN and infinity are not.
- Lengths are bounded so one shot list cannot make every prompt, log record and
  contact sheet huge: ids :data:`MAX_ID_LENGTH` characters, names and titles
  :data:`MAX_NAME_LENGTH`, descriptive text :data:`MAX_TEXT_LENGTH`, and each list
  :data:`MAX_ITEMS` (:data:`MAX_PER_BEAT` inside a beat or character).
- A beat's base seed is its ``seed`` when given, else derived from the project
  seed and the beat id (see :meth:`ShotList.beat_seed`), so inserting a beat does
  not change the seeds of the others.
- ``params`` (on the project and on a beat) maps a modality to model parameters:
  names of at most :data:`MAX_ID_LENGTH` characters, JSON values (strings,
  numbers, booleans, ``null``, lists and mappings of them), at most
  :data:`MAX_PER_BEAT` per modality. The beat's win name by name over the
  project's (:meth:`ShotList.params_for`); ``null`` keeps the parameter out of
  the request the provider sends. Which names a model takes is the provider's
  to check, before any call.
"""

from __future__ import annotations

import datetime
import hashlib
import math
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from recoil.errors import NotFoundError, describe, did_you_mean
from recoil.model.problems import SLUG_PATTERN, format_loc
from recoil.model.requests import CameraMovement

MODALITIES: tuple[str, ...] = ("keyframe", "video", "audio", "upscale")
MAX_SEED = 2**63 - 1
MAX_ID_LENGTH = 128
"""Scene, beat and character ids; take ids and log records are built from them."""
MAX_NAME_LENGTH = 200
"""Titles, names, locations, voices and provider names."""
MAX_TEXT_LENGTH = 4000
"""Descriptive text that goes into prompts: action, dialogue, style and the like."""
MAX_PATH_LENGTH = 4096
"""A reference image path (Linux's ``PATH_MAX``)."""
MAX_ITEMS = 1000
"""Scenes in a shot list, beats in a scene, characters defined."""
MAX_PER_BEAT = 100
"""Characters in a beat, dialogue lines, expressions, reference images."""

ShotSize = Literal[
    "extreme_wide", "wide", "full", "medium", "medium_close", "close_up", "extreme_close_up"
]
ShotAngle = Literal["eye_level", "high", "low", "overhead", "dutch"]
SHOT_SIZES: tuple[str, ...] = get_args(ShotSize)
SHOT_ANGLES: tuple[str, ...] = get_args(ShotAngle)
CAMERA_MOVEMENTS: tuple[str, ...] = get_args(CameraMovement)
PrimaryStrategyName = Literal["first_success", "manual", "score"]
Slug = Annotated[str, Field(pattern=SLUG_PATTERN, max_length=MAX_ID_LENGTH)]
Name = Annotated[str, Field(max_length=MAX_NAME_LENGTH)]
Text = Annotated[str, Field(max_length=MAX_TEXT_LENGTH)]


def _json_safe(value: Any) -> Any:
    """``value`` if it is JSON (finite numbers only), else a ValueError saying what came."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"got {describe(value)}, expected a finite number")
        return value
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, datetime.date):
        raise ValueError(f"got the date {value.isoformat()}; quote it to pass it as text")
    raise ValueError(
        f"got {describe(value)}, expected a string, a number, true/false, null, "
        "or a list or mapping of them"
    )


ParamName = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]
ParamValue = Annotated[Any, AfterValidator(_json_safe)]
Params = dict[str, Annotated[dict[ParamName, ParamValue], Field(max_length=MAX_PER_BEAT)]]
"""Modality -> model parameter name -> value (JSON)."""

_CONFIG = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)
_RESOLUTION_TEXT = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")


class Resolution(BaseModel):
    """Frame size in pixels; even numbers, as H.264 with 4:2:0 chroma needs."""

    model_config = _CONFIG

    width: int = Field(default=640, ge=16, le=8192, multiple_of=2)
    height: int = Field(default=360, ge=16, le=8192, multiple_of=2)

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        if not isinstance(data, str):
            return data
        match = _RESOLUTION_TEXT.match(data)
        if match is None:
            raise ValueError(f"got {describe(data)}, expected 'WIDTHxHEIGHT' like '640x360'")
        return {"width": int(match[1]), "height": int(match[2])}


class ProjectSpec(BaseModel):
    """Project-wide defaults every beat inherits."""

    model_config = _CONFIG

    title: Name = Field(min_length=1)
    provider: Name = "previz"
    providers: dict[str, Name] = Field(default_factory=dict)
    """Per-modality provider override: modality -> provider name."""
    resolution: Resolution = Field(default_factory=Resolution)
    fps: float = Field(default=24.0, gt=0, le=240)
    style: Text = ""
    negative_prompt: Text = ""
    primary_strategy: PrimaryStrategyName = "first_success"
    takes_per_beat: int = Field(default=1, ge=1, le=20)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    upscale: bool = False
    params: Params = Field(default_factory=dict)
    """Modality -> model parameters every beat sends (``{video: {motion_bucket_id: 127}}``)."""

    @field_validator("providers", "params")
    @classmethod
    def _known_modalities(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _known_modality_keys(value)


class CharacterSpec(BaseModel):
    """A recurring character: how they look and sound."""

    model_config = _CONFIG

    name: Name = Field(min_length=1)
    description: Text
    voice: Name | None = None
    """An espeak-ng voice such as ``en-us+m3``; providers may map it to their own."""
    reference_images: list[Annotated[str, Field(max_length=MAX_PATH_LENGTH)]] = Field(
        default_factory=list, max_length=MAX_PER_BEAT
    )
    """Paths relative to the shot-list file; existence is checked when a run starts."""

    def reference_paths(self, base_dir: Path) -> tuple[Path, ...]:
        """The reference images as absolute paths, resolved against ``base_dir``."""
        root = base_dir.resolve()
        return tuple((root / Path(p).expanduser()).resolve() for p in self.reference_images)


class ShotSpec(BaseModel):
    """Camera: framing, angle, focal length and movement."""

    model_config = _CONFIG

    size: ShotSize = "medium"
    angle: ShotAngle = "eye_level"
    lens: int = Field(default=35, ge=8, le=300)
    """Focal length in millimetres (full-frame equivalent)."""
    movement: CameraMovement = "static"


class LineSpec(BaseModel):
    """One line of dialogue."""

    model_config = _CONFIG

    character: str
    text: Text = Field(min_length=1)


class BeatSpec(BaseModel):
    """One logical shot and everything the director says about it."""

    model_config = _CONFIG

    id: Slug
    shot: ShotSpec = Field(default_factory=ShotSpec)
    action: Text = Field(min_length=1)
    characters: list[str] = Field(default_factory=list, max_length=MAX_PER_BEAT)
    lighting: Text = ""
    expression: dict[str, Text] = Field(default_factory=dict, max_length=MAX_PER_BEAT)
    """Character id -> expression or pose in this beat."""
    dialogue: list[LineSpec] = Field(default_factory=list, max_length=MAX_PER_BEAT)
    duration: float = Field(default=4.0, gt=0, le=60)
    """Seconds."""
    takes: int | None = Field(default=None, ge=1, le=20)
    """Overrides the project's ``takes_per_beat``."""
    enabled: bool = True
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    chain_from_previous: bool = False
    """Start the keyframe from the last frame of the previous beat's primary take."""
    prompt: Text | None = None
    """Raw text appended to the composed keyframe and video prompts."""
    provider: Name | None = None
    """Overrides the project's providers for every modality of this beat."""
    params: Params = Field(default_factory=dict)
    """Modality -> model parameters; each name overrides the project's."""

    @field_validator("params")
    @classmethod
    def _known_modalities(cls, value: Params) -> Params:
        return _known_modality_keys(value)


def _known_modality_keys(value: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(value) - set(MODALITIES))
    if unknown:
        allowed = ", ".join(MODALITIES)
        raise ValueError(f"unknown modality {describe(unknown[0])}; allowed: {allowed}")
    return value


class SceneSpec(BaseModel):
    """An ordered list of beats at one place and time."""

    model_config = _CONFIG

    id: Slug
    title: Name = ""
    location: Text = ""
    time_of_day: Name = ""
    beats: list[BeatSpec] = Field(min_length=1, max_length=MAX_ITEMS)


class ShotList(BaseModel):
    """A whole production: project defaults, characters and scenes."""

    model_config = _CONFIG

    version: Literal[1] = 1
    project: ProjectSpec
    characters: dict[Slug, CharacterSpec] = Field(default_factory=dict, max_length=MAX_ITEMS)
    scenes: list[SceneSpec] = Field(min_length=1, max_length=MAX_ITEMS)

    @field_validator("version", mode="before")
    @classmethod
    def _exactly_one(cls, value: Any) -> Any:
        # Literal[1] would take True and 1.0, which equal 1 in Python.
        if type(value) is not int:
            raise ValueError(f"got {describe(value)}, allowed: 1")
        return value

    @model_validator(mode="after")
    def _check_references(self) -> ShotList:
        problems = reference_problems(self.model_dump())
        if problems:
            raise ShotListReferenceError(problems)
        return self

    def iter_beats(self, *, include_disabled: bool = False) -> Iterator[tuple[SceneSpec, BeatSpec]]:
        """Every (scene, beat) pair in file order; disabled beats only when asked."""
        for scene in self.scenes:
            for beat in scene.beats:
                if beat.enabled or include_disabled:
                    yield scene, beat

    def beat(self, beat_id: str) -> tuple[SceneSpec, BeatSpec]:
        """The scene and beat with id ``beat_id``; :class:`NotFoundError` if there is none."""
        for scene, beat in self.iter_beats(include_disabled=True):
            if beat.id == beat_id:
                return scene, beat
        known = [beat.id for _, beat in self.iter_beats(include_disabled=True)]
        raise NotFoundError(f"no beat {beat_id!r} in the shot list{did_you_mean(beat_id, known)}")

    def previous_beat(self, beat: BeatSpec) -> BeatSpec | None:
        """The enabled beat before ``beat`` in file order (the chaining source)."""
        previous: BeatSpec | None = None
        for _, candidate in self.iter_beats(include_disabled=True):
            if candidate.id == beat.id:
                return previous
            if candidate.enabled:
                previous = candidate
        raise NotFoundError(f"beat {beat.id!r} is not in this shot list")

    def takes_for(self, beat: BeatSpec) -> int:
        """How many takes to make of ``beat``."""
        return beat.takes if beat.takes is not None else self.project.takes_per_beat

    def beat_seed(self, beat: BeatSpec) -> int:
        """The beat's base seed: its own, or one derived from the project seed and beat id."""
        if beat.seed is not None:
            return beat.seed
        digest = hashlib.sha256(f"{self.project.seed}:{beat.id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") & MAX_SEED

    def params_for(self, beat: BeatSpec, modality: str) -> dict[str, Any]:
        """Model parameters of one modality of a beat: the project's, the beat's over them."""
        return {**self.project.params.get(modality, {}), **beat.params.get(modality, {})}

    def provider_for(self, beat: BeatSpec, modality: str) -> str:
        """Provider for one modality of a beat: beat, then per-modality, then project."""
        if beat.provider is not None:
            return beat.provider
        return self.project.providers.get(modality, self.project.provider)


class ShotListReferenceError(ValueError):
    """Cross-field problems of a shot list, each a (location, message) pair."""

    def __init__(self, problems: list[tuple[tuple[str | int, ...], str]]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{format_loc(loc)}: {msg}" for loc, msg in self.problems))


def reference_problems(data: Mapping[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """Cross-field problems of raw shot-list data, in file order.

    Tolerates data that fails field validation (wrong types are skipped, not
    reported), so the loader can report these alongside pydantic's errors.
    """
    characters = data.get("characters")
    defined = {str(k) for k in characters} if isinstance(characters, Mapping) else set()
    known = _known(defined)
    problems: list[tuple[tuple[str | int, ...], str]] = []
    scenes = data.get("scenes")
    if not isinstance(scenes, list):
        return problems
    scene_ids: set[str] = set()
    beat_ids: dict[str, str] = {}
    first_beat = True
    for s, scene in enumerate(scenes):
        if not isinstance(scene, Mapping):
            continue
        scene_id = scene.get("id")
        if isinstance(scene_id, str):
            if scene_id in scene_ids:
                problems.append((("scenes", s, "id"), f"duplicate scene id {describe(scene_id)}"))
            scene_ids.add(scene_id)
        beats = scene.get("beats")
        if not isinstance(beats, list):
            continue
        for b, beat in enumerate(beats):
            if not isinstance(beat, Mapping):
                continue
            where: tuple[str | int, ...] = ("scenes", s, "beats", b)
            beat_id = beat.get("id")
            if isinstance(beat_id, str):
                if beat_id in beat_ids:
                    first = beat_ids[beat_id]
                    duplicate = f"duplicate beat id {describe(beat_id)} ({first})"
                    problems.append(((*where, "id"), duplicate))
                else:
                    beat_ids[beat_id] = f"first used at {format_loc(where)}"
            if first_beat and beat.get("chain_from_previous") is True:
                problems.append(
                    ((*where, "chain_from_previous"), "the first beat has no previous beat")
                )
            first_beat = False
            problems.extend(_beat_references(where, beat, defined, known))
    return problems


_KNOWN_SHOWN = 20
"""How many defined characters an unknown-character message lists."""


def _known(defined: set[str]) -> str:
    """The defined character ids for a message: sorted, the first few, and a count."""
    if not defined:
        return "none"
    names = sorted(defined)
    shown = ", ".join(names[:_KNOWN_SHOWN])
    return shown if len(names) <= _KNOWN_SHOWN else f"{shown}, ... ({len(names)} in all)"


def _beat_references(
    where: tuple[str | int, ...], beat: Mapping[str, Any], defined: set[str], known: str
) -> list[tuple[tuple[str | int, ...], str]]:
    problems: list[tuple[tuple[str | int, ...], str]] = []

    def unknown(name: str) -> str:
        return f"unknown character {describe(name)}; defined: {known}"

    characters = beat.get("characters")
    in_shot: set[str] = set()
    if isinstance(characters, list):
        for i, name in enumerate(characters):
            if not isinstance(name, str):
                continue
            if name not in defined:
                problems.append(((*where, "characters", i), unknown(name)))
            elif name in in_shot:
                problems.append(((*where, "characters", i), f"{describe(name)} is listed twice"))
            in_shot.add(name)
    expression = beat.get("expression")
    if isinstance(expression, Mapping):
        for name in expression:
            loc = (*where, "expression", str(name))
            if name not in defined:
                problems.append((loc, unknown(str(name))))
            elif name not in in_shot:
                not_in_shot = f"{describe(name)} is not in this beat's characters; add it there"
                problems.append((loc, not_in_shot))
    dialogue = beat.get("dialogue")
    if isinstance(dialogue, list):
        for i, line in enumerate(dialogue):
            speaker = line.get("character") if isinstance(line, Mapping) else None
            if isinstance(speaker, str) and speaker not in defined:
                problems.append(((*where, "dialogue", i, "character"), unknown(speaker)))
    return problems
