"""The fake provider: deterministic, instant, scriptable; ships for tests and examples.

It serves every built-in modality with small but valid files (PNG for
``keyframe`` and ``upscale`` of an image, MP4 for ``video`` and ``upscale`` of
a video, WAV for ``audio``). Payload knobs (they arrive in ``params``):

- ``fake_latency_s`` (float): how long the job takes.
- ``fake_fail``: ``"permanent"``, ``"transient"``, or an integer N: fail the
  first N attempts of this request, then succeed.
- ``fake_retry_after_s`` (float): the ``Retry-After`` a transient failure asks for.
- ``fake_cost`` (float): the cost the provider reports.
- ``fake_scores`` (dict of name -> float): eval scores attached to the result.
- ``fake_async`` (bool): ``submit`` returns a job id and ``check`` completes it
  once the latency has passed (a submit-then-poll provider).
- ``fake_garbage`` (bool): return bytes that are not a valid file.
- ``fake_black`` (int N): the first N images this instance makes with the knob
  are all black (a badly exposed take, for the scorers to catch).

Provider options (``[providers.fake]`` in ``recoil.toml``) set defaults for
every request: ``latency_s``, ``async``, ``cost`` and ``black``; a payload knob wins.

``cancel`` stops an async job that is still running, as a vendor would: from then
on ``check`` reports it cancelled (a job already done stays done).

The instance counts its calls (``submits``, ``checks``, ``cancels``); with the
option ``calls_file`` it also appends one JSON line per submit to that file
(``{"job_id", "key", "ready_at_us", "accepted", "modality", "model", "params"}``: the
request's model parameters as the vendor got them), so a test can count calls across
processes that were killed. That file is then the fake vendor's memory: the
provider is ``remote`` (its jobs outlive the process), ``find`` looks a
dispatch's job up there by its key, and cancels go to ``<calls_file>.cancels``
(``{"job_id", "ready_at_us"}`` a line), so that any instance checking the job
sees it cancelled. Without that option the instance itself remembers its cancels.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import math
import os
import struct
import wave
import zlib
from collections import Counter
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from recoil.errors import PayloadError, ProviderError
from recoil.model.cost import Cost
from recoil.model.ids import now_us
from recoil.model.provider_config import ProviderConfig
from recoil.model.requests import (
    AudioRequest,
    KeyframeRequest,
    Request,
    UpscaleRequest,
    VideoRequest,
)
from recoil.providers.base import Job, JobState, JobStatus, Output

MODALITIES = ("keyframe", "video", "audio", "upscale")
_KNOBS = frozenset(
    {
        "fake_latency_s",
        "fake_fail",
        "fake_retry_after_s",
        "fake_cost",
        "fake_scores",
        "fake_async",
        "fake_garbage",
        "fake_black",
    }
)


class FakeProvider:
    """A deterministic provider for tests and benchmarks (see the module docstring)."""

    name = "fake"
    version = "fake-1"
    poll_interval_s = 0.01

    def __init__(self, config: ProviderConfig | None = None) -> None:
        options = config.options if config is not None else {}
        calls_file = options.get("calls_file")
        self.calls_file = Path(calls_file) if calls_file else None
        self.remote = self.calls_file is not None
        # A file of its own: the calls file counts submits, a line each.
        self._cancels_file = Path(f"{calls_file}.cancels") if calls_file else None
        self.defaults = {
            f"fake_{name}": options[name]
            for name in ("latency_s", "async", "cost", "black")
            if name in options
        }
        self.submits = 0
        self.checks = 0
        self.cancels = 0
        self._attempts: Counter[str] = Counter()
        self._cancelled: set[tuple[str, int]] = set()
        self._blacked = 0

    def model_for(self, request: Request) -> str:
        """The request's model, else ``fake-<modality>``."""
        return request.model or f"fake-{request.modality}"

    def validate(self, request: Request) -> None:
        """Check the fake knobs' types."""
        p = request.params
        modality = request.modality
        for key in p:
            if key.startswith("fake_") and key not in _KNOBS:
                raise PayloadError(modality, key, f"unknown fake knob; known: {sorted(_KNOBS)}")
        for key in ("fake_latency_s", "fake_cost", "fake_retry_after_s"):
            if key in p and (not isinstance(p[key], int | float) or p[key] < 0):
                raise PayloadError(modality, key, f"must be a number >= 0, got {p[key]!r}")
        fail = p.get("fake_fail")
        if fail is not None and not (
            fail in ("permanent", "transient") or (isinstance(fail, int) and fail >= 0)
        ):
            raise PayloadError(
                modality, "fake_fail", f"'permanent', 'transient' or an int >= 0, got {fail!r}"
            )
        black = p.get("fake_black", 0)
        if not isinstance(black, int) or isinstance(black, bool) or black < 0:
            raise PayloadError(modality, "fake_black", f"must be an int >= 0, got {black!r}")
        scores = p.get("fake_scores", {})
        if not isinstance(scores, Mapping) or not all(
            isinstance(v, int | float) and math.isfinite(v) for v in scores.values()
        ):
            raise PayloadError(modality, "fake_scores", "must map names to finite numbers")

    def estimate_cost(self, request: Request) -> Cost:
        """The configured ``fake_cost``."""
        cost = request.params.get("fake_cost", self.defaults.get("fake_cost", 0.0))
        return Cost(amount=float(cost), source="estimated")

    async def preflight(self) -> list[str]:
        """Nothing can be wrong with the fake."""
        return []

    async def submit(self, request: Request, key: str) -> Job:
        """Accept the job; finish it at once unless ``fake_async``."""
        self.submits += 1
        request_key = _request_key(request)
        p = {**self.defaults, **request.params}
        self._attempts[request_key] += 1
        job_id = f"fake-{request_key[:16]}-{self._attempts[request_key]}"
        latency = float(p.get("fake_latency_s", 0.0))
        ready_at_us = now_us() + int(latency * 1e6)
        try:
            _maybe_fail(
                p.get("fake_fail"), self._attempts[request_key], p.get("fake_retry_after_s")
            )
        except ProviderError:
            self._record_call(request, job_id, key, ready_at_us, accepted=False)
            raise
        self._record_call(request, job_id, key, ready_at_us, accepted=True)
        black = self._blacked < int(p.get("fake_black", 0))
        self._blacked += black
        job = self._job(request, job_id, ready_at_us, black=black)
        if latency > 0 and not p.get("fake_async"):
            await asyncio.sleep(latency)
        return job

    async def find(self, request: Request, key: str, sent_us: int) -> Job | None:
        """The job a submit with ``key`` recorded in the calls file, if there is one."""
        if self.calls_file is None or not self.calls_file.exists():
            return None
        for text in self.calls_file.read_text().splitlines():
            call = json.loads(text)
            if call.get("key") == key and call.get("accepted"):
                return self._job(request, call["job_id"], int(call["ready_at_us"]))
        return None

    def _record_call(
        self, request: Request, job_id: str, key: str, ready_at_us: int, *, accepted: bool
    ) -> None:
        if self.calls_file is not None:
            line = {
                "job_id": job_id,
                "key": key,
                "ready_at_us": ready_at_us,
                "accepted": accepted,
                "modality": request.modality,
                "model": self.model_for(request),
                "params": request.params,
            }
            _append_line(self.calls_file, json.dumps(line, default=str))

    def _job(self, request: Request, job_id: str, ready_at_us: int, *, black: bool = False) -> Job:
        p = {**self.defaults, **request.params}
        spec = _output_spec(request)
        if black and spec["kind"] == "image":
            spec["rgb"] = [0, 0, 0]
        handle = {
            "modality": request.modality,
            "spec": spec,
            "ready_at_us": ready_at_us,
            "cost": float(p.get("fake_cost", 0.0)),
            "scores": {k: float(v) for k, v in p.get("fake_scores", {}).items()},
            "garbage": bool(p.get("fake_garbage", False)),
            "model": self.model_for(request),
        }
        if p.get("fake_async"):
            return Job(job_id=job_id, handle=handle)
        return Job(job_id=job_id, handle=handle, result=_finish(handle))

    async def check(self, job: Job) -> JobState:
        """Complete the job once its latency has passed, unless it was cancelled first."""
        self.checks += 1
        if _submission(job) in self._cancels():
            return JobState(status=JobStatus.CANCELLED, raw_status="cancelled")
        if now_us() < int(job.handle["ready_at_us"]):
            return JobState(status=JobStatus.RUNNING, raw_status="running")
        return _finish(job.handle)

    async def cancel(self, job: Job) -> None:
        """Stop the job if it is still running; a job already done stays done."""
        self.cancels += 1
        job_id, ready_at_us = _submission(job)
        if now_us() >= ready_at_us:
            return
        if self._cancels_file is None:
            self._cancelled.add((job_id, ready_at_us))
        else:
            line = {"job_id": job_id, "ready_at_us": ready_at_us}
            _append_line(self._cancels_file, json.dumps(line))

    def _cancels(self) -> set[tuple[str, int]]:
        """The submissions cancelled so far, from the vendor's memory."""
        if self._cancels_file is None:
            return self._cancelled
        if not self._cancels_file.exists():
            return set()
        lines = (json.loads(text) for text in self._cancels_file.read_text().splitlines())
        return {(line["job_id"], int(line["ready_at_us"])) for line in lines}

    async def aclose(self) -> None:
        """Nothing to release."""


def _maybe_fail(fail: Any, attempt: int, retry_after: Any) -> None:
    if fail is None:
        return
    if fail == "permanent":
        raise ProviderError("fake permanent failure", retryable=False, provider_status="400")
    if fail == "transient" or (isinstance(fail, int) and attempt <= fail):
        raise ProviderError(
            f"fake transient failure (attempt {attempt})",
            retryable=True,
            provider_status="503",
            retry_after_s=float(retry_after) if retry_after is not None else None,
        )


def _submission(job: Job) -> tuple[str, int]:
    # Job ids repeat across instances (attempts count per instance), so a cancel
    # names the submission by its ready time too: a later resubmit is not cancelled.
    return job.job_id, int(job.handle["ready_at_us"])


def _request_key(request: Request) -> str:
    text = json.dumps(request.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _output_spec(request: Request) -> dict[str, Any]:
    digest = hashlib.sha256(f"{request.prompt}|{request.seed}".encode()).digest()
    spec: dict[str, Any] = {"rgb": list(digest[:3])}
    if isinstance(request, KeyframeRequest | VideoRequest):
        spec["width"] = _small(request.width)
        spec["height"] = _small(request.height)
    if isinstance(request, VideoRequest):
        spec["kind"] = "video"
        spec["fps"] = request.fps
        spec["frames"] = min(request.frames, 12)
    elif isinstance(request, AudioRequest):
        spec["kind"] = "audio"
        spec["duration_s"] = request.duration_s or 0.5
    elif isinstance(request, UpscaleRequest):
        spec["kind"] = "video" if request.video is not None else "image"
        spec.update(width=64, height=36, fps=24.0, frames=4)
    else:
        spec["kind"] = "image"
    return spec


def _small(size: int) -> int:
    return max(16, (size // 10) & ~1)


def _finish(handle: Mapping[str, Any]) -> JobState:
    spec = handle["spec"]
    kind = spec["kind"]
    if handle.get("garbage"):
        data, mime, name = b"this is not a media file", _MIME[kind], _NAME[kind]
    else:
        data, mime, name = _render(json.dumps(spec, sort_keys=True)), _MIME[kind], _NAME[kind]
    return JobState(
        status=JobStatus.SUCCEEDED,
        outputs=(Output(name=name, data=data, mime=mime),),
        cost=Cost(amount=float(handle.get("cost", 0.0)), source="reported"),
        raw_status="succeeded",
        model=str(handle.get("model", "")),
        eval_scores=dict(handle.get("scores", {})),
    )


_MIME = {"image": "image/png", "video": "video/mp4", "audio": "audio/wav"}
_NAME = {"image": "image", "video": "video", "audio": "audio"}


@lru_cache(maxsize=64)
def _render(spec_json: str) -> bytes:
    spec = json.loads(spec_json)
    kind = spec["kind"]
    if kind == "image":
        return _png(spec["width"], spec["height"], tuple(spec["rgb"]))
    if kind == "video":
        return _mp4(spec["width"], spec["height"], tuple(spec["rgb"]), spec["fps"], spec["frames"])
    return _wav(spec["duration_s"], spec["rgb"][0])


def _png(width: int, height: int, rgb: tuple[int, ...]) -> bytes:
    # Hand-built so the fake stays cheap: one solid-colour 8-bit RGB image.
    row = b"\x00" + bytes(rgb) * width
    raw = zlib.compress(row * height, 6)

    def chunk(tag: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(tag + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def _mp4(width: int, height: int, rgb: tuple[int, ...], fps: float, frames: int) -> bytes:
    import av
    import numpy as np

    from recoil.media.h264 import CODEC, PIXEL_FORMAT, x264_options

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream(CODEC, rate=round(fps))
        stream.width, stream.height = width, height
        stream.pix_fmt = PIXEL_FORMAT
        stream.options = dict(x264_options(preset="ultrafast", crf=30))
        stream.codec_context.thread_count = 1
        base = np.zeros((height, width, 3), dtype=np.uint8)
        base[:] = rgb
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.roll(base, i, axis=1), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def _wav(duration_s: float, pitch: int) -> bytes:
    import numpy as np

    rate = 16000
    t = np.arange(int(rate * duration_s)) / rate
    tone = (0.2 * np.sin(2 * np.pi * (220 + pitch) * t) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(tone.tobytes())
    return buffer.getvalue()


def _append_line(path: Path, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
