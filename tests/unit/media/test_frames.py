"""The last frame of a video, which a chained beat's keyframe starts from."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PIL import Image

from recoil.errors import ValidationError
from recoil.media.frames import last_frame
from recoil.model.provider_config import ProviderConfig
from recoil.model.requests import VideoRequest
from recoil.providers.fake import FakeProvider


def test_the_last_frame_is_written_once(tmp_path: Path) -> None:
    fake = FakeProvider(ProviderConfig())
    job = asyncio.run(fake.submit(VideoRequest(prompt="a door", width=160, height=90), "k"))
    state = job.result or asyncio.run(fake.check(job))
    video = tmp_path / "clip.mp4"
    video.write_bytes(state.outputs[0].data)
    frame = last_frame(video, tmp_path)
    assert frame == tmp_path / "clip-last.png"
    with Image.open(frame) as image:
        assert image.mode == "RGB" and image.width == 16  # the fake renders a tenth as wide
    stamp = frame.stat().st_mtime_ns
    assert last_frame(video, tmp_path).stat().st_mtime_ns == stamp  # kept, not redrawn


def test_an_unreadable_video_is_a_validation_error(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"this is not a media file")
    with pytest.raises(ValidationError, match=r"clip\.mp4: not a readable video"):
        last_frame(video, tmp_path)
    assert not (tmp_path / "clip-last.png").exists()
