"""An animated image (WebP, GIF) as an H.264 MP4 for the cut."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from recoil.errors import ProviderError
from recoil.media.animated import animated_to_mp4
from recoil.media.probe import probe


def _animated(fmt: str, size: tuple[int, int], frames: int, duration_ms: int) -> bytes:
    images = [Image.new("RGB", size, (40 * i % 256, 90, 200)) for i in range(frames)]
    buffer = io.BytesIO()
    images[0].save(
        buffer, fmt, save_all=True, append_images=images[1:], duration=duration_ms, loop=0
    )
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("fmt", "fps", "duration_ms"), [("WEBP", 8.0, 125), ("GIF", 10.0, 100), ("WEBP", 16.0, 62)]
)
def test_every_frame_at_the_rate_it_was_saved_at(fmt: str, fps: float, duration_ms: int) -> None:
    data = _animated(fmt, (48, 32), 5, duration_ms)
    facts = probe(animated_to_mp4(data, fps=fps), "video/mp4")
    assert (facts["codec"], facts["frames"], facts["fps"]) == ("h264", 5, fps)
    assert (facts["width"], facts["height"]) == (48, 32)


def test_without_a_rate_the_frame_duration_gives_it() -> None:
    facts = probe(animated_to_mp4(_animated("WEBP", (32, 32), 3, 125)), "video/mp4")
    assert (facts["frames"], facts["fps"]) == (3, 8.0)


def test_an_odd_size_loses_its_last_row_and_column() -> None:
    """H.264 in yuv420p needs even sides."""
    facts = probe(animated_to_mp4(_animated("WEBP", (33, 25), 2, 100)), "video/mp4")
    assert (facts["width"], facts["height"]) == (32, 24)


def test_the_same_file_gives_the_same_bytes() -> None:
    data = _animated("WEBP", (32, 32), 4, 100)
    assert animated_to_mp4(data) == animated_to_mp4(data)


def test_a_file_that_is_not_an_image_is_a_permanent_provider_error() -> None:
    with pytest.raises(ProviderError, match="not an animated image") as info:
        animated_to_mp4(b"<html>502</html>")
    assert not info.value.retryable
