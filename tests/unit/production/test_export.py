"""``recoil export`` of a project: per-beat segments cached in the project between exports."""

from __future__ import annotations

from pathlib import Path

import av

import recoil
from tests.unit.production.conftest import Doors


def test_after_an_approval_only_that_beats_segment_is_encoded_again(doors: Doors) -> None:
    folder = doors(2)
    handle = recoil.open_project(folder)
    outcome = handle.run()
    assert outcome.exit_code == 0, outcome.failures
    first = outcome.export
    assert first is not None and first.written
    assert first.encoded == ("a", "b")
    segments = sorted((folder / "cache" / "segments").glob("*.mp4"))
    assert len(segments) == 2

    beat_a = next(row for row in handle.status() if row.beat_id == "a")
    other = next(take for take in beat_a.takes if take.take_id != beat_a.primary_take_id)
    handle.approve(other.take_id)
    again = handle.export()

    assert again.written and again.encoded == ("a",)
    kept = sorted((folder / "cache" / "segments").glob("*.mp4"))
    assert len(kept) == 2 and len(set(kept) & set(segments)) == 1, "b's segment is kept"
    with av.open(str(folder / "exports" / "cut.mp4")) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == 2 * 12  # two one-second beats at 12 fps
    assert handle.export().written is False


def test_the_exports_list_every_contact_page(doors: Doors) -> None:
    folder = doors(1)
    outcome = recoil.open_project(folder).run()

    assert outcome.export is not None
    names = [Path(path).name for path in outcome.export.outputs]
    assert names == ["cut.mp4", "cut.otio", "contact.html", "contact.png"]
