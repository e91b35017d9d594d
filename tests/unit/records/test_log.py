"""The receipt log: append-only JSONL, durable appends, torn-tail recovery (SPEC 3)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from recoil.errors import StoreError
from recoil.model.receipt import EvalRecord, Receipt, Submitted
from recoil.records import codec
from recoil.records.log import ReceiptLog, encode_line, read_records


def submitted(n: int) -> dict[str, Any]:
    return codec.encode(
        Submitted(
            receipt_id=f"r_{n}",
            modality="video",
            provider="fake",
            request_sha256=f"{n:064x}",
            job_id=f"job-{n}",
            submitted_us=n,
        )
    )


@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of the file each ``os.fsync`` made durable, in order."""
    real_fsync = os.fsync
    sizes: list[int] = []

    def recording_fsync(fd: int) -> None:
        real_fsync(fd)
        sizes.append(os.fstat(fd).st_size)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    return sizes


def test_one_line_per_record(tmp_path: Path) -> None:
    """SPEC 3: one JSON object per line, appended in order."""
    path = tmp_path / "receipts.jsonl"
    with ReceiptLog(path) as log:
        log.append(submitted(1))
        log.append(submitted(2))
    with ReceiptLog(path) as log:
        log.append(submitted(3))
    raw = path.read_bytes().splitlines(keepends=True)
    assert [json.loads(line)["job_id"] for line in raw] == ["job-1", "job-2", "job-3"]
    assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in raw)
    assert [r.receipt_id for r in read_records(path)] == ["r_1", "r_2", "r_3"]


def test_encode_line_is_canonical() -> None:
    """SPEC 3: lines are canonical JSON (sorted keys, compact, UTF-8), one per record."""
    line = encode_line({"b": 1, "a": "caf\u00e9"})
    assert line == '{"a":"caf\u00e9","b":1}\n'.encode()


def test_appends_are_fsynced(tmp_path: Path, fsynced: list[int]) -> None:
    """SPEC 2.6: an append is on disk (fsynced) before it returns."""
    path = tmp_path / "receipts.jsonl"
    with ReceiptLog(path) as log:
        log.append(submitted(1))
        assert fsynced[-1] == path.stat().st_size > 0


def test_async_appends_group_commit(tmp_path: Path, fsynced: list[int]) -> None:
    """SPEC 2.6: concurrent async appends are all durable and share fsyncs (group commit)."""
    path = tmp_path / "receipts.jsonl"

    async def scenario() -> None:
        with ReceiptLog(path) as log:
            await asyncio.gather(*(log.append_async(submitted(n)) for n in range(50)))

    asyncio.run(scenario())
    assert sorted(r.receipt_id for r in read_records(path)) == sorted(f"r_{n}" for n in range(50))
    assert 1 <= len(fsynced) < 50


def test_torn_tail_is_set_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """SPEC 3: on open, a torn last line moves to receipts.jsonl.torn-N with exactly its bytes;
    every complete line is kept and new records append cleanly after them."""
    path = tmp_path / "receipts.jsonl"
    complete = encode_line(submitted(1)) + encode_line(submitted(2))
    torn = encode_line(submitted(3))[:40]
    path.write_bytes(complete + torn)
    assert [r.receipt_id for r in read_records(path)] == ["r_1", "r_2"]
    with caplog.at_level(logging.WARNING), ReceiptLog(path) as log:
        assert log.torn == tmp_path / "receipts.jsonl.torn-1"
        log.append(submitted(4))
    assert (tmp_path / "receipts.jsonl.torn-1").read_bytes() == torn
    assert path.read_bytes() == complete + encode_line(submitted(4))
    assert "torn" in caplog.text
    # A second crash is set aside beside the first, never over it.
    with path.open("ab") as f:
        f.write(b'{"kind":')
    with ReceiptLog(path) as log:
        assert log.torn == tmp_path / "receipts.jsonl.torn-2"
    assert (tmp_path / "receipts.jsonl.torn-1").read_bytes() == torn
    assert (tmp_path / "receipts.jsonl.torn-2").read_bytes() == b'{"kind":'
    assert [r.receipt_id for r in read_records(path)] == ["r_1", "r_2", "r_4"]


def test_long_torn_tail(tmp_path: Path) -> None:
    """SPEC 3: a torn line longer than the scan block is still cut at its own start."""
    path = tmp_path / "receipts.jsonl"
    first = encode_line(submitted(1))
    torn = b'{"kind":"eval","scores":"' + b"x" * 200_000
    path.write_bytes(first + torn)
    ReceiptLog(path).close()
    assert path.read_bytes() == first
    assert (tmp_path / "receipts.jsonl.torn-1").read_bytes() == torn


def test_clean_log_is_left_alone(tmp_path: Path) -> None:
    """SPEC 3: a log that ends with a newline (or is empty) has nothing set aside."""
    path = tmp_path / "receipts.jsonl"
    with ReceiptLog(path) as log:
        assert log.torn is None
    path.write_bytes(encode_line(submitted(1)))
    with ReceiptLog(path) as log:
        assert log.torn is None
    assert list(tmp_path.iterdir()) == [path]


def test_reader_skips_bad_and_unknown_lines(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SPEC 3: readers keep every readable record; a corrupt line is reported, not fatal, and
    a kind from a newer writer is skipped."""
    path = tmp_path / "receipts.jsonl"
    path.write_bytes(
        encode_line(submitted(1))
        + b"not json\n"
        + b"\n"
        + encode_line({"kind": "review", "schema_version": 99})
        + encode_line({"kind": "submitted"})
        + encode_line(submitted(2))
    )
    with caplog.at_level(logging.WARNING):
        assert [r.receipt_id for r in read_records(path)] == ["r_1", "r_2"]
    assert "receipts.jsonl:2" in caplog.text
    assert "receipts.jsonl:5" in caplog.text
    assert list(read_records(tmp_path / "missing.jsonl")) == []


def test_eval_records_never_rewrite_receipts(tmp_path: Path) -> None:
    """SPEC 3: eval scores are appended as `eval` records; the receipt line stays as written."""
    path = tmp_path / "receipts.jsonl"
    receipt = codec.decode_as(
        Receipt,
        {
            "receipt_id": "r_1",
            "modality": "keyframe",
            "provider": "fake",
            "status": "succeeded",
            "request_sha256": "a" * 64,
            "started_us": 1,
            "finished_us": 2,
        },
    )
    with ReceiptLog(path) as log:
        log.append(codec.encode(receipt))
        before = path.read_bytes()
        log.append(codec.encode(EvalRecord(receipt_id="r_1", scores={"sharpness": 0.7})))
    assert path.read_bytes().startswith(before)
    records = list(read_records(path))
    assert records[0] == receipt
    assert isinstance(records[1], EvalRecord)


def test_closed_log_refuses_appends(tmp_path: Path) -> None:
    """SPEC 3: writing to a closed log is a StoreError, never a silent loss."""
    log = ReceiptLog(tmp_path / "receipts.jsonl")
    log.close()
    log.close()
    with pytest.raises(StoreError, match="closed"):
        log.append(submitted(1))


def test_append_then_calls_back_once_the_line_is_on_disk(
    tmp_path: Path, fsynced: list[int]
) -> None:
    """Each queued record's callback runs after the fsync that made its line durable."""
    path = tmp_path / "receipts.jsonl"
    seen: list[tuple[int, int, StoreError | None]] = []

    async def scenario() -> None:
        with ReceiptLog(path) as log:
            for n in range(20):
                line_end = len(b"".join(encode_line(submitted(k)) for k in range(n + 1)))
                log.append_then(
                    submitted(n),
                    lambda error, end=line_end: seen.append((end, fsynced[-1], error)),
                )
            await log.flushed()

    asyncio.run(scenario())
    assert len(seen) == 20
    assert all(error is None and end <= durable for end, durable, error in seen)
    assert [r.receipt_id for r in read_records(path)] == [f"r_{n}" for n in range(20)]


def test_append_then_reports_a_failed_write(tmp_path: Path) -> None:
    """A write that fails reaches every queued record's callback as a StoreError."""
    errors: list[StoreError | None] = []

    async def scenario() -> None:
        log = ReceiptLog(tmp_path / "receipts.jsonl")
        log.close()
        for n in range(3):
            log.append_then(submitted(n), errors.append)
        await log.flushed()
        with pytest.raises(StoreError, match="closed"):
            await log.append_async(submitted(9))

    asyncio.run(scenario())
    assert len(errors) == 3
    assert all(isinstance(e, StoreError) and "closed" in str(e) for e in errors)
