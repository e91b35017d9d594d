"""Index rows straight from receipt log lines, without building records.

Reconciling a long log is the store's hot path, so a line that is plainly
well formed (every field :meth:`Receipt.from_dict` needs, of the type the
current log writes) becomes its row from the parsed JSON alone, and its
``body`` is the line itself: the canonical JSON of the record. Anything
unusual (an older or hand-edited line, a type that needs converting, an
``eval`` record) takes the slow path through ``record_from_dict`` and is
indexed from the record it gives. Either way exactly the lines
``record_from_dict`` accepts are indexed, and every indexed body reads back.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from recoil.model.cost import Cost
from recoil.model.receipt import Artifact, ReceiptError, record_from_dict
from recoil.store.log_tail import TailChunk
from recoil.store.schema import dumps
from recoil.store.table_rows import LogRows

log = logging.getLogger(__name__)

# A tuple, not a set: a status that is a list or an object must not need hashing.
_STATUSES = ("succeeded", "failed")
_EMPTY: dict[str, Any] = {}


def add_chunk(rows: LogRows, pid: str, chunk: TailChunk) -> None:
    """Add the rows of every readable record in ``chunk`` to ``rows``; skip the rest."""
    end = chunk.start
    receipts, submitted = rows.receipts, rows.submitted
    for line in chunk.lines:
        end += len(line) + 1
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            if line.strip():
                log.warning("receipt log line ending at byte %d skipped: %s", end, exc)
            continue
        if type(data) is not dict:
            log.warning("receipt log line ending at byte %d skipped: not a JSON object", end)
            continue
        kind = data.get("kind", "receipt")
        if kind == "receipt":
            row = _receipt(pid, data, line)
            if row is not None:
                receipts.append(row)
                continue
        elif kind == "submitted":
            row = _submitted(pid, data, line)
            if row is not None:
                submitted.append(row)
                continue
        _slow(rows, pid, data, end)


def _slow(rows: LogRows, pid: str, data: dict[str, Any], end: int) -> None:
    try:
        record = record_from_dict(data)
        if record is not None:  # else a kind this version does not know
            rows.add(pid, record)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("receipt log line ending at byte %d skipped: %s", end, exc)


def _receipt(pid: str, d: dict[str, Any], line: bytes) -> tuple[Any, ...] | None:
    """The row of a plainly well-formed receipt line; ``None`` to take the slow path."""
    try:
        receipt_id = d["receipt_id"]
        modality = d["modality"]
        provider = d["provider"]
        status = d["status"]
        request_sha256 = d["request_sha256"]
        started = d["started_us"]
        finished = d["finished_us"]
    except KeyError:
        return None
    get = d.get
    model = get("model", "")
    run_id = get("run_id")
    cost = get("cost", _EMPTY)
    provenance = get("provenance", _EMPTY)
    scores = get("eval_scores", _EMPTY)
    artifacts = get("artifacts", _EMPTY)
    error = get("error")
    if not (
        type(receipt_id) is str
        and type(modality) is str
        and type(provider) is str
        and type(model) is str
        and type(request_sha256) is str
        and status in _STATUSES
        and (status == "failed") == bool(error)
        and type(started) is int
        and type(finished) is int
        and finished >= started
        and (run_id is None or type(run_id) is str)
        and type(cost) is dict
        and type(provenance) is dict
        and type(scores) is dict
        and type(artifacts) is dict
        and type(get("request", _EMPTY)) is dict
        and type(get("inputs", _EMPTY)) is dict
        and type(get("schema_version", 0)) is int
        and type(get("attempt", 0)) is int
    ):
        return None
    amount = cost.get("amount", 0.0)
    currency = cost.get("currency", "USD")
    if not ((type(amount) is float or type(amount) is int) and amount >= 0) or (
        type(currency) is not str
    ):
        return None
    if scores:
        if not all(type(v) is float or type(v) is int for v in scores.values()):
            return None
        scores_text = dumps({k: float(v) for k, v in scores.items()})
    else:
        scores_text = "{}"
    if artifacts or error:
        try:
            for artifact in artifacts.values():
                Artifact.from_dict(artifact)
            if error:
                ReceiptError.from_dict(error)
            Cost.from_dict(cost)
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
    scene_id = provenance.get("scene_id")
    take_id = provenance.get("take_id")
    step_id = provenance.get("workflow_step_id")
    return (
        pid,
        receipt_id,
        modality,
        provider,
        model,
        status,
        request_sha256,
        bool(get("cached", False)),
        float(amount),
        currency,
        run_id,
        scene_id if type(scene_id) is str else None,
        take_id if type(take_id) is str else None,
        step_id if type(step_id) is str else None,
        started,
        finished,
        scores_text,
        line.strip().decode(),
    )


def _submitted(pid: str, d: dict[str, Any], line: bytes) -> tuple[Any, ...] | None:
    """The row of a plainly well-formed ``submitted`` line; ``None`` to take the slow path."""
    get = d.get
    try:
        receipt_id = d["receipt_id"]
        request_sha256 = d["request_sha256"]
        job_id = d["job_id"]
        provider = d["provider"]
        modality = d["modality"]
    except KeyError:
        return None
    run_id = get("run_id")
    if not (
        type(receipt_id) is str
        and type(request_sha256) is str
        and type(job_id) is str
        and type(provider) is str
        and type(modality) is str
        and (run_id is None or type(run_id) is str)
        and type(get("handle", {})) is dict
        and type(get("submitted_us", 0)) is int
        and type(get("schema_version", 0)) is int
    ):
        return None
    return (pid, receipt_id, request_sha256, job_id, provider, run_id, line.strip().decode())
