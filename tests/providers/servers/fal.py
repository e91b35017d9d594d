"""A loopback fal queue API.

Submit ``POST /{model}``; status ``GET /{model}/requests/{id}/status``
(IN_QUEUE with ``queue_position`` for ``queue_s``, IN_PROGRESS for ``run_s``,
then COMPLETED); result ``GET /{model}/requests/{id}`` with the
``x-fal-billable-units`` header; cancel ``PUT /{model}/requests/{id}/cancel``;
output files under ``/files/`` that expire after ``control.files.ttl_s``.
What a model makes follows ``control.kinds[model]``, else its name (see
``base.media_kind``): ``video`` models return an H.264 MP4 (``duration``
seconds, default 1, at 24 fps, animated from the ``image_url`` data URI when
one is sent), ``tts``/``audio`` ones a WAV tone as long as the ``text`` is,
anything else a PNG the size of ``image_size``. An image-to-video model
(``image-to-video`` or ``i2v`` in its name) without a decodable ``image_url``
completes with a 422 result, as does a TTS model without ``text``.

    from tests.providers.servers import fal
    url, control = fal.start(key="sk-test")   # adapter option base_url = url
    control.fail_next = "validation"           # next request completes with a 422 result
    control.fail_next = "runner"               # ... with a 500 result
    control.kinds["acme/voice"] = "audio"      # what a model makes, when its name does not say
    control.script("POST", "/fal-ai", status=429, headers={"Retry-After": "3"})
    control.files.ttl_s = 0.0                   # output URLs expire at once
    control.submits                            # submit requests received
    control.stop()
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.providers.servers.base import (
    Control,
    Expiring,
    LoopbackServer,
    Request,
    Response,
    decode_data_uri,
    host_url,
    is_image_to_video,
    media_kind,
    mp4,
    png,
    wav,
)


@dataclass
class _Job:
    model: str
    input: dict[str, Any]
    created: float
    fail: str | None = None
    missing: str | None = None
    """An input the model requires that the request lacks (a 422 result)."""
    cancelled: bool = False
    result: dict[str, Any] = field(default_factory=dict)


class FalControl(Control):
    """Control of the loopback fal (see the module docstring)."""

    def __init__(self, key: str | None) -> None:
        super().__init__()
        self.key = key
        self.queue_s = 0.03
        self.run_s = 0.03
        self.fail_next: str | None = None
        self.kinds: dict[str, str] = {}
        """Model -> ``image``, ``video`` or ``audio``, overriding the guess from its name."""
        self.billable_units = "1"
        self.files = Expiring()
        self.jobs: dict[str, _Job] = {}
        self.cancels = 0
        self.server: LoopbackServer | None = None

    @property
    def submits(self) -> int:
        """Submit requests received (accepted or not)."""
        with self.lock:
            return sum(
                n for k, n in self.calls.items() if k.startswith("POST /") and "/requests/" not in k
            )

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


class FalApp:
    """The fal queue protocol (see the module docstring)."""

    def __init__(self, key: str | None) -> None:
        self.control = FalControl(key)

    def handle(self, request: Request) -> Response:
        c = self.control
        if request.path.startswith("/files/"):
            return c.files.serve(request.path.removeprefix("/files/"))
        if c.key is not None and request.headers.get("Authorization") != f"Key {c.key}":
            return Response(401, {"detail": "Invalid authorization header"})
        if "/requests/" in request.path:
            model, _, rest = request.path.strip("/").partition("/requests/")
            request_id, _, action = rest.partition("/")
            with c.lock:
                job = c.jobs.get(request_id)
            if job is None or job.model != model:
                return Response(404, {"detail": f"Request {request_id} not found"})
            return self._request_op(request, request_id, job, action)
        if request.method != "POST":
            return Response(405, {"detail": "Method not allowed"})
        return self._submit(request)

    def _submit(self, request: Request) -> Response:
        c = self.control
        model = request.path.strip("/")
        if model.count("/") < 1:
            return Response(404, {"detail": f"Application '{model}' not found"})
        body = request.json() or {}
        request_id = str(uuid.uuid4())
        with c.lock:
            fail, c.fail_next = c.fail_next, None
            missing = _missing(model, body, c.kinds)
            job = _Job(model, body, time.monotonic(), fail or (missing and "validation"), missing)
            c.jobs[request_id] = job
            position = sum(1 for j in c.jobs.values() if self._status(j)[0] == "IN_QUEUE") - 1
        base = f"{host_url(request)}/{model}/requests/{request_id}"
        return Response(
            200,
            {
                "request_id": request_id,
                "response_url": base,
                "status_url": f"{base}/status",
                "cancel_url": f"{base}/cancel",
                "queue_position": max(0, position),
            },
        )

    def _status(self, job: _Job) -> tuple[str, int]:
        age = time.monotonic() - job.created
        if job.cancelled or age >= self.control.queue_s + self.control.run_s:
            return "COMPLETED", 200
        if age < self.control.queue_s:
            return "IN_QUEUE", 202
        return "IN_PROGRESS", 202

    def _request_op(self, request: Request, request_id: str, job: _Job, action: str) -> Response:
        c = self.control
        status, code = self._status(job)
        if action == "status" and request.method == "GET":
            body: dict[str, Any] = {"status": status, "request_id": request_id, "logs": None}
            if status == "IN_QUEUE":
                body["queue_position"] = 0
            if status == "COMPLETED" and (job.fail or job.cancelled):
                body["error"] = "Request cancelled" if job.cancelled else "Request failed"
                body["error_type"] = "cancelled" if job.cancelled else job.fail
            return Response(code, body)
        if action == "cancel" and request.method == "PUT":
            with c.lock:
                c.cancels += 1
            if status == "COMPLETED":
                return Response(400, {"status": "ALREADY_COMPLETED"})
            job.cancelled = True
            return Response(202, {"status": "CANCELLATION_REQUESTED"})
        if action == "" and request.method == "GET":
            if status != "COMPLETED":
                return Response(400, {"detail": "Request is still in progress"})
            if job.cancelled:
                return Response(400, {"detail": "Request was cancelled"})
            if job.fail == "validation" or job.missing:
                field_ = job.missing or "prompt"
                detail = [{"loc": ["body", field_], "msg": "field required", "type": "missing"}]
                return Response(422, {"detail": detail})
            if job.fail == "runner":
                return Response(500, {"detail": "Internal Server Error: CUDA error"})
            return Response(
                200,
                self._result(request, request_id, job),
                {"x-fal-billable-units": c.billable_units},
            )
        return Response(405, {"detail": "Method not allowed"})

    def _result(self, request: Request, request_id: str, job: _Job) -> dict[str, Any]:
        files = self.control.files
        base = host_url(request)
        if job.result:
            return job.result
        kind = media_kind(job.model, self.control.kinds)
        seed = int(job.input.get("seed", 0))
        if kind == "video":
            start = decode_data_uri(job.input.get("image_url"))
            data = mp4(
                160 if start else 32,
                90 if start else 32,
                frames=round(float(job.input.get("duration", 1)) * 24),
                fps=24,
                seed=seed,
                start=start,
            )
            url = base + files.add(f"{request_id}.mp4", data, "video/mp4")
            job.result = {
                "video": {"url": url, "content_type": "video/mp4", "file_size": len(data)}
            }
        elif kind == "audio":
            text = str(job.input.get("text", ""))
            data = wav(seconds=min(3.0, 0.06 * len(text) + 0.2), seed=seed)
            url = base + files.add(f"{request_id}.wav", data, "audio/wav")
            job.result = {"audio": {"url": url, "content_type": "audio/wav"}}
        else:
            size = job.input.get("image_size") or {"width": 64, "height": 64}
            data = png(int(size["width"]), int(size["height"]), seed)
            url = base + files.add(f"{request_id}.png", data, "image/png")
            job.result = {
                "images": [{"url": url, "content_type": "image/png", **size}],
                "seed": job.input.get("seed", 0),
                "has_nsfw_concepts": [False],
                "prompt": job.input.get("prompt", ""),
            }
        return job.result


def _missing(model: str, body: dict[str, Any], kinds: dict[str, str]) -> str | None:
    image = body.get("image_url")
    is_url = str(image).startswith(("http://", "https://"))
    if is_image_to_video(model) and decode_data_uri(image) is None and not is_url:
        return "image_url"
    if media_kind(model, kinds) == "audio" and not body.get("text"):
        return "text"
    return None


def start(key: str | None = None) -> tuple[str, FalControl]:
    """Start a loopback fal; return its base URL and control (call ``control.stop()``).

    With ``key`` set, requests must carry ``Authorization: Key <key>``.
    """
    app = FalApp(key)
    server = LoopbackServer(app)
    app.control.server = server
    return server.start(), app.control
