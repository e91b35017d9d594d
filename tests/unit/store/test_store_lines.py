"""Rows straight from log lines agree with the rows of the records the log's reader makes."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from recoil.model.cost import Cost
from recoil.model.receipt import (
    Artifact,
    Receipt,
    ReceiptError,
    ReceiptStatus,
    Record,
    Submitted,
)
from recoil.records import codec
from recoil.store.log_index import add_chunk
from recoil.store.log_tail import TailChunk
from recoil.store.table_rows import LogRows

PID = "prj_test"

SUCCEEDED = Receipt(
    receipt_id="r1",
    modality="keyframe",
    provider="fal",
    model="flux",
    status=ReceiptStatus.SUCCEEDED,
    request_sha256="a" * 64,
    prompt="p",
    prompt_sha256="b" * 64,
    seed=3,
    started_us=10,
    finished_us=20,
    artifacts={
        "image": Artifact(name="i.png", path="a/i.png", sha256="c" * 64, mime="image/png", bytes=9)
    },
    cost=Cost(amount=0.5, currency="USD", source="estimated"),
    provenance={"scene_id": "sc", "take_id": "t", "workflow_step_id": "s"},
    eval_scores={"sharpness": 0.5},
    run_id="run",
)
SUCCEEDED = codec.encode(SUCCEEDED)
FAILED = {
    **SUCCEEDED,
    "status": "failed",
    "artifacts": {},
    "error": codec.plain(ReceiptError(type="E", message="m", retryable=True)),
}
SUBMITTED = codec.encode(
    Submitted(receipt_id="r1", modality="video", provider="fal", request_sha256="s", job_id="j")
)

SCALARS = (
    st.none()
    | st.booleans()
    # Within what the store's integer columns hold, even once a float is truncated.
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(min_value=-1e15, max_value=1e15)
    | st.sampled_from(["", "x", "5", "0.5", "succeeded", "failed", "receipt", "submitted"])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=2)
        | st.dictionaries(
            st.sampled_from(
                ["name", "path", "sha256", "mime", "bytes", "type", "message", "amount"]
            ),
            inner,
            max_size=3,
        )
    ),
    max_leaves=4,
)


@st.composite
def lines(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed record's dict with a few fields replaced by anything, or removed."""
    data = dict(draw(st.sampled_from([SUCCEEDED, FAILED, SUBMITTED])))
    keys = sorted(data)
    for key in draw(st.lists(st.sampled_from(keys), max_size=3, unique=True)):
        if draw(st.booleans()):
            del data[key]
        else:
            data[key] = draw(VALUES)
    return data


def rows_of(lines: list[bytes]) -> LogRows:
    rows = LogRows()
    add_chunk(rows, PID, TailChunk(start=0, lines=lines, end=sum(len(x) + 1 for x in lines)))
    return rows


def read(data: dict[str, Any]) -> Record | None:
    try:
        return codec.decode_record(data)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


@settings(max_examples=400, deadline=None)
@given(lines())
def test_a_line_is_indexed_exactly_when_its_record_reads_and_as_the_record_says(
    data: dict[str, Any],
) -> None:
    line = orjson.dumps(data)
    got = rows_of([line])
    record = read(data)
    expected = LogRows()
    if record is not None:
        try:
            expected.add(PID, record)
        except TypeError:  # it reads, but has no canonical line (a dict key that is no str)
            record = None
    # Every column but the body equals the record's; the body reads back as the record.
    assert [r[:-1] for r in got.receipts] == [r[:-1] for r in expected.receipts]
    assert [r[:-1] for r in got.submitted] == [r[:-1] for r in expected.submitted]
    assert got.evals == expected.evals
    for row in [*got.receipts, *got.submitted]:
        assert read(orjson.loads(row[-1])) == record


def test_a_canonical_line_is_its_own_body() -> None:
    line = orjson.dumps(SUCCEEDED, option=orjson.OPT_SORT_KEYS)
    (row,) = rows_of([line]).receipts
    assert row[-1] == line.decode()


def test_lines_that_are_no_records_are_skipped() -> None:
    rows = rows_of([b"", b"  ", b"{oops", b"[1]", b"7", b"\xff", orjson.dumps({"kind": "later"})])
    assert (rows.receipts, rows.submitted, rows.evals) == ([], [], [])
