from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from recoil.errors import StoreError, ValidationError
from recoil.export import BeatCut, Edit, TakeMedia, write_cut
from recoil.export.segment import plan_segments

MakeMedia = Callable[..., Path]


def decode(path: Path) -> tuple[list[Any], Any, dict[str, str]]:
    """Every video frame as RGB, the audio as (channels, samples), the codec per stream type."""
    with av.open(str(path)) as container:
        codecs = {str(s.type): s.codec_context.name for s in container.streams}
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    with av.open(str(path)) as container:
        audio = np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)
    return frames, audio, codecs


def rms(samples: Any) -> float:
    return float(np.sqrt(np.mean(np.square(samples))))


def test_cut_has_h264_video_and_aac_audio_of_the_planned_length(edit: Edit, tmp_path: Path) -> None:
    report = write_cut(edit, tmp_path / "out" / "cut.mp4")

    frames, audio, codecs = decode(report.path)
    assert codecs == {"video": "h264", "audio": "aac"}
    assert report.frames == len(frames) == 36 + 24 + 48
    assert report.duration_s == pytest.approx(4.5)
    assert report.beats == 3
    assert frames[0].shape == (90, 160, 3)
    # AAC pads its last frame; the track still ends within one video frame of the cut.
    assert abs(audio.shape[1] / edit.sample_rate - 4.5) <= 1 / edit.fps
    with av.open(str(report.path)) as container:
        video, sound = container.streams.video[0], container.streams.audio[0]
        assert video.duration is not None and video.time_base is not None
        assert float(video.duration * video.time_base) == pytest.approx(4.5)
        assert sound.sample_rate == 48000
        assert sound.duration is not None and sound.time_base is not None
        assert abs(float(sound.duration * sound.time_base) - 4.5) <= 1 / edit.fps
        keyframes = sum(packet.is_keyframe for packet in container.demux(video))
    # The cut picks its own frame types: a held source keyframe must not repeat as keyframes.
    assert keyframes <= len(edit.beats) + 1
    assert list((tmp_path / "out").iterdir()) == [report.path]
    assert report.path.stat().st_mode & 0o777 == 0o644


def test_each_beat_shows_its_primary_take_and_a_missing_beat_is_captioned_black(
    edit: Edit, tmp_path: Path
) -> None:
    report = write_cut(edit, tmp_path / "cut.mp4")
    frames, _, _ = decode(report.path)

    assert report.missing == ("b02",)
    centre = (slice(40, 80), slice(10, 30))  # below the counter bar, left of any caption
    assert np.allclose(frames[10][centre].mean(axis=(0, 1)), (200, 30, 30), atol=12)
    hole = frames[36 + 12]
    assert hole[centre].max() < 30
    assert hole[30:60, 40:120].max() > 150, "the MISSING caption is drawn"
    assert np.allclose(frames[60 + 10][centre].mean(axis=(0, 1)), (30, 30, 180), atol=12)


def test_long_takes_are_cut_and_short_takes_hold_their_last_frame(
    edit: Edit, tmp_path: Path
) -> None:
    frames, _, _ = decode(write_cut(edit, tmp_path / "cut.mp4").path)

    bar = (slice(2, 9), slice(None))  # the source's frame-counter bar grows to full width

    def bar_fill(frame: Any) -> float:
        return float((frame[bar].min(axis=2) > 200).mean())

    # b01: a 2 s take cut to 1.5 s, so its bar stops at three quarters.
    assert bar_fill(frames[35]) == pytest.approx(0.75, abs=0.05)
    # b03: a 1.5 s take held to 2 s, so the full bar repeats for the last half second.
    assert bar_fill(frames[60 + 36]) > 0.97
    assert np.abs(frames[60 + 40].astype(int) - frames[-1]).mean() < 1


def test_audio_is_placed_at_each_beat_padded_and_trimmed(edit: Edit, tmp_path: Path) -> None:
    _, audio, _ = decode(write_cut(edit, tmp_path / "cut.mp4").path)
    rate = edit.sample_rate

    def window(start_s: float, end_s: float) -> Any:
        return audio[:, round(start_s * rate) : round(end_s * rate)]

    assert audio.shape[0] == 2
    assert rms(window(0.05, 0.95)) > 0.2  # b01's 1 s tone at half scale
    assert rms(window(1.05, 1.45)) < 0.01  # then silence to the end of its 1.5 s
    assert rms(window(1.55, 2.45)) < 0.01  # b02 has no take
    assert rms(window(2.55, 4.45)) > 0.2  # b03's 3 s tone trimmed to 2 s


def test_the_same_edit_gives_the_same_bytes(edit: Edit, tmp_path: Path) -> None:
    first = write_cut(edit, tmp_path / "a.mp4")
    second = write_cut(edit, tmp_path / "b.mp4")

    assert first.path.read_bytes() == second.path.read_bytes()


def test_other_aspect_ratios_are_letterboxed_and_other_rates_keep_their_speed(
    make_video: MakeMedia, tmp_path: Path
) -> None:
    square = make_video("square.mp4", color=(30, 200, 30), seconds=1.0, fps=12, size=(90, 90))
    take = TakeMedia(take_id="t", take_index=0, status="succeeded", video=square)
    edit = Edit(
        title="t",
        fps=24,
        width=160,
        height=90,
        beats=(BeatCut(scene_id="s", beat_id="b", duration_s=1.0, primary=take),),
    )

    frames, _, _ = decode(write_cut(edit, tmp_path / "cut.mp4").path)

    assert len(frames) == 24
    assert frames[5][:, :30].max() < 30, "pillarbox bars"
    assert np.allclose(frames[5][50:80, 60:100].mean(axis=(0, 1)), (30, 200, 30), atol=12)
    # At 12 fps each source frame shows for two cut frames; halfway the bar is half full.
    half = (frames[12][2:9, 35:125].min(axis=2) > 200).mean()
    assert half == pytest.approx(0.5, abs=0.1)
    # Lossy coding: a repeated frame decodes nearly, not exactly, the same.
    assert np.abs(frames[12].astype(int) - frames[13]).mean() < 1


def test_a_primary_whose_video_is_gone_becomes_a_hole(edit: Edit, tmp_path: Path) -> None:
    beat = edit.beats[0]
    assert beat.primary is not None and beat.primary.video is not None
    beat.primary.video.unlink()

    report = write_cut(edit, tmp_path / "cut.mp4")

    assert report.missing == ("b01", "b02")
    assert report.frames == edit.frames


def test_an_undecodable_video_is_a_store_error_and_leaves_nothing_behind(
    edit: Edit, tmp_path: Path
) -> None:
    beat = edit.beats[0]
    assert beat.primary is not None and beat.primary.video is not None
    beat.primary.video.write_bytes(b"not a video at all")
    out = tmp_path / "out"

    with pytest.raises(StoreError, match=r"b01-t00\.mp4"):
        write_cut(edit, out / "cut.mp4")
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("frames", [1, 2, 3])
def test_a_first_beat_too_short_to_reorder_frames_still_joins_the_rest(
    edit: Edit, tmp_path: Path, frames: int
) -> None:
    # Its segment has no B-frames, the later ones do: the join must go by what the encoder
    # declares, not by what the first file happens to hold.
    first = dataclasses.replace(edit.beats[0], duration_s=frames / edit.fps)
    short = dataclasses.replace(edit, beats=(first, *edit.beats[1:]))

    report = write_cut(short, tmp_path / "cut.mp4")

    decoded, _, _ = decode(report.path)
    assert report.frames == len(decoded) == frames + 24 + 48


def test_undecodable_take_audio_stops_the_segments_under_way_and_leaves_nothing_half_made(
    edit: Edit, tmp_path: Path
) -> None:
    take = edit.beats[2].primary
    assert take is not None and take.audio is not None
    take.audio.write_bytes(b"RIFF, but not a WAV")
    out, cache = tmp_path / "out", tmp_path / "segments"

    with pytest.raises(StoreError, match=take.audio.name):
        write_cut(edit, out / "cut.mp4", segments=cache)

    assert list(out.iterdir()) == []
    assert not [path for path in cache.iterdir() if path.name.endswith(".tmp")]
    assert not [t for t in threading.enumerate() if t.name.startswith("recoil-encode")]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_damaged_segment_in_the_cache_is_encoded_again(
    edit: Edit, tmp_path: Path, damage: str
) -> None:
    cache = tmp_path / "segments"
    first = write_cut(edit, tmp_path / "first.mp4", segments=cache)
    segment = plan_segments(edit, cache).jobs[1].path
    whole = segment.read_bytes()
    segment.write_bytes(
        {"garbage": b"not a segment" * 100, "truncated": whole[: len(whole) // 3], "empty": b""}[
            damage
        ]
    )

    report = write_cut(edit, tmp_path / "second.mp4", segments=cache)

    assert report.encoded == (edit.beats[1].beat_id,)
    assert report.path.read_bytes() == first.path.read_bytes()
    assert segment.read_bytes() == whole


def test_an_edit_without_beats_is_refused(edit: Edit, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no beats"):
        write_cut(dataclasses.replace(edit, beats=()), tmp_path / "cut.mp4")


def test_five_three_second_beats_at_360p_cut_quickly(
    make_video: MakeMedia, make_wav: MakeMedia, tmp_path: Path
) -> None:
    beats = tuple(
        BeatCut(
            scene_id="s",
            beat_id=f"b{i}",
            duration_s=3.0,
            primary=TakeMedia(
                take_id=f"t{i}",
                take_index=0,
                status="succeeded",
                video=make_video(
                    f"v{i}.mp4", color=(40 * i, 90, 120), seconds=3.0, size=(640, 360)
                ),
                audio=make_wav(f"a{i}.wav", seconds=2.0),
            ),
        )
        for i in range(5)
    )
    edit = Edit(title="speed", fps=24, width=640, height=360, beats=beats)

    started = time.perf_counter()
    report = write_cut(edit, tmp_path / "cut.mp4")
    elapsed = time.perf_counter() - started

    assert report.frames == 360
    # Faster than the cut plays (15 s), with room for a slow or busy machine.
    assert elapsed < report.duration_s, f"a {report.duration_s:g} s cut took {elapsed:.2f} s"
