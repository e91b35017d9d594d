"""Loading diffusers pipelines once per process, and which pipeline does what.

A pipeline is loaded the first time a request needs it and kept for the life
of the process, keyed by :class:`Placement` (model folder, pipeline class,
device, dtype, offload): every provider instance, dispatch and run in the
process shares it. The image-to-image twin of a text-to-image pipeline
(``AutoPipelineForImage2Image.from_pipe``) shares its weights, so a chained
keyframe costs no second copy in memory.

Which pipeline serves a modality is decided by what its ``__call__`` takes,
so any pipeline of the right shape works, not only a fixed list:

- ``keyframe``: ``prompt`` and no ``image`` (a text-to-image pipeline);
- ``video``: ``image`` and ``num_frames`` (an image-to-video pipeline, such
  as ``StableVideoDiffusionPipeline``);
- ``upscale``: ``image``, no ``strength`` or ``num_frames``, and a class
  named for it (``StableDiffusionUpscalePipeline``,
  ``LDMSuperResolutionPipeline``): an image-to-image pipeline has the same
  arguments but does not enlarge.

One generation at a time runs on each device (:func:`device_lock`): the
pipelines on it share their schedulers, which hold the state of the call in
progress, and one call already keeps a GPU busy.
"""

from __future__ import annotations

import inspect
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from recoil.errors import ConfigError
from recoil.providers.diffusers.config import EXTRA_HINT


class Task(StrEnum):
    """What a call asks a pipeline to do."""

    TEXT_TO_IMAGE = "text-to-image"
    IMAGE_TO_IMAGE = "image-to-image"
    IMAGE_TO_VIDEO = "image-to-video"
    UPSCALE_IMAGE = "upscale-image"
    UPSCALE_VIDEO = "upscale-video"


_SHAPES: dict[str, tuple[frozenset[str], frozenset[str], str]] = {
    "keyframe": (frozenset({"prompt"}), frozenset({"image"}), "a text-to-image pipeline"),
    "video": (frozenset({"image", "num_frames"}), frozenset(), "an image-to-video pipeline"),
    "upscale": (
        frozenset({"image"}),
        frozenset({"strength", "num_frames", "mask_image"}),
        "an upscaling pipeline",
    ),
}
"""Modality -> (parameters ``__call__`` must take, must not take, what that makes it)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Placement:
    """One loaded pipeline's identity: the process-wide cache key."""

    folder: Path
    pipeline: str
    device: str
    """A resolved device (``cuda``, ``cuda:1``, ``mps``, ``cpu``), never ``auto``."""
    dtype: str
    """A resolved dtype name, never ``auto``."""
    offload: bool
    revision: str = ""
    """The model folder's digest: weights replaced since they were loaded are loaded again."""


_loaded: dict[tuple[Placement, bool], Any] = {}
"""(placement, image-to-image twin or not) -> the loaded pipeline."""
_loading = threading.Lock()
_devices: dict[str, threading.Lock] = {}
_devices_guard = threading.Lock()


def pipeline_class(name: str, modality: str) -> type[Any]:
    """The diffusers class ``name``, if it can serve ``modality``; ``ConfigError`` if not."""
    import diffusers

    cls = getattr(diffusers, name, None)
    where = f"[providers.diffusers.{modality}]"
    if not isinstance(cls, type) or not issubclass(cls, diffusers.DiffusionPipeline):
        raise ConfigError(
            f"{where} unsupported pipeline {name!r}: diffusers {diffusers.__version__} has no "
            "such pipeline class; set pipeline = the class name in the model's model_index.json"
        )
    needs, refuses, kind = _SHAPES[modality]
    takes = call_parameters(cls)
    named = modality != "upscale" or "Upscale" in name or "SuperResolution" in name
    if not needs <= takes or refuses & takes or not named:
        raise ConfigError(
            f"{where} unsupported pipeline {name!r} for {modality}: it is not {kind} "
            f"(its __call__ must take {', '.join(sorted(needs))}"
            + (f" and not {', '.join(sorted(refuses))})" if refuses else ")")
        )
    return cls


def call_parameters(cls: type[Any]) -> frozenset[str]:
    """The keyword parameters of a pipeline class's ``__call__``."""
    return frozenset(inspect.signature(cls.__call__).parameters) - {"self"}


def pipeline_for(placement: Placement, modality: str, task: Task) -> Any:
    """The loaded pipeline for ``task`` at ``placement`` (loaded on first use; blocks)."""
    twin = task is Task.IMAGE_TO_IMAGE
    with _loading:
        found = _loaded.get((placement, twin))
        if found is not None:
            return found
        base = _loaded.get((placement, False))
        if base is None:
            for held in [k for k in _loaded if k[0].folder == placement.folder]:
                if held[0].revision != placement.revision:
                    del _loaded[held]  # weights replaced on disk: the old ones are freed
            base = _loaded[placement, False] = _load(placement, modality)
        if twin:
            _loaded[placement, True] = _image_to_image(base, placement)
        return _loaded[placement, twin]


def device_lock(device: str) -> threading.Lock:
    """The lock one generation on ``device`` holds (see the module docstring)."""
    with _devices_guard:
        return _devices.setdefault(device, threading.Lock())


def _load(placement: Placement, modality: str) -> Any:
    import torch
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    cls = pipeline_class(placement.pipeline, modality)
    # The libraries draw a progress bar per component loaded; a run has its own display.
    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    try:
        pipe = cls.from_pretrained(
            placement.folder, local_files_only=True, dtype=getattr(torch, placement.dtype)
        )
    except (OSError, ValueError, TypeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"[providers.diffusers.{modality}] cannot load {placement.pipeline} from "
            f"{placement.folder}: {reason}"
        ) from None
    if placement.offload:
        _require_accelerate(modality)
        pipe.enable_model_cpu_offload(device=placement.device)
    else:
        pipe.to(placement.device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _image_to_image(base: Any, placement: Placement) -> Any:
    from diffusers import AutoPipelineForImage2Image

    try:
        twin = AutoPipelineForImage2Image.from_pipe(base)
    except ValueError:
        raise ConfigError(
            f"[providers.diffusers.keyframe] {placement.pipeline} has no image-to-image "
            "counterpart in diffusers, so a chained beat or a reference image cannot start "
            "from a picture; use a pipeline family that has one (Stable Diffusion, SDXL, Flux)"
        ) from None
    twin.set_progress_bar_config(disable=True)
    return twin


def _require_accelerate(modality: str) -> None:
    import importlib.util

    if importlib.util.find_spec("accelerate") is None:
        raise ConfigError(
            f"[providers.diffusers.{modality}] offload = true needs accelerate: {EXTRA_HINT}"
        )
