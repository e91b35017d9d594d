"""A loopback fal queue API.

Submit ``POST /{model}``; status ``GET /{model}/requests/{id}/status``
(IN_QUEUE with ``queue_position`` for ``queue_s``, IN_PROGRESS for ``run_s``,
then COMPLETED); result ``GET /{model}/requests/{id}`` with the
``x-fal-billable-units`` header; cancel ``PUT /{model}/requests/{id}/cancel``;
output files under ``/files/`` that expire after ``control.files.ttl_s``. Input
files may be uploaded to its CDN: ``POST /storage/upload/initiate?storage_type=fal-cdn-v3``
``{content_type, file_name}`` answers ``{upload_url, file_url}``; the bytes are
``PUT`` to ``upload_url`` (no key: the URL is the permission) and ``file_url``
serves them (``control.uploads`` holds what came).

Models and schemas (:mod:`tests.providers.servers.models`): ``GET
/api/openapi/queue/openapi.json?endpoint_id=<model>`` serves the endpoint's
queue OpenAPI document (a fal model recoil ships a binding for, as fal publishes
it; any other model gets a permissive schema of common names). A submit whose
input breaks the schema (a missing or mistyped input, a value out of range or
not one of an enum) gets 422 ``{"detail": [{"loc": ["body", <input>], "msg",
"type"}]}``, as fal answers; with ``control.late_validation`` the submit is
accepted and the result GET returns that 422 instead (fal does this too).
Inputs the schema does not name are ignored, as fal ignores them, and listed
in ``control.ignored``. The answer has the model's output shape: ``video``
(an H.264 MP4 as long and at the fps the input asks, animated from the input
image), ``audio`` (a WAV tone as long as the text) or ``images`` (a PNG of
``image_size``, or of the input image's size). What an unlisted model makes
follows ``control.kinds[model]``, else its name (see ``base.media_kind``).

    from tests.providers.servers import fal
    url, control = fal.start(key="sk-test")   # adapter option base_url = url
    control.fail_next = "validation"           # next request completes with a 422 result
    control.fail_next = "runner"               # ... with a 500 result
    control.kinds["acme/voice"] = "audio"      # what a model makes, when its name does not say
    control.late_validation = True             # a schema violation is the result's 422
    control.script("POST", "/fal-ai", status=429, headers={"Retry-After": "3"})
    control.files.ttl_s = 0.0                   # output URLs expire at once
    control.submits                            # submit requests received
    control.stop()
"""

from __future__ import annotations

import io
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from tests.providers.servers import models
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

SCHEMA_PATH = "/api/openapi/queue/openapi.json"
"""Where the loopback serves the endpoints' schemas (``schema_url`` = base URL + this)."""
INITIATE_PATH = "/storage/upload/initiate"
"""A CDN upload begins here (``storage_url`` = base URL); its bytes are put under UPLOAD_PATH."""
UPLOAD_PATH = "/cdn-upload/"
_FAL_SIZES = {
    "square_hd": (64, 64),
    "square": (32, 32),
    "portrait_4_3": (48, 64),
    "portrait_16_9": (36, 64),
    "landscape_4_3": (64, 48),
    "landscape_16_9": (64, 36),
}


@dataclass
class _Job:
    model: str
    input: dict[str, Any]
    created: float
    fail: str | None = None
    invalid: list[dict[str, Any]] = field(default_factory=list)
    """422 details of an input that breaks the schema, for a late validation."""
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
        self.late_validation = False
        self.ignored: list[tuple[str, str]] = []
        """(model, input) of every input a submit sent that the model's schema does not name."""
        self.rejected: list[tuple[str, list[dict[str, Any]]]] = []
        """(model, 422 details) of every submit that broke the model's schema."""
        self.schema_fetches = 0
        self.initiated: dict[str, str] = {}
        """CDN uploads begun and not yet put: file name -> content type."""
        self.uploads: dict[str, bytes] = {}
        """CDN uploads received: file name -> its bytes."""
        self.put_headers: list[dict[str, str]] = []
        """The headers of each upload's PUT."""
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
        if request.path.startswith(UPLOAD_PATH) and request.method == "PUT":
            return self._put(request)
        if request.path == SCHEMA_PATH and request.method == "GET":
            with c.lock:
                c.schema_fetches += 1
            endpoint = request.query.get("endpoint_id", "")
            if endpoint.count("/") < 1:
                return Response(404, {"detail": f"Endpoint '{endpoint}' not found"})
            return Response(200, models.fal_document(self.model(endpoint)))
        if c.key is not None and request.headers.get("Authorization") != f"Key {c.key}":
            return Response(401, {"detail": "Invalid authorization header"})
        if request.path == INITIATE_PATH and request.method == "POST":
            return self._initiate(request)
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

    def _initiate(self, request: Request) -> Response:
        """A CDN upload begins: a signed upload URL (no key needed) and the file's URL."""
        body = request.json() or {}
        if request.query.get("storage_type") != "fal-cdn-v3" or not body.get("content_type"):
            return Response(422, {"detail": "storage_type and content_type are required"})
        name = f"{uuid.uuid4().hex[:16]}-{body.get('file_name', 'file')}"
        with self.control.lock:
            self.control.initiated[name] = str(body["content_type"])
        base = host_url(request)
        return Response(
            200, {"upload_url": f"{base}{UPLOAD_PATH}{name}", "file_url": f"{base}/files/{name}"}
        )

    def _put(self, request: Request) -> Response:
        c = self.control
        name = request.path.removeprefix(UPLOAD_PATH)
        with c.lock:
            mime = c.initiated.pop(name, None)
        if mime is None:
            return Response(403, {"detail": "the upload URL is not valid"})
        c.files.add(name, request.body, mime)
        with c.lock:
            c.uploads[name] = request.body
            c.put_headers.append(dict(request.headers))
        return Response(200, {})

    def _submit(self, request: Request) -> Response:
        c = self.control
        model = request.path.strip("/")
        if model.count("/") < 1:
            return Response(404, {"detail": f"Application '{model}' not found"})
        body = request.json() or {}
        spec = self.model(model)
        invalid = self._invalid(spec, body)
        with c.lock:
            c.ignored += [(model, name) for name in models.unknown(spec, body)]
            if invalid:
                c.rejected.append((model, invalid))
        if invalid and not c.late_validation:
            return Response(422, {"detail": invalid})
        request_id = str(uuid.uuid4())
        with c.lock:
            fail, c.fail_next = c.fail_next, None
            failure = fail or ("validation" if invalid else None)
            job = _Job(model, body, time.monotonic(), failure, invalid)
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
            if job.fail == "validation":
                detail = job.invalid or [
                    {"loc": ["body", "prompt"], "msg": "field required", "type": "missing"}
                ]
                return Response(422, {"detail": detail})
            if job.fail == "runner":
                return Response(500, {"detail": "Internal Server Error: CUDA error"})
            return Response(
                200,
                self._result(request, request_id, job),
                {"x-fal-billable-units": c.billable_units},
            )
        return Response(405, {"detail": "Method not allowed"})

    def model(self, name: str) -> models.Model:
        """The model an endpoint id names: listed, else a permissive one."""
        listed = models.FAL.get(name)
        if listed is not None:
            return listed
        kind = media_kind(name, self.control.kinds)
        required = ["text"] if kind == "audio" else []
        if kind == "video" and is_image_to_video(name):
            required = ["image_url"]
        generic = models.generic(name, kind, "fal")
        return models.Model(**{**generic.__dict__, "required": required})

    def _invalid(self, spec: models.Model, body: dict[str, Any]) -> list[dict[str, Any]]:
        """fal's 422 details for what in ``body`` breaks the schema (a URL must be fetchable)."""
        document = models.fal_document(spec)
        details = [
            {"loc": ["body", p.field], "msg": p.message, "type": p.kind}
            for p in models.problems(spec, body, document)
        ]
        image = body.get(spec.image) if spec.image else None
        if isinstance(image, str) and self._image(image) is None:
            details.append(
                {
                    "loc": ["body", spec.image],
                    "msg": "Failed to download the file. Please check if the URL is accessible",
                    "type": "file_download_error",
                }
            )
        return details

    def _image(self, value: Any) -> bytes | None:
        """The bytes of an input file: a data URI, or a file this server serves."""
        data = decode_data_uri(value)
        if data is not None or not isinstance(value, str) or "/files/" not in value:
            return data
        return self.control.files.read(value.rsplit("/files/", 1)[-1])

    def _result(self, request: Request, request_id: str, job: _Job) -> dict[str, Any]:
        if job.result:
            return job.result
        files = self.control.files
        base = host_url(request)
        spec = self.model(job.model)
        seed = int(job.input.get("seed") or 0)
        start = self._image(job.input.get(spec.image)) if spec.image else None
        if spec.kind == "video":
            assert spec.clip is not None
            frames, fps = spec.clip(job.input)
            width, height = _size_of(start) if start else (32, 32)
            data = mp4(width, height, frames=frames, fps=fps, seed=seed, start=start)
            url = base + files.add(f"{request_id}.mp4", data, "video/mp4")
            job.result = {
                spec.output: {"url": url, "content_type": "video/mp4", "file_size": len(data)}
            }
        elif spec.kind == "audio":
            text = str(job.input.get("text") or job.input.get("prompt") or "")
            data = wav(seconds=min(3.0, 0.06 * len(text) + 0.2), seed=seed)
            url = base + files.add(f"{request_id}.wav", data, "audio/wav")
            job.result = {spec.output: {"url": url, "content_type": "audio/wav"}}
        else:
            size = job.input.get("image_size", "landscape_4_3")
            width, height = (
                _size_of(start)
                if start
                else (size["width"], size["height"])
                if isinstance(size, dict)
                else _FAL_SIZES[str(size)]
            )
            data = png(int(width), int(height), seed)
            url = base + files.add(f"{request_id}.png", data, "image/png")
            job.result = {
                spec.output: [
                    {"url": url, "content_type": "image/png", "width": width, "height": height}
                ],
                "seed": seed,
                "has_nsfw_concepts": [False],
                "prompt": job.input.get("prompt", ""),
            }
        return job.result


def _size_of(image: bytes, largest: int = 160) -> tuple[int, int]:
    """An image's size, scaled down to at most ``largest`` wide (clips stay quick to make)."""
    with Image.open(io.BytesIO(image)) as opened:
        width, height = opened.size
    if width > largest:
        width, height = largest, max(2, round(height * largest / width))
    return width, height


def start(key: str | None = None) -> tuple[str, FalControl]:
    """Start a loopback fal; return its base URL and control (call ``control.stop()``).

    With ``key`` set, requests must carry ``Authorization: Key <key>``.
    """
    app = FalApp(key)
    server = LoopbackServer(app)
    app.control.server = server
    return server.start(), app.control
