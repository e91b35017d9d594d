"""Reconciling the store with the receipt log, the source of truth."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from recoil.model.receipt import EvalRecord, Receipt, Submitted
from recoil.model.take import Project
from recoil.model.workflow import StepStatus
from recoil.records import codec
from recoil.records.log import ReceiptLog, encode_line
from recoil.store import ProjectStore

OpenStore = Callable[..., ProjectStore]
MakeReceipt = Callable[..., Receipt]


def append(project_dir: Path, *records: Receipt | Submitted | EvalRecord) -> None:
    with ReceiptLog(project_dir / "receipts.jsonl") as log:
        for record in records:
            log.append(codec.encode(record))


def test_records_appended_while_the_store_was_closed_are_indexed_on_open(
    open_store: OpenStore, make_receipt: MakeReceipt, project_dir: Path
) -> None:
    open_store().close()
    made = [make_receipt() for _ in range(3)]
    job = Submitted(
        receipt_id="rcpt_job", modality="video", provider="fal", request_sha256="s", job_id="j1"
    )
    score = EvalRecord(receipt_id=made[0].receipt_id, scores={"sharpness": 0.4})
    append(project_dir, *made, job, score)
    store = open_store()
    assert store.receipts() == made
    assert store.index_records([job]) == 0  # the job was indexed on open
    assert store.eval_scores() == {made[0].receipt_id: {"sharpness": 0.4}}
    assert store.reconcile() == 0


def test_reconcile_counts_only_what_the_store_lacked(
    open_store: OpenStore, make_receipt: MakeReceipt, project_dir: Path
) -> None:
    store = open_store()
    indexed, missed = make_receipt(), make_receipt()
    append(project_dir, indexed, missed)
    store.index_receipt(indexed)  # the run indexed one, then crashed
    assert store.reconcile() == 1
    assert store.receipts() == [indexed, missed]


def test_a_torn_last_line_waits_until_it_is_set_aside(
    open_store: OpenStore, make_receipt: MakeReceipt, project_dir: Path
) -> None:
    whole, torn, after = make_receipt(), make_receipt(), make_receipt()
    log_path = project_dir / "receipts.jsonl"
    log_path.write_bytes(encode_line(codec.encode(whole)) + encode_line(codec.encode(torn))[:40])
    store = open_store()
    assert store.receipts() == [whole]
    append(project_dir, after)  # opening the log for writing sets the torn line aside
    assert store.reconcile() == 1
    assert store.receipts() == [whole, after]
    assert (project_dir / "receipts.jsonl.torn-1").exists()


def test_an_unreadable_line_is_skipped(
    open_store: OpenStore, make_receipt: MakeReceipt, project_dir: Path
) -> None:
    first, second = make_receipt(), make_receipt()
    (project_dir / "receipts.jsonl").write_bytes(
        encode_line(codec.encode(first)) + b"{not json\n" + encode_line(codec.encode(second))
    )
    assert open_store().receipts() == [first, second]


def test_a_log_that_changed_is_read_again_from_the_start(
    open_store: OpenStore, make_receipt: MakeReceipt, project_dir: Path
) -> None:
    old = [make_receipt() for _ in range(3)]
    append(project_dir, *old)
    store = open_store()
    log_path = project_dir / "receipts.jsonl"
    replacement = make_receipt()
    log_path.write_bytes(encode_line(codec.encode(replacement)))  # shorter: it shrank
    assert store.reconcile() == 1
    rewritten = [make_receipt() for _ in range(4)]
    log_path.write_bytes(b"".join(encode_line(codec.encode(r)) for r in rewritten))  # longer
    assert store.reconcile() == 4
    assert store.receipts() == [*old, replacement, *rewritten]
    log_path.unlink()
    assert store.reconcile() == 0
    append(project_dir, extra := make_receipt())
    assert store.reconcile() == 1
    assert store.receipts()[-1] == extra


def test_receipts_are_reattached_to_the_steps_a_crash_left_behind(
    open_store: OpenStore, make_receipt: MakeReceipt, project_dir: Path, film: Project
) -> None:
    store = open_store()
    store.save_project(film)
    beat = film.scenes[0].beats[0]
    take, other = beat.takes

    def provenance(take_id: str, step_id: str) -> dict[str, str]:
        return {"take_id": take_id, "workflow_step_id": step_id, "workflow_id": "wf"}

    keyframe = make_receipt(provenance=provenance(take.take_id, "keyframe"))
    video_try = make_receipt(
        status="failed", retryable=True, provenance=provenance(take.take_id, "video")
    )
    broken = make_receipt(status="failed", provenance=provenance(other.take_id, "keyframe"))
    stranger = make_receipt(provenance=provenance("no-such-take", "keyframe"))
    append(project_dir, keyframe, video_try, broken, stranger)
    store.close()

    loaded = open_store().load_project()
    assert loaded is not None
    steps = {
        (t.take_id, s.step_id): s for t in loaded.beat(beat.beat_id).takes for s in t.workflow.steps
    }
    done = steps[take.take_id, "keyframe"]
    assert (done.status, done.receipt, done.error) == (StepStatus.SUCCEEDED, keyframe, None)
    assert (done.started_us, done.finished_us) == (keyframe.started_us, keyframe.finished_us)
    retry = steps[take.take_id, "video"]
    assert (retry.status, retry.receipt, retry.attempts) == (StepStatus.PENDING, video_try, 1)
    failed = steps[other.take_id, "keyframe"]
    assert (failed.status, failed.receipt) == (StepStatus.FAILED, broken)
    assert failed.error == "keyframe dispatch via fake failed: boom"
    assert steps[other.take_id, "video"].status is StepStatus.PENDING


def test_a_later_attempt_replaces_the_attached_failure(
    open_store: OpenStore, make_receipt: MakeReceipt, project_dir: Path, film: Project
) -> None:
    store = open_store()
    beat = film.scenes[0].beats[0]
    take = beat.takes[0]
    step = take.workflow.steps[0]
    ids = {"take_id": take.take_id, "workflow_step_id": step.step_id}
    first = make_receipt(status="failed", retryable=True, provenance=ids)
    step.receipt, step.attempts = first, 1
    store.save_project(film)
    second = make_receipt(provenance=ids, attempt=2)
    append(project_dir, first, second)
    assert store.reconcile() == 1
    loaded = store.load_project()
    assert loaded is not None
    step_now = loaded.beat(beat.beat_id).takes[0].workflow.steps[0]
    assert (step_now.status, step_now.receipt, step_now.attempts) == (
        StepStatus.SUCCEEDED,
        second,
        2,
    )


def test_reopening_with_nothing_new_is_fast(
    open_store: OpenStore, make_receipt: MakeReceipt, project_dir: Path
) -> None:
    made = [make_receipt(provenance={"scene_id": f"sc{n % 7}"}) for n in range(1000)]
    append(project_dir, *made)
    began = time.perf_counter()
    first = open_store()
    first_open = time.perf_counter() - began
    assert len(first.receipts()) == 1000
    first.close()
    began = time.perf_counter()
    second = open_store()
    second_open = time.perf_counter() - began
    began = time.perf_counter()
    assert second.reconcile() == 0
    noop = time.perf_counter() - began
    print(
        f"1,000 receipts: first open {first_open:.3f} s, second open {second_open:.3f} s, "
        f"no-op reconcile {noop * 1000:.1f} ms"
    )
    assert noop < 0.25
    assert second_open < first_open


def test_reattach_picks_up_receipts_of_takes_saved_after_them(
    open_store: OpenStore, make_receipt: MakeReceipt, film: Project
) -> None:
    store = open_store()
    take = film.scenes[0].beats[0].takes[0]
    ids = {"take_id": take.take_id, "workflow_step_id": "keyframe"}
    done = make_receipt(provenance=ids)
    store.index_receipt(done)  # the receipt came first, then the crash; the take is re-planned
    store.save_project(film)
    assert store.reattach() == 1
    assert store.reattach() == 0
    loaded = store.load_project()
    assert loaded is not None
    assert loaded.scenes[0].beats[0].takes[0].workflow.steps[0].receipt == done


def test_purge_forgets_the_project_but_the_log_rebuilds_it(
    open_store: OpenStore, make_receipt: MakeReceipt, project_dir: Path, film: Project
) -> None:
    """SPEC 3: the log is the source of truth: its receipts and the takes it planned come back."""
    store = open_store()
    store.save_project(film)
    made = [make_receipt() for _ in range(2)]
    append(project_dir, *made)
    assert store.reconcile() == 2
    store.purge()
    assert store.load_project() is None
    assert store.receipts() == []
    takes = [t.take_id for beat in film.beats() for t in beat.takes]
    assert store.reconcile() == 2 + len(takes)  # the receipts and each take's ``take`` record
    assert store.receipts() == made
    rebuilt = store.load_project()
    assert rebuilt is not None
    assert [t.take_id for beat in rebuilt.beats() for t in beat.takes] == takes
