"""A loopback ComfyUI: the HTTP API and the progress websocket on one port.

It validates prompts against its own ``/object_info`` (unknown classes,
missing required inputs, combo values such as missing checkpoints), queues
them in memory, runs one at a time in a worker thread (``latency_s`` per
prompt), sends the websocket events to the submitting ``client_id`` in
ComfyUI's order, writes history, and makes real files: SaveImage/PreviewImage
write a PNG the size of the EmptyLatentImage (or of the loaded image, for
image-to-image), SaveAnimatedWEBP an animated WebP with ``batch_size`` frames,
SaveVideo an H.264 MP4 (a Wan image-to-video graph: ``length`` frames rounded
down to 4n+1, the size rounded down to multiples of 8, animated from the
LoadImage upload, at CreateVideo's ``fps``), SaveAudio a FLAC from the custom
``TextToSpeech`` node (as long as its text). ``filename_prefix`` may name a
subfolder (``video/recoil``), as in ComfyUI.

    from tests.providers.servers import comfyui
    url, control = comfyui.start()        # control: ComfyControl
    control.latency_s = 0.05
    control.fail_node = "3"               # next runs fail in node 3 (execution_error)
    control.hold = True                   # prompts wait in the queue until released
    control.restart()                     # forget queue and history, like a restarted server
    control.script("POST", "/prompt", process=True, drop=True)  # accept, then drop the connection
    control.submits                       # POST /prompt requests received
    control.stop()
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from websockets.server import ServerProtocol
from websockets.sync.connection import Connection

from tests.providers.servers.base import Control, LoopbackServer, Request, Response, flac, mp4, png

CHECKPOINTS = ["v1-5-pruned-emaonly.safetensors", "sd_xl_base_1.0.safetensors"]
DIFFUSION_MODELS = ["wan2.1_i2v_480p_14B_fp16.safetensors", "wan2.1_i2v_720p_14B_fp16.safetensors"]
TEXT_ENCODERS = ["umt5_xxl_fp8_e4m3fn_scaled.safetensors"]
VAES = ["wan_2.1_vae.safetensors"]
MIMES = {".png": "image/png", ".webp": "image/webp", ".mp4": "video/mp4", ".flac": "audio/flac"}
SAVE_NODES = ("SaveImage", "PreviewImage", "SaveAnimatedWEBP", "SaveVideo", "SaveAudio")


def _node(
    required: dict[str, Any],
    output: list[str],
    output_node: bool = False,
    optional: dict[str, Any] | None = None,
    python_module: str = "nodes",
) -> dict[str, Any]:
    return {
        "input": {"required": required, "optional": optional or {}},
        "input_order": {"required": list(required), "optional": list(optional or {})},
        "output": output,
        "output_node": output_node,
        "python_module": python_module,
    }


OBJECT_INFO: dict[str, Any] = {
    "CheckpointLoaderSimple": _node({"ckpt_name": [CHECKPOINTS]}, ["MODEL", "CLIP", "VAE"]),
    "UNETLoader": _node(
        {
            "unet_name": [DIFFUSION_MODELS],
            "weight_dtype": [["default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2"]],
        },
        ["MODEL"],
    ),
    "CLIPLoader": _node(
        {
            "clip_name": [TEXT_ENCODERS],
            "type": [["stable_diffusion", "sd3", "ltxv", "wan"]],
        },
        ["CLIP"],
        optional={"device": [["default", "cpu"], {"advanced": True}]},
    ),
    "VAELoader": _node({"vae_name": [VAES]}, ["VAE"]),
    "CLIPTextEncode": _node(
        {"text": ["STRING", {"multiline": True}], "clip": ["CLIP"]}, ["CONDITIONING"]
    ),
    "EmptyLatentImage": _node(
        {
            "width": ["INT", {"default": 512, "min": 16, "max": 16384}],
            "height": ["INT", {"default": 512, "min": 16, "max": 16384}],
            "batch_size": ["INT", {"default": 1, "min": 1, "max": 4096}],
        },
        ["LATENT"],
    ),
    "KSampler": _node(
        {
            "model": ["MODEL"],
            "seed": ["INT", {"min": 0, "max": 2**64 - 1}],
            "steps": ["INT", {"default": 20, "min": 1, "max": 10000}],
            "cfg": ["FLOAT", {"default": 8.0}],
            "sampler_name": [["euler", "euler_ancestral", "dpmpp_2m", "uni_pc"]],
            "scheduler": [["normal", "karras", "simple"]],
            "positive": ["CONDITIONING"],
            "negative": ["CONDITIONING"],
            "latent_image": ["LATENT"],
            "denoise": ["FLOAT", {"default": 1.0}],
        },
        ["LATENT"],
    ),
    "VAEDecode": _node({"samples": ["LATENT"], "vae": ["VAE"]}, ["IMAGE"]),
    "ImageInvert": _node({"image": ["IMAGE"]}, ["IMAGE"]),  # not an output node: saves nothing
    "VAEEncode": _node({"pixels": ["IMAGE"], "vae": ["VAE"]}, ["LATENT"]),
    "LoadImage": _node({"image": [[], {"image_upload": True}]}, ["IMAGE", "MASK"]),
    "WanImageToVideo": _node(
        {
            "positive": ["CONDITIONING"],
            "negative": ["CONDITIONING"],
            "vae": ["VAE"],
            "width": ["INT", {"default": 832, "min": 16, "max": 16384, "step": 16}],
            "height": ["INT", {"default": 480, "min": 16, "max": 16384, "step": 16}],
            "length": ["INT", {"default": 81, "min": 1, "max": 16384, "step": 4}],
            "batch_size": ["INT", {"default": 1, "min": 1, "max": 4096}],
        },
        ["CONDITIONING", "CONDITIONING", "LATENT"],
        optional={"clip_vision_output": ["CLIP_VISION_OUTPUT"], "start_image": ["IMAGE"]},
        python_module="comfy_extras.nodes_wan",
    ),
    "CreateVideo": _node(
        {"images": ["IMAGE"], "fps": ["FLOAT", {"default": 30.0, "min": 1.0, "max": 120.0}]},
        ["VIDEO"],
        optional={"audio": ["AUDIO"]},
        python_module="comfy_extras.nodes_video",
    ),
    "SaveImage": _node(
        {"images": ["IMAGE"], "filename_prefix": ["STRING", {"default": "ComfyUI"}]}, [], True
    ),
    "PreviewImage": _node({"images": ["IMAGE"]}, [], True),
    "SaveAnimatedWEBP": _node(
        {
            "images": ["IMAGE"],
            "filename_prefix": ["STRING", {"default": "ComfyUI"}],
            "fps": ["FLOAT", {"default": 6.0}],
        },
        [],
        True,
    ),
    "SaveVideo": _node(
        {
            "video": ["VIDEO"],
            "filename_prefix": ["STRING", {"default": "video/ComfyUI"}],
            "format": [["auto", "mp4"], {"default": "auto"}],
            "codec": [["auto", "h264"], {"default": "auto"}],
        },
        [],
        True,
        python_module="comfy_extras.nodes_video",
    ),
    "SaveAudio": _node(
        {"audio": ["AUDIO"], "filename_prefix": ["STRING", {"default": "audio/ComfyUI"}]},
        [],
        True,
        python_module="comfy_extras.nodes_audio",
    ),
    # Not built in: what a user's TTS custom node pack would register.
    "TextToSpeech": _node(
        {
            "text": ["STRING", {"multiline": True}],
            "voice": ["STRING", {"default": "en-us"}],
            "seed": ["INT", {"default": 0, "min": 0, "max": 2**64 - 1}],
        },
        ["AUDIO"],
        python_module="custom_nodes.comfyui-tts",
    ),
}


@dataclass
class _Job:
    number: int
    prompt_id: str
    prompt: dict[str, Any]
    extra: dict[str, Any]
    outputs: list[str]
    client_id: str | None
    interrupted: bool = False
    forgotten: bool = False
    messages: list[list[Any]] = field(default_factory=list)


class ComfyControl(Control):
    """Control of the loopback ComfyUI (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.latency_s = 0.05
        self.fail_node: str | None = None
        self.fail_message = "mat1 and mat2 shapes cannot be multiplied (1x768 and 1024x320)"
        self.fail_type = "RuntimeError"
        self.hold = False
        self.garbled_queue = False
        """Answer ``GET /queue`` with an HTML error page, as a broken proxy in front does."""
        self.pending: deque[_Job] = deque()
        self.running: _Job | None = None
        self.history: dict[str, dict[str, Any]] = {}
        self.files: dict[tuple[str, str, str], bytes] = {}
        self.uploads: dict[str, bytes] = {}
        self.sockets: dict[str, Connection] = {}
        self.interrupts: list[str] = []
        self.number = 0
        self.wake = threading.Condition(self.lock)
        self.server: LoopbackServer | None = None
        self.stopping = False

    @property
    def submits(self) -> int:
        """POST /prompt requests received (accepted or not)."""
        return self.count("POST", "/prompt")

    def restart(self) -> None:
        """Forget the queue and history (files survive), like a restarted server."""
        with self.lock:
            self.pending.clear()
            if self.running is not None:
                self.running.interrupted = self.running.forgotten = True
            self.history.clear()

    def release(self) -> None:
        """Let held prompts run."""
        with self.lock:
            self.hold = False
            self.wake.notify_all()

    def send(self, client_id: str | None, kind: str, data: dict[str, Any]) -> None:
        with self.lock:
            sockets = (
                list(self.sockets.values())
                if client_id is None
                else ([self.sockets[client_id]] if client_id in self.sockets else [])
            )
        for ws in sockets:
            # A client that went away misses events, as in ComfyUI.
            with contextlib.suppress(Exception):
                ws.send(json.dumps({"type": kind, "data": data}))

    def stop(self) -> None:
        """Stop the worker, close the websockets and the server."""
        with self.lock:
            self.stopping = True
            self.wake.notify_all()
            sockets = list(self.sockets.values())
        for ws in sockets:
            ws.close()
        if self.server is not None:
            self.server.stop()


class ComfyApp:
    """The ComfyUI protocol (see the module docstring)."""

    def __init__(self) -> None:
        self.control = ComfyControl()
        self._worker = threading.Thread(target=self._work, daemon=True)
        self._worker.start()

    def handle(self, request: Request) -> Response:
        path = request.path.removeprefix("/api")
        c = self.control
        if request.method == "GET":
            if path == "/ws":
                return self._websocket(request)
            if path == "/system_stats":
                return Response(200, {"system": {"comfyui_version": "0.3.fake"}, "devices": []})
            if path == "/object_info":
                return Response(200, self._object_info())
            if path == "/prompt":
                with c.lock:
                    remaining = len(c.pending) + (1 if c.running else 0)
                return Response(200, {"exec_info": {"queue_remaining": remaining}})
            if path == "/queue" and c.garbled_queue:
                return Response(200, b"<html>502</html>", {"Content-Type": "text/html"})
            if path == "/queue":
                with c.lock:
                    running = [_item(c.running)] if c.running else []
                    pending = [_item(j) for j in c.pending]
                return Response(200, {"queue_running": running, "queue_pending": pending})
            if path.startswith("/history/"):
                pid = path.removeprefix("/history/")
                with c.lock:
                    entry = c.history.get(pid)
                return Response(200, {pid: entry} if entry else {})
            if path == "/view":
                key = (
                    request.query.get("type", "output"),
                    request.query.get("subfolder", ""),
                    request.query.get("filename", ""),
                )
                data = c.files.get(key)
                if data is None:
                    return Response(404, b"404: Not Found", {"Content-Type": "text/plain"})
                mime = MIMES.get(key[2][key[2].rfind(".") :], "application/octet-stream")
                return Response(200, data, {"Content-Type": mime})
        if request.method == "POST":
            if path == "/prompt":
                return self._submit(request.json() or {})
            if path == "/queue":
                ids = set((request.json() or {}).get("delete", []))
                with c.lock:
                    c.pending = deque(j for j in c.pending if j.prompt_id not in ids)
                return Response(200, {})
            if path == "/interrupt":
                pid = (request.json() or {}).get("prompt_id")
                with c.lock:
                    c.interrupts.append(str(pid))
                    if c.running is not None and (pid is None or c.running.prompt_id == pid):
                        c.running.interrupted = True
                return Response(200, {})
            if path == "/upload/image":
                return self._upload(request)
        return Response(404, b"404: Not Found", {"Content-Type": "text/plain"})

    def _object_info(self) -> dict[str, Any]:
        info = json.loads(json.dumps(OBJECT_INFO))
        with self.control.lock:
            info["LoadImage"]["input"]["required"]["image"][0] = sorted(self.control.uploads)
        return info

    def _upload(self, request: Request) -> Response:
        # Minimal multipart parsing: one file field named "image".
        boundary = request.headers["Content-Type"].split("boundary=")[1].encode()
        for part in request.body.split(b"--" + boundary):
            head, _, data = part.partition(b"\r\n\r\n")
            if b'name="image"' in head:
                name = head.split(b'filename="')[1].split(b'"')[0].decode()
                with self.control.lock:
                    self.control.uploads[name] = data.removesuffix(b"\r\n")
                return Response(200, {"name": name, "subfolder": "", "type": "input"})
        return Response(400, b"no image", {"Content-Type": "text/plain"})

    def _submit(self, body: dict[str, Any]) -> Response:
        prompt = body.get("prompt")
        if not isinstance(prompt, dict):
            return Response(400, _top("no_prompt", "No prompt provided", ""))
        for node_id, spec in prompt.items():
            if spec.get("class_type") not in OBJECT_INFO:
                return Response(
                    400,
                    _top(
                        "invalid_prompt",
                        f"Cannot execute because node {spec.get('class_type')} does not exist.",
                        f"Node ID '#{node_id}'",
                    ),
                )
        outputs = [n for n, s in prompt.items() if OBJECT_INFO[s["class_type"]]["output_node"]]
        if not outputs:
            return Response(400, _top("prompt_no_outputs", "Prompt has no outputs", ""))
        node_errors = self._validate(prompt, outputs)
        good = [
            o for o in outputs if not any(o in e["dependent_outputs"] for e in node_errors.values())
        ]
        if not good:
            body_ = _top("prompt_outputs_failed_validation", "Prompt outputs failed validation", "")
            body_["node_errors"] = node_errors
            return Response(400, body_)
        c = self.control
        with c.lock:
            c.number += 1
            pid = str(body.get("prompt_id") or uuid.uuid4())
            c.pending.append(
                _Job(
                    c.number, pid, prompt, body.get("extra_data") or {}, good, body.get("client_id")
                )
            )
            c.wake.notify_all()
            number = c.number
        return Response(200, {"prompt_id": pid, "number": number, "node_errors": node_errors})

    def _validate(self, prompt: dict[str, Any], outputs: list[str]) -> dict[str, Any]:
        errors: dict[str, Any] = {}
        for out in outputs:
            for node_id in _upstream(prompt, out):
                spec = prompt[node_id]
                required = self._object_info()[spec["class_type"]]["input"]["required"]
                found = []
                for name, conf in required.items():
                    value = spec.get("inputs", {}).get(name)
                    extra = {"input_name": name, "input_config": conf, "received_value": value}
                    if value is None:
                        found.append(
                            {
                                "type": "required_input_missing",
                                "message": "Required input is missing",
                                "details": name,
                                "extra_info": extra,
                            }
                        )
                    elif isinstance(conf[0], list) and value not in conf[0]:
                        shown = (
                            conf[0] if len(conf[0]) <= 20 else f"(list of length {len(conf[0])})"
                        )
                        found.append(
                            {
                                "type": "value_not_in_list",
                                "message": "Value not in list",
                                "details": f"{name}: '{value}' not in {shown}",
                                "extra_info": extra,
                            }
                        )
                    elif conf[0] == "INT" and not isinstance(value, (int, list)):
                        found.append(
                            {
                                "type": "invalid_input_type",
                                "message": "Failed to convert an input value to a INT value",
                                "details": f"{name}, {value}",
                                "extra_info": extra,
                            }
                        )
                if found:
                    entry = errors.setdefault(
                        node_id,
                        {
                            "errors": found,
                            "dependent_outputs": [],
                            "class_type": spec["class_type"],
                        },
                    )
                    if out not in entry["dependent_outputs"]:
                        entry["dependent_outputs"].append(out)
        return errors

    def _websocket(self, request: Request) -> Response:
        protocol = ServerProtocol()
        head = f"GET {request.handler.path} HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in request.headers.items()
        )
        protocol.receive_data((head + "\r\n").encode())
        [ws_request] = protocol.events_received()
        protocol.send_response(protocol.accept(ws_request))
        sock = request.handler.connection
        sock.sendall(b"".join(protocol.data_to_send()))
        ws = Connection(sock, protocol)
        client_id = request.query.get("clientId") or uuid.uuid4().hex
        c = self.control
        with c.lock:
            old = c.sockets.get(client_id)
            c.sockets[client_id] = ws
            remaining = len(c.pending) + (1 if c.running else 0)
        if old is not None:
            old.close()
        with contextlib.suppress(Exception):  # the client went away at once
            ws.send(
                json.dumps(
                    {
                        "type": "status",
                        "data": {
                            "status": {"exec_info": {"queue_remaining": remaining}},
                            "sid": client_id,
                        },
                    }
                )
            )
            for _ in ws:  # feature flags and the like: ignored
                pass
        with c.lock:
            if c.sockets.get(client_id) is ws:
                del c.sockets[client_id]
        return Response(upgraded=True)

    def _work(self) -> None:
        c = self.control
        while True:
            with c.lock:
                while not c.stopping and (c.hold or not c.pending):
                    c.wake.wait(0.05)
                if c.stopping:
                    return
                job = c.pending.popleft()
                c.running = job
            self._run(job)

    def _run(self, job: _Job) -> None:
        c = self.control
        pid, cid = job.prompt_id, job.client_id

        def event(kind: str, data: dict[str, Any], record: bool = True) -> None:
            data = {**data, "prompt_id": pid}
            if record:
                job.messages.append([kind, {**data, "timestamp": int(time.time() * 1000)}])
            c.send(cid, kind, data)

        c.send(None, "status", {"status": {"exec_info": {"queue_remaining": len(c.pending) + 1}}})
        event("execution_start", {})
        event("execution_cached", {"nodes": []})
        order = sorted(
            set().union(*(_upstream(job.prompt, o) for o in job.outputs)), key=_order(job.prompt)
        )
        outputs: dict[str, Any] = {}
        status = "success"
        per_node = c.latency_s / max(1, len(order))
        for node_id in order:
            if job.interrupted:
                event(
                    "execution_interrupted",
                    {
                        "node_id": node_id,
                        "node_type": job.prompt[node_id]["class_type"],
                        "executed": [],
                    },
                )
                status = "error"
                break
            spec = job.prompt[node_id]
            event("executing", {"node": node_id, "display_node": node_id}, record=False)
            if spec["class_type"] == "KSampler":
                for step in (1, 2, 3):
                    event("progress", {"value": step, "max": 3, "node": node_id}, record=False)
            time.sleep(per_node)
            if c.fail_node == node_id:
                event(
                    "execution_error",
                    {
                        "node_id": node_id,
                        "node_type": spec["class_type"],
                        "executed": [],
                        "exception_message": c.fail_message,
                        "exception_type": c.fail_type,
                        "traceback": ["Traceback..."],
                        "current_inputs": {},
                        "current_outputs": {},
                    },
                )
                status = "error"
                break
            ui = self._execute(job, node_id)
            if ui is not None:
                outputs[node_id] = ui
                event(
                    "executed",
                    {"node": node_id, "display_node": node_id, "output": ui},
                    record=False,
                )
        if status == "success":
            event("execution_success", {})
        with c.lock:
            if not job.forgotten:
                c.history[pid] = {
                    "prompt": [job.number, pid, job.prompt, job.extra, job.outputs],
                    "outputs": outputs,
                    "status": {
                        "status_str": status,
                        "completed": status == "success",
                        "messages": job.messages,
                    },
                    "meta": {n: {"node_id": n, "display_node": n} for n in outputs},
                }
            c.running = None
        c.send(None, "status", {"status": {"exec_info": {"queue_remaining": len(c.pending)}}})
        event("executing", {"node": None}, record=False)

    def _execute(self, job: _Job, node_id: str) -> dict[str, Any] | None:
        spec = job.prompt[node_id]
        kind = spec["class_type"]
        if kind not in SAVE_NODES:
            return None
        c = self.control
        with c.lock:
            uploads = dict(c.uploads)
        facts = _facts(job.prompt, node_id, uploads)
        kind_dir = "temp" if kind == "PreviewImage" else "output"
        subfolder, _, prefix = spec["inputs"].get("filename_prefix", "ComfyUI").rpartition("/")
        ext = {"SaveAnimatedWEBP": "webp", "SaveVideo": "mp4", "SaveAudio": "flac"}.get(kind, "png")
        with c.lock:
            index = 1 + sum(1 for k in c.files if k[1] == subfolder and k[2].startswith(prefix))
        name = f"{prefix}_{index:05d}_.{ext}"
        key = "audio" if kind == "SaveAudio" else "images"
        ui: dict[str, Any] = {key: [{"filename": name, "subfolder": subfolder, "type": kind_dir}]}
        if kind in ("SaveAnimatedWEBP", "SaveVideo"):
            ui["animated"] = [True]
        if kind == "SaveAnimatedWEBP":
            fps = float(spec["inputs"].get("fps", 6.0))
            data = _webp(facts.width, facts.height, facts.frames, facts.seed, fps)
        elif kind == "SaveVideo":
            data = mp4(
                facts.width,
                facts.height,
                frames=facts.frames,
                fps=facts.fps,
                seed=facts.seed,
                start=facts.image,
            )
        elif kind == "SaveAudio":
            data = flac(min(3.0, 0.06 * len(facts.text) + 0.2), facts.seed)
        else:
            data = png(facts.width, facts.height, facts.seed)
        with c.lock:
            c.files[(kind_dir, subfolder, name)] = data
        return ui


def _top(kind: str, message: str, details: str) -> dict[str, Any]:
    return {
        "error": {"type": kind, "message": message, "details": details, "extra_info": {}},
        "node_errors": {},
    }


def _item(job: _Job) -> list[Any]:
    return [job.number, job.prompt_id, job.prompt, job.extra, job.outputs]


def _upstream(prompt: dict[str, Any], node_id: str) -> set[str]:
    seen: set[str] = set()
    stack = [node_id]
    while stack:
        n = stack.pop()
        if n in seen or n not in prompt:
            continue
        seen.add(n)
        for value in prompt[n].get("inputs", {}).values():
            if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                stack.append(value[0])
    return seen


def _order(prompt: dict[str, Any]) -> Any:
    def depth(n: str) -> int:
        return len(_upstream(prompt, n))

    return lambda n: (depth(n), n)


@dataclass
class _Facts:
    """What the nodes upstream of an output node decide about its file."""

    width: int = 64
    height: int = 64
    frames: int = 1
    fps: float = 16.0
    seed: int = 0
    image: bytes | None = None
    text: str = ""


def _facts(prompt: dict[str, Any], node_id: str, uploads: dict[str, bytes]) -> _Facts:
    facts = _Facts()
    sized = False
    for n in _upstream(prompt, node_id):
        spec = prompt[n]
        inputs = spec.get("inputs", {})
        kind = spec["class_type"]
        if kind == "EmptyLatentImage":
            facts.width, facts.height = int(inputs["width"]), int(inputs["height"])
            facts.frames = int(inputs.get("batch_size", 1))
            sized = True
        elif kind == "WanImageToVideo":
            # The latent is 1/8 of the size and 1/4 of the frames (plus the first one).
            facts.width, facts.height = (
                int(inputs["width"]) // 8 * 8,
                int(inputs["height"]) // 8 * 8,
            )
            facts.frames = (int(inputs["length"]) - 1) // 4 * 4 + 1
            sized = True
        elif kind == "KSampler":
            facts.seed = int(inputs["seed"])
        elif kind == "CreateVideo":
            facts.fps = float(inputs["fps"])
        elif kind == "LoadImage":
            facts.image = uploads.get(str(inputs["image"]))
        elif kind == "TextToSpeech":
            facts.text, facts.seed = str(inputs["text"]), int(inputs["seed"])
    if not sized and facts.image is not None:
        from PIL import Image

        with Image.open(io.BytesIO(facts.image)) as image:
            facts.width, facts.height = image.size
    return facts


def _webp(width: int, height: int, frames: int, seed: int, fps: float) -> bytes:
    from PIL import Image

    images = [
        Image.new("RGB", (width, height), ((seed + 40 * i) % 256, 80, 160))
        for i in range(max(frames, 2))
    ]
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        "WEBP",
        save_all=True,
        append_images=images[1:],
        duration=int(1000 / fps),
        lossless=True,
    )
    return buffer.getvalue()


def start() -> tuple[str, ComfyControl]:
    """Start a loopback ComfyUI; return its base URL and control (call ``control.stop()``)."""
    app = ComfyApp()
    server = LoopbackServer(app)
    app.control.server = server
    return server.start(), app.control
