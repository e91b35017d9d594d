"""Index rows straight from receipt log lines, without building records.

Reconciling a long log is the store's hot path, so a line that is plainly
well formed (of the current schema, every field the class needs, each of the
exact JSON type its annotation gives: :func:`recoil.records.codec.line_shape`,
derived from the codec's table and the dataclass fields) becomes its row from
the parsed JSON alone, and its ``body`` is the line itself: the canonical JSON
of the record. The class's value rules (``Receipt.__post_init__`` and
``Cost.__post_init__``) are checked on the values too. Anything unusual (an
older or hand-edited line, a type that needs converting, an ``eval`` record)
takes the slow path through :func:`recoil.records.codec.decode_record` and is
indexed from the record it gives. Either way exactly the lines the codec
accepts are indexed, and every indexed body reads back.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from recoil.errors import RecoilError
from recoil.records.codec import decode_record, line_shape
from recoil.store.log_tail import TailChunk
from recoil.store.schema import dumps
from recoil.store.table_rows import LogRows

log = logging.getLogger(__name__)

_INF = float("inf")

_EMPTY: dict[str, Any] = {}
_RECEIPT = line_shape("receipt").check
_SUBMITTED = line_shape("submitted").check


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
        kind = data.get("kind")
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
        record = decode_record(data)
        if record is not None:  # else a kind this version does not know
            rows.add(pid, record)
    except RecoilError as exc:
        log.warning("receipt log line ending at byte %d skipped: %s", end, exc)


def _receipt(pid: str, d: dict[str, Any], line: bytes) -> tuple[Any, ...] | None:
    """The row of a plainly well-formed receipt line; ``None`` to take the slow path."""
    if not _RECEIPT(d):
        return None
    get = d.get
    started = d["started_us"]
    finished = d["finished_us"]
    cost = get("cost", _EMPTY)
    amount = cost.get("amount", 0.0)
    # The value rules of Receipt and Cost (their ``__post_init__``), on the parsed values.
    if (
        finished < started
        or (d["status"] == "failed") != (get("error") is not None)
        or not 0 <= amount < _INF
    ):
        return None
    scores_text = _scores_text(get("eval_scores", _EMPTY))
    if scores_text is None:
        return None
    provenance = get("provenance", _EMPTY)
    scene_id = provenance.get("scene_id")
    take_id = provenance.get("take_id")
    step_id = provenance.get("workflow_step_id")
    return (
        pid,
        d["receipt_id"],
        d["modality"],
        d["provider"],
        d["model"],
        d["status"],
        d["request_sha256"],
        get("cached", False),
        float(amount),
        cost.get("currency", "USD"),
        get("run_id"),
        scene_id if type(scene_id) is str else None,
        take_id if type(take_id) is str else None,
        step_id if type(step_id) is str else None,
        started,
        finished,
        scores_text,
        line.strip().decode(),
    )


def _scores_text(scores: dict[str, Any]) -> str | None:
    """The ``scores`` column of a receipt's ``eval_scores``; ``None`` when one is not finite."""
    if not scores:
        return "{}"
    if not all(-_INF < v < _INF for v in scores.values()):
        return None
    return dumps({k: float(v) for k, v in scores.items()})


def _submitted(pid: str, d: dict[str, Any], line: bytes) -> tuple[Any, ...] | None:
    """The row of a plainly well-formed ``submitted`` line; ``None`` to take the slow path."""
    if not _SUBMITTED(d):
        return None
    get = d.get
    return (
        pid,
        d["receipt_id"],
        d["request_sha256"],
        d["job_id"],
        d["provider"],
        get("run_id"),
        line.strip().decode(),
    )
