"""One pipeline call in a worker thread, its pictures encoded, its failures translated.

:func:`generate` blocks: the provider runs it with ``asyncio.to_thread``. It
waits for its device (:func:`~recoil.providers.diffusers.pipelines.device_lock`),
loads the pipeline on first use, runs it under ``torch.inference_mode`` and
returns the PNG (keyframe, upscaled image) or H.264 MP4 (video, upscaled
clip) bytes.

A dispatch that is given up (timeout, Ctrl-C) sets ``stop``: a call still
waiting for its device never starts, and a running one ends at its next
denoising step, for pipelines that take ``callback_on_step_end`` (most do).

Failures become :class:`ProviderError`:

- GPU out of memory (``torch.cuda.OutOfMemoryError``, or a ``RuntimeError`` saying
  "out of memory", as MPS raises): **not retryable**. One generation at a time
  runs per device, so the same request needs the same memory again and would
  fail again; the message names what lowers it (size, frames, dtype, offload).
- The pipeline refusing its arguments (a ``ValueError``: a size that is not a
  multiple of 8, a strength out of range): not retryable.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from typing import Any

from recoil.errors import ProviderError
from recoil.providers.base import Output
from recoil.providers.diffusers.calls import Call
from recoil.providers.diffusers.pipelines import Placement, Task, device_lock, pipeline_for


@dataclass(frozen=True, slots=True, kw_only=True)
class Generation:
    """Everything one call needs, handed to the worker thread."""

    placement: Placement
    modality: str
    call: Call
    fps: float
    """The rate a clip is encoded at."""
    stop: threading.Event


class _StoppedError(Exception):
    """Raised from the step callback once the dispatch was given up."""


def generate(generation: Generation) -> Output:
    """Run the call (blocks; see the module docstring)."""
    placement = generation.placement
    task = generation.call.task
    with device_lock(placement.device):
        if generation.stop.is_set():
            raise _given_up()
        pipe = pipeline_for(placement, generation.modality, task)
        try:
            if task is Task.UPSCALE_VIDEO:
                return _upscale_clip(pipe, generation)
            result = _run(pipe, generation, _picture(generation.call))
        except _StoppedError:
            raise _given_up() from None
        except (RuntimeError, ValueError) as exc:
            raise provider_error(exc, generation) from None
    if task is Task.IMAGE_TO_VIDEO:
        return _mp4(_frames(result), generation.fps)
    picture = result.images[0]
    if task is Task.UPSCALE_IMAGE:
        picture = _scaled(picture, _picture(generation.call), generation.call.scale)
    return Output(name="image", data=_png(picture), mime="image/png")


def _run(pipe: Any, generation: Generation, picture: Any) -> Any:
    import torch

    call = generation.call
    arguments = dict(call.arguments)
    if picture is not None:
        if call.task is Task.IMAGE_TO_IMAGE:
            picture = _sized(picture, arguments)
        arguments["image"] = picture
    takes = _parameters(pipe)
    if "callback_on_step_end" in takes:
        arguments["callback_on_step_end"] = _stopper(generation.stop)
    if "output_type" in takes:
        arguments["output_type"] = "pil"
    generator = torch.Generator(device="cpu").manual_seed(call.seed)
    with torch.inference_mode():
        return pipe(**arguments, generator=generator)


def _upscale_clip(pipe: Any, generation: Generation) -> Output:
    """Every frame of the clip upscaled with the same seed, at the clip's frame rate."""
    import av
    from PIL import Image

    assert generation.call.image is not None
    frames: list[Any] = []
    with av.open(str(generation.call.image)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 24)
        for frame in container.decode(stream):
            source = Image.fromarray(frame.to_ndarray(format="rgb24"), "RGB")
            upscaled = _run(pipe, generation, source).images[0]
            frames.append(_scaled(upscaled, source, generation.call.scale))
    return _mp4(frames, fps)


def _picture(call: Call) -> Any:
    """The call's image as RGB, if it has one (an upscale of a clip has none here)."""
    from PIL import Image

    if call.image is None or call.task is Task.UPSCALE_VIDEO:
        return None
    with Image.open(call.image) as opened:
        return opened.convert("RGB")


def _sized(picture: Any, arguments: dict[str, Any]) -> Any:
    """An image-to-image call's init image at the requested size (its output's size)."""
    from PIL import Image

    width, height = arguments.pop("width", None), arguments.pop("height", None)
    size = (width or picture.width, height or picture.height)
    return picture if picture.size == size else picture.resize(size, Image.Resampling.LANCZOS)


def _scaled(upscaled: Any, source: Any, scale: float | None) -> Any:
    """``upscaled`` at exactly ``scale`` times ``source``'s size (the model has its own factor)."""
    from PIL import Image

    assert scale is not None
    size = (round(source.width * scale), round(source.height * scale))
    return upscaled if upscaled.size == size else upscaled.resize(size, Image.Resampling.LANCZOS)


def _mp4(frames: list[Any], fps: float) -> Output:
    from recoil.media.animated import pictures_to_mp4

    return Output(name="video", data=pictures_to_mp4(frames, fps=fps), mime="video/mp4")


def _parameters(pipe: Any) -> frozenset[str]:
    from recoil.providers.diffusers.pipelines import call_parameters

    return call_parameters(type(pipe))


def _stopper(stop: threading.Event) -> Any:
    def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> Any:
        if stop.is_set():
            raise _StoppedError
        return tensors

    return on_step_end


def _frames(result: Any) -> list[Any]:
    """The first clip of a video pipeline's output, as PIL images."""
    from PIL import Image

    frames = result.frames[0]
    if isinstance(frames, list) and all(isinstance(f, Image.Image) for f in frames):
        return frames
    import numpy as np

    # A pipeline that ignores output_type="pil" returns floats in [0, 1], frames first.
    pixels = np.clip(np.asarray(frames) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return [Image.fromarray(frame) for frame in pixels]


def _png(picture: Any) -> bytes:
    out = io.BytesIO()
    picture.convert("RGB").save(out, format="PNG")
    return out.getvalue()


def _given_up() -> ProviderError:
    return ProviderError(
        "the diffusers call was given up before it finished",
        retryable=True,
        provider_status="cancelled",
    )


def provider_error(exc: RuntimeError | ValueError, generation: Generation) -> ProviderError:
    """The :class:`ProviderError` a pipeline's exception becomes (see the module docstring)."""
    import torch

    placement = generation.placement
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in message.lower():
        if placement.device.startswith("cuda"):
            torch.cuda.empty_cache()  # give the next request the memory this one held
        return ProviderError(
            f"{placement.device} ran out of memory running {placement.pipeline} at "
            f"{placement.dtype}; not retried, the same request needs the same memory: lower "
            "width/height (or frames), use dtype float16, or set offload = true in "
            f"[providers.diffusers.{generation.modality}]",
            retryable=False,
            provider_status="out_of_memory",
            error_type="out_of_memory",
        )
    if isinstance(exc, ValueError):
        return ProviderError(
            f"{placement.pipeline} refused the request: {message}",
            retryable=False,
            provider_status="invalid_request",
        )
    return ProviderError(
        f"{placement.pipeline} failed: {type(exc).__name__}: {message}",
        retryable=False,
        provider_status="pipeline_error",
    )
