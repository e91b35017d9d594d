"""Reconciling long logs, and lines the fast indexing path leaves to the records' own reader."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Connection, select

from recoil.model.cost import Cost
from recoil.model.receipt import (
    Artifact,
    EvalRecord,
    Receipt,
    ReceiptError,
    ReceiptStatus,
    Record,
    Submitted,
)
from recoil.records import codec
from recoil.records.log import encode_line
from recoil.store import ProjectStore, reconcile, schema, table_rows
from recoil.store.engine import create_store_engine, resolve_url

OpenStore = Callable[..., ProjectStore]


def write_log(project_dir: Path, lines: list[bytes]) -> None:
    with (project_dir / "receipts.jsonl").open("ab") as f:
        f.write(b"".join(lines))


def receipt(n: int) -> Receipt:
    """Receipt number ``n``, its fields varied with ``n``."""
    failed = n % 7 == 0
    return Receipt(
        receipt_id=f"r_{n:05d}",
        modality=("keyframe", "video", "voice")[n % 3],
        provider=("fal", "replicate")[n % 2],
        model=f"m{n % 4}",
        status=ReceiptStatus.FAILED if failed else ReceiptStatus.SUCCEEDED,
        request_sha256=f"{n % 500:064x}",
        prompt=f"shot {n} \u00e9\u6f22",
        prompt_sha256=f"{n:064x}",
        seed=n if n % 5 else None,
        started_us=1_000 * n,
        finished_us=1_000 * n + n % 11,
        request={"prompt": f"shot {n}", "params": {"steps": n % 30}},
        inputs={"image": f"{n:064x}"} if n % 4 == 0 else {},
        artifacts=(
            {}
            if failed or n % 3
            else {
                "image": Artifact(
                    name="image.png",
                    path=f"artifacts/{n}.png",
                    sha256=f"{n:064x}",
                    mime="image/png",
                    bytes=n,
                    facts={"width": 64, "height": 64},
                )
            }
        ),
        cost=Cost(amount=0.01 * (n % 13), currency=("USD", "EUR")[n % 9 == 0], source="estimated"),
        provenance=(
            {"scene_id": f"sc{n % 6}", "take_id": f"t{n % 40}", "workflow_step_id": f"s{n % 3}"}
            if n % 10
            else {"scene_id": n}
        ),
        cached=n % 8 == 0,
        error=ReceiptError(type="ProviderError", message=f"boom {n}", retryable=n % 2 == 0)
        if failed
        else None,
        eval_scores={"sharpness": n / 100} if n % 6 == 0 else {},
        job_id=f"job{n}" if n % 2 else None,
        run_id=f"run{n % 3}" if n % 5 else None,
        attempt=1 + n % 3,
    )


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Index the log a few KiB per transaction, so chunk edges fall everywhere."""
    monkeypatch.setattr(reconcile, "CHUNK_BYTES", 4096)


@pytest.fixture
def db(open_store: OpenStore, db_url: str | None, project_dir: Path) -> Iterator[Connection]:
    """A connection of the test's own to the store's database."""
    engine = create_store_engine(resolve_url(project_dir, db_url))
    with engine.connect() as conn:
        yield conn
    engine.dispose()


def indexed_receipts(conn: Connection, pid: str) -> list[tuple[Any, ...]]:
    r = schema.receipts
    columns = [r.c[name] for name in table_rows.RECEIPT_COLUMNS]
    query = select(*columns).where(r.c.project_id == pid).order_by(r.c.seq)
    return [tuple(row) for row in conn.execute(query)]


def open_jobs(conn: Connection, pid: str) -> list[Submitted]:
    """Indexed submitted jobs with no final receipt, in log order."""
    s, r = schema.submitted, schema.receipts
    finished = select(r.c.receipt_id).where(r.c.project_id == pid, r.c.receipt_id == s.c.receipt_id)
    query = select(s.c.body).where(s.c.project_id == pid, ~finished.exists()).order_by(s.c.seq)
    return [
        codec.decode_as(Submitted, orjson.loads(body)) for body in conn.execute(query).scalars()
    ]


def test_a_long_log_is_indexed_whole_with_every_field(
    open_store: OpenStore, project_dir: Path, db: Connection, small_chunks: None
) -> None:
    made = [receipt(n) for n in range(1, 3001)]
    jobs = [
        Submitted(
            receipt_id=f"r_job{n}",
            modality="video",
            provider="fal",
            request_sha256=f"{n:064x}",
            job_id=f"j{n}",
            handle={"url": f"https://example/{n}"},
            submitted_us=n,
            run_id="run1",
        )
        for n in range(200)
    ]
    scores = [EvalRecord(receipt_id=r.receipt_id, scores={"aesthetic": 0.5}) for r in made[::300]]
    records: list[Record] = [*made[:1500], *jobs, *made[1500:], *scores]
    lines = [encode_line(codec.encode(record)) for record in records]
    store_ = open_store()
    pid = store_.project_id
    write_log(project_dir, [*lines, *lines[:50]])
    assert store_.reconcile() == len(records)  # the repeated lines count once
    assert store_.reconcile() == 0
    # Every column as indexing the receipt object gives it, the body being its log line.
    assert indexed_receipts(db, pid) == [table_rows.receipt_row(pid, r) for r in made]
    assert store_.receipts() == made
    assert store_.receipts(run_id="run2") == [r for r in made if r.run_id == "run2"]
    assert open_jobs(db, pid) == jobs
    merged = {r.receipt_id: dict(r.eval_scores) for r in made if r.eval_scores}
    for score in scores:
        merged.setdefault(score.receipt_id, {}).update(score.scores)
    assert store_.eval_scores() == merged
    spent: dict[tuple[str, str], float] = {}
    for r in made:
        key = (r.provider, r.cost.currency)
        spent[key] = spent.get(key, 0.0) + r.cost.amount
    by_provider = {(k, cur): total for k, _, total, cur in store_.spend("provider")}
    assert by_provider == pytest.approx(spent)
    # Every tenth receipt's provenance scene_id is a number, so it has no scene.
    assert sum(n for key, n, _, _ in store_.spend("scene") if key == "-") == 300


def test_records_indexed_from_objects_hold_their_log_line(
    open_store: OpenStore, project_dir: Path, db: Connection
) -> None:
    made = [receipt(n) for n in range(1, 30)]
    store_ = open_store()
    assert store_.index_records(made) == len(made)
    bodies = [row[-1] for row in indexed_receipts(db, store_.project_id)]
    assert bodies == [encode_line(codec.encode(r))[:-1].decode() for r in made]
    write_log(project_dir, [encode_line(codec.encode(r)) for r in made])
    assert store_.reconcile() == 0


def test_a_line_longer_than_a_read_is_indexed_once(
    open_store: OpenStore, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reconcile, "CHUNK_BYTES", 100)
    made = [receipt(n) for n in range(1, 6)]
    write_log(project_dir, [encode_line(codec.encode(r)) for r in made[:3]])
    store_ = open_store()
    assert store_.receipts() == made[:3]
    write_log(project_dir, [encode_line(codec.encode(r)) for r in made[3:]])
    assert store_.reconcile() == 2
    assert store_.reconcile() == 0
    assert store_.receipts() == made


GOOD = codec.encode(receipt(1))
FAILED = codec.encode(receipt(7))
WITH_ARTIFACT = codec.encode(receipt(6))
JOB = codec.encode(
    Submitted(receipt_id="j", modality="video", provider="fal", request_sha256="s", job_id="j1")
)

VARIANTS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    (GOOD, {}),
    (GOOD, {"future_field": [1, 2]}),
    (GOOD, {"started_us": "5", "finished_us": "9"}),
    (GOOD, {"started_us": 5.0}),
    (GOOD, {"started_us": 10**16}),
    (GOOD, {"status": "weird"}),
    (GOOD, {"error": {"type": "E", "message": "m", "retryable": False}}),
    (GOOD, {"error": {}}),
    (GOOD, {"cost": {"amount": -1.0}}),
    (GOOD, {"cost": {"amount": "0.5", "currency": 5}}),
    (GOOD, {"cost": {"amount": 3}}),
    (GOOD, {"cost": {}}),
    (GOOD, {"cost": None}),
    (GOOD, {"eval_scores": {"a": None}}),
    (GOOD, {"eval_scores": {"a": 1, "b": 0.25}}),
    (GOOD, {"eval_scores": {"a": "0.5", "b": True}}),
    (GOOD, {"provenance": {"scene_id": 5, "take_id": "t", "workflow_step_id": None}}),
    (GOOD, {"provenance": None}),
    (GOOD, {"request": None}),
    (GOOD, {"inputs": [["image", "abc"]]}),
    (GOOD, {"cached": "yes", "seed": "x", "job_id": 3}),
    (GOOD, {"attempt": "2", "schema_version": "1"}),
    (GOOD, {"attempt": None}),
    (GOOD, {"run_id": "run9", "model": "m"}),
    (GOOD, {"artifacts": []}),
    (WITH_ARTIFACT, {}),
    (WITH_ARTIFACT, {"artifacts": {"image": {"name": "x"}}}),
    (
        WITH_ARTIFACT,
        {"artifacts": {"image": {**WITH_ARTIFACT["artifacts"]["image"], "bytes": "7"}}},
    ),
    (FAILED, {}),
    (FAILED, {"error": None}),
    (FAILED, {"error": {"type": "E", "message": "m"}}),
    (FAILED, {"error": "boom"}),
    (JOB, {}),
    (JOB, {"handle": None}),
    (JOB, {"submitted_us": "3", "run_id": "run1"}),
    (JOB, {"job_id": 5}),
]
DROPPED = ["receipt_id", "model", "prompt", "cost", "error", "eval_scores", "kind", "job_id"]


def variant_lines() -> Iterator[dict[str, Any]]:
    for n, (base, change) in enumerate(VARIANTS):
        yield {**base, **change, "receipt_id": f"v{n}"}
    for n, key in enumerate(DROPPED):
        line = {**GOOD, "receipt_id": f"d{n}"}
        del line[key]
        yield line
    yield {**GOOD, "receipt_id": "m1", "kind": "mystery"}


def readable(data: dict[str, Any]) -> Record | None:
    try:
        return codec.decode_record(data)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def test_exactly_the_lines_the_records_reader_accepts_are_indexed_as_it_reads_them(
    open_store: OpenStore, project_dir: Path, db: Connection
) -> None:
    data = list(variant_lines())
    lines = [orjson.dumps(d) + b"\n" for d in data]
    lines[5:5] = [b"{not json\n", b"\n", b"   \n", b"[1, 2]\n", b'"text"\n', b"\xff\xfe\n"]
    write_log(project_dir, lines)
    accepted = [r for r in map(readable, data) if r is not None]
    receipts = [r for r in accepted if isinstance(r, Receipt)]
    jobs = [r for r in accepted if isinstance(r, Submitted)]
    # Both kinds of outcome are exercised, and both indexing paths.
    assert 10 < len(receipts) < len(data) - 10
    assert len(jobs) == 2  # a job_id that is not a string no longer reads

    store_ = open_store()
    pid = store_.project_id
    assert store_.receipts() == receipts
    assert open_jobs(db, pid) == jobs
    indexed = indexed_receipts(db, pid)
    assert [row[:-1] for row in indexed] == [table_rows.receipt_row(pid, r)[:-1] for r in receipts]
    assert [codec.decode_as(Receipt, orjson.loads(row[-1])) for row in indexed] == receipts
    assert store_.reconcile() == 0
