"""Media facts of a file held in memory, and the file extension of a MIME type.

:func:`probe` decodes just enough of a file to prove it is what its MIME type
says (the header, and the first frame of a video) and returns the facts a
receipt records. The dispatcher calls it on every provider output, so a
provider that hands back an HTML error page as ``image/png`` fails the step
with a permanent :class:`~recoil.errors.ProviderError` instead of storing junk.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Mapping
from typing import Any

from recoil.errors import ProviderError

MIME_EXT: Mapping[str, str] = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "video/mp4": "mp4",
    "video/webm": "webm",
    "video/quicktime": "mov",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/mpeg": "mp3",
    "audio/flac": "flac",
    "audio/ogg": "ogg",
    "audio/mp4": "m4a",
    "application/json": "json",
    "text/plain": "txt",
}
"""File extension (without the dot) for each MIME type recoil stores."""

_WAV_MIMES = frozenset({"audio/wav", "audio/x-wav", "audio/wave"})
# FFmpeg opens almost anything as "video" (a PNG is a one-frame video) and finds audio in
# any container, so a declared container type must also match the demuxer FFmpeg picked.
_CONTAINERS = {
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/webm": "webm",
    "audio/flac": "flac",
    "audio/mpeg": "mp3",
    "audio/ogg": "ogg",
    "audio/mp4": "m4a",
}


def extension_for(mime: str) -> str:
    """The file extension for ``mime`` (``"bin"`` for a type recoil does not know)."""
    return MIME_EXT.get(_base_mime(mime), "bin")


def probe(data: bytes, mime: str) -> dict[str, Any]:
    """Media facts of ``data``, decoded as ``mime``.

    Images give ``width`` and ``height``; videos add ``fps``, ``duration_s``,
    ``frames``, ``codec`` and ``has_audio``; WAV gives ``sample_rate``,
    ``channels`` and ``duration_s``; other audio gives ``sample_rate``,
    ``channels``, ``duration_s`` and ``codec``. Types that are not media give
    ``{}``.

    Raises :class:`ProviderError` (not retryable) when the bytes do not decode
    as the declared type.
    """
    kind = _base_mime(mime)
    try:
        if kind in _WAV_MIMES:
            try:
                return _probe_wav(data)
            except wave.Error:  # float or extensible WAV: the wave module reads PCM only
                return _probe_audio(data, "wav")
        if kind.startswith("image/"):
            return _probe_image(data)
        if kind.startswith("video/"):
            return _probe_video(data, _CONTAINERS.get(kind))
        if kind.startswith("audio/"):
            return _probe_audio(data, _CONTAINERS.get(kind))
    except ProviderError:
        raise
    except Exception as exc:  # every decoder has its own error tree; all mean "not this type"
        raise _undecodable(data, mime, f"{type(exc).__name__}: {exc}") from exc
    return {}


def _base_mime(mime: str) -> str:
    return mime.split(";", 1)[0].strip().lower()


def _undecodable(data: bytes, mime: str, reason: str) -> ProviderError:
    head = data[:16]
    return ProviderError(
        f"output declared as {mime} ({len(data)} bytes, starting {head!r}) does not decode "
        f"as {mime}: {reason}; the provider returned a broken or mislabelled file",
        retryable=False,
        error_type="InvalidOutput",
    )


def _probe_image(data: bytes) -> dict[str, Any]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.verify()  # checks chunk CRCs and structure without decoding pixels twice
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return {"width": image.width, "height": image.height}


def _probe_video(data: bytes, container_name: str | None) -> dict[str, Any]:
    import av

    with av.open(io.BytesIO(data), "r") as container:
        demuxers = container.format.name.split(",")
        if container_name is not None and container_name not in demuxers:
            raise ValueError(f"it is a {container.format.long_name} file")
        if not container.streams.video:
            raise ValueError("the container holds no video stream")
        stream = container.streams.video[0]
        frame = next(container.decode(stream), None)
        if frame is None:
            raise ValueError("the video stream holds no decodable frame")
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        else:
            duration = 0.0
        frames = stream.frames or round(duration * fps)
        return {
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "fps": fps,
            "duration_s": duration,
            "frames": int(frames),
            "codec": stream.codec_context.name,
            "has_audio": bool(container.streams.audio),
        }


def _probe_audio(data: bytes, container_name: str | None) -> dict[str, Any]:
    import av

    with av.open(io.BytesIO(data), "r") as container:
        if container_name is not None and container_name not in container.format.name.split(","):
            raise ValueError(f"it is a {container.format.long_name} file")
        if not container.streams.audio:
            raise ValueError("the container holds no audio stream")
        stream = container.streams.audio[0]
        if next(container.decode(stream), None) is None:
            raise ValueError("the audio stream holds no decodable frame")
        duration = (
            container.duration / 1_000_000
            if container.duration is not None
            else float((stream.duration or 0) * (stream.time_base or 0))
        )
        return {
            "sample_rate": stream.codec_context.sample_rate,
            "channels": stream.codec_context.channels,
            "duration_s": duration,
            "codec": stream.codec_context.name,
        }


def _probe_wav(data: bytes) -> dict[str, Any]:
    with wave.open(io.BytesIO(data), "rb") as reader:
        rate = reader.getframerate()
        frames = reader.getnframes()
        if rate <= 0:
            raise ValueError(f"sample rate {rate}")
        # A header that promises more samples than the file holds is a truncated download.
        expected = frames * reader.getnchannels() * reader.getsampwidth()
        if len(reader.readframes(frames)) < expected:
            raise ValueError(f"truncated: the header announces {frames} frames")
        return {
            "sample_rate": rate,
            "channels": reader.getnchannels(),
            "duration_s": frames / rate,
        }
