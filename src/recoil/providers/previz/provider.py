"""The previz provider: offline, free, deterministic renders for every built-in modality.

- ``keyframe``: a storyboard frame of the shot (:mod:`.frame`);
- ``video``: the request's image, or a storyboard frame rendered from the same
  prompt, shot and seed, animated by the camera movement (:mod:`.motion`);
- ``audio``: the prompt spoken by eSpeak NG (:mod:`.speech`), padded with
  silence or trimmed to ``duration_s`` when it is set;
- ``upscale``: Lanczos resampling of an image or a video (:mod:`.resample`).

The work happens inside ``submit``, in a process pool owned by the provider
(``workers`` option, default one per CPU), so rendering never blocks the event
loop and several renders run at once. The same request always gives the same
bytes. A request without a seed uses seed 0. Previz has no model options, so
a request with provider parameters (``params``: the payload keys that are not
request fields, such as ``--param oops=1``) is refused, naming them and the
fields previz reads, rather than rendered as if they were not there. For
keyframes, init and reference images are ignored.

Workers die with their owner: each holds the read end of a pipe whose only
write end the owning process keeps, and exits when that pipe reaches end of
file, which the kernel delivers the moment the owner dies, however it dies
(``kill -9`` included). Polling the owner's pid would not do: a killed owner
stays a zombie, and so looks alive, until its parent reaps it. With the
workers gone, the forkserver and the resource tracker (whose pipes the
workers held open) exit too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import json
import multiprocessing
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from recoil.errors import PayloadError, ProviderError, did_you_mean
from recoil.model.cost import FREE, Cost
from recoil.model.requests import (
    AudioRequest,
    KeyframeRequest,
    Request,
    UpscaleRequest,
    VideoRequest,
)
from recoil.providers.base import Job, JobState, JobStatus, Output

MODELS: Mapping[str, str] = {
    "keyframe": "previz-storyboard-1",
    "video": "previz-motion-1",
    "audio": "previz-espeak-ng",
    "upscale": "previz-lanczos-1",
}
"""The one model previz runs for each modality."""

_REQUEST_TYPES: tuple[type[Request], ...] = (
    KeyframeRequest,
    VideoRequest,
    AudioRequest,
    UpscaleRequest,
)

_Plan = tuple[Callable[[], bytes], str, str]
"""A render to run in a worker process, the name of its output and the output's MIME type."""


class RenderError(RuntimeError):
    """A render failed inside a worker process (one message argument, so it pickles)."""


class PrevizProvider:
    """The built-in offline renderer (see the module docstring)."""

    name = "previz"
    version = "previz-1"
    poll_interval_s = 0.0
    remote = False
    modalities = frozenset(MODELS)

    def __init__(self, *, workers: int | None = None) -> None:
        self._workers = workers or os.cpu_count() or 1
        self._executor: ProcessPoolExecutor | None = None
        self._lifeline: tuple[Connection, Connection] | None = None
        """Both ends of the pipe the workers watch (see the module docstring)."""

    def model_for(self, request: Request) -> str:
        """The previz model for the request's modality."""
        return MODELS.get(request.modality, f"previz-{request.modality}")

    def validate(self, request: Request) -> None:
        """Reject requests previz cannot render, naming the field."""
        from recoil.providers.previz.frame import ShotHintError, validate_shot
        from recoil.providers.previz.speech import UnknownVoiceError, check_voice

        modality = request.modality or type(request).__name__
        if not isinstance(request, _REQUEST_TYPES):
            raise PayloadError(
                modality, "modality", f"previz renders {', '.join(MODELS)}, not {modality!r}"
            )
        expected = MODELS[request.modality]
        if request.model is not None and request.model != expected:
            raise PayloadError(
                modality,
                "model",
                f"previz runs only {expected!r} for {modality}; leave 'model' out",
            )
        if request.params:
            raise _unknown_params(request)
        try:
            validate_shot(request.shot)
        except ShotHintError as exc:
            raise PayloadError(modality, f"shot.{exc.field}", exc.reason) from None
        if isinstance(request, AudioRequest):
            try:
                check_voice(request.voice)
            except UnknownVoiceError as exc:
                raise PayloadError(modality, "voice", str(exc)) from None

    def estimate_cost(self, request: Request) -> Cost:
        """Previz is free."""
        return FREE

    async def preflight(self) -> list[str]:
        """Nothing can stop previz: it needs no server, network or GPU."""
        return []

    async def submit(self, request: Request, key: str) -> Job:
        """Render the request and return the finished job."""
        job_id = request_job_id(self.name, self.version, request)
        task, output_name, mime = _plan(request)
        loop = asyncio.get_running_loop()
        pool = self._pool()
        try:
            data = await loop.run_in_executor(pool, task)
        except RenderError as exc:
            raise ProviderError(
                f"previz could not render the {request.modality}: {exc}",
                retryable=False,
                provider_status="render_error",
            ) from None
        except BrokenProcessPool as exc:
            self._drop_pool(pool)  # the next call starts a fresh pool
            raise ProviderError(
                f"a previz worker process died ({exc}); running it again usually works. "
                "If every render fails this way, the script running recoil needs the "
                "`if __name__ == '__main__':` guard that multiprocessing requires",
                retryable=True,
                provider_status="worker_died",
            ) from None
        state = JobState(
            status=JobStatus.SUCCEEDED,
            outputs=(Output(name=output_name, data=data, mime=mime),),
            cost=FREE,
            model=self.model_for(request),
            raw_status="succeeded",
        )
        return Job(job_id=job_id, result=state)

    async def find(self, request: Request, key: str, sent_us: int) -> Job | None:
        """Previz work dies with its process: nothing to find."""
        return None

    async def check(self, job: Job) -> JobState:
        """The result ``submit`` stored on the job."""
        if job.result is None:
            raise ProviderError(
                f"previz job {job.job_id} has no result: previz finishes every job in "
                "submit, so submit the request again",
                retryable=False,
                provider_status="unknown_job",
            )
        return job.result

    async def cancel(self, job: Job) -> None:
        """Nothing to cancel: previz jobs are done when ``submit`` returns."""

    async def aclose(self) -> None:
        """Stop the worker processes."""
        executor, lifeline = self._executor, self._lifeline
        self._executor = self._lifeline = None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
        _close(lifeline)

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # forkserver/spawn: forking a parent that runs threads (the event loop's
            # executors, database drivers) can copy a held lock into the child.
            methods = multiprocessing.get_all_start_methods()
            method = "forkserver" if "forkserver" in methods else "spawn"
            # Both ends stay open here: workers start on demand, each given its copies.
            self._lifeline = multiprocessing.Pipe(duplex=False)
            self._executor = ProcessPoolExecutor(
                max_workers=self._workers,
                mp_context=multiprocessing.get_context(method),
                initializer=_die_with_owner,
                initargs=self._lifeline,
            )
        return self._executor

    def _drop_pool(self, broken: ProcessPoolExecutor) -> None:
        """Forget a broken pool (not a fresh one another submit has started since);
        closing its lifeline ends any of its workers still running."""
        if self._executor is broken:
            lifeline = self._lifeline
            self._executor = self._lifeline = None
            _close(lifeline)


def _plan(request: Request) -> _Plan:
    """The worker call for ``request``, its output name and MIME type."""
    if isinstance(request, KeyframeRequest):
        return _keyframe_plan(request)
    if isinstance(request, VideoRequest):
        return _video_plan(request)
    if isinstance(request, AudioRequest):
        return _audio_plan(request)
    if isinstance(request, UpscaleRequest):
        return _upscale_plan(request)
    raise PayloadError(request.modality, "modality", f"previz renders {', '.join(MODELS)}")


def _keyframe_plan(request: KeyframeRequest) -> _Plan:
    keyframe = functools.partial(
        _work,
        "keyframe",
        prompt=request.prompt,
        seed=request.seed or 0,
        width=request.width,
        height=request.height,
        shot=dict(request.shot),
    )
    return keyframe, "image", "image/png"


def _video_plan(request: VideoRequest) -> _Plan:
    video = functools.partial(
        _work,
        "video",
        image=_read_input(request, "image", request.image),
        prompt=request.prompt,
        seed=request.seed or 0,
        shot=dict(request.shot),
        movement=request.camera_movement,
        duration_s=request.duration_s,
        fps=request.fps,
        width=request.width,
        height=request.height,
    )
    return video, "video", "video/mp4"


def _audio_plan(request: AudioRequest) -> _Plan:
    audio = functools.partial(
        _work,
        "audio",
        text=request.prompt,
        voice=request.voice,
        sample_rate=request.sample_rate,
        duration_s=request.duration_s,
    )
    return audio, "audio", "audio/wav"


def _upscale_plan(request: UpscaleRequest) -> _Plan:
    if request.image is not None:
        data = _read_input(request, "image", request.image)
        return (
            functools.partial(_work, "upscale_image", data=data, scale=request.scale),
            "image",
            "image/png",
        )
    data = _read_input(request, "video", request.video)
    return (
        functools.partial(_work, "upscale_video", data=data, scale=request.scale),
        "video",
        "video/mp4",
    )


def request_job_id(provider: str, version: str, request: Request) -> str:
    """A job id derived from the request, so the same request has the same id."""
    canonical = json.dumps(
        {
            "provider": provider,
            "version": version,
            "modality": request.modality,
            "request": request.to_dict(),
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def _read_input(request: Request, field: str, path: str | None) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ProviderError(
            f"previz cannot read the {request.modality} input {field!r} at {path}: "
            f"{exc.strerror or exc}",
            retryable=False,
            provider_status="input_unreadable",
        ) from None


def _unknown_params(request: Request) -> PayloadError:
    """The error for a request that carries provider parameters, which previz has none of."""
    fields = [f.name for f in dataclasses.fields(request) if f.name != "params"]
    names = sorted(request.params)
    first = names[0]
    if first in fields:  # given inside ``params`` although the request has the field
        hint = f" ({first!r} is a {request.modality} field: give it outside params)"
    else:
        hint = did_you_mean(first, fields)
    listed = ", ".join(repr(n) for n in names[:5]) + (", ..." if len(names) > 5 else "")
    return PayloadError(
        request.modality,
        first,
        f"unknown parameter{'s' if len(names) > 1 else ''} {listed}{hint}: previz has no "
        f"model parameters; a previz {request.modality} accepts only {', '.join(fields)}",
    )


def _close(lifeline: tuple[Connection, Connection] | None) -> None:
    for end in lifeline or ():
        end.close()


def _die_with_owner(watched: Connection, owner_end: Connection) -> None:
    """Worker initializer: exit as soon as the owner's end of ``watched`` closes.

    The worker drops its own copy of that end first (a forked worker inherits it,
    a spawned one is handed it), so the owner holds the last one.
    """
    owner_end.close()
    threading.Thread(target=_await_owner_death, args=(watched,), daemon=True).start()


def _await_owner_death(watched: Connection) -> None:
    while True:
        try:
            watched.recv_bytes()
        except (EOFError, OSError):
            # The owner is gone: nobody will read a result, so stop at once, mid-render.
            os._exit(1)


def _work(kind: str, **kwargs: Any) -> bytes:
    """Run one render in a worker process; every failure comes back as a RenderError."""
    try:
        return _RENDERERS[kind](**kwargs)
    except Exception as exc:
        raise RenderError(f"{type(exc).__name__}: {exc}") from None


def _keyframe(*, prompt: str, seed: int, width: int, height: int, shot: Mapping[str, Any]) -> bytes:
    from recoil.providers.previz.frame import render_keyframe

    return render_keyframe(prompt=prompt, seed=seed, width=width, height=height, shot=shot)


def _video(
    *,
    image: bytes | None,
    prompt: str,
    seed: int,
    shot: Mapping[str, Any],
    movement: str,
    duration_s: float,
    fps: float,
    width: int,
    height: int,
) -> bytes:
    from recoil.providers.previz.motion import render_motion

    if image is None:
        image = _keyframe(prompt=prompt, seed=seed, width=width, height=height, shot=shot)
    return render_motion(
        image=image, movement=movement, duration_s=duration_s, fps=fps, width=width, height=height
    )


def _audio(
    *, text: str, voice: str | None, sample_rate: int | None, duration_s: float | None
) -> bytes:
    from recoil.providers.previz.speech import fit_duration, read_pcm, synthesize_speech, wav_bytes

    data = synthesize_speech(text=text, voice=voice, sample_rate=sample_rate)
    if duration_s is None:
        return data
    pcm, rate = read_pcm(data)
    return wav_bytes(fit_duration(pcm, rate, duration_s), rate)


def _upscale_image(*, data: bytes, scale: float) -> bytes:
    from recoil.providers.previz.resample import upscale_image

    return upscale_image(data, scale)


def _upscale_video(*, data: bytes, scale: float) -> bytes:
    from recoil.providers.previz.resample import upscale_video

    return upscale_video(data, scale)


_RENDERERS: Mapping[str, Callable[..., bytes]] = {
    "keyframe": _keyframe,
    "video": _video,
    "audio": _audio,
    "upscale_image": _upscale_image,
    "upscale_video": _upscale_video,
}
