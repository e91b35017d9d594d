"""Receipts and the other log records (SPEC 3)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from recoil.model.cost import Cost
from recoil.model.receipt import (
    Artifact,
    EvalRecord,
    Receipt,
    ReceiptError,
    ReceiptStatus,
    Sending,
    Submitted,
)
from recoil.records import codec
from tests.strategies import receipts

SPEC_FIELDS = {
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


def make(**changes: Any) -> Receipt:
    fields: dict[str, Any] = {
        "receipt_id": "r_1",
        "modality": "keyframe",
        "provider": "fake",
        "model": "m",
        "status": ReceiptStatus.SUCCEEDED,
        "request_sha256": "a" * 64,
        "prompt": "p",
        "prompt_sha256": "b" * 64,
        "seed": 1,
        "started_us": 10,
        "finished_us": 20,
        "artifacts": {
            "image": Artifact(
                name="image",
                path="/p/aa/aa.png",
                sha256="c" * 64,
                mime="image/png",
                bytes=3,
                facts={"width": 4, "height": 2},
            )
        },
        "cost": Cost(amount=0.1, currency="USD", source="reported"),
    }
    fields.update(changes)
    return Receipt(**fields)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(receipts())
def test_receipt_round_trip(receipt: Receipt) -> None:
    """SPEC 3: a receipt round-trips through the codec and through JSON text."""
    assert codec.decode_as(Receipt, codec.encode(receipt)) == receipt
    line = json.loads(json.dumps(codec.encode(receipt)))
    assert codec.decode_as(Receipt, line) == receipt
    assert codec.decode_record(line) == receipt


def test_receipt_line_has_the_spec_fields() -> None:
    """SPEC 3: a receipt line carries the kind tag, schema version and every listed field."""
    data = codec.encode(make())
    assert data["kind"] == "receipt"
    assert data["schema"] == 2
    assert set(data) >= SPEC_FIELDS
    assert data["artifacts"]["image"] == {
        "name": "image",
        "path": "/p/aa/aa.png",
        "sha256": "c" * 64,
        "mime": "image/png",
        "bytes": 3,
        "raw_sha256": "",
        "facts": {"width": 4, "height": 2},
    }
    assert data["cost"] == {"amount": 0.1, "currency": "USD", "source": "reported", "detail": ""}


def test_receipt_is_immutable() -> None:
    """SPEC 1: a receipt is an immutable record."""
    with pytest.raises(AttributeError):
        make().status = ReceiptStatus.FAILED  # type: ignore[misc]


def test_receipt_invariants() -> None:
    """SPEC 3: a receipt has an error exactly when it failed, and ends after it starts."""
    with pytest.raises(ValueError, match="error"):
        make(status=ReceiptStatus.FAILED)
    with pytest.raises(ValueError, match="error"):
        make(error=ReceiptError(type="x", message="y", retryable=False))
    with pytest.raises(ValueError, match="finished_us"):
        make(started_us=30, finished_us=20)
    with pytest.raises(ValueError, match="cost"):
        Cost(amount=-1)


def test_failed_receipt_error_is_structured() -> None:
    """SPEC 2.5: the error of a failed receipt has type, message, retryable and raw status."""
    error = ReceiptError(type="http", message="busy", retryable=True, provider_status="503")
    receipt = make(status=ReceiptStatus.FAILED, error=error, artifacts={})
    data = codec.encode(receipt)["error"]
    assert data["type"] == "http"
    assert data["message"] == "busy"
    assert data["retryable"] is True
    assert data["provider_status"] == "503"
    assert receipt.succeeded is False


def test_old_lines_read_with_defaults() -> None:
    """SPEC 3: fields are only added with defaults, so an older, smaller line still reads."""
    old = {
        "kind": "receipt",
        "receipt_id": "r_old",
        "modality": "keyframe",
        "provider": "fake",
        "status": "succeeded",
        "request_sha256": "a" * 64,
        "started_us": 1,
        "finished_us": 2,
    }
    receipt = codec.decode_as(Receipt, old)
    assert (receipt.cached, receipt.attempt, receipt.eval_scores, receipt.job_id) == (
        False,
        1,
        {},
        None,
    )
    assert receipt.cost == Cost()
    untagged = dict(old)
    del untagged["kind"]
    assert codec.decode_record(untagged) == receipt


def test_every_record_kind_is_tagged_and_round_trips() -> None:
    """SPEC 3: every record carries a kind tag and the schema version; readers decode by kind."""
    submitted = Submitted(
        receipt_id="r_1",
        modality="video",
        provider="fal",
        request_sha256="a" * 64,
        job_id="job-9",
        handle={"status_url": "http://x/9"},
        submitted_us=5,
        run_id="run",
    )
    sending = Sending(
        receipt_id="r_1",
        modality="video",
        provider="fal",
        request_sha256="a" * 64,
        sent_us=4,
        run_id="run",
    )
    scored = EvalRecord(receipt_id="r_1", scores={"sharpness": 0.5}, scorer="image", created_us=6)
    for record, kind in ((sending, "sending"), (submitted, "submitted"), (scored, "eval")):
        data = json.loads(json.dumps(codec.encode(record)))
        assert data["kind"] == kind
        assert data["schema"] == 2
        assert codec.decode_record(data) == record


def test_unknown_kind_is_skipped() -> None:
    """SPEC 3: a kind this version does not know decodes to None (newer writers add kinds)."""
    assert codec.decode_record({"kind": "storyboard", "schema_version": 9}) is None
