"""Typed generation requests, one per built-in modality.

A payload (a JSON-safe dict) becomes a request through :func:`build_request`,
which validates every field with pydantic and reports the first bad field as a
:class:`~recoil.errors.PayloadError`. Keys a request does not define are
provider parameters (``steps`` for a sampler, ``fake_latency_s`` for the fake
provider): they land in ``params`` and the chosen provider validates them.

Input media (``image``, ``video``, ``audio``, ``reference_images``...) are file
paths; the dispatcher hashes them for the receipt and the cache key.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import pydantic
from pydantic import ConfigDict, Field, ModelWrapValidatorHandler, model_validator
from pydantic.dataclasses import dataclass
from pydantic_core import ArgsKwargs

from recoil.errors import PayloadError

CameraMovement = Literal[
    "static",
    "push_in",
    "pull_out",
    "pan_left",
    "pan_right",
    "tilt_up",
    "tilt_down",
    "truck_left",
    "truck_right",
]
CAMERA_MOVEMENTS: tuple[str, ...] = typing.get_args(CameraMovement)

_CONFIG = ConfigDict(extra="forbid", arbitrary_types_allowed=False)
_MAX_SEED = 2**63 - 1


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class Request:
    """Fields every modality shares."""

    modality: ClassVar[str] = ""
    input_fields: ClassVar[tuple[str, ...]] = ()
    outputs_required: ClassVar[bool] = True
    """Whether a success without any output file is invalid."""
    output_kind: ClassVar[str | None] = None
    """The media type (``image``, ``video``, ``audio``) a success must include."""

    prompt: str = ""
    negative_prompt: str = ""
    seed: int | None = Field(default=None, ge=0, le=_MAX_SEED)
    provider: str | None = None
    model: str | None = None
    shot: dict[str, Any] = Field(default_factory=dict)
    """Director hints (shot size, angle, lens, lighting, palette, characters, caption)."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Provider-specific parameters, validated by the provider."""

    @model_validator(mode="wrap")
    @classmethod
    def _note_fields_set(cls, data: Any, handler: ModelWrapValidatorHandler[Request]) -> Request:
        request = handler(data)
        if isinstance(data, ArgsKwargs):
            given: Any = data.kwargs or ()
        elif isinstance(data, Request):
            given = data.fields_set
        else:
            given = data
        # Not a field: it is no part of the request's value, its dict or its equality.
        object.__setattr__(request, "_fields_set", frozenset(given))
        return request

    @property
    def fields_set(self) -> frozenset[str]:
        """The fields the payload gave; the others hold their defaults.

        A provider whose model has defaults of its own (a ComfyUI workflow's
        size, length and frame rate) sends only these.
        """
        given: frozenset[str] = self.__dict__["_fields_set"]
        return given

    @property
    def expected_output(self) -> str | None:
        """The media type (``image``, ``video``, ``audio``) a success must include."""
        return self.output_kind

    def inputs(self) -> dict[str, str]:
        """Input media of this request: a field label -> file path."""
        found: dict[str, str] = {}
        for name in self.input_fields:
            value = getattr(self, name)
            if isinstance(value, str):
                found[name] = value
            elif isinstance(value, tuple):
                for i, item in enumerate(value):
                    found[f"{name}[{i}]"] = item
        return found

    def to_dict(self) -> dict[str, Any]:
        """The request as a JSON-safe dict (``from_dict``'s inverse)."""
        # pydantic's own serializer: JSON-safe, a fresh copy, and faster than walking
        # the fields here (this runs on every dispatch).
        data: dict[str, Any] = _adapter(type(self)).dump_python(self, mode="json")
        return data


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class KeyframeRequest(Request):
    """A still image (a keyframe) from a prompt, optionally from an init image."""

    modality: ClassVar[str] = "keyframe"
    output_kind: ClassVar[str | None] = "image"
    input_fields: ClassVar[tuple[str, ...]] = ("image", "reference_images")

    width: int = Field(default=1280, ge=16, le=8192)
    height: int = Field(default=720, ge=16, le=8192)
    image: str | None = None
    """Init image for image-to-image (e.g. the last frame of the previous beat)."""
    strength: float | None = Field(default=None, ge=0.0, le=1.0)
    reference_images: tuple[str, ...] = ()
    steps: int | None = Field(default=None, ge=1, le=1000)
    guidance: float | None = Field(default=None, ge=0.0, le=100.0)


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class VideoRequest(Request):
    """A video clip, usually animated from a keyframe (image-to-video)."""

    modality: ClassVar[str] = "video"
    output_kind: ClassVar[str | None] = "video"
    input_fields: ClassVar[tuple[str, ...]] = ("image", "end_image", "reference_images")

    width: int = Field(default=1280, ge=16, le=8192)
    height: int = Field(default=720, ge=16, le=8192)
    fps: float = Field(default=24.0, gt=0.0, le=240.0)
    duration_s: float = Field(default=4.0, gt=0.0, le=600.0)
    image: str | None = None
    end_image: str | None = None
    reference_images: tuple[str, ...] = ()
    camera_movement: CameraMovement = "static"
    steps: int | None = Field(default=None, ge=1, le=1000)
    guidance: float | None = Field(default=None, ge=0.0, le=100.0)

    @property
    def frames(self) -> int:
        """Number of frames: duration times fps, at least one."""
        return max(1, round(self.duration_s * self.fps))


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class AudioRequest(Request):
    """Speech (or sound) audio; ``prompt`` is the text to speak."""

    modality: ClassVar[str] = "audio"
    output_kind: ClassVar[str | None] = "audio"
    input_fields: ClassVar[tuple[str, ...]] = ("reference_audio",)

    voice: str | None = None
    sample_rate: int | None = Field(default=None, ge=8000, le=192000)
    duration_s: float | None = Field(default=None, gt=0.0, le=3600.0)
    reference_audio: str | None = None

    @model_validator(mode="after")
    def _needs_text(self) -> AudioRequest:
        if not self.prompt.strip():
            raise ValueError("prompt: audio needs the text to speak in 'prompt'")
        return self


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class UpscaleRequest(Request):
    """A higher-resolution copy of an image or a video."""

    modality: ClassVar[str] = "upscale"
    input_fields: ClassVar[tuple[str, ...]] = ("image", "video")

    image: str | None = None
    video: str | None = None
    scale: float = Field(default=2.0, gt=1.0, le=8.0)

    @property
    def expected_output(self) -> str | None:
        """An upscale returns what it was given: an image, or a video."""
        return "image" if self.image is not None else "video"

    @model_validator(mode="after")
    def _one_source(self) -> UpscaleRequest:
        if (self.image is None) == (self.video is None):
            raise ValueError("image: give exactly one of 'image' or 'video' to upscale")
        return self


BUILTIN_REQUESTS: Mapping[str, type[Request]] = {
    cls.modality: cls for cls in (KeyframeRequest, VideoRequest, AudioRequest, UpscaleRequest)
}


def build_request(
    modality: str, request_type: type[Request], payload: Mapping[str, Any]
) -> Request:
    """Validate ``payload`` into ``request_type``; unknown keys become ``params``.

    Raises :class:`PayloadError` naming the first invalid field.
    """
    if type(payload) is not dict and not isinstance(payload, Mapping):
        raise PayloadError(
            modality, "<payload>", f"expected a mapping, got {type(payload).__name__}"
        )
    known = _field_names(request_type)
    fields: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in payload.items():
        if type(key) is not str and not isinstance(key, str):
            raise PayloadError(modality, repr(key), "field names must be strings")
        if type(value) not in _ATOMS and isinstance(value, Mapping) and "$step" in value:
            raise PayloadError(modality, key, "unresolved step reference; run it inside a Workflow")
        (fields if key in known else extra)[key] = value
    if extra:
        params = fields.get("params", {})
        if not isinstance(params, Mapping):
            raise PayloadError(modality, "params", "expected a mapping")
        fields["params"] = {**extra, **params}
    try:
        # The validator itself: the dataclass's __init__ wraps it, at twice the cost.
        request: Request = _adapter(request_type).validate_python(fields)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        reason = first["msg"].removeprefix("Value error, ")
        if first["loc"]:
            loc = ".".join(str(p) for p in first["loc"])
            reason = f"{reason} (got {_short(first.get('input'))})"
        else:  # a cross-field rule: its message starts with the field it blames
            loc, _, reason = reason.partition(": ")
        raise PayloadError(modality, loc, reason) from None
    return request


_FIELD_NAMES: dict[type[Request], tuple[str, ...]] = {}


def _field_names(cls: type[Request]) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


_ATOMS = frozenset({str, int, float, bool, type(None)})
_ADAPTERS: dict[type[Request], pydantic.TypeAdapter[Any]] = {}


def _adapter(cls: type[Request]) -> pydantic.TypeAdapter[Any]:
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = pydantic.TypeAdapter(cls)
    return adapter


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
