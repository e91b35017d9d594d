"""The prompt engine: golden files and properties.

The golden files under ``tests/golden/prompts/`` pin, for every beat of
``sample_shotlist.yaml`` there (disabled beats included), the exact output of
each prompt function:

- ``<beat>.keyframe.txt`` and ``<beat>.video.txt``: the prompt, then a newline;
- ``<beat>.audio.txt`` (beats with dialogue): ``voice: <voice>``, then the text;
- ``<beat>.hints.json``: :func:`shot_hints` as sorted, indented JSON;
- ``negative.txt``: the project's negative prompt.

After an intended change to the prompt engine, regenerate them with one command
and review the diff::

    RECOIL_UPDATE_GOLDENS=1 pytest tests/unit/shotlist
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recoil.shotlist import (
    ShotList,
    audio_text,
    audio_voice,
    keyframe_prompt,
    load_shotlist,
    negative_prompt,
    palette,
    shot_hints,
    video_prompt,
)
from recoil.shotlist.prompts import DEFAULT_PALETTE
from recoil.shotlist.schema import CAMERA_MOVEMENTS, SHOT_ANGLES, SHOT_SIZES

GOLDEN = Path(__file__).parents[2] / "golden" / "prompts"
SAMPLE = GOLDEN / "sample_shotlist.yaml"
UPDATE = os.environ.get("RECOIL_UPDATE_GOLDENS") == "1"


def render_goldens(shotlist: ShotList) -> dict[str, str]:
    """Every golden file's name and content for ``shotlist``."""
    files = {"negative.txt": negative_prompt(shotlist) + "\n"}
    for scene, beat in shotlist.iter_beats(include_disabled=True):
        files[f"{beat.id}.keyframe.txt"] = keyframe_prompt(shotlist, scene, beat) + "\n"
        files[f"{beat.id}.video.txt"] = video_prompt(shotlist, scene, beat) + "\n"
        if beat.dialogue:
            voice = audio_voice(shotlist, beat)
            files[f"{beat.id}.audio.txt"] = f"voice: {voice}\n{audio_text(beat)}\n"
        hints = json.dumps(shot_hints(shotlist, scene, beat), indent=2, sort_keys=True)
        files[f"{beat.id}.hints.json"] = hints + "\n"
    return files


def test_prompt_goldens() -> None:
    rendered = render_goldens(load_shotlist(SAMPLE))
    on_disk = {p.name for p in GOLDEN.iterdir() if p.suffix in (".txt", ".json")}
    if UPDATE:
        for stale in on_disk - rendered.keys():
            (GOLDEN / stale).unlink()
        for name, text in rendered.items():
            (GOLDEN / name).write_bytes(text.encode("utf-8"))
        return
    assert on_disk == set(rendered), "golden files out of date; see this module's docstring"
    for name, text in rendered.items():
        assert (GOLDEN / name).read_bytes() == text.encode("utf-8"), name


def test_keyframe_prompt_reads_like_film_language() -> None:
    shotlist = load_shotlist(SAMPLE)
    scene, beat = shotlist.beat("two-shot")
    assert keyframe_prompt(shotlist, scene, beat) == (
        "High-angle medium shot, 35mm lens. "
        "Ben (a broad-shouldered man with a grey beard), amused. "
        "Anna (a woman in her thirties with short red hair and a green raincoat), wary. "
        "Ben hands Anna a brass key across the counter! "
        "A faded art deco hotel lobby, golden hour. "
        "Lighting: warm desk lamp. "
        "Style: noir, grainy 16mm film, teal and orange grade."
    )


def test_video_prompt_leads_with_camera_movement_and_names_speakers() -> None:
    shotlist = load_shotlist(SAMPLE)
    scene, beat = shotlist.beat("two-shot")
    prompt = video_prompt(shotlist, scene, beat)
    assert prompt.startswith("High-angle medium shot, 35mm lens, slow push-in. Ben hands Anna")
    assert "Ben and Anna speak." in prompt


def test_offscreen_speaker_is_heard_not_shown() -> None:
    shotlist = load_shotlist(SAMPLE)
    scene, beat = shotlist.beat("ben-offscreen")
    assert audio_voice(shotlist, beat) == "en-us+m3"
    assert "Ben" not in video_prompt(shotlist, scene, beat)
    assert video_prompt(shotlist, scene, beat).endswith(". cinematic, shallow depth of field")


def test_audio_joins_lines_and_uses_first_speakers_voice() -> None:
    shotlist = load_shotlist(SAMPLE)
    _, beat = shotlist.beat("two-shot")
    assert audio_text(beat) == "Room nine. Thank you. Don't thank me yet."
    assert audio_voice(shotlist, beat) == "en-us+m3"
    _, silent = shotlist.beat("street-wide")
    assert audio_text(silent) == ""
    assert audio_voice(shotlist, silent) is None


def test_palette_follows_words_in_order() -> None:
    assert palette("noir") == ["#111111", "#3a3a3a", "#7a7a7a", "#d9d9d9"]
    golden_then_night = palette("golden hour", "night")
    assert golden_then_night[:2] == ["#f6b44b", "#0b1026"]
    assert len(palette("neon noir sunset night rain forest")) == 5
    assert palette("Neon") == palette("neon")
    assert palette("midday glow") == list(DEFAULT_PALETTE)  # whole words, not substrings
    assert palette("", "") == list(DEFAULT_PALETTE)


def test_hints_carry_every_key_the_renderer_reads() -> None:
    shotlist = load_shotlist(SAMPLE)
    scene, beat = shotlist.beat("anna-arrives")
    hints = shot_hints(shotlist, scene, beat)
    assert sorted(hints) == sorted(
        [
            "size",
            "angle",
            "lens",
            "movement",
            "lighting",
            "palette",
            "characters",
            "caption",
            "action",
            "time_of_day",
        ]
    )
    assert hints["characters"] == [
        {
            "name": "Anna",
            "description": "a woman in her thirties with short red hair and a green raincoat",
        }
    ]
    assert all(c.startswith("#") and len(c) == 7 for c in hints["palette"])
    json.dumps(hints)  # JSON-safe: it travels in the request's ``shot`` field


# --- properties -------------------------------------------------------------------------

TEXT = st.text(max_size=40)
NONEMPTY = st.text(min_size=1, max_size=40)
IDS = ["anna", "ben", "cleo"]


@st.composite
def shotlists(draw: st.DrawFn) -> dict[str, Any]:
    """Raw data of a valid shot list with one scene of one to three beats."""
    characters = {
        cid: {"name": draw(NONEMPTY), "description": draw(TEXT), "voice": draw(st.none() | TEXT)}
        for cid in draw(st.lists(st.sampled_from(IDS), unique=True))
    }
    beats = []
    for i in range(draw(st.integers(1, 3))):
        in_shot = draw(st.lists(st.sampled_from(sorted(characters) or [""]), unique=True))
        in_shot = [c for c in in_shot if c]
        speakers = sorted(characters)
        beats.append(
            {
                "id": f"b{i}",
                "shot": {
                    "size": draw(st.sampled_from(SHOT_SIZES)),
                    "angle": draw(st.sampled_from(SHOT_ANGLES)),
                    "lens": draw(st.integers(8, 300)),
                    "movement": draw(st.sampled_from(CAMERA_MOVEMENTS)),
                },
                "action": draw(NONEMPTY),
                "characters": in_shot,
                "lighting": draw(TEXT),
                "expression": {c: draw(TEXT) for c in in_shot if draw(st.booleans())},
                "dialogue": [
                    {"character": c, "text": draw(NONEMPTY)}
                    for c in (draw(st.lists(st.sampled_from(speakers))) if speakers else [])
                ],
                "duration": draw(st.floats(0.01, 60)),
                "prompt": draw(st.none() | TEXT),
            }
        )
    scene = {"id": "s", "location": draw(TEXT), "time_of_day": draw(TEXT), "beats": beats}
    project = {"title": "T", "style": draw(TEXT), "negative_prompt": draw(TEXT)}
    return {"project": project, "characters": characters, "scenes": [scene]}


def outputs(shotlist: ShotList) -> list[Any]:
    result: list[Any] = [negative_prompt(shotlist)]
    for scene, beat in shotlist.iter_beats():
        result += [
            keyframe_prompt(shotlist, scene, beat),
            video_prompt(shotlist, scene, beat),
            audio_text(beat),
            audio_voice(shotlist, beat),
            shot_hints(shotlist, scene, beat),
        ]
    return result


@settings(max_examples=150, deadline=None)
@given(shotlists())
def test_prompts_are_deterministic_and_total(data: dict[str, Any]) -> None:
    shotlist = ShotList.model_validate(data)
    first = outputs(shotlist)
    # Same content, characters defined in the opposite order: same outputs.
    reordered = {**data, "characters": dict(reversed(list(data["characters"].items())))}
    assert outputs(ShotList.model_validate(reordered)) == first
    assert outputs(shotlist) == first
    for scene, beat in shotlist.iter_beats():
        for prompt in (keyframe_prompt(shotlist, scene, beat), video_prompt(shotlist, scene, beat)):
            assert prompt == prompt.strip()
            assert "  " not in prompt
            assert "\n" not in prompt
            if beat.prompt is None:
                assert prompt[-1] in ".!?…\"'"
        json.dumps(shot_hints(shotlist, scene, beat))


@pytest.mark.parametrize("size", SHOT_SIZES)
def test_every_shot_size_has_a_phrase(size: str) -> None:
    data = {
        "project": {"title": "T"},
        "scenes": [{"id": "s", "beats": [{"id": "b", "action": "x", "shot": {"size": size}}]}],
    }
    shotlist = ShotList.model_validate(data)
    scene, beat = shotlist.beat("b")
    assert "_" not in keyframe_prompt(shotlist, scene, beat)
