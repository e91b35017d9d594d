"""recoil.media.embed: provenance fields written into PNG, MP4 and WAV, and read back."""

from __future__ import annotations

import io
import subprocess
import sys
import wave
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngImageFile, PngInfo

from recoil.errors import ProviderError
from recoil.media.embed import embed, read_embedded
from recoil.media.probe import probe
from recoil.providers.previz.motion import encode_h264, yuv_frame

FIELDS = {
    "recoil:prompt": 'A "quiet" harbour at dawn — rain, ünïcödé, 雨\nsecond line',
    "recoil:request_sha256": "ab" * 32,
    "recoil:seed": "42",
}


def png() -> bytes:
    out = io.BytesIO()
    picture = Image.fromarray(np.arange(24 * 16 * 3, dtype=np.uint8).reshape(16, 24, 3))
    picture.save(out, format="PNG")
    return out.getvalue()


def mp4() -> bytes:
    pictures = (Image.new("RGB", (64, 36), (i * 20, 40, 80)) for i in range(6))
    return encode_h264((yuv_frame(p) for p in pictures), width=64, height=36, fps=24)


def wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(22050)
        writer.writeframes(np.arange(-500, 501, dtype="<i2").tobytes())  # odd byte count
    return out.getvalue()


MEDIA = {"image/png": png, "video/mp4": mp4, "audio/wav": wav}


@pytest.mark.parametrize("mime", sorted(MEDIA))
def test_round_trip(mime: str) -> None:
    original = MEDIA[mime]()
    embedded = embed(original, mime, FIELDS)
    assert embedded != original
    assert read_embedded(embedded, mime) == FIELDS
    assert read_embedded(original, mime) == {}
    probe(embedded, mime)  # still a valid file


@pytest.mark.parametrize("mime", sorted(MEDIA))
def test_deterministic_and_idempotent(mime: str) -> None:
    original = MEDIA[mime]()
    once = embed(original, mime, FIELDS)
    assert embed(original, mime, dict(reversed(FIELDS.items()))) == once
    assert embed(once, mime, FIELDS) == once


@pytest.mark.parametrize("mime", sorted(MEDIA))
def test_embedding_again_replaces_earlier_fields(mime: str) -> None:
    first = embed(MEDIA[mime](), mime, FIELDS)
    second = embed(first, mime, {"recoil:seed": "7"})
    assert read_embedded(second, mime) == {"recoil:seed": "7"}


def test_png_pixels_are_untouched() -> None:
    original = png()
    embedded = embed(original, "image/png", FIELDS)
    with Image.open(io.BytesIO(original)) as a, Image.open(io.BytesIO(embedded)) as b:
        assert a.tobytes() == b.tobytes()
        assert isinstance(b, PngImageFile)
        assert b.text["recoil:prompt"] == FIELDS["recoil:prompt"]  # Pillow reads our chunks


def test_png_keeps_other_text_chunks() -> None:
    info = PngInfo()
    info.add_text("parameters", "steps: 20")
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="PNG", pnginfo=info)
    embedded = embed(out.getvalue(), "image/png", FIELDS)
    with Image.open(io.BytesIO(embedded)) as picture:
        assert isinstance(picture, PngImageFile)
        assert picture.text["parameters"] == "steps: 20"


def test_mp4_streams_are_copied_not_reencoded() -> None:
    original = mp4()
    embedded = embed(original, "video/mp4", FIELDS)

    def packets(data: bytes) -> list[bytes]:
        with av.open(io.BytesIO(data), "r") as container:
            return [bytes(p) for p in container.demux(video=0) if p.size]

    assert packets(embedded) == packets(original)
    assert probe(embedded, "video/mp4")["frames"] == 6
    with av.open(io.BytesIO(embedded), "r") as container:
        assert "creation_time" not in container.metadata


def test_mp4_embedding_is_identical_across_processes(tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    source.write_bytes(mp4())
    script = (
        "import sys; from pathlib import Path; from recoil.media.embed import embed\n"
        "data = Path(sys.argv[1]).read_bytes()\n"
        "sys.stdout.buffer.write(embed(data, 'video/mp4', {'recoil:prompt': 'p', "
        "'recoil:seed': '1'}))\n"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", script, str(source)], capture_output=True, check=True
        ).stdout
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    assert runs[0] == embed(
        source.read_bytes(), "video/mp4", {"recoil:prompt": "p", "recoil:seed": "1"}
    )


def test_wav_riff_size_and_audio_are_right() -> None:
    original = wav()
    embedded = embed(original, "audio/wav", FIELDS)
    assert int.from_bytes(embedded[4:8], "little") == len(embedded) - 8
    with wave.open(io.BytesIO(original)) as a, wave.open(io.BytesIO(embedded)) as b:
        assert a.readframes(a.getnframes()) == b.readframes(b.getnframes())


def test_unknown_mime_is_returned_unchanged() -> None:
    assert embed(b"{}", "application/json", FIELDS) == b"{}"
    assert read_embedded(b"{}", "application/json") == {}


@pytest.mark.parametrize("key", ["prompt", "recoil:", "recoil:" + "x" * 80, "recoil:é"])
def test_bad_field_names_are_rejected(key: str) -> None:
    with pytest.raises(ValueError, match=r"recoil:|ASCII"):
        embed(png(), "image/png", {key: "v"})


def test_broken_input_is_a_provider_error() -> None:
    for mime in MEDIA:
        with pytest.raises(ProviderError):
            embed(b"not a media file", mime, FIELDS)
