"""A real HTTP server on 127.0.0.1 (ephemeral port) with scriptable misbehaviour.

Each protocol server (comfyui.py, fal.py, replicate.py) is an ``App`` with a
``handle(request) -> Response`` method. :class:`Control` is what a test
holds: it counts requests and scripts answers for the next matching requests
(an HTTP error with headers, a slow answer, a connection dropped before or
after the request was processed).

    server = LoopbackServer(app)   # app.control is the Control
    base_url = server.start()
    ...
    server.stop()
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import struct
import threading
import time
import wave
import zlib
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    """One parsed HTTP request."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    handler: BaseHTTPRequestHandler

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    """What an app answers; ``upgraded`` means the app took the socket over."""

    status: int = 200
    body: bytes | Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    upgraded: bool = False

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if isinstance(self.body, bytes):
            headers.setdefault("Content-Type", "application/octet-stream")
            return self.body, headers
        headers.setdefault("Content-Type", "application/json")
        return json.dumps(self.body).encode(), headers


@dataclass
class Scripted:
    """An answer to give to the next request(s) whose method and path match.

    ``path`` matches as a prefix. ``drop`` closes the connection without an
    answer; ``process`` lets the app handle the request first (so a submit is
    accepted) before the scripted answer or drop. ``times`` is how many
    requests it applies to.
    """

    method: str
    path: str
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop: bool = False
    process: bool = False
    times: int = 1


class Control:
    """The test's handle on a loopback server: counters and scripted answers."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.calls: Counter[str] = Counter()
        """``"METHOD /path"`` -> number of requests received (query strings dropped)."""
        self.auth_headers: list[str] = []
        self._scripts: list[Scripted] = []

    def script(self, method: str, path: str, **kwargs: Any) -> None:
        """Answer the next matching request(s) as described (see :class:`Scripted`)."""
        with self.lock:
            self._scripts.append(Scripted(method=method, path=path, **kwargs))

    def take(self, method: str, path: str) -> Scripted | None:
        with self.lock:
            for item in self._scripts:
                if item.method == method and path.startswith(item.path):
                    item.times -= 1
                    if item.times <= 0:
                        self._scripts.remove(item)
                    return item
        return None

    def count(self, method: str, path_prefix: str) -> int:
        """Requests received whose method matches and whose path starts with the prefix."""
        with self.lock:
            return sum(
                n for key, n in self.calls.items() if key.startswith(f"{method} {path_prefix}")
            )


class App(Protocol):
    control: Control

    def handle(self, request: Request) -> Response: ...


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        app = self.server.app
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        request = Request(method, parts.path, query, dict(self.headers.items()), body, self)
        control = app.control
        with control.lock:
            control.calls[f"{method} {parts.path}"] += 1
            if "Authorization" in self.headers:
                control.auth_headers.append(self.headers["Authorization"])
        scripted = control.take(method, parts.path)
        if scripted is not None and scripted.delay_s:
            time.sleep(scripted.delay_s)
        if scripted is None or scripted.process:
            response = app.handle(request)
            if response.upgraded:
                self.close_connection = True
                return
        if scripted is not None:
            if scripted.drop:
                self.close_connection = True
                self.connection.close()
                return
            if not scripted.process or scripted.body is not None:
                response = Response(scripted.status, scripted.body or {}, scripted.headers)
        data, headers = response.encoded()
        self.send_response(response.status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    app: App


class LoopbackServer:
    """Runs an app on 127.0.0.1 with an ephemeral port, in a background thread."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.app = app
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def png(width: int, height: int, seed: int) -> bytes:
    """A small solid-colour RGB PNG whose colour comes from ``seed``."""
    rgb = hashlib.sha256(str(seed).encode()).digest()[:3]
    raw = zlib.compress((b"\x00" + rgb * width) * height, 6)

    def chunk(tag: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(tag + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def wav(seconds: float = 0.2, rate: int = 8000, seed: int | None = None) -> bytes:
    """A short 16-bit mono WAV: silent, or a quiet tone whose pitch comes from ``seed``."""
    count = int(seconds * rate)
    if seed is None:
        samples = b"\x00\x00" * count
    else:
        pitch = 200 + hashlib.sha256(str(seed).encode()).digest()[0]
        samples = b"".join(
            struct.pack("<h", int(3000 * math.sin(2 * math.pi * pitch * i / rate)))
            for i in range(count)
        )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples)
    return buffer.getvalue()


def media_kind(model: str, kinds: dict[str, str]) -> str:
    """What a model makes: ``kinds[model]`` if set, else guessed from its name.

    ``video`` for names with video/i2v/t2v, ``audio`` for tts/audio/speech,
    else ``image``.
    """
    if model in kinds:
        return kinds[model]
    name = model.lower()
    if any(word in name for word in ("video", "i2v", "t2v")):
        return "video"
    if any(word in name for word in ("tts", "audio", "speech")):
        return "audio"
    return "image"


def is_image_to_video(model: str) -> bool:
    """Whether a model animates an input image (and so requires one)."""
    name = model.lower()
    return "image-to-video" in name or "i2v" in name


class Expiring:
    """Files served under ``/files/<name>`` that expire ``ttl_s`` after creation (then 410)."""

    def __init__(self) -> None:
        self.ttl_s: float | None = None
        self.gone_status = 410
        self._files: dict[str, tuple[float, bytes, str]] = {}
        self.lock = threading.Lock()

    def add(self, name: str, data: bytes, mime: str) -> str:
        with self.lock:
            self._files[name] = (time.monotonic(), data, mime)
        return f"/files/{name}"

    def read(self, name: str) -> bytes | None:
        """The bytes of a file this server holds (expired or not), else None."""
        with self.lock:
            entry = self._files.get(name.partition("?")[0])
        return entry[1] if entry is not None else None

    def serve(self, name: str) -> Response:
        with self.lock:
            entry = self._files.get(name)
        if entry is None:
            return Response(404, {"detail": "not found"})
        created, data, mime = entry
        if self.ttl_s is not None and time.monotonic() - created > self.ttl_s:
            return Response(self.gone_status, {"detail": "this file has expired"})
        return Response(200, data, {"Content-Type": mime})


def mp4(
    width: int = 32,
    height: int = 32,
    frames: int = 4,
    fps: float = 8,
    seed: int = 0,
    start: bytes | None = None,
) -> bytes:
    """A small H.264 MP4: ``start`` (an encoded image) brightening frame by frame, else a
    solid colour from ``seed``; the same arguments give the same bytes."""
    import av
    import numpy as np
    from PIL import Image

    from recoil.providers.previz.motion import encode_h264

    width, height = max(2, width - width % 2), max(2, height - height % 2)
    if start is not None:
        with Image.open(io.BytesIO(start)) as image:
            base = np.asarray(image.convert("RGB").resize((width, height)), dtype=np.int16)
    else:
        base = np.empty((height, width, 3), dtype=np.int16)
        base[:] = np.frombuffer(hashlib.sha256(str(seed).encode()).digest()[:3], dtype=np.uint8)
    pictures = (
        av.VideoFrame.from_ndarray(
            np.clip(base + 6 * i, 0, 255).astype(np.uint8), format="rgb24"
        ).reformat(format="yuv420p")
        for i in range(frames)
    )
    return encode_h264(pictures, width=width, height=height, fps=fps)


def flac(seconds: float, seed: int = 0, rate: int = 16000) -> bytes:
    """A mono FLAC of a quiet tone whose pitch comes from ``seed``."""
    import av
    import numpy as np

    count = max(1, int(seconds * rate))
    pitch = 200 + hashlib.sha256(str(seed).encode()).digest()[0]
    tone = 3000 * np.sin(2 * np.pi * pitch * np.arange(count) / rate)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="flac") as container:
        stream = container.add_stream("flac", rate=rate, layout="mono")
        for offset in range(0, count, 4096):
            chunk = tone[offset : offset + 4096].astype(np.int16).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = offset
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def decode_data_uri(value: object) -> bytes | None:
    """The bytes of a base64 ``data:`` URI, else None."""
    if not isinstance(value, str) or not value.startswith("data:") or "," not in value:
        return None
    try:
        return base64.b64decode(value.partition(",")[2], validate=True)
    except ValueError:
        return None


def host_url(request: Request) -> str:
    """The server's own base URL as the client addressed it."""
    return f"http://{request.headers.get('Host', '127.0.0.1')}"
