from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import opentimelineio as otio
import pytest

from recoil.errors import StoreError, ValidationError
from recoil.export import Edit, Extent, build_timeline, write_timeline

RT = otio.opentime.RationalTime


def read(path: Path) -> Any:
    return otio.adapters.read_from_file(str(path))


def tracks(timeline: Any) -> tuple[Any, Any]:
    video, audio = timeline.tracks
    assert (video.name, video.kind) == ("V1", otio.schema.TrackKind.Video)
    assert (audio.name, audio.kind) == ("A1", otio.schema.TrackKind.Audio)
    return video, audio


def test_one_clip_per_beat_with_the_primary_active_and_the_other_takes_as_alternates(
    edit: Edit, tmp_path: Path
) -> None:
    timeline = read(write_timeline(edit, tmp_path / "cut.otio"))
    video, _ = tracks(timeline)

    clips = list(video)
    assert [clip.name for clip in clips] == ["s01/b01", "s01/b02", "s02/b03"]
    for clip, beat in zip(clips, edit.beats, strict=True):
        references = dict(clip.media_references())
        assert clip.active_media_reference_key == "DEFAULT_MEDIA"
        alternates = {key: ref.name for key, ref in references.items() if key != "DEFAULT_MEDIA"}
        assert alternates == {
            f"take_{take.take_index + 1:02d}": take.take_id for take in beat.alternates
        }
        assert list(clip.metadata["recoil"]["alternates"]) == [t.take_id for t in beat.alternates]
        assert clip.source_range.duration == RT(edit.beat_frames(beat), 24)

    primary = clips[0].media_reference
    assert isinstance(primary, otio.schema.ExternalReference)
    assert primary.target_url == edit.beats[0].primary.video.resolve().as_uri()  # type: ignore[union-attr]
    assert primary.available_range.duration.to_seconds() == pytest.approx(2.0)
    assert primary.metadata["recoil"]["take_id"] == "b01-t00"
    assert dict(clips[2].media_references())["take_01"].metadata["recoil"]["score"] == 0.5


def test_recoil_ids_are_in_the_metadata(edit: Edit, tmp_path: Path) -> None:
    timeline = read(write_timeline(edit, tmp_path / "cut.otio"))
    video, _ = tracks(timeline)

    assert timeline.metadata["recoil"] == {
        "title": "Night <shift>",
        "fps": 24,
        "width": 160,
        "height": 90,
        "sample_rate": 48000,
    }
    meta = video[0].metadata["recoil"]
    assert {k: meta[k] for k in ("scene_id", "beat_id", "take_id", "receipt_id", "seed")} == {
        "scene_id": "s01",
        "beat_id": "b01",
        "take_id": "b01-t00",
        "receipt_id": "r-1",
        "seed": 11,
    }
    assert meta["prompt_sha256"] == "a" * 64
    assert (meta["provider"], meta["model"]) == ("previz", "storyboard-1")
    assert (meta["primary_strategy"], meta["score"], meta["review_status"]) == (
        "first_success",
        0.8,
        "approved",
    )
    assert meta["missing"] is False
    assert video[2].metadata["recoil"]["primary_strategy"] == "score"


def test_both_tracks_last_as_long_as_the_cut(edit: Edit, tmp_path: Path) -> None:
    timeline = read(write_timeline(edit, tmp_path / "cut.otio"))
    video, audio = tracks(timeline)

    assert timeline.duration().to_seconds() == pytest.approx(4.5)
    assert video.duration() == audio.duration() == RT(108, 24)


def test_a_beat_without_a_take_is_a_visible_missing_clip_of_its_planned_length(
    edit: Edit, tmp_path: Path
) -> None:
    video, audio = tracks(read(write_timeline(edit, tmp_path / "cut.otio")))

    hole = video[1]
    assert isinstance(hole, otio.schema.Clip)
    assert isinstance(hole.media_reference, otio.schema.MissingReference)
    assert hole.media_reference.available_range.duration == RT(24, 24)
    assert hole.metadata["recoil"]["missing"] is True
    assert hole.metadata["recoil"]["take_id"] is None
    assert [(m.name, m.color) for m in hole.markers] == [("MISSING: b02", "MAGENTA")]
    assert isinstance(audio[2], otio.schema.Gap)


def test_review_status_and_scenes_are_markers(edit: Edit, tmp_path: Path) -> None:
    video, _ = tracks(read(write_timeline(edit, tmp_path / "cut.otio")))

    first = {m.name: m for m in video[0].markers}
    assert first["s01"].color == "CYAN"
    assert first["approved: b01-t00"].color == "GREEN"
    assert first["approved: b01-t00"].comment == "ana: Keep <this> & that"
    assert [m.name for m in video[2].markers] == ["s02"], "a pending take without notes"


def test_retake_with_a_note_on_a_frame_is_a_red_marker(edit: Edit, tmp_path: Path) -> None:
    beat = edit.beats[0]
    swapped = type(beat)(
        scene_id=beat.scene_id,
        beat_id=beat.beat_id,
        duration_s=beat.duration_s,
        primary=beat.alternates[0],
        alternates=(beat.primary,),  # type: ignore[arg-type]
        primary_strategy="manual",
    )
    timeline = build_timeline(Edit(title="t", fps=24, width=160, height=90, beats=(swapped,)))

    (marker,) = [m for m in timeline.tracks[0][0].markers if m.color == "RED"]
    assert marker.name == "retake: b01-t01"
    assert marker.comment == "bo [frame 12]: too dark"
    assert marker.metadata["recoil"]["notes"][0]["frame"] == 12


def test_audio_follows_the_primary_take_and_is_padded_with_gaps(edit: Edit, tmp_path: Path) -> None:
    _, audio = tracks(read(write_timeline(edit, tmp_path / "cut.otio")))

    items = [(type(item).__name__, item.duration().value) for item in audio]
    # b01: 1 s of audio in a 1.5 s beat; b02: nothing; b03: 3 s of audio trimmed to 2 s.
    assert items == [("Clip", 24), ("Gap", 12), ("Gap", 24), ("Clip", 48)]
    wav = audio[0].media_reference
    assert wav.target_url.endswith("b01-t00.wav")
    assert wav.available_range.duration.to_seconds() == pytest.approx(1.0)
    assert audio[3].metadata["recoil"]["take_id"] == "b03-t02"


def test_clip_schema_1_keeps_the_active_take_and_lists_alternates_in_metadata(
    edit: Edit, tmp_path: Path
) -> None:
    path = write_timeline(edit, tmp_path / "cut_v1.otio", clip_schema=1)

    text = path.read_text()
    assert '"Clip.1"' in text and '"Clip.2"' not in text
    video, _ = tracks(read(path))
    assert video[0].media_reference.name == "b01-t00"
    assert video[0].metadata["recoil"]["alternate_media"] == {
        "take_02": edit.beats[0].alternates[0].video.resolve().as_uri()  # type: ignore[union-attr]
    }


def test_writes_are_atomic_and_repeatable(edit: Edit, tmp_path: Path) -> None:
    out = tmp_path / "exports" / "cut.otio"
    first = write_timeline(edit, out).read_bytes()
    second = write_timeline(edit, out).read_bytes()

    assert first == second
    assert json.loads(first)["OTIO_SCHEMA"] == "Timeline.1"
    assert list(out.parent.iterdir()) == [out]


def test_an_unreadable_take_file_is_a_store_error(edit: Edit, tmp_path: Path) -> None:
    alternate = edit.beats[2].alternates[0]
    assert alternate.video is not None
    alternate.video.write_bytes(b"\x00" * 64)

    with pytest.raises(StoreError, match=r"b03-t00\.mp4"):
        write_timeline(edit, tmp_path / "cut.otio")
    assert not (tmp_path / "cut.otio").exists()


def test_a_suffix_without_an_adapter_is_refused_with_a_hint(edit: Edit, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="otio-cmx3600-adapter"):
        write_timeline(edit, tmp_path / "cut.nope")
    assert list(tmp_path.iterdir()) == [] or not (tmp_path / "cut.nope").exists()


def _beat_clips(track: Any) -> list[tuple[str, int]]:
    return [(item.name, round(item.duration().value)) for item in track]


def test_the_timeline_writes_as_a_cmx_3600_edl(edit: Edit, tmp_path: Path) -> None:
    """SPEC 11: convertible to EDL through OpenTimelineIO's adapter package."""
    out = write_timeline(edit, tmp_path / "cut.edl")
    text = out.read_text()
    assert text.startswith("TITLE: Night <shift>")
    back = otio.adapters.read_from_file(str(out), rate=24)
    (video,) = back.tracks
    expected = [(f"{b.scene_id}/{b.beat_id}", edit.beat_frames(b)) for b in edit.beats]
    assert _beat_clips(video) == expected
    first = video[0]
    assert first.media_reference.target_url == edit.beats[0].primary.video.resolve().as_uri()  # type: ignore[union-attr]
    assert {m.name for m in first.markers} == {"APPROVED: B01-T00", "S01"}
    assert isinstance(video[1].media_reference, otio.schema.MissingReference)


def test_the_timeline_writes_as_fcp_7_xml_with_its_audio(edit: Edit, tmp_path: Path) -> None:
    """SPEC 11: convertible to FCP XML; audio references count in timecode, not samples."""
    out = write_timeline(edit, tmp_path / "cut.xml")
    back = otio.adapters.read_from_file(str(out))
    video, audio = back.tracks
    expected = [(f"{b.scene_id}/{b.beat_id}", edit.beat_frames(b)) for b in edit.beats]
    assert _beat_clips(video) == expected
    assert video[0].media_reference.target_url.endswith("/b01-t00.mp4")
    assert audio.duration() == video.duration()
    heard = [item for item in audio if isinstance(item, otio.schema.Clip)]
    assert [clip.media_reference.target_url.rsplit("/", 1)[1] for clip in heard] == [
        "b01-t00.wav",
        "b03-t02.wav",
    ]
    assert [round(clip.duration().value) for clip in heard] == [24, 48]


def test_otioconvert_turns_the_written_otio_into_fcp_xml(edit: Edit, tmp_path: Path) -> None:
    """What a user runs on ``exports/cut.otio``: OpenTimelineIO's own converter."""
    source = write_timeline(edit, tmp_path / "cut.otio")
    converter = Path(sys.executable).with_name("otioconvert")
    for suffix in ("xml", "edl"):
        target = tmp_path / f"converted.{suffix}"
        done = subprocess.run(
            [str(converter), "-i", str(source), "-o", str(target)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "s02/b03" in target.read_text()


def test_a_frame_rate_timecode_cannot_count_is_refused_for_interchange(
    edit: Edit, tmp_path: Path
) -> None:
    twelve = dataclasses.replace(edit, fps=12)
    with pytest.raises(ValidationError, match="no 12 fps"):
        write_timeline(twelve, tmp_path / "cut.xml")
    assert not (tmp_path / "cut.xml").exists()
    write_timeline(twelve, tmp_path / "cut.otio")  # OpenTimelineIO itself takes any rate


def test_a_take_s_recorded_extent_is_its_length_and_without_one_the_file_is_probed(
    edit: Edit, tmp_path: Path
) -> None:
    beat = edit.beats[0]
    assert beat.primary is not None
    # 2 s of video and 1 s of sound on disk; recorded as 30 frames at 12 fps and 66,150
    # samples at 22,050 Hz.
    recorded = dataclasses.replace(
        beat.primary,
        video_extent=Extent(count=30, rate=12.0),
        audio_extent=Extent(count=66_150, rate=22_050.0),
    )
    told = dataclasses.replace(edit, beats=(dataclasses.replace(beat, primary=recorded),))

    probed_video, probed_audio = tracks(build_timeline(dataclasses.replace(edit, beats=(beat,))))
    told_video, told_audio = tracks(build_timeline(told))

    assert probed_video[0].media_reference.available_range.duration == RT(48, 24)
    assert told_video[0].media_reference.available_range.duration == RT(60, 24)
    assert probed_audio[0].media_reference.available_range.duration == RT(24, 24)
    assert told_audio[0].media_reference.available_range.duration == RT(72, 24)


@pytest.mark.parametrize(
    ("count", "rate"), [(-1, 24.0), (10, 0.0), (10, -24.0), (10, float("nan"))]
)
def test_an_extent_counts_something_at_a_positive_rate(count: int, rate: float) -> None:
    with pytest.raises(ValidationError, match="extent"):
        Extent(count=count, rate=rate)
