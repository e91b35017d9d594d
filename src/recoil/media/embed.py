"""Provenance fields written into media files, so they survive a copy.

Fields are string pairs whose keys start with ``recoil:`` (``recoil:prompt``,
``recoil:request_sha256``, ``recoil:seed``). Where they go:

- PNG: one ``iTXt`` chunk (uncompressed UTF-8) per field, inserted before
  ``IEND`` by rewriting the chunk list; pixel data is never re-encoded.
- MP4: container metadata tags, by remuxing the streams unchanged with PyAV
  (``movflags=use_metadata_tags`` keeps the custom keys).
- WAV: a ``LIST``/``INFO`` chunk whose ``ICMT`` comment holds the fields as
  ASCII JSON.

Embedding is deterministic (same input, same bytes: fields are written in key
order, and no time is ever written) and replaces what an earlier embedding
wrote, so embedding twice equals embedding once. Other metadata in the file
is kept. A MIME type without an embedding is returned unchanged.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from collections.abc import Iterator, Mapping

from recoil.errors import ProviderError

PREFIX = "recoil:"
"""Every embedded key starts with this."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_TEXT_CHUNKS = frozenset({b"tEXt", b"iTXt", b"zTXt"})
# Tags the MP4 muxer writes by itself, or that carry a wall-clock time.
_MP4_MUXER_TAGS = frozenset(
    {"major_brand", "minor_version", "compatible_brands", "encoder", "creation_time"}
)
_WAV_MIMES = frozenset({"audio/wav", "audio/x-wav", "audio/wave"})


def embed(data: bytes, mime: str, fields: Mapping[str, str]) -> bytes:
    """``data`` with ``fields`` written into it (see the module docstring).

    Raises :class:`ValueError` for a key without the ``recoil:`` prefix or one
    PNG cannot hold, and :class:`ProviderError` when ``data`` is not a valid
    file of type ``mime``.
    """
    for key, value in fields.items():
        _check_field(key, value)
    kind = _base_mime(mime)
    if kind == "image/png":
        return _embed_png(data, fields)
    if kind == "video/mp4":
        return _embed_mp4(data, fields)
    if kind in _WAV_MIMES:
        return _embed_wav(data, fields)
    return data


def read_embedded(data: bytes, mime: str) -> dict[str, str]:
    """The ``recoil:`` fields embedded in ``data`` (``{}`` when there are none)."""
    kind = _base_mime(mime)
    if kind == "image/png":
        return _read_png(data)
    if kind == "video/mp4":
        return _read_mp4(data)
    if kind in _WAV_MIMES:
        return _read_wav(data)
    return {}


def _base_mime(mime: str) -> str:
    return mime.split(";", 1)[0].strip().lower()


def _check_field(key: str, value: str) -> None:
    if not isinstance(key, str) or not key.startswith(PREFIX) or key == PREFIX:
        raise ValueError(f"embedded field names must start with {PREFIX!r}, got {key!r}")
    if not isinstance(value, str):
        raise ValueError(f"embedded field {key!r} must be a string, got {type(value).__name__}")
    # PNG keywords are 1-79 Latin-1 characters; hold every format to the strictest rule.
    if len(key) > 79 or not key.isprintable() or not key.isascii() or "  " in key:
        raise ValueError(f"embedded field name {key!r} must be 1-79 printable ASCII characters")


def _broken(mime: str, reason: str) -> ProviderError:
    return ProviderError(
        f"cannot embed provenance: the data is not a valid {mime} file ({reason})",
        retryable=False,
        error_type="InvalidOutput",
    )


# PNG ---------------------------------------------------------------------------------


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    if not data.startswith(_PNG_SIGNATURE):
        raise _broken("image/png", "no PNG signature")
    pos = len(_PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if len(body) != length:
            raise _broken("image/png", f"chunk {kind!r} is truncated")
        yield kind, body
        pos += 12 + length
        if kind == b"IEND":
            return
    raise _broken("image/png", "no IEND chunk")


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _png_text(kind: bytes, body: bytes) -> tuple[str, str] | None:
    """Keyword and text of a tEXt, zTXt or iTXt chunk (``None`` if malformed)."""
    keyword, sep, rest = body.partition(b"\0")
    if not sep:
        return None
    key = keyword.decode("latin-1")
    try:
        if kind == b"tEXt":
            return key, rest.decode("latin-1")
        if kind == b"zTXt":
            return key, zlib.decompress(rest[1:]).decode("latin-1")
        compressed, text = rest[0], rest[2:]
        _language, _, text = text.partition(b"\0")
        _translated, _, text = text.partition(b"\0")
        return key, (zlib.decompress(text) if compressed else text).decode("utf-8")
    except (zlib.error, UnicodeDecodeError, IndexError):
        return None


def _embed_png(data: bytes, fields: Mapping[str, str]) -> bytes:
    parts = [_PNG_SIGNATURE]
    for kind, body in _png_chunks(data):
        if kind in _PNG_TEXT_CHUNKS:
            text = _png_text(kind, body)
            if text is not None and (text[0].startswith(PREFIX) or text[0] in fields):
                continue  # replaced below
        if kind == b"IEND":
            for key in sorted(fields):
                itxt = key.encode("latin-1") + b"\0\0\0\0\0" + fields[key].encode("utf-8")
                parts.append(_png_chunk(b"iTXt", itxt))
        parts.append(_png_chunk(kind, body))
    return b"".join(parts)


def _read_png(data: bytes) -> dict[str, str]:
    found: dict[str, str] = {}
    for kind, body in _png_chunks(data):
        if kind in _PNG_TEXT_CHUNKS:
            text = _png_text(kind, body)
            if text is not None and text[0].startswith(PREFIX):
                found[text[0]] = text[1]
    return found


# MP4 ---------------------------------------------------------------------------------


def _embed_mp4(data: bytes, fields: Mapping[str, str]) -> bytes:
    import av

    out = io.BytesIO()
    try:
        with av.open(io.BytesIO(data), "r") as source:
            tags = {
                key: value
                for key, value in source.metadata.items()
                if key not in _MP4_MUXER_TAGS and not key.startswith(PREFIX)
            }
            tags.update(sorted(fields.items()))
            with av.open(
                out, "w", format="mp4", options={"movflags": "use_metadata_tags"}
            ) as target:
                target.metadata.update(tags)
                streams = {s.index: target.add_stream_from_template(s) for s in source.streams}
                for packet in source.demux():
                    if packet.dts is None:  # the demuxer's end-of-stream marker
                        continue
                    packet.stream = streams[packet.stream.index]
                    target.mux(packet)
    except av.FFmpegError as exc:
        raise _broken("video/mp4", str(exc)) from exc
    return out.getvalue()


def _read_mp4(data: bytes) -> dict[str, str]:
    import av

    try:
        with av.open(io.BytesIO(data), "r") as container:
            return {k: v for k, v in container.metadata.items() if k.startswith(PREFIX)}
    except av.FFmpegError as exc:
        raise _broken("video/mp4", str(exc)) from exc


# WAV ---------------------------------------------------------------------------------


def _riff_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise _broken("audio/wav", "no RIFF/WAVE header")
    yield from _subchunks(data[12:])


def _subchunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    pos = 0
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        (length,) = struct.unpack_from("<I", data, pos + 4)
        yield kind, data[pos + 8 : pos + 8 + length]
        pos += 8 + length + (length & 1)


def _riff_chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b"")


def _embed_wav(data: bytes, fields: Mapping[str, str]) -> bytes:
    chunks: list[bytes] = []
    info: list[bytes] = []
    for kind, body in _riff_chunks(data):
        if kind == b"LIST" and body[:4] == b"INFO":
            info.extend(_riff_chunk(k, b) for k, b in _subchunks(body[4:]) if k != b"ICMT")
        else:
            chunks.append(_riff_chunk(kind, body))
    comment = json.dumps(dict(fields), sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    info.append(_riff_chunk(b"ICMT", comment.encode("ascii") + b"\0"))
    chunks.append(_riff_chunk(b"LIST", b"INFO" + b"".join(info)))
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _read_wav(data: bytes) -> dict[str, str]:
    for kind, body in _riff_chunks(data):
        if kind != b"LIST" or body[:4] != b"INFO":
            continue
        for sub, text in _subchunks(body[4:]):
            if sub != b"ICMT":
                continue
            try:
                parsed = json.loads(text.rstrip(b"\0").decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                return {}
            if isinstance(parsed, dict):
                return {str(k): str(v) for k, v in parsed.items() if str(k).startswith(PREFIX)}
    return {}
