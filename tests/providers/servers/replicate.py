"""A loopback Replicate predictions API (under ``/v1``).

``POST /v1/predictions`` (``version`` + ``input``) or
``POST /v1/models/{owner}/{name}/predictions``: 201 with the prediction;
``GET /v1/predictions/{id}``: starting for ``queue_s``, processing for
``run_s``, then succeeded (output: one file URL, or a list with
``output_count`` > 1) or failed; ``GET /v1/predictions``: the list, newest
first, ``control.page_size`` a page with a ``next`` URL (``?cursor=``), without
inputs, like the real one's summaries; ``POST
/v1/predictions/{id}/cancel``. Output files under ``/files/`` expire after
``control.files.ttl_s``.

Models and schemas (:mod:`tests.providers.servers.models`): ``GET
/v1/models/{owner}/{name}`` answers the model with its ``latest_version`` and
that version's ``openapi_schema``; ``GET /v1/models/{owner}/{name}/versions/{id}``
the version. A model recoil ships a binding for has the schema Replicate
publishes (enums as components, as Cog writes them); any other gets a
permissive one of common names. An input that breaks the schema, names an
input it does not have, or gives a start image that cannot be read gets 422
``{"title": "Input validation failed", "detail", "status", "invalid_fields":
[{"type", "field", "description"}]}`` as Replicate answers. ``POST /v1/files``
(multipart, part ``content``) is the Files API: 201 with ``urls.get``, which
inputs may then name. The output has the model's shape (a URL, or a list of
them): an H.264 MP4 as long and at the fps the input asks, animated from the
start image; a WAV tone as long as the ``text``; or a PNG of the
``aspect_ratio`` (64 wide), of ``width`` x ``height``, or of the input image.

A version id names its model through ``control.versions`` (unknown ones
belong to ``owner/versioned``). What an unlisted model makes follows
``control.kinds[model]``, else its name (``base.media_kind``).

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

import email.message
import email.parser
import email.policy
import hashlib
import io
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
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
        self.uploads: dict[str, bytes] = {}
        """Files API: file id -> its bytes."""
        self.rejected: list[tuple[str, dict[str, Any]]] = []
        """(model, 422 body) of every prediction refused for its input."""
        self.schema_fetches = 0
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
        if len(parts) in (4, 6) and parts[1] == "models" and request.method == "GET":
            return self._schema(parts)
        if parts[:2] == ["v1", "files"]:
            return self._file(request, parts)
        if request.method == "POST" and path == "/v1/predictions":
            body = request.json() or {}
            version = str(body.get("version", ""))
            listed = {m.version: m.id for m in models.REPLICATE.values() if m.version}
            named = c.versions.get(version) or listed.get(version, "owner/versioned")
            model = named if version else "unknown/unknown"
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

    def model(self, name: str) -> models.Model:
        """The model ``owner/name`` names: listed, else a permissive one."""
        listed = models.REPLICATE.get(name)
        if listed is not None:
            return listed
        kind = media_kind(name, self.control.kinds)
        required = ["text"] if kind == "audio" else ["prompt"]
        if kind == "video" and is_image_to_video(name):
            required.append("image")
        generic = models.generic(name, kind, "replicate")
        return models.Model(**{**generic.__dict__, "required": required})

    def version_of(self, spec: models.Model) -> dict[str, Any]:
        version = models.replicate_version(spec)
        if not spec.version:  # an official model: its version is hidden, any id does
            version["id"] = hashlib.sha256(spec.id.encode()).hexdigest()
        return version

    def _schema(self, parts: list[str]) -> Response:
        with self.control.lock:
            self.control.schema_fetches += 1
        spec = self.model(f"{parts[2]}/{parts[3]}")
        version = self.version_of(spec)
        if len(parts) == 6:
            listed = spec.id in models.REPLICATE
            known = parts[5] == version["id"] or self.control.versions.get(parts[5]) == spec.id
            known = known or not listed  # a model of the tests' own has every version named
            if parts[4] != "versions" or not known:
                return Response(404, {"title": "Not found", "detail": "Not found.", "status": 404})
            return Response(200, {**version, "id": parts[5]})
        owner, name = spec.id.split("/", 1)
        return Response(
            200,
            {
                "url": f"https://replicate.com/{spec.id}",
                "owner": owner,
                "name": name,
                "visibility": "public",
                "latest_version": version,
            },
        )

    def _file(self, request: Request, parts: list[str]) -> Response:
        c = self.control
        if request.method == "POST" and len(parts) == 2:
            data, mime = _multipart_content(request)
            if data is None:
                return Response(400, {"detail": "content is required", "status": 400})
            file_id = uuid.uuid4().hex[:20]
            with c.lock:
                c.uploads[file_id] = data
            url = f"{host_url(request)}/v1/files/{file_id}"
            return Response(
                201,
                {
                    "id": file_id,
                    "size": len(data),
                    "content_type": mime,
                    "checksums": {"sha256": hashlib.sha256(data).hexdigest()},
                    "metadata": {},
                    "urls": {"get": url},
                },
            )
        if request.method == "GET" and len(parts) == 3 and parts[2] in c.uploads:
            return Response(200, {"id": parts[2], "size": len(c.uploads[parts[2]])})
        return Response(404, {"title": "Not found", "detail": "Not found.", "status": 404})

    def _image(self, value: Any) -> bytes | None:
        """The bytes of an input file: a data URI, or a file uploaded to this server."""
        data = decode_data_uri(value)
        if data is None and isinstance(value, str) and "/v1/files/" in value:
            data = self.control.uploads.get(value.rsplit("/v1/files/", 1)[-1])
        return data

    def _invalid(self, spec: models.Model, inp: dict[str, Any]) -> list[dict[str, Any]]:
        fields = [
            {
                "type": "required" if p.kind == "missing" else p.kind,
                "field": f"input.{p.field}" if p.field else "input",
                "description": p.message,
            }
            for p in models.problems(spec, inp, self.version_of(spec))
        ]
        fields += [
            {
                "type": "additional_property_not_allowed",
                "field": "",
                "description": f"Additional property {name} is not allowed",
            }
            for name in models.unknown(spec, inp)
        ]
        for name, schema in spec.inputs.items():
            value = inp.get(name)
            if schema.get("format") == "uri" and value is not None and self._image(value) is None:
                fields.append(
                    {
                        "type": "invalid_file",
                        "field": f"input.{name}",
                        "description": f"{name}: cannot read the file at this URL",
                    }
                )
        return fields

    def _create(self, request: Request, model: str, version: str, body: dict[str, Any]) -> Response:
        c = self.control
        inp = body.get("input")
        spec = self.model(model)
        invalid = (
            self._invalid(spec, inp)
            if isinstance(inp, dict)
            else [{"type": "required", "field": "input", "description": "input is required"}]
        )
        if invalid:
            detail = "".join(f"- {f['field'] or 'input'}: {f['description']}\n" for f in invalid)
            answer = {
                "title": "Input validation failed",
                "status": 422,
                "detail": detail,
                "invalid_fields": invalid,
            }
            with c.lock:
                c.rejected.append((model, answer))
            return Response(422, answer)
        assert isinstance(inp, dict)
        now = time.time()
        p = _Prediction(
            id=uuid.uuid4().hex[:26],
            model=model,
            version=version or self.version_of(spec)["id"],
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
            spec = self.model(p.model)
            seed = int(p.input.get("seed", 0))
            start = self._image(p.input.get(spec.image)) if spec.image else None
            count = self.control.output_count if not models.REPLICATE.get(p.model) else 1
            count = int(p.input.get("num_outputs", count))
            urls = []
            for i in range(count):
                if spec.kind == "video":
                    assert spec.clip is not None
                    frames, fps = spec.clip(p.input)
                    w, h = _size(p.input, start)
                    data = mp4(w, h, frames=frames, fps=fps, seed=seed + i, start=start)
                    path = files.add(f"{p.id}-{i}.mp4", data, "video/mp4")
                elif spec.kind == "audio":
                    seconds = min(3.0, 0.06 * len(str(p.input.get("text", ""))) + 0.2)
                    path = files.add(f"{p.id}-{i}.wav", wav(seconds, seed=seed + i), "audio/wav")
                else:
                    w, h = _size(p.input, start)
                    path = files.add(f"{p.id}-{i}.png", png(w, h, seed + i), "image/png")
                urls.append(base + path)
            listed = spec.output == "uris" or len(urls) > 1
            p.output = urls if listed else urls[0]
        return p.output


def _size(inp: dict[str, Any], start: bytes | None) -> tuple[int, int]:
    """The size of an image or clip: the input image's, the aspect ratio's, or width x height."""
    if start is not None:
        with Image.open(io.BytesIO(start)) as image:
            w, h = image.size
        return (160, max(2, round(h * 160 / w))) if w > 160 else (w, h)
    ratio = str(inp.get("aspect_ratio", ""))
    if ":" in ratio:
        a, b = (float(x) for x in ratio.split(":"))
        return 64, max(2, round(64 * b / a))
    return int(inp.get("width", 64)), int(inp.get("height", 64))


def _multipart_content(request: Request) -> tuple[bytes | None, str]:
    """The ``content`` part of a multipart body: its bytes and content type."""
    ctype = next((v for k, v in request.headers.items() if k.lower() == "content-type"), "")
    head = f"Content-Type: {ctype}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.default).parsebytes(head + request.body)
    assert isinstance(message, email.message.EmailMessage)
    for part in message.iter_parts() if message.is_multipart() else ():
        if part.get_param("name", header="content-disposition") == "content":
            payload = part.get_payload(decode=True)
            return (payload if isinstance(payload, bytes) else None), part.get_content_type()
    return None, ""


def start(token: str | None = None) -> tuple[str, ReplicateControl]:
    """Start a loopback Replicate; return its base URL and control (call ``control.stop()``).

    Point the adapter at ``url + "/v1"``. With ``token`` set, requests must
    carry ``Authorization: Bearer <token>``.
    """
    app = ReplicateApp(token)
    server = LoopbackServer(app)
    app.control.server = server
    return server.start(), app.control
