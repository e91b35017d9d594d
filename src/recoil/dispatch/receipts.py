"""Receipts: every receipt the dispatcher writes is built by :func:`build_receipt`.

A dispatch ends one of three ways, each an :class:`Outcome`: the provider
succeeded (:func:`succeeded`), an identical earlier dispatch is reused
(:func:`cache_hit`), or the call failed (:func:`failed`). The receipt takes
what was prepared from the call and the rest from the outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from recoil.dispatch.call import Call
from recoil.errors import ProviderError
from recoil.model.cost import FREE, Cost
from recoil.model.ids import now_us
from recoil.model.receipt import Artifact, Receipt, ReceiptError, ReceiptStatus
from recoil.providers.base import JobState
from recoil.records.redact import redact_text


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """How a dispatch ended, beyond what was prepared for it."""

    model: str
    cost: Cost
    artifacts: Mapping[str, Artifact] = field(default_factory=dict)
    eval_scores: Mapping[str, float] = field(default_factory=dict)
    error: ReceiptError | None = None
    cached: bool = False


def build_receipt(call: Call, outcome: Outcome) -> Receipt:
    """The receipt of ``call`` ending with ``outcome``, finished now."""
    prepared = call.prepared
    return Receipt(
        receipt_id=call.receipt_id,
        modality=prepared.modality,
        provider=prepared.provider_name,
        model=outcome.model,
        status=ReceiptStatus.SUCCEEDED if outcome.error is None else ReceiptStatus.FAILED,
        request_sha256=prepared.request_sha256,
        prompt=prepared.prompt,
        prompt_sha256=prepared.prompt_sha256,
        seed=prepared.request.seed,
        started_us=call.started_us,
        finished_us=max(now_us(), call.started_us),
        request=prepared.request_record,
        inputs=prepared.inputs,
        artifacts=outcome.artifacts,
        cost=outcome.cost,
        provenance=prepared.provenance,
        cached=outcome.cached,
        error=outcome.error,
        eval_scores=outcome.eval_scores,
        job_id=call.job.job_id if call.job is not None else None,
        run_id=call.context.run_id,
        attempt=call.attempt,
    )


def succeeded(call: Call, state: JobState, artifacts: Mapping[str, Artifact]) -> Outcome:
    """The outcome of a provider's success, its outputs stored as ``artifacts``."""
    prepared = call.prepared
    return Outcome(
        model=state.model or prepared.model,
        cost=state.cost if state.cost is not None else prepared.estimate,
        artifacts=artifacts,
        eval_scores=dict(state.eval_scores) if state.eval_scores else {},
    )


def cache_hit(hit: Receipt, eval_scores: Mapping[str, float]) -> Outcome:
    """The outcome of reusing ``hit``, an identical dispatch's receipt with intact artifacts."""
    return Outcome(
        model=hit.model,
        cost=Cost(source="reported", detail=f"cache hit of {hit.receipt_id}"),
        artifacts=hit.artifacts,
        eval_scores=eval_scores,
        cached=True,
    )


def failed(call: Call, exc: ProviderError) -> Outcome:
    """The outcome of a failed call (its message redacted; money spent is still recorded)."""
    return Outcome(
        model=call.prepared.model,
        cost=Cost(amount=exc.cost, source="reported") if exc.cost else FREE,
        error=ReceiptError(
            type=exc.error_type,
            message=redact_text(str(exc)),
            retryable=exc.retryable and not exc.unknown_outcome,
            provider_status=exc.provider_status,
            retry_after_s=exc.retry_after_s,
            unknown_outcome=exc.unknown_outcome,
        ),
    )
