"""The fal adapter against the loopback fal queue API."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from recoil.errors import PayloadError, ProviderError
from recoil.model.provider_config import ProviderConfig
from recoil.model.requests import AudioRequest, KeyframeRequest, Request, VideoRequest
from recoil.providers.base import Job, JobState, JobStatus
from recoil.providers.fal import FalProvider
from tests.helpers import run_job, until_done
from tests.providers.servers import fal
from tests.providers.servers.fal import FalControl

KEY = "sk-test-SECRET123"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, FalControl]]:
    monkeypatch.setenv("FAL_KEY", KEY)
    url, control = fal.start(key=KEY)
    yield url, control
    control.stop()


def _provider(url: str, **options: Any) -> FalProvider:
    models = {"keyframe": "fal-ai/flux/dev", "video": "fal-ai/kling-video/v1/image-to-video"}
    config = ProviderConfig(
        options={"base_url": url, "schema_url": url + fal.SCHEMA_PATH, "models": models, **options},
        prices={"fal-ai/flux/dev": 0.025},
    )
    return FalProvider(config)


def _error(provider: FalProvider, request: Request) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        asyncio.run(run_job(provider, request))
    return info.value


def test_keyframe_runs_and_costs_billable_units(server: tuple[str, FalControl]) -> None:
    url, control = server
    control.billable_units = "2"
    request = KeyframeRequest(prompt="a fox", seed=9, width=80, height=48, steps=4)
    job, state = asyncio.run(run_job(_provider(url), request))
    assert state.status is JobStatus.SUCCEEDED
    [output] = state.outputs
    assert (output.name, output.mime) == ("image", "image/png")
    assert state.cost is not None
    assert state.cost.amount == pytest.approx(0.05)
    assert state.cost.source == "reported"
    [sent] = [j.input for j in control.jobs.values()]
    assert sent["image_size"] == {"width": 80, "height": 48}
    assert (sent["prompt"], sent["seed"], sent["num_inference_steps"]) == ("a fox", 9, 4)
    assert set(control.auth_headers) == {f"Key {KEY}"}
    assert KEY not in json.dumps(dict(job.handle))
    assert control.count("GET", "/files/") == 1


def test_params_merge_over_the_input_and_images_go_as_data_uris(
    server: tuple[str, FalControl], tmp_path: Path
) -> None:
    url, control = server
    frame = tmp_path / "frame.png"
    Image.new("RGB", (4, 4), "blue").save(frame)
    request = VideoRequest(
        prompt="she turns", image=str(frame), params={"duration": "5", "seed": None}
    )
    _, state = asyncio.run(run_job(_provider(url), request))
    assert state.outputs[0].mime == "video/mp4"
    [sent] = [j.input for j in control.jobs.values()]
    assert sent["duration"] == "5"
    assert "seed" not in sent
    prefix = "data:image/png;base64,"
    assert sent["image_url"].startswith(prefix)
    assert base64.b64decode(sent["image_url"][len(prefix) :]) == frame.read_bytes()


def test_a_restarted_process_checks_the_same_request(server: tuple[str, FalControl]) -> None:
    url, control = server

    async def submit() -> Job:
        provider = _provider(url)
        try:
            return await provider.submit(KeyframeRequest(prompt="p", seed=1), uuid.uuid4().hex)
        finally:
            await provider.aclose()

    job = asyncio.run(submit())
    handle = json.loads(json.dumps(dict(job.handle)))
    state = asyncio.run(_resume(url, Job(job_id=job.job_id, handle=handle)))
    assert state.status is JobStatus.SUCCEEDED
    assert control.submits == 1


async def _resume(url: str, job: Job) -> JobState:
    provider = _provider(url)
    try:
        return await until_done(provider, job)
    finally:
        await provider.aclose()


@pytest.mark.parametrize(
    ("status", "headers", "retryable", "retry_after"),
    [
        (429, {"Retry-After": "3"}, True, 3.0),
        (503, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, True, 0.0),
        (502, {}, True, None),
        (400, {}, False, None),
        (404, {}, False, None),
    ],
)
def test_http_errors_map_to_provider_errors(
    server: tuple[str, FalControl],
    status: int,
    headers: dict[str, str],
    retryable: bool,
    retry_after: float | None,
) -> None:
    url, control = server
    control.script("POST", "/fal-ai", status=status, headers=headers, body={"detail": f"d{KEY}"})
    error = _error(_provider(url), KeyframeRequest(prompt="p"))
    assert error.retryable is retryable
    assert error.retry_after_s == retry_after
    assert error.provider_status == str(status)
    assert KEY not in str(error)


def test_a_wrong_key_is_permanent_and_never_echoed(server: tuple[str, FalControl]) -> None:
    url, _ = server
    provider = FalProvider(
        ProviderConfig(
            options={
                "base_url": url,
                "schema_url": url + fal.SCHEMA_PATH,
                "models": {"keyframe": "fal-ai/flux/dev"},
            },
            secrets={"FAL_KEY": "sk-test-WRONG-KEY-999"},
        )
    )
    error = _error(provider, KeyframeRequest(prompt="p"))
    assert (error.retryable, error.provider_status) == (False, "401")
    assert "check the API key" in str(error)
    assert "WRONG-KEY" not in str(error)


def test_failed_requests_report_the_result_error(server: tuple[str, FalControl]) -> None:
    url, control = server
    control.fail_next = "validation"
    _, state = asyncio.run(run_job(_provider(url), KeyframeRequest(prompt="p")))
    assert state.status is JobStatus.FAILED
    assert state.error is not None and not state.error.retryable
    assert "HTTP 422" in str(state.error) and "field required" in str(state.error)
    control.fail_next = "runner"
    _, state = asyncio.run(run_job(_provider(url), KeyframeRequest(prompt="p")))
    assert state.error is not None and state.error.retryable


def test_expired_output_url_is_a_clear_permanent_error(server: tuple[str, FalControl]) -> None:
    url, control = server
    control.files.ttl_s = 0.0
    error = _error(_provider(url), KeyframeRequest(prompt="p"))
    assert (error.retryable, error.error_type) == (False, "output_expired")
    assert "expired" in str(error)


def test_a_dropped_submit_is_an_unknown_outcome_and_not_resent(
    server: tuple[str, FalControl],
) -> None:
    url, control = server
    control.script("POST", "/fal-ai", process=True, drop=True)
    error = _error(_provider(url), KeyframeRequest(prompt="p"))
    assert error.unknown_outcome and not error.retryable
    assert control.submits == 1
    assert len(control.jobs) == 1


def test_a_slow_answer_times_out_as_retryable(server: tuple[str, FalControl]) -> None:
    url, control = server
    # Ten times the timeout late; the timeout itself leaves the calls before it time to answer.
    control.script("GET", "/fal-ai", delay_s=5.0)
    error = _error(_provider(url, timeout_s=0.5), KeyframeRequest(prompt="p"))
    assert (error.retryable, error.error_type) == (True, "timeout")


def test_an_unreachable_server_is_retryable_not_unknown() -> None:
    error = _error(_provider("http://127.0.0.1:9"), KeyframeRequest(prompt="p"))
    assert error.retryable and not error.unknown_outcome


def test_cancel_while_queued(server: tuple[str, FalControl]) -> None:
    url, control = server
    control.queue_s = 30

    async def scenario() -> JobState:
        provider = _provider(url)
        try:
            job = await provider.submit(KeyframeRequest(prompt="p"), uuid.uuid4().hex)
            assert (await provider.check(job)).status is JobStatus.QUEUED
            await provider.cancel(job)
            await provider.cancel(job)  # already over: nothing to do, no error
            return await provider.check(job)
        finally:
            await provider.aclose()

    state = asyncio.run(scenario())
    assert state.status is JobStatus.FAILED
    assert control.cancels == 2


def test_a_model_is_required_and_audio_sends_text(server: tuple[str, FalControl]) -> None:
    url, control = server
    provider = FalProvider(ProviderConfig(options={"base_url": url}))
    with pytest.raises(PayloadError, match=r"providers.fal.models"):
        provider.validate(KeyframeRequest(prompt="p"))
    _, state = asyncio.run(
        run_job(_provider(url), AudioRequest(prompt="Hello there.", model="fal-ai/tts"))
    )
    assert state.outputs[0].name == "audio"
    [sent] = [j.input for j in control.jobs.values()]
    assert sent["text"] == "Hello there."


def test_preflight_needs_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAL_KEY", raising=False)
    problems = asyncio.run(FalProvider(ProviderConfig()).preflight())
    assert problems and "FAL_KEY" in problems[0]


def test_after_a_crash_find_cannot_tell_and_says_what_to_do(
    server: tuple[str, FalControl],
) -> None:
    """SPEC 7: fal has no lookup, so a submit a crash cut off fails the step, never re-sent."""
    url, control = server

    async def next_run() -> Job | None:
        provider = _provider(url)
        try:
            return await provider.find(
                KeyframeRequest(prompt="p"), "r-crashed", 1_795_000_000_000_000
            )
        finally:
            await provider.aclose()

    with pytest.raises(ProviderError) as info:
        asyncio.run(next_run())
    assert info.value.unknown_outcome and not info.value.retryable
    message = str(info.value)
    assert "2026-11-18" in message and "fal dashboard" in message
    # SPEC 7: a rerun leaves an unknown outcome as it is; the message must not promise one.
    assert "run again" not in message and "no later `recoil run` sends it" in message
    assert "recoil retake" in message
    assert control.submits == 0
