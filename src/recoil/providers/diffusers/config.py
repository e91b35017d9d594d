"""The ``[providers.diffusers]`` settings: which pipeline and model serve each modality.

::

    [providers.diffusers]            # defaults for every modality
    device = "auto"                  # auto (cuda, then mps, then cpu), cuda, cuda:1, mps, cpu
    dtype = "auto"                   # auto (float16 on cuda and mps, float32 on cpu),
                                     # float32, float16, bfloat16
    offload = false                  # model CPU offload (accelerate): for a GPU short of memory

    [providers.diffusers.keyframe]   # text-to-image; image-to-image from the same weights
    model = "stabilityai/sdxl-turbo" # an id in the Hugging Face cache, or a folder
    pipeline = "StableDiffusionXLPipeline"  # default: model_index.json's class

    [providers.diffusers.video]      # image-to-video (e.g. StableVideoDiffusionPipeline)
    model = "/models/svd-xt"
    dtype = "float16"                # each table may set device, dtype and offload

    [providers.diffusers.upscale]    # e.g. StableDiffusionUpscalePipeline (x4)
    model = "stabilityai/stable-diffusion-x4-upscaler"

A model is never downloaded: a folder (relative to the project) is used as it is, and an id must
already be in the user's Hugging Face cache (``hf download ID`` puts it
there); its snapshot is found with ``local_files_only``. Everything here is
read without importing torch or diffusers, so a bad table is one line at once.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recoil.errors import ConfigError, did_you_mean

MODALITIES = ("keyframe", "video", "upscale")
"""The modalities a diffusers pipeline can serve."""
EXTRA_HINT = "install the extra: pip install 'recoil[diffusers]'"
DTYPES = ("auto", "float32", "float16", "bfloat16")
_SHARED = ("device", "dtype", "offload")
_NOT_OURS = ("limit", "rpm", "ray_resources", "project_dir")
"""Keys the run (``limit``, ``rpm``) or the Ray executor (``ray_resources``) reads, or the run
adds (``project_dir``): not model settings."""
_TABLE_KEYS = ("model", "pipeline", *_SHARED)
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
_PIPELINE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelConfig:
    """One modality's pipeline, model and placement, as configured (not yet resolved)."""

    modality: str
    model: str
    """What the user wrote: a cache id or a folder; receipts name the model by it."""
    folder: Path
    """The model's files: the folder itself, or the cache snapshot of the id."""
    pipeline: str
    """The diffusers pipeline class name."""
    device: str
    dtype: str
    offload: bool


def load_configs(options: Mapping[str, Any]) -> dict[str, ModelConfig]:
    """Every configured modality's :class:`ModelConfig`; one-line ``ConfigError`` otherwise."""
    require_extra()
    for key in options:
        if key not in (*MODALITIES, *_SHARED, *_NOT_OURS):
            raise ConfigError(
                f"[providers.diffusers] has no setting {key!r}"
                f"{did_you_mean(key, [*MODALITIES, *_SHARED])}; it takes "
                f"{', '.join(_SHARED)} and a table per modality ({', '.join(MODALITIES)})"
            )
    defaults = {key: options[key] for key in _SHARED if key in options}
    base = Path(str(options.get("project_dir", ".")))
    configs: dict[str, ModelConfig] = {}
    for modality in MODALITIES:
        table = options.get(modality)
        if table is None:
            continue
        if not isinstance(table, Mapping):
            raise ConfigError(
                f'[providers.diffusers.{modality}] must be a table with model = "ID or FOLDER"'
            )
        configs[modality] = _model_config(modality, {**defaults, **table}, base)
    if not configs:
        raise ConfigError(
            "[providers.diffusers] names no model: add a [providers.diffusers.keyframe] "
            'table with model = "ID or FOLDER" (likewise video, upscale)'
        )
    return configs


def require_extra() -> None:
    """Raise a one-line ``ConfigError`` when the ``diffusers`` extra is not installed."""
    for module in ("torch", "diffusers", "transformers"):
        if importlib.util.find_spec(module) is None:
            raise ConfigError(f"provider 'diffusers' needs {module}: {EXTRA_HINT}")


def _model_config(modality: str, table: Mapping[str, Any], base: Path) -> ModelConfig:
    where = f"[providers.diffusers.{modality}]"
    for key in table:
        if key not in _TABLE_KEYS:
            raise ConfigError(
                f"{where} has no setting {key!r}{did_you_mean(key, _TABLE_KEYS)}; "
                f"it takes {', '.join(_TABLE_KEYS)}"
            )
    model = table.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ConfigError(f'{where} needs model = "ID or FOLDER" (a Hugging Face id or a folder)')
    device = _text(table, "device", "auto", where)
    if _DEVICE.fullmatch(device) is None:
        raise ConfigError(f"{where} device must be auto, cpu, mps, cuda or cuda:N, got {device!r}")
    dtype = _text(table, "dtype", "auto", where)
    if dtype not in DTYPES:
        raise ConfigError(
            f"{where} dtype must be one of {', '.join(DTYPES)}, got {dtype!r}"
            f"{did_you_mean(dtype, DTYPES)}"
        )
    offload = table.get("offload", False)
    if not isinstance(offload, bool):
        raise ConfigError(f"{where} offload must be true or false, got {offload!r}")
    folder = model_folder(model, base, where)
    pipeline = table.get("pipeline")
    if pipeline is None:
        pipeline = _index_class(folder, where)
    elif not isinstance(pipeline, str) or _PIPELINE_NAME.fullmatch(pipeline) is None:
        raise ConfigError(
            f'{where} pipeline must be a diffusers class name such as "StableDiffusionPipeline", '
            f"got {pipeline!r}"
        )
    return ModelConfig(
        modality=modality,
        model=model,
        folder=folder,
        pipeline=pipeline,
        device=device,
        dtype=dtype,
        offload=offload,
    )


def _text(table: Mapping[str, Any], key: str, default: str, where: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"{where} {key} must be a string, got {value!r}")
    return value


def model_folder(model: str, base: Path, where: str) -> Path:
    """The folder holding ``model``: itself (relative to ``base``), or its cache snapshot."""
    folder = base / Path(model).expanduser()
    if folder.is_dir():
        return folder.resolve()
    if Path(model).is_absolute() or model.startswith((".", "~")) or model.count("/") != 1:
        # Not an ``owner/name`` id: a folder that is not there.
        raise ConfigError(
            f"{where} model folder {folder} does not exist; download the model there first "
            f"(hf download ID --local-dir {folder})"
        )
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        # local_files_only: the cached snapshot or an error, never a download.
        return Path(snapshot_download(model, local_files_only=True)).resolve()
    except (LocalEntryNotFoundError, HFValidationError, OSError):
        raise ConfigError(
            f"{where} model {model!r} is neither a folder nor in the Hugging Face cache; "
            f"download it once with `hf download {model}`, or name its folder"
        ) from None


def _index_class(folder: Path, where: str) -> str:
    index = folder / "model_index.json"
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{where} {folder} is not a diffusers pipeline (no model_index.json); name a "
            "folder that save_pretrained wrote, or a pipeline's id on the Hugging Face hub"
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{where} cannot read {index}: {exc}") from None
    name = data.get("_class_name") if isinstance(data, dict) else None
    if not isinstance(name, str) or _PIPELINE_NAME.fullmatch(name) is None:
        raise ConfigError(f"{where} {index} names no pipeline class; set pipeline = CLASS")
    return name
