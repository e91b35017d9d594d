"""A loopback fal queue API.

Submit ``POST /{model}``; status ``GET /{model}/requests/{id}/status``
(IN_QUEUE with ``queue_position`` for ``queue_s``, IN_PROGRESS for ``run_s``,
then COMPLETED); result ``GET /{model}/requests/{id}`` with the
``x-fal-billable-units`` header; cancel ``PUT /{model}/requests/{id}/cancel``;
output files under ``/files/`` that expire after ``control.files.ttl_s``.
A model whose name contains ``video`` returns an MP4, ``tts`` or ``audio`` a
WAV, anything else a PNG the size of ``image_size``.

    from tests.providers.servers import fal
    url, control = fal.start(key="sk-test")   # adapter option base_url = url
    control.fail_next = "validation"           # next request completes with a 422 result
    control.fail_next = "runner"               # ... with a 500 result
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
    host_url,
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
            c.jobs[request_id] = _Job(model, body, time.monotonic(), fail)
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
            if job.fail == "validation":
                detail = [{"loc": ["body", "prompt"], "msg": "field required", "type": "missing"}]
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
        if "video" in job.model:
            url = base + files.add(f"{request_id}.mp4", mp4(), "video/mp4")
            job.result = {"video": {"url": url, "content_type": "video/mp4", "file_size": 1}}
        elif "tts" in job.model or "audio" in job.model:
            url = base + files.add(f"{request_id}.wav", wav(), "audio/wav")
            job.result = {"audio": {"url": url, "content_type": "audio/wav"}}
        else:
            size = job.input.get("image_size") or {"width": 64, "height": 64}
            data = png(int(size["width"]), int(size["height"]), int(job.input.get("seed", 0)))
            url = base + files.add(f"{request_id}.png", data, "image/png")
            job.result = {
                "images": [{"url": url, "content_type": "image/png", **size}],
                "seed": job.input.get("seed", 0),
                "has_nsfw_concepts": [False],
                "prompt": job.input.get("prompt", ""),
            }
        return job.result


def start(key: str | None = None) -> tuple[str, FalControl]:
    """Start a loopback fal; return its base URL and control (call ``control.stop()``).

    With ``key`` set, requests must carry ``Authorization: Key <key>``.
    """
    app = FalApp(key)
    server = LoopbackServer(app)
    app.control.server = server
    return server.start(), app.control
