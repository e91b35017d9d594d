"""The cache key and the log index (SPEC 3 eval merging, SPEC 7 cache key)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recoil.dispatch import dispatch
from recoil.model.context import DispatchContext
from recoil.model.receipt import (
    EvalRecord,
    Receipt,
    ReceiptError,
    ReceiptStatus,
    Sending,
    Submitted,
)
from recoil.providers.registry import Registry
from recoil.records import codec
from recoil.records.cache import LogIndex, request_sha256
from recoil.records.log import ReceiptLog, read_records

BASE: dict[str, Any] = {
    "modality": "keyframe",
    "provider": "fake",
    "model": "m1",
    "request": {"prompt": "p", "seed": 1, "provider": None, "image": "/a/b.png", "refs": ["/r"]},
    "inputs": {"image": "1" * 64, "refs[0]": "2" * 64},
    "seed": 1,
    "provider_version": "v1",
}


def key(**changes: Any) -> str:
    return request_sha256(**{**BASE, **changes})


def receipt(
    rid: str, sha: str, *, ok: bool = True, scores: dict[str, float] | None = None
) -> Receipt:
    return Receipt(
        receipt_id=rid,
        modality="keyframe",
        provider="fake",
        model="m",
        status=ReceiptStatus.SUCCEEDED if ok else ReceiptStatus.FAILED,
        request_sha256=sha,
        prompt="p",
        prompt_sha256="0" * 64,
        seed=1,
        started_us=1,
        finished_us=2,
        error=None if ok else ReceiptError(type="x", message="y", retryable=True),
        eval_scores=scores or {},
    )


def test_key_is_stable_and_order_free() -> None:
    """SPEC 7: the cache key is the sha256 of canonical JSON: same request, same key."""
    assert key() == key()
    assert len(key()) == 64
    reordered = dict(reversed(list(BASE["request"].items())))
    assert key(request=reordered) == key()


def test_key_changes_with_every_component() -> None:
    """SPEC 7: modality, provider, model, payload, seed and provider version are all in the key."""
    variants = [
        key(modality="video"),
        key(provider="previz"),
        key(model="m2"),
        key(request={**BASE["request"], "prompt": "q"}),
        key(seed=2),
        key(provider_version="v2"),
        key(inputs={**BASE["inputs"], "image": "3" * 64}),
        key(inputs={**BASE["inputs"], "refs[0]": "4" * 64}),
    ]
    assert len({key(), *variants}) == len(variants) + 1


def test_key_uses_input_hashes_not_paths() -> None:
    """SPEC 7: input artifacts are replaced by their sha256: moving a file keeps the key."""
    moved = {**BASE["request"], "image": "/elsewhere/c.png", "refs": ["/moved/r"]}
    assert key(request=moved) == key()
    # The provider is keyed on its own; the request's routing field does not matter.
    assert key(request={**BASE["request"], "provider": "fake"}) == key()


def test_index_tracks_succeeded_open_jobs_and_evals() -> None:
    """SPEC 3: readers merge later `eval` records into a receipt's scores; a submitted job is
    open until its receipt arrives."""
    index = LogIndex.build(
        [
            Submitted(
                receipt_id="r_1",
                modality="keyframe",
                provider="fake",
                request_sha256="k",
                job_id="j",
            ),
        ]
    )
    assert index.open_jobs["k"].job_id == "j"
    first = receipt("r_1", "k", scores={"sharpness": 0.2, "noise": 0.9})
    index.add(first)
    assert index.open_jobs == {}
    assert index.succeeded["k"] is first
    index.add(EvalRecord(receipt_id="r_1", scores={"sharpness": 0.8}))
    index.add(EvalRecord(receipt_id="r_1", scores={"clip": 0.5}))
    assert index.scores(first) == {"sharpness": 0.8, "noise": 0.9, "clip": 0.5}
    assert first.eval_scores == {"sharpness": 0.2, "noise": 0.9}
    failed = receipt("r_2", "k2", ok=False)
    index.add(failed)
    assert "k2" not in index.succeeded
    assert index.receipts["r_2"] is failed
    later = receipt("r_3", "k")
    index.add(later)
    assert index.succeeded["k"] is later


def test_a_sending_record_stays_unsure_until_its_dispatch_answers() -> None:
    """SPEC 7: a submit with no answer recorded is unsure; a `submitted` record or a receipt
    of the same dispatch settles it, and another dispatch's records do not."""

    def sending(receipt_id: str, key: str) -> Sending:
        return Sending(
            receipt_id=receipt_id,
            modality="keyframe",
            provider="fal",
            request_sha256=key,
            sent_us=1,
        )

    index = LogIndex.build([sending("r_1", "k"), sending("r_2", "k2"), sending("r_3", "k3")])
    assert set(index.unsure) == {"k", "k2", "k3"}
    index.add(receipt("r_9", "k"))  # an older dispatch of the same request
    assert index.unsure["k"].receipt_id == "r_1"
    index.add(
        Submitted(
            receipt_id="r_1", modality="keyframe", provider="fal", request_sha256="k", job_id="j"
        )
    )
    index.add(receipt("r_2", "k2", ok=False))
    assert set(index.unsure) == {"k3"}
    assert index.open_jobs["k"].job_id == "j"


def test_eval_records_merge_from_the_log(context: DispatchContext, registry: Registry) -> None:
    """SPEC 3: eval scores arrive later as `eval` records naming the receipt; readers merge."""
    scored = dispatch(
        "keyframe",
        {"prompt": "x", "fake_scores": {"sharpness": 0.4}},
        context=context,
        registry=registry,
    )
    assert scored.eval_scores == {"sharpness": 0.4}
    with ReceiptLog(context.receipts_file) as log:
        log.append(codec.encode(EvalRecord(receipt_id=scored.receipt_id, scores={"exposure": 0.6})))
    index = LogIndex.build(read_records(Path(context.receipts_file)))
    assert index.scores(index.receipts[scored.receipt_id]) == {"sharpness": 0.4, "exposure": 0.6}
    assert index.receipts[scored.receipt_id] == scored


def test_what_the_provider_says_decides_its_output_is_in_the_key() -> None:
    """A provider's identity for a request (a workflow's hash) changes the key; none keeps it."""
    workflow = {"template": "keyframe", "workflow_sha256": "a" * 64}
    assert key(provider_identity={}) == key()
    assert key(provider_identity=workflow) != key()
    assert key(provider_identity=workflow) == key(provider_identity=dict(workflow))
    assert key(provider_identity=workflow) != key(
        provider_identity={**workflow, "workflow_sha256": "b" * 64}
    )
