"""The previz provider end to end: requests in, real decoded files out."""

from __future__ import annotations

import asyncio
import io
import uuid
import wave
from collections.abc import Iterator
from pathlib import Path

import av
import pytest
from PIL import Image

from recoil.errors import ConfigError, PayloadError, ProviderError
from recoil.model.cost import FREE
from recoil.model.provider_config import ProviderConfig
from recoil.model.requests import (
    AudioRequest,
    KeyframeRequest,
    Request,
    UpscaleRequest,
    VideoRequest,
    build_request,
)
from recoil.providers.base import Job, JobState, JobStatus, Provider
from recoil.providers.previz import PrevizProvider
from recoil.providers.registry import default_registry

KEYFRAME_FIELDS = [
    "prompt",
    "negative_prompt",
    "seed",
    "provider",
    "model",
    "shot",
    "width",
    "height",
    "image",
    "strength",
    "reference_images",
    "steps",
    "guidance",
]
"""What a previz keyframe request accepts: every field but ``params``."""
SHOT = {"size": "wide", "angle": "low", "characters": [{"name": "Mara"}], "caption": "Dawn."}


def build(config: ProviderConfig) -> Provider:
    """The previz provider as the registry builds it (``providers/builtin.py``)."""
    return default_registry().provider("previz", "keyframe")(config)


@pytest.fixture(scope="module")
def provider() -> Iterator[PrevizProvider]:
    previz = build(ProviderConfig(options={"workers": 2}))
    assert isinstance(previz, PrevizProvider)
    yield previz
    asyncio.run(previz.aclose())


def submit(provider: PrevizProvider, request: Request) -> JobState:
    job = asyncio.run(provider.submit(request, uuid.uuid4().hex))
    assert job.result is not None
    assert asyncio.run(provider.check(job)) is job.result
    return job.result


def only(state: JobState) -> tuple[str, bytes, str]:
    assert state.status is JobStatus.SUCCEEDED
    assert state.cost == FREE
    (output,) = state.outputs
    return output.name, output.data, output.mime


def video_frames(data: bytes) -> tuple[int, tuple[int, int], float]:
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        height, width = frames[0].shape[:2]
        return len(frames), (width, height), float(stream.average_rate or 0)


def test_is_a_provider(provider: PrevizProvider) -> None:
    assert isinstance(provider, Provider)
    assert provider.name == "previz"
    assert provider.poll_interval_s == 0
    assert asyncio.run(provider.preflight()) == []
    assert provider.estimate_cost(KeyframeRequest(prompt="p")) == FREE


def test_keyframe(provider: PrevizProvider) -> None:
    request = KeyframeRequest(prompt="A harbour", seed=4, width=320, height=180, shot=SHOT)
    state = submit(provider, request)
    name, data, mime = only(state)
    assert (name, mime, state.model) == ("image", "image/png", "previz-storyboard-1")
    with Image.open(io.BytesIO(data)) as picture:
        assert picture.size == (320, 180)


def test_same_request_same_bytes_and_job_id(provider: PrevizProvider) -> None:
    request = KeyframeRequest(prompt="A harbour", seed=4, width=160, height=90, shot=SHOT)
    first = asyncio.run(provider.submit(request, uuid.uuid4().hex))
    second = asyncio.run(provider.submit(request, uuid.uuid4().hex))
    assert first.job_id == second.job_id
    assert first.result == second.result
    other = asyncio.run(
        provider.submit(
            KeyframeRequest(prompt="A harbour", seed=5, width=160, height=90, shot=SHOT),
            uuid.uuid4().hex,
        )
    )
    assert other.job_id != first.job_id
    assert other.result != first.result


def test_video_from_the_prompt_renders_a_keyframe_first(provider: PrevizProvider) -> None:
    request = VideoRequest(
        prompt="A harbour",
        seed=4,
        width=320,
        height=180,
        fps=12,
        duration_s=1.5,
        camera_movement="push_in",
        shot=SHOT,
    )
    state = submit(provider, request)
    name, data, mime = only(state)
    assert (name, mime, state.model) == ("video", "video/mp4", "previz-motion-1")
    assert video_frames(data) == (18, (320, 180), 12.0)
    assert submit(provider, request) == state


def test_video_from_an_image(provider: PrevizProvider, tmp_path: Path) -> None:
    still = tmp_path / "still.png"
    Image.new("RGB", (64, 64), (250, 10, 10)).save(still)
    request = VideoRequest(
        image=str(still), width=96, height=54, fps=24, duration_s=0.5, camera_movement="pan_left"
    )
    _, data, _ = only(submit(provider, request))
    count, size, _ = video_frames(data)
    assert (count, size) == (12, (96, 54))
    with av.open(io.BytesIO(data), "r") as container:
        red, green, _ = next(container.decode(video=0)).to_ndarray(format="rgb24")[27, 48]
    assert red > 200 and green < 60  # the red still, not a storyboard


def test_audio(provider: PrevizProvider) -> None:
    request = AudioRequest(prompt="We sail at first light, whatever the sea says.", voice="en-gb")
    state = submit(provider, request)
    name, data, mime = only(state)
    assert (name, mime, state.model) == ("audio", "audio/wav", "previz-espeak-ng")
    with wave.open(io.BytesIO(data)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth()) == (1, 2)
        assert reader.getnframes() / reader.getframerate() > 1.0
    assert submit(provider, request) == state


def test_audio_sample_rate_and_exact_duration(provider: PrevizProvider) -> None:
    request = AudioRequest(prompt="Hold.", sample_rate=48000, duration_s=2.5)
    _, data, _ = only(submit(provider, request))
    with wave.open(io.BytesIO(data)) as reader:
        assert reader.getframerate() == 48000
        assert reader.getnframes() == 120000


def test_upscale_image_and_video(provider: PrevizProvider, tmp_path: Path) -> None:
    still = tmp_path / "still.png"
    Image.new("RGB", (40, 30), (0, 90, 200)).save(still)
    state = submit(provider, UpscaleRequest(image=str(still), scale=2.0))
    name, data, mime = only(state)
    assert (name, mime, state.model) == ("image", "image/png", "previz-lanczos-1")
    with Image.open(io.BytesIO(data)) as picture:
        assert picture.size == (80, 60)

    clip_state = submit(
        provider,
        VideoRequest(
            prompt="p", width=64, height=36, fps=8, duration_s=1, camera_movement="tilt_up"
        ),
    )
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(only(clip_state)[1])
    name, data, mime = only(submit(provider, UpscaleRequest(video=str(clip), scale=2.0)))
    assert (name, mime) == ("video", "video/mp4")
    assert video_frames(data) == (8, (128, 72), 8.0)


def test_model_for_each_modality(provider: PrevizProvider) -> None:
    assert provider.model_for(KeyframeRequest()) == "previz-storyboard-1"
    assert provider.model_for(VideoRequest()) == "previz-motion-1"
    assert provider.model_for(AudioRequest(prompt="x")) == "previz-espeak-ng"
    assert provider.model_for(UpscaleRequest(image="x.png")) == "previz-lanczos-1"


def test_validate_names_the_bad_field(provider: PrevizProvider) -> None:
    provider.validate(KeyframeRequest(shot=SHOT, steps=30))
    with pytest.raises(PayloadError) as info:
        provider.validate(KeyframeRequest(shot={"size": "gigantic"}))
    assert info.value.field == "shot.size"
    with pytest.raises(PayloadError) as info:
        provider.validate(AudioRequest(prompt="hi", voice="nobody-xx"))
    assert info.value.field == "voice"
    with pytest.raises(PayloadError) as info:
        provider.validate(KeyframeRequest(model="sdxl"))
    assert info.value.field == "model"


@pytest.mark.parametrize(
    ("payload", "field", "says"),
    [
        ({"oops": 1}, "oops", "unknown parameter 'oops': previz has no model parameters"),
        ({"step": 30}, "step", "(did you mean 'steps'?)"),
        ({"params": {"steps": 30}}, "steps", "'steps' is a keyframe field: give it outside"),
        ({"zz": 1, "aa": 2}, "aa", "unknown parameters 'aa', 'zz'"),
    ],
)
def test_an_unknown_parameter_is_refused_naming_what_previz_accepts(
    provider: PrevizProvider, payload: dict[str, object], field: str, says: str
) -> None:
    """Previz has no model options: a parameter it would ignore is refused, with the fields a
    previz request does accept, instead of a render that silently left it out."""
    request = build_request("keyframe", KeyframeRequest, {"prompt": "a fox", **payload})
    with pytest.raises(PayloadError) as info:
        provider.validate(request)
    assert info.value.field == field
    message = str(info.value)
    assert says in message and "\n" not in message
    assert message.endswith("accepts only " + ", ".join(KEYFRAME_FIELDS))


def test_recoil_dispatch_with_an_unknown_param_fails_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``recoil dispatch keyframe --param oops=1`` (previz, the offline default): exit 2 with
    one line naming the parameter, and nothing rendered or recorded."""
    from typer.testing import CliRunner

    from recoil.cli.app import _register, app

    monkeypatch.chdir(tmp_path)
    _register()
    result = CliRunner().invoke(app, ["dispatch", "keyframe", "-p", "a fox", "--param", "oops=1"])
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert "unknown parameter 'oops'" in line and "accepts only prompt" in line
    assert not list(tmp_path.rglob("*.png"))


def test_missing_input_is_a_permanent_error(provider: PrevizProvider, tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="cannot read") as info:
        asyncio.run(
            provider.submit(UpscaleRequest(image=str(tmp_path / "gone.png")), uuid.uuid4().hex)
        )
    assert info.value.retryable is False


def test_broken_input_is_a_permanent_error(provider: PrevizProvider, tmp_path: Path) -> None:
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"<html>not an image</html>")
    with pytest.raises(ProviderError, match="could not render") as info:
        asyncio.run(
            provider.submit(VideoRequest(image=str(junk), duration_s=0.1), uuid.uuid4().hex)
        )
    assert info.value.retryable is False


def test_check_without_a_result_is_an_error(provider: PrevizProvider) -> None:
    with pytest.raises(ProviderError, match="submit"):
        asyncio.run(provider.check(Job(job_id="abc")))


def test_bad_worker_setting() -> None:
    with pytest.raises(ConfigError, match="workers"):
        build(ProviderConfig(options={"workers": 0}))


def test_aclose_is_safe_without_work() -> None:
    asyncio.run(PrevizProvider(workers=1).aclose())
