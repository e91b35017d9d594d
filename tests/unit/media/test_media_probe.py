"""recoil.media.probe: facts of real files, and garbage rejected."""

from __future__ import annotations

import io
import wave

import av
import numpy as np
import pytest
from PIL import Image

from recoil.errors import ProviderError
from recoil.media.probe import MIME_EXT, extension_for, probe
from recoil.providers.previz.motion import encode_h264, yuv_frame


def png(width: int = 32, height: int = 20) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(out, format="PNG")
    return out.getvalue()


def mp4(frames: int = 12, fps: float = 24.0, size: tuple[int, int] = (64, 36)) -> bytes:
    pictures = (Image.new("RGB", size, (i * 10, 50, 90)) for i in range(frames))
    return encode_h264((yuv_frame(p) for p in pictures), width=size[0], height=size[1], fps=fps)


def wav(seconds: float = 0.5, rate: int = 16000, channels: int = 1) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(np.zeros(round(seconds * rate) * channels, "<i2").tobytes())
    return out.getvalue()


def test_png_facts() -> None:
    assert probe(png(32, 20), "image/png") == {"width": 32, "height": 20}


def test_mp4_facts() -> None:
    facts = probe(mp4(frames=12, fps=24.0), "video/mp4")
    assert facts == {
        "width": 64,
        "height": 36,
        "fps": 24.0,
        "duration_s": 0.5,
        "frames": 12,
        "codec": "h264",
        "has_audio": False,
    }


def test_wav_facts() -> None:
    assert probe(wav(0.5, 16000, 2), "audio/wav") == {
        "sample_rate": 16000,
        "channels": 2,
        "duration_s": 0.5,
    }


def flac(seconds: float = 0.5, rate: int = 16000) -> bytes:
    out = io.BytesIO()
    with av.open(out, "w", format="flac") as container:
        stream = container.add_stream("flac", rate=rate, layout="mono")
        samples = np.zeros((1, round(seconds * rate)), dtype=np.int16)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = rate
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out.getvalue()


def test_flac_facts() -> None:
    """ComfyUI's SaveAudio writes FLAC."""
    facts = probe(flac(0.5), "audio/flac")
    assert facts == {"sample_rate": 16000, "channels": 1, "duration_s": 0.5, "codec": "flac"}


def test_audio_in_another_container_than_declared_is_rejected() -> None:
    with pytest.raises(ProviderError, match="does not decode as audio/flac"):
        probe(wav(), "audio/flac")
    with pytest.raises(ProviderError, match="does not decode as audio/mpeg"):
        probe(flac(), "audio/mpeg")


def test_mime_parameters_and_aliases_are_understood() -> None:
    assert probe(wav(), "audio/x-wav; codecs=1")["sample_rate"] == 16000


def test_other_types_give_no_facts() -> None:
    assert probe(b'{"a": 1}', "application/json") == {}


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (b"<html>502 Bad Gateway</html>", "image/png"),
        (b"<html>502 Bad Gateway</html>", "video/mp4"),
        (b"<html>502 Bad Gateway</html>", "audio/wav"),
        (b"", "image/png"),
    ],
)
def test_garbage_is_a_permanent_provider_error(data: bytes, mime: str) -> None:
    with pytest.raises(ProviderError, match=f"does not decode as {mime}") as info:
        probe(data, mime)
    assert info.value.retryable is False


def test_truncated_files_are_rejected() -> None:
    with pytest.raises(ProviderError):
        probe(png()[:-20], "image/png")
    with pytest.raises(ProviderError):
        probe(wav(1.0)[:-1000], "audio/wav")
    with pytest.raises(ProviderError):
        probe(mp4()[:300], "video/mp4")


def test_a_png_declared_as_video_is_rejected() -> None:
    with pytest.raises(ProviderError):
        probe(png(), "video/mp4")


def test_extensions() -> None:
    assert MIME_EXT["image/png"] == "png"
    assert extension_for("video/mp4") == "mp4"
    assert extension_for("audio/wav") == "wav"
    assert extension_for("image/jpeg") == "jpg"
    assert extension_for("AUDIO/X-WAV") == "wav"
    assert extension_for("application/x-unknown") == "bin"
