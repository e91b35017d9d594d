"""The cut as per-beat segments: frame-exact, deterministic, cached, and joined without seams."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from recoil.errors import StoreError
from recoil.export import BeatCut, Edit, TakeMedia, write_cut
from tests.unit.export.conftest import MakeVideo, write_pcm

RATE = 48000


def video_packets(path: Path) -> list[tuple[int, bool]]:
    """Each video packet's frame index (by pts) and whether it is a keyframe, in pts order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = stream.average_rate or Fraction(24)
        base = stream.time_base or Fraction(1)
        found = [
            (round(packet.pts * base * fps), packet.is_keyframe)
            for packet in container.demux(stream)
            if packet.pts is not None and packet.size
        ]
    return sorted(found)


def decoded_audio(path: Path) -> Any:
    with av.open(str(path)) as container:
        return np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)


def segment_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix == ".mp4")


@pytest.fixture
def beats(make_video: MakeVideo) -> tuple[BeatCut, ...]:
    """Four beats of different lengths (one of a single frame) and colours, one a hole."""
    colors = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)]
    durations = [1.5, 1 / 24, 1.0, 0.75]
    found = []
    for index, (color, seconds) in enumerate(zip(colors, durations, strict=True)):
        video = make_video(f"v{index}.mp4", color=color, seconds=max(seconds, 0.5))
        take = TakeMedia(take_id=f"t{index}", take_index=0, status="succeeded", video=video)
        primary = None if index == 2 else take
        found.append(
            BeatCut(scene_id="s", beat_id=f"b{index}", duration_s=seconds, primary=primary)
        )
    return tuple(found)


def test_the_cut_is_frame_exact_and_each_beat_starts_on_a_keyframe(
    beats: tuple[BeatCut, ...], tmp_path: Path
) -> None:
    edit = Edit(title="segments", fps=24, width=160, height=90, beats=beats)

    report = write_cut(edit, tmp_path / "cut.mp4", segments=tmp_path / "segments")

    packets = video_packets(report.path)
    assert report.frames == edit.frames == len(packets) == 36 + 1 + 24 + 18
    assert [index for index, _ in packets] == list(range(edit.frames)), "no gap, no repeat"
    keyframes = {index for index, key in packets if key}
    assert {0, 36, 37, 61} <= keyframes
    with av.open(str(report.path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == edit.frames
    centre = (slice(40, 80), slice(10, 30))
    for index, color in ((0, (200, 30, 30)), (36, (30, 200, 30)), (70, (200, 200, 30))):
        assert np.allclose(frames[index][centre].mean(axis=(0, 1)), color, atol=12), index
    assert frames[50][centre].max() < 30, "the hole is black"
    assert report.missing == ("b2",)


def test_the_same_edit_gives_the_same_bytes_with_or_without_the_cache_and_workers(
    beats: tuple[BeatCut, ...], tmp_path: Path
) -> None:
    edit = Edit(title="segments", fps=24, width=160, height=90, beats=beats)
    cache = tmp_path / "segments"

    fresh = write_cut(edit, tmp_path / "a.mp4", segments=cache, workers=2)
    cached = write_cut(edit, tmp_path / "b.mp4", segments=cache)
    alone = write_cut(edit, tmp_path / "c.mp4", workers=1)

    assert fresh.encoded == ("b0", "b1", "b2", "b3") and fresh.encoded_audio
    assert cached.encoded == () and not cached.encoded_audio
    assert fresh.path.read_bytes() == cached.path.read_bytes() == alone.path.read_bytes()


def test_after_one_change_only_that_beat_is_encoded_again(
    beats: tuple[BeatCut, ...], make_video: MakeVideo, tmp_path: Path
) -> None:
    edit = Edit(title="segments", fps=24, width=160, height=90, beats=beats)
    cache = tmp_path / "segments"
    write_cut(edit, tmp_path / "first.mp4", segments=cache)
    before = segment_files(cache)
    other = TakeMedia(
        take_id="t9",
        take_index=1,
        status="succeeded",
        video=make_video("v9.mp4", color=(30, 200, 200), seconds=1.0),
    )
    changed = dataclasses.replace(
        edit,
        beats=(edit.beats[0], dataclasses.replace(edit.beats[1], primary=other), *edit.beats[2:]),
    )

    report = write_cut(changed, tmp_path / "second.mp4", segments=cache)

    assert report.encoded == ("b1",) and not report.encoded_audio, "no beat has sound"
    after = segment_files(cache)
    assert len(after) == len(before) == 4, "the replaced beat's old segment is gone"
    assert len(set(before) & set(after)) == 3
    uncached = write_cut(changed, tmp_path / "uncached.mp4")
    assert report.path.read_bytes() == uncached.path.read_bytes()
    assert len(video_packets(report.path)) == changed.frames


def tone_wavs(folder: Path, seconds: list[float], hz: float = 440.0) -> list[Path]:
    """Consecutive slices of one continuous sine, one stereo WAV a beat (48 kHz, 16 bit)."""
    paths, start = [], 0
    for index, length in enumerate(seconds):
        count = round(length * RATE)
        t = (start + np.arange(count)) / RATE
        mono = (np.sin(2 * np.pi * hz * t) * 16384).astype("<i2")
        samples = np.repeat(mono, 2)  # stereo, so the cut's stereo mix leaves it as it is
        paths.append(write_pcm(folder / f"tone{index}.wav", samples, channels=2, rate=RATE))
        start += count
    return paths


def test_the_audio_is_continuous_across_segment_joins(
    make_video: MakeVideo, tmp_path: Path
) -> None:
    seconds = [0.5, 1.25, 1 / 24, 0.75, 1.0]
    wavs = tone_wavs(tmp_path, seconds)
    beats = tuple(
        BeatCut(
            scene_id="s",
            beat_id=f"b{index}",
            duration_s=length,
            primary=TakeMedia(
                take_id=f"t{index}",
                take_index=0,
                status="succeeded",
                video=make_video(f"v{index}.mp4", color=(90, 90, 90), seconds=1.0),
                audio=wav,
            ),
        )
        for index, (length, wav) in enumerate(zip(seconds, wavs, strict=True))
    )
    edit = Edit(title="tone", fps=24, width=160, height=90, sample_rate=RATE, beats=beats)

    report = write_cut(edit, tmp_path / "cut.mp4")

    audio = decoded_audio(report.path)[0]
    expected_n = round(sum(seconds) * RATE)
    # One AAC stream: its length is the cut's, give or take the encoder's last frame.
    assert abs(audio.shape[0] - expected_n) < 1024
    with av.open(str(report.path)) as container:
        sound = container.streams.audio[0]
        assert sound.duration is not None and sound.time_base is not None
        assert abs(float(sound.duration * sound.time_base) - report.duration_s) < 1024 / RATE
    n = min(audio.shape[0], expected_n)
    expected = 0.5 * np.sin(2 * np.pi * 440.0 * np.arange(n) / RATE)
    joins = np.cumsum([round(length * RATE) for length in seconds])[:-1]
    for join in joins:
        window = slice(join - 480, join + 480)
        # The decoded samples follow the one sine through every join: no gap, no
        # shift (a shift of one sample at 440 Hz is an error of 0.03), no click.
        assert np.abs(audio[window] - expected[window]).max() < 0.02, join
        steps = np.abs(np.diff(audio[window]))
        assert steps.max() < 0.05, join  # the sine moves at most 0.029 a sample
    assert np.abs(audio[1024 : n - 1024] - expected[1024 : n - 1024]).max() < 0.02


def test_a_take_that_does_not_decode_leaves_no_cut_and_no_half_made_piece(
    beats: tuple[BeatCut, ...], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)  # an MP4 header, no movie
    take = TakeMedia(take_id="t9", take_index=1, status="succeeded", video=broken)
    edit = Edit(
        title="segments",
        fps=24,
        width=160,
        height=90,
        beats=(*beats, BeatCut(scene_id="s", beat_id="b9", duration_s=1.0, primary=take)),
    )
    cache = tmp_path / "segments"

    with pytest.raises(StoreError, match=r"take video .*broken\.mp4"):
        write_cut(edit, tmp_path / "out" / "cut.mp4", segments=cache, workers=2)

    assert list((tmp_path / "out").iterdir()) == [], "no cut, no temporary cut"
    left = {p.name.split(".", 1)[1] for p in cache.iterdir()}
    assert left <= {"mp4", "m4a", "loud.json"}, "no temporary file is left"
    good = write_cut(dataclasses.replace(edit, beats=beats), tmp_path / "cut.mp4", segments=cache)
    assert good.frames == sum(edit.beat_frames(beat) for beat in beats)
