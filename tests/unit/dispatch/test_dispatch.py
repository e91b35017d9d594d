"""Dispatch (SPEC 2) and the receipts it writes (SPEC 3), end to end on the fake provider."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from recoil.dispatch import Dispatcher, dispatch, dispatch_async
from recoil.errors import (
    BudgetExceededError,
    ConfigError,
    DispatchError,
    PayloadError,
    ProviderError,
    RecoilError,
    UnknownModalityError,
    UnknownProviderError,
)
from recoil.model.context import DispatchContext
from recoil.model.cost import Cost
from recoil.model.provider_config import ProviderConfig
from recoil.model.receipt import Receipt, ReceiptStatus
from recoil.model.requests import Request
from recoil.providers.base import Job, JobState, JobStatus, Output
from recoil.providers.fake import MODALITIES, FakeProvider, _png
from recoil.providers.registry import Registry, register_default_runners
from recoil.records import codec
from recoil.records.log import read_records

SECRET = "sk-live-SUPERSECRET-123456"

RECEIPT_FIELDS = {
    "receipt_id",
    "schema",
    "modality",
    "provider",
    "model",
    "status",
    "request_sha256",
    "prompt",
    "prompt_sha256",
    "seed",
    "inputs",
    "artifacts",
    "started_us",
    "finished_us",
    "cost",
    "provenance",
    "cached",
    "error",
    "eval_scores",
}


class BillingFailure(FakeProvider):
    """A vendor that bills for a failed call and echoes the caller's key in its error."""

    name = "billing"

    async def submit(self, request: Request, key: str) -> Job:
        self.submits += 1
        key = os.environ.get("FAL_KEY", "none")
        raise ProviderError(
            f"401 unauthorized: key {key} rejected",
            retryable=False,
            provider_status="401",
            error_type="auth",
            cost=0.25,
        )


def lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a JSONL file, decoded."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def stored_files(root: Path) -> list[Path]:
    """Every file under ``root``."""
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def assert_nothing_written(ctx: DispatchContext) -> None:
    assert not ctx.receipts_file.exists() or ctx.receipts_file.read_bytes() == b""
    assert stored_files(ctx.artifacts_dir) == []


# -- SPEC 2.1 / 2.2: nothing is written for a bad request -------------------------------------


def test_unknown_modality_raises_and_writes_nothing(
    context: DispatchContext, registry: Registry, fake: FakeProvider
) -> None:
    """SPEC 2.1: an unknown modality raises UnknownModalityError listing the registered ones;
    no receipt is written."""
    with pytest.raises(UnknownModalityError) as info:
        dispatch("smell", {"prompt": "x"}, context=context, registry=registry)
    assert isinstance(info.value, KeyError)
    assert isinstance(info.value, RecoilError)
    for modality in ("audio", "keyframe", "upscale", "video"):
        assert modality in str(info.value)
    assert fake.submits == 0
    assert_nothing_written(context)


@pytest.mark.parametrize(
    ("modality", "payload", "field"),
    [
        ("keyframe", {"prompt": "x", "width": -5}, "width"),
        ("keyframe", {"prompt": "x", "seed": "abc"}, "seed"),
        ("video", {"prompt": "x", "camera_movement": "barrel_roll"}, "camera_movement"),
        ("audio", {"prompt": "   "}, "prompt"),
        ("upscale", {}, "image"),
        ("keyframe", {"prompt": "x", "fake_fail": "sometimes"}, "fake_fail"),
        ("keyframe", {"prompt": "x", "fake_bogus": 1}, "fake_bogus"),
        ("video", {"prompt": "x", "image": "/no/such/frame.png"}, "image"),
        ("keyframe", {"prompt": "x", "image": {"$step": "kf"}}, "image"),
    ],
)
def test_invalid_payload_names_field_and_writes_nothing(
    context: DispatchContext,
    registry: Registry,
    fake: FakeProvider,
    modality: str,
    payload: dict[str, Any],
    field: str,
) -> None:
    """SPEC 2.2: an invalid payload raises PayloadError naming the field before any provider
    call; no receipt and no artifact is written."""
    with pytest.raises(PayloadError) as info:
        dispatch(modality, payload, context=context, registry=registry)
    assert info.value.field == field
    assert repr(field) in str(info.value)
    assert info.value.reason
    assert fake.submits == 0
    assert_nothing_written(context)


def test_unknown_provider_writes_nothing(context: DispatchContext, registry: Registry) -> None:
    """SPEC 2.3: a provider name nobody registered fails before any call, writing nothing."""
    with pytest.raises(UnknownProviderError, match="did you mean 'fake'"):
        dispatch("keyframe", {"prompt": "x", "provider": "fak"}, context=context, registry=registry)
    assert_nothing_written(context)


# -- SPEC 2.3: provider choice ------------------------------------------------------------------


def test_provider_choice_payload_then_context_then_default(
    project_dir: Path, registry: Registry, fake: FakeProvider
) -> None:
    """SPEC 2.3: the payload's provider wins over the context's per-modality choice, which wins
    over the project default."""
    chosen = FakeProvider()
    per_modality = FakeProvider()
    registry.register_provider("chosen", lambda config: chosen, MODALITIES)
    registry.register_provider("per_modality", lambda config: per_modality, MODALITIES)
    ctx = DispatchContext(
        project=project_dir, providers={"keyframe": "per_modality"}, default_provider="fake"
    )
    a = dispatch("keyframe", {"prompt": "a", "provider": "chosen"}, context=ctx, registry=registry)
    b = dispatch("keyframe", {"prompt": "b"}, context=ctx, registry=registry)
    c = dispatch("audio", {"prompt": "c"}, context=ctx, registry=registry)
    assert (a.provider, b.provider, c.provider) == ("chosen", "per_modality", "fake")
    assert (chosen.submits, per_modality.submits, fake.submits) == (1, 1, 1)


# -- SPEC 2.4 / 3: success ----------------------------------------------------------------------


def test_success_appends_exactly_one_receipt_line(
    context: DispatchContext, registry: Registry, fake: FakeProvider
) -> None:
    """SPEC 2.4 / 3: a successful dispatch appends exactly one `receipt` line, tagged with kind
    and schema version, equal to the receipt returned."""
    receipt = dispatch(
        "keyframe", {"prompt": "a lighthouse", "fake_cost": 0.1}, context=context, registry=registry
    )
    assert receipt.status is ReceiptStatus.SUCCEEDED
    assert fake.submits == 1
    [line] = lines(context.receipts_file)
    assert line["kind"] == "receipt"
    assert line["schema"] == codec.kind_of("receipt").schema
    assert set(line) >= RECEIPT_FIELDS
    assert codec.decode_as(Receipt, line) == receipt
    sidecars = sorted(context.artifacts_dir.rglob("*.json"))
    assert len(sidecars) == len(receipt.artifacts) == 1
    sidecar = json.loads(sidecars[0].read_text())
    assert sidecar["prompt_sha256"] == hashlib.sha256(b"a lighthouse").hexdigest()
    assert receipt.cost.amount == pytest.approx(0.1)
    assert receipt.cached is False
    assert receipt.error is None


def test_receipt_is_fsynced_before_dispatch_returns(
    context: DispatchContext, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SPEC 2.6: the receipt is on disk (written and fsynced) before dispatch returns."""
    real_fsync = os.fsync
    synced: list[tuple[str, int]] = []

    def recording_fsync(fd: int) -> None:
        real_fsync(fd)
        synced.append((str(Path(f"/proc/self/fd/{fd}").readlink()), os.fstat(fd).st_size))

    monkeypatch.setattr(os, "fsync", recording_fsync)
    dispatch("keyframe", {"prompt": "a"}, context=context, registry=registry)
    log = context.receipts_file
    assert log.read_bytes().count(b"\n") == 1
    assert (str(log.resolve()), log.stat().st_size) in synced


def test_receipt_ids_sort_by_time_and_timestamps_are_microseconds(
    context: DispatchContext, registry: Registry
) -> None:
    """SPEC 3: receipt_id is a sortable unique id; started_us/finished_us are epoch microseconds."""
    before = int(time.time() * 1e6)
    receipts = [
        dispatch("keyframe", {"prompt": f"p{i}"}, context=context, registry=registry)
        for i in range(3)
    ]
    after = int(time.time() * 1e6)
    ids = [r.receipt_id for r in receipts]
    assert ids == sorted(ids)
    assert len(set(ids)) == 3
    for r in receipts:
        assert isinstance(r.started_us, int)
        assert before <= r.started_us <= r.finished_us <= after


def test_receipt_records_prompt_seed_and_provenance(project_dir: Path, registry: Registry) -> None:
    """SPEC 3: the receipt keeps the prompt, its sha256, the seed and the caller provenance."""
    ctx = DispatchContext(
        project=project_dir, default_provider="fake", provenance={"user": "ana"}, seed=11
    )
    receipt = dispatch("keyframe", {"prompt": "fog"}, context=ctx, registry=registry)
    assert receipt.prompt == "fog"
    assert receipt.seed == 11
    assert receipt.provenance == {"user": "ana"}
    pinned = dispatch("keyframe", {"prompt": "fog", "seed": 5}, context=ctx, registry=registry)
    assert pinned.seed == 5
    assert pinned.request_sha256 != receipt.request_sha256


def test_identical_request_is_served_from_cache(
    context: DispatchContext, registry: Registry, fake: FakeProvider
) -> None:
    """SPEC 3 / 7: an identical request gets a new receipt with cached=true and no provider call."""
    payload = {"prompt": "rain", "seed": 3, "fake_cost": 0.5}
    first = dispatch("keyframe", payload, context=context, registry=registry)
    second = dispatch("keyframe", payload, context=context, registry=registry)
    assert fake.submits == 1
    assert second.cached is True
    assert second.cost.amount == 0
    assert second.receipt_id != first.receipt_id
    assert second.artifacts == first.artifacts
    assert [line["cached"] for line in lines(context.receipts_file)] == [False, True]


# -- SPEC 2.5: failure --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fail", "retryable", "status"), [("permanent", False, "400"), ("transient", True, "503")]
)
def test_failure_appends_failed_receipt_and_raises(
    context: DispatchContext, registry: Registry, fail: str, retryable: bool, status: str
) -> None:
    """SPEC 2.5: a provider failure appends a `failed` receipt with a structured error (type,
    message, retryable, provider status) and raises DispatchError carrying it."""
    payload = {"prompt": "x", "fake_fail": fail, "fake_retry_after_s": 2}
    with pytest.raises(DispatchError) as info:
        dispatch("keyframe", payload, context=context, registry=registry)
    receipt = info.value.receipt
    assert receipt.status is ReceiptStatus.FAILED
    assert info.value.retryable is retryable
    assert receipt.error is not None
    assert receipt.error.type == "ProviderError"
    assert "fake" in receipt.error.message
    assert receipt.error.retryable is retryable
    assert receipt.error.provider_status == status
    assert receipt.artifacts == {}
    [line] = lines(context.receipts_file)
    assert line["kind"] == "receipt"
    assert line["status"] == "failed"
    assert set(line["error"]) >= {"type", "message", "retryable", "provider_status"}
    assert codec.decode_as(Receipt, line) == receipt
    assert stored_files(context.artifacts_dir) == []


def test_failed_call_still_records_its_cost(
    context: DispatchContext, registry: Registry, clean_env: None
) -> None:
    """SPEC 2.5: money spent on a failed call is still recorded."""
    billing = BillingFailure()
    registry.register_provider("billing", lambda config: billing, MODALITIES)
    with pytest.raises(DispatchError) as info:
        dispatch(
            "keyframe", {"prompt": "x", "provider": "billing"}, context=context, registry=registry
        )
    assert info.value.receipt.cost.amount == pytest.approx(0.25)
    assert info.value.receipt.error is not None
    assert info.value.receipt.error.type == "auth"
    assert lines(context.receipts_file)[0]["cost"]["amount"] == pytest.approx(0.25)


class BilledJobFailure(FakeProvider):
    """A submit-then-poll vendor whose job fails after it was billed, reporting the cost."""

    name = "billed_job"

    async def submit(self, request: Request, key: str) -> Job:
        self.submits += 1
        return Job(job_id="job-billed")

    async def check(self, job: Job) -> JobState:
        self.checks += 1
        return JobState(
            status=JobStatus.FAILED,
            cost=Cost(amount=0.4, source="reported"),
            error=ProviderError("content policy", retryable=False, provider_status="FAILED"),
            raw_status="FAILED",
        )


def test_failed_job_still_records_the_cost_it_reported(
    context: DispatchContext, registry: Registry
) -> None:
    """SPEC 2.5: money spent on a failed call is still recorded, also when the vendor reports
    it with the failed job's state."""
    billed = BilledJobFailure()
    registry.register_provider("billed_job", lambda config: billed, MODALITIES)
    payload = {"prompt": "x", "provider": "billed_job"}
    with pytest.raises(DispatchError) as info:
        dispatch("keyframe", payload, context=context, registry=registry)
    assert info.value.receipt.error is not None
    assert info.value.receipt.error.provider_status == "FAILED"
    assert info.value.receipt.cost.amount == pytest.approx(0.4)


def test_broken_output_fails_without_storing(context: DispatchContext, registry: Registry) -> None:
    """SPEC 2.5 / 4: a success with bytes that are not a valid file is a permanent failure."""
    with pytest.raises(DispatchError) as info:
        dispatch(
            "keyframe", {"prompt": "x", "fake_garbage": True}, context=context, registry=registry
        )
    assert info.value.retryable is False
    assert stored_files(context.artifacts_dir) == []
    assert lines(context.receipts_file)[0]["status"] == "failed"


def test_timeout_fails_retryably_and_cancels(
    project_dir: Path, registry: Registry, fake: FakeProvider
) -> None:
    """SPEC 2 DispatchContext: the context's timeout bounds a dispatch; the job is cancelled."""
    ctx = DispatchContext(project=project_dir, default_provider="fake", timeout_s=0.05)
    payload = {"prompt": "x", "fake_async": True, "fake_latency_s": 5}
    with pytest.raises(DispatchError) as info:
        dispatch("keyframe", payload, context=ctx, registry=registry)
    assert info.value.retryable
    assert info.value.receipt.error is not None
    assert info.value.receipt.error.type == "timeout"
    assert fake.cancels == 1
    kinds = [line["kind"] for line in lines(ctx.receipts_file)]
    assert kinds == ["submitted", "receipt"]


def test_budget_stops_a_dispatch_before_any_call(
    project_dir: Path, registry: Registry, fake: FakeProvider
) -> None:
    """SPEC 2 DispatchContext: with a budget, a dispatch whose estimate exceeds it never starts."""
    ctx = DispatchContext(project=project_dir, default_provider="fake", budget=0.05)
    with pytest.raises(BudgetExceededError, match="budget"):
        dispatch("keyframe", {"prompt": "x", "fake_cost": 0.1}, context=ctx, registry=registry)
    assert fake.submits == 0
    assert_nothing_written(ctx)


# -- SPEC 3: submitted records ------------------------------------------------------------------


def test_submitted_record_is_written_before_completion(
    context: DispatchContext, registry: Registry, fake: FakeProvider
) -> None:
    """SPEC 3: for a submit-then-poll provider a `submitted` record with the job id is appended
    as soon as the job is accepted, before waiting."""
    payload = {"prompt": "x", "fake_async": True, "fake_latency_s": 0.3}

    async def scenario() -> tuple[list[dict[str, Any]], bool, Receipt]:
        task = asyncio.create_task(
            dispatch_async("keyframe", payload, context=context, registry=registry)
        )
        deadline = time.monotonic() + 5
        seen: list[dict[str, Any]] = []
        while not seen and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
            seen = lines(context.receipts_file)
        done_then = task.done()
        return seen, done_then, await task

    seen, done_then, receipt = asyncio.run(scenario())
    assert [line["kind"] for line in seen] == ["submitted"]
    assert done_then is False
    submitted = seen[0]
    assert submitted["job_id"] == receipt.job_id
    assert submitted["receipt_id"] == receipt.receipt_id
    assert submitted["schema"] == codec.kind_of("submitted").schema
    assert fake.checks >= 1
    assert [line["kind"] for line in lines(context.receipts_file)] == ["submitted", "receipt"]


def test_dispatch_async_inside_a_running_loop(context: DispatchContext, registry: Registry) -> None:
    """SPEC 2: dispatch_async is the async twin of dispatch."""

    async def many() -> list[Receipt]:
        return list(
            await asyncio.gather(
                *(
                    dispatch_async(
                        "keyframe", {"prompt": f"p{i}"}, context=context, registry=registry
                    )
                    for i in range(3)
                )
            )
        )

    receipts = asyncio.run(many())
    assert all(r.succeeded for r in receipts)
    assert len(lines(context.receipts_file)) == 3


# -- SPEC 3: torn tails -------------------------------------------------------------------------


def test_torn_tail_is_set_aside_and_dispatch_appends_after_it(
    context: DispatchContext, registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    """SPEC 3: a log whose last line was cut mid-write opens cleanly: every complete record is
    read, the torn tail is set aside (not silently dropped), new records append after it."""
    first = dispatch("keyframe", {"prompt": "one"}, context=context, registry=registry)
    log = context.receipts_file
    complete = log.read_bytes()
    torn = json.dumps(codec.encode(first)).encode()[:57]
    with log.open("ab") as f:
        f.write(torn)
    with caplog.at_level(logging.WARNING):
        second = dispatch("keyframe", {"prompt": "two"}, context=context, registry=registry)
    aside = log.with_name("receipts.jsonl.torn-1")
    assert aside.read_bytes() == torn
    assert log.read_bytes().startswith(complete)
    assert [r.receipt_id for r in read_records(log)] == [first.receipt_id, second.receipt_id]
    assert all(line["kind"] == "receipt" for line in lines(log))
    assert any("torn" in r.getMessage() for r in caplog.records)


def test_torn_only_line_is_set_aside(context: DispatchContext, registry: Registry) -> None:
    """SPEC 3: a crash during the very first write leaves a log the next dispatch can use."""
    log = context.receipts_file
    log.write_bytes(b'{"kind":"receipt","rec')
    receipt = dispatch("keyframe", {"prompt": "x"}, context=context, registry=registry)
    assert log.with_name("receipts.jsonl.torn-1").read_bytes() == b'{"kind":"receipt","rec'
    assert [r.receipt_id for r in read_records(log)] == [receipt.receipt_id]


def test_dispatcher_refuses_a_context_for_another_log(
    context: DispatchContext, registry: Registry, tmp_path: Path
) -> None:
    """SPEC 2: one dispatcher writes one receipt log; a context for another is refused."""
    other = DispatchContext(project=tmp_path / "elsewhere", default_provider="fake")

    async def scenario() -> None:
        async with Dispatcher(context, registry=registry) as dispatcher:
            await dispatcher.dispatch("keyframe", {"prompt": "x"}, other)

    with pytest.raises(RecoilError, match="dispatcher writes"):
        asyncio.run(scenario())


# -- SPEC 3: secrets ----------------------------------------------------------------------------


def test_secrets_appear_nowhere(
    project_dir: Path,
    registry: Registry,
    clean_env: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SPEC 3: secrets never appear in receipts, sidecars, logs or error messages."""
    monkeypatch.setenv("FAL_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    billing = BillingFailure()
    registry.register_provider("billing", lambda config: billing, MODALITIES)
    ctx = DispatchContext(
        project=project_dir,
        default_provider="fake",
        provenance={"fal_api_token": SECRET, "user": "ana", "note": f"uses {SECRET}"},
    )
    secret_params = {"api_key": SECRET, "auth_header": f"Bearer {SECRET}", "comment": SECRET}
    messages: list[str] = []

    # A key pasted into the prompt by mistake: the prompt is recorded (and embedded) redacted.
    pasted = {"prompt": f"a fox {SECRET}", **secret_params}
    ok = dispatch("keyframe", pasted, context=ctx, registry=registry)
    dispatch(
        "video",
        {"prompt": "a fox runs", "fake_async": True, "duration_s": 0.25, **secret_params},
        context=ctx,
        registry=registry,
    )
    failing: list[tuple[str, dict[str, Any]]] = [
        ("keyframe", {"prompt": "x", "fake_fail": "permanent", **secret_params}),
        ("audio", {"prompt": "x", "fake_fail": "transient", **secret_params}),
        ("keyframe", {"prompt": "x", "provider": "billing", **secret_params}),
    ]
    for modality, payload in failing:
        with pytest.raises(DispatchError) as info:
            dispatch(modality, payload, context=ctx, registry=registry)
        messages += [
            str(info.value),
            repr(info.value),
            json.dumps(codec.encode(info.value.receipt)),
        ]
    for payload in ({"prompt": "x", "width": SECRET}, {"prompt": "x", "seed": SECRET}):
        with pytest.raises(PayloadError) as bad:
            dispatch("keyframe", payload, context=ctx, registry=registry)
        messages += [str(bad.value), repr(bad.value)]

    assert ok.request["params"]["api_key"] == "[redacted]"
    assert ok.prompt == "a fox [redacted]"
    assert ok.provenance["fal_api_token"] == "[redacted]"
    assert ok.provenance["user"] == "ana"
    files = [p for p in project_dir.rglob("*") if p.is_file()]
    assert len(files) >= 5  # the log and two artifacts with their sidecars
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path
    for record in caplog.records:
        messages.append(record.getMessage())
        messages.append(record.exc_text or "")
    assert messages
    for message in messages:
        assert SECRET not in message


class FlakyStatus(FakeProvider):
    """A vendor whose status endpoint answers 503 twice while the job runs on."""

    def __init__(self) -> None:
        super().__init__()
        self.status_errors = 2

    async def check(self, job: Job) -> JobState:
        if self.status_errors:
            self.status_errors -= 1
            raise ProviderError("status 503", retryable=True, provider_status="503")
        return await super().check(job)


def test_retryable_status_errors_keep_polling_the_same_job(
    context: DispatchContext, registry: Registry
) -> None:
    """SPEC 7: a hiccup while polling never re-sends the job; the dispatch polls on."""
    flaky = FlakyStatus()
    registry.register_provider("flaky", lambda _cfg: flaky, ["keyframe"])
    receipt = dispatch(
        "keyframe",
        {"prompt": "x", "provider": "flaky", "fake_async": True},
        context=context,
        registry=registry,
    )
    assert receipt.status is ReceiptStatus.SUCCEEDED
    assert flaky.submits == 1
    assert flaky.status_errors == 0
    kinds = [line["kind"] for line in lines(context.receipts_file)]
    assert kinds == ["submitted", "receipt"]


class BrokenAdapter(FakeProvider):
    """An adapter with a bug: it raises something that is not a ProviderError."""

    async def submit(self, request: Request, key: str) -> Job:
        raise TypeError("unsupported operand")


def test_adapter_bug_still_writes_a_failed_receipt(
    context: DispatchContext, registry: Registry
) -> None:
    """SPEC 1/2: every dispatch produces exactly one receipt, an adapter bug included."""
    registry.register_provider("broken", lambda _cfg: BrokenAdapter(), ["keyframe"])
    with pytest.raises(DispatchError) as caught:
        dispatch(
            "keyframe", {"prompt": "x", "provider": "broken"}, context=context, registry=registry
        )
    error = caught.value.receipt.error
    assert error is not None
    assert error.type == "adapter_error"
    assert not error.retryable
    assert "TypeError: unsupported operand" in error.message
    assert [line["status"] for line in lines(context.receipts_file)] == ["failed"]


class WrongKind(FakeProvider):
    """A vendor whose video model answers with a still image."""

    async def submit(self, request: Request, key: str) -> Job:
        job = await super().submit(request, key)
        assert job.result is not None
        still = Output(name="image", data=_png(16, 16, (1, 2, 3)), mime="image/png")
        return dataclasses.replace(job, result=dataclasses.replace(job.result, outputs=(still,)))


def test_output_of_the_wrong_kind_fails_the_dispatch(
    context: DispatchContext, registry: Registry
) -> None:
    """SPEC 7: invalid output (a video request answered with an image) fails at once."""
    registry.register_provider("wrong", lambda _cfg: WrongKind(), ["video"])
    with pytest.raises(DispatchError) as caught:
        dispatch("video", {"prompt": "x", "provider": "wrong"}, context=context, registry=registry)
    error = caught.value.receipt.error
    assert error is not None and error.type == "invalid_output" and not error.retryable
    assert "needs video output" in error.message
    assert not list((context.artifacts_dir).rglob("*.png"))


def test_send_then_reports_the_receipt_once_it_is_on_disk(
    context: DispatchContext, registry: Registry
) -> None:
    """The scheduler's path: the receipt comes back queued; the callback says when it is
    durable, and closing the dispatcher waits for it."""
    seen: list[tuple[Receipt, object]] = []

    async def scenario() -> Receipt:
        dispatcher = Dispatcher(context, registry=registry)
        prepared = dispatcher.prepare("keyframe", {"prompt": "a pier"}, context)
        receipt = await dispatcher.send_then(
            prepared,
            context,
            attempt=1,
            on_call_done=None,
            on_durable=lambda r, error: seen.append((r, error)),
        )
        assert receipt.receipt_id not in dispatcher.index.receipts  # not on disk yet
        await dispatcher.aclose()
        assert receipt.receipt_id in dispatcher.index.receipts
        return receipt

    receipt = asyncio.run(scenario())
    assert seen == [(receipt, None)]
    [line] = lines(context.receipts_file)
    assert codec.decode_as(Receipt, line) == receipt


# -- SPEC 7: a submit cut off by a crash -------------------------------------------------------

CRASHING_RUN = """
import os, sys
from pathlib import Path
from recoil.model.context import DispatchContext
from recoil.dispatch import dispatch
from recoil.model.provider_config import ProviderConfig
from recoil.providers.fake import MODALITIES, FakeProvider
from recoil.providers.registry import Registry, register_default_runners

project, calls, when = Path(sys.argv[1]), sys.argv[2], sys.argv[3]


class DiesInSubmit(FakeProvider):
    async def submit(self, request, key):
        if when == "after":
            await super().submit(request, key)  # the vendor has the job (and bills it)
        os._exit(137)  # killed before any answer was recorded


registry = register_default_runners(Registry(load_entry_points=False))
registry.register_provider("fake", DiesInSubmit, MODALITIES, replace=True)
config = ProviderConfig(options={"calls_file": calls, "async": True, "latency_s": 0.05})
context = DispatchContext(
    project=project, default_provider="fake", provider_config={"fake": config}, seed=3
)
dispatch("keyframe", {"prompt": "a lighthouse"}, context=context, registry=registry)
"""


def _crash_in_submit(tmp_path: Path, when: str) -> tuple[DispatchContext, Path]:
    """Run a dispatch in a process that dies inside a remote submit; return its context."""
    project, calls = tmp_path / "film", tmp_path / "calls.jsonl"
    script = tmp_path / "crashing_run.py"
    script.write_text(CRASHING_RUN)
    died = subprocess.run(
        [sys.executable, str(script), str(project), str(calls), when],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert died.returncode == 137, died.stderr
    assert [line["kind"] for line in lines(project / "receipts.jsonl")] == ["sending"]
    config = ProviderConfig(options={"calls_file": str(calls), "async": True, "latency_s": 0.05})
    context = DispatchContext(
        project=project, default_provider="fake", provider_config={"fake": config}, seed=3
    )
    return context, calls


def _accepted(calls: Path) -> list[str]:
    return [c["job_id"] for c in lines(calls) if c["accepted"]]


def _rerun(context: DispatchContext, vendor: type[FakeProvider]) -> Receipt:
    """The crashed dispatch, run again with ``vendor`` serving ``fake``."""
    registry = register_default_runners(Registry(load_entry_points=False))
    registry.register_provider("fake", vendor, MODALITIES, replace=True)
    return dispatch("keyframe", {"prompt": "a lighthouse"}, context=context, registry=registry)


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_submit_cut_off_by_a_crash_is_looked_up_not_paid_twice(tmp_path: Path, when: str) -> None:
    """SPEC 7: a `sending` record is durable before a remote submit; the next run looks the
    job up: it polls the job the vendor accepted, and sends only one that never arrived."""
    context, calls = _crash_in_submit(tmp_path, when)
    sending = lines(context.receipts_file)[0]
    receipt = _rerun(context, FakeProvider)
    assert receipt.status is ReceiptStatus.SUCCEEDED
    assert receipt.receipt_id == sending["receipt_id"]  # the same dispatch, finished
    assert _accepted(calls) == [receipt.job_id]  # one job at the vendor, paid once
    records = lines(context.receipts_file)
    assert {r["receipt_id"] for r in records} == {receipt.receipt_id}
    if when == "after":
        assert [r["kind"] for r in records] == ["sending", "submitted", "receipt"]
    else:
        assert [r["kind"] for r in records] == ["sending", "sending", "submitted", "receipt"]


class CannotTell(FakeProvider):
    """A vendor with no way to look a job up (like fal)."""

    async def find(self, request: Request, key: str, sent_us: int) -> Job | None:
        raise ProviderError(
            "no lookup here", retryable=False, unknown_outcome=True, error_type="unknown_outcome"
        )


class LookupDown(FakeProvider):
    """A vendor whose job list does not answer for now."""

    async def find(self, request: Request, key: str, sent_us: int) -> Job | None:
        raise ProviderError("503 from the list", retryable=True, provider_status="503")


def test_a_crashed_submit_nobody_can_look_up_fails_and_is_not_resent(tmp_path: Path) -> None:
    """SPEC 7: with no idempotency key or lookup, the step fails with a clear error; running
    again after that is the user's decision to send it anew."""
    context, calls = _crash_in_submit(tmp_path, "after")
    sending = lines(context.receipts_file)[0]
    with pytest.raises(DispatchError) as info:
        _rerun(context, CannotTell)
    failed = info.value.receipt
    assert failed.error is not None and failed.error.unknown_outcome
    assert not failed.error.retryable
    assert failed.receipt_id == sending["receipt_id"]
    assert len(_accepted(calls)) == 1  # not sent again
    again = _rerun(context, CannotTell)
    assert again.status is ReceiptStatus.SUCCEEDED
    assert len(_accepted(calls)) == 2


def test_a_failed_lookup_keeps_the_crashed_submit_unsure(tmp_path: Path) -> None:
    """SPEC 7: a lookup that could not be made is retried later; nothing is sent meanwhile."""
    context, calls = _crash_in_submit(tmp_path, "after")
    sending = lines(context.receipts_file)[0]
    with pytest.raises(DispatchError) as info:
        _rerun(context, LookupDown)
    assert info.value.receipt.error is not None and info.value.receipt.error.retryable
    assert info.value.receipt.receipt_id != sending["receipt_id"]
    receipt = _rerun(context, FakeProvider)
    assert receipt.receipt_id == sending["receipt_id"]
    assert _accepted(calls) == [receipt.job_id]


def test_a_local_provider_writes_no_sending_record(
    context: DispatchContext, registry: Registry
) -> None:
    """Work in this process dies with it: only remote providers pay the extra record."""
    dispatch("keyframe", {"prompt": "x", "fake_async": True}, context=context, registry=registry)
    assert [line["kind"] for line in lines(context.receipts_file)] == ["submitted", "receipt"]


class OldStyle:
    """A plugin written against an older protocol: no ``remote``, no ``find``."""

    name = "oldstyle"
    version = "1"
    poll_interval_s = 0.0

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config

    def model_for(self, request: Request) -> str:
        return "m"

    def validate(self, request: Request) -> None:
        pass

    def estimate_cost(self, request: Request) -> Cost:
        return Cost()

    async def preflight(self) -> list[str]:
        return []

    async def submit(self, request: Request) -> Job:
        raise AssertionError("never called")

    async def check(self, job: Job) -> JobState:
        raise AssertionError("never called")

    async def cancel(self, job: Job) -> None:
        pass

    async def aclose(self) -> None:
        pass


def test_a_provider_missing_part_of_the_protocol_is_a_config_error(
    context: DispatchContext, registry: Registry
) -> None:
    """Bad input gets one clear line naming the problem, and nothing is written."""
    registry.register_provider("oldstyle", OldStyle, ["keyframe"])
    with pytest.raises(ConfigError, match=r"'oldstyle' .*OldStyle\) .* lacks remote, find"):
        dispatch(
            "keyframe", {"prompt": "x", "provider": "oldstyle"}, context=context, registry=registry
        )
    assert_nothing_written(context)
