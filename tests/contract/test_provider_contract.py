"""One contract every provider adapter keeps, run against each adapter and the fake.

Each harness starts the adapter's loopback server and knows how to make the
server (or the fake's knobs) produce a success, a permanent failure, a
transient failure and a job slow enough to cancel.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from recoil.errors import ProviderError
from recoil.media.probe import probe
from recoil.model.provider_config import ProviderConfig
from recoil.model.requests import KeyframeRequest, Request
from recoil.providers.base import Job, JobState, JobStatus, Provider
from recoil.providers.comfyui.provider import ComfyUIProvider
from recoil.providers.fake import FakeProvider
from recoil.providers.fal import FalProvider
from recoil.providers.replicate import ReplicateProvider
from tests.helpers import WAIT_S, submit_and_close, until_done
from tests.providers.servers import comfyui, fal, replicate

SECRET = "sk-test-SECRET123"


@dataclass
class Harness:
    """How to drive one adapter through the contract."""

    make: Callable[[], Provider]
    ok: Request
    permanent: Callable[[], Request]
    transient: Callable[[], Request]
    slow: Callable[[], Request]
    submits: Callable[[], int]
    retry_after_s: float | None = 2.0


def _fake(tmp_path: Path) -> Iterator[Harness]:
    calls = tmp_path / "calls.txt"
    options = {"calls_file": str(calls)}

    def knobs(**params: object) -> Request:
        return KeyframeRequest(prompt="a lighthouse", seed=3, params=dict(params))

    yield Harness(
        make=lambda: FakeProvider(ProviderConfig(options=options)),
        ok=knobs(fake_async=True, fake_latency_s=0.02),
        permanent=lambda: knobs(fake_fail="permanent"),
        transient=lambda: knobs(fake_fail="transient", fake_retry_after_s=2.0),
        slow=lambda: knobs(fake_async=True, fake_latency_s=30.0),
        submits=lambda: len(calls.read_text().splitlines()) if calls.exists() else 0,
    )


def _comfyui(tmp_path: Path) -> Iterator[Harness]:
    url, control = comfyui.start()
    ok = KeyframeRequest(prompt="a lighthouse", seed=3, width=64, height=48)

    def transient() -> Request:
        control.script("POST", "/prompt", status=503, body={"error": "busy"})
        return ok

    def slow() -> Request:
        control.hold = True
        return ok

    yield Harness(
        make=lambda: ComfyUIProvider(ProviderConfig(options={"servers": [url]})),
        ok=ok,
        permanent=lambda: KeyframeRequest(prompt="x", params={"checkpoint": "missing.ckpt"}),
        transient=transient,
        slow=slow,
        submits=lambda: control.submits,
        retry_after_s=None,
    )
    control.stop()


def _fal(tmp_path: Path) -> Iterator[Harness]:
    url, control = fal.start(key=SECRET)
    options = {
        "base_url": url,
        "schema_url": url + fal.SCHEMA_PATH,
        "storage_url": url,
        "models": {"keyframe": "fal-ai/flux/dev"},
    }
    ok = KeyframeRequest(prompt="a lighthouse", seed=3, width=64, height=48)

    def permanent() -> Request:
        control.fail_next = "validation"
        return ok

    def transient() -> Request:
        control.script("POST", "/fal-ai", status=429, headers={"Retry-After": "2"})
        return ok

    def slow() -> Request:
        control.queue_s = 30.0
        return ok

    yield Harness(
        make=lambda: FalProvider(ProviderConfig(options=options, secrets={"FAL_KEY": SECRET})),
        ok=ok,
        permanent=permanent,
        transient=transient,
        slow=slow,
        submits=lambda: control.submits,
    )
    control.stop()


def _replicate(tmp_path: Path) -> Iterator[Harness]:
    url, control = replicate.start(token=SECRET)
    options = {"base_url": f"{url}/v1", "models": {"keyframe": "acme/painter"}}
    ok = KeyframeRequest(prompt="a lighthouse", seed=3, width=64, height=48)

    def transient() -> Request:
        control.script(
            "POST", "/v1/", status=429, headers={"Retry-After": "2"}, body={"detail": "throttled"}
        )
        return ok

    def slow() -> Request:
        control.queue_s = 30.0
        return ok

    yield Harness(
        make=lambda: ReplicateProvider(
            ProviderConfig(options=options, secrets={"REPLICATE_API_TOKEN": SECRET})
        ),
        ok=ok,
        permanent=lambda: KeyframeRequest(prompt="x", params={"prompt": None}),
        transient=transient,
        slow=slow,
        submits=lambda: control.submits,
    )
    control.stop()


HARNESSES = {"fake": _fake, "comfyui": _comfyui, "fal": _fal, "replicate": _replicate}


@pytest.fixture(params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    yield from HARNESSES[request.param](tmp_path)


async def _outcome(provider: Provider, request: Request) -> ProviderError:
    """The error a request ends in, raised or reported."""
    try:
        job = await provider.submit(request, uuid.uuid4().hex)
        state = await until_done(provider, job)
    except ProviderError as exc:
        return exc
    assert state.status is JobStatus.FAILED, state
    assert state.error is not None
    return state.error


def test_submit_then_check_returns_valid_outputs(harness: Harness) -> None:
    async def scenario() -> tuple[Job, JobState]:
        provider = harness.make()
        try:
            provider.validate(harness.ok)
            job = await provider.submit(harness.ok, uuid.uuid4().hex)
            return job, await until_done(provider, job)
        finally:
            await provider.aclose()

    job, state = asyncio.run(scenario())
    assert state.status is JobStatus.SUCCEEDED
    assert state.outputs
    for output in state.outputs:
        facts = probe(output.data, output.mime)
        assert facts
    assert state.outputs[0].name == "image"
    json.dumps(dict(job.handle))  # the handle goes into a JSONL record
    assert harness.submits() == 1


def test_permanent_error_is_not_retryable(harness: Harness) -> None:
    async def scenario() -> ProviderError:
        provider = harness.make()
        try:
            return await _outcome(provider, harness.permanent())
        finally:
            await provider.aclose()

    error = asyncio.run(scenario())
    assert error.retryable is False
    assert not error.unknown_outcome
    assert SECRET not in str(error)


def test_transient_error_is_retryable_with_retry_after(harness: Harness) -> None:
    async def scenario() -> ProviderError:
        provider = harness.make()
        try:
            return await _outcome(provider, harness.transient())
        finally:
            await provider.aclose()

    error = asyncio.run(scenario())
    assert error.retryable is True
    assert SECRET not in str(error)
    assert error.retry_after_s == harness.retry_after_s


class _IgnoresCancel:
    """An adapter whose cancel does nothing: the cancel test must catch it."""

    def __init__(self, provider: Provider) -> None:
        self._provider = provider

    def __getattr__(self, name: str) -> Any:
        return getattr(self._provider, name)

    async def cancel(self, job: Job) -> None:
        """Ask nobody to stop anything."""


async def _cancel_then_check(provider: Provider, request: Request, timeout_s: float) -> JobState:
    """Submit a job that runs far longer than ``timeout_s``, cancel it, then ask ``check``.

    Returns the first done state ``check`` reports, or the last one when the job is
    still not done after ``timeout_s``.
    """
    job = await provider.submit(request, uuid.uuid4().hex)
    assert not (await provider.check(job)).status.done
    await provider.cancel(job)
    try:
        return await until_done(provider, job, timeout_s)
    except TimeoutError:
        return await provider.check(job)


def test_cancel_stops_a_pending_job(harness: Harness) -> None:
    """After ``cancel``, the provider's own ``check`` reports the job cancelled (or failed)."""

    async def scenario() -> JobState:
        provider = harness.make()
        try:
            return await _cancel_then_check(provider, harness.slow(), timeout_s=WAIT_S)
        finally:
            await provider.aclose()

    state = asyncio.run(scenario())
    assert state.status in (JobStatus.CANCELLED, JobStatus.FAILED), state


def test_the_cancel_test_catches_a_cancel_that_does_nothing(harness: Harness) -> None:
    """The same check on an adapter whose cancel is a no-op: the job is still going.

    The slow job takes 30 s (ComfyUI holds it until released), so a second is no race.
    """

    async def scenario() -> JobState:
        provider = harness.make()
        try:
            return await _cancel_then_check(
                cast(Provider, _IgnoresCancel(provider)), harness.slow(), timeout_s=1.0
            )
        finally:
            await provider.aclose()

    state = asyncio.run(scenario())
    assert state.status in (JobStatus.QUEUED, JobStatus.RUNNING), state


def test_a_new_instance_checks_a_job_another_submitted(harness: Harness) -> None:
    job = asyncio.run(submit_and_close(harness.make(), harness.ok))  # the process "dies"
    handle = json.loads(json.dumps(dict(job.handle)))  # as read back from the log
    assert SECRET not in json.dumps(handle)

    async def resume() -> JobState:
        provider = harness.make()
        try:
            return await until_done(provider, Job(job_id=job.job_id, handle=handle))
        finally:
            await provider.aclose()

    state = asyncio.run(resume())
    assert state.status is JobStatus.SUCCEEDED
    assert state.outputs
    assert harness.submits() == 1
