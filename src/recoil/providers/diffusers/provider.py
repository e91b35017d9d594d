"""The diffusers provider: Hugging Face diffusers pipelines run in this process.

Settings are :mod:`recoil.providers.diffusers.config`; how request fields
become pipeline arguments is :mod:`recoil.providers.diffusers.calls`.

- ``keyframe``: text-to-image, or image-to-image from the request's
  ``image`` (a chained beat) or first reference image, with the same weights.
- ``video``: image-to-video from the request's ``image`` (the keyframe);
- ``upscale``: an image, or every frame of a clip, through an upscaling
  pipeline, then resampled to exactly ``scale`` times the source.

Pipelines load on first use and stay loaded for the process
(:mod:`recoil.providers.diffusers.pipelines`); each call runs in a worker
thread (:mod:`recoil.providers.diffusers.generation`), so the event loop and
the scheduler stay responsive, one call at a time per device. The run's
default limit for this provider is one request in flight
(``recoil.production.settings``); with modalities on several GPUs raise
``limit`` in ``[providers.diffusers]``.

What decides the output besides the request, :meth:`DiffusersProvider.identity_for`,
is part of the cache key and of every receipt (``provenance.provider_identity``):
the pipeline class and task, the model's revision (cache commit and folder
digest), device, dtype, offload and the versions of diffusers, torch,
transformers and accelerate. A repeated request is the same request; only on
the CPU, with the same libraries, is it also the same pixels: GPU kernels are
not bit-exact across runs, drivers and cards (SPEC 4: only previz promises
identical bytes).

Validation (:meth:`DiffusersProvider.validate`) imports diffusers once, to check
the pipeline class and the request's parameters against its ``__call__``.
Local generation is free: cost is 0.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import Any

from recoil.errors import ConfigError, PayloadError, ProviderError
from recoil.model.cost import FREE, Cost
from recoil.model.provider_config import ProviderConfig
from recoil.model.requests import Request
from recoil.providers.base import Job, JobState, JobStatus
from recoil.providers.diffusers.calls import build_call, task_of
from recoil.providers.diffusers.config import ModelConfig, load_configs
from recoil.providers.diffusers.generation import Generation, generate
from recoil.providers.diffusers.pipelines import Placement, call_parameters, pipeline_class
from recoil.providers.diffusers.placement import (
    library_versions,
    model_revision,
    resolve_device,
    resolve_dtype,
)


class DiffusersProvider:
    """Runs diffusers pipelines in-process (see the module docstring)."""

    name = "diffusers"
    version = "diffusers-1"
    poll_interval_s = 0.0
    remote = False

    def __init__(self, config: ProviderConfig) -> None:
        self.configs: Mapping[str, ModelConfig] = load_configs(config.options)
        self.modalities = frozenset(self.configs)
        self._takes: dict[str, frozenset[str]] = {}
        """Modality -> the parameters its pipeline's ``__call__`` takes, once checked."""

    def model_for(self, request: Request) -> str:
        """The configured model of the request's modality (an id or a folder)."""
        return self._config(request).model

    def validate(self, request: Request) -> None:
        """The modality is configured, its pipeline fits it, and the request fits the pipeline."""
        config = self._config(request)
        if request.model is not None and request.model != config.model:
            raise PayloadError(
                request.modality,
                "model",
                f"diffusers runs {config.model!r} for {request.modality} "
                f"([providers.diffusers.{request.modality}] model); leave 'model' out",
            )
        build_call(request, self._call_parameters(config))

    def identity_for(self, request: Request) -> Mapping[str, Any]:
        """What decides the output besides the request (see the module docstring)."""
        config = self._config(request)
        placement = placement_of(config)
        revision = model_revision(config.folder)
        return {
            "pipeline": config.pipeline,
            "task": task_of(request).value,
            "model_revision": revision.commit,
            "model_sha256": revision.sha256,
            "device": placement.device,
            "dtype": placement.dtype,
            "offload": placement.offload,
            "versions": library_versions(),
        }

    def estimate_cost(self, request: Request) -> Cost:
        """Local generation is free."""
        return FREE

    async def preflight(self) -> list[str]:
        """Problems with a configured pipeline: a class that does not fit, a missing device."""
        problems: list[str] = []
        for config in self.configs.values():
            try:
                await asyncio.to_thread(self._call_parameters, config)
                placement_of(config)
            except ConfigError as exc:
                problems.append(str(exc))
        return problems

    async def submit(self, request: Request, key: str) -> Job:
        """Run the request's pipeline in a worker thread and return the finished job."""
        config = self._config(request)
        try:
            generation = Generation(
                placement=placement_of(config),
                modality=request.modality,
                call=build_call(request, self._call_parameters(config)),
                fps=float(getattr(request, "fps", 0.0)),
                stop=threading.Event(),
            )
        except ConfigError as exc:
            raise ProviderError(str(exc), retryable=False, provider_status="config_error") from None
        try:
            output = await asyncio.to_thread(generate, generation)
        except ConfigError as exc:  # the pipeline failed to load
            raise ProviderError(str(exc), retryable=False, provider_status="config_error") from None
        except asyncio.CancelledError:
            generation.stop.set()  # the worker thread stops at its next step
            raise
        state = JobState(
            status=JobStatus.SUCCEEDED, outputs=(output,), cost=FREE, raw_status="succeeded"
        )
        return Job(job_id=key, result=state)

    async def find(self, request: Request, key: str, sent_us: int) -> Job | None:
        """In-process work dies with its process: nothing to find."""
        return None

    async def check(self, job: Job) -> JobState:
        """The result ``submit`` stored on the job."""
        if job.result is None:
            raise ProviderError(
                f"diffusers job {job.job_id} has no result: diffusers finishes every job in "
                "submit, so submit the request again",
                retryable=False,
                provider_status="unknown_job",
            )
        return job.result

    async def cancel(self, job: Job) -> None:
        """Nothing to cancel: a job is done when ``submit`` returns."""

    async def aclose(self) -> None:
        """Nothing to release: loaded pipelines stay for the process's other dispatches."""

    def _config(self, request: Request) -> ModelConfig:
        config = self.configs.get(request.modality)
        if config is None:
            configured = ", ".join(sorted(self.configs))
            raise ConfigError(
                f"provider 'diffusers' has no model for {request.modality} (it has: "
                f"{configured}); add [providers.diffusers.{request.modality}] with "
                'model = "ID or FOLDER" to recoil.toml, or pick another provider for it'
            )
        return config

    def _call_parameters(self, config: ModelConfig) -> frozenset[str]:
        takes = self._takes.get(config.modality)
        if takes is None:
            cls = pipeline_class(config.pipeline, config.modality)
            takes = self._takes[config.modality] = call_parameters(cls)
        return takes


def placement_of(config: ModelConfig) -> Placement:
    """Where the pipeline of ``config`` runs, resolved on this machine."""
    device = resolve_device(config.device)
    if config.offload and device == "cpu":
        raise ConfigError(
            f"[providers.diffusers.{config.modality}] offload moves weights between the CPU "
            "and a GPU, and this machine runs the pipeline on the CPU; set offload = false"
        )
    return Placement(
        folder=config.folder,
        pipeline=config.pipeline,
        device=device,
        dtype=resolve_dtype(config.dtype, device),
        offload=config.offload,
        revision=model_revision(config.folder).sha256,
    )
