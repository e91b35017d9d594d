"""The Replicate adapter against the loopback predictions API."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from recoil.errors import PayloadError, ProviderError
from recoil.model.provider_config import ProviderConfig
from recoil.model.requests import KeyframeRequest, Request
from recoil.providers.base import Job, JobState, JobStatus
from recoil.providers.replicate import ReplicateProvider
from tests.helpers import run_job
from tests.providers.servers import replicate
from tests.providers.servers.replicate import ReplicateControl

TOKEN = "r8_test-SECRET123"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, ReplicateControl]]:
    monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)
    url, control = replicate.start(token=TOKEN)
    yield f"{url}/v1", control
    control.stop()


def _provider(url: str, **options: Any) -> ReplicateProvider:
    config = ProviderConfig(
        options={"base_url": url, "models": {"keyframe": "acme/painter"}, **options},
        prices={"acme/painter": 0.5},
    )
    return ReplicateProvider(config)


def _error(provider: ReplicateProvider, request: Request) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        asyncio.run(run_job(provider, request))
    return info.value


def test_a_model_route_prediction_runs_and_costs_predict_time(
    server: tuple[str, ReplicateControl],
) -> None:
    url, control = server
    job, state = asyncio.run(run_job(_provider(url), KeyframeRequest(prompt="p", seed=4, width=32)))
    assert state.status is JobStatus.SUCCEEDED
    assert [o.name for o in state.outputs] == ["image"]
    assert state.cost is not None and state.cost.amount == pytest.approx(control.run_s * 0.5)
    assert control.count("POST", "/v1/models/acme/painter/predictions") == 1
    assert state.model is not None and state.model.startswith("acme/painter:")
    assert set(control.auth_headers) == {f"Bearer {TOKEN}"}
    assert TOKEN not in json.dumps(dict(job.handle))


def test_a_versioned_model_uses_the_predictions_route_and_lists_outputs(
    server: tuple[str, ReplicateControl],
) -> None:
    url, control = server
    control.output_count = 2
    request = KeyframeRequest(prompt="p", model="acme/painter:abc123")
    _, state = asyncio.run(run_job(_provider(url), request))
    assert [o.name for o in state.outputs] == ["image", "image_1"]
    [prediction] = control.predictions.values()
    assert prediction.version == "abc123"
    assert control.count("POST", "/v1/predictions") == 1


def test_a_failed_prediction_is_permanent_and_still_costs(
    server: tuple[str, ReplicateControl],
) -> None:
    url, control = server
    control.fail_next = "CUDA error: device-side assert triggered"
    _, state = asyncio.run(run_job(_provider(url), KeyframeRequest(prompt="p")))
    assert state.status is JobStatus.FAILED
    assert state.error is not None and not state.error.retryable
    assert "device-side assert" in str(state.error)
    assert state.error.cost == pytest.approx(control.run_s * 0.5)


def test_throttling_is_retryable_with_retry_after(server: tuple[str, ReplicateControl]) -> None:
    url, control = server
    control.script(
        "POST",
        "/v1/",
        status=429,
        headers={"Retry-After": "7"},
        body={"detail": "Request was throttled. Expected available in 7 seconds."},
    )
    error = _error(_provider(url), KeyframeRequest(prompt="p"))
    assert (error.retryable, error.retry_after_s, error.provider_status) == (True, 7.0, "429")
    assert "throttled" in str(error)


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (503, True), (401, False)])
def test_other_http_errors(
    server: tuple[str, ReplicateControl], status: int, retryable: bool
) -> None:
    url, control = server
    control.script("POST", "/v1/", status=status, body={"detail": f"bad {TOKEN}"})
    error = _error(_provider(url), KeyframeRequest(prompt="p"))
    assert error.retryable is retryable
    assert TOKEN not in str(error)


def test_input_the_schema_refuses_is_permanent_and_not_sent(
    server: tuple[str, ReplicateControl],
) -> None:
    url, control = server
    error = _error(_provider(url), KeyframeRequest(prompt="p", params={"prompt": None}))
    assert (error.retryable, error.error_type) == (False, "invalid_input")
    assert "input.prompt: acme/painter requires it" in str(error) and "not sent" in str(error)
    assert control.submits == 0


def test_the_services_422_is_permanent(server: tuple[str, ReplicateControl]) -> None:
    """A schema kept from before the model changed lets a request through: Replicate's 422."""
    url, control = server
    body = {
        "title": "Input validation failed",
        "status": 422,
        "detail": "- input.output_format: output_format must be one of the following: webp\n",
        "invalid_fields": [{"type": "enum", "field": "input.output_format"}],
    }
    control.script("POST", "/v1/models", status=422, body=body)
    error = _error(_provider(url), KeyframeRequest(prompt="p"))
    assert (error.retryable, error.provider_status) == (False, "422")
    assert "output_format must be one of" in str(error)


def test_a_dropped_submit_is_found_in_the_list_not_resent(
    server: tuple[str, ReplicateControl],
) -> None:
    url, control = server
    control.script("POST", "/v1/models", process=True, drop=True)
    job, state = asyncio.run(run_job(_provider(url), KeyframeRequest(prompt="p", seed=5)))
    assert state.status is JobStatus.SUCCEEDED
    assert control.submits == 1
    assert list(control.predictions) == [job.job_id]


def test_a_dropped_submit_that_never_arrived_is_an_unknown_outcome(
    server: tuple[str, ReplicateControl],
) -> None:
    url, control = server
    control.script("POST", "/v1/models", drop=True)
    error = _error(_provider(url), KeyframeRequest(prompt="p"))
    assert error.unknown_outcome and not error.retryable
    assert "recent predictions list: none" in str(error)
    assert control.submits == 1


def test_expired_output_is_a_clear_permanent_error(server: tuple[str, ReplicateControl]) -> None:
    url, control = server
    control.files.ttl_s = 0.0
    error = _error(_provider(url), KeyframeRequest(prompt="p"))
    assert (error.retryable, error.error_type, error.provider_status) == (
        False,
        "output_expired",
        "410",
    )


def test_cancel_and_restart(server: tuple[str, ReplicateControl]) -> None:
    url, control = server
    control.queue_s = 30

    async def submit() -> Job:
        provider = _provider(url)
        try:
            return await provider.submit(KeyframeRequest(prompt="p"), uuid.uuid4().hex)
        finally:
            await provider.aclose()

    job = asyncio.run(submit())

    async def cancel_from_a_new_process() -> JobState:
        provider = _provider(url)
        try:
            assert (await provider.check(job)).status is JobStatus.QUEUED
            await provider.cancel(job)
            return await provider.check(job)
        finally:
            await provider.aclose()

    assert asyncio.run(cancel_from_a_new_process()).status is JobStatus.CANCELLED
    assert (control.submits, control.cancels) == (1, 1)


def test_a_model_is_required() -> None:
    provider = ReplicateProvider(ProviderConfig())
    with pytest.raises(PayloadError, match="owner/name"):
        provider.validate(KeyframeRequest(prompt="p"))
    asyncio.run(provider.aclose())


def test_after_a_crash_find_pages_back_to_the_prediction(
    server: tuple[str, ReplicateControl],
) -> None:
    """SPEC 7: a submit a crash cut off is found in the list, however many came after it."""
    url, control = server
    control.page_size = 2
    request = KeyframeRequest(prompt="p", seed=5)
    sent_us = int(time.time() * 1e6)
    job, _ = asyncio.run(run_job(_provider(url), request))
    for n in range(5):  # newer predictions push it to the third page
        asyncio.run(run_job(_provider(url), KeyframeRequest(prompt=f"other {n}", seed=5)))

    async def next_run() -> tuple[Job | None, Job | None]:
        provider = _provider(url)
        try:
            found = await provider.find(request, "r-crashed", sent_us)
            missing = await provider.find(KeyframeRequest(prompt="q", seed=5), "r-x", sent_us)
            return found, missing
        finally:
            await provider.aclose()

    found, missing = asyncio.run(next_run())
    assert found is not None and found.job_id == job.job_id
    assert missing is None  # listed back past the submit: it never arrived
    assert control.submits == 6
    assert control.calls["GET /v1/predictions"] == 6  # three pages, each time


def test_after_a_crash_a_list_that_fails_is_retryable(
    server: tuple[str, ReplicateControl],
) -> None:
    url, control = server
    control.script("GET", "/v1/predictions", status=503)

    async def next_run() -> Job | None:
        provider = _provider(url)
        try:
            return await provider.find(KeyframeRequest(prompt="p"), "r-crashed", 0)
        finally:
            await provider.aclose()

    with pytest.raises(ProviderError) as info:
        asyncio.run(next_run())
    assert info.value.retryable and not info.value.unknown_outcome
