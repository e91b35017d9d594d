"""Typed requests and payload validation (SPEC 2.2)."""

from __future__ import annotations

from typing import Any

import pytest

from recoil.errors import PayloadError
from recoil.model.requests import (
    BUILTIN_REQUESTS,
    CAMERA_MOVEMENTS,
    AudioRequest,
    KeyframeRequest,
    Request,
    UpscaleRequest,
    VideoRequest,
    build_request,
)


def build(modality: str, payload: Any) -> Request:
    return build_request(modality, BUILTIN_REQUESTS[modality], payload)


def test_builtin_request_types() -> None:
    """SPEC 1: keyframe, video, audio and upscale are built in."""
    assert dict(BUILTIN_REQUESTS) == {
        "keyframe": KeyframeRequest,
        "video": VideoRequest,
        "audio": AudioRequest,
        "upscale": UpscaleRequest,
    }
    assert "push_in" in CAMERA_MOVEMENTS


def test_unknown_keys_become_params() -> None:
    """SPEC 2.2: keys the request does not define are provider parameters; explicit params win."""
    request = build("keyframe", {"prompt": "x", "sampler": "euler", "params": {"sampler": "ddim"}})
    assert request.params == {"sampler": "ddim"}
    request = build("keyframe", {"prompt": "x", "steps": 20, "cfg_rescale": 0.7})
    assert isinstance(request, KeyframeRequest)
    assert request.steps == 20
    assert request.params == {"cfg_rescale": 0.7}


@pytest.mark.parametrize(
    ("modality", "payload", "field", "reason"),
    [
        ("keyframe", {"width": 8}, "width", "greater than or equal to 16"),
        ("keyframe", {"height": 10_000}, "height", "less than or equal to 8192"),
        ("keyframe", {"seed": -1}, "seed", "greater than or equal to 0"),
        ("keyframe", {"strength": 2}, "strength", "less than or equal to 1"),
        ("keyframe", {"prompt": 3}, "prompt", "string"),
        ("video", {"fps": 0}, "fps", "greater than 0"),
        ("video", {"camera_movement": "orbit"}, "camera_movement", "push_in"),
        ("audio", {"prompt": ""}, "prompt", "text to speak"),
        ("upscale", {"image": "a.png", "video": "b.mp4"}, "image", "exactly one"),
        ("upscale", {"scale": 1.0}, "scale", "greater than 1"),
        ("keyframe", {"params": []}, "params", "dictionary"),
        ("keyframe", {"x": 1, "params": 3}, "params", "mapping"),
        ("keyframe", {"image": {"$step": "kf", "output": "image"}}, "image", "step reference"),
    ],
)
def test_invalid_fields_are_named(
    modality: str, payload: dict[str, Any], field: str, reason: str
) -> None:
    """SPEC 2.2: an invalid payload raises PayloadError naming the field and the reason."""
    with pytest.raises(PayloadError) as info:
        build(modality, payload)
    assert info.value.field == field
    assert info.value.modality == modality
    assert reason in info.value.reason


def test_payload_must_be_a_mapping_with_string_keys() -> None:
    """SPEC 2.2: a payload is a JSON-safe dict."""
    with pytest.raises(PayloadError, match="expected a mapping"):
        build("keyframe", ["prompt"])
    with pytest.raises(PayloadError, match="must be strings"):
        build("keyframe", {1: "x"})


def test_requests_are_frozen() -> None:
    """SPEC 2.2: a validated request is a value."""
    request = build("keyframe", {"prompt": "x"})
    with pytest.raises(AttributeError):
        request.prompt = "y"  # type: ignore[misc]


def test_inputs_and_to_dict() -> None:
    """SPEC 3: input media are named by field so their sha256 can be recorded."""
    request = build(
        "video", {"prompt": "x", "image": "/k.png", "reference_images": ["/a.png", "/b.png"]}
    )
    assert request.inputs() == {
        "image": "/k.png",
        "reference_images[0]": "/a.png",
        "reference_images[1]": "/b.png",
    }
    data = request.to_dict()
    assert data["reference_images"] == ["/a.png", "/b.png"]
    assert build("video", data) == request
    assert isinstance(request, VideoRequest)
    assert VideoRequest(duration_s=0.01, fps=24).frames == 1
    assert VideoRequest(duration_s=2, fps=12).frames == 24
    assert build("upscale", {"video": "/c.mp4"}).inputs() == {"video": "/c.mp4"}


def test_a_request_knows_which_fields_were_given() -> None:
    """A field left out holds its default, and the request says it was not given."""
    built = build("video", {"prompt": "x", "fps": 24.0, "reference_images": []})
    assert built.fields_set == frozenset({"prompt", "fps", "reference_images"})
    assert built.width == 1280 and "width" not in built.fields_set
    made = VideoRequest(prompt="x", duration_s=2)
    assert made.fields_set == frozenset({"prompt", "duration_s"})
    assert made == build("video", {"prompt": "x", "duration_s": 2})  # the set is not a field
    assert "fields_set" not in made.to_dict()
    audio = build("audio", {"prompt": "hi", "voice": "en"})  # a subclass with validators of its own
    assert audio.fields_set == frozenset({"prompt", "voice"})
    with_params = build("keyframe", {"prompt": "x", "steps_extra": 3})
    assert with_params.fields_set == frozenset({"prompt", "params"})
