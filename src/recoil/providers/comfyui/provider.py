"""The ComfyUI provider: API-format workflow templates filled from the request.

Settings (``[providers.comfyui]`` in ``recoil.toml``)::

    servers = ["http://127.0.0.1:8188"]   # a pool: the least busy server gets each job
    price_per_second = 0.0                # cost of one second of execution (GPU time)
    [providers.comfyui.templates.<name>]  # see recoil.providers.comfyui.binding

How a job runs:

- ``submit`` picks the least busy server: its queue (``GET /prompt``), at least
  the jobs this adapter has running there, plus the submits to it still on their
  way. A job counts against its server from the moment it is picked, so
  concurrent submits that read the queues at the same instant spread across the
  pool instead of all choosing the same one.
- Before the first prompt to a server, the template is checked against the
  server's ``GET /object_info`` (kept for later submits): a bound input its node
  does not have (ComfyUI would silently ignore it) or an output node that saves
  nothing is a permanent error, and no prompt is sent.
- It then uploads input media (``POST /upload/image``), fills the template and
  sends ``POST /prompt`` with this adapter's ``client_id`` and a ``prompt_id`` of
  our own (derived from the dispatch's key), so a dropped connection can be
  resolved by looking the id up in ``/queue`` and ``/history`` instead of
  sending again. The job handle holds the server URL, prompt id and output
  node: any later process can check the job.
- ``find`` (after a crash cut a submit off) looks the same prompt id up on
  every server of the pool.
- ``check`` answers from the progress websocket while it is trustworthy, else
  from ``GET /history/{id}`` and ``GET /queue``. A prompt neither knows was
  lost (ComfyUI keeps both in memory only, a restarted server forgot it): a
  retryable ``lost`` error, so the scheduler submits it again.
- Outputs are the files the output node lists in its history entry (``images``,
  ``gifs``, ``audio``, ``videos``), fetched at once with ``GET /view``. An
  animated image (``SaveAnimatedWEBP``, a GIF) is a clip: it becomes an H.264
  MP4 (output ``video``, at the frame rate the node saved it at) and the file
  itself is kept beside it (``video_original``).
- The cache key covers the workflow, not only the template's name:
  :meth:`ComfyUIProvider.identity_for` gives the template, the hash of its
  workflow file and the hash of the graph the request fills in, which the
  receipt records (``provenance.provider_identity``).
- ``cancel`` removes the prompt from the queue and interrupts it if it runs.

Validation errors (``node_errors``) and execution errors become one permanent
:class:`ProviderError` naming the node, its class, the input and the reason.
Cost is ``price_per_second`` times the execution time ComfyUI reports
(``execution_start`` to the end, on the server's clock), 0 when no price is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from recoil.errors import ConfigError, ProviderError
from recoil.media.animated import animated_to_mp4
from recoil.model.cost import Cost
from recoil.model.provider_config import ProviderConfig
from recoil.model.requests import Request
from recoil.providers.base import Job, JobState, JobStatus, Output
from recoil.providers.comfyui.api import ComfyAPI, json_body
from recoil.providers.comfyui.binding import (
    MEDIA_FIELDS,
    Template,
    check_media_bindings,
    format_node_errors,
    graph_sha256,
    load_templates,
    request_values,
    select_template,
)
from recoil.providers.comfyui.history import (
    execution_error,
    execution_seconds,
    in_queue,
    interrupted,
    output_files,
)
from recoil.providers.comfyui.socket import ProgressSocket
from recoil.providers.http import Boundary, default_timeout, role_names

MODALITIES = ("keyframe", "video", "audio", "upscale")
_DEFAULT_SERVER = "http://127.0.0.1:8188"
_PROMPT_IDS = uuid.UUID("5d0b8f3e-1c2a-4e57-9a8b-7f3c2d1e0a96")
"""The namespace of prompt ids made from dispatch keys."""


class ComfyUIProvider:
    """Drives one or more ComfyUI servers (see the module docstring)."""

    name = "comfyui"
    version = "comfyui-1"
    poll_interval_s = 0.05
    remote = True

    def __init__(self, config: ProviderConfig) -> None:
        options = config.options
        servers = options.get("servers", [options.get("server", _DEFAULT_SERVER)])
        if (
            not isinstance(servers, list)
            or not servers
            or not all(
                isinstance(s, str) and s.startswith(("http://", "https://")) for s in servers
            )
        ):
            raise ConfigError(
                '[providers.comfyui] servers must be a list of URLs, e.g. ["http://127.0.0.1:8188"]'
            )
        self.servers: list[str] = [str(s).rstrip("/") for s in servers]
        self.templates = load_templates(options)
        price = options.get("price_per_second", 0.0)
        if not isinstance(price, int | float) or price < 0:
            raise ConfigError(f"[providers.comfyui] price_per_second must be >= 0, got {price!r}")
        self.price_per_second = float(price)
        self.estimate_seconds = float(options.get("estimate_seconds", 0.0))
        self.client_id = uuid.uuid4().hex
        self._boundary = Boundary("comfyui", url_setting="servers")
        self._api = ComfyAPI(self._boundary, default_timeout(options))
        self._sockets: dict[str, ProgressSocket] = {}
        self._inflight: Counter[str] = Counter()
        """Server -> jobs of this adapter it accepted that have not ended."""
        self._sending: Counter[str] = Counter()
        """Server -> submits picked for it whose ``POST /prompt`` has not returned."""
        self._object_info: dict[str, Mapping[str, Any]] = {}
        """Server -> its ``GET /object_info``, once asked."""
        self._cancelled: set[str] = set()

    def model_for(self, request: Request) -> str:
        """The template name the request runs on."""
        return select_template(self.templates, request).name

    def identity_for(self, request: Request) -> Mapping[str, Any]:
        """What decides the output besides the request: the workflow and the graph it fills.

        The template's name, output node and workflow hash, and the hash of the
        graph the request fills in (input files stand in by name: their
        contents are in the cache key already). Editing the workflow file or
        the binding changes it, and so the cache key.
        """
        template = select_template(self.templates, request)
        values = request_values(request, template)
        for name in MEDIA_FIELDS:
            if getattr(request, name, None) is not None:
                values[name] = f"<{name}>"
        return {
            "template": template.name,
            "output": template.output,
            "workflow_sha256": template.workflow_sha256,
            "graph_sha256": graph_sha256(template.fill(values)),
        }

    def validate(self, request: Request) -> None:
        """A template exists, is consistent, and has a place for every input file."""
        template = select_template(self.templates, request)
        problems = template.problems(None)
        if problems:
            raise ConfigError("; ".join(problems))
        check_media_bindings(template, request)

    def estimate_cost(self, request: Request) -> Cost:
        """``estimate_seconds`` (option, default 0) times ``price_per_second``."""
        amount = self.estimate_seconds * self.price_per_second
        return Cost(amount=amount, source="estimated" if amount else "none")

    async def preflight(self) -> list[str]:
        """Unreachable servers, node classes a template needs but a server lacks, bad bindings."""
        problems: list[str] = []
        for template in self.templates.values():
            problems.extend(template.problems())
        for server in self.servers:
            try:
                info = await self._server_info(server)
            except ProviderError as exc:
                problems.append(f"comfyui server {server} is not usable: {exc}")
                continue
            for template in self.templates.values():
                problems.extend(f"{p} [server {server}]" for p in template.server_problems(info))
        return problems

    async def submit(self, request: Request, key: str) -> Job:
        """Fill the template, send it to the least busy server, return its prompt id."""
        template = select_template(self.templates, request)
        check_media_bindings(template, request)
        async with self._server_slot() as server:
            await self._check_binding(server, template)
            values = await self._values(server, request, template)
            prompt_id = _prompt_id(key)
            socket = self._socket(server)
            await socket.ensure()
            graph = template.fill(values)
            body = {
                "prompt": graph,
                "client_id": self.client_id,
                "prompt_id": prompt_id,
                "extra_data": {"extra_pnginfo": {"recoil": {"template": template.name}}},
            }
            job = _job(server, prompt_id, template, time.time(), graph)
            socket.watch(prompt_id)
            try:
                response = await self._api.send(
                    "POST", server, "/prompt", what="submit", idempotent=False, json=body, ok=(400,)
                )
            except ProviderError as exc:
                if not exc.unknown_outcome:
                    raise
                return await self._adopt(exc, job)
            return await self._accept(response, job, template)

    async def find(self, request: Request, key: str, sent_us: int) -> Job | None:
        """The prompt a cut-off submit sent, looked up by its id on every server."""
        template = select_template(self.templates, request)
        prompt_id = _prompt_id(key)
        graph = template.fill(request_values(request, template))
        silent = []
        for server in self.servers:
            try:
                if await self._api.exists(server, prompt_id):
                    self._inflight[server] += 1
                    return _job(server, prompt_id, template, sent_us / 1e6, graph)
            except ProviderError as exc:
                silent.append(f"{server} ({exc})")
        if silent:
            raise self._boundary.error(
                f"cannot tell whether prompt {prompt_id}, sent before a crash, reached a "
                f"server: {'; '.join(silent)}",
                retryable=True,
                error_type="connection",
            )
        return None

    async def check(self, job: Job) -> JobState:
        """The job's state from the websocket, else from history and queue."""
        server, prompt_id = job.handle["server"], job.handle["prompt_id"]
        socket = self._socket(server)
        seen = None if prompt_id in self._cancelled else socket.known(prompt_id)
        if seen is not None and not seen.done:
            # Until ComfyUI's end signal the history may not be written yet.
            status = JobStatus.RUNNING if seen.status.done else seen.status
            return JobState(status=status, progress=seen.progress, raw_status="websocket")
        entry = await self._api.history(server, prompt_id)
        if entry is None:
            queue = await self._api.queue(server)
            if in_queue(queue.get("queue_running"), prompt_id):
                return JobState(status=JobStatus.RUNNING, raw_status="queue_running")
            if in_queue(queue.get("queue_pending"), prompt_id):
                return JobState(status=JobStatus.QUEUED, raw_status="queue_pending")
            # It may have finished between the two calls.
            entry = await self._api.history(server, prompt_id)
        if entry is None:
            self._finished(server, prompt_id)
            if prompt_id in self._cancelled:  # deleted from the queue before it ran
                return JobState(status=JobStatus.CANCELLED, raw_status="deleted")
            error = self._boundary.error(
                f"server {server} lost prompt {prompt_id}: it is in neither its queue nor its "
                "history (the server was restarted, or its history was cleared); the job "
                "will be submitted again",
                retryable=True,
                provider_status="lost",
                error_type="lost",
            )
            return JobState(status=JobStatus.FAILED, error=error, raw_status="lost")
        await socket.ensure()
        state = await self._finish(job, entry)
        self._finished(server, prompt_id)
        return state

    async def cancel(self, job: Job) -> None:
        """Remove the prompt from the queue and interrupt it if it is running."""
        server, prompt_id = job.handle["server"], job.handle["prompt_id"]
        self._cancelled.add(prompt_id)
        await self._api.send("POST", server, "/queue", what="cancel", json={"delete": [prompt_id]})
        await self._api.send(
            "POST", server, "/interrupt", what="cancel", json={"prompt_id": prompt_id}
        )

    async def aclose(self) -> None:
        """Close the websockets and the HTTP client."""
        sockets, self._sockets = self._sockets, {}
        for socket in sockets.values():
            await socket.close()
        await self._api.aclose()

    def _socket(self, server: str) -> ProgressSocket:
        socket = self._sockets.get(server)
        if socket is None:
            socket = self._sockets[server] = ProgressSocket(server, self.client_id)
        return socket

    def _finished(self, server: str, prompt_id: str) -> None:
        self._socket(server).forget(prompt_id)
        if self._inflight[server] > 0:
            self._inflight[server] -= 1

    async def _server_info(self, server: str) -> Mapping[str, Any]:
        """The server's ``GET /object_info`` (asked once per server)."""
        info = self._object_info.get(server)
        if info is None:
            response = await self._api.send("GET", server, "/object_info", what="object_info")
            info = json_body(response)
            if not info:
                raise self._boundary.error(
                    f"server {server} sent an /object_info answer that is no table of nodes",
                    retryable=True,
                    error_type="protocol",
                )
            self._object_info[server] = info
        return info

    async def _check_binding(self, server: str, template: Template) -> None:
        """Refuse, before any prompt is sent, a template the server's nodes do not fit."""
        problems = template.binding_problems(await self._server_info(server))
        if problems:
            raise self._boundary.error(
                "; ".join(problems),
                retryable=False,
                error_type="invalid_template",
            )

    async def _values(self, server: str, request: Request, template: Template) -> dict[str, Any]:
        """The request's values for its template, its input files uploaded to ``server``."""
        values = request_values(request, template)
        for name in MEDIA_FIELDS:
            path = getattr(request, name, None)
            if isinstance(path, str):
                values[name] = await self._api.upload(server, Path(path))
        return values

    async def _adopt(self, exc: ProviderError, job: Job) -> Job:
        """The job, if the server has the prompt a submit ending in ``exc`` may have sent."""
        server, prompt_id = job.handle["server"], job.handle["prompt_id"]
        try:
            exists = await self._api.exists(server, prompt_id)
        except ProviderError:
            exists = False
        if exists:
            self._inflight[server] += 1
            return job
        raise self._boundary.error(
            f"{exc} (looked for prompt {prompt_id} in the server's queue and history: "
            "not there, or the server did not answer)",
            retryable=False,
            unknown_outcome=True,
            error_type="unknown_outcome",
        ) from None

    async def _accept(self, response: httpx.Response, job: Job, template: Template) -> Job:
        """The job, once the server's answer to the submit shows the prompt will run."""
        answer = json_body(response)
        if response.status_code == 400:
            raise self._rejected(answer, template)
        failed = answer.get("node_errors") or {}
        if any(
            nid == template.output or template.output in (entry.get("dependent_outputs") or [])
            for nid, entry in failed.items()
        ):
            # The rest of the graph still runs; it would be wasted.
            await self.cancel(job)
            raise self._rejected(answer, template)
        self._inflight[job.handle["server"]] += 1
        return job

    @contextlib.asynccontextmanager
    async def _server_slot(self) -> AsyncIterator[str]:
        """The least busy server, counted busier by one until the submit to it has returned."""
        server = await self._pick_server()
        # No await between the choice and this: the next submit's choice sees it.
        self._sending[server] += 1
        try:
            yield server
        finally:
            self._sending[server] -= 1

    async def _pick_server(self) -> str:
        """The server with the least work: its queue, our jobs on it, our submits to it."""
        if len(self.servers) == 1:
            return self.servers[0]
        loads = await asyncio.gather(*(self._api.queue_length(s) for s in self.servers))
        usable = []
        for i, (server, queued) in enumerate(zip(self.servers, loads, strict=True)):
            if queued is not None:
                # Our accepted jobs are in its queue, unless the answer predates them.
                load = max(queued, self._inflight[server]) + self._sending[server]
                usable.append((load, self._inflight[server] + self._sending[server], i))
        if not usable:
            raise self._boundary.error(
                f"no server answers: {', '.join(self.servers)}",
                retryable=True,
                error_type="connection",
            )
        return self.servers[min(usable)[2]]

    def _rejected(self, answer: Mapping[str, Any], template: Template) -> ProviderError:
        return self._boundary.error(
            f"template {template.name!r} was rejected: {format_node_errors(answer, template)}",
            retryable=False,
            provider_status="400",
            error_type=str((answer.get("error") or {}).get("type") or "invalid_prompt"),
        )

    async def _finish(self, job: Job, entry: Mapping[str, Any]) -> JobState:
        """The state of a prompt that has ended, from its history entry."""
        if interrupted(entry):
            return JobState(status=JobStatus.CANCELLED, raw_status="interrupted")
        failure = execution_error(entry)
        if failure is not None:
            text, out_of_memory = failure
            error = self._boundary.error(
                text,
                retryable=out_of_memory,
                provider_status="error",
                error_type="execution_error",
            )
            return JobState(status=JobStatus.FAILED, error=error, raw_status="error")
        files = output_files(entry, str(job.handle["output"]))
        if not files:
            error = self._boundary.error(
                f"output node {job.handle['output']} ({job.handle.get('output_class', '?')}) "
                f"of template {job.handle.get('template')!r} produced no files; point the "
                "binding's output at a save node (SaveImage, SaveAnimatedWEBP, SaveAudio...)",
                retryable=False,
                error_type="invalid_output",
            )
            return JobState(status=JobStatus.FAILED, error=error, raw_status="no_output")
        return JobState(
            status=JobStatus.SUCCEEDED,
            outputs=await self._download(job.handle["server"], files, _fps(job.handle)),
            cost=self._cost(job, entry),
            raw_status="success",
            model=str(job.handle.get("template", "")),
            progress=1.0,
        )

    async def _download(
        self, server: str, files: list[tuple[dict[str, Any], str]], fps: float | None
    ) -> tuple[Output, ...]:
        """Fetch the files an output node saved, named by their role.

        ``fps`` is the frame rate the output node was given, if it takes one.
        """
        # An animated image (GIF, animated WebP) is the clip of a video template.
        names = role_names("video/" if info["animated"] else mime for info, mime in files)
        outputs: list[Output] = []
        for name, (info, mime) in zip(names, files, strict=True):
            params = {k: info.get(k, "") for k in ("filename", "subfolder", "type")}
            response = await self._api.send("GET", server, "/view", what="download", params=params)
            data = response.content
            if info["animated"] and mime.startswith("image/"):
                # The cut and every editor want H.264; the file as saved is kept beside it.
                clip = await asyncio.to_thread(animated_to_mp4, data, fps=fps)
                outputs.append(Output(name=name, data=clip, mime="video/mp4"))
                outputs.append(Output(name=f"{name}_original", data=data, mime=mime))
            else:
                outputs.append(Output(name=name, data=data, mime=mime))
        return tuple(outputs)

    def _cost(self, job: Job, entry: Mapping[str, Any]) -> Cost:
        if not self.price_per_second:
            return Cost(source="none", detail="local ComfyUI: no price_per_second configured")
        seconds = execution_seconds(entry)
        if seconds is None:  # no server timestamps: time since submit, on our clock
            seconds = max(0.0, time.time() - float(job.handle.get("submitted_at", time.time())))
        return Cost(
            amount=seconds * self.price_per_second,
            source="estimated",
            detail=f"{seconds:.2f} s x {self.price_per_second:g}/s",
        )


def _prompt_id(key: str) -> str:
    # The same dispatch key always gives the same prompt id: a later process can look it up.
    return str(uuid.uuid5(_PROMPT_IDS, key))


def _job(
    server: str, prompt_id: str, template: Template, submitted_at: float, graph: Mapping[str, Any]
) -> Job:
    handle = {
        "server": server,
        "prompt_id": prompt_id,
        "output": template.output,
        "output_class": template.class_type(template.output),
        "template": template.name,
        "submitted_at": submitted_at,
    }
    fps = graph.get(template.output, {}).get("inputs", {}).get("fps")
    if isinstance(fps, int | float) and not isinstance(fps, bool) and fps > 0:
        handle["fps"] = float(fps)  # an animated WebP keeps only whole milliseconds per frame
    return Job(job_id=prompt_id, handle=handle)


def _fps(handle: Mapping[str, Any]) -> float | None:
    fps = handle.get("fps")
    return float(fps) if isinstance(fps, int | float) else None
