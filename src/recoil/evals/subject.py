"""The file a scorer looks at, with what it was made from, decoded at most once.

A :class:`Subject` names the file, its modality, the request that made it (when
known) and the step's input artifacts (the keyframe a clip was animated from).
Its :class:`Media` decodes lazily and keeps the result: the first scorer that
needs the pixels, frames or samples pays for the decode, the others reuse it.

An upscale is scored by what it holds: pass ``modality="upscale"`` for an
upscaled image (the image scorers serve ``upscale``) and ``"video"`` for an
upscaled clip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from recoil.errors import ValidationError

if TYPE_CHECKING:
    from recoil.evals.decode import Clip, Sound, Still
    from recoil.model.requests import Request

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".webm", ".mkv", ".m4v"})
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".ogg", ".m4a"})
MODALITIES = ("audio", "keyframe", "upscale", "video")
"""The built-in modalities a subject can have; plugins may score others."""


class Media:
    """One file's decoded content, filled on first use and kept."""

    __slots__ = ("_clip", "_sound", "_still", "path")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._still: Still | None = None
        self._clip: Clip | None = None
        self._sound: Sound | None = None

    def still(self) -> Still:
        """The image: RGB and luma."""
        if self._still is None:
            from recoil.evals.decode import decode_image

            self._still = decode_image(self.path)
        return self._still

    def clip(self) -> Clip:
        """The video, sampled."""
        if self._clip is None:
            from recoil.evals.decode import decode_video

            self._clip = decode_video(self.path)
        return self._clip

    def sound(self) -> Sound:
        """The audio samples."""
        if self._sound is None:
            from recoil.evals.decode import decode_audio

            self._sound = decode_audio(self.path)
        return self._sound


@dataclass(frozen=True, slots=True, kw_only=True)
class Subject:
    """A file to score, what made it, and its decoded content (shared by all scorers)."""

    path: Path
    modality: str
    request: Request | None = None
    """The request that produced the file; scorers comparing against it skip without."""
    inputs: tuple[Path, ...] = ()
    """The step's input artifacts, e.g. the keyframe a clip was made from."""
    media: Media = field(init=False, repr=False, compare=False)
    input_media: tuple[Media, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.modality:
            raise ValidationError("a subject needs a modality (keyframe, video, audio, upscale)")
        path = Path(self.path)
        inputs = tuple(Path(p) for p in self.inputs)
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "media", Media(path))
        object.__setattr__(self, "input_media", tuple(Media(p) for p in inputs))

    def input_image(self) -> Media | None:
        """The first input that is an image (by its extension), or ``None``."""
        for media in self.input_media:
            if media.path.suffix.lower() in IMAGE_SUFFIXES:
                return media
        return None


def infer_modality(path: Path) -> str:
    """The modality of a loose file, from its extension.

    Images are keyframes, videos are video, sound files are audio; anything else
    raises :class:`~recoil.errors.ValidationError` asking for ``--modality``.
    """
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "keyframe"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in AUDIO_SUFFIXES:
        return "audio"
    known = ", ".join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES | AUDIO_SUFFIXES))
    raise ValidationError(
        f"{path}: cannot tell the modality from the extension {suffix or '(none)'!r}; "
        f"pass --modality ({', '.join(MODALITIES)}); known extensions: {known}"
    )
