"""A loopback Replicate predictions API (under ``/v1``).

``POST /v1/predictions`` (``version`` + ``input``) or
``POST /v1/models/{owner}/{name}/predictions``: 201 with the prediction;
``GET /v1/predictions/{id}``: starting for ``queue_s``, processing for
``run_s``, then succeeded (output: one file URL, or a list with
``output_count`` > 1) or failed; ``GET /v1/predictions``: the list, newest
first (without inputs, like the real one's summaries); ``POST
/v1/predictions/{id}/cancel``. Inputs without ``prompt`` or ``text`` get 422.
Output files under ``/files/`` expire after ``control.files.ttl_s``.

    from tests.providers.servers import replicate
    url, control = replicate.start(token="r8-test")  # adapter option base_url = url + "/v1"
    control.fail_next = "CUDA out of memory"          # next prediction fails with this error
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
    host_url,
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
            model = "owner/versioned" if version else ""
            return self._create(request, model or "unknown/unknown", version, body)
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
            results = []
            for p in items:
                summary = self._view(request, p)
                summary.pop("input")
                results.append(summary)
            return Response(200, {"results": results, "next": None, "previous": None})
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
            for i in range(self.control.output_count):
                if "video" in p.model:
                    path = files.add(f"{p.id}-{i}.mp4", mp4(), "video/mp4")
                elif "tts" in p.model or "audio" in p.model:
                    path = files.add(f"{p.id}-{i}.wav", wav(), "audio/wav")
                else:
                    w, h = int(p.input.get("width", 64)), int(p.input.get("height", 64))
                    path = files.add(
                        f"{p.id}-{i}.png", png(w, h, int(p.input.get("seed", 0)) + i), "image/png"
                    )
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
