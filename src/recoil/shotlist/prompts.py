"""The prompt engine: a beat's director fields -> each modality's prompt.

Every function here is pure: the output depends only on the shot list, never
on dict order, locale, time or the machine, so the same beat gives a
byte-identical prompt everywhere (golden files under ``tests/golden/prompts``
guard this). Free text is whitespace-normalised (YAML block scalars keep line
breaks) and each part becomes one sentence, in a fixed order:

    camera  ->  subjects (description, expression)  ->  action  ->  setting
            ->  lighting  ->  style  ->  the beat's raw ``prompt``, verbatim

The video prompt leads with the camera movement and the action, because
image-to-video models already see the keyframe; it keeps the character
descriptions for reference-to-video models.
"""

from __future__ import annotations

import re
from typing import Any

from recoil.shotlist.schema import BeatSpec, CharacterSpec, SceneSpec, ShotList, ShotSpec

SIZE_PHRASES: dict[str, str] = {
    "extreme_wide": "extreme wide shot",
    "wide": "wide shot",
    "full": "full shot",
    "medium": "medium shot",
    "medium_close": "medium close-up",
    "close_up": "close-up",
    "extreme_close_up": "extreme close-up",
}
ANGLE_PHRASES: dict[str, str] = {
    "eye_level": "eye-level",
    "high": "high-angle",
    "low": "low-angle",
    "overhead": "overhead",
    "dutch": "dutch-angle",
}
MOVEMENT_PHRASES: dict[str, str] = {
    "static": "static camera",
    "push_in": "slow push-in",
    "pull_out": "slow pull-out",
    "pan_left": "camera pans left",
    "pan_right": "camera pans right",
    "tilt_up": "camera tilts up",
    "tilt_down": "camera tilts down",
    "truck_left": "camera trucks left",
    "truck_right": "camera trucks right",
}

# Words of style, lighting and time of day -> colours, checked as whole words.
# Longer phrases come first so "golden hour" wins over "hour"-less matches.
PALETTE_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("black and white", ("#101010", "#5a5a5a", "#bdbdbd", "#f5f5f5")),
    ("teal and orange", ("#1f6f78", "#f08a4b", "#0e3b43")),
    ("golden hour", ("#f6b44b", "#e07a2e", "#8c4a1e")),
    ("blue hour", ("#1e2f5c", "#4f6fa8", "#c7a27c")),
    ("high key", ("#f7f7f2", "#e4e4dc", "#b8b8b0")),
    ("low key", ("#0a0a0a", "#2a2622", "#6b5d4f")),
    ("noir", ("#111111", "#3a3a3a", "#7a7a7a", "#d9d9d9")),
    ("monochrome", ("#1a1a1a", "#6e6e6e", "#e0e0e0")),
    ("sepia", ("#704214", "#a67b5b", "#e8d5b5")),
    ("neon", ("#ff2e88", "#22e4ff", "#7b2cff")),
    ("candlelight", ("#ffb347", "#a0522d", "#2b1a0e")),
    ("candle", ("#ffb347", "#a0522d", "#2b1a0e")),
    ("fire", ("#ff6a00", "#c1272d", "#2a0a05")),
    ("moonlight", ("#a7b8d8", "#4a5a7a", "#151c2c")),
    ("fluorescent", ("#d8f0d0", "#9fb89a", "#4f5d4c")),
    ("sunset", ("#ff7e47", "#c2405a", "#4b2a5e")),
    ("sunrise", ("#f7c59f", "#f28e6b", "#7b9acc")),
    ("dawn", ("#f7c59f", "#f28e6b", "#7b9acc")),
    ("dusk", ("#2e3f6e", "#5a6fa8", "#f2a65a")),
    ("night", ("#0b1026", "#1f2a4d", "#3d4f7a")),
    ("morning", ("#fdf1d6", "#a8d0e6", "#6b8e9e")),
    ("day", ("#87ceeb", "#f4f1de", "#7a9a5a")),
    ("daylight", ("#87ceeb", "#f4f1de", "#7a9a5a")),
    ("noon", ("#9fd8f5", "#fffbe6", "#8aa65c")),
    ("overcast", ("#8a949c", "#5c666e", "#c9ced2")),
    ("rain", ("#5f6b73", "#3b454c", "#a3adb3")),
    ("fog", ("#c8cdd0", "#9aa3a8", "#6f777c")),
    ("snow", ("#f4f8fb", "#c9d8e4", "#7f98ad")),
    ("forest", ("#1f3d2b", "#4f7942", "#a3b18a")),
    ("desert", ("#e6c28b", "#c48a4a", "#7d4e24")),
    ("pastel", ("#f6c1c7", "#bde0fe", "#cdeac0")),
    ("warm", ("#e8a05c", "#b5651d", "#5c3317")),
    ("cold", ("#9ec9e2", "#4a7fa7", "#1b3b5a")),
)
DEFAULT_PALETTE: tuple[str, ...] = ("#4a5568", "#a0aec0", "#edf2f7")
MAX_PALETTE = 5


def keyframe_prompt(shotlist: ShotList, scene: SceneSpec, beat: BeatSpec) -> str:
    """The text-to-image prompt for the beat's keyframe."""
    parts = [
        _camera(beat.shot),
        *_subjects(shotlist, beat),
        beat.action,
        _setting(scene),
        _labelled("Lighting", beat.lighting),
        _labelled("Style", shotlist.project.style),
    ]
    return _join(parts, raw=beat.prompt)


def video_prompt(shotlist: ShotList, scene: SceneSpec, beat: BeatSpec) -> str:
    """The image-to-video prompt: camera movement and action first, then the rest."""
    parts = [
        f"{_camera(beat.shot)}, {MOVEMENT_PHRASES[beat.shot.movement]}",
        beat.action,
        *_subjects(shotlist, beat),
        _speaking(shotlist, beat),
        _setting(scene),
        _labelled("Lighting", beat.lighting),
        _labelled("Style", shotlist.project.style),
    ]
    return _join(parts, raw=beat.prompt)


def audio_text(beat: BeatSpec) -> str:
    """The text to speak: the beat's dialogue lines in order, joined by a space."""
    return " ".join(_clean(line.text) for line in beat.dialogue if _clean(line.text))


def audio_voice(shotlist: ShotList, beat: BeatSpec) -> str | None:
    """The voice of the beat's first speaker, or ``None`` (no dialogue, or no voice set)."""
    if not beat.dialogue:
        return None
    return shotlist.characters[beat.dialogue[0].character].voice


def negative_prompt(shotlist: ShotList) -> str:
    """The project's negative prompt, whitespace-normalised."""
    return _clean(shotlist.project.negative_prompt)


def shot_hints(shotlist: ShotList, scene: SceneSpec, beat: BeatSpec) -> dict[str, Any]:
    """Director hints for renderers that draw the shot themselves (the previz renderer).

    Keys: ``size``, ``angle``, ``lens``, ``movement``, ``lighting``, ``palette``
    (``#rrggbb`` strings), ``characters`` (``{"name", "description"}`` each, in
    the beat's order), ``caption`` and ``action`` (the action), ``time_of_day``.
    """
    action = _clean(beat.action)
    return {
        "size": beat.shot.size,
        "angle": beat.shot.angle,
        "lens": beat.shot.lens,
        "movement": beat.shot.movement,
        "lighting": _clean(beat.lighting),
        "palette": palette(beat.lighting, scene.time_of_day, shotlist.project.style),
        "characters": [
            {"name": _clean(c.name), "description": _clean(c.description)}
            for c in _in_shot(shotlist, beat)
        ],
        "caption": action,
        "action": action,
        "time_of_day": _clean(scene.time_of_day),
    }


# Compiled once: a plan names the palette of every beat, and each looks for every word.
_PALETTE_PATTERNS = tuple(
    re.compile(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])") for word, _ in PALETTE_WORDS
)


def palette(*texts: str) -> list[str]:
    """Colours named by the words in ``texts``, at most five, most specific text first.

    Each text is scanned for the words of :data:`PALETTE_WORDS` (whole words,
    case-insensitive), in order of appearance; the swatches found are then
    interleaved (every swatch's first colour, then every second colour...) so
    each word shows. With no match the result is :data:`DEFAULT_PALETTE`.
    """
    swatches: list[tuple[str, ...]] = []
    for text in texts:
        lowered = _clean(text).lower()
        found: list[tuple[int, int]] = []
        for rank, pattern in enumerate(_PALETTE_PATTERNS):
            found.extend((match.start(), rank) for match in pattern.finditer(lowered))
        swatches.extend(PALETTE_WORDS[rank][1] for _, rank in sorted(found))
    colours: list[str] = []
    for depth in range(max((len(s) for s in swatches), default=0)):
        for swatch in swatches:
            if depth < len(swatch) and swatch[depth] not in colours:
                colours.append(swatch[depth])
    return colours[:MAX_PALETTE] if colours else list(DEFAULT_PALETTE)


def _camera(shot: ShotSpec) -> str:
    """``low-angle close-up, 85mm telephoto lens``."""
    return f"{ANGLE_PHRASES[shot.angle]} {SIZE_PHRASES[shot.size]}, {_lens(shot.lens)}"


def _lens(mm: int) -> str:
    if mm < 24:
        kind = " ultra-wide"
    elif mm < 35:
        kind = " wide-angle"
    elif mm >= 85:
        kind = " telephoto"
    else:
        kind = ""
    return f"{mm}mm{kind} lens"


def _in_shot(shotlist: ShotList, beat: BeatSpec) -> list[CharacterSpec]:
    return [shotlist.characters[cid] for cid in beat.characters]


def _subjects(shotlist: ShotList, beat: BeatSpec) -> list[str]:
    """One phrase per character in shot: ``Name (description), expression``."""
    phrases = []
    for cid in beat.characters:
        character = shotlist.characters[cid]
        phrase = _clean(character.name)
        description = _clean(character.description)
        if description:
            phrase += f" ({description})"
        expression = _clean(beat.expression.get(cid, ""))
        if expression:
            phrase += f", {expression}"
        phrases.append(phrase)
    return phrases


def _speaking(shotlist: ShotList, beat: BeatSpec) -> str:
    """``Anna and Ben speak``: the on-screen speakers in order of their first line."""
    speakers: list[str] = []
    for line in beat.dialogue:
        name = _clean(shotlist.characters[line.character].name)
        if line.character in beat.characters and name not in speakers:
            speakers.append(name)
    if not speakers:
        return ""
    if len(speakers) == 1:
        return f"{speakers[0]} speaks"
    return f"{', '.join(speakers[:-1])} and {speakers[-1]} speak"


def _setting(scene: SceneSpec) -> str:
    return ", ".join(p for p in (_clean(scene.location), _clean(scene.time_of_day)) if p)


def _labelled(label: str, text: str) -> str:
    cleaned = _clean(text)
    return f"{label}: {cleaned}" if cleaned else ""


def _join(parts: list[str], *, raw: str | None) -> str:
    """Each non-empty part as a sentence, then the raw text as the user wrote it."""
    sentences = [_sentence(p) for p in parts]
    sentences.append(_clean(raw or ""))
    return " ".join(s for s in sentences if s)


def _sentence(text: str) -> str:
    cleaned = _clean(text).rstrip(",;:")
    if not cleaned:
        return ""
    if cleaned[-1] not in ".!?…\"'":
        cleaned += "."
    return cleaned[:1].upper() + cleaned[1:]


def _clean(text: str) -> str:
    """Collapse runs of whitespace (including newlines) to one space."""
    return " ".join(text.split())
