"""Every shipped fal and Replicate binding against the loopback servers (SPEC 8).

For each model recoil ships a binding for, a request goes through the adapter to
the loopback server, which holds the model's published input schema and
refuses (HTTP 422) any input that breaks it. The test checks that the body
the server got fits that schema with no input it does not name, that the
request's fields arrive in the model's own names and forms (a 4 s clip at
24 fps from a 160x90 frame: kling's ``"5"``, wan's 96 frames at 24 fps,
seedance's 4 s at 16:9...), that the input image arrives as the very file
sent, and that the binding's output is what comes back.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from recoil.model.provider_config import ProviderConfig
from recoil.model.requests import AudioRequest, KeyframeRequest, Request, VideoRequest
from recoil.providers.base import JobStatus
from recoil.providers.fal import FalProvider
from recoil.providers.fal_models import FAL_BINDINGS
from recoil.providers.hosted import HostedProvider
from recoil.providers.replicate import ReplicateProvider
from recoil.providers.replicate_models import REPLICATE_BINDINGS
from tests.helpers import run_job
from tests.providers.servers import fal, models, replicate

KEY = "sk-test-SECRET123"
FRAME, END = "frame", "end"
"""Stand-ins in the expectations for the start and end frames' bytes."""

EXPECTED: dict[str, dict[str, Any]] = {
    # fal: text to image, image to image
    "fal-ai/flux/dev": {"image_size": {"width": 160, "height": 90}, "seed": 7},
    "fal-ai/flux/schnell": {"image_size": {"width": 160, "height": 90}, "output_format": "png"},
    "fal-ai/flux/dev/image-to-image": {"image_url": FRAME, "strength": 0.6, "seed": 7},
    # fal: image to video (a 4 s beat at 24 fps)
    "fal-ai/kling-video/v2.1/standard/image-to-video": {
        "image_url": FRAME,
        "duration": "5",
        "negative_prompt": "blurry",
    },
    "fal-ai/kling-video/v2.1/pro/image-to-video": {
        "image_url": FRAME,
        "tail_image_url": END,
        "duration": "5",
    },
    "fal-ai/minimax/hailuo-02/standard/image-to-video": {
        "image_url": FRAME,
        "end_image_url": END,
        "duration": "6",
        "resolution": "512P",
    },
    "fal-ai/wan/v2.2-a14b/image-to-video": {
        "image_url": FRAME,
        "num_frames": 96,
        "frames_per_second": 24,
        "aspect_ratio": "16:9",
        "resolution": "480p",
        "interpolator_model": "none",
        "seed": 7,
    },
    # fal: text to speech
    "fal-ai/elevenlabs/tts/multilingual-v2": {"text": "Still here.", "voice": "Rachel"},
    "fal-ai/kokoro/american-english": {"prompt": "Still here.", "voice": "af_bella"},
    # Replicate: text to image, image to image
    "black-forest-labs/flux-schnell": {"aspect_ratio": "16:9", "seed": 7, "go_fast": False},
    "black-forest-labs/flux-dev": {
        "image": FRAME,
        "prompt_strength": 0.6,
        "aspect_ratio": "16:9",
        "output_format": "png",
    },
    # Replicate: image to video
    "kwaivgi/kling-v2.1": {
        "start_image": FRAME,
        "end_image": END,
        "duration": 5,
        "negative_prompt": "blurry",
    },
    "minimax/video-01": {"first_frame_image": FRAME, "subject_reference": END},
    "wan-video/wan-2.2-i2v-fast": {
        "image": FRAME,
        "last_image": END,
        "num_frames": 96,
        "frames_per_second": 24,
        "resolution": "480p",
    },
    "bytedance/seedance-1-lite": {
        "image": FRAME,
        "last_frame_image": END,
        "duration": 4,
        "fps": 24,
        "aspect_ratio": "16:9",
        "resolution": "480p",
    },
    # Replicate: text to speech
    "jaaari/kokoro-82m": {"text": "Still here.", "voice": "af_bella"},
    "minimax/speech-02-hd": {"text": "Still here.", "voice_id": "Wise_Woman"},
}
VOICES = {
    "fal-ai/elevenlabs/tts/multilingual-v2": "Rachel",
    "minimax/speech-02-hd": "Wise_Woman",
}
SHIPPED = [("fal", m) for m in FAL_BINDINGS] + [("replicate", m) for m in REPLICATE_BINDINGS]


def test_every_shipped_binding_is_tested_here() -> None:
    assert sorted(EXPECTED) == sorted(m for _, m in SHIPPED)


@pytest.fixture
def frames(tmp_path: Path) -> dict[str, Path]:
    paths = {}
    for name, colour in ((FRAME, "navy"), (END, "orange")):
        path = tmp_path / f"{name}.png"
        Image.new("RGB", (160, 90), colour).save(path)
        paths[name] = path
    return paths


@pytest.fixture(params=SHIPPED, ids=[m for _, m in SHIPPED])
def shipped(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, Any, HostedProvider]]:
    """(provider, model, the server's control, an adapter pointed at the server)."""
    name, model = request.param
    if name == "fal":
        url, control = fal.start(key=KEY)
        options: dict[str, Any] = {"base_url": url, "schema_url": url + fal.SCHEMA_PATH}
        adapter: HostedProvider = FalProvider(
            ProviderConfig(options=options, secrets={"FAL_KEY": KEY})
        )
    else:
        url, control = replicate.start(token=KEY)
        options = {"base_url": f"{url}/v1"}
        adapter = ReplicateProvider(
            ProviderConfig(options=options, secrets={"REPLICATE_API_TOKEN": KEY})
        )
    yield name, model, control, adapter
    control.stop()


def _request(model: str, modality: str, binds: set[str], frames: dict[str, Path]) -> Request:
    """A typical request of ``modality`` for ``model``, with the files its binding takes."""
    common: dict[str, Any] = {"model": model, "seed": 7, "negative_prompt": "blurry"}
    if modality == "audio":
        return AudioRequest(prompt="Still here.", model=model, voice=VOICES.get(model, "af_bella"))
    if modality == "keyframe":
        if "image" in binds:
            return KeyframeRequest(
                prompt="the lighthouse, later", image=str(frames[FRAME]), strength=0.6, **common
            )
        return KeyframeRequest(prompt="a lighthouse", width=160, height=90, **common)
    files = {"image": str(frames[FRAME])}
    if "end_image" in binds:
        files["end_image"] = str(frames[END])
    if "reference_image" in binds:
        files["reference_images"] = (str(frames[END]),)  # type: ignore[assignment]
    return VideoRequest(
        prompt="the keeper turns", width=160, height=90, fps=24, duration_s=4, **files, **common
    )


def _sent(name: str, control: Any) -> tuple[str, dict[str, Any]]:
    with control.lock:
        if name == "fal":
            [job] = control.jobs.values()
            return job.model, job.input
        [prediction] = control.predictions.values()
        return prediction.model, prediction.input


def _published(name: str, model: str) -> tuple[models.Model, dict[str, Any]]:
    if name == "fal":
        spec = models.FAL[model]
        return spec, models.fal_document(spec)
    spec = models.REPLICATE[model]
    return spec, models.replicate_version(spec)


def test_the_body_fits_the_models_schema_and_says_what_the_request_says(
    shipped: tuple[str, str, Any, HostedProvider], frames: dict[str, Path]
) -> None:
    name, model, control, adapter = shipped
    binding = adapter.bindings[model]
    request = _request(model, binding.modality, set(binding.media), frames)

    _, state = asyncio.run(run_job(adapter, request))

    assert state.status is JobStatus.SUCCEEDED, state.error
    got_model, body = _sent(name, control)
    assert got_model == model
    spec, document = _published(name, model)
    assert [p.message for p in models.problems(spec, body, document)] == []
    assert models.unknown(spec, body) == []
    assert control.rejected == []
    expected = EXPECTED[model]
    for key, value in expected.items():
        if value in (FRAME, END):
            assert _bytes(body[key], control) == frames[value].read_bytes(), key
        else:
            assert body[key] == value, key
    assert body.get("prompt", body.get("text")) == request.prompt
    [output] = state.outputs
    kind = {"keyframe": "image", "video": "video", "audio": "audio"}[binding.modality]
    assert output.mime.startswith(f"{kind}/")


def _bytes(value: str, control: Any) -> bytes | None:
    """The bytes an input URL stands for: a data URI, or a file uploaded to the server."""
    if value.startswith("data:"):
        return base64.b64decode(value.partition(",")[2])
    return control.uploads.get(value.rsplit("/", 1)[-1])
