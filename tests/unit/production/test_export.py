"""``recoil export`` of a project: per-beat segments cached in the project between exports."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import av
import opentimelineio as otio

import recoil
from recoil.export import TakeMedia, build_timeline
from recoil.production.folder import open_production, open_store
from recoil.production.primaries import build_edit, reviews_of
from tests.helpers import beat, shotlist, write_project
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


def test_each_take_s_extent_comes_from_its_receipt_and_matches_the_file(tmp_path: Path) -> None:
    entries = [beat("a", "a door opens", says="Who is there?"), beat("b", "a door closes")]
    folder = write_project(
        tmp_path / "film", shotlist({"one": entries}, title="Doors", provider="fake")
    )
    assert recoil.open_project(folder).run().exit_code == 0
    production = open_production(folder)
    with open_store(production) as store:
        project = store.load_project()
        assert project is not None
        edit = build_edit(project, reviews_of(store), locate=production.artifacts.locate)
    takes = [take for beat in edit.beats for take in beat.takes]
    assert takes and all(take.video_extent is not None for take in takes)
    assert any(take.audio_extent is not None for take in takes)
    probed = dataclasses.replace(
        edit,
        beats=tuple(
            dataclasses.replace(
                beat,
                primary=None if beat.primary is None else unrecorded(beat.primary),
                alternates=tuple(unrecorded(take) for take in beat.alternates),
            )
            for beat in edit.beats
        ),
    )

    assert otio.adapters.write_to_string(build_timeline(edit)) == otio.adapters.write_to_string(
        build_timeline(probed)
    ), "the timeline from the receipts' facts is the one the files give"


def unrecorded(take: TakeMedia) -> TakeMedia:
    return dataclasses.replace(take, video_extent=None, audio_extent=None)


def test_an_export_keeps_the_thumbnails_of_its_sheet_only(doors: Doors) -> None:
    folder = doors(2)
    handle = recoil.open_project(folder)
    assert handle.run().exit_code == 0
    thumbnails = folder / "cache" / "thumbnails"
    first = {path.name: path.stat().st_mtime_ns for path in thumbnails.iterdir()}
    takes = sum(len(row.takes) for row in handle.status())
    assert len(first) == takes, "one thumbnail a take"

    (folder / "exports" / "contact.png").unlink()  # the page is drawn again
    assert handle.export().written

    again = {path.name: path.stat().st_mtime_ns for path in thumbnails.iterdir()}
    assert again == first, "the page read its thumbnails back; none was made again"
