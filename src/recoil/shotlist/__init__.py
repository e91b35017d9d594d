"""The shot list (what to shoot) and the prompt engine (what to ask providers for)."""

from __future__ import annotations

from recoil.shotlist.example import EXAMPLE_SETTINGS, EXAMPLE_SHOTLIST, write_example
from recoil.shotlist.loader import load_shotlist, validate_shotlist
from recoil.shotlist.prompts import (
    audio_text,
    audio_voice,
    keyframe_prompt,
    negative_prompt,
    palette,
    shot_hints,
    video_prompt,
)
from recoil.shotlist.schema import (
    MODALITIES,
    BeatSpec,
    CharacterSpec,
    LineSpec,
    ProjectSpec,
    Resolution,
    SceneSpec,
    ShotList,
    ShotSpec,
)

__all__ = [
    "EXAMPLE_SETTINGS",
    "EXAMPLE_SHOTLIST",
    "MODALITIES",
    "BeatSpec",
    "CharacterSpec",
    "LineSpec",
    "ProjectSpec",
    "Resolution",
    "SceneSpec",
    "ShotList",
    "ShotSpec",
    "audio_text",
    "audio_voice",
    "keyframe_prompt",
    "load_shotlist",
    "negative_prompt",
    "palette",
    "shot_hints",
    "validate_shotlist",
    "video_prompt",
    "write_example",
]
