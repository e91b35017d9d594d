"""The cache key and the index of what the receipt log already holds.

:func:`request_sha256` is the one function that makes the cache key (SPEC
section 7): the sha256 of the canonical JSON of modality, provider, model,
the resolved request (input files replaced by their sha256), seed and
provider version, and what the provider says decides its output besides the
request (``provider_identity``: a ComfyUI workflow's hash and its filled graph).
Two requests with the same key are the same request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from recoil.model.receipt import EvalRecord, Receipt, Record, Sending, Submitted

# Request fields that are routing, not content: the provider is keyed on its own.
_ROUTING = frozenset({"provider"})


def request_sha256(
    *,
    modality: str,
    provider: str,
    model: str,
    request: Mapping[str, Any],
    inputs: Mapping[str, str],
    seed: int | None,
    provider_version: str,
    provider_identity: Mapping[str, Any] | None = None,
) -> str:
    """The cache key of a request (see the module docstring).

    ``request`` is the validated request as a dict; every input field named in
    ``inputs`` (label -> sha256) is replaced by its hash, so moving or renaming
    an input file keeps the key while changing its content changes it. An
    empty ``provider_identity`` leaves the key as it was without one.
    """
    resolved = dict(request)
    for key in _ROUTING:
        resolved.pop(key, None)
    for label, digest in inputs.items():
        name, _, index = label.partition("[")
        if index:
            items = list(resolved[name])
            items[int(index.rstrip("]"))] = f"sha256:{digest}"
            resolved[name] = items
        else:
            resolved[name] = f"sha256:{digest}"
    resolved["seed"] = seed
    keyed: dict[str, Any] = {
        "modality": modality,
        "provider": provider,
        "model": model,
        "provider_version": provider_version,
        "request": resolved,
    }
    if provider_identity:
        keyed["provider_identity"] = provider_identity
    canonical = orjson.dumps(keyed, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


@dataclass(slots=True)
class LogIndex:
    """What a receipt log holds, indexed for the dispatcher and readers."""

    receipts: dict[str, Receipt] = field(default_factory=dict)
    """receipt_id -> receipt, in log order."""
    succeeded: dict[str, Receipt] = field(default_factory=dict)
    """request_sha256 -> the latest succeeded receipt."""
    open_jobs: dict[str, Submitted] = field(default_factory=dict)
    """request_sha256 -> a submitted job with no final receipt yet."""
    unsure: dict[str, Sending] = field(default_factory=dict)
    """request_sha256 -> a submit that was sent (or about to be) with no answer recorded."""
    evals: dict[str, dict[str, float]] = field(default_factory=dict)
    """receipt_id -> scores from later ``eval`` records."""

    @classmethod
    def build(cls, records: Iterable[Record]) -> LogIndex:
        """Index records read from a log."""
        index = cls()
        for record in records:
            index.add(record)
        return index

    def add(self, record: Record) -> None:
        """Index one more record."""
        if isinstance(record, Receipt):
            self.receipts[record.receipt_id] = record
            key = record.request_sha256
            job = self.open_jobs.get(key)
            if job is not None and job.receipt_id == record.receipt_id:
                del self.open_jobs[key]
            if self.unsure:
                self._settle(key, record.receipt_id)
            if record.succeeded:
                self.succeeded[key] = record
        elif isinstance(record, Submitted):
            self.open_jobs[record.request_sha256] = record
            self._settle(record.request_sha256, record.receipt_id)
        elif isinstance(record, Sending):
            self.unsure[record.request_sha256] = record
        elif isinstance(record, EvalRecord):
            self.evals.setdefault(record.receipt_id, {}).update(record.scores)

    def _settle(self, key: str, receipt_id: str) -> None:
        sending = self.unsure.get(key)
        if sending is not None and sending.receipt_id == receipt_id:
            del self.unsure[key]

    def scores(self, receipt: Receipt) -> dict[str, float]:
        """A receipt's eval scores merged with later ``eval`` records."""
        return {**receipt.eval_scores, **self.evals.get(receipt.receipt_id, {})}
