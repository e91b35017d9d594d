"""The log follower: a second process indexes the receipt log while a run appends to it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from recoil.model.receipt import Receipt
from recoil.records import codec
from recoil.records.log import ReceiptLog
from recoil.store import ProjectStore
from recoil.store.follower import LogFollower
from recoil.store.store import FOLLOW_MIN_RECORDS
from tests.helpers import wait_until

OpenStore = Callable[..., ProjectStore]
MakeReceipt = Callable[..., Receipt]


def test_the_store_is_current_during_a_run(
    open_store: OpenStore, make_receipt: MakeReceipt, project_dir: Path
) -> None:
    store = open_store()
    reader = open_store()
    receipts = [make_receipt() for _ in range(300)]
    with (
        store.following(FOLLOW_MIN_RECORDS) as follower,
        ReceiptLog(project_dir / "receipts.jsonl") as log,
    ):
        assert isinstance(follower, LogFollower)
        for receipt in receipts[:150]:
            log.append(codec.encode(receipt))
        # Indexed by the other process while the "run" goes on, before any reconcile.
        wait_until(lambda: len(reader.receipts()) == 150, what="the follower's 150 receipts")
        for receipt in receipts[150:]:
            log.append(codec.encode(receipt))
    store.reconcile()
    assert reader.receipts() == receipts  # each exactly once, in log order


def test_a_killed_follower_loses_nothing(
    open_store: OpenStore, make_receipt: MakeReceipt, project_dir: Path
) -> None:
    store = open_store()
    receipts = [make_receipt() for _ in range(400)]
    follower = store.following(FOLLOW_MIN_RECORDS)
    assert isinstance(follower, LogFollower)
    with follower, ReceiptLog(project_dir / "receipts.jsonl") as log:
        for receipt in receipts[:200]:
            log.append(codec.encode(receipt))
        wait_until(store.receipts, what="the follower's first receipts")
        assert follower._process is not None
        follower._process.kill()  # mid-way, maybe mid-transaction
        for receipt in receipts[200:]:
            log.append(codec.encode(receipt))
    assert store.reconcile() >= 200
    assert store.receipts() == receipts


def test_small_runs_start_no_process(open_store: OpenStore) -> None:
    store = open_store()
    with store.following(FOLLOW_MIN_RECORDS - 1) as follower:
        assert not isinstance(follower, LogFollower)


def test_the_database_url_is_not_on_the_command_line(project_dir: Path) -> None:
    url = "postgresql://user:s3cret-pass@127.0.0.1:1/none"
    follower = LogFollower(project_dir, url)
    with follower:
        assert follower._process is not None
        assert all("s3cret-pass" not in str(arg) for arg in follower._process.args)
