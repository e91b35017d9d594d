"""The receipt index: idempotent indexing, log order, spend, eval scores, cache lookups."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from recoil.errors import StoreError
from recoil.model.receipt import EvalRecord, Receipt, Submitted
from recoil.store import ProjectStore

OpenStore = Callable[..., ProjectStore]
MakeReceipt = Callable[..., Receipt]


def test_indexing_is_idempotent_and_keeps_log_order(
    open_store: OpenStore, make_receipt: MakeReceipt
) -> None:
    store = open_store()
    made = [make_receipt(run_id="run-a" if n % 2 else "run-b") for n in range(5)]
    for receipt in made:
        store.index_receipt(receipt)
    store.index_receipt(made[2])
    assert store.index_records(made) == 0
    assert store.receipts() == made
    assert store.receipts(run_id="run-a") == made[1::2]
    assert store.receipts(run_id="run-c") == []


def test_spend_groups_by_provider_modality_scene_and_run(
    open_store: OpenStore, make_receipt: MakeReceipt
) -> None:
    store = open_store()
    store.index_records(
        [
            make_receipt(provider="fal", cost=0.5, provenance={"scene_id": "sc1"}, run_id="r1"),
            make_receipt(provider="fal", cost=0.25, provenance={"scene_id": "sc1"}, run_id="r1"),
            make_receipt(provider="previz", modality="video", run_id="r2"),
            make_receipt(provider="replicate", cost=2.0, currency="EUR", status="failed"),
            make_receipt(provider="fal", cost=1.0, currency="EUR", cached=False),
        ]
    )
    assert store.spend("provider") == [
        ("fal", 1, 1.0, "EUR"),
        ("fal", 2, 0.75, "USD"),
        ("previz", 1, 0.0, "USD"),
        ("replicate", 1, 2.0, "EUR"),
    ]
    assert store.spend("modality") == [
        ("keyframe", 2, 3.0, "EUR"),
        ("keyframe", 2, 0.75, "USD"),
        ("video", 1, 0.0, "USD"),
    ]
    assert store.spend("scene") == [
        ("-", 2, 3.0, "EUR"),
        ("-", 1, 0.0, "USD"),
        ("sc1", 2, 0.75, "USD"),
    ]
    assert store.spend("run") == [
        ("-", 2, 3.0, "EUR"),
        ("r1", 2, 0.75, "USD"),
        ("r2", 1, 0.0, "USD"),
    ]
    with pytest.raises(StoreError, match="provider, modality, scene, run"):
        store.spend("color")  # type: ignore[arg-type]


def test_eval_scores_merge_later_records_over_the_receipts_own(
    open_store: OpenStore, make_receipt: MakeReceipt
) -> None:
    store = open_store()
    scored = make_receipt(eval_scores={"sharpness": 0.5, "exposure": 0.9})
    plain = make_receipt()
    unscored = make_receipt()
    later = [
        EvalRecord(receipt_id=scored.receipt_id, scores={"sharpness": 0.7}, created_us=1),
        EvalRecord(receipt_id=plain.receipt_id, scores={"flicker": 0.1}, created_us=2),
        EvalRecord(receipt_id=plain.receipt_id, scores={"flicker": 0.2}, created_us=3),
    ]
    assert store.index_records([scored, plain, unscored, *later]) == 6
    assert store.index_records(later) == 0  # the same eval record twice counts once
    assert store.eval_scores() == {
        scored.receipt_id: {"sharpness": 0.7, "exposure": 0.9},
        plain.receipt_id: {"flicker": 0.2},
    }


def test_receipts_and_jobs_are_indexed_once(
    open_store: OpenStore, make_receipt: MakeReceipt
) -> None:
    store = open_store()
    first = make_receipt(request_sha256="k" * 64)
    failed = make_receipt(request_sha256="k" * 64, status="failed")
    latest = make_receipt(request_sha256="k" * 64)
    assert store.index_records([first, failed, latest]) == 3
    assert store.receipts() == [first, failed, latest]

    def submitted(receipt_id: str) -> Submitted:
        return Submitted(
            receipt_id=receipt_id,
            modality="video",
            provider="fal",
            request_sha256="j" * 64,
            job_id=f"job-{receipt_id}",
            handle={"url": "https://example.invalid/jobs/1"},
        )

    done = make_receipt()
    assert store.index_records([submitted("rcpt_open"), submitted(done.receipt_id), done]) == 3
    assert store.index_records([submitted("rcpt_open"), done]) == 0  # already known
