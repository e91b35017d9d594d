"""The models the loopback fal and Replicate servers host: their published input schemas.

Each :class:`Model` is a copy, written from the model's public API page (the
``source``), of the inputs fal or Replicate publish for it: the loopback
servers serve it as the provider does (fal's queue OpenAPI document; Replicate's
model and version with ``openapi_schema``, enums as components referenced
through ``allOf``, as Cog writes them), check every submitted input against
it with ``jsonschema`` (an implementation independent of recoil's own check)
and answer in the model's output shape. A model not listed gets a permissive
schema of common names (:func:`generic`), so tests with made-up models work
as before.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jsonschema

Schema = dict[str, Any]


def string(**extra: Any) -> Schema:
    return {"type": "string", **extra}


def uri(**extra: Any) -> Schema:
    return {"type": "string", "format": "uri", **extra}


def integer(low: int | None = None, high: int | None = None, **extra: Any) -> Schema:
    return _bounded("integer", low, high, extra)


def number(low: float | None = None, high: float | None = None, **extra: Any) -> Schema:
    return _bounded("number", low, high, extra)


def boolean(**extra: Any) -> Schema:
    return {"type": "boolean", **extra}


def enum(values: list[Any], **extra: Any) -> Schema:
    kind = "integer" if all(isinstance(v, int) for v in values) else "string"
    return {"type": kind, "enum": values, **extra}


def nullable(schema: Schema) -> Schema:
    """fal's form of an optional value: ``anyOf`` the type and null."""
    return {"anyOf": [schema, {"type": "null"}]}


def _bounded(kind: str, low: float | None, high: float | None, extra: dict[str, Any]) -> Schema:
    schema: Schema = {"type": kind, **extra}
    if low is not None:
        schema["minimum"] = low
    if high is not None:
        schema["maximum"] = high
    return schema


@dataclass(frozen=True)
class Model:
    """One hosted model: its inputs as published, and what it makes."""

    id: str
    kind: str
    """``image``, ``video`` or ``audio``."""
    inputs: dict[str, Schema]
    required: list[str]
    source: str
    output: str = ""
    """fal: the output key (``images``, ``video``, ``audio``); Replicate: ``uri`` or ``uris``."""
    image: str | None = None
    """The input that carries the start frame (video) or the init image (image)."""
    version: str = ""
    """Replicate: the version id its schema is published under (for an official model,
    which hides its versions, the server makes one up from the name)."""
    clip: Callable[[dict[str, Any]], tuple[int, float]] | None = None
    """Video: (frames, fps) of the clip the model makes for an input."""
    extra: dict[str, Schema] = field(default_factory=dict)
    """fal: further component schemas the inputs ``$ref``."""


def _seconds(default: float, fps: float) -> Callable[[dict[str, Any]], tuple[int, float]]:
    def clip(body: dict[str, Any]) -> tuple[int, float]:
        seconds = float(body.get("duration", default))
        rate = float(body.get("fps", fps))
        return round(seconds * rate), rate

    return clip


def _frames(frames: int, fps: int, fps_key: str) -> Callable[[dict[str, Any]], tuple[int, float]]:
    def clip(body: dict[str, Any]) -> tuple[int, float]:
        return int(body.get("num_frames", frames)), float(body.get(fps_key, fps))

    return clip


_FAL_SIZES = [
    "square_hd",
    "square",
    "portrait_4_3",
    "portrait_16_9",
    "landscape_4_3",
    "landscape_16_9",
]
_FLUX_DEV = {
    "prompt": string(),
    "image_size": {
        "anyOf": [{"$ref": "#/components/schemas/ImageSize"}, enum(_FAL_SIZES)],
        "default": "landscape_4_3",
    },
    "num_inference_steps": integer(1, 50, default=28),
    "seed": nullable(integer()),
    "guidance_scale": number(1, 20, default=3.5),
    "num_images": integer(1, 4, default=1),
    "enable_safety_checker": boolean(default=True),
    "output_format": enum(["jpeg", "png"], default="jpeg"),
    "sync_mode": boolean(default=False),
    "acceleration": enum(["none", "regular", "high"], default="none"),
}
_IMAGE_SIZE = {
    "ImageSize": {
        "type": "object",
        "properties": {"width": integer(1, 14142), "height": integer(1, 14142)},
    }
}
_KLING_FAL = {
    "prompt": string(),
    "image_url": string(),
    "duration": enum(["5", "10"], default="5"),
    "negative_prompt": string(default="blur, distort, and low quality"),
    "cfg_scale": number(0, 1, default=0.5),
}
_KOKORO_FAL_VOICES = [
    "af_heart",
    "af_alloy",
    "af_aoede",
    "af_bella",
    "af_jessica",
    "af_kore",
    "af_nicole",
    "af_nova",
    "af_river",
    "af_sarah",
    "af_sky",
    "am_adam",
    "am_echo",
    "am_eric",
    "am_fenrir",
    "am_liam",
    "am_michael",
    "am_onyx",
    "am_puck",
    "am_santa",
]

FAL: dict[str, Model] = {
    m.id: m
    for m in (
        Model(
            id="fal-ai/flux/dev",
            kind="image",
            inputs=_FLUX_DEV,
            required=["prompt"],
            output="images",
            extra=_IMAGE_SIZE,
            source="https://fal.ai/models/fal-ai/flux/dev/llms.txt",
        ),
        Model(
            id="fal-ai/flux/schnell",
            kind="image",
            inputs={
                **{k: v for k, v in _FLUX_DEV.items() if k != "guidance_scale"},
                "num_inference_steps": integer(1, 12, default=4),
            },
            required=["prompt"],
            output="images",
            extra=_IMAGE_SIZE,
            source="https://fal.ai/models/fal-ai/flux/schnell/llms.txt",
        ),
        Model(
            id="fal-ai/flux/dev/image-to-image",
            kind="image",
            inputs={
                "image_url": string(),
                "prompt": string(),
                "strength": number(0.01, 1, default=0.95),
                "num_inference_steps": integer(10, 50, default=40),
                "guidance_scale": number(1, 20, default=3.5),
                "seed": nullable(integer()),
                "num_images": integer(1, 4, default=1),
                "enable_safety_checker": boolean(default=True),
                "sync_mode": boolean(default=False),
            },
            required=["image_url", "prompt"],
            output="images",
            image="image_url",
            source="https://fal.ai/models/fal-ai/flux/dev/image-to-image/llms.txt",
        ),
        Model(
            id="fal-ai/kling-video/v2.1/standard/image-to-video",
            kind="video",
            inputs=_KLING_FAL,
            required=["prompt", "image_url"],
            output="video",
            image="image_url",
            clip=_seconds(5, 24),
            source="https://fal.ai/models/fal-ai/kling-video/v2.1/standard/image-to-video/llms.txt",
        ),
        Model(
            id="fal-ai/kling-video/v2.1/pro/image-to-video",
            kind="video",
            inputs={**_KLING_FAL, "tail_image_url": string()},
            required=["prompt", "image_url"],
            output="video",
            image="image_url",
            clip=_seconds(5, 24),
            source="https://fal.ai/models/fal-ai/kling-video/v2.1/pro/image-to-video/llms.txt",
        ),
        Model(
            id="fal-ai/minimax/hailuo-02/standard/image-to-video",
            kind="video",
            inputs={
                "prompt": string(),
                "image_url": string(),
                "duration": enum(["6", "10"], default="6"),
                "prompt_optimizer": boolean(default=True),
                "resolution": enum(["512P", "768P"], default="768P"),
                "end_image_url": string(),
            },
            required=["prompt", "image_url"],
            output="video",
            image="image_url",
            clip=_seconds(6, 25),
            source="https://fal.ai/models/fal-ai/minimax/hailuo-02/standard/image-to-video/llms.txt",
        ),
        Model(
            id="fal-ai/wan/v2.2-a14b/image-to-video",
            kind="video",
            inputs={
                "image_url": string(),
                "prompt": string(),
                "num_frames": integer(17, 161, default=81),
                "frames_per_second": integer(4, 60, default=16),
                "negative_prompt": string(default=""),
                "seed": nullable(integer()),
                "resolution": enum(["480p", "580p", "720p"], default="720p"),
                "aspect_ratio": enum(["auto", "16:9", "9:16", "1:1"], default="auto"),
                "num_inference_steps": integer(2, 40, default=27),
                "guidance_scale": number(1, 10, default=3.5),
                "shift": number(1, 10, default=5),
                "interpolator_model": enum(["none", "film", "rife"], default="film"),
                "num_interpolated_frames": integer(0, 4, default=1),
                "adjust_fps_for_interpolation": boolean(default=True),
            },
            required=["image_url", "prompt"],
            output="video",
            image="image_url",
            clip=_frames(81, 16, "frames_per_second"),
            source="https://fal.ai/models/fal-ai/wan/v2.2-a14b/image-to-video/llms.txt",
        ),
        Model(
            id="fal-ai/elevenlabs/tts/multilingual-v2",
            kind="audio",
            inputs={
                "text": string(),
                "voice": string(default="Rachel"),
                "stability": number(0, 1, default=0.5),
                "similarity_boost": number(0, 1, default=0.75),
                "style": number(0, 1, default=0),
                "speed": number(0.7, 1.2, default=1),
                "timestamps": boolean(default=False),
                "previous_text": nullable(string()),
                "next_text": nullable(string()),
                "language_code": nullable(string()),
            },
            required=["text"],
            output="audio",
            source="https://fal.ai/models/fal-ai/elevenlabs/tts/multilingual-v2/llms.txt",
        ),
        Model(
            id="fal-ai/kokoro/american-english",
            kind="audio",
            inputs={
                "prompt": string(default=""),
                "voice": enum(_KOKORO_FAL_VOICES, default="af_heart"),
                "speed": number(0.1, 5, default=1),
            },
            required=["prompt"],
            output="audio",
            source="https://fal.ai/models/fal-ai/kokoro/american-english/llms.txt",
        ),
    )
}

_FLUX_RATIOS = ["1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21"]
_FLUX_REPLICATE = {
    "prompt": string(),
    "aspect_ratio": enum(_FLUX_RATIOS, default="1:1"),
    "num_outputs": integer(1, 4, default=1),
    "num_inference_steps": integer(1, 4, default=4),
    "seed": integer(),
    "output_format": enum(["webp", "jpg", "png"], default="webp"),
    "output_quality": integer(0, 100, default=80),
    "disable_safety_checker": boolean(default=False),
    "go_fast": boolean(default=True),
    "megapixels": enum(["1", "0.25"], default="1"),
}
_KOKORO_REPLICATE_VOICES = [
    *[v for v in _KOKORO_FAL_VOICES if v not in ("af_heart", "am_santa")],
    *["bf_alice", "bf_emma", "bf_isabella", "bf_lily", "bm_daniel", "bm_fable", "bm_george"],
    "bm_lewis",
]

REPLICATE: dict[str, Model] = {
    m.id: m
    for m in (
        Model(
            id="black-forest-labs/flux-schnell",
            kind="image",
            inputs=_FLUX_REPLICATE,
            required=["prompt"],
            output="uris",
            source="https://replicate.com/black-forest-labs/flux-schnell/api",
        ),
        Model(
            id="black-forest-labs/flux-dev",
            kind="image",
            inputs={
                **_FLUX_REPLICATE,
                "image": uri(),
                "aspect_ratio": enum(
                    [r for r in _FLUX_RATIOS if r not in ("3:4", "4:3")], default="1:1"
                ),
                "prompt_strength": number(0, 1, default=0.8),
                "num_inference_steps": integer(1, 50, default=50),
                "guidance": number(0, 10, default=3.5),
            },
            required=["prompt"],
            output="uris",
            image="image",
            source="https://replicate.com/black-forest-labs/flux-dev/api",
        ),
        Model(
            id="kwaivgi/kling-v2.1",
            kind="video",
            inputs={
                "mode": enum(["standard", "pro"], default="standard"),
                "duration": enum([5, 10], default=5),
                "prompt": string(),
                "end_image": uri(),
                "start_image": uri(),
                "negative_prompt": string(default=""),
            },
            required=["prompt", "start_image"],
            output="uri",
            image="start_image",
            clip=_seconds(5, 24),
            version="daad218feb714b03e2a1ac445986aebb9d05243cd00da2af17be2e4049f48f69",
            source="https://replicate.com/kwaivgi/kling-v2.1/versions/daad218f/api",
        ),
        Model(
            id="minimax/video-01",
            kind="video",
            inputs={
                "prompt": string(),
                "first_frame_image": uri(),
                "subject_reference": uri(),
                "prompt_optimizer": boolean(default=True),
            },
            required=["prompt"],
            output="uri",
            image="first_frame_image",
            clip=_seconds(6, 25),
            source="https://replicate.com/minimax/video-01/api",
        ),
        Model(
            id="wan-video/wan-2.2-i2v-fast",
            kind="video",
            inputs={
                "prompt": string(),
                "image": uri(),
                "last_image": uri(),
                "num_frames": integer(81, 121, default=81),
                "resolution": enum(["480p", "720p"], default="480p"),
                "frames_per_second": integer(5, 30, default=16),
                "interpolate_output": boolean(default=False),
                "go_fast": boolean(default=True),
                "sample_shift": number(1, 20, default=12),
                "seed": integer(),
                "disable_safety_checker": boolean(default=False),
            },
            required=["prompt", "image"],
            output="uri",
            image="image",
            clip=_frames(81, 16, "frames_per_second"),
            source="https://replicate.com/wan-video/wan-2.2-i2v-fast/api",
        ),
        Model(
            id="bytedance/seedance-1-lite",
            kind="video",
            inputs={
                "prompt": string(),
                "image": uri(),
                "last_frame_image": uri(),
                "reference_images": {"type": "array", "items": uri(), "maxItems": 4},
                "duration": integer(2, 12, default=5),
                "resolution": enum(["480p", "720p", "1080p"], default="720p"),
                "aspect_ratio": enum(
                    ["16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21"], default="16:9"
                ),
                "fps": enum([24], default=24),
                "camera_fixed": boolean(default=False),
                "seed": integer(),
            },
            required=["prompt"],
            output="uri",
            image="image",
            clip=_seconds(5, 24),
            source="https://replicate.com/bytedance/seedance-1-lite/api",
        ),
        Model(
            id="jaaari/kokoro-82m",
            kind="audio",
            inputs={
                "text": string(),
                "voice": enum(_KOKORO_REPLICATE_VOICES, default="af_bella"),
                "speed": number(0.1, 5, default=1),
            },
            required=["text"],
            output="uri",
            version="f559560eb822dc509045f3921a1921234918b91739db4bf3daab2169b71c7a13",
            source="https://replicate.com/jaaari/kokoro-82m/versions/f559560e/api",
        ),
        Model(
            id="minimax/speech-02-hd",
            kind="audio",
            inputs={
                "text": string(maxLength=5000),
                "voice_id": string(default="Wise_Woman"),
                "speed": number(0.5, 2, default=1),
                "volume": number(0, 10, default=1),
                "pitch": integer(-12, 12, default=0),
                "emotion": enum(
                    ["auto", "neutral", "happy", "sad", "angry", "fearful", "disgusted"],
                    default="neutral",
                ),
                "english_normalization": boolean(default=False),
                "sample_rate": enum([8000, 16000, 22050, 24000, 32000, 44100], default=32000),
                "bitrate": enum([32000, 64000, 128000, 256000], default=128000),
                "channel": enum(["mono", "stereo"], default="mono"),
                "language_boost": string(default="None"),
            },
            required=["text"],
            output="uri",
            source="https://replicate.com/minimax/speech-02-hd/api",
        ),
    )
}


def generic(model: str, kind: str, provider: str) -> Model:
    """The permissive schema of a model the server does not list: common names, any extra."""
    if provider == "fal":
        image = {
            "prompt": string(),
            "negative_prompt": string(),
            "seed": nullable(integer()),
            "image_size": {"type": "object"},
            "image_url": string(),
            "strength": number(0, 1),
            "num_inference_steps": integer(1),
            "guidance_scale": number(0),
        }
        video = {**image, "tail_image_url": string(), "duration": {}}
        audio = {"text": string(), "voice": string(), "audio_url": string()}
        upscale = {"image_url": string(), "video_url": string(), "scale": number(1)}
    else:
        image = {
            "prompt": string(),
            "negative_prompt": string(),
            "seed": integer(),
            "width": integer(16),
            "height": integer(16),
            "image": uri(),
            "num_inference_steps": integer(1),
            "guidance_scale": number(0),
        }
        video = {
            **image,
            "end_image": uri(),
            "num_frames": integer(1),
            "frames_per_second": number(1),
        }
        audio = {"text": string(), "voice": string(), "audio": uri()}
        upscale = {"image": uri(), "video": uri(), "scale": number(1)}
    inputs = {"image": image, "video": video, "audio": audio, "upscale": upscale}[kind]
    return Model(
        id=model,
        kind="image" if kind == "upscale" else kind,
        inputs=inputs,
        required=[],
        source="(a model of the test suite's own)",
        output={"image": "images", "video": "video", "audio": "audio", "upscale": "images"}[kind]
        if provider == "fal"
        else "uri",
        image="image_url" if provider == "fal" else "image",
        clip=_seconds(1, 24) if provider == "fal" else _frames(17, 16, "frames_per_second"),
    )


def fal_document(model: Model) -> dict[str, Any]:
    """The queue OpenAPI document fal publishes for an endpoint."""
    name = "".join(part.capitalize() for part in model.id.replace("-", "/").split("/")[1:])
    output_schema = {
        "type": "object",
        "properties": {model.output: {"$ref": "#/components/schemas/File"}},
        "required": [model.output],
    }
    return {
        "openapi": "3.0.4",
        "info": {
            "title": f"Queue OpenAPI for {model.id}",
            "version": "1.0.0",
            "x-fal-metadata": {"endpointId": model.id, "documentationUrl": model.source},
        },
        "components": {
            "schemas": {
                f"{name}Input": {
                    "type": "object",
                    "properties": copy.deepcopy(model.inputs),
                    "required": list(model.required),
                    "x-fal-order-properties": list(model.inputs),
                },
                f"{name}Output": output_schema,
                "File": {"type": "object", "properties": {"url": string()}, "required": ["url"]},
                **copy.deepcopy(model.extra),
            }
        },
        "paths": {
            f"/{model.id}": {
                "post": {
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": f"#/components/schemas/{name}Input"}
                            }
                        },
                    }
                }
            }
        },
        "servers": [{"url": "https://queue.fal.run"}],
    }


def replicate_version(model: Model) -> dict[str, Any]:
    """A Replicate model version with its Cog ``openapi_schema`` (enums as components)."""
    components: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    for order, (key, published) in enumerate(model.inputs.items()):
        schema = copy.deepcopy(published)
        if "enum" in schema:
            default = schema.pop("default", None)
            components[key] = {**schema, "title": key, "description": "An enumeration."}
            schema = {"allOf": [{"$ref": f"#/components/schemas/{key}"}]}
            if default is not None:
                schema["default"] = default
        properties[key] = {**schema, "title": key.replace("_", " ").title(), "x-order": order}
    item = uri()
    output = {"type": "array", "items": item} if model.output == "uris" else item
    components["Input"] = {
        "type": "object",
        "title": "Input",
        "required": list(model.required),
        "properties": properties,
    }
    components["Output"] = {**output, "title": "Output"}
    return {
        "id": model.version,
        "cog_version": "0.16.12",
        "openapi_schema": {
            "openapi": "3.0.2",
            "info": {"title": "Cog", "version": "0.1.0"},
            "paths": {},
            "components": {"schemas": components},
        },
    }


@dataclass
class Problem:
    """One input that breaks the schema."""

    field: str
    """The input's name (``""`` for the input as a whole)."""
    kind: str
    """``missing``, ``enum``, ``type``, ``minimum``, ``maximum``, ``additional``..."""
    message: str


def problems(model: Model, body: dict[str, Any], document: dict[str, Any]) -> list[Problem]:
    """What in ``body`` breaks the model's input schema (unknown inputs aside)."""
    if "openapi_schema" in document:
        components = document["openapi_schema"]["components"]["schemas"]
        root = components["Input"]
    else:
        components = document["components"]["schemas"]
        ref = document["paths"][f"/{model.id}"]["post"]["requestBody"]["content"]
        root = components[ref["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]]
    schema = {**root, "components": {"schemas": components}}
    validator = jsonschema.Draft202012Validator(schema)
    found = []
    for error in sorted(validator.iter_errors(body), key=lambda e: list(e.path)):
        name = str(error.path[0]) if error.path else ""
        kind = {"required": "missing", "const": "enum"}.get(error.validator, error.validator)
        if error.validator == "required" and isinstance(error.validator_value, list):
            missing = [r for r in error.validator_value if r not in body]
            name = missing[0] if missing else name
        found.append(Problem(field=name, kind=str(kind), message=error.message))
    return found


def unknown(model: Model, body: dict[str, Any]) -> list[str]:
    """Inputs the model's schema does not name."""
    return sorted(set(body) - set(model.inputs))
