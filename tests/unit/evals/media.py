"""Real media for the scorer tests: textured pictures, H.264 clips, PCM WAV tones."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterable, Sequence
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from recoil.media.h264 import CODEC, PIXEL_FORMAT, x264_options
from recoil.providers.previz.frame import render_keyframe


def texture(width: int, height: int, *, seed: int = 0) -> Image.Image:
    """A picture with natural-image statistics: 1/f noise in colour, with shapes on it."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    falloff = 1.0 / np.maximum(np.hypot(fx, fy), 1.0 / max(width, height))
    channels = []
    for _ in range(3):
        spectrum = falloff * np.exp(2j * np.pi * rng.random(falloff.shape))
        field = np.fft.irfft2(spectrum, s=(height, width))
        field = (field - field.min()) / (np.ptp(field) or 1.0)
        channels.append(40 + 170 * field)
    picture = Image.fromarray(np.stack(channels, axis=-1).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    for _ in range(12):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(4, max(5, width // 8)))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse((x - r, y - r, x + r, y + r), outline=colour, width=2)
    draw.text((width // 10, height // 10), "RECOIL 1234", fill=(250, 250, 250))
    return picture


def previz_keyframe(width: int = 640, height: int = 360, *, seed: int = 3) -> Image.Image:
    """A storyboard frame as recoil's previz renderer draws it."""
    png = render_keyframe(
        prompt="a red door in the rain",
        seed=seed,
        width=width,
        height=height,
        shot={"size": "wide", "characters": [{"name": "Ana"}]},
    )
    return Image.open(io.BytesIO(png)).convert("RGB")


def save(image: Image.Image, path: Path) -> Path:
    """Write ``image`` to ``path`` (format from the extension)."""
    image.save(path)
    return path


def pan(
    image: Image.Image, frames: int, *, size: tuple[int, int], step: int = 2
) -> list[Image.Image]:
    """Frames of a camera panning right over ``image``, ``step`` pixels a frame."""
    width, height = size
    return [image.crop((i * step, 0, i * step + width, height)) for i in range(frames)]


def brighten_every_other(frames: Sequence[Image.Image], amount: int) -> list[Image.Image]:
    """Every odd frame ``amount`` levels brighter: flicker."""
    out = list(frames)
    for i in range(1, len(out), 2):
        pixels = np.asarray(out[i], dtype=np.int16) + amount
        out[i] = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    return out


def write_clip(path: Path, frames: Iterable[Image.Image], *, fps: int = 24) -> Path:
    """An H.264 MP4 of ``frames``, encoded as recoil encodes clips."""
    frames = list(frames)
    width, height = frames[0].size
    with av.open(str(path), "w") as container:
        stream = container.add_stream(CODEC, rate=fps, options=dict(x264_options()))
        stream.width, stream.height, stream.pix_fmt = width, height, PIXEL_FORMAT
        stream.codec_context.thread_count = 1
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_image(frame)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def sine(
    *, dbfs: float, seconds: float, rate: int = 48_000, channels: int = 2, hz: float = 1000.0
) -> NDArray[np.float64]:
    """A sine of peak level ``dbfs`` on every channel, shape (samples, channels)."""
    t = np.arange(round(seconds * rate)) / rate
    wave_ = 10 ** (dbfs / 20) * np.sin(2 * np.pi * hz * t)
    return np.repeat(wave_[:, None], channels, axis=1)


def write_wav(path: Path, samples: NDArray[np.float64], *, rate: int = 48_000) -> Path:
    """A 16-bit PCM WAV of ``samples`` (shape (n, channels), full scale 1.0)."""
    samples = np.atleast_2d(samples.T).T
    codes = np.clip(np.round(samples * 32768), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(samples.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(codes.tobytes())
    return path
