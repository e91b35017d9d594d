"""A loopback Replicate predictions API (under ``/v1``).

``POST /v1/predictions`` (``version`` + ``input``) or
``POST /v1/models/{owner}/{name}/predictions``: 201 with the prediction;
``GET /v1/predictions/{id}``: starting for ``queue_s``, processing for
``run_s``, then succeeded (output: one file URL, or a list with
``output_count`` > 1) or failed; ``GET /v1/predictions``: the list, newest
first, ``control.page_size`` a page with a ``next`` URL (``?cursor=``), without
inputs, like the real one's summaries; ``POST
/v1/predictions/{id}/cancel``. Inputs without ``prompt`` or ``text``, and
image-to-video inputs without a decodable ``image``, get 422. Output files
under ``/files/`` expire after ``control.files.ttl_s``.

A version id names its model through ``control.versions`` (unknown ones
belong to ``owner/versioned``). What a model makes follows
``control.kinds[model]``, else its name (``base.media_kind``): an H.264 MP4
(``num_frames`` at ``frames_per_second``, animated from the ``image`` data
URI), a WAV tone as long as the ``text``, or a PNG of ``width`` x ``height``.

    from tests.providers.servers import replicate
    url, control = replicate.start(token="r8-test")  # adapter option base_url = url + "/v1"
    control.fail_next = "CUDA out of memory"          # next prediction fails with this error
    control.versions["f559560e"] = "jaaari/kokoro-82m"  # the model a version id belongs to
    control.kinds["jaaari/kokoro-82m"] = "audio"        # what a model makes, if its name hides it
    control.script("POST", "/v1/", status=429, headers={"Retry-After": "7"},
                   body={"detail": "Request was throttled. Expected available in 7 seconds."})
    control.submits
    control.stop()
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
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
class _Prediction:
    id: str
    model: str
    version: str
    input: dict[str, Any]
    created: float
    created_at: str
    fail: str | None = None
    cancelled: bool = False
    output: Any = None


class ReplicateControl(Control):
    """Control of the loopback Replicate (see the module docstring)."""

    def __init__(self, token: str | None) -> None:
        super().__init__()
        self.token = token
        self.queue_s = 0.03
        self.run_s = 0.03
        self.fail_next: str | None = None
        self.output_count = 1
        self.page_size = 100
        """Predictions per page of ``GET /v1/predictions`` (``next`` links the following page)."""
        self.kinds: dict[str, str] = {}
        """Model -> ``image``, ``video`` or ``audio``, overriding the guess from its name."""
        self.versions: dict[str, str] = {}
        """Version id -> ``owner/name`` of the model it is a version of."""
        self.files = Expiring()
        self.predictions: dict[str, _Prediction] = {}
        self.cancels = 0
        self.server: LoopbackServer | None = None

    @property
    def submits(self) -> int:
        """Prediction creations received (accepted or not)."""
        with self.lock:
            return sum(
                n
                for k, n in self.calls.items()
                if k.startswith("POST") and k.endswith("/predictions")
            )

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


class ReplicateApp:
    """The Replicate protocol (see the module docstring)."""

    def __init__(self, token: str | None) -> None:
        self.control = ReplicateControl(token)

    def handle(self, request: Request) -> Response:
        c = self.control
        path = request.path
        if path.startswith("/files/"):
            return c.files.serve(path.removeprefix("/files/"))
        if c.token is not None and request.headers.get("Authorization") != f"Bearer {c.token}":
            return Response(
                401,
                {
                    "title": "Unauthenticated",
                    "detail": "You did not pass a valid authentication token",
                    "status": 401,
                },
            )
        parts = path.strip("/").split("/")
        if request.method == "POST" and path == "/v1/predictions":
            body = request.json() or {}
            version = str(body.get("version", ""))
            model = c.versions.get(version, "owner/versioned") if version else "unknown/unknown"
            return self._create(request, model, version, body)
        if (
            request.method == "POST"
            and len(parts) == 5
            and parts[1] == "models"
            and parts[4] == "predictions"
        ):
            return self._create(request, f"{parts[2]}/{parts[3]}", "", request.json() or {})
        if request.method == "GET" and path == "/v1/predictions":
            with c.lock:
                items = sorted(c.predictions.values(), key=lambda p: p.created, reverse=True)
            start = int(request.query.get("cursor", "0"))
            results = []
            for p in items[start : start + c.page_size]:
                summary = self._view(request, p)
                summary.pop("input")
                results.append(summary)
            after = start + c.page_size
            following = f"{host_url(request)}/v1/predictions?cursor={after}"
            page = {"results": results, "next": following if after < len(items) else None}
            return Response(200, {**page, "previous": None})
        if len(parts) >= 3 and parts[1] == "predictions":
            with c.lock:
                p = c.predictions.get(parts[2])
            if p is None:
                return Response(404, {"title": "Not found", "detail": "Not found.", "status": 404})
            if request.method == "GET" and len(parts) == 3:
                return Response(200, self._view(request, p))
            if request.method == "POST" and parts[3:] == ["cancel"]:
                with c.lock:
                    c.cancels += 1
                if self._status(p) in ("starting", "processing"):
                    p.cancelled = True
                return Response(200, self._view(request, p))
        return Response(404, {"title": "Not found", "detail": "Not found.", "status": 404})

    def _create(self, request: Request, model: str, version: str, body: dict[str, Any]) -> Response:
        c = self.control
        inp = body.get("input")
        if not isinstance(inp, dict) or not ({"prompt", "text"} & set(inp)):
            return Response(
                422,
                {
                    "title": "Input validation failed",
                    "status": 422,
                    "detail": "- input: prompt is required",
                    "invalid_fields": [
                        {"type": "required", "field": "input", "description": "prompt is required"}
                    ],
                },
            )
        if is_image_to_video(model) and decode_data_uri(inp.get("image")) is None:
            return Response(
                422,
                {
                    "title": "Input validation failed",
                    "status": 422,
                    "detail": "- input: image is required",
                    "invalid_fields": [
                        {"type": "required", "field": "input.image", "description": "image"}
                    ],
                },
            )
        now = time.time()
        p = _Prediction(
            id=uuid.uuid4().hex[:26],
            model=model,
            version=version or "v" + uuid.uuid4().hex[:12],
            input=inp,
            created=time.monotonic(),
            created_at=datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z"),
        )
        with c.lock:
            p.fail, c.fail_next = c.fail_next, None
            c.predictions[p.id] = p
        return Response(201, self._view(request, p))

    def _status(self, p: _Prediction) -> str:
        if p.cancelled:
            return "canceled"
        age = time.monotonic() - p.created
        if age < self.control.queue_s:
            return "starting"
        if age < self.control.queue_s + self.control.run_s:
            return "processing"
        return "failed" if p.fail else "succeeded"

    def _view(self, request: Request, p: _Prediction) -> dict[str, Any]:
        status = self._status(p)
        base = host_url(request)
        view: dict[str, Any] = {
            "id": p.id,
            "model": p.model,
            "version": p.version,
            "input": p.input,
            "logs": "",
            "output": None,
            "data_removed": False,
            "error": p.fail if status == "failed" else None,
            "status": status,
            "created_at": p.created_at,
            "urls": {
                "get": f"{base}/v1/predictions/{p.id}",
                "cancel": f"{base}/v1/predictions/{p.id}/cancel",
                "stream": f"{base}/v1/stream/{p.id}",
            },
            "metrics": {},
        }
        if status in ("succeeded", "failed"):
            view["metrics"] = {
                "predict_time": self.control.run_s,
                "total_time": self.control.queue_s + self.control.run_s,
            }
        if status == "succeeded":
            view["output"] = self._output(base, p)
        return view

    def _output(self, base: str, p: _Prediction) -> Any:
        if p.output is None:
            files = self.control.files
            urls = []
            kind = media_kind(p.model, self.control.kinds)
            seed = int(p.input.get("seed", 0))
            w, h = int(p.input.get("width", 64)), int(p.input.get("height", 64))
            for i in range(self.control.output_count):
                if kind == "video":
                    data = mp4(
                        w,
                        h,
                        frames=int(p.input.get("num_frames", 17)),
                        fps=float(p.input.get("frames_per_second", 16)),
                        seed=seed + i,
                        start=decode_data_uri(p.input.get("image")),
                    )
                    path = files.add(f"{p.id}-{i}.mp4", data, "video/mp4")
                elif kind == "audio":
                    seconds = min(3.0, 0.06 * len(str(p.input.get("text", ""))) + 0.2)
                    path = files.add(f"{p.id}-{i}.wav", wav(seconds, seed=seed + i), "audio/wav")
                else:
                    path = files.add(f"{p.id}-{i}.png", png(w, h, seed + i), "image/png")
                urls.append(base + path)
            p.output = urls[0] if len(urls) == 1 else urls
        return p.output


def start(token: str | None = None) -> tuple[str, ReplicateControl]:
    """Start a loopback Replicate; return its base URL and control (call ``control.stop()``).

    Point the adapter at ``url + "/v1"``. With ``token`` set, requests must
    carry ``Authorization: Bearer <token>``.
    """
    app = ReplicateApp(token)
    server = LoopbackServer(app)
    app.control.server = server
    return server.start(), app.control
