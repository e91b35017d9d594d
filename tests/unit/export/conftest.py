"""Tiny real media (H.264 MP4s, WAV tones, PNG keyframes) and edits built from them."""

from __future__ import annotations

import wave
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from recoil.export import BeatCut, Edit, ReviewNote, TakeMedia

MakeVideo = Callable[..., Path]
MakeWav = Callable[..., Path]
MakeKeyframe = Callable[..., Path]


def write_video(
    path: Path,
    *,
    color: tuple[int, int, int],
    seconds: float,
    fps: int = 24,
    size: tuple[int, int] = (160, 90),
) -> Path:
    """An H.264 MP4 of one flat colour with a frame counter bar, ``seconds`` long."""
    width, height = size
    count = round(seconds * fps)
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18"}
        for index in range(count):
            pixels = np.empty((height, width, 3), dtype=np.uint8)
            pixels[:] = color
            pixels[: height // 8, : max(1, width * (index + 1) // count)] = 255
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def write_pcm(path: Path, samples: Any, *, channels: int, rate: int) -> Path:
    """A 16-bit WAV of ``samples`` (int16, channels interleaved)."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.asarray(samples, dtype="<i2").tobytes())
    return path


def write_wav(path: Path, *, seconds: float, rate: int = 22050, hz: float = 440.0) -> Path:
    """A mono 16-bit WAV sine tone at half scale."""
    t = np.arange(round(seconds * rate)) / rate
    return write_pcm(path, np.sin(2 * np.pi * hz * t) * 16384, channels=1, rate=rate)


@pytest.fixture
def make_video(tmp_path: Path) -> MakeVideo:
    def make(name: str, **kwargs: object) -> Path:
        return write_video(tmp_path / name, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture
def make_wav(tmp_path: Path) -> MakeWav:
    def make(name: str, **kwargs: object) -> Path:
        return write_wav(tmp_path / name, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture
def make_keyframe(tmp_path: Path) -> MakeKeyframe:
    def make(name: str, color: tuple[int, int, int]) -> Path:
        path = tmp_path / name
        Image.new("RGB", (160, 90), color).save(path)
        return path

    return make


@pytest.fixture
def edit(make_video: MakeVideo, make_wav: MakeWav, make_keyframe: MakeKeyframe) -> Edit:
    """Three beats over two scenes: a 2-take beat, a beat with no primary, a 3-take beat."""
    b1t0 = TakeMedia(
        take_id="b01-t00",
        take_index=0,
        status="succeeded",
        video=make_video("b01-t00.mp4", color=(200, 30, 30), seconds=2.0),
        audio=make_wav("b01-t00.wav", seconds=1.0),
        keyframe=make_keyframe("b01-t00.png", (200, 30, 30)),
        review_status="approved",
        notes=(
            ReviewNote(author="ana", text="Keep <this> & that", created_at="2025-01-02T03:04:05Z"),
        ),
        receipt_id="r-1",
        seed=11,
        provider="previz",
        model="storyboard-1",
        prompt_sha256="a" * 64,
        score=0.8,
        cost=0.25,
    )
    b1t1 = TakeMedia(
        take_id="b01-t01",
        take_index=1,
        status="succeeded",
        video=make_video("b01-t01.mp4", color=(30, 200, 30), seconds=1.0),
        review_status="retake",
        notes=(
            ReviewNote(author="bo", text="too dark", created_at="2025-01-02T03:05:00Z", frame=12),
        ),
        score=0.4,
        cost=0.25,
    )
    b2t0 = TakeMedia(take_id="b02-t00", take_index=0, status="failed")
    b3 = [
        TakeMedia(
            take_id=f"b03-t{i:02d}",
            take_index=i,
            status="succeeded",
            video=make_video(f"b03-t{i:02d}.mp4", color=(30, 30, 60 * (i + 1)), seconds=1.5),
            audio=make_wav(f"b03-t{i:02d}.wav", seconds=3.0, rate=44100, hz=220.0),
            score=0.5 + i / 10,
        )
        for i in range(3)
    ]
    return Edit(
        title="Night <shift>",
        fps=24,
        width=160,
        height=90,
        beats=(
            BeatCut(
                scene_id="s01",
                beat_id="b01",
                title="Ana opens the door",
                duration_s=1.5,
                primary=b1t0,
                alternates=(b1t1,),
                primary_strategy="first_success",
            ),
            BeatCut(
                scene_id="s01", beat_id="b02", title="Silence", duration_s=1.0, alternates=(b2t0,)
            ),
            BeatCut(
                scene_id="s02",
                beat_id="b03",
                title="Wide street",
                duration_s=2.0,
                primary=b3[2],
                alternates=(b3[0], b3[1]),
                primary_strategy="score",
            ),
        ),
    )
