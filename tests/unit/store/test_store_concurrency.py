"""Several connections writing one project at once, as a run and the review server do."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from recoil.model.receipt import Receipt
from recoil.model.take import Project
from recoil.store import ProjectStore, ReviewNote, ReviewStatus

OpenStore = Callable[..., ProjectStore]
MakeReceipt = Callable[..., Receipt]


def test_writers_in_parallel_lose_nothing(
    open_store: OpenStore, make_receipt: MakeReceipt, project_dir: Path, film: Project
) -> None:
    open_store().save_project(film)
    stores = [open_store(project_dir) for _ in range(4)]
    takes = [(s.scene_id, b.beat_id, t) for s in film.scenes for b in s.beats for t in b.takes]
    batches = [[make_receipt(run_id=f"w{n}") for _ in range(25)] for n in range(4)]

    def work(n: int) -> None:
        store = stores[n]
        for i, receipt in enumerate(batches[n]):
            store.index_receipt(receipt)
            scene_id, beat_id, take = takes[(n + i) % len(takes)]
            store.save_take(scene_id, beat_id, take)
            note = ReviewNote(author=f"w{n}", text=str(i), created_at="2025-01-01T00:00:00+00:00")
            store.set_review(take.take_id, ReviewStatus.RETAKE, note)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(work, range(4)))

    reader = stores[0]
    for n in range(4):
        assert reader.receipts(run_id=f"w{n}") == batches[n]
    assert sum(len(notes) for _, notes in reader.reviews().values()) == 100
    assert reader.load_project() == film
