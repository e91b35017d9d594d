"""The fake provider that ships for tests and examples (SPEC 8)."""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
import wave
from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image

from recoil.errors import PayloadError, ProviderError
from recoil.model.ids import now_us
from recoil.model.provider_config import ProviderConfig
from recoil.model.requests import (
    AudioRequest,
    KeyframeRequest,
    Request,
    UpscaleRequest,
    VideoRequest,
)
from recoil.providers.base import Job, JobState, JobStatus, Provider
from recoil.providers.fake import FakeProvider
from tests.helpers import wait_until


def run(provider: FakeProvider, request: Request) -> JobState:
    job = asyncio.run(provider.submit(request, uuid.uuid4().hex))
    assert job.result is not None
    return job.result


def test_is_a_provider() -> None:
    """SPEC 8: the fake implements the provider protocol."""
    fake = FakeProvider()
    assert isinstance(fake, Provider)
    assert fake.name == "fake"
    assert fake.model_for(KeyframeRequest(prompt="x")) == "fake-keyframe"
    assert fake.model_for(KeyframeRequest(prompt="x", model="m")) == "m"
    assert asyncio.run(fake.preflight()) == []


def test_outputs_are_valid_files() -> None:
    """SPEC 8: the fake returns small but valid PNG, MP4 and WAV files."""
    fake = FakeProvider()
    [png] = run(fake, KeyframeRequest(prompt="x", seed=1, width=320, height=180)).outputs
    with Image.open(io.BytesIO(png.data)) as image:
        assert image.size == (32, 18)
    [mp4] = run(fake, VideoRequest(prompt="x", seed=1, duration_s=0.5, fps=8)).outputs
    assert mp4.mime == "video/mp4"
    with av.open(io.BytesIO(mp4.data), mode="r") as container:
        assert sum(1 for _ in container.decode(video=0)) == 4
    [wav] = run(fake, AudioRequest(prompt="hi", duration_s=0.25)).outputs
    with wave.open(io.BytesIO(wav.data)) as w:
        assert w.getnframes() == 4000
    [up] = run(fake, UpscaleRequest(image="/x.png")).outputs
    assert up.mime == "image/png"
    assert fake.submits == 4


def test_deterministic() -> None:
    """SPEC 8: same request, same bytes; another seed is another sample."""
    a = run(FakeProvider(), KeyframeRequest(prompt="x", seed=1)).outputs[0].data
    b = run(FakeProvider(), KeyframeRequest(prompt="x", seed=1)).outputs[0].data
    c = run(FakeProvider(), KeyframeRequest(prompt="x", seed=2)).outputs[0].data
    assert a == b != c


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"fake_latency_s": -1}, "fake_latency_s"),
        ({"fake_cost": "cheap"}, "fake_cost"),
        ({"fake_fail": "often"}, "fake_fail"),
        ({"fake_fail": -2}, "fake_fail"),
        ({"fake_scores": {"a": "high"}}, "fake_scores"),
        ({"fake_unknown": 1}, "fake_unknown"),
    ],
)
def test_knobs_are_validated(params: dict[str, Any], field: str) -> None:
    """SPEC 2.2: provider parameters are validated before any call, naming the field."""
    with pytest.raises(PayloadError) as info:
        FakeProvider().validate(KeyframeRequest(prompt="x", params=params))
    assert info.value.field == field


def test_failures() -> None:
    """SPEC 8: errors say whether they are retryable; fake_fail=N fails the first N attempts."""
    fake = FakeProvider()
    with pytest.raises(ProviderError) as permanent:
        run(fake, KeyframeRequest(prompt="x", params={"fake_fail": "permanent"}))
    assert (permanent.value.retryable, permanent.value.provider_status) == (False, "400")
    transient = KeyframeRequest(
        prompt="x", params={"fake_fail": "transient", "fake_retry_after_s": 2}
    )
    with pytest.raises(ProviderError) as info:
        run(fake, transient)
    assert (info.value.retryable, info.value.provider_status, info.value.retry_after_s) == (
        True,
        "503",
        2.0,
    )
    twice = KeyframeRequest(prompt="y", params={"fake_fail": 2})
    for _ in range(2):
        with pytest.raises(ProviderError):
            run(fake, twice)
    assert run(fake, twice).status is JobStatus.SUCCEEDED


def test_cost_and_scores() -> None:
    """SPEC 8 / 10: the fake reports the configured cost and eval scores."""
    fake = FakeProvider()
    request = KeyframeRequest(prompt="x", params={"fake_cost": 0.3, "fake_scores": {"s": 1}})
    assert fake.estimate_cost(request).amount == 0.3
    state = run(fake, request)
    assert state.cost is not None
    assert (state.cost.amount, state.cost.source) == (0.3, "reported")
    assert state.eval_scores == {"s": 1.0}


def _async_job(
    fake: FakeProvider, latency_s: float, *, cancel: bool = False
) -> tuple[Job, JobState]:
    """Submit an async job, check it at once, then cancel it if asked: (the job, that state)."""
    request = KeyframeRequest(prompt="x", params={"fake_async": True, "fake_latency_s": latency_s})

    async def scenario() -> tuple[Job, JobState]:
        job = await fake.submit(request, uuid.uuid4().hex)
        first = await fake.check(job)
        if cancel:
            await fake.cancel(job)
        return job, first

    return asyncio.run(scenario())


def _wait_ready(job: Job) -> None:
    """Wait until the fake's clock has passed the time the job is ready at."""
    wait_until(lambda: now_us() >= job.handle["ready_at_us"], what="the job's latency to pass")


def test_async_jobs_complete_after_latency() -> None:
    """SPEC 8: with fake_async the fake is a submit-then-poll provider."""
    fake = FakeProvider()
    job, first = _async_job(fake, latency_s=0.5)
    _wait_ready(job)
    last = asyncio.run(fake.check(job))
    assert job.result is None
    assert job.job_id.startswith("fake-")
    assert first.status is JobStatus.RUNNING
    assert last.status is JobStatus.SUCCEEDED
    assert fake.checks == 2
    asyncio.run(fake.cancel(job))  # too late: a finished job stays finished
    assert fake.cancels == 1
    assert asyncio.run(fake.check(job)).status is JobStatus.SUCCEEDED


def test_cancel_stops_a_running_job_for_good() -> None:
    """SPEC 8: after cancel, check reports the job cancelled, also once its latency is over."""
    fake = FakeProvider()
    job, first = _async_job(fake, latency_s=1.0, cancel=True)
    assert first.status is JobStatus.RUNNING
    assert asyncio.run(fake.check(job)).status is JobStatus.CANCELLED
    _wait_ready(job)
    assert asyncio.run(fake.check(job)).status is JobStatus.CANCELLED
    assert (fake.submits, fake.checks, fake.cancels) == (1, 3, 1)
    again, _ = _async_job(fake, latency_s=1.0)  # a new attempt is a new job
    assert asyncio.run(fake.check(again)).status is not JobStatus.CANCELLED


def test_with_a_calls_file_any_instance_sees_the_cancel(tmp_path: Path) -> None:
    """SPEC 8: the calls file is the fake vendor's memory, cancels included."""
    options = {"calls_file": str(tmp_path / "calls.txt")}
    job, _ = _async_job(FakeProvider(ProviderConfig(options=options)), latency_s=30.0)
    handle = json.loads(json.dumps(dict(job.handle)))  # as read back from the log
    asyncio.run(FakeProvider(ProviderConfig(options=options)).cancel(job))
    later = FakeProvider(ProviderConfig(options=options))
    state = asyncio.run(later.check(Job(job_id=job.job_id, handle=handle)))
    assert state.status is JobStatus.CANCELLED
    assert len((tmp_path / "calls.txt").read_text().splitlines()) == 1  # submits only
    # A new process resubmits the same request: the same job id, but not the one cancelled.
    resubmitted, first = _async_job(FakeProvider(ProviderConfig(options=options)), 30.0)
    assert resubmitted.job_id == job.job_id
    assert first.status is JobStatus.RUNNING


def test_latency_and_garbage() -> None:
    """SPEC 8: fake_latency_s delays the job; fake_garbage returns bytes that are no file."""

    async def submit_time(latency_s: float) -> float:
        # On the clock asyncio sleeps by, whose timers may fire up to its resolution early.
        loop = asyncio.get_running_loop()
        started = loop.time()
        await FakeProvider().submit(
            KeyframeRequest(prompt="x", params={"fake_latency_s": latency_s}), "k"
        )
        return loop.time() - started

    resolution = time.get_clock_info("monotonic").resolution
    assert asyncio.run(submit_time(0.05)) >= 0.05 - resolution

    state = run(FakeProvider(), KeyframeRequest(prompt="x", params={"fake_garbage": True}))
    assert not state.outputs[0].data.startswith(b"\x89PNG")


def test_calls_file_counts_across_processes(tmp_path: Path) -> None:
    """SPEC 8: with the calls_file option every submit appends one line."""
    calls = tmp_path / "calls.txt"
    fake = FakeProvider(ProviderConfig(options={"calls_file": str(calls)}))
    run(fake, KeyframeRequest(prompt="x"))
    run(fake, KeyframeRequest(prompt="x"))
    assert len(calls.read_text().splitlines()) == 2
