"""A request as a pipeline call: its arguments, and which task it is.

Request fields map to the pipeline's own arguments where the pipeline takes
them; a field that changes the picture and that the pipeline has no argument
for is refused rather than dropped:

==================  =====================================================
``prompt``          ``prompt``, where the pipeline takes one (Stable Video
                    Diffusion animates the picture alone)
``negative_prompt`` ``negative_prompt`` when not empty, where the pipeline takes one
``width, height``   ``width``, ``height`` (image-to-image: the init image is resized to them)
``seed``            a CPU ``torch.Generator`` seeded with it (the same noise on every device)
``steps``           ``num_inference_steps``
``guidance``        ``guidance_scale``
``image``           the init image (keyframe), the first frame (video), the source (upscale)
``strength``        ``strength`` (image-to-image)
``frames``          ``num_frames`` (``duration_s`` times ``fps``)
``fps``             ``fps``, rounded, for a pipeline conditioned on it (Stable Video Diffusion)
``video``           upscale: every frame upscaled alike, at the clip's frame rate
``scale``           upscale: the model's own factor, then Lanczos to exactly ``scale`` times
``params``          passed as they are: the model's own options (``eta``,
                    ``motion_bucket_id``; for upscale also ``num_inference_steps``,
                    ``noise_level``)
==================  =====================================================

Size, frames and fps go to the pipeline only when the payload gives them
(:attr:`~recoil.model.requests.Request.fields_set`; a run's requests always
do): otherwise the model keeps its own defaults (SDXL's 1024 x 1024, Stable
Video Diffusion's 25 frames), and a clip is encoded at the request's fps.

A keyframe with neither ``image`` nor reference images is text-to-image;
with an ``image`` (a chained beat's last frame) it is image-to-image from
it, and otherwise from its first reference image.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recoil.errors import PayloadError
from recoil.model.requests import KeyframeRequest, Request, UpscaleRequest, VideoRequest
from recoil.providers.diffusers.pipelines import Task

_ADAPTER_SETS = frozenset(
    {"generator", "image", "output_type", "return_dict", "callback_on_step_end"}
)
"""Pipeline arguments the adapter itself sets."""
_FIELDS_SET = frozenset(
    {"prompt", "negative_prompt", "width", "height", "num_inference_steps", "guidance_scale"}
)
"""Pipeline arguments that keyframe and video request fields set."""
_RESERVED = {
    "keyframe": _ADAPTER_SETS | _FIELDS_SET | {"strength"},
    "video": _ADAPTER_SETS | _FIELDS_SET | {"num_frames", "fps"},
    "upscale": _ADAPTER_SETS | {"prompt", "negative_prompt"},
}
"""Modality -> the arguments ``params`` may not give (a request field sets them)."""
_FIELD_FOR = {"num_inference_steps": "steps", "guidance_scale": "guidance", "num_frames": "frames"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """One pipeline call, ready to run in a worker thread."""

    task: Task
    arguments: Mapping[str, Any]
    """Keyword arguments for the pipeline, but the generator and the image."""
    image: Path | None
    """The picture the call starts from (for an upscale of a clip: the clip)."""
    seed: int
    scale: float | None = None
    """An upscale's factor."""


def task_of(request: Request) -> Task:
    """The task ``request`` asks for (see the module docstring)."""
    if isinstance(request, VideoRequest):
        return Task.IMAGE_TO_VIDEO
    if isinstance(request, UpscaleRequest):
        return Task.UPSCALE_IMAGE if request.image is not None else Task.UPSCALE_VIDEO
    if isinstance(request, KeyframeRequest) and (request.image or request.reference_images):
        return Task.IMAGE_TO_IMAGE
    return Task.TEXT_TO_IMAGE


def build_call(request: Request, takes: frozenset[str]) -> Call:
    """The pipeline call for ``request`` on a pipeline whose ``__call__`` takes ``takes``.

    Raises :class:`PayloadError` for a field or parameter the pipeline has no
    argument for, or a clip without the picture it starts from.
    """
    task = task_of(request)
    if task is Task.IMAGE_TO_IMAGE:
        # The image-to-image twin takes image and strength; its output has the init
        # image's size, so the size goes to resizing that image instead.
        takes = takes | {"image", "strength", "width", "height"}
    given: dict[str, Any] = {}
    if "prompt" in takes:
        given["prompt"] = request.prompt
    if request.negative_prompt and "negative_prompt" in takes:
        given["negative_prompt"] = request.negative_prompt
    image: str | None = None
    scale: float | None = None
    if isinstance(request, KeyframeRequest):
        given.update(_given(request, "width", "height"))
        image = request.image or next(iter(request.reference_images), None)
        if request.strength is not None:
            given["strength"] = request.strength
        given.update(_sampling(request.steps, request.guidance))
    elif isinstance(request, VideoRequest):
        image = request.image
        if image is None:
            raise PayloadError(
                "video",
                "image",
                "the diffusers video pipeline animates a picture: give the keyframe as 'image'",
            )
        given.update(_given(request, "width", "height"))
        if request.fields_set & {"duration_s", "fps"}:
            given["num_frames"] = request.frames
        if "fps" in takes and "fps" in request.fields_set:
            given["fps"] = round(request.fps)
        given.update(_sampling(request.steps, request.guidance))
    elif isinstance(request, UpscaleRequest):
        image, scale = request.image or request.video, request.scale
    _check(request, given, takes)
    return Call(
        task=task,
        arguments={**given, **request.params},
        image=None if image is None else Path(image),
        seed=request.seed or 0,
        scale=scale,
    )


def _given(request: Request, *names: str) -> dict[str, Any]:
    """The fields among ``names`` that the payload gave (the others keep the model's default)."""
    return {name: getattr(request, name) for name in names if name in request.fields_set}


def _sampling(steps: int | None, guidance: float | None) -> dict[str, Any]:
    chosen: dict[str, Any] = {}
    if steps is not None:
        chosen["num_inference_steps"] = steps
    if guidance is not None:
        chosen["guidance_scale"] = guidance
    return chosen


def _check(request: Request, given: Mapping[str, Any], takes: frozenset[str]) -> None:
    modality = request.modality
    for name in given:
        if name not in takes:
            field = _FIELD_FOR.get(name, name)
            raise PayloadError(
                modality,
                field,
                f"the configured {modality} pipeline has no {name!r} argument; leave "
                f"{field!r} out, or pass the pipeline's own option in params",
            )
    reserved = _RESERVED[modality]
    for name in request.params:
        if name in reserved:
            field = _FIELD_FOR.get(name, name)
            raise PayloadError(
                modality, name, f"{name!r} is set from the request; give it as {field!r}"
            )
        if name not in takes:
            options = ", ".join(sorted(takes - reserved))
            raise PayloadError(
                modality,
                name,
                f"unknown parameter {name!r}: the configured {modality} pipeline takes {options}",
            )
